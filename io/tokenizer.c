/* Tokenizer front end: loading a checkpoint's tokenizer files, the encode
 * pipeline shared by both models (UTF-8 -> code points, special tokens written
 * in the text, model per segment, truncation, [CLS]/<s> framing), accessors,
 * and the small containers the models use (string map, token list). */
#include "io/tokjson.h"
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- string map ------------------------------------------------------------ */

uint64_t strmap_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

void strmap_init(StrMap *m, uint32_t expect)
{
    memset(m, 0, sizeof *m);
    m->cap = 64;
    while (m->cap < expect * 2)
        m->cap <<= 1;
    m->slot = calloc(m->cap, sizeof *m->slot);
}

void strmap_free(StrMap *m)
{
    free(m->slot);
    free(m->koff);
    free(m->klen);
    free(m->val);
    free(m->pool);
    memset(m, 0, sizeof *m);
}

int strmap_get_h(const StrMap *m, const char *s, size_t len, uint64_t h)
{
    uint32_t mask = m->cap - 1;
    for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
        uint32_t k = m->slot[i];
        if (!k)
            return -1;
        k--;
        if (m->klen[k] == len && memcmp(m->pool + m->koff[k], s, len) == 0)
            return m->val[k];
    }
}

int strmap_get(const StrMap *m, const char *s, size_t len)
{
    return strmap_get_h(m, s, len, strmap_hash(s, len));
}

static void strmap_grow(StrMap *m)
{
    uint32_t ncap = m->cap * 2, mask = ncap - 1;
    uint32_t *slot = calloc(ncap, sizeof *slot);
    for (uint32_t k = 0; k < m->n; k++) {
        uint32_t i = (uint32_t)strmap_hash(m->pool + m->koff[k], m->klen[k]) & mask;
        while (slot[i])
            i = (i + 1) & mask;
        slot[i] = k + 1;
    }
    free(m->slot);
    m->slot = slot;
    m->cap = ncap;
}

int strmap_put(StrMap *m, const char *s, size_t len, int val)
{
    uint64_t h = strmap_hash(s, len);
    int old = strmap_get_h(m, s, len, h);
    if (old >= 0)
        return old;
    if ((m->n + 1) * 2 > m->cap) {
        strmap_grow(m);
    }
    if (m->n == m->ncap) {
        m->ncap = m->ncap ? m->ncap * 2 : 256;
        m->koff = realloc(m->koff, m->ncap * sizeof *m->koff);
        m->klen = realloc(m->klen, m->ncap * sizeof *m->klen);
        m->val = realloc(m->val, m->ncap * sizeof *m->val);
    }
    if (m->pool_len + len + 1 > m->pool_cap) {
        m->pool_cap = (m->pool_len + len + 1) * 2 + 4096;
        m->pool = realloc(m->pool, m->pool_cap);
    }
    memcpy(m->pool + m->pool_len, s, len);
    m->pool[m->pool_len + len] = 0;
    uint32_t k = m->n++;
    m->koff[k] = (uint32_t)m->pool_len;
    m->klen[k] = (uint32_t)len;
    m->val[k] = val;
    m->pool_len += len + 1;
    uint32_t mask = m->cap - 1, i = (uint32_t)h & mask;
    while (m->slot[i])
        i = (i + 1) & mask;
    m->slot[i] = k + 1;
    return -1;
}

/* ---- token list -------------------------------------------------------------- */

void toklist_push(TokList *l, int id, int s, int e, int special)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->ids = realloc(l->ids, l->cap * sizeof *l->ids);
        l->off = realloc(l->off, l->cap * sizeof *l->off);
        l->special = realloc(l->special, l->cap * sizeof *l->special);
    }
    l->ids[l->n] = id;
    l->off[l->n][0] = s;
    l->off[l->n][1] = e;
    l->special[l->n] = special;
    l->n++;
}

void toklist_free(TokList *l)
{
    free(l->ids);
    free(l->off);
    free(l->special);
    memset(l, 0, sizeof *l);
}

/* ---- Unicode helpers ----------------------------------------------------------- */

/* Unicode White_Space (what Rust's char::is_whitespace and Oniguruma's \s test). */
int uc_is_whitespace(uint32_t c)
{
    if (c < 0x80)
        return c == ' ' || (c >= 9 && c <= 13);
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

int utf8_put(uint32_t c, char *o)
{
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xC0 | (c >> 6));
        o[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | (c >> 12));
        o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (c >> 18));
    o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF), as Python's decoder. */
