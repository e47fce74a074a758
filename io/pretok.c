/* Pre-tokenizers of tokenizer.json (BertPreTokenizer, ByteLevel, Split,
 * Metaspace, Digits, Punctuation, Whitespace, WhitespaceSplit, Sequence) and
 * the regex engine behind Split / Replace: PCRE2 in UTF mode, with the
 * Oniguruma classes that PCRE2 defines otherwise (\s, \S, \w, \W) rewritten
 * as explicit Unicode classes. Every split follows the tokenizers crate's
 * SplitDelimiterBehavior folds, and empty pieces are dropped as it drops them. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "io/tokjson.h"
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- regex --------------------------------------------------------------------------- */

struct TjRegex {
    pcre2_code *code;
};

/* Oniguruma's Unicode \s is White_Space (tab..CR, NEL, Z*); \w is letters, marks,
 * decimal digits and connector punctuation. */
#define ONIG_SPACE "\\t\\n\\x{0B}\\f\\r\\x{85}\\p{Z}"
#define ONIG_WORD "\\p{L}\\p{M}\\p{Nd}\\p{Pc}"

static void sb_put(char **b, size_t *n, size_t *cap, const char *s, size_t k)
{
    if (*n + k + 1 > *cap) {
        *cap = (*n + k + 1) * 2;
        *b = realloc(*b, *cap);
    }
    memcpy(*b + *n, s, k);
    *n += k;
    (*b)[*n] = 0;
}

static char *translate(const char *p, int literal)
{
    char *b = NULL;
    size_t n = 0, cap = 0;
    sb_put(&b, &n, &cap, "", 0);
    int in_class = 0;
    for (size_t i = 0; p[i]; i++) {
        char c = p[i];
        if (literal) {
            if ((unsigned char)c < 0x80 && !((c | 32) >= 'a' && (c | 32) <= 'z') && !(c >= '0' && c <= '9'))
                sb_put(&b, &n, &cap, "\\", 1);
            sb_put(&b, &n, &cap, &c, 1);
            continue;
        }
        if (c == '\\' && p[i + 1]) {
            char e = p[i + 1];
            const char *rep = NULL;
            if (e == 's')
                rep = in_class ? ONIG_SPACE : "[" ONIG_SPACE "]";
            else if (e == 'S' && !in_class)
                rep = "[^" ONIG_SPACE "]";
            else if (e == 'w')
                rep = in_class ? ONIG_WORD : "[" ONIG_WORD "]";
            else if (e == 'W' && !in_class)
                rep = "[^" ONIG_WORD "]";
            if (rep)
                sb_put(&b, &n, &cap, rep, strlen(rep));
            else
                sb_put(&b, &n, &cap, p + i, 2);
            i++;
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = 1;
            sb_put(&b, &n, &cap, p + i, 1);
            /* a ']' or '^]' right after '[' is a literal */
            if (p[i + 1] == '^') {
                sb_put(&b, &n, &cap, "^", 1);
                i++;
            }
            if (p[i + 1] == ']') {
                sb_put(&b, &n, &cap, "]", 1);
                i++;
            }
            continue;
        }
        if (c == ']' && in_class)
            in_class = 0;
        sb_put(&b, &n, &cap, &c, 1);
    }
    return b;
}

TjRegex *tjre_compile(const char *pattern, int literal, char *err, size_t errlen)
{
    char *tr = translate(pattern, literal);
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)tr, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    free(tr);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        snprintf(err, errlen, "invalid regex: %s", (const char *)msg);
        return NULL;
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* optional: falls back to the interpreter */
    TjRegex *re = malloc(sizeof *re);
    re->code = code;
    return re;
}

void tjre_free(TjRegex *re)
{
    if (!re)
        return;
    pcre2_code_free(re->code);
    free(re);
}

