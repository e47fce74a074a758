/* Typed values of the configuration keys: a YAML scalar checked against its ConfigKey (type,
 * range, allowed words) and stored at the key's offset in RunConfig, and the same value
 * printed back as config_to_yaml writes it. */
#include "runner/config_keys.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CK_WORD fields are enums written through an int pointer: they must be int-sized. */
_Static_assert(sizeof(CorpusFormat) == sizeof(int) && sizeof(AttrLayer) == sizeof(int) &&
                   sizeof(OutputKind) == sizeof(int) && sizeof(IgRule) == sizeof(int) &&
                   sizeof(DeepLiftRules) == sizeof(int) && sizeof(MethodKind) == sizeof(int),
               "enum-typed config fields must have the size of an int");

int config_fail(ConfigCtx *x, const yaml_node_t *node, const char *key, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (node && strcmp(x->name, "--set"))
        snprintf(x->err, x->errlen, "%s:%zu: %s: %s", x->name, node->start_mark.line + 1, key, msg);
    else
        snprintf(x->err, x->errlen, "%s: %s: %s", x->name, key, msg);
    return -1;
}

/* ---- scalar conversions ---- */

const char *config_scalar(ConfigCtx *x, const yaml_node_t *n, const char *key)
{
    if (n->type != YAML_SCALAR_NODE) {
        config_fail(x, n, key, "expected a single value, got a %s", n->type == YAML_MAPPING_NODE ? "map" : "list");
        return NULL;
    }
    return (const char *)n->data.scalar.value;
}

int config_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *v = (const char *)n->data.scalar.value;
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

static int get_long(ConfigCtx *x, const yaml_node_t *n, const ConfigKey *k, long *out)
{
    const char *v = config_scalar(x, n, k->key);
    if (!v)
        return -1;
    char *end;
    errno = 0;
    long r = strtol(v, &end, 10);
    if (!*v || *end || errno)
        return config_fail(x, n, k->key, "expected an integer, got '%s'", v);
    if (r < k->ilo || r > k->ihi) {
        if (k->ihi == LONG_MAX)
            return config_fail(x, n, k->key, "must be >= %ld (got %ld)", k->ilo, r);
        return config_fail(x, n, k->key, "must be in [%ld, %ld] (got %ld)", k->ilo, k->ihi, r);
    }
    *out = r;
    return 0;
}

static int get_u64(ConfigCtx *x, const yaml_node_t *n, const char *key, uint64_t *out)
{
    const char *v = config_scalar(x, n, key);
    if (!v)
        return -1;
    char *end;
    errno = 0;
    unsigned long long r = strtoull(v, &end, 0);
    if (!*v || *end || errno || *v == '-')
        return config_fail(x, n, key, "expected a non-negative integer, got '%s'", v);
    *out = r;
    return 0;
}

static int get_double(ConfigCtx *x, const yaml_node_t *n, const ConfigKey *k, double *out)
{
    const char *v = config_scalar(x, n, k->key);
    if (!v)
        return -1;
    char *end;
    errno = 0;
    double r = strtod(v, &end);
    if (!*v || *end || errno || r != r)
        return config_fail(x, n, k->key, "expected a number, got '%s'", v);
    if (r < k->dlo || r > k->dhi) { /* also inf: the engine needs finite values */
        if (isinf(k->dhi))
            return config_fail(x, n, k->key, "must be >= %g (got %g)", k->dlo, r);
        return config_fail(x, n, k->key, "must be in [%g, %g] (got %g)", k->dlo, k->dhi, r);
    }
    *out = r;
    return 0;
}

