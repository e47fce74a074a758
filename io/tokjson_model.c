/* The models of tokenizer.json over one pre-token, as the tokenizers crate runs them:
 *   BPE: ignore_merges shortcut, characters looked up (continuing_subword_prefix,
 *        end_of_word_suffix), unknown ones as <0xNN> bytes (byte_fallback) or unk
 *        (fused when fuse_unk), then bpe.c's merge loop; a word cache as bpe.c's.
 *   WordPiece: greedy longest match with the "##" prefix; a word over
 *        max_input_chars_per_word or with an unmatchable rest is one unk.
 * Token ranges are tracked in UTF-8 bytes of the pre-token and reported as the
 * original ranges of the characters they touch, so a byte token inside a
 * character spans that whole character (as HF's offsets do). */
#include "io/tokjson.h"
#include <stdlib.h>
#include <string.h>

#define CACHE_MAX_WORDS 200000
#define CACHE_MAX_BYTES 256

struct TjScratch {
    char *u;    /* UTF-8 of the pre-token */
    int *b2c;   /* byte -> character index */
    int *cb;    /* character -> first byte, (n+1) */
    int nb, cap, ccap;
    int *ids, *lens, scap; /* BPE symbols */
};
typedef struct TjScratch Utf8Buf;

static void u8_build(Utf8Buf *w, const NStr *s)
{
    int need = 4 * s->n + 4;
    if (need > w->cap) {
        w->cap = 2 * need;
        w->u = realloc(w->u, w->cap);
        w->b2c = realloc(w->b2c, w->cap * sizeof *w->b2c);
    }
    if (s->n + 1 > w->ccap) {
        w->ccap = 2 * (s->n + 1);
        w->cb = realloc(w->cb, w->ccap * sizeof *w->cb);
    }
    int nb = 0;
    for (int i = 0; i < s->n; i++) {
        w->cb[i] = nb;
        int k = utf8_put(s->c[i], w->u + nb);
        for (int j = 0; j < k; j++)
            w->b2c[nb + j] = i;
        nb += k;
    }
    w->cb[s->n] = nb;
    w->nb = nb;
}

void tjscratch_free(TjScratch *w)
{
    if (!w)
        return;
    free(w->u);
    free(w->b2c);
    free(w->cb);
    free(w->ids);
    free(w->lens);
    free(w);
}

/* Pushes a token covering bytes [b0, b1) of the pre-token. */
static void push_bytes(const NStr *s, const Utf8Buf *w, int id, int b0, int b1, TokList *out)
{
    int c0 = w->b2c[b0], c1 = w->b2c[b1 > b0 ? b1 - 1 : b0];
    toklist_push(out, id, s->al[c0][0], s->al[c1][1], 0);
}

static int lookup_affixed(const Tokenizer *t, const char *pre, const char *s, int len, const char *suf, char **buf,
                          int *bcap)
{
    int lp = pre ? (int)strlen(pre) : 0, ls = suf ? (int)strlen(suf) : 0;
    if (!lp && !ls)
        return strmap_get(&t->vocab, s, (size_t)len);
    if (lp + len + ls + 1 > *bcap) {
        *bcap = 2 * (lp + len + ls + 1);
        *buf = realloc(*buf, *bcap);
    }
    memcpy(*buf, pre, lp);
    memcpy(*buf + lp, s, len);
    memcpy(*buf + lp + len, suf, ls);
    return strmap_get(&t->vocab, *buf, (size_t)(lp + len + ls));
}

/* Initial symbols of a word (ids, byte lengths); returns their count. */
static int bpe_symbols(const Tokenizer *t, const Utf8Buf *w, int n, int *ids, int *lens)
{
    const TjPipeline *p = t->tj;
    char *buf = NULL;
    int bcap = 0, k = 0, unk = -1, unk_len = 0;
    for (int i = 0; i < n; i++) {
        int b0 = w->cb[i], bl = w->cb[i + 1] - b0;
        const char *pre = i > 0 ? p->cont_prefix : NULL, *suf = i == n - 1 ? p->eow_suffix : NULL;
        int id = lookup_affixed(t, pre, w->u + b0, bl, suf, &buf, &bcap);
        if (id >= 0) {
            if (unk >= 0) {
                ids[k] = unk, lens[k++] = unk_len;
                unk = -1;
            }
            ids[k] = id, lens[k++] = bl;
            continue;
        }
        if (p->byte_fallback) {
            /* the bytes of the (affixed) symbol, all or nothing; a pending unk stays
             * pending, as in the tokenizers crate */
            int lp = pre ? (int)strlen(pre) : 0, ls = suf ? (int)strlen(suf) : 0, ok = 1;
            const unsigned char *sb = (const unsigned char *)(lp || ls ? buf : w->u + b0);
            for (int j = 0; j < lp + bl + ls && ok; j++)
                ok = p->byte_fb_id[sb[j]] >= 0;
            if (ok) {
                for (int j = 0; j < lp + bl + ls; j++) {
                    ids[k] = p->byte_fb_id[sb[j]];
                    lens[k++] = j < bl ? 1 : 0; /* (affix bytes cover no text) */
                }
                continue;
            }
        }
        if (p->unk_id >= 0) {
            if (unk >= 0 && p->fuse_unk)
                unk_len += bl;
            else {
                if (unk >= 0)
                    ids[k] = unk, lens[k++] = unk_len;
                unk = p->unk_id;
                unk_len = bl;
            }
        }
        /* no unk token: the character is dropped, as HF drops it */
    }
    if (unk >= 0)
        ids[k] = unk, lens[k++] = unk_len;
    free(buf);
    return k;
}