int tjre_find(const TjRegex *re, const uint32_t *c, int n, int (**out)[2])
{
    *out = NULL;
    if (n == 0)
        return 0;
    char *u = malloc((size_t)n * 4 + 1);
    int *b2c = malloc(((size_t)n * 4 + 1) * sizeof *b2c); /* byte offset -> character index */
    size_t nb = 0;
    for (int i = 0; i < n; i++) {
        int k = utf8_put(c[i], u + nb);
        for (int j = 0; j < k; j++)
            b2c[nb + j] = i;
        nb += (size_t)k;
    }
    b2c[nb] = n;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
    int (*m)[2] = NULL, nm = 0, cap = 0;
    size_t at = 0;
    while (at <= nb) {
        int rc = pcre2_match(re->code, (PCRE2_SPTR)u, nb, at, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc < 0)
            break; /* no match (or a match limit: the rest is unmatched text) */
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (nm == cap) {
            cap = cap ? cap * 2 : 16;
            m = realloc(m, cap * sizeof *m);
        }
        m[nm][0] = b2c[ov[0]];
        m[nm][1] = b2c[ov[1]];
        nm++;
        if (ov[1] > ov[0])
            at = ov[1];
        else { /* an empty match: the next search starts one character later */
            if (ov[0] >= nb)
                break;
            at = ov[0] + 1;
            while (at < nb && ((unsigned char)u[at] & 0xC0) == 0x80)
                at++;
        }
    }
    pcre2_match_data_free(md);
    free(u);
    free(b2c);
    *out = m;
    return nm;
}

/* ---- splitting with a behaviour ------------------------------------------------------- */

static void slice(const NStr *s, int a, int b, NList *out)
{
    if (b <= a)
        return;
    NStr *p = nl_add(out);
    p->cap = b - a;
    p->c = malloc(p->cap * sizeof *p->c);
    p->al = malloc(p->cap * sizeof *p->al);
    memcpy(p->c, s->c + a, (size_t)(b - a) * sizeof *p->c);
    memcpy(p->al, s->al + a, (size_t)(b - a) * sizeof *p->al);
    p->n = b - a;
}

typedef struct {
    int a, b, match;
} Seg;

/* m: sorted non-overlapping matches in s. Builds HF's (offsets, is_match) list,
 * applies the behaviour's fold and appends the kept pieces to out. */
static void split_piece(const NStr *s, int (*m)[2], int nm, int behavior, int invert, NList *out)
{
    Seg *sg = malloc(((size_t)2 * nm + 2) * sizeof *sg);
    int ns = 0, prev = 0;
    for (int k = 0; k < nm; k++) {
        if (m[k][0] != prev)
            sg[ns++] = (Seg){prev, m[k][0], invert};
        sg[ns++] = (Seg){m[k][0], m[k][1], !invert};
        prev = m[k][1];
    }
    if (prev != s->n)
        sg[ns++] = (Seg){prev, s->n, invert};
    /* fold: entries (a, b, remove) */
    Seg *r = malloc(((size_t)ns + 1) * sizeof *r);
    int nr = 0, pm = 0;
    switch (behavior) {
    case SB_REMOVED:
        for (int k = 0; k < ns; k++)
            r[nr++] = sg[k];
        break;
    case SB_ISOLATED:
        for (int k = 0; k < ns; k++)
            r[nr++] = (Seg){sg[k].a, sg[k].b, 0};
        break;
    case SB_CONTIGUOUS:
        for (int k = 0; k < ns; k++) {
            if (sg[k].match == pm && nr)
                r[nr - 1].b = sg[k].b;
            else
                r[nr++] = (Seg){sg[k].a, sg[k].b, 0};
            pm = sg[k].match;
        }
        break;
    case SB_PREVIOUS:
        for (int k = 0; k < ns; k++) {
            if (sg[k].match && !pm && nr)
                r[nr - 1].b = sg[k].b;
            else
                r[nr++] = (Seg){sg[k].a, sg[k].b, 0};
            pm = sg[k].match;
        }
        break;
    case SB_NEXT: /* the same fold from the end */
        for (int k = ns - 1; k >= 0; k--) {
            if (sg[k].match && !pm && nr)
                r[nr - 1].a = sg[k].a;
            else
                r[nr++] = (Seg){sg[k].a, sg[k].b, 0};
            pm = sg[k].match;
        }
        for (int i = 0, j = nr - 1; i < j; i++, j--) {
            Seg x = r[i];
            r[i] = r[j];
            r[j] = x;
        }
        break;
    }
    for (int k = 0; k < nr; k++)
        if (!r[k].match)
            slice(s, r[k].a, r[k].b, out);
    free(sg);
    free(r);
}

