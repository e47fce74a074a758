/* Corpus readers: TSV (GLUE: tab-separated, no quoting), CSV (RFC 4180 quoting,
 * quoted fields may span lines), JSONL and plain text. Files are streamed with
 * getline, one record at a time, so lines of any length work and a corpus is
 * never held whole. Rows are numbered over the whole file (erroneous rows
 * included), so offset/limit select the same rows whatever skip_errors says. */
#include "io/corpus.h"
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct Corpus {
    char *path;
    CorpusFormat fmt;
    FILE *f;
    char *line;               /* getline buffer */
    size_t line_cap;
    ssize_t line_len;
    long lineno;              /* physical lines read */
    long row;                 /* next data row */
    long offset, limit;
    int skip_errors, failed;
    char fail_msg[1024];
    char **label_names;
    int n_labels;
    int n_classes;            /* labels must be below (0: unchecked) */
    /* TSV/CSV columns */
    char **header;
    int ncols, text_col, pair_col, label_col, cont_col;
    char *fbuf;               /* unescaped CSV fields, NUL-separated */
    size_t fbuf_cap;
    size_t *foff;             /* (fcap) field offsets into fbuf or line */
    char **fields;
    int nfields, fcap;
    /* JSONL */
    char *text_key, *pair_key, *label_key, *extra_key, *cont_key;
    char *extra;              /* the current record's extra field as JSON text */
    int label_explicit;
    json_t *json;             /* the current record (owns the strings handed out) */
    /* carried fields: id_field (when given) then keep_fields, as strings */
    int n_carry, has_id, label_strings;
    char **carry_key;         /* (n_carry) names */
    int *carry_col;           /* (n_carry) TSV/CSV columns */
    const char **carry_val;   /* (n_carry) the current record's values */
    char **carry_own;         /* (n_carry) values made for it (JSON text of non-strings), or NULL */
    char *label_buf;          /* a string label handed out as label_text (TSV/CSV: trimmed copy) */
};

const char *corpus_format_name(CorpusFormat f)
{
    switch (f) {
    case CORPUS_TSV: return "tsv";
    case CORPUS_CSV: return "csv";
    case CORPUS_JSONL: return "jsonl";
    case CORPUS_TEXT: return "text";
    default: return "auto";
    }
}

static void fail(char *err, size_t errlen, const Corpus *c, long line, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(err, errlen, "%s:%ld: %s", c->path, line, msg);
    else
        snprintf(err, errlen, "%s: %s", c->path, msg);
}

/* Byte offset of the first invalid UTF-8 sequence, or -1 when the text is valid. */
static long utf8_invalid_at(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned char b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        int k;
        unsigned lo = 0x80, hi = 0xBF;
        if (b >= 0xC2 && b <= 0xDF)
            k = 1;
        else if (b >= 0xE0 && b <= 0xEF) {
            k = 2;
            if (b == 0xE0)
                lo = 0xA0;
            if (b == 0xED)
                hi = 0x9F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            k = 3;
            if (b == 0xF0)
                lo = 0x90;
            if (b == 0xF4)
                hi = 0x8F;
        } else
            return (long)i;
        if (i + (size_t)k >= len)
            return (long)i;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return (long)i;
        for (int j = 2; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return (long)i;
        i += (size_t)k + 1;
    }
    return -1;
}

/* Next physical line without its "\n"/"\r\n"; 0 at end of file. */
static int read_line(Corpus *c)
{
    c->line_len = getline(&c->line, &c->line_cap, c->f);
    if (c->line_len < 0)
        return 0;
    c->lineno++;
    while (c->line_len > 0 && (c->line[c->line_len - 1] == '\n' || c->line[c->line_len - 1] == '\r'))
        c->line[--c->line_len] = 0;
    if (c->lineno == 1 && c->line_len >= 3 && memcmp(c->line, "\xEF\xBB\xBF", 3) == 0) { /* BOM */
        memmove(c->line, c->line + 3, (size_t)c->line_len - 2);
        c->line_len -= 3;
    }
    return 1;
}