static int get_bool(ConfigCtx *x, const yaml_node_t *n, const char *key, int *out)
{
    const char *v = config_scalar(x, n, key);
    if (!v)
        return -1;
    static const char *yes[] = {"true", "True", "TRUE", "yes", "Yes", "on", "1"};
    static const char *no[] = {"false", "False", "FALSE", "no", "No", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        if (!strcmp(v, yes[i])) {
            *out = 1;
            return 0;
        }
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        if (!strcmp(v, no[i])) {
            *out = 0;
            return 0;
        }
    return config_fail(x, n, key, "expected true or false, got '%s'", v);
}

int config_get_str(ConfigCtx *x, const yaml_node_t *n, const char *key, int allow_null, char **out)
{
    if (allow_null && config_is_null(n)) {
        free(*out);
        *out = NULL;
        return 0;
    }
    const char *v = config_scalar(x, n, key);
    if (!v)
        return -1;
    if (!*v)
        return config_fail(x, n, key, "must not be empty");
    free(*out);
    *out = strdup(v);
    return 0;
}

/* One of the key's words. */
static int get_word(ConfigCtx *x, const yaml_node_t *n, const ConfigKey *k, int *out)
{
    const char *v = config_scalar(x, n, k->key);
    if (!v)
        return -1;
    char list[256] = "";
    for (int i = 0; k->words[i]; i++) {
        if (!strcmp(v, k->words[i])) {
            *out = k->vals ? k->vals[i] : i;
            return 0;
        }
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", k->words[i]);
    }
    if (k->noun)
        return config_fail(x, n, k->key, "unknown %s '%s' (%s)", k->noun, v, list);
    return config_fail(x, n, k->key, "'%s' is not one of: %s", v, list);
}

int config_key_set(ConfigCtx *x, RunConfig *c, const ConfigKey *k, const yaml_node_t *n)
{
    void *f = (char *)c + k->off;
    long l;
    switch (k->type) {
    case CK_STR:
        return config_get_str(x, n, k->key, k->flags & CKF_NULLABLE, (char **)f);
    case CK_INT:
        if (get_long(x, n, k, &l))
            return -1;
        *(int *)f = (int)l;
        return 0;
    case CK_LONG:
        return get_long(x, n, k, (long *)f);
    case CK_U64:
        return get_u64(x, n, k->key, (uint64_t *)f);
    case CK_DOUBLE:
        return get_double(x, n, k, (double *)f);
    case CK_BOOL:
        return get_bool(x, n, k->key, (int *)f);
    case CK_WORD:
        return get_word(x, n, k, (int *)f);
    case CK_CUSTOM:
        return k->parse(x, c, n, k->key);
    case CK_SECTION:
        break;
    }
    return config_fail(x, n, k->key, "is a section, not a value");
}

/* ---- printing ---- */

void config_buf_put(ConfigBuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k >= 0 && b->n + (size_t)k < b->cap) {
            b->n += k;
            return;
        }
        b->cap = b->cap * 2 + (k > 0 ? (size_t)k : 0) + 64;
        b->s = realloc(b->s, b->cap);
    }
}

/* A string as a YAML double-quoted scalar (always safe to read back). The strings come
 * from libyaml or --set (parsed by libyaml too), so they are valid UTF-8. Escaped: what
 * YAML forbids in a stream (C0 controls, DEL, C1 controls, U+FFFE, U+FFFF: libyaml refuses
 * them raw, "control characters are not allowed"), and YAML 1.1's extra line breaks: a raw
 * NEL (U+0085) comes back from libyaml as a space, and LS/PS (U+2028/9) are breaks to other
 * YAML 1.1 readers. Everything else is printed as is, so ordinary configurations keep their
 * printed form (the spools' job.yaml that --resume compares). */