/* Each character for which pred holds is one match. */
static int char_matches(const NStr *s, int (*pred)(uint32_t, uint32_t), uint32_t arg, int (**out)[2])
{
    int (*m)[2] = malloc(((size_t)s->n + 1) * sizeof *m), nm = 0;
    for (int i = 0; i < s->n; i++)
        if (pred(s->c[i], arg)) {
            m[nm][0] = i;
            m[nm][1] = i + 1;
            nm++;
        }
    *out = m;
    return nm;
}

static int p_ws(uint32_t c, uint32_t a) { return uc_is_whitespace(c); }
static int p_punct(uint32_t c, uint32_t a) { return uc_is_punct(c); }
static int p_digit(uint32_t c, uint32_t a) { return uc_is_numeric(c); }
static int p_eq(uint32_t c, uint32_t a) { return c == a; }

/* Replaces every piece of l by its split on the characters pred selects. */
static void split_chars(NList *l, int (*pred)(uint32_t, uint32_t), uint32_t arg, int behavior)
{
    NList o = {0};
    for (int i = 0; i < l->n; i++) {
        int (*m)[2];
        int nm = char_matches(&l->v[i], pred, arg, &m);
        split_piece(&l->v[i], m, nm, behavior, 0, &o);
        free(m);
    }
    nl_free(l);
    *l = o;
}

static void split_regex(NList *l, const TjRegex *re, int behavior, int invert)
{
    NList o = {0};
    for (int i = 0; i < l->n; i++) {
        int (*m)[2];
        int nm = tjre_find(re, l->v[i].c, l->v[i].n, &m);
        split_piece(&l->v[i], m, nm, behavior, invert, &o);
        free(m);
    }
    nl_free(l);
    *l = o;
}

/* ---- ByteLevel ------------------------------------------------------------------------- */

uint32_t bytelevel_char(int b)
{
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
        return (uint32_t)b;
    int extra = 0;
    for (int x = 0; x < b; x++)
        if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF)))
            extra++;
    return (uint32_t)(256 + extra);
}

static uint32_t byte_char[256];
static pthread_once_t byte_once = PTHREAD_ONCE_INIT;
static void byte_init(void)
{
    for (int b = 0; b < 256; b++)
        byte_char[b] = bytelevel_char(b);
}

/* s[a..b) as byte stand-ins in x (reusing its buffers), each keeping its character's range. */
static void bytes_fill(const NStr *s, int a, int b, NStr *x)
{
    int nb = 0;
    for (int k = a; k < b; k++)
        nb += s->c[k] < 0x80 ? 1 : s->c[k] < 0x800 ? 2 : s->c[k] < 0x10000 ? 3 : 4;
    if (nb > x->cap) {
        x->cap = 2 * nb;
        x->c = realloc(x->c, (size_t)x->cap * sizeof *x->c);
        x->al = realloc(x->al, (size_t)x->cap * sizeof *x->al);
    }
    x->n = 0;
    for (int k = a; k < b; k++) {
        uint32_t c = s->c[k];
        if (c < 0x80) {
            x->c[x->n] = byte_char[c];
            x->al[x->n][0] = s->al[k][0];
            x->al[x->n][1] = s->al[k][1];
            x->n++;
            continue;
        }
        char u[4];
        int m = utf8_put(c, u);
        for (int j = 0; j < m; j++) {
            x->c[x->n] = byte_char[(unsigned char)u[j]];
            x->al[x->n][0] = s->al[k][0];
            x->al[x->n][1] = s->al[k][1];
            x->n++;
        }
    }
}

static void bytes_piece(const NStr *s, int a, int b, NList *out)
{
    if (b > a)
        bytes_fill(s, a, b, nl_add(out));
}

/* Optional prefix space, the GPT-2 split (bpe.c's matcher of that fixed regex),
 * then every byte of every character as its printable stand-in, each keeping
 * the range of the character it belongs to. */