static void push_field(Corpus *c, size_t off)
{
    if (c->nfields == c->fcap) {
        c->fcap = c->fcap ? c->fcap * 2 : 16;
        c->foff = realloc(c->foff, c->fcap * sizeof *c->foff);
        c->fields = realloc(c->fields, c->fcap * sizeof *c->fields);
    }
    c->foff[c->nfields++] = off;
}

/* TSV: the line split at tabs, in place. */
static void split_tsv(Corpus *c)
{
    c->nfields = 0;
    push_field(c, 0);
    for (ssize_t i = 0; i < c->line_len; i++)
        if (c->line[i] == '\t') {
            c->line[i] = 0;
            push_field(c, (size_t)i + 1);
        }
    for (int k = 0; k < c->nfields; k++)
        c->fields[k] = c->line + c->foff[k];
}

static void fbuf_put(Corpus *c, size_t *n, char ch)
{
    if (*n + 1 >= c->fbuf_cap) {
        c->fbuf_cap = c->fbuf_cap ? c->fbuf_cap * 2 : 4096;
        c->fbuf = realloc(c->fbuf, c->fbuf_cap);
    }
    c->fbuf[(*n)++] = ch;
}

/* CSV record starting at the current line (RFC 4180): fields unescaped into
 * fbuf; a quoted field may continue on the next lines. 0, or -1 with err. */