int utf8_to_cps(const char *str, size_t len, uint32_t **out)
{
    const unsigned char *s = (const unsigned char *)str;
    uint32_t *cp = malloc((len + 1) * sizeof *cp);
    int n = 0;
    size_t i = 0;
    while (i < len) {
        unsigned char b = s[i];
        uint32_t c;
        int k;
        if (b < 0x80) {
            cp[n++] = b;
            i++;
            continue;
        } else if (b >= 0xC2 && b <= 0xDF) {
            c = b & 0x1F;
            k = 1;
        } else if (b >= 0xE0 && b <= 0xEF) {
            c = b & 0x0F;
            k = 2;
        } else if (b >= 0xF0 && b <= 0xF4) {
            c = b & 0x07;
            k = 3;
        } else {
            free(cp);
            return -1;
        }
        for (int j = 1; j <= k; j++) {
            if (i + j >= len || (s[i + j] & 0xC0) != 0x80) {
                free(cp);
                return -1;
            }
            c = (c << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 2 && c < 0x800) || (k == 3 && (c < 0x10000 || c > 0x10FFFF)) || (c >= 0xD800 && c <= 0xDFFF)) {
            free(cp);
            return -1;
        }
        cp[n++] = c;
        i += (size_t)k + 1;
    }
    *out = cp;
    return n;
}

/* ---- loading ----------------------------------------------------------------- */

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int cfg_bool(json_t *cfg, const char *key, int dflt, const char *path, char *err, size_t errlen, int *ok)
{
    json_t *v = cfg ? json_object_get(cfg, key) : NULL;
    if (!v || json_is_null(v))
        return dflt;
    if (!json_is_boolean(v)) {
        snprintf(err, errlen, "%s: \"%s\" must be true or false", path, key);
        *ok = 0;
        return dflt;
    }
    return json_is_true(v);
}

Tokenizer *tokenizer_load(const char *dir, char *err, size_t errlen)
{
    char vtxt[1200], vjson[1200], merges[1200], cfgp[1200], tjson[1200];
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: tokenizer directory not found", dir);
        return NULL;
    }
    snprintf(vtxt, sizeof vtxt, "%s/vocab.txt", dir);
    snprintf(vjson, sizeof vjson, "%s/vocab.json", dir);
    snprintf(merges, sizeof merges, "%s/merges.txt", dir);
    snprintf(cfgp, sizeof cfgp, "%s/tokenizer_config.json", dir);
    snprintf(tjson, sizeof tjson, "%s/tokenizer.json", dir);

    Tokenizer *t = calloc(1, sizeof *t);
    snprintf(t->dir, sizeof t->dir, "%s", dir);
    json_t *cfg = NULL;
    if (file_exists(cfgp)) {
        json_error_t je;
        cfg = json_load_file(cfgp, JSON_DECODE_INT_AS_REAL, &je); /* model_max_length can be 1e30 written as an integer */
        if (!cfg) {
            snprintf(err, errlen, "%s:%d:%d: invalid JSON: %s", cfgp, je.line, je.column, je.text);
            goto fail;
        }
        if (!json_is_object(cfg)) {
            snprintf(err, errlen, "%s: expected a JSON object", cfgp);
            goto fail;
        }
    }
    /* tokenizer.json first, as transformers' fast tokenizers */
    if (file_exists(tjson)) {
        if (tokjson_load(t, tjson, err, errlen) || tokjson_config(t, cfg, cfgp, err, errlen))
            goto fail;
        json_decref(cfg);
        return t;
    }
    int ok = 1;
    t->do_lower_case = cfg_bool(cfg, "do_lower_case", 1, cfgp, err, errlen, &ok);
    t->chinese_chars = ok ? cfg_bool(cfg, "tokenize_chinese_chars", 1, cfgp, err, errlen, &ok) : 1;
    t->strip_accents = ok ? cfg_bool(cfg, "strip_accents", t->do_lower_case, cfgp, err, errlen, &ok) : 0;
    if (ok && cfg_bool(cfg, "add_prefix_space", 0, cfgp, err, errlen, &ok)) {
        snprintf(err, errlen, "%s: add_prefix_space true is not supported (RoBERTa checkpoints use false)", cfgp);
        goto fail;
    }
    if (!ok)
        goto fail;
    t->model_max_length = 512;
    json_t *mml = cfg ? json_object_get(cfg, "model_max_length") : NULL;
    if (mml && !json_is_null(mml)) {
        if (!json_is_number(mml) || json_number_value(mml) < 1) {
            snprintf(err, errlen, "%s: \"model_max_length\" must be a positive number", cfgp);
            goto fail;
        }
        double v = json_number_value(mml);
        /* HF writes 1e30 (VERY_LARGE_INTEGER) when a model has no limit: keep 512 then. */
        if (v < 1e9)
            t->model_max_length = (int)v;
    }
    t->max_input_chars_per_word = 100;

    if (file_exists(vtxt)) {
        if (wordpiece_load(t, vtxt, err, errlen))
            goto fail;
    } else if (file_exists(vjson) || file_exists(merges)) {
        if (!file_exists(vjson)) {
            snprintf(err, errlen, "%s: missing (the BPE tokenizer needs vocab.json and merges.txt)", vjson);
            goto fail;
        }
        if (!file_exists(merges)) {
            snprintf(err, errlen, "%s: missing (the BPE tokenizer needs vocab.json and merges.txt)", merges);
            goto fail;
        }
        t->bpe = 1;
        if (bpe_load(t, vjson, merges, err, errlen))
            goto fail;
    } else {
        snprintf(err, errlen, "%s: no tokenizer files (expected tokenizer.json, vocab.txt, or vocab.json + merges.txt)",
                 dir);
        goto fail;
    }
    if (special_setup(t, cfg, cfgp, err, errlen))
        goto fail;
    /* the legacy families: RoBERTa's <s> / </s> are its bos / eos, BERT has none */
    t->special_id[TOK_BOS] = t->bpe ? t->special_id[TOK_CLS] : -1;
    t->special_id[TOK_EOS] = t->bpe ? t->special_id[TOK_SEP] : -1;
    if (t->bpe) {
        const char *k2[2] = {"bos_token", "eos_token"};
        for (int k = 0; k < 2; k++) {
            json_t *v = cfg ? json_object_get(cfg, k2[k]) : NULL;
            const char *name = json_is_string(v) ? json_string_value(v)
                               : json_is_object(v) && json_is_string(json_object_get(v, "content"))
                                   ? json_string_value(json_object_get(v, "content"))
                                   : NULL;
            if (name)
                t->special_id[TOK_BOS + k] = strmap_get(&t->vocab, name, strlen(name));
        }
    }
    json_decref(cfg);
    return t;
