/* YAML job configuration: parsing (libyaml document API, so every node keeps its
 * line), --set overrides (parsed as YAML too, through the same setters), checks,
 * and the resolved configuration written back as YAML for the result file. */
#include "runner/config.h"
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

void config_init(RunConfig *c)
{
    memset(c, 0, sizeof *c);
    c->corpus.format = CORPUS_AUTO;
    c->n_methods = 1;
    c->methods[0] = M_IG;
    c->target = TARGET_PREDICTED;
    c->layer = AT_WORD_EMB;
    c->output = OUT_LOGIT;
    c->nbaselines = 1;
    c->baselines[0] = BASE_PAD;
    MethodSpec s;
    method_spec_default(&s, M_IG);
    c->ig.steps = s.steps;
    c->ig.rule = s.rule;
    method_spec_default(&s, M_GRADSHAP);
    c->gradshap.samples = s.samples;
    c->gradshap.stdevs = s.stdevs;
    c->gradshap.seed = s.seed;
    method_spec_default(&s, M_SMOOTHGRAD);
    c->smoothgrad.samples = s.samples;
    c->smoothgrad.stdevs = s.stdevs;
    c->smoothgrad.base = s.smooth_base;
    c->smoothgrad.seed = s.seed;
    method_spec_default(&s, M_DEEPLIFT);
    c->deeplift.rules = s.dl_rules;
    method_spec_default(&s, M_CONDUCTANCE);
    c->conductance.steps = s.steps;
    c->attention.save = 0;
    c->attention.float16 = 0;
    c->analysis.stats = 1;
    c->analysis.rollout = 1;
    c->analysis.agreement = 1;
    c->analysis.faithfulness = 0;
    c->analysis.categories = ANALYSIS_CAT_NONE;
    c->analysis.sink_epsilon = 0.3;
    c->analysis.massive = 1;
    c->analysis.save_hidden = 0;
    c->save_full = 0;
    c->threads = 1;
    c->chunk = 0;
}

void config_free(RunConfig *c)
{
    free(c->model);
    free(c->corpus.path);
    free(c->corpus.text_field);
    free(c->corpus.pair_field);
    free(c->corpus.label_field);
    free(c->target_token);
    free(c->analysis.category_field);
    free(c->out);
    free(c->source);
    memset(c, 0, sizeof *c);
}

/* ---- errors ---- */

typedef struct {
    const char *name;       /* file name, or "--set" */
    yaml_document_t *doc;
    char *err;
    size_t errlen;
} Ctx;

static int fail(Ctx *x, const yaml_node_t *node, const char *key, const char *fmt, ...)
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

static const char *scalar(Ctx *x, const yaml_node_t *n, const char *key)
{
    if (n->type != YAML_SCALAR_NODE) {
        fail(x, n, key, "expected a single value, got a %s",
             n->type == YAML_MAPPING_NODE ? "map" : "list");
        return NULL;
    }
    return (const char *)n->data.scalar.value;
}

static int is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *v = (const char *)n->data.scalar.value;
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

static int get_long(Ctx *x, const yaml_node_t *n, const char *key, long lo, long hi, long *out)
{
    const char *v = scalar(x, n, key);
    if (!v)
        return -1;
    char *end;
    errno = 0;
    long r = strtol(v, &end, 10);
    if (!*v || *end || errno)
        return fail(x, n, key, "expected an integer, got '%s'", v);
    if (r < lo || r > hi) {
        if (hi == LONG_MAX)
            return fail(x, n, key, "must be >= %ld (got %ld)", lo, r);
        return fail(x, n, key, "must be in [%ld, %ld] (got %ld)", lo, hi, r);
    }
    *out = r;
    return 0;
}

static int get_int(Ctx *x, const yaml_node_t *n, const char *key, long lo, long hi, int *out)
{
    long r;
    if (get_long(x, n, key, lo, hi, &r))
        return -1;
    *out = (int)r;
    return 0;
}