static int parse_csv(Corpus *c, char *why, size_t wlen)
{
    size_t n = 0;
    c->nfields = 0;
    const char *p = c->line;
    for (;;) { /* one field per iteration */
        push_field(c, n);
        if (*p == '"') {
            long opened = c->lineno;
            p++;
            for (;;) {
                if (p == c->line + c->line_len) { /* line ends inside the quotes */
                    if (!read_line(c)) {
                        snprintf(why, wlen, "unterminated quoted field (the quote opened on line %ld never closes)",
                                 opened);
                        return -2;
                    }
                    long bad = utf8_invalid_at(c->line, (size_t)c->line_len);
                    if (bad >= 0) {
                        snprintf(why, wlen, "invalid UTF-8 at byte %ld of line %ld", bad + 1, c->lineno);
                        return -1;
                    }
                    fbuf_put(c, &n, '\n');
                    p = c->line;
                    continue;
                }
                if (*p == '"') {
                    if (p[1] == '"') {
                        fbuf_put(c, &n, '"');
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                fbuf_put(c, &n, *p++);
            }
            if (*p != ',' && p != c->line + c->line_len) {
                snprintf(why, wlen, "text after a closing quote on line %ld (a quote inside a field must be \"\")",
                         c->lineno);
                return -1;
            }
        } else {
            while (*p != ',' && p != c->line + c->line_len)
                fbuf_put(c, &n, *p++);
        }
        fbuf_put(c, &n, 0);
        if (p == c->line + c->line_len)
            break;
        p++; /* the comma */
    }
    for (int k = 0; k < c->nfields; k++)
        c->fields[k] = c->fbuf + c->foff[k];
    return 0;
}

static int find_col(const Corpus *c, const char *name)
{
    for (int k = 0; k < c->ncols; k++)
        if (strcmp(c->header[k], name) == 0)
            return k;
    return -1;
}

static void list_cols(const Corpus *c, char *out, size_t len)
{
    size_t n = 0;
    out[0] = 0;
    for (int k = 0; k < c->ncols && n + 4 < len; k++)
        n += (size_t)snprintf(out + n, len - n, "%s'%s'", k ? ", " : "", c->header[k]);
}

/* The config key that named carried field k, for messages. */
static const char *carry_role(const Corpus *c, int k)
{
    return c->has_id && k == 0 ? "corpus.id_field" : "corpus.keep_fields";
}

static void carry_init(Corpus *c, const CorpusSpec *s)
{
    c->has_id = s->id_field != NULL;
    c->n_carry = c->has_id + (s->keep_fields ? s->n_keep : 0);
    c->label_strings = s->label_strings;
    if (!c->n_carry)
        return;
    c->carry_key = calloc((size_t)c->n_carry, sizeof *c->carry_key);
    c->carry_col = calloc((size_t)c->n_carry, sizeof *c->carry_col);
    c->carry_val = calloc((size_t)c->n_carry, sizeof *c->carry_val);
    c->carry_own = calloc((size_t)c->n_carry, sizeof *c->carry_own);
    if (c->has_id)
        c->carry_key[0] = strdup(s->id_field);
    for (int k = c->has_id; k < c->n_carry; k++)
        c->carry_key[k] = strdup(s->keep_fields[k - c->has_id]);
}

static int open_header(Corpus *c, const CorpusSpec *s, char *err, size_t errlen)
{
    if (!read_line(c)) {
        fail(err, errlen, c, 1, "empty file (no header)");
        return -1;
    }
    long bad = utf8_invalid_at(c->line, (size_t)c->line_len);
    if (bad >= 0) {
        fail(err, errlen, c, 1, "invalid UTF-8 at byte %ld", bad + 1);
        return -1;
    }
    char why[600];
    if (c->fmt == CORPUS_TSV)
        split_tsv(c);
    else if (parse_csv(c, why, sizeof why)) {
        fail(err, errlen, c, 1, "header: %s", why);
        return -1;
    }
    c->ncols = c->nfields;
    c->header = calloc(c->ncols, sizeof *c->header);
    for (int k = 0; k < c->ncols; k++)
        c->header[k] = strdup(c->fields[k]);
    char cols[512];
    list_cols(c, cols, sizeof cols);
    const char *tf = s->text_field;
    if (!tf)
        tf = find_col(c, "sentence") >= 0 ? "sentence" : "text";
    c->text_col = find_col(c, tf);
    if (c->text_col < 0) {
        fail(err, errlen, c, 1, "no column '%s' in the header (columns: %s)%s", tf, cols,
             s->text_field ? "" : "; set the text field");
        return -1;
    }
    c->pair_col = -1;
    if (s->pair_field && (c->pair_col = find_col(c, s->pair_field)) < 0) {
        fail(err, errlen, c, 1, "no column '%s' (text_pair) in the header (columns: %s)", s->pair_field, cols);
        return -1;
    }
    c->cont_col = -1;
    if (s->cont_field && (c->cont_col = find_col(c, s->cont_field)) < 0) {
        fail(err, errlen, c, 1, "no column '%s' (continuation_field) in the header (columns: %s)", s->cont_field,
             cols);
        return -1;
    }
    c->label_col = find_col(c, s->label_field ? s->label_field : "label");
    if (s->label_field && c->label_col < 0) {
        fail(err, errlen, c, 1, "no column '%s' (label) in the header (columns: %s)", s->label_field, cols);
        return -1;
    }
    for (int k = 0; k < c->n_carry; k++)
        if ((c->carry_col[k] = find_col(c, c->carry_key[k])) < 0) {
            fail(err, errlen, c, 1, "no column '%s' (%s) in the header (columns: %s)", c->carry_key[k],
                 carry_role(c, k), cols);
            return -1;
        }
    return 0;
}

Corpus *corpus_open(const CorpusSpec *s, char *err, size_t errlen)
{
    if (!s || !s->path || !*s->path) {
        snprintf(err, errlen, "corpus: no path given");
        return NULL;
    }
    Corpus *c = calloc(1, sizeof *c);
    c->path = strdup(s->path);
    c->fmt = s->format;
    if (c->fmt == CORPUS_AUTO) {
        const char *dot = strrchr(s->path, '.');
        const char *slash = strrchr(s->path, '/');
        if (dot && (!slash || dot > slash)) {
            if (!strcasecmp(dot, ".tsv"))
                c->fmt = CORPUS_TSV;
            else if (!strcasecmp(dot, ".csv"))
                c->fmt = CORPUS_CSV;
            else if (!strcasecmp(dot, ".jsonl") || !strcasecmp(dot, ".json"))
                c->fmt = CORPUS_JSONL;
        }
        if (c->fmt == CORPUS_AUTO)
            c->fmt = CORPUS_TEXT;
    }
    c->offset = s->offset > 0 ? s->offset : 0;
    c->limit = s->limit > 0 ? s->limit : 0;
    c->skip_errors = s->skip_errors;
    c->label_names = s->label_names;
    c->n_labels = s->label_names ? s->n_labels : 0;
    c->n_classes = s->n_classes > 0 ? s->n_classes : 0;
    c->text_key = s->text_field ? strdup(s->text_field) : NULL;
    c->pair_key = s->pair_field ? strdup(s->pair_field) : NULL;
    c->cont_key = s->cont_field ? strdup(s->cont_field) : NULL;
    c->cont_col = -1;
    c->label_key = strdup(s->label_field ? s->label_field : "label");
    c->label_explicit = s->label_field != NULL;
    c->extra_key = s->extra_field ? strdup(s->extra_field) : NULL;
    carry_init(c, s);
    if (c->n_carry && c->fmt == CORPUS_TEXT) {
        fail(err, errlen, c, 0, "field '%s' (%s) needs a TSV, CSV or JSONL corpus; a plain-text corpus has only the "
             "text", c->carry_key[0], carry_role(c, 0));
        corpus_close(c);
        return NULL;
    }
    if (c->extra_key && c->fmt != CORPUS_JSONL) {
        fail(err, errlen, c, 0, "field '%s' (analysis.categories) needs a JSONL corpus, not %s", c->extra_key,
             corpus_format_name(c->fmt));
        corpus_close(c);
        return NULL;
    }
    if (c->cont_key && c->fmt == CORPUS_TEXT) {
        fail(err, errlen, c, 0, "field '%s' (continuation_field) needs a TSV, CSV or JSONL corpus, not plain text",
             c->cont_key);
        corpus_close(c);
        return NULL;
    }
    c->f = fopen(s->path, "rb");
    if (!c->f) {
        fail(err, errlen, c, 0, "cannot open corpus: %s", strerror(errno));
        corpus_close(c);
        return NULL;
    }
    if ((c->fmt == CORPUS_TSV || c->fmt == CORPUS_CSV) && open_header(c, s, err, errlen)) {
        corpus_close(c);
        return NULL;
    }
    return c;
}

void corpus_close(Corpus *c)
{
    if (!c)
        return;
    if (c->f)
        fclose(c->f);
    for (int k = 0; k < c->ncols; k++)
        free(c->header[k]);
    free(c->header);
    free(c->path);
    free(c->line);
    free(c->fbuf);
    free(c->foff);
    free(c->fields);
    free(c->text_key);
    free(c->pair_key);
    free(c->label_key);
    free(c->extra_key);
    free(c->cont_key);
    free(c->extra);
    json_decref(c->json);
    for (int k = 0; k < c->n_carry; k++) {
        free(c->carry_key[k]);
        free(c->carry_own[k]);
    }
    free(c->carry_key);
    free(c->carry_col);
    free(c->carry_val);
    free(c->carry_own);
    free(c->label_buf);
    free(c);
}

/* ---- per-record checks ------------------------------------------------------- */

static int blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return 0;
    return 1;
}

static void names_list(const Corpus *c, char *out, size_t len)
{
    size_t n = 0;
    out[0] = 0;
    for (int k = 0; k < c->n_labels && n + 4 < len; k++)
        n += (size_t)snprintf(out + n, len - n, "%s%s", k ? ", " : "", c->label_names[k] ? c->label_names[k] : "");
}

/* A numeric label (written `shown`) as a class index: the same rule for every format, and
 * whatever the target (a label is stored in /examples/label and compared with predictions).
 * A whole number 0 .. n_classes-1; a zero fraction (1.0, as pandas writes a float column) is
 * the same number. */
static int label_index(const Corpus *c, double x, const char *shown, int *label, char *why, size_t wlen)
{
    if (x < 0) {
        snprintf(why, wlen, "label %s is not a non-negative class index", shown);
        return -1;
    }
    if (x != floor(x)) {
        snprintf(why, wlen, "label %s is not a non-negative integer (a class index) or a label name", shown);
        return -1;
    }
    if (c->n_classes > 0 && x >= c->n_classes) {
        snprintf(why, wlen, "label %s is out of range: the model's class indices are 0 to %d", shown,
                 c->n_classes - 1);
        return -1;
    }
    if (x > 1e9) {
        snprintf(why, wlen, "label %s is not a non-negative class index", shown);
        return -1;
    }
    *label = (int)x;
    return 0;
}

/* A decimal number as in a TSV/CSV cell: [+-]digits[.digits][e[+-]digits] (no hex, inf, nan). */
static int decimal_number(const char *v, double *x)
{
    const char *p = v;
    if (*p == '+' || *p == '-')
        p++;
    int digits = 0;
    while (isdigit((unsigned char)*p))
        p++, digits++;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            digits++;
    if (!digits)
        return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p)
        return 0;
    errno = 0;
    *x = strtod(v, NULL);
    return errno == 0;
}

