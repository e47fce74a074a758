/* YAML job configuration: loading (libyaml document API, so every node keeps its line),
 * walking the maps onto the key table (runner/config_keys.c), --set overrides (parsed as
 * YAML too, through the same setters), cross-key checks against the engine's limits, and
 * the resolved configuration written back as YAML for the result file. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "runner/config.h"
#include "runner/config_keys.h"
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

/* Deepest nesting a configuration may have. A job needs 3 levels (top map, section map, a flow
 * list); the cap stops a hostile file early: libyaml's scanner is quadratic in the depth of
 * flow collections (a 200 000-deep file took minutes). */
#define MAX_YAML_DEPTH 32

/* The defaults, built once: every default goes through the parser, as if given with --set. No
 * default holds a string (model, corpus.path and out are required; the others default to null),
 * so the template can be copied as it is. */
static RunConfig defaults;
static pthread_once_t defaults_once = PTHREAD_ONCE_INIT;

static void build_defaults(void)
{
    memset(&defaults, 0, sizeof defaults);
    for (int i = 0; i < CONFIG_NKEYS; i++) {
        const ConfigKey *k = &CONFIG_KEYS[i];
        if (!k->def)
            continue;
        char a[256], err[512];
        snprintf(a, sizeof a, "%s=%s", k->key, k->def);
        if (config_set(&defaults, a, err, sizeof err) ||
            (k->type == CK_STR && *(char **)((char *)&defaults + k->off))) {
            fprintf(stderr, "attrun: internal error: the default of %s: %s\n", k->key, err);
            abort();
        }
    }
}

void config_init(RunConfig *c)
{
    pthread_once(&defaults_once, build_defaults);
    *c = defaults;
}

void config_free(RunConfig *c)
{
    for (int i = 0; i < CONFIG_NKEYS; i++)
        if (CONFIG_KEYS[i].type == CK_STR)
            free(*(char **)((char *)c + CONFIG_KEYS[i].off));
    free(c->target_token);
    free(c->analysis.category_field);
    config_free_words(c->corpus.keep_fields, c->corpus.n_keep);
    config_free_words(c->mlm.candidates, c->mlm.n_candidates);
    free(c->mlm.candidates_file);
    free(c->source);
    memset(c, 0, sizeof *c);
}

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

/* ---- maps onto keys ---- */

static int apply(ConfigCtx *x, RunConfig *c, const char *key, const yaml_node_t *keynode, const yaml_node_t *n);

/* The pair before `p` in the same map with the same key, or NULL. YAML forbids duplicate
 * keys; libyaml does not check, and the later value silently won. */
static const yaml_node_t *earlier_key(ConfigCtx *x, const yaml_node_t *map, const yaml_node_pair_t *p,
                                      const char *name)
{
    for (const yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
        const yaml_node_t *k = yaml_document_get_node(x->doc, q->key);
        if (k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, name))
            return k;
    }
    return NULL;
}

/* Applies the pairs of a map: the top level (section "") or a section such as "ig". */
static int apply_map(ConfigCtx *x, RunConfig *c, const char *section, const yaml_node_t *map)
{
    const char *where = *section ? section : "(top level)";
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(x->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
        if (k->type != YAML_SCALAR_NODE)
            return config_fail(x, k, where, "keys must be plain names");
        const char *name = (const char *)k->data.scalar.value;
        char full[256];
        snprintf(full, sizeof full, "%s%s%s", section, *section ? "." : "", name);
        const yaml_node_t *first = earlier_key(x, map, p, name);
        if (first)
            return config_fail(x, k, full, "duplicate key (first given at line %zu); give each key once",
                               first->start_mark.line + 1);
        if (strchr(name, '.')) {
            if (!*section)
                return config_fail(x, k, name, "unknown key (use nested maps, e.g. ig: {steps: 50})");
            char list[256];
            config_key_list(section, list, sizeof list);
            return config_fail(x, k, full, "unknown key (known under %s: %s)", section, list);
        }
        if (apply(x, c, full, k, v))
            return -1;
    }
    return 0;
}