static int get_u64(Ctx *x, const yaml_node_t *n, const char *key, uint64_t *out)
{
    const char *v = scalar(x, n, key);
    if (!v)
        return -1;
    char *end;
    errno = 0;
    unsigned long long r = strtoull(v, &end, 0);
    if (!*v || *end || errno || *v == '-')
        return fail(x, n, key, "expected a non-negative integer, got '%s'", v);
    *out = r;
    return 0;
}

static int get_double(Ctx *x, const yaml_node_t *n, const char *key, double lo, double *out)
{
    const char *v = scalar(x, n, key);
    if (!v)
        return -1;
    char *end;
    errno = 0;
    double r = strtod(v, &end);
    if (!*v || *end || errno || r != r)
        return fail(x, n, key, "expected a number, got '%s'", v);
    if (r < lo)
        return fail(x, n, key, "must be >= %g (got %g)", lo, r);
    *out = r;
    return 0;
}

static int get_bool(Ctx *x, const yaml_node_t *n, const char *key, int *out)
{
    const char *v = scalar(x, n, key);
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
    return fail(x, n, key, "expected true or false, got '%s'", v);
}

static int get_str(Ctx *x, const yaml_node_t *n, const char *key, int allow_null, char **out)
{
    if (allow_null && is_null(n)) {
        free(*out);
        *out = NULL;
        return 0;
    }
    const char *v = scalar(x, n, key);
    if (!v)
        return -1;
    if (!*v)
        return fail(x, n, key, "must not be empty");
    free(*out);
    *out = strdup(v);
    return 0;
}

/* One of a fixed set of names. */
static int get_enum(Ctx *x, const yaml_node_t *n, const char *key, const char *const *names, int count,
                    int *out)
{
    const char *v = scalar(x, n, key);
    if (!v)
        return -1;
    char list[256] = "";
    for (int i = 0; i < count; i++) {
        if (!strcmp(v, names[i])) {
            *out = i;
            return 0;
        }
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", names[i]);
    }
    return fail(x, n, key, "'%s' is not one of: %s", v, list);
}

/* A scalar or a sequence of scalars, visited in order. */
static int seq_items(const yaml_document_t *doc, const yaml_node_t *n, yaml_node_t **items, int max)
{
    if (n->type == YAML_SCALAR_NODE) {
        items[0] = (yaml_node_t *)n;
        return 1;
    }
    if (n->type != YAML_SEQUENCE_NODE)
        return -1;
    int k = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        if (k == max)
            return -2;
        items[k++] = yaml_document_get_node((yaml_document_t *)doc, *it);
    }
    return k;
}

/* ---- the keys ---- */

const char *config_method_name(MethodKind k)
{
    return k == M_INPUTXGRAD ? "inputxgradient" : method_name(k);
}

int config_method_from_name(const char *name)
{
    if (!strcmp(name, "inputxgradient"))
        return M_INPUTXGRAD;
    return method_from_name(name);
}

static const char *const FORMATS[] = {"auto", "tsv", "csv", "jsonl", "text"};
static const char *const ON_ERROR[] = {"fail", "skip"};
static const char *const LAYERS[] = {"word_embeddings", "embeddings"};
static const char *const OUTPUTS[] = {"logit", "prob"};
static const char *const DL_RULES[] = {"rescale", "captum"};
static const char *const DTYPES[] = {"float32", "float16"};

static const char *const SECTIONS[] = {"corpus", "ig", "gradshap", "smoothgrad", "deeplift", "conductance",
                                       "attention", "analysis"};
static const char *const TOP_KEYS = "model, corpus, methods, target, layer, output, baseline, ig, gradshap, "
                                    "smoothgrad, deeplift, conductance, attention, analysis, save_full, out, "
                                    "threads, chunk";