static void bytelevel(const PreTok *p, NList *l)
{
    pthread_once(&byte_once, byte_init);
    NList o = {0};
    for (int i = 0; i < l->n; i++) {
        NStr *s = &l->v[i];
        if (p->add_prefix_space && s->n && s->c[0] != ' ') {
            NStr x = {0};
            ns_push(&x, ' ', s->al[0][0], s->al[0][1]);
            for (int k = 0; k < s->n; k++)
                ns_push(&x, s->c[k], s->al[k][0], s->al[k][1]);
            ns_free(s);
            *s = x;
        }
        if (!p->use_regex) {
            bytes_piece(s, 0, s->n, &o);
            continue;
        }
        unsigned char *cls = malloc((size_t)s->n + 1);
        bpe_classes(s->c, s->n, cls);
        for (int a = 0; a < s->n;) {
            int len = bpe_pretok_match(s->c, cls, a, s->n);
            bytes_piece(s, a, a + len, &o);
            a += len;
        }
        free(cls);
    }
    nl_free(l);
    *l = o;
}

/* ByteLevel with use_regex as the whole pre-tokenizer: the same pieces, handed to fn one
 * at a time in one reused buffer (the common GPT-2 / RoBERTa case, without a piece list). */
void pretok_bytelevel_each(const PreTok *p, const NStr *in, void (*fn)(const NStr *piece, void *ctx), void *ctx)
{
    pthread_once(&byte_once, byte_init);
    NStr pre = {0};
    const NStr *s = in;
    if (p->add_prefix_space && in->n && in->c[0] != ' ') {
        ns_push(&pre, ' ', in->al[0][0], in->al[0][1]);
        for (int k = 0; k < in->n; k++)
            ns_push(&pre, in->c[k], in->al[k][0], in->al[k][1]);
        s = &pre;
    }
    NStr x = {0};
    unsigned char cls_buf[256], *cls = s->n < 256 ? cls_buf : malloc((size_t)s->n + 1);
    bpe_classes(s->c, s->n, cls);
    for (int a = 0; a < s->n;) {
        int len = bpe_pretok_match(s->c, cls, a, s->n);
        bytes_fill(s, a, a + len, &x);
        fn(&x, ctx);
        a += len;
    }
    if (cls != cls_buf)
        free(cls);
    ns_free(&x);
    ns_free(&pre);
}

/* ---- Metaspace ----------------------------------------------------------------------------- */

static void metaspace(const PreTok *p, NList *l)
{
    for (int i = 0; i < l->n; i++) {
        NStr *s = &l->v[i];
        for (int k = 0; k < s->n; k++)
            if (s->c[k] == ' ')
                s->c[k] = p->repl;
        int want = p->prepend_scheme == PS_ALWAYS || (p->prepend_scheme == PS_FIRST && s->n && s->al[0][0] == 0);
        if (want && s->n && s->c[0] != p->repl) {
            NStr x = {0};
            ns_push(&x, p->repl, s->al[0][0], s->al[0][1]);
            for (int k = 0; k < s->n; k++)
                ns_push(&x, s->c[k], s->al[k][0], s->al[k][1]);
            ns_free(s);
            *s = x;
        }
    }
    if (p->split)
        split_chars(l, p_eq, p->repl, SB_NEXT);
}

void pretok_apply(const PreTok *p, NList *l)
{
    switch (p->kind) {
    case PT_BERT:
        split_chars(l, p_ws, 0, SB_REMOVED);
        split_chars(l, p_punct, 0, SB_ISOLATED);
        break;
    case PT_BYTELEVEL:
        bytelevel(p, l);
        break;
    case PT_SPLIT:
    case PT_WHITESPACE:
        split_regex(l, p->re, p->behavior, p->invert);
        break;
    case PT_METASPACE:
        metaspace(p, l);
        break;
    case PT_DIGITS:
        split_chars(l, p_digit, 0, p->individual ? SB_ISOLATED : SB_CONTIGUOUS);
        break;
    case PT_PUNCT:
        split_chars(l, p_punct, 0, p->behavior);
        break;
    case PT_WSSPLIT:
        split_chars(l, p_ws, 0, SB_REMOVED);
        break;
    case PT_SEQ:
        for (int i = 0; i < p->nsub; i++)
            pretok_apply(&p->sub[i], l);
        break;
    }
}

static void pretok_clear(PreTok *p)
{
    tjre_free(p->re);
    for (int i = 0; i < p->nsub; i++)
        pretok_clear(&p->sub[i]);
    free(p->sub);
}

void pretok_free(PreTok *p)
{
    if (!p)
        return;
    pretok_clear(p);
    free(p);
}