fail:
    json_decref(cfg);
    tokenizer_free(t);
    return NULL;
}

void tokenizer_free(Tokenizer *t)
{
    if (!t)
        return;
    if (t->id_to_tok)
        for (int i = 0; i < t->vocab_size; i++)
            free(t->id_to_tok[i]);
    free(t->id_to_tok);
    strmap_free(&t->vocab);
    strmap_free(&t->cont);
    special_free(t);
    bpe_free(t);
    tokjson_free(t->tj);
    free(t);
}

/* ---- encode ------------------------------------------------------------------ */

/* One segment: split at the special tokens written in it, model for the rest. */
static void encode_segment(const Tokenizer *t, const uint32_t *cp, int n, TokList *out)
{
    int (*m)[3] = NULL;
    int nm = added_find(t->specials, t->n_specials, ~0ull, 0, cp, n, &m);
    int pos = 0;
    for (int k = 0; k <= nm; k++) {
        int end = k < nm ? m[k][0] : n;
        if (end > pos) {
            if (t->bpe)
                bpe_encode_span(t, cp, pos, end, out);
            else
                wordpiece_encode_span(t, cp, pos, end, out);
        }
        if (k < nm) {
            toklist_push(out, t->specials[m[k][2]].id, m[k][0], m[k][1], 1);
            pos = m[k][1];
        }
    }
    free(m);
    /* RoBERTa's post-processor (trim_offsets): offsets lose leading/trailing 'Ġ' spaces. */
    if (t->bpe)
        for (int i = 0; i < out->n; i++) {
            int id = out->ids[i], *o = out->off[i];
            int lead = t->lead_sp[id], trail = t->trail_sp[id];
            if (lead)
                o[0] = o[0] + lead < o[1] ? o[0] + lead : o[1];
            if (trail && o[1] >= trail)
                o[1] = o[1] - trail > o[0] ? o[1] - trail : o[0];
        }
}

void encoding_alloc(Encoding *e, int n)
{
    e->ids = malloc(n * sizeof(int));
    e->type_ids = malloc(n * sizeof(int));
    e->special = malloc(n * sizeof(int));
    e->offsets = malloc(n * sizeof *e->offsets);
}

void encoding_put(Encoding *e, int id, int type, int special, int s, int en)
{
    e->ids[e->n] = id;
    e->type_ids[e->n] = type;
    e->special[e->n] = special;
    e->offsets[e->n][0] = s;
    e->offsets[e->n][1] = en;
    e->n++;
}

void encoding_put_list(Encoding *e, const TokList *l, int k, int type)
{
    for (int i = 0; i < k; i++)
        encoding_put(e, l->ids[i], type, l->special[i], l->off[i][0], l->off[i][1]);
}

int tokenizer_encode(const Tokenizer *t, const char *text, const char *text_pair, int max_length, Encoding *out)
{
    return tokenizer_encode_n(t, text ? text : "", text ? strlen(text) : 0, text_pair,
                              text_pair ? strlen(text_pair) : 0, max_length, out);
}