static const char *section_keys(const char *sec)
{
    if (!strcmp(sec, "corpus"))
        return "path, format, text_field, pair_field, label_field, max_length, limit, offset, on_error";
    if (!strcmp(sec, "ig"))
        return "steps, rule";
    if (!strcmp(sec, "gradshap"))
        return "samples, stdevs, seed";
    if (!strcmp(sec, "smoothgrad"))
        return "samples, stdevs, base, seed";
    if (!strcmp(sec, "deeplift"))
        return "rules";
    if (!strcmp(sec, "conductance"))
        return "steps";
    if (!strcmp(sec, "attention"))
        return "save, dtype";
    if (!strcmp(sec, "analysis"))
        return "stats, rollout, agreement, faithfulness, categories, sink_epsilon, massive, save_hidden";
    return TOP_KEYS;
}

static int set_methods(Ctx *x, RunConfig *c, const yaml_node_t *n, const char *key)
{
    yaml_node_t *items[M_NUM_METHODS + 1];
    int k = seq_items(x->doc, n, items, M_NUM_METHODS);
    if (k == -1)
        return fail(x, n, key, "expected a method name or a list of them");
    if (k == -2)
        return fail(x, n, key, "a method is listed twice");
    if (k == 0) { /* a forward-only job: the base forward and its analysis (docs/analysis.md §9) */
        c->n_methods = 0;
        return 0;
    }
    MethodKind m[M_NUM_METHODS];
    for (int i = 0; i < k; i++) {
        const char *v = scalar(x, items[i], key);
        if (!v)
            return -1;
        int id = config_method_from_name(v);
        if (id < 0)
            return fail(x, items[i], key, "unknown method '%s' (ig, gradshap, deeplift, deepliftshap, saliency, "
                        "inputxgradient, smoothgrad, conductance)", v);
        for (int j = 0; j < i; j++)
            if (m[j] == (MethodKind)id)
                return fail(x, items[i], key, "method '%s' is listed twice", v);
        m[i] = (MethodKind)id;
    }
    c->n_methods = k;
    memcpy(c->methods, m, sizeof(MethodKind) * k);
    return 0;
}

static int set_baselines(Ctx *x, RunConfig *c, const yaml_node_t *n, const char *key)
{
    yaml_node_t *items[MAX_BASELINES + 1];
    int k = seq_items(x->doc, n, items, MAX_BASELINES);
    if (k == -1)
        return fail(x, n, key, "expected a baseline name or a list of them");
    if (k == -2)
        return fail(x, n, key, "at most %d baselines", MAX_BASELINES);
    if (k == 0)
        return fail(x, n, key, "the list is empty");
    for (int i = 0; i < k; i++) {
        const char *v = scalar(x, items[i], key);
        if (!v)
            return -1;
        int b = baseline_from_name(v);
        if (b < 0)
            return fail(x, items[i], key, "unknown baseline '%s' (pad, mask, unk, pad_all, zero)", v);
        c->baselines[i] = (BaselineKind)b;
    }
    c->nbaselines = k;
    return 0;
}

/* analysis.categories: none | java | field:<name> (docs/analysis.md §6). */
static int set_categories(Ctx *x, RunConfig *c, const yaml_node_t *n, const char *key)
{
    const char *v = scalar(x, n, key);
    if (!v)
        return -1;
    free(c->analysis.category_field);
    c->analysis.category_field = NULL;
    if (!strcmp(v, "none") || !strcmp(v, "java")) {
        c->analysis.categories = v[0] == 'j' ? ANALYSIS_CAT_JAVA : ANALYSIS_CAT_NONE;
        return 0;
    }
    if (!strncmp(v, "field:", 6) && v[6]) {
        c->analysis.categories = ANALYSIS_CAT_FIELD;
        c->analysis.category_field = strdup(v + 6);
        return 0;
    }
    return fail(x, n, key, "unknown source '%s' (none, java, or field:<name> of a JSONL corpus field of "
                "[[start, end, \"label\"], ...])", v);
}