/* A label cell: "" (none), a number (label_index), or one of label_names. */
static int parse_label(Corpus *c, const char *v, int *label, char *why, size_t wlen)
{
    *label = -1;
    while (isspace((unsigned char)*v))
        v++;
    if (!*v)
        return 0;
    char cell[128];
    snprintf(cell, sizeof cell, "%s", v);
    for (size_t n = strlen(cell); n && isspace((unsigned char)cell[n - 1]); n--)
        cell[n - 1] = 0;
    double x;
    if (strlen(v) < sizeof cell && decimal_number(cell, &x))
        return label_index(c, x, cell, label, why, wlen);
    if (c->label_strings) { /* resolved by the caller (a masked LM's gold word: runner/candidates.c) */
        free(c->label_buf);
        c->label_buf = strdup(v);
        size_t n = strlen(c->label_buf);
        while (n && isspace((unsigned char)c->label_buf[n - 1]))
            c->label_buf[--n] = 0;
        return 0;
    }
    for (int pass = 0; pass < 2; pass++) /* exact name first, then ignoring case */
        for (int k = 0; k < c->n_labels; k++)
            if (c->label_names[k] && (pass ? !strcasecmp(c->label_names[k], v) : !strcmp(c->label_names[k], v))) {
                *label = k;
                return 0;
            }
    char names[300];
    names_list(c, names, sizeof names);
    if (c->n_labels)
        snprintf(why, wlen, "label '%.100s' is neither an integer nor a label name (%s)", v, names);
    else
        snprintf(why, wlen, "label '%.100s' is not an integer (no label names to map it)", v);
    return -1;
}

