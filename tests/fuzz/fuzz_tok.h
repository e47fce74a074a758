/* Invariants of an Encoding (io/tokenizer.h) checked by the tokenizer harnesses. */
#ifndef ATTRUN_FUZZ_TOK_H
#define ATTRUN_FUZZ_TOK_H
#include "fuzz_util.h"
#include "io/tokenizer.h"

/* Code points in valid UTF-8: bytes that are not continuation bytes. */
static inline int fuzz_ncp(const char *s)
{
    int n = 0;
    for (; s && *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static inline void fuzz_tok_fail(const char *what, int i)
{
    fprintf(stderr, "fuzz: encoding invariant broken at token %d: %s\n", i, what);
    abort();
}

/* A loaded tokenizer's tables: its first nspecial special ids inside the vocabulary (or -1), and
 * the token string of each of the first 4096 ids mapping back to an id. */
static inline void fuzz_vocab_check(const Tokenizer *t, int nspecial)
{
    int V = tokenizer_vocab_size(t);
    for (int s = 0; s < nspecial; s++) {
        int id = tokenizer_special_id(t, (SpecialToken)s);
        if (id < -1 || id >= V)
            abort();
    }
    for (int id = 0; id < V && id < 4096; id++) {
        const char *tok = tokenizer_id_to_token(t, id);
        if (tok && tokenizer_token_to_id(t, tok) < 0)
            abort();
    }
}

/* Encodes text (+ pair) and checks the result; returns tokenizer_encode's status. */
static inline int fuzz_encode_check(const Tokenizer *t, const char *text, const char *pair, int max_length)
{
    Encoding e;
    int rc = tokenizer_encode(t, text, pair, max_length, &e);
    if (rc != 0) {
        encoding_free(&e);
        return rc;
    }
    int V = tokenizer_vocab_size(t), added = pair ? (tokenizer_is_bpe(t) ? 4 : 3) : 2;
    int lim = max_length > 0 ? max_length : tokenizer_model_max_length(t);
    int n1 = fuzz_ncp(text), n2 = fuzz_ncp(pair);
    if (e.n < added)
        fuzz_tok_fail("fewer tokens than the added specials", 0);
    if (lim >= added && e.n > lim)
        fuzz_tok_fail("more tokens than max_length", e.n);
    if (e.ids[0] != tokenizer_special_id(t, TOK_CLS) || !e.special[0])
        fuzz_tok_fail("first token is not CLS/<s>", 0);
    if (e.ids[e.n - 1] != tokenizer_special_id(t, TOK_SEP) || !e.special[e.n - 1])
        fuzz_tok_fail("last token is not SEP/</s>", e.n - 1);
    int second = 0;
    for (int i = 0; i < e.n; i++) {
        if (e.ids[i] < 0 || e.ids[i] >= V)
            fuzz_tok_fail("id outside the vocabulary", i);
        if (!tokenizer_id_to_token(t, e.ids[i]))
            fuzz_tok_fail("id without a token string", i);
        if (e.type_ids[i] != 0 && e.type_ids[i] != 1)
            fuzz_tok_fail("token type not 0/1", i);
        if (e.type_ids[i] == 1)
            second = 1;
        else if (second)
            fuzz_tok_fail("segment 0 token after segment 1", i);
        int s = e.offsets[i][0], en = e.offsets[i][1];
        if (s < 0 || en < s)
            fuzz_tok_fail("bad offset range", i);
        /* Offsets index the segment's own text; a pair token may index text_pair. */
        int bound = n1 > n2 ? n1 : n2;
        if (en > bound)
            fuzz_tok_fail("offset past the end of the text", i);
    }
    if (e.truncated != 0 && e.truncated != 1)
        fuzz_tok_fail("truncated flag not 0/1", 0);
    encoding_free(&e);
    return 0;
}
#endif