static int set_target(Ctx *x, RunConfig *c, const yaml_node_t *n, const char *key)
{
    const char *v = scalar(x, n, key);
    if (!v)
        return -1;
    if (!*v)
        return fail(x, n, key, "must not be empty");
    free(c->target_token);
    c->target_token = NULL;
    int plain = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (plain && !strcmp(v, "predicted")) {
        c->target = TARGET_PREDICTED;
        return 0;
    }
    if (plain && !strcmp(v, "label")) {
        c->target = TARGET_LABEL;
        return 0;
    }
    char *end;
    errno = 0;
    long r = strtol(v, &end, 10);
    if (plain && !*end && !errno) {
        if (r < 0 || r > INT_MAX)
            return fail(x, n, key, "a class index must be >= 0 (got %ld)", r);
        c->target = TARGET_INDEX;
        c->target_index = (int)r;
        return 0;
    }
    /* anything else is a token string: only valid for masked-LM models (checked when the model is loaded) */
    c->target = TARGET_TOKEN;
    c->target_token = strdup(v);
    return 0;
}

static int set_leaf(Ctx *x, RunConfig *c, const char *key, const yaml_node_t *n)
{
    int e;
    if (!strcmp(key, "model"))
        return get_str(x, n, key, 0, &c->model);
    if (!strcmp(key, "out"))
        return get_str(x, n, key, 0, &c->out);
    if (!strcmp(key, "corpus.path"))
        return get_str(x, n, key, 0, &c->corpus.path);
    if (!strcmp(key, "corpus.format")) {
        if (get_enum(x, n, key, FORMATS, 5, &e))
            return -1;
        c->corpus.format = (CorpusFormat)e;
        return 0;
    }
    if (!strcmp(key, "corpus.text_field"))
        return get_str(x, n, key, 1, &c->corpus.text_field);
    if (!strcmp(key, "corpus.pair_field"))
        return get_str(x, n, key, 1, &c->corpus.pair_field);
    if (!strcmp(key, "corpus.label_field"))
        return get_str(x, n, key, 1, &c->corpus.label_field);
    if (!strcmp(key, "corpus.max_length"))
        return get_int(x, n, key, 0, INT_MAX, &c->corpus.max_length);
    if (!strcmp(key, "corpus.limit"))
        return get_long(x, n, key, 0, LONG_MAX, &c->corpus.limit);
    if (!strcmp(key, "corpus.offset"))
        return get_long(x, n, key, 0, LONG_MAX, &c->corpus.offset);
    if (!strcmp(key, "corpus.on_error"))
        return get_enum(x, n, key, ON_ERROR, 2, &c->corpus.skip_errors);
    if (!strcmp(key, "methods"))
        return set_methods(x, c, n, key);
    if (!strcmp(key, "target"))
        return set_target(x, c, n, key);
    if (!strcmp(key, "layer")) {
        if (get_enum(x, n, key, LAYERS, 2, &e))
            return -1;
        c->layer = (AttrLayer)e;
        return 0;
    }
    if (!strcmp(key, "output")) {
        if (get_enum(x, n, key, OUTPUTS, 2, &e))
            return -1;
        c->output = (OutputKind)e;
        return 0;
    }
    if (!strcmp(key, "baseline"))
        return set_baselines(x, c, n, key);
    if (!strcmp(key, "ig.steps"))
        return get_int(x, n, key, 1, 1 << 20, &c->ig.steps);
    if (!strcmp(key, "ig.rule")) {
        const char *v = scalar(x, n, key);
        if (!v)
            return -1;
        int r = rule_from_name(v);
        if (r < 0)
            return fail(x, n, key, "unknown rule '%s' (gausslegendre, riemann_left, riemann_right, "
                        "riemann_middle, riemann_trapezoid)", v);
        c->ig.rule = (IgRule)r;
        return 0;
    }
    if (!strcmp(key, "gradshap.samples"))
        return get_int(x, n, key, 1, 1 << 20, &c->gradshap.samples);
    if (!strcmp(key, "gradshap.stdevs"))
        return get_double(x, n, key, 0.0, &c->gradshap.stdevs);
    if (!strcmp(key, "gradshap.seed"))
        return get_u64(x, n, key, &c->gradshap.seed);
    if (!strcmp(key, "smoothgrad.samples"))
        return get_int(x, n, key, 1, 1 << 20, &c->smoothgrad.samples);
    if (!strcmp(key, "smoothgrad.stdevs"))
        return get_double(x, n, key, 0.0, &c->smoothgrad.stdevs);
    if (!strcmp(key, "smoothgrad.seed"))
        return get_u64(x, n, key, &c->smoothgrad.seed);
    if (!strcmp(key, "smoothgrad.base")) {
        static const char *const BASES[] = {"saliency", "ig"};
        if (get_enum(x, n, key, BASES, 2, &e))
            return -1;
        c->smoothgrad.base = e ? M_IG : M_SALIENCY;
        return 0;
    }
    if (!strcmp(key, "deeplift.rules")) {
        if (get_enum(x, n, key, DL_RULES, 2, &e))
            return -1;
        c->deeplift.rules = (DeepLiftRules)e;
        return 0;
    }
    if (!strcmp(key, "conductance.steps"))
        return get_int(x, n, key, 1, 1 << 20, &c->conductance.steps);
    if (!strcmp(key, "attention.save"))
        return get_bool(x, n, key, &c->attention.save);
    if (!strcmp(key, "attention.dtype"))
        return get_enum(x, n, key, DTYPES, 2, &c->attention.float16);
    if (!strcmp(key, "analysis.stats"))
        return get_bool(x, n, key, &c->analysis.stats);
    if (!strcmp(key, "analysis.rollout"))
        return get_bool(x, n, key, &c->analysis.rollout);
    if (!strcmp(key, "analysis.agreement"))
        return get_bool(x, n, key, &c->analysis.agreement);
    if (!strcmp(key, "analysis.faithfulness"))
        return get_bool(x, n, key, &c->analysis.faithfulness);
    if (!strcmp(key, "analysis.categories"))
        return set_categories(x, c, n, key);
    if (!strcmp(key, "analysis.sink_epsilon")) {
        if (get_double(x, n, key, 0.0, &c->analysis.sink_epsilon))
            return -1;
        return c->analysis.sink_epsilon < 1.0 ? 0 : fail(x, n, key, "must be in [0, 1) (an attention mass)");
    }
    if (!strcmp(key, "analysis.massive"))
        return get_bool(x, n, key, &c->analysis.massive);
    if (!strcmp(key, "analysis.save_hidden"))
        return get_bool(x, n, key, &c->analysis.save_hidden);
    if (!strcmp(key, "save_full"))
        return get_bool(x, n, key, &c->save_full);
    if (!strcmp(key, "threads"))
        return get_int(x, n, key, 1, 1024, &c->threads);
    if (!strcmp(key, "chunk"))
        return get_int(x, n, key, 0, INT_MAX, &c->chunk);
    return 1; /* unknown */
}

