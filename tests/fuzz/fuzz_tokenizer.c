/* Fuzzes tokenizer_encode (io/tokenizer.c, wordpiece.c, bpe.c) with the real
 * bert-base-uncased WordPiece and roberta-base byte-level BPE vocabularies
 * (the tiny-bert / tiny-roberta reference checkpoints under $ATTRUN_SHARED).
 * Input: byte 0: bit 0 picks RoBERTa, bits 1-7 a max_length (0: the model's);
 * then the text, and after a NUL byte the optional text_pair. Arbitrary bytes:
 * invalid UTF-8 must be refused with -1, never crash. Checked: ids in the
 * vocabulary, specials in place, offsets inside the text, the length limit. */
#include "fuzz_tok.h"

#ifndef FUZZ_SHARED_DEFAULT
#define FUZZ_SHARED_DEFAULT "/work/shared"
#endif

static Tokenizer *load(const char *model)
{
    const char *sh = getenv("ATTRUN_SHARED");
    char dir[1024], err[1024] = "";
    snprintf(dir, sizeof dir, "%s/reference/models/%s", sh && *sh ? sh : FUZZ_SHARED_DEFAULT, model);
    Tokenizer *t = tokenizer_load(dir, err, sizeof err);
    if (!t) {
        fprintf(stderr, "fuzz_tokenizer: cannot load %s: %s (set ATTRUN_SHARED)\n", dir, err);
        abort();
    }
    return t;
}

static Tokenizer *bert, *roberta;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    bert = load("tiny-bert");
    roberta = load("tiny-roberta");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const Tokenizer *t = data[0] & 1 ? roberta : bert;
    int max_length = data[0] >> 1;
    const uint8_t *rest;
    size_t nrest, n = fuzz_split(data + 1, size - 1, &rest, &nrest);
    char *text = fuzz_strndup(data + 1, n), *pair = rest ? fuzz_strndup(rest, nrest) : NULL;
    fuzz_encode_check(t, text, pair, max_length);
    free(text);
    free(pair);
    return 0;
}
