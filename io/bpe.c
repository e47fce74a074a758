/* Byte-level BPE as RobertaTokenizerFast (add_prefix_space false): the GPT-2
 * pre-tokenizer pattern
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * evaluated by hand over code points, each word's UTF-8 bytes mapped to their
 * printable stand-ins (GPT-2's bytes_to_unicode), then merges applied lowest
 * rank first (the tokenizers crate's heap order: rank, then position), with a
 * cache of merged words. A token's offsets are the original code points its
 * bytes came from. */
#include "io/tokenizer_internal.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define CACHE_MAX_WORDS 200000
#define CACHE_MAX_BYTES 256

/* ---- merge map --------------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

void bpe_merges_put(MergeMap *m, uint64_t key, uint32_t rank, int merged)
{
    if ((m->n + 1) * 2 > m->cap) {
        MergeMap g = {0};
        g.cap = m->cap ? m->cap * 2 : 1 << 16;
        g.key = malloc(g.cap * sizeof *g.key);
        g.rank = malloc(g.cap * sizeof *g.rank);
        g.merged = malloc(g.cap * sizeof *g.merged);
        memset(g.key, 0xff, g.cap * sizeof *g.key);
        for (uint32_t i = 0; i < m->cap; i++)
            if (m->key[i] != UINT64_MAX)
                bpe_merges_put(&g, m->key[i], m->rank[i], m->merged[i]);
        free(m->key);
        free(m->rank);
        free(m->merged);
        *m = g;
    }
    uint32_t mask = m->cap - 1, i = (uint32_t)mix64(key) & mask;
    while (m->key[i] != UINT64_MAX && m->key[i] != key)
        i = (i + 1) & mask;
    if (m->key[i] == UINT64_MAX)
        m->n++;
    m->key[i] = key; /* a repeated pair keeps its last rank, as a HashMap built in order */
    m->rank[i] = rank;
    m->merged[i] = merged;
}

int bpe_merges_get(const MergeMap *m, int a, int b, uint32_t *rank)
{
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    uint32_t mask = m->cap - 1, i = (uint32_t)mix64(key) & mask;
    while (m->key[i] != UINT64_MAX) {
        if (m->key[i] == key) {
            *rank = m->rank[i];
            return m->merged[i];
        }
        i = (i + 1) & mask;
    }
    return -1;
}

/* ---- loading ----------------------------------------------------------------- */

static int count_space_chars(const char *s, int from_end)
{
    /* 'Ġ' (U+0120, the stand-in of byte 0x20) is C4 A0 in UTF-8 */
    int n = 0;
    size_t len = strlen(s);
    if (!from_end) {
        for (size_t i = 0; i + 1 < len && (unsigned char)s[i] == 0xC4 && (unsigned char)s[i + 1] == 0xA0; i += 2)
            n++;
    } else {
        for (size_t i = len; i >= 2 && (unsigned char)s[i - 2] == 0xC4 && (unsigned char)s[i - 1] == 0xA0; i -= 2)
            n++;
    }
    return n > 255 ? 255 : n;
}