static int is_section(const char *key)
{
    for (size_t i = 0; i < sizeof SECTIONS / sizeof *SECTIONS; i++)
        if (!strcmp(key, SECTIONS[i]))
            return 1;
    return 0;
}

/* Applies `node` to `key` (a full dotted path). Sections take maps; `corpus` also a bare path. */
static int apply(Ctx *x, RunConfig *c, const char *key, const yaml_node_t *keynode, const yaml_node_t *n)
{
    if (is_section(key) && n->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
            yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
            if (k->type != YAML_SCALAR_NODE)
                return fail(x, k, key, "keys must be plain names");
            char sub[256];
            snprintf(sub, sizeof sub, "%s.%s", key, (const char *)k->data.scalar.value);
            if (strchr((const char *)k->data.scalar.value, '.') || is_section(sub))
                return fail(x, k, sub, "unknown key (known under %s: %s)", key, section_keys(key));
            if (apply(x, c, sub, k, v))
                return -1;
        }
        return 0;
    }
    if (!strcmp(key, "corpus") && n->type == YAML_SCALAR_NODE)
        return get_str(x, n, "corpus", 0, &c->corpus.path);
    if (is_section(key))
        return fail(x, n, key, "expected a map of %s", section_keys(key));
    int r = set_leaf(x, c, key, n);
    if (r == 1) {
        const char *dot = strchr(key, '.');
        if (dot) {
            char sec[64];
            snprintf(sec, sizeof sec, "%.*s", (int)(dot - key), key);
            if (is_section(sec))
                return fail(x, keynode, key, "unknown key (known under %s: %s)", sec, section_keys(sec));
        }
        return fail(x, keynode, key, "unknown key (known: %s)", TOP_KEYS);
    }
    return r;
}