static int check_text(const char *t, const char *what, char *why, size_t wlen)
{
    if (blank(t)) {
        snprintf(why, wlen, "empty %s", what);
        return -1;
    }
    return 0;
}

static int record_columns(Corpus *c, CorpusRecord *r, char *why, size_t wlen)
{
    if (c->nfields != c->ncols) {
        if (c->fmt == CORPUS_TSV)
            snprintf(why, wlen, "expected %d tab-separated fields (as the header), found %d", c->ncols, c->nfields);
        else
            snprintf(why, wlen, "expected %d comma-separated fields (as the header), found %d", c->ncols, c->nfields);
        return -1;
    }
    r->text = c->fields[c->text_col];
    char what[300];
    snprintf(what, sizeof what, "text in column '%s'", c->header[c->text_col]);
    if (check_text(r->text, what, why, wlen))
        return -1;
    if (c->pair_col >= 0) {
        r->text_pair = c->fields[c->pair_col];
        snprintf(what, sizeof what, "text_pair in column '%s'", c->header[c->pair_col]);
        if (check_text(r->text_pair, what, why, wlen))
            return -1;
    }
    if (c->cont_col >= 0) {
        r->continuation = c->fields[c->cont_col];
        snprintf(what, sizeof what, "continuation in column '%s'", c->header[c->cont_col]);
        if (check_text(r->continuation, what, why, wlen))
            return -1;
    }
    for (int k = 0; k < c->n_carry; k++)
        c->carry_val[k] = c->fields[c->carry_col[k]];
    if (c->label_col >= 0)
        return parse_label(c, c->fields[c->label_col], &r->label, why, wlen);
    return 0;
}

