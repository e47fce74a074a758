/* Normalizers of tokenizer.json over aligned text (NStr): BertNormalizer,
 * NFC/NFD/NFKC/NFKD (utf8proc), Lowercase, StripAccents, Strip, Prepend,
 * Replace, Sequence. Alignments follow the tokenizers crate's transform rules:
 * a character that replaces another keeps that one's original range, an
 * inserted one takes the range of the character it was made from, a removed
 * one disappears with its range. */
#include "io/tokjson.h"
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---- aligned text ---------------------------------------------------------------- */

void ns_push(NStr *s, uint32_t c, int a, int b)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->c = realloc(s->c, s->cap * sizeof *s->c);
        s->al = realloc(s->al, s->cap * sizeof *s->al);
    }
    s->c[s->n] = c;
    s->al[s->n][0] = a;
    s->al[s->n][1] = b;
    s->n++;
}

void ns_free(NStr *s)
{
    free(s->c);
    free(s->al);
    memset(s, 0, sizeof *s);
}

void ns_from_cps(NStr *s, const uint32_t *cp, int a, int b)
{
    memset(s, 0, sizeof *s);
    s->cap = b - a > 0 ? b - a : 1;
    s->c = malloc(s->cap * sizeof *s->c);
    s->al = malloc(s->cap * sizeof *s->al);
    for (int i = a; i < b; i++) {
        s->c[s->n] = cp[i];
        s->al[s->n][0] = i;
        s->al[s->n][1] = i + 1;
        s->n++;
    }
}

NStr *nl_add(NList *l)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
    }
    memset(&l->v[l->n], 0, sizeof l->v[0]);
    return &l->v[l->n++];
}

