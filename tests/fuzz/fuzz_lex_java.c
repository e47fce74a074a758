/* Fuzzes the Java lexer and the sub-token categories (io/lex_java.c, io/categories.c).
 * Input: any bytes. As UTF-8 text (when valid) it is lexed: tokens must be in order, inside
 * the text, of a known category, and cover every non-whitespace character exactly once.
 * As JSON it is parsed as a field of [start, end, "label"] spans, and those spans (or the
 * lexer's) are assigned to made-up sub-tokens; every category must be a valid index. */
#include "io/categories.h"
#include "io/lex_java.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

static void check_lex(const char *text)
{
    size_t len = strlen(text);
    uint32_t *cp = malloc(sizeof *cp * (len + 1));
    int n = 0;
    for (size_t p = 0; p < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t r = utf8proc_iterate((const utf8proc_uint8_t *)text + p, (utf8proc_ssize_t)(len - p), &c);
        if (r <= 0) {
            free(cp);
            LexSpan *t;
            int nt;
            if (lex_java_utf8(text, &t, &nt) != -1) /* invalid UTF-8 must be refused */
                abort();
            return;
        }
        cp[n++] = (uint32_t)c;
        p += (size_t)r;
    }
    LexSpan *t;
    int nt;
    if (lex_java(cp, n, &t, &nt))
        abort();
    unsigned char *cov = calloc((size_t)n + 1, 1);
    int end = 0;
    for (int k = 0; k < nt; k++) {
        if (t[k].start < end || t[k].end <= t[k].start || t[k].end > n || t[k].cat < 0 || t[k].cat >= LEXJ_NUM ||
            t[k].cat == LEXJ_SPECIAL)
            abort();
        end = t[k].end;
        for (int c = t[k].start; c < t[k].end; c++)
            cov[c]++;
    }
    /* every character outside tokens is whitespace: it starts no token */
    for (int c = 0; c < n; c++)
        if (!cov[c] && !(cp[c] == ' ' || (cp[c] >= 9 && cp[c] <= 13) || (cp[c] >= 0x1c && cp[c] <= 0x1f) ||
                         cp[c] == 0x85 || cp[c] == 0xa0 || cp[c] == 0x1680 || (cp[c] >= 0x2000 && cp[c] <= 0x200a) ||
                         cp[c] == 0x2028 || cp[c] == 0x2029 || cp[c] == 0x202f || cp[c] == 0x205f || cp[c] == 0x3000))
            abort();
    /* sub-tokens: consecutive slices of 1..3 code points, every 5th one special */
    int T = n < 64 ? n : 64;
    int (*span)[2] = malloc(sizeof *span * (T + 1)), *special = calloc((size_t)T + 1, sizeof(int));
    int16_t *cat = malloc(sizeof *cat * (T + 1));
    for (int s = 0, a = 0; s < T; s++) {
        int b = a + 1 + (int)(cp[s] % 3);
        span[s][0] = a < n ? a : n, span[s][1] = b < n ? b : n;
        special[s] = s % 5 == 4;
        a = b;
    }
    if (categories_assign((const int(*)[2])span, special, T, t, nt, LEXJ_SPECIAL, LEXJ_UNKNOWN, cat))
        abort();
    for (int s = 0; s < T; s++)
        if (cat[s] < 0 || cat[s] >= LEXJ_NUM || (special[s] && cat[s] != LEXJ_SPECIAL))
            abort();
    free(span);
    free(special);
    free(cat);
    free(cov);
    free(t);
    free(cp);
}

static void check_field(const char *json)
{
    CategoryNames names = {0};
    LexSpan *s = NULL;
    int n = 0;
    char err[256] = "";
    if (categories_parse_field(json, &names, &s, &n, err, sizeof err)) {
        if (!err[0] || s)
            abort();
    } else {
        for (int k = 0; k < n; k++)
            if (s[k].start < 0 || s[k].end < s[k].start || s[k].cat < 0 || s[k].cat >= names.n)
                abort();
        int span[4][2] = {{0, 0}, {0, 2}, {1, 5}, {3, 100}}, special[4] = {1, 0, 0, 0};
        int16_t cat[4];
        if (categories_assign((const int(*)[2])span, special, 4, s, n, -1, -2, cat))
            abort();
        for (int k = 1; k < 4; k++)
            if (cat[k] != -2 && (cat[k] < 0 || cat[k] >= names.n))
                abort();
    }
    free(s);
    category_names_free(&names);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0; /* a NUL inside ends the text, as a C string */
    check_lex(text);
    check_field(text);
    free(text);
    return 0;
}