static int load_doc(yaml_document_t *doc, const char *text, size_t len, const char *name, char *err,
                    size_t errlen)
{
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    if (!yaml_parser_load(&p, doc)) {
        snprintf(err, errlen, "%s:%zu: YAML syntax error: %s%s%s", name, p.problem_mark.line + 1,
                 p.problem ? p.problem : "unknown", p.context ? " " : "", p.context ? p.context : "");
        yaml_parser_delete(&p);
        return -1;
    }
    yaml_parser_delete(&p);
    return 0;
}

int config_parse_string(RunConfig *c, const char *yaml, size_t len, const char *name, char *err, size_t errlen)
{
    yaml_document_t doc;
    if (load_doc(&doc, yaml, len, name, err, errlen))
        return -1;
    Ctx x = {name, &doc, err, errlen};
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && !is_null(root)) {
        if (root->type != YAML_MAPPING_NODE) {
            rc = fail(&x, root, "(top level)", "expected a map of keys (model, corpus, methods, ...)");
        } else {
            for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top && !rc;
                 p++) {
                yaml_node_t *k = yaml_document_get_node(&doc, p->key);
                yaml_node_t *v = yaml_document_get_node(&doc, p->value);
                if (k->type != YAML_SCALAR_NODE) {
                    rc = fail(&x, k, "(top level)", "keys must be plain names");
                    break;
                }
                const char *ks = (const char *)k->data.scalar.value;
                if (strchr(ks, '.')) {
                    rc = fail(&x, k, ks, "unknown key (use nested maps, e.g. ig: {steps: 50})");
                    break;
                }
                rc = apply(&x, c, ks, k, v);
            }
        }
    }
    yaml_document_delete(&doc);
    if (!rc) {
        free(c->source);
        c->source = strdup(name);
    }
    return rc;
}

int config_parse_file(RunConfig *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open config: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t k;
    while (buf && (k = fread(buf + len, 1, cap - len, f)) > 0) {
        len += k;
        if (len == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        snprintf(err, errlen, "%s: cannot read config", path);
        return -1;
    }
    int rc = config_parse_string(c, buf, len, path, err, errlen);
    free(buf);
    return rc;
}

int config_set(RunConfig *c, const char *assignment, char *err, size_t errlen)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment) {
        snprintf(err, errlen, "--set %s: expected key=value (e.g. --set ig.steps=32)", assignment);
        return -1;
    }
    char key[256];
    snprintf(key, sizeof key, "%.*s", (int)(eq - assignment), assignment);
    const char *val = eq + 1;
    yaml_document_t doc;
    char name[300];
    snprintf(name, sizeof name, "--set %s", key);
    if (load_doc(&doc, val, strlen(val), name, err, errlen))
        return -1;
    Ctx x = {"--set", &doc, err, errlen};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    int rc;
    yaml_node_t empty = {0};
    if (!root) { /* "key=" : an empty value */
        empty.type = YAML_SCALAR_NODE;
        empty.data.scalar.value = (yaml_char_t *)"";
        empty.data.scalar.style = YAML_PLAIN_SCALAR_STYLE;
        root = &empty;
    }
    rc = apply(&x, c, key, NULL, root);
    yaml_document_delete(&doc);
    return rc;
}

