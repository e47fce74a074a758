/* Fuzzes the vocabulary loaders behind tokenizer_load (io/tokenizer.c, wordpiece.c, bpe.c).
 * Input: byte 0 even: WordPiece, then NUL-separated vocab.txt [, tokenizer_config.json];
 *        byte 0 odd: byte-level BPE, then vocab.json, merges.txt [, tokenizer_config.json].
 * Files absent from the input are not written (so "missing merges.txt" is reached too).
 * A loaded tokenizer must encode a few fixed texts within its own invariants; a
 * refusal must name a file of the directory. */
#include "fuzz_tok.h"

static const char *const NAMES[2][3] = {{"vocab.txt", "tokenizer_config.json", NULL},
                                        {"vocab.json", "merges.txt", "tokenizer_config.json"}};
static const char *const TEXTS[] = {"hello world", "The movie was unbelievably good!", "Héllo ÇA va, naïve 中文 😀",
                                    "[CLS] <s> [MASK] <mask> </s> [SEP] [UNK] <unk>", "a  b\tc\n", ""};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int bpe = data[0] & 1;
    const uint8_t *p = data + 1;
    size_t np = size - 1;
    for (int k = 0; k < 3; k++)
        if (NAMES[bpe][k])
            fuzz_unlink(NAMES[bpe][k]);
    for (int k = 0; k < 3 && NAMES[bpe][k] && p; k++) {
        const uint8_t *rest;
        size_t nrest, n = fuzz_split(p, np, &rest, &nrest);
        char path[512];
        fuzz_write(path, sizeof path, NAMES[bpe][k], p, n);
        p = rest;
        np = nrest;
    }
    char err[1024] = "";
    Tokenizer *t = tokenizer_load(fuzz_dir(), err, sizeof err);
    if (!t) {
        fuzz_check_err(err, fuzz_dir());
        return 0;
    }
    int V = tokenizer_vocab_size(t);
    if (V <= 0)
        abort();
    fuzz_vocab_check(t, TOK_NUM_SPECIAL);
    if (tokenizer_id_to_token(t, -1) || tokenizer_id_to_token(t, V))
        abort();
    for (size_t i = 0; i < sizeof TEXTS / sizeof *TEXTS; i++) {
        if (fuzz_encode_check(t, TEXTS[i], NULL, 0) != 0)
            abort(); /* valid UTF-8 must encode */
        if (fuzz_encode_check(t, TEXTS[i], "pair text", 8) != 0)
            abort();
    }
    tokenizer_free(t);
    return 0;
}