int bpe_load(Tokenizer *t, const char *vocab_path, const char *merges_path, char *err, size_t errlen)
{
    json_error_t je;
    json_t *v = json_load_file(vocab_path, JSON_REJECT_DUPLICATES, &je);
    if (!v) {
        snprintf(err, errlen, "%s:%d:%d: invalid JSON: %s", vocab_path, je.line, je.column, je.text);
        return -1;
    }
    if (!json_is_object(v) || json_object_size(v) == 0) {
        snprintf(err, errlen, "%s: expected a non-empty JSON object {token: id}", vocab_path);
        json_decref(v);
        return -1;
    }
    strmap_init(&t->vocab, (uint32_t)json_object_size(v));
    const char *key;
    json_t *val;
    int maxid = -1;
    json_object_foreach(v, key, val)
    {
        json_int_t id = json_is_integer(val) ? json_integer_value(val) : -1;
        if (id < 0 || id > 100000000) {
            snprintf(err, errlen, "%s: token '%s' needs a non-negative integer id", vocab_path, key);
            json_decref(v);
            return -1;
        }
        if (id > maxid)
            maxid = (int)id;
    }
    t->vocab_size = maxid + 1;
    t->id_to_tok = calloc(t->vocab_size, sizeof(char *));
    json_object_foreach(v, key, val)
    {
        int id = (int)json_integer_value(val);
        if (t->id_to_tok[id]) {
            snprintf(err, errlen, "%s: id %d is used by both '%s' and '%s'", vocab_path, id, t->id_to_tok[id], key);
            json_decref(v);
            return -1;
        }
        t->id_to_tok[id] = strdup(key);
        strmap_put(&t->vocab, key, strlen(key), id);
    }
    json_decref(v);

    /* GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others
     * for 256, 257, ... in byte order. */
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        uint32_t c = printable ? (uint32_t)b : (uint32_t)(256 + extra++);
        int k = utf8_put(c, t->byte_str[b]);
        t->byte_str[b][k] = 0;
        t->byte_id[b] = strmap_get(&t->vocab, t->byte_str[b], (size_t)k);
        if (t->byte_id[b] < 0) {
            snprintf(err, errlen, "%s: byte-level symbol '%s' (byte 0x%02x) is missing", vocab_path, t->byte_str[b],
                     b);
            return -1;
        }
    }
    t->lead_sp = malloc(t->vocab_size);
    t->trail_sp = malloc(t->vocab_size);
    for (int i = 0; i < t->vocab_size; i++) {
        t->lead_sp[i] = t->id_to_tok[i] ? (unsigned char)count_space_chars(t->id_to_tok[i], 0) : 0;
        t->trail_sp[i] = t->id_to_tok[i] ? (unsigned char)count_space_chars(t->id_to_tok[i], 1) : 0;
    }

    FILE *f = fopen(merges_path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open", merges_path);
        return -1;
    }
    char *line = NULL, *joined = NULL;
    size_t cap = 0, jcap = 0;
    ssize_t len;
    int lineno = 0, rc = 0;
    uint32_t rank = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (lineno == 1 && strncmp(line, "#version", 8) == 0)
            continue;
        char *sp = memchr(line, ' ', (size_t)len);
        if (!sp || sp == line || sp == line + len - 1 || memchr(sp + 1, ' ', (size_t)(line + len - sp - 1))) {
            snprintf(err, errlen, "%s:%d: malformed merge line (expected two tokens separated by one space): '%.60s'",
                     merges_path, lineno, line);
            rc = -1;
            break;
        }
        size_t la = (size_t)(sp - line), lb = (size_t)(len - (ssize_t)la - 1);
        int a = strmap_get(&t->vocab, line, la), b = strmap_get(&t->vocab, sp + 1, lb);
        if ((size_t)len + 1 > jcap)
            joined = realloc(joined, jcap = (size_t)len + 64);
        memcpy(joined, line, la);
        memcpy(joined + la, sp + 1, lb);
        int ab = strmap_get(&t->vocab, joined, la + lb);
        if (a < 0 || b < 0 || ab < 0) {
            joined[la + lb] = 0;
            snprintf(err, errlen, "%s:%d: merge '%s' uses a token missing from vocab.json ('%s')", merges_path,
                     lineno, line, a < 0 ? line : b < 0 ? sp + 1 : joined);
            rc = -1;
            break;
        }
        bpe_merges_put(&t->merges, (uint64_t)(uint32_t)a << 32 | (uint32_t)b, rank++, ab);
    }
    free(line);
    free(joined);
    fclose(f);
    if (!rc && rank == 0) {
        snprintf(err, errlen, "%s: no merges", merges_path);
        rc = -1;
    }
    if (!rc) {
        t->cache = calloc(1, sizeof *t->cache);
        strmap_init(&t->cache->map, 1 << 14);
        pthread_mutex_init(&t->cache->lock, NULL);
    }
    return rc;
}

void bpe_free(Tokenizer *t)
{
    free(t->merges.key);
    free(t->merges.rank);
    free(t->merges.merged);
    memset(&t->merges, 0, sizeof t->merges);
    free(t->lead_sp);
    free(t->trail_sp);
    t->lead_sp = t->trail_sp = NULL;
    if (t->cache) {
        strmap_free(&t->cache->map);
        free(t->cache->pool);
        pthread_mutex_destroy(&t->cache->lock);
        free(t->cache);
        t->cache = NULL;
    }
}

/* ---- merging ----------------------------------------------------------------- */

typedef struct {
    int c, prev, next, len; /* len in bytes; 0 = merged away */
} Sym;

typedef struct {
    uint32_t rank;
    int pos, merged;
} Cand;

static int cand_less(const Cand *x, const Cand *y)
{
    return x->rank != y->rank ? x->rank < y->rank : x->pos < y->pos;
}