int config_check(const RunConfig *c, char *err, size_t errlen)
{
    const char *src = c->source ? c->source : "config";
    if (!c->model) {
        snprintf(err, errlen, "%s: model: required key is missing (a checkpoint directory)", src);
        return -1;
    }
    if (!c->corpus.path) {
        snprintf(err, errlen, "%s: corpus.path: required key is missing", src);
        return -1;
    }
    if (!c->out) {
        snprintf(err, errlen, "%s: out: required key is missing (the output .h5 file)", src);
        return -1;
    }
    int uses_ig = 0;
    for (int i = 0; i < c->n_methods; i++)
        uses_ig |= c->methods[i] == M_IG || (c->methods[i] == M_SMOOTHGRAD && c->smoothgrad.base == M_IG);
    if (uses_ig && c->ig.rule != RULE_GAUSSLEGENDRE && c->ig.steps < 2) {
        snprintf(err, errlen, "%s: ig.steps: the Riemann rules need at least 2 steps (got %d)", src, c->ig.steps);
        return -1;
    }
    /* faithfulness is asked for explicitly (it costs forwards): refuse a job where it has nothing to score */
    int per_token = 0;
    for (int i = 0; i < c->n_methods; i++)
        per_token |= c->methods[i] != M_CONDUCTANCE;
    if (c->analysis.faithfulness && !per_token) {
        snprintf(err, errlen, "%s: analysis.faithfulness: needs a method with per-token attributions (methods "
                 "%s); add one, e.g. methods: [ig, conductance], or set it to false", src,
                 c->n_methods ? "has only conductance" : "is empty: a forward-only job");
        return -1;
    }
    return 0;
}

int config_load(RunConfig *c, const char *path, char *const *sets, int nsets, char *err, size_t errlen)
{
    config_init(c);
    if (config_parse_file(c, path, err, errlen))
        return -1;
    for (int i = 0; i < nsets; i++)
        if (config_set(c, sets[i], err, errlen))
            return -1;
    return config_check(c, err, errlen);
}

/* ---- resolved YAML ---- */

typedef struct {
    char *s;
    size_t n, cap;
} Buf;

static void put(Buf *b, const char *fmt, ...)
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
static void put_q(Buf *b, const char *s)
{
    if (!s) {
        put(b, "null");
        return;
    }
    put(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned ch = *p;
        if (ch == '"' || ch == '\\') {
            put(b, "\\%c", ch);
        } else if (ch < 0x20 || ch == 0x7F) {
            put(b, "\\x%02x", ch);
        } else if (ch == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F) { /* U+0080..U+009F */
            put(b, "\\u%04X", p[1]);
            p++;
        } else if (ch == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9)) { /* U+2028, U+2029 */
            put(b, "\\u%04X", 0x2000 + (p[2] - 0x80));
            p += 2;
        } else if (ch == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF)) { /* U+FFFE, U+FFFF */
            put(b, "\\u%04X", 0xFFC0 + (p[2] - 0x80));
            p += 2;
        } else {
            put(b, "%c", ch);
        }
    }
    put(b, "\"");
}