static void bpe_tokens(const Tokenizer *t, const NStr *s, Utf8Buf *w, TokList *out)
{
    const TjPipeline *p = t->tj;
    if (p->ignore_merges) {
        int id = strmap_get(&t->vocab, w->u, (size_t)w->nb);
        if (id >= 0) {
            push_bytes(s, w, id, 0, w->nb, out);
            return;
        }
    }
    BpeCache *c = t->cache;
    int cacheable = w->nb <= CACHE_MAX_BYTES;
    uint64_t h = 0;
    int maxsym = w->nb * 2 + 16; /* byte fallback of affixed symbols can exceed nb */
    if (p->cont_prefix || p->eow_suffix)
        maxsym += s->n * (int)((p->cont_prefix ? strlen(p->cont_prefix) : 0) + (p->eow_suffix ? strlen(p->eow_suffix) : 0));
    if (maxsym > w->scap) {
        w->scap = 2 * maxsym;
        w->ids = realloc(w->ids, (size_t)w->scap * sizeof *w->ids);
        w->lens = realloc(w->lens, (size_t)w->scap * sizeof *w->lens);
    }
    int *ids = w->ids, *lens = w->lens, n = -1;
    if (cacheable) {
        h = strmap_hash(w->u, (size_t)w->nb);
        pthread_mutex_lock(&c->lock);
        int at = strmap_get_h(&c->map, w->u, (size_t)w->nb, h);
        if (at >= 0) {
            n = c->pool[at];
            for (int k = 0; k < n; k++) {
                ids[k] = c->pool[at + 1 + 2 * k];
                lens[k] = c->pool[at + 2 + 2 * k];
            }
        }
        pthread_mutex_unlock(&c->lock);
    }
    if (n < 0) {
        n = bpe_symbols(t, w, s->n, ids, lens);
        n = bpe_merge_syms(&t->merges, ids, lens, n);
        if (cacheable) {
            pthread_mutex_lock(&c->lock);
            if (c->map.n < CACHE_MAX_WORDS && strmap_get_h(&c->map, w->u, (size_t)w->nb, h) < 0) {
                if (c->pool_len + 2 * n + 1 > c->pool_cap) {
                    c->pool_cap = 2 * (c->pool_len + 2 * n + 1) + 4096;
                    c->pool = realloc(c->pool, c->pool_cap * sizeof(int));
                }
                int at = (int)c->pool_len;
                c->pool[at] = n;
                for (int k = 0; k < n; k++) {
                    c->pool[at + 1 + 2 * k] = ids[k];
                    c->pool[at + 2 + 2 * k] = lens[k];
                }
                c->pool_len += 2 * n + 1;
                strmap_put(&c->map, w->u, (size_t)w->nb, at);
            }
            pthread_mutex_unlock(&c->lock);
        }
    }
    int b = 0;
    for (int k = 0; k < n; k++) {
        /* a zero-length symbol (an affix byte) takes the place where it stands */
        int b0 = b < w->nb ? b : w->nb - 1, b1 = lens[k] ? b + lens[k] : b0 + 1;
        push_bytes(s, w, ids[k], b0, b1, out);
        b += lens[k];
    }
}

static void wordpiece_tokens(const Tokenizer *t, const NStr *s, const Utf8Buf *w, TokList *out)
{
    const TjPipeline *p = t->tj;
    if (s->n > p->max_input_chars) {
        push_bytes(s, w, p->unk_id, 0, w->nb, out);
        return;
    }
    int first = out->n, lp = (int)strlen(p->wp_prefix);
    char *buf = malloc((size_t)(lp + w->nb + 1));
    memcpy(buf, p->wp_prefix, lp);
    int sc = 0; /* start character */
    while (sc < s->n) {
        int ec = s->n, id = -1;
        while (ec > sc && w->cb[ec] - w->cb[sc] + (sc ? lp : 0) > p->max_tok_bytes)
            ec--;
        for (; ec > sc; ec--) {
            int len = w->cb[ec] - w->cb[sc];
            if (sc == 0)
                id = strmap_get(&t->vocab, w->u, (size_t)len);
            else {
                memcpy(buf + lp, w->u + w->cb[sc], len);
                id = strmap_get(&t->vocab, buf, (size_t)(lp + len));
            }
            if (id >= 0)
                break;
        }
        if (id < 0) { /* the whole word is unk */
            out->n = first;
            push_bytes(s, w, p->unk_id, 0, w->nb, out);
            free(buf);
            return;
        }
        push_bytes(s, w, id, w->cb[sc], w->cb[ec], out);
        sc = ec;
    }
    free(buf);
}

void tjmodel_encode(const Tokenizer *t, const NStr *s, TokList *out, TjScratch **scratch)
{
    if (s->n == 0)
        return;
    if (!*scratch)
        *scratch = calloc(1, sizeof **scratch);
    Utf8Buf *w = *scratch;
    u8_build(w, s);
    if (t->tj->wordpiece)
        wordpiece_tokens(t, s, w, out);
    else
        bpe_tokens(t, s, w, out);
}