/* Applies `n` to `key` (a full dotted path). Sections take maps; `corpus` also a bare path. */
static int apply(ConfigCtx *x, RunConfig *c, const char *key, const yaml_node_t *keynode, const yaml_node_t *n)
{
    const ConfigKey *k = config_key_find(key);
    char list[256];
    if (k && k->type == CK_SECTION) {
        if (n->type == YAML_MAPPING_NODE)
            return apply_map(x, c, key, n);
        if ((k->flags & CKF_BARE) && n->type == YAML_SCALAR_NODE) {
            char path[128];
            snprintf(path, sizeof path, "%s.path", key);
            ConfigKey bare = *config_key_find(path);
            bare.key = key; /* messages name what was written: "corpus" */
            return config_key_set(x, c, &bare, n);
        }
        config_key_list(key, list, sizeof list);
        return config_fail(x, n, key, "expected a map of %s", list);
    }
    if (k)
        return config_key_set(x, c, k, n);
    const char *dot = strchr(key, '.');
    if (dot) {
        char sec[64];
        snprintf(sec, sizeof sec, "%.*s", (int)(dot - key), key);
        const ConfigKey *s = config_key_find(sec);
        if (s && s->type == CK_SECTION) {
            config_key_list(sec, list, sizeof list);
            return config_fail(x, keynode, key, "unknown key (known under %s: %s)", sec, list);
        }
    }
    config_key_list("", list, sizeof list);
    return config_fail(x, keynode, key, "unknown key (known: %s)", list);
}

/* ---- YAML documents ---- */

/* Walks the events before building the document: one document only, nesting capped. Syntax
 * errors are left to yaml_parser_load, which reports them with its own message. */
static int check_events(const char *text, size_t len, const char *name, char *err, size_t errlen)
{
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int depth = 0, docs = 0, rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev))
            break;
        yaml_event_type_t t = ev.type;
        size_t line = ev.start_mark.line + 1;
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_END_EVENT)
            break;
        if (t == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
            snprintf(err, errlen, "%s:%zu: a second YAML document ('---'): a job configuration is one document",
                     name, line);
            rc = -1;
            break;
        }
        if (t == YAML_MAPPING_START_EVENT || t == YAML_SEQUENCE_START_EVENT) {
            if (++depth > MAX_YAML_DEPTH) {
                snprintf(err, errlen, "%s:%zu: YAML nested deeper than %d levels (a job configuration needs 3)",
                         name, line, MAX_YAML_DEPTH);
                rc = -1;
                break;
            }
        } else if (t == YAML_MAPPING_END_EVENT || t == YAML_SEQUENCE_END_EVENT) {
            depth--;
        }
    }
    yaml_parser_delete(&p);
    return rc;
}

static int load_doc(yaml_document_t *doc, const char *text, size_t len, const char *name, char *err,
                    size_t errlen)
{
    if (check_events(text, len, name, err, errlen))
        return -1;
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
    ConfigCtx x = {name, &doc, err, errlen};
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && !config_is_null(root)) {
        if (root->type != YAML_MAPPING_NODE)
            rc = config_fail(&x, root, "(top level)", "expected a map of keys (model, corpus, methods, ...)");
        else
            rc = apply_map(&x, c, "", root);
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
            if (!nb)
                free(buf);
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
    ConfigCtx x = {"--set", &doc, err, errlen};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t empty = {0};
    if (!root) { /* "key=" : an empty value */
        empty.type = YAML_SCALAR_NODE;
        empty.data.scalar.value = (yaml_char_t *)"";
        empty.data.scalar.style = YAML_PLAIN_SCALAR_STYLE;
        root = &empty;
    }
    int rc = apply(&x, c, key, NULL, root);
    yaml_document_delete(&doc);
    return rc;
}

/* ---- checks across keys ---- */

/* What the engine would refuse for one method, named by the keys that set it. */
static int check_method(const RunConfig *c, MethodKind m, const char *src, char *err, size_t errlen)
{
    MethodSpec s;
    config_method_spec(c, m, &s);
    if (m == M_SMOOTHGRAD && s.smooth_base == M_IG && method_items(&s) > METHOD_MAX_ITEMS) {
        snprintf(err, errlen, "%s: smoothgrad.samples: SmoothGrad over IG runs samples x ig.steps = %d x %d = %lld "
                 "items per example, more than the engine's %ld; lower smoothgrad.samples or ig.steps", src,
                 s.samples, s.steps, (long long)method_items(&s), METHOD_MAX_ITEMS);
        return -1;
    }
    const char *why = NULL;
    if (method_spec_check(&s, &why)) { /* a limit the key table does not know (kept in step by tests) */
        snprintf(err, errlen, "%s: methods: %s: %s", src, config_method_name(m), why);
        return -1;
    }
    return 0;
}