char *config_to_yaml(const RunConfig *c, int results_only)
{
    Buf b = {malloc(1024), 0, 1024};
    b.s[0] = 0;
    put(&b, "model: ");
    put_q(&b, c->model);
    put(&b, "\ncorpus:\n  path: ");
    put_q(&b, c->corpus.path);
    put(&b, "\n  format: %s\n  text_field: ", FORMATS[c->corpus.format]);
    put_q(&b, c->corpus.text_field);
    put(&b, "\n  pair_field: ");
    put_q(&b, c->corpus.pair_field);
    put(&b, "\n  label_field: ");
    put_q(&b, c->corpus.label_field);
    put(&b, "\n  max_length: %d\n  limit: %ld\n  offset: %ld\n  on_error: %s\n", c->corpus.max_length,
        c->corpus.limit, c->corpus.offset, ON_ERROR[c->corpus.skip_errors]);
    put(&b, "methods: [");
    for (int i = 0; i < c->n_methods; i++)
        put(&b, "%s%s", i ? ", " : "", config_method_name(c->methods[i]));
    put(&b, "]\ntarget: ");
    if (c->target == TARGET_PREDICTED)
        put(&b, "predicted");
    else if (c->target == TARGET_LABEL)
        put(&b, "label");
    else if (c->target == TARGET_INDEX)
        put(&b, "%d", c->target_index);
    else
        put_q(&b, c->target_token);
    put(&b, "\nlayer: %s\noutput: %s\nbaseline: [", LAYERS[c->layer], OUTPUTS[c->output]);
    for (int i = 0; i < c->nbaselines; i++)
        put(&b, "%s%s", i ? ", " : "", baseline_name(c->baselines[i]));
    put(&b, "]\nig:\n  steps: %d\n  rule: %s\n", c->ig.steps, rule_name(c->ig.rule));
    put(&b, "gradshap:\n  samples: %d\n  stdevs: %.17g\n  seed: %llu\n", c->gradshap.samples, c->gradshap.stdevs,
        (unsigned long long)c->gradshap.seed);
    put(&b, "smoothgrad:\n  samples: %d\n  stdevs: %.17g\n  base: %s\n  seed: %llu\n", c->smoothgrad.samples,
        c->smoothgrad.stdevs, c->smoothgrad.base == M_IG ? "ig" : "saliency",
        (unsigned long long)c->smoothgrad.seed);
    put(&b, "deeplift:\n  rules: %s\n", DL_RULES[c->deeplift.rules]);
    put(&b, "conductance:\n  steps: %d\n", c->conductance.steps);
    put(&b, "attention:\n  save: %s\n  dtype: %s\n", c->attention.save ? "true" : "false",
        DTYPES[c->attention.float16]);
    put(&b, "analysis:\n  stats: %s\n  rollout: %s\n  agreement: %s\n  faithfulness: %s\n",
        c->analysis.stats ? "true" : "false", c->analysis.rollout ? "true" : "false",
        c->analysis.agreement ? "true" : "false", c->analysis.faithfulness ? "true" : "false");
    put(&b, "  categories: %s%s\n  sink_epsilon: %.17g\n  massive: %s\n  save_hidden: %s\n",
        c->analysis.categories == ANALYSIS_CAT_JAVA ? "java" : c->analysis.categories == ANALYSIS_CAT_FIELD ? "field:" : "none",
        c->analysis.categories == ANALYSIS_CAT_FIELD ? c->analysis.category_field : "", c->analysis.sink_epsilon,
        c->analysis.massive ? "true" : "false", c->analysis.save_hidden ? "true" : "false");
    put(&b, "save_full: %s\nout: ", c->save_full ? "true" : "false");
    put_q(&b, c->out);
    put(&b, "\n");
    if (!results_only)
        put(&b, "threads: %d\nchunk: %d\n", c->threads, c->chunk);
    return b.s;
}

void config_method_spec(const RunConfig *c, MethodKind k, MethodSpec *s)
{
    method_spec_default(s, k);
    s->layer = c->layer;
    s->output = c->output;
    s->nbaselines = c->nbaselines;
    memcpy(s->baselines, c->baselines, sizeof(BaselineKind) * c->nbaselines);
    s->dl_rules = c->deeplift.rules;
    switch (k) {
    case M_IG:
        s->steps = c->ig.steps;
        s->rule = c->ig.rule;
        break;
    case M_GRADSHAP:
        s->samples = c->gradshap.samples;
        s->stdevs = c->gradshap.stdevs;
        s->seed = c->gradshap.seed;
        break;
    case M_SMOOTHGRAD:
        s->samples = c->smoothgrad.samples;
        s->stdevs = c->smoothgrad.stdevs;
        s->seed = c->smoothgrad.seed;
        s->smooth_base = c->smoothgrad.base;
        s->steps = c->ig.steps; /* SmoothGrad over IG integrates with the ig settings */
        s->rule = c->ig.rule;
        break;
    case M_CONDUCTANCE:
        s->steps = c->conductance.steps;
        break;
    default:
        break;
    }
}
