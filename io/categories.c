/* Sub-token categories by character span (see categories.h for the rule). */
#include "io/categories.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int categories_assign(const int (*span)[2], const int *special, int T, const LexSpan *spans, int n,
                      int special_cat, int unknown_cat, int16_t *out)
{
    return categories_assign_segment(span, special, NULL, 0, T, spans, n, special_cat, unknown_cat, out);
}

int categories_assign_segment(const int (*span)[2], const int *special, const int *type_ids, int seg, int T,
                              const LexSpan *spans, int n, int special_cat, int unknown_cat, int16_t *out)
{
    if (T < 0 || n < 0 || (T > 0 && (!span || !special || !out)) || (n > 0 && !spans))
        return -1;
    for (int t = 0; t < T; t++) {
        if (type_ids && type_ids[t] != seg)
            continue;
        if (special[t]) {
            out[t] = (int16_t)special_cat;
            continue;
        }
        int a = span[t][0], b = span[t][1], best = -1, best_ov = 0;
        /* O(T n): T <= the model's maximum length, n <= a few thousand spans per text */
        for (int k = 0; k < n; k++) {
            int lo = a > spans[k].start ? a : spans[k].start, hi = b < spans[k].end ? b : spans[k].end;
            int ov = hi - lo;
            if (ov > best_ov || (ov == best_ov && ov > 0 && spans[k].start < spans[best].start))
                best = k, best_ov = ov;
        }
        out[t] = (int16_t)(best < 0 ? unknown_cat : spans[best].cat);
    }
    return 0;
}

int categories_java(const char *text, const int (*span)[2], const int *special, int T, int16_t *out)
{
    return categories_java_segment(text, span, special, NULL, 0, T, out);
}

int categories_java_segment(const char *text, const int (*span)[2], const int *special, const int *type_ids,
                            int seg, int T, int16_t *out)
{
    LexSpan *s = NULL;
    int n = 0;
    if (lex_java_utf8(text, &s, &n))
        return -1;
    int rc = categories_assign_segment(span, special, type_ids, seg, T, s, n, LEXJ_SPECIAL, LEXJ_UNKNOWN, out);
    free(s);
    return rc;
}

int category_names_index(CategoryNames *t, const char *name)
{
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->names[i], name))
            return i;
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 16;
        char **v = realloc(t->names, sizeof *v * cap);
        if (!v)
            return -1;
        t->names = v, t->cap = cap;
    }
    if (!(t->names[t->n] = strdup(name)))
        return -1;
    return t->n++;
}

void category_names_free(CategoryNames *t)
{
    for (int i = 0; i < t->n; i++)
        free(t->names[i]);
    free(t->names);
    memset(t, 0, sizeof *t);
}

static int bad(char *err, size_t errlen, const char *fmt, int i)
{
    snprintf(err, errlen, fmt, i);
    return -1;
}

static int parse_array(json_t *root, CategoryNames *t, LexSpan *v, char *err, size_t errlen)
{
    size_t i;
    json_t *el;
    json_array_foreach(root, i, el) {
        json_t *a = json_array_get(el, 0), *b = json_array_get(el, 1), *l = json_array_get(el, 2);
        if (!json_is_array(el) || json_array_size(el) != 3 || !json_is_integer(a) || !json_is_integer(b) ||
            !json_is_string(l))
            return bad(err, errlen, "category span %d is not [start, end, \"label\"]", (int)i);
        json_int_t s = json_integer_value(a), e = json_integer_value(b);
        if (s < 0 || e < s || e > 0x7fffffff)
            return bad(err, errlen, "category span %d: needs 0 <= start <= end (code points)", (int)i);
        int cat = category_names_index(t, json_string_value(l));
        if (cat < 0 || cat > 32767)
            return bad(err, errlen, "category span %d: out of memory or more than 32767 labels", (int)i);
        v[i] = (LexSpan){(int)s, (int)e, cat};
    }
    return 0;
}

int categories_parse_field(const char *json, CategoryNames *t, LexSpan **out, int *n, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_loads(json ? json : "", JSON_DECODE_ANY, &je);
    *out = NULL, *n = 0;
    if (!root || !json_is_array(root)) {
        snprintf(err, errlen, "the category field is not a JSON array of [start, end, \"label\"]%s%s",
                 root ? "" : ": ", root ? "" : je.text);
        json_decref(root);
        return -1;
    }
    size_t len = json_array_size(root);
    LexSpan *v = malloc(sizeof *v * (len ? len : 1));
    int rc = v ? parse_array(root, t, v, err, errlen) : bad(err, errlen, "out of memory (%d spans)", (int)len);
    json_decref(root);
    if (rc)
        return free(v), -1;
    *out = v, *n = (int)len;
    return 0;
}