/* JSONL: the carried fields of the current record as strings. A string as it is, null as "", any other
 * value as its compact JSON text (a numeric id 42 -> "42"); a missing field makes the row bad. */
static int carry_json(Corpus *c, char *why, size_t wlen)
{
    for (int k = 0; k < c->n_carry; k++) {
        free(c->carry_own[k]);
        c->carry_own[k] = NULL;
        json_t *v = json_object_get(c->json, c->carry_key[k]);
        if (!v) {
            snprintf(why, wlen, "missing field '%s' (%s)", c->carry_key[k], carry_role(c, k));
            return -1;
        }
        if (json_is_string(v)) {
            c->carry_val[k] = json_string_value(v);
            if (strlen(c->carry_val[k]) != json_string_length(v)) {
                snprintf(why, wlen, "field '%s' contains a NUL character", c->carry_key[k]);
                return -1;
            }
        } else if (json_is_null(v)) {
            c->carry_val[k] = "";
        } else {
            c->carry_own[k] = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            if (!c->carry_own[k]) {
                snprintf(why, wlen, "field '%s': out of memory", c->carry_key[k]);
                return -1;
            }
            c->carry_val[k] = c->carry_own[k];
        }
    }
    return 0;
}

static int record_json(Corpus *c, CorpusRecord *r, char *why, size_t wlen)
{
    json_error_t je;
    json_decref(c->json);
    c->json = json_loadb(c->line, (size_t)c->line_len, 0, &je);
    if (!c->json) {
        snprintf(why, wlen, "malformed JSON at column %d: %s", je.column, je.text);
        return -1;
    }
    if (!json_is_object(c->json)) {
        snprintf(why, wlen, "expected a JSON object per line");
        return -1;
    }
    const char *tk = c->text_key;
    if (!tk)
        tk = json_object_get(c->json, "sentence") ? "sentence" : "text"; /* as for TSV/CSV headers */
    const char *keys[3] = {tk, c->pair_key, c->cont_key};
    char **dst[3] = {&r->text, &r->text_pair, &r->continuation};
    static const char *const role[3] = {"text", "text_pair", "continuation"};
    for (int k = 0; k < 3; k++) {
        if (!keys[k])
            continue;
        json_t *v = json_object_get(c->json, keys[k]);
        if (!v) {
            snprintf(why, wlen, "missing field '%s'", keys[k]);
            return -1;
        }
        if (!json_is_string(v)) {
            snprintf(why, wlen, "field '%s' is not a string", keys[k]);
            return -1;
        }
        *dst[k] = (char *)json_string_value(v);
        if (strlen(*dst[k]) != json_string_length(v)) {
            snprintf(why, wlen, "field '%s' contains a NUL character", keys[k]);
            return -1;
        }
        char what[300];
        snprintf(what, sizeof what, "%s in field '%s'", role[k], keys[k]);
        if (check_text(*dst[k], what, why, wlen))
            return -1;
    }
    if (c->extra_key) {
        json_t *v = json_object_get(c->json, c->extra_key);
        free(c->extra);
        c->extra = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        if (!v) {
            snprintf(why, wlen, "missing field '%s' (analysis.categories)", c->extra_key);
            return -1;
        }
        r->extra = c->extra;
    }
    if (carry_json(c, why, wlen))
        return -1;
    json_t *l = json_object_get(c->json, c->label_key);
    if (!l || json_is_null(l)) {
        if (c->label_explicit && !l) {
            snprintf(why, wlen, "missing field '%s' (label)", c->label_key);
            return -1;
        }
        return 0;
    }
    if (json_is_string(l))
        return parse_label(c, json_string_value(l), &r->label, why, wlen);
    char *d = json_dumps(l, JSON_ENCODE_ANY | JSON_COMPACT);
    char shown[64];
    snprintf(shown, sizeof shown, "%.60s", d ? d : "?");
    free(d);
    if (!json_is_number(l)) {
        snprintf(why, wlen, "label %s is not a non-negative integer or a label name", shown);
        return -1;
    }
    return label_index(c, json_number_value(l), shown, &r->label, why, wlen);
}

