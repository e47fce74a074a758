/* Fuzzes the tokenizer.json reader and pipeline (io/tokjson_load.c, normalize.c, pretok.c,
 * tokjson_model.c, tokjson_encode.c) behind tokenizer_load / tokenizer_encode_n.
 * Input: tokenizer.json, then after a NUL byte an optional tokenizer_config.json, then after
 * another NUL the text to encode (any bytes; NULs inside pass through tokenizer_encode_n).
 * A refusal must name tokenizer.json or tokenizer_config.json; a loaded tokenizer must encode
 * the text (when valid UTF-8) and a few fixed texts, alone and as pairs, with ids that have
 * token strings, offsets inside their text, type ids 0/1, and at most max_length tokens. */
#include "fuzz_tok.h"

static const char *const TEXTS[] = {"hello world", "Héllo ÇA va, naïve 中文 😀 e\xcc\x81", "<s> </s> [CLS] <|endoftext|>",
                                    "  a  b\tc\r\n 123 it's", ""};

static int ncp(const char *s, size_t n, int *ok)
{
    int k = 0;
    for (size_t i = 0; i < n; i++)
        k += ((unsigned char)s[i] & 0xC0) != 0x80;
    *ok = 1;
    return k;
}

static void check(const Tokenizer *t, const char *a, size_t na, const char *b, size_t nb, int max_length)
{
    Encoding e;
    if (tokenizer_encode_n(t, a, na, b, nb, max_length, &e) != 0)
        return; /* invalid UTF-8 */
    int ok, n1 = ncp(a, na, &ok), n2 = b ? ncp(b, nb, &ok) : 0, V = tokenizer_vocab_size(t);
    int bound = n1 > n2 ? n1 : n2, added = tokenizer_num_added(t, b != NULL);
    if (max_length > 0 && max_length >= added && e.n > max_length) {
        fprintf(stderr, "fuzz: %d tokens > max_length %d\n", e.n, max_length);
        abort();
    }
    for (int i = 0; i < e.n; i++) {
        if (e.ids[i] < 0 || e.ids[i] >= V || !tokenizer_id_to_token(t, e.ids[i])) {
            fprintf(stderr, "fuzz: token %d: id %d has no token string\n", i, e.ids[i]);
            abort();
        }
        if (e.offsets[i][0] < 0 || e.offsets[i][1] < e.offsets[i][0] || e.offsets[i][1] > bound) {
            fprintf(stderr, "fuzz: token %d: offsets (%d, %d) outside the text (%d)\n", i, e.offsets[i][0],
                    e.offsets[i][1], bound);
            abort();
        }
        if (e.type_ids[i] < 0 || e.special[i] < 0 || e.special[i] > 1)
            abort();
    }
    encoding_free(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *cfg, *text;
    size_t ncfg, ntext, nj = fuzz_split(data, size, &cfg, &ncfg);
    char path[512];
    fuzz_write(path, sizeof path, "tokenizer.json", data, nj);
    fuzz_unlink("tokenizer_config.json");
    text = NULL, ntext = 0;
    if (cfg) {
        size_t nc = fuzz_split(cfg, ncfg, &text, &ntext);
        fuzz_write(path, sizeof path, "tokenizer_config.json", cfg, nc);
    }
    char err[1024] = "";
    Tokenizer *t = tokenizer_load(fuzz_dir(), err, sizeof err);
    if (!t) {
        fuzz_check_err(err, NULL);
        if (!strstr(err, "tokenizer.json") && !strstr(err, "tokenizer_config.json")) {
            fprintf(stderr, "fuzz: error \"%s\" names neither tokenizer.json nor tokenizer_config.json\n", err);
            abort();
        }
        return 0;
    }
    fuzz_vocab_check(t, TOK_NUM_SPECIAL_ALL);
    if (text)
        check(t, (const char *)text, ntext, NULL, 0, 0);
    for (size_t i = 0; i < sizeof TEXTS / sizeof *TEXTS; i++) {
        check(t, TEXTS[i], strlen(TEXTS[i]), NULL, 0, 0);
        check(t, TEXTS[i], strlen(TEXTS[i]), "pair text", 9, 8);
    }
    tokenizer_free(t);
    return 0;
}