void nl_free(NList *l)
{
    for (int i = 0; i < l->n; i++)
        ns_free(&l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Swaps the contents of a and b (the normalizers build a new string, then swap). */
static void ns_swap(NStr *a, NStr *b)
{
    NStr x = *a;
    *a = *b;
    *b = x;
}

/* ---- Unicode classes --------------------------------------------------------------- */

static utf8proc_category_t cat(uint32_t c) { return utf8proc_category((utf8proc_int32_t)c); }

int uc_is_control(uint32_t c)
{
    utf8proc_category_t k = cat(c);
    return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CN ||
           k == UTF8PROC_CATEGORY_CO || k == UTF8PROC_CATEGORY_CS;
}

int uc_is_chinese(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

int uc_is_punct(uint32_t c)
{
    if (c < 0x80)
        return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
    switch (cat(c)) {
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS: case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF: case UTF8PROC_CATEGORY_PO:
        return 1;
    default:
        return 0;
    }
}

int uc_is_numeric(uint32_t c)
{
    if (c < 0x80)
        return c >= '0' && c <= '9';
    utf8proc_category_t k = cat(c);
    return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

int uc_is_alnum(uint32_t c)
{
    if (c < 0x80)
        return (c | 32) >= 'a' && (c | 32) <= 'z' ? 1 : c >= '0' && c <= '9';
    utf8proc_category_t k = cat(c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) || k == UTF8PROC_CATEGORY_ND ||
           k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO || k == UTF8PROC_CATEGORY_MC;
}

/* ---- Unicode normalization forms ------------------------------------------------------ */

static int ccc(uint32_t c) { return c < 0x300 ? 0 : utf8proc_get_property((utf8proc_int32_t)c)->combining_class; }

/* Full (canonical or compatibility) decomposition of every character, then the
 * canonical ordering of combining marks (a stable sort by class within runs of
 * non-starters). Each piece of a decomposed character keeps its range. */
static void decompose(NStr *s, int compat)
{
    NStr o = {0};
    utf8proc_option_t opt = UTF8PROC_DECOMPOSE | (compat ? UTF8PROC_COMPAT : 0);
    for (int i = 0; i < s->n; i++) {
        uint32_t c = s->c[i];
        if (c < 0xA0) {
            ns_push(&o, c, s->al[i][0], s->al[i][1]);
            continue;
        }
        utf8proc_int32_t d[32];
        int last = 0;
        utf8proc_ssize_t k = utf8proc_decompose_char((utf8proc_int32_t)c, d, 32, opt, &last);
        if (k < 1 || k > 32) {
            ns_push(&o, c, s->al[i][0], s->al[i][1]);
            continue;
        }
        for (int j = 0; j < k; j++)
            ns_push(&o, (uint32_t)d[j], s->al[i][0], s->al[i][1]);
    }
    for (int i = 1; i < o.n; i++) {
        int ci = ccc(o.c[i]);
        if (!ci)
            continue;
        for (int j = i; j > 0; j--) {
            int cj = ccc(o.c[j - 1]);
            if (!cj || cj <= ci)
                break;
            uint32_t x = o.c[j];
            o.c[j] = o.c[j - 1];
            o.c[j - 1] = x;
            int a0 = o.al[j][0], a1 = o.al[j][1];
            o.al[j][0] = o.al[j - 1][0];
            o.al[j][1] = o.al[j - 1][1];
            o.al[j - 1][0] = a0;
            o.al[j - 1][1] = a1;
        }
    }
    ns_swap(s, &o);
    ns_free(&o);
}

/* Starters that can still compose with the character before them (NFC_QC=Maybe,
 * canonical combining class 0): Hangul vowels/trailing consonants and a few
 * Indic/Myanmar/Balinese vowel signs. */
static int composes_backward(uint32_t c)
{
    if ((c >= 0x1161 && c <= 0x1175) || (c >= 0x11A8 && c <= 0x11C2))
        return 1;
    static const uint32_t m[] = {0x0B3E, 0x0B56, 0x0B57, 0x0BBE, 0x0BD7, 0x0CC2, 0x0CD5, 0x0CD6, 0x0D3E,
                                 0x0D57, 0x0DCF, 0x0DDF, 0x102E, 0x1B35, 0x11127, 0x1133E, 0x11357, 0x114B0,
                                 0x114BA, 0x114BD, 0x115AF, 0x11930};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (c == m[i])
            return 1;
    return 0;
}

/* Canonical composition of a decomposed string, run by run (a starter and what
 * can join it); composed characters take the range of the run's characters in
 * order, so a mark absorbed into its base loses its own range, as in HF. When the
 * run-wise result differs from composing the whole string (not expected), the
 * whole-string result is kept with each character spanning everything. */
static void compose(NStr *s)
{
    NStr o = {0};
    utf8proc_int32_t *buf = malloc((size_t)(s->n + 1) * sizeof *buf);
    int i = 0;
    while (i < s->n) {
        int j = i + 1;
        while (j < s->n && (ccc(s->c[j]) != 0 || composes_backward(s->c[j])))
            j++;
        int m = j - i;
        for (int k = 0; k < m; k++)
            buf[k] = (utf8proc_int32_t)s->c[i + k];
        utf8proc_ssize_t r = utf8proc_normalize_utf32(buf, m, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        if (r < 0)
            r = 0;
        for (int k = 0; k < r; k++) {
            int src = i + (k < m ? k : m - 1);
            ns_push(&o, (uint32_t)buf[k], s->al[src][0], s->al[src][1]);
        }
        i = j;
    }
    /* check against the whole string */
    for (int k = 0; k < s->n; k++)
        buf[k] = (utf8proc_int32_t)s->c[k];
    utf8proc_ssize_t r = s->n ? utf8proc_normalize_utf32(buf, s->n, UTF8PROC_STABLE | UTF8PROC_COMPOSE) : 0;
    int same = r == o.n;
    for (int k = 0; same && k < o.n; k++)
        same = o.c[k] == (uint32_t)buf[k];
    if (!same && r >= 0) {
        int a = s->n ? s->al[0][0] : 0, b = s->n ? s->al[s->n - 1][1] : 0;
        o.n = 0;
        for (int k = 0; k < r; k++)
            ns_push(&o, (uint32_t)buf[k], a, b);
    }
    free(buf);
    ns_swap(s, &o);
    ns_free(&o);
}

static int all_below(const NStr *s, uint32_t lim)
{
    for (int i = 0; i < s->n; i++)
        if (s->c[i] >= lim)
            return 0;
    return 1;
}

static void unicode_form(NStr *s, int kind)
{
    int compat = kind == NM_NFKC || kind == NM_NFKD, comp = kind == NM_NFC || kind == NM_NFKC;
    /* below these, every form is the identity */
    if (all_below(s, comp && !compat ? 0x300 : 0xA0))
        return;
    decompose(s, compat);
    if (comp)
        compose(s);
}

/* ---- simple normalizers -------------------------------------------------------------- */

int uc_lower_simple(uint32_t *c, int n)
{
    int has130 = 0;
    for (int i = 0; i < n; i++) {
        if (c[i] < 0x80) {
            if (c[i] >= 'A' && c[i] <= 'Z')
                c[i] += 32;
        } else if (c[i] == 0x130)
            has130 = 1;
        else
            c[i] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c[i]);
    }
    return has130;
}

/* Rust's char::to_lowercase: the full mapping, where only U+0130 expands ("i" + U+0307). */
static void lowercase(NStr *s)
{
    if (!uc_lower_simple(s->c, s->n))
        return;
    NStr o = {0};
    for (int i = 0; i < s->n; i++) {
        ns_push(&o, s->c[i] == 0x130 ? 'i' : s->c[i], s->al[i][0], s->al[i][1]);
        if (s->c[i] == 0x130)
            ns_push(&o, 0x307, s->al[i][0], s->al[i][1]);
    }
    ns_swap(s, &o);
    ns_free(&o);
}

static void remove_mn(NStr *s)
{
    int w = 0;
    for (int i = 0; i < s->n; i++)
        if (s->c[i] < 0x300 || cat(s->c[i]) != UTF8PROC_CATEGORY_MN) {
            s->c[w] = s->c[i];
            s->al[w][0] = s->al[i][0];
            s->al[w][1] = s->al[i][1];
            w++;
        }
    s->n = w;
}

static void bert_normalize(const Normalizer *nm, NStr *s)
{
    if (nm->clean_text || nm->chinese) {
        NStr o = {0};
        for (int i = 0; i < s->n; i++) {
            uint32_t c = s->c[i];
            int a = s->al[i][0], b = s->al[i][1];
            if (nm->clean_text) {
                if (c == 0 || c == 0xFFFD || (c != '\t' && c != '\n' && c != '\r' && uc_is_control(c)))
                    continue;
                if (uc_is_whitespace(c))
                    c = ' ';
            }
            if (nm->chinese && uc_is_chinese(c)) {
                ns_push(&o, ' ', a, b);
                ns_push(&o, c, a, b);
                ns_push(&o, ' ', a, b);
            } else
                ns_push(&o, c, a, b);
        }
        ns_swap(s, &o);
        ns_free(&o);
    }
    int strip = nm->strip_accents < 0 ? nm->lowercase : nm->strip_accents;
    if (strip && !all_below(s, 0xC0)) {
        decompose(s, 0);
        remove_mn(s);
    }
    if (nm->lowercase)
        lowercase(s);
}

static void strip_ws(const Normalizer *nm, NStr *s)
{
    int a = 0, b = s->n;
    if (nm->left)
        while (a < b && uc_is_whitespace(s->c[a]))
            a++;
    if (nm->right)
        while (b > a && uc_is_whitespace(s->c[b - 1]))
            b--;
    if (a > 0) {
        memmove(s->c, s->c + a, (size_t)(b - a) * sizeof *s->c);
        memmove(s->al, s->al + a, (size_t)(b - a) * sizeof *s->al);
    }
    s->n = b - a;
}

static void prepend(const Normalizer *nm, NStr *s)
{
    if (s->n == 0)
        return; /* HF prepends only to a non-empty string */
    NStr o = {0};
    for (int k = 0; k < nm->nstr; k++)
        ns_push(&o, nm->str[k], s->al[0][0], s->al[0][1]);
    for (int i = 0; i < s->n; i++)
        ns_push(&o, s->c[i], s->al[i][0], s->al[i][1]);
    ns_swap(s, &o);
    ns_free(&o);
}

/* Replace every match of the pattern by the content: the new characters take the
 * ranges of the matched ones in order (the last one's for any extra). */
static void replace(const Normalizer *nm, NStr *s)
{
    int (*m)[2] = NULL;
    int nm_ = tjre_find(nm->pat, s->c, s->n, &m);
    if (nm_ == 0) {
        free(m);
        return;
    }
    NStr o = {0};
    int pos = 0;
    for (int k = 0; k < nm_; k++) {
        for (; pos < m[k][0]; pos++)
            ns_push(&o, s->c[pos], s->al[pos][0], s->al[pos][1]);
        int a = m[k][0], len = m[k][1] - m[k][0];
        for (int j = 0; j < nm->nstr; j++) {
            int src = len ? a + (j < len ? j : len - 1) : (a > 0 ? a - 1 : -1);
            int r0 = src >= 0 && src < s->n ? s->al[src][0] : 0, r1 = src >= 0 && src < s->n ? s->al[src][1] : 0;
            ns_push(&o, nm->str[j], r0, r1);
        }
        pos = m[k][1];
    }
    for (; pos < s->n; pos++)
        ns_push(&o, s->c[pos], s->al[pos][0], s->al[pos][1]);
    free(m);
    ns_swap(s, &o);
    ns_free(&o);
}

void normalizer_apply(const Normalizer *nm, NStr *s)
{
    switch (nm->kind) {
    case NM_BERT:
        bert_normalize(nm, s);
        break;
    case NM_NFC: case NM_NFD: case NM_NFKC: case NM_NFKD:
        unicode_form(s, nm->kind);
        break;
    case NM_LOWER:
        lowercase(s);
        break;
    case NM_STRIP_ACCENTS:
        remove_mn(s);
        break;
    case NM_STRIP:
        strip_ws(nm, s);
        break;
    case NM_PREPEND:
        prepend(nm, s);
        break;
    case NM_REPLACE:
        replace(nm, s);
        break;
    case NM_SEQ:
        for (int i = 0; i < nm->nsub; i++)
            normalizer_apply(&nm->sub[i], s);
        break;
    }
}

static void normalizer_clear(Normalizer *nm)
{
    free(nm->str);
    tjre_free(nm->pat);
    for (int i = 0; i < nm->nsub; i++)
        normalizer_clear(&nm->sub[i]);
    free(nm->sub);
}

void normalizer_free(Normalizer *nm)
{
    if (!nm)
        return;
    normalizer_clear(nm);
    free(nm);
}