/* Longest-first truncation of a pair to budget tokens (the tokenizers crate's rule). */
static void truncate_pair(int budget, int *k1, int *k2)
{
    int s1 = *k1, s2 = *k2, swap = s1 > s2;
    if (swap) {
        int x = s1;
        s1 = s2;
        s2 = x;
    }
    s2 = s1 > budget ? s1 : (s1 > budget - s1 ? s1 : budget - s1);
    if (s1 + s2 > budget) {
        s1 = budget / 2;
        s2 = s1 + budget % 2;
    }
    if (swap) {
        int x = s1;
        s1 = s2;
        s2 = x;
    }
    *k1 = s1 < *k1 ? s1 : *k1;
    *k2 = s2 < *k2 ? s2 : *k2;
}

int tok_truncate(const Tokenizer *t, int max_length, int added, int has_pair, int *k1, int *k2)
{
    if (max_length <= 0)
        max_length = t->model_max_length;
    if (max_length <= 0)
        return 0;
    int budget = max_length - added;
    if (budget < 0)
        budget = 0;
    if (*k1 + *k2 <= budget)
        return 0;
    if (!has_pair)
        *k1 = budget;
    else
        truncate_pair(budget, k1, k2);
    return 1;
}


int tokenizer_encode_n(const Tokenizer *t, const char *text, size_t text_len, const char *text_pair, size_t pair_len,
                       int max_length, Encoding *out)
{
    memset(out, 0, sizeof *out);
    uint32_t *cp1 = NULL, *cp2 = NULL;
    if (!text)
        text = "", text_len = 0;
    int n1 = utf8_to_cps(text, text_len, &cp1);
    if (n1 < 0)
        return -1;
    int n2 = 0;
    if (text_pair) {
        n2 = utf8_to_cps(text_pair, pair_len, &cp2);
        if (n2 < 0) {
            free(cp1);
            return -1;
        }
    }
    if (t->tj) {
        int rc = tokjson_encode(t, cp1, n1, cp2, n2, text_pair != NULL, max_length, out);
        free(cp1);
        free(cp2);
        return rc;
    }
    TokList a = {0}, b = {0};
    encode_segment(t, cp1, n1, &a);
    if (text_pair)
        encode_segment(t, cp2, n2, &b);
    free(cp1);
    free(cp2);

    /* the budget excludes the added specials (model_max_length is positive here: a limit always) */
    int added = text_pair ? (t->bpe ? 4 : 3) : 2;
    int k1 = a.n, k2 = b.n;
    if (tok_truncate(t, max_length, added, text_pair != NULL, &k1, &k2))
        out->truncated = 1;
    encoding_alloc(out, k1 + k2 + added);
    int cls = t->special_id[TOK_CLS], sep = t->special_id[TOK_SEP];
    encoding_put(out, cls, 0, 1, 0, 0);
    encoding_put_list(out, &a, k1, 0);
    encoding_put(out, sep, 0, 1, 0, 0);
    if (text_pair) {
        int ty = t->bpe ? 0 : 1; /* RoBERTa has one token type */
        if (t->bpe)
            encoding_put(out, sep, ty, 1, 0, 0);
        encoding_put_list(out, &b, k2, ty);
        encoding_put(out, sep, ty, 1, 0, 0);
    }
    toklist_free(&a);
    toklist_free(&b);
    return 0;
}

void encoding_free(Encoding *e)
{
    if (!e)
        return;
    free(e->ids);
    free(e->type_ids);
    free(e->special);
    free(e->offsets);
    memset(e, 0, sizeof *e);
}

/* ---- accessors --------------------------------------------------------------- */

int tokenizer_vocab_size(const Tokenizer *t) { return t->vocab_size; }
int tokenizer_model_max_length(const Tokenizer *t) { return t->model_max_length; }
int tokenizer_is_bpe(const Tokenizer *t) { return t->bpe; }
int tokenizer_from_json(const Tokenizer *t) { return t->tj != NULL; }

const char *tokenizer_id_to_token(const Tokenizer *t, int id)
{
    return id >= 0 && id < t->vocab_size ? t->id_to_tok[id] : NULL;
}

int tokenizer_token_to_id(const Tokenizer *t, const char *token)
{
    if (!token)
        return -1;
    int id = strmap_get(&t->vocab, token, strlen(token));
    /* tokenizer.json: added tokens outside the model's vocabulary live in t->cont */
    return id < 0 && t->tj ? strmap_get(&t->cont, token, strlen(token)) : id;
}

int tokenizer_special_id(const Tokenizer *t, SpecialToken which)
{
    return which >= 0 && which < TOK_NUM_SPECIAL_ALL ? t->special_id[which] : -1;
}