static void heap_push(Cand *h, int *n, Cand c)
{
    int i = (*n)++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!cand_less(&c, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}

static Cand heap_pop(Cand *h, int *n)
{
    Cand top = h[0], last = h[--(*n)];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        const Cand *best = &last;
        if (l < *n && cand_less(&h[l], best))
            m = l, best = &h[l];
        if (r < *n && cand_less(&h[r], best))
            m = r;
        if (m == i)
            break;
        h[i] = h[m];
        i = m;
    }
    if (*n > 0)
        h[i] = last;
    return top;
}

/* Applies the merges to the symbols ids[0..n) (lens: their lengths in any unit),
 * lowest rank first, then leftmost, as the tokenizers crate's Word::merge_all;
 * rewrites ids/lens in place and returns the new count. */
int bpe_merge_syms(const MergeMap *mm, int *ids, int *lens, int n)
{
    if (n < 2)
        return n;
    Sym *s = malloc(n * sizeof *s);
    int cap = 2 * n + 4;
    Cand *h = malloc((size_t)cap * sizeof *h);
    int hn = 0;
    for (int i = 0; i < n; i++)
        s[i] = (Sym){ids[i], i - 1, i + 1 < n ? i + 1 : -1, lens[i]};
    uint32_t rank;
    for (int i = 0; i + 1 < n; i++) {
        int m = bpe_merges_get(mm, s[i].c, s[i + 1].c, &rank);
        if (m >= 0)
            heap_push(h, &hn, (Cand){rank, i, m});
    }
    while (hn > 0) {
        Cand top = heap_pop(h, &hn);
        Sym *cur = &s[top.pos];
        if (cur->len == 0 || cur->next < 0)
            continue;
        Sym *right = &s[cur->next];
        int m = bpe_merges_get(mm, cur->c, right->c, &rank);
        if (m < 0 || m != top.merged) /* stale entry */
            continue;
        cur->c = m;
        cur->len += right->len;
        right->len = 0;
        cur->next = right->next;
        if (cur->next >= 0)
            s[cur->next].prev = top.pos;
        if (hn + 2 > cap) {
            cap *= 2;
            h = realloc(h, cap * sizeof *h);
        }
        if (cur->prev >= 0) {
            int pm = bpe_merges_get(mm, s[cur->prev].c, cur->c, &rank);
            if (pm >= 0)
                heap_push(h, &hn, (Cand){rank, cur->prev, pm});
        }
        if (cur->next >= 0) {
            int nm = bpe_merges_get(mm, cur->c, s[cur->next].c, &rank);
            if (nm >= 0)
                heap_push(h, &hn, (Cand){rank, top.pos, nm});
        }
    }
    int k = 0;
    for (int i = 0; i >= 0; i = s[i].next) {
        ids[k] = s[i].c;
        lens[k] = s[i].len;
        k++;
    }
    free(s);
    free(h);
    return k;
}

/* Merges the bytes of one word; writes (id, byte length) pairs, returns the count. */
static int bpe_word(const Tokenizer *t, const unsigned char *w, int nb, int *pairs)
{
    int *ids = malloc((size_t)(nb + 1) * sizeof *ids), *lens = malloc((size_t)(nb + 1) * sizeof *lens);
    for (int i = 0; i < nb; i++) {
        ids[i] = t->byte_id[w[i]];
        lens[i] = 1;
    }
    int n = bpe_merge_syms(&t->merges, ids, lens, nb);
    for (int k = 0; k < n; k++) {
        pairs[2 * k] = ids[k];
        pairs[2 * k + 1] = lens[k];
    }
    free(ids);
    free(lens);
    return n;
}

/* ---- pre-tokenizer ------------------------------------------------------------- */

enum { CL_O = 0, CL_L, CL_N, CL_S };

static int char_class(uint32_t c)
{
    if (c < 0x80) {
        if ((c | 32) >= 'a' && (c | 32) <= 'z')
            return CL_L;
        if (c >= '0' && c <= '9')
            return CL_N;
        return uc_is_whitespace(c) ? CL_S : CL_O;
    }
    if (uc_is_whitespace(c))
        return CL_S;
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
        return CL_L;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return CL_N;
    default:
        return CL_O;
    }
}