int config_check(const RunConfig *c, char *err, size_t errlen)
{
    const char *src = c->source ? c->source : "config";
    for (int i = 0; i < CONFIG_NKEYS; i++) {
        const ConfigKey *k = &CONFIG_KEYS[i];
        if (k->missing && !*(char *const *)((const char *)c + k->off)) {
            snprintf(err, errlen, "%s: %s: required key is missing%s%s%s", src, k->key, *k->missing ? " (" : "",
                     k->missing, *k->missing ? ")" : "");
            return -1;
        }
    }
    int uses_ig = 0;
    for (int i = 0; i < c->n_methods; i++)
        uses_ig |= c->methods[i] == M_IG || (c->methods[i] == M_SMOOTHGRAD && c->smoothgrad.base == M_IG);
    int sg_ig = 0;
    for (int i = 0; i < c->n_methods; i++)
        sg_ig |= c->methods[i] == M_SMOOTHGRAD && c->smoothgrad.base == M_IG;
    if (sg_ig && c->ig.steps == IG_STEPS_AUTO) {
        snprintf(err, errlen, "%s: ig.steps: auto applies to the ig method only; SmoothGrad over IG "
                 "(smoothgrad.base: ig) needs a number of steps", src);
        return -1;
    }
    if (uses_ig && c->ig.steps == IG_STEPS_AUTO && c->ig.rule != RULE_GAUSSLEGENDRE) {
        snprintf(err, errlen, "%s: ig.steps: auto uses Gauss-Legendre rules; it cannot be combined with "
                 "ig.rule: %s", src, rule_name(c->ig.rule));
        return -1;
    }
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
    /* every value the engine will see: what passes here runs (no job fails in its first unit) */
    for (int i = 0; i < c->n_methods; i++)
        if (check_method(c, c->methods[i], src, err, errlen))
            return -1;
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

/* The CPUs this process may run on (its affinity mask: a Slurm or cgroup allocation), else
 * the online CPUs. */
static int available_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int config_warnings(const RunConfig *c, char *msg, size_t len)
{
    int cpus = available_cpus();
    if (c->threads > cpus) {
        snprintf(msg, len, "%s: threads: %d OpenBLAS threads per rank, but this process may run on only %d CPU%s "
                 "(its affinity mask): the threads share cores and run slower than threads: %d would. Give each "
                 "rank %d cores (mpirun --map-by slot:PE=%d, or srun --cpus-per-task=%d; mpirun binds a rank to "
                 "one core by default) or lower threads", c->source ? c->source : "config", c->threads, cpus,
                 cpus > 1 ? "s" : "", cpus, c->threads, c->threads, c->threads);
        return 1;
    }
    return 0;
}

/* ---- resolved YAML ---- */

char *config_to_yaml(const RunConfig *c, int results_only)
{
    ConfigBuf b = {malloc(1024), 0, 1024};
    b.s[0] = 0;
    for (int i = 0; i < CONFIG_NKEYS; i++) {
        const ConfigKey *k = &CONFIG_KEYS[i];
        if (results_only && (k->flags & CKF_RUNTIME))
            continue;
        if (k->type == CK_SECTION) {
            config_buf_put(&b, "%s:\n", k->key);
            continue;
        }
        const char *dot = strchr(k->key, '.');
        config_buf_put(&b, "%s%s: ", dot ? "  " : "", dot ? dot + 1 : k->key);
        config_key_print(&b, c, k);
        config_buf_put(&b, "\n");
    }
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
    s->block_tokens = c->microbatch_tokens;
    switch (k) {
    case M_IG:
        s->steps = c->ig.steps;
        s->rule = c->ig.rule;
        s->tolerance = c->ig.tolerance;
        s->max_steps = c->ig.max_steps;
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