void config_buf_quoted(ConfigBuf *b, const char *s)
{
    if (!s) {
        config_buf_put(b, "null");
        return;
    }
    config_buf_put(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned ch = *p;
        if (ch == '"' || ch == '\\') {
            config_buf_put(b, "\\%c", ch);
        } else if (ch < 0x20 || ch == 0x7F) {
            config_buf_put(b, "\\x%02x", ch);
        } else if (ch == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F) { /* U+0080..U+009F */
            config_buf_put(b, "\\u%04X", p[1]);
            p++;
        } else if (ch == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9)) { /* U+2028, U+2029 */
            config_buf_put(b, "\\u%04X", 0x2000 + (p[2] - 0x80));
            p += 2;
        } else if (ch == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF)) { /* U+FFFE, U+FFFF */
            config_buf_put(b, "\\u%04X", 0xFFC0 + (p[2] - 0x80));
            p += 2;
        } else {
            config_buf_put(b, "%c", ch);
        }
    }
    config_buf_put(b, "\"");
}

void config_key_print(ConfigBuf *b, const RunConfig *c, const ConfigKey *k)
{
    const void *f = (const char *)c + k->off;
    switch (k->type) {
    case CK_STR: config_buf_quoted(b, *(char *const *)f); break;
    case CK_INT: config_buf_put(b, "%d", *(const int *)f); break;
    case CK_LONG: config_buf_put(b, "%ld", *(const long *)f); break;
    case CK_U64: config_buf_put(b, "%llu", (unsigned long long)*(const uint64_t *)f); break;
    case CK_DOUBLE: config_buf_put(b, "%.17g", *(const double *)f); break;
    case CK_BOOL: config_buf_put(b, "%s", *(const int *)f ? "true" : "false"); break;
    case CK_WORD:
        for (int i = 0; k->words[i]; i++)
            if ((k->vals ? k->vals[i] : i) == *(const int *)f) {
                config_buf_put(b, "%s", k->words[i]);
                break;
            }
        break;
    case CK_CUSTOM: k->print(b, c); break;
    case CK_SECTION: break;
    }
}

/* ---- configs/README.md's key table ---- */

/* A range bound as people write it: 100000, 1048576, 0.5 (not 1e+05). */
static void put_bound(ConfigBuf *b, double v)
{
    if (v == floor(v) && fabs(v) < 1e15)
        config_buf_put(b, "%.0f", v);
    else
        config_buf_put(b, "%g", v);
}

/* A key's range for its docs: "≥ 0" or "1 to 100000" (the placeholder {range} in doc). */
static void put_range(ConfigBuf *b, const ConfigKey *k)
{
    int unbounded = k->type == CK_DOUBLE ? isinf(k->dhi) : k->ihi == LONG_MAX || k->ihi == INT_MAX;
    double lo = k->type == CK_DOUBLE ? k->dlo : (double)k->ilo, hi = k->type == CK_DOUBLE ? k->dhi : (double)k->ihi;
    config_buf_put(b, unbounded ? "≥ " : "");
    put_bound(b, lo);
    if (!unbounded) {
        config_buf_put(b, " to ");
        put_bound(b, hi);
    }
}

char *config_keys_markdown(void)
{
    ConfigBuf b = {malloc(4096), 0, 4096};
    b.s[0] = 0;
    config_buf_put(&b, "| key | default | values |\n|---|---|---|\n");
    for (int i = 0; i < CONFIG_NKEYS; i++) {
        const ConfigKey *k = &CONFIG_KEYS[i];
        if (!k->doc)
            continue;
        config_buf_put(&b, "| `%s` | ", k->key);
        if (k->def_doc)
            config_buf_put(&b, "%s", k->def_doc);
        else if (k->def)
            config_buf_put(&b, "`%s`", k->def);
        else
            config_buf_put(&b, "required");
        config_buf_put(&b, " | ");
        /* placeholders: {range} the key's range, {max_items} the engine's items per example */
        for (const char *d = k->doc; *d;) {
            if (!strncmp(d, "{range}", 7)) {
                put_range(&b, k);
                d += 7;
            } else if (!strncmp(d, "{max_items}", 11)) {
                put_bound(&b, (double)METHOD_MAX_ITEMS);
                d += 11;
            } else {
                config_buf_put(&b, "%c", *d++);
            }
        }
        config_buf_put(&b, " |\n");
    }
    return b.s;
}