/* Reads one record. 1: ok, 0: end, -1: a bad row (why set), -2: fatal (err set). */
static int read_record(Corpus *c, CorpusRecord *r, char *why, size_t wlen)
{
    for (;;) {
        if (!read_line(c))
            return 0;
        if (c->fmt != CORPUS_TEXT && c->line_len == 0)
            continue; /* blank lines separate nothing in TSV/CSV/JSONL */
        if (c->fmt == CORPUS_JSONL && blank(c->line))
            continue;
        break;
    }
    r->line = c->lineno;
    long bad = utf8_invalid_at(c->line, (size_t)c->line_len);
    if (bad >= 0) {
        snprintf(why, wlen, "invalid UTF-8 at byte %ld", bad + 1);
        return -1;
    }
    if (memchr(c->line, 0, (size_t)c->line_len)) {
        snprintf(why, wlen, "NUL byte in the line");
        return -1;
    }
    switch (c->fmt) {
    case CORPUS_TSV:
        split_tsv(c);
        return record_columns(c, r, why, wlen) ? -1 : 1;
    case CORPUS_CSV: {
        int rc = parse_csv(c, why, wlen);
        if (rc)
            return rc;
        return record_columns(c, r, why, wlen) ? -1 : 1;
    }
    case CORPUS_JSONL:
        return record_json(c, r, why, wlen) ? -1 : 1;
    default:
        r->text = c->line;
        return check_text(r->text, "text", why, wlen) ? -1 : 1;
    }
}

int corpus_next(Corpus *c, CorpusRecord *rec, char *err, size_t errlen)
{
    if (c->failed) {
        snprintf(err, errlen, "%s", c->fail_msg);
        return -1;
    }
    for (;;) {
        memset(rec, 0, sizeof *rec);
        rec->label = -1;
        free(c->label_buf);
        c->label_buf = NULL;
        if (c->limit > 0 && c->row >= c->offset + c->limit)
            return 0;
        char why[800];
        int r = read_record(c, rec, why, sizeof why);
        if (r == 0)
            return 0;
        rec->row = c->row++;
        if (r == -2) { /* the file cannot be read past this point */
            fail(c->fail_msg, sizeof c->fail_msg, c, rec->line, "%s", why);
            c->failed = 1;
            snprintf(err, errlen, "%s", c->fail_msg);
            return -1;
        }
        if (rec->row < c->offset)
            continue;
        if (r == 1) {
            rec->label_text = c->label_buf;
            if (c->n_carry) {
                rec->id = c->has_id ? c->carry_val[0] : NULL;
                rec->kept = c->carry_val + c->has_id;
            }
            return 1;
        }
        fail(err, errlen, c, rec->line, "%s", why);
        if (c->skip_errors)
            return 2;
        return -1;
    }
}