/* Length of the pattern's match at i (cls: classes of cp[..e)). */
int bpe_pretok_match(const uint32_t *cp, const unsigned char *cls, int i, int e)
{
    uint32_t c = cp[i];
    if (c == '\'' && i + 1 < e) {
        uint32_t x = cp[i + 1];
        if (x == 's' || x == 't' || x == 'm' || x == 'd')
            return 2;
        if (i + 2 < e) {
            uint32_t y = cp[i + 2];
            if ((x == 'r' && y == 'e') || (x == 'v' && y == 'e') || (x == 'l' && y == 'l'))
                return 3;
        }
    }
    int j = i;
    if (c == ' ' && i + 1 < e && cls[i + 1] != CL_S)
        j = i + 1; /* " ?X+" with X the next character's class */
    int k = cls[j];
    if (k != CL_S) {
        int m = j + 1;
        while (m < e && cls[m] == k)
            m++;
        return m - i;
    }
    int m = i + 1; /* whitespace: \s+(?!\S) leaves the last one to prefix a word, else \s+ */
    while (m < e && cls[m] == CL_S)
        m++;
    if (m == e || m - i == 1)
        return m - i;
    return m - 1 - i;
}

static void emit_word(const Tokenizer *t, const uint32_t *cp, int ws, int we, TokList *out, unsigned char **wb,
                      int **bcp, int **pairs, int *cap)
{
    int need = 4 * (we - ws) + 4;
    if (need > *cap) {
        *cap = 2 * need;
        *wb = realloc(*wb, *cap);
        *bcp = realloc(*bcp, *cap * sizeof(int));
        *pairs = realloc(*pairs, 2 * *cap * sizeof(int));
    }
    int nb = 0;
    for (int i = ws; i < we; i++) {
        int k = utf8_put(cp[i], (char *)*wb + nb);
        for (int j = 0; j < k; j++)
            (*bcp)[nb + j] = i;
        nb += k;
    }
    int n = -1, *p = *pairs;
    BpeCache *c = t->cache;
    uint64_t h = 0;
    if (nb <= CACHE_MAX_BYTES) {
        h = strmap_hash((const char *)*wb, (size_t)nb);
        pthread_mutex_lock(&c->lock);
        int at = strmap_get_h(&c->map, (const char *)*wb, (size_t)nb, h);
        if (at >= 0) {
            n = c->pool[at];
            memcpy(p, c->pool + at + 1, 2 * n * sizeof(int));
        }
        pthread_mutex_unlock(&c->lock);
    }
    if (n < 0) {
        n = bpe_word(t, *wb, nb, p);
        if (nb <= CACHE_MAX_BYTES) {
            pthread_mutex_lock(&c->lock);
            if (c->map.n < CACHE_MAX_WORDS && strmap_get_h(&c->map, (const char *)*wb, (size_t)nb, h) < 0) {
                if (c->pool_len + 2 * n + 1 > c->pool_cap) {
                    c->pool_cap = 2 * (c->pool_len + 2 * n + 1) + 4096;
                    c->pool = realloc(c->pool, c->pool_cap * sizeof(int));
                }
                int at = (int)c->pool_len;
                c->pool[at] = n;
                memcpy(c->pool + at + 1, p, 2 * n * sizeof(int));
                c->pool_len += 2 * n + 1;
                strmap_put(&c->map, (const char *)*wb, (size_t)nb, at);
            }
            pthread_mutex_unlock(&c->lock);
        }
    }
    int b = 0;
    for (int k = 0; k < n; k++) {
        int len = p[2 * k + 1];
        toklist_push(out, p[2 * k], (*bcp)[b], (*bcp)[b + len - 1] + 1, 0);
        b += len;
    }
}

void bpe_classes(const uint32_t *cp, int n, unsigned char *cls)
{
    for (int i = 0; i < n; i++)
        cls[i] = (unsigned char)char_class(cp[i]);
}

void bpe_encode_span(const Tokenizer *t, const uint32_t *cp, int a, int b, TokList *out)
{
    unsigned char *cls = malloc((size_t)(b - a) + 1); /* (b-a) classes of cp[a..b) */
    bpe_classes(cp + a, b - a, cls);
    unsigned char *wb = NULL;
    int *bcp = NULL, *pairs = NULL, cap = 0;
    for (int i = a; i < b;) {
        int len = bpe_pretok_match(cp + a, cls, i - a, b - a);
        emit_word(t, cp, i, i + len, out, &wb, &bcp, &pairs, &cap);
        i += len;
    }
    free(cls);
    free(wb);
    free(bcp);
    free(pairs);
}
