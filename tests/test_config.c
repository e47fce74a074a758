/* runner/config: a good config with every key, defaults, --set overrides, and
 * each bad case: the message must name the key and the line where it is. */
#include "runner/config.h"
#include "runner/config_keys.h"
#include "tests/testutil.h"
#include <CUnit/CUnit.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse(RunConfig *c, const char *yaml, char *err, size_t n)
{
    config_init(c);
    int rc = config_parse_string(c, yaml, strlen(yaml), "job.yaml", err, n);
    if (!rc)
        rc = config_check(c, err, n);
    return rc;
}

static const char *GOOD =
    "# every key\n"
    "model: models/sst2-tiny\n"
    "corpus:\n"
    "  path: data/sst2-dev.tsv\n"
    "  format: tsv\n"
    "  text_field: sentence\n"
    "  pair_field: null\n"
    "  label_field: label\n"
    "  max_length: 128\n"
    "  limit: 100\n"
    "  offset: 5\n"
    "  on_error: skip\n"
    "methods: [ig, gradshap, deeplift, deepliftshap, saliency, inputxgradient, smoothgrad, conductance]\n"
    "target: label\n"
    "layer: embeddings\n"
    "output: prob\n"
    "baseline: [pad, mask, unk]\n"
    "ig: {steps: 32, rule: riemann_trapezoid}\n"
    "gradshap:\n"
    "  samples: 7\n"
    "  stdevs: 0.25\n"
    "  seed: 42\n"
    "smoothgrad: {samples: 3, stdevs: 0.5, base: ig, seed: 9}\n"
    "deeplift: {rules: captum}\n"
    "conductance: {steps: 12}\n"
    "attention: {save: true, dtype: float16}\n"
    "save_full: yes\n"
    "out: results/x.h5\n"
    "threads: 2\n"
    "chunk: 4\n";

static void test_good(void)
{
    RunConfig c;
    char err[1024] = "";
    int rc = parse(&c, GOOD, err, sizeof err);
    if (rc)
        printf("\n  unexpected error: %s\n", err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_STRING_EQUAL(c.model, "models/sst2-tiny");
    CU_ASSERT_STRING_EQUAL(c.corpus.path, "data/sst2-dev.tsv");
    CU_ASSERT_EQUAL(c.corpus.format, CORPUS_TSV);
    CU_ASSERT_STRING_EQUAL(c.corpus.text_field, "sentence");
    CU_ASSERT_PTR_NULL(c.corpus.pair_field);
    CU_ASSERT_EQUAL(c.corpus.max_length, 128);
    CU_ASSERT_EQUAL(c.corpus.limit, 100);
    CU_ASSERT_EQUAL(c.corpus.offset, 5);
    CU_ASSERT_EQUAL(c.corpus.skip_errors, 1);
    CU_ASSERT_EQUAL(c.n_methods, 8);
    CU_ASSERT_EQUAL(c.methods[0], M_IG);
    CU_ASSERT_EQUAL(c.methods[5], M_INPUTXGRAD);
    CU_ASSERT_EQUAL(c.methods[7], M_CONDUCTANCE);
    CU_ASSERT_EQUAL(c.target, TARGET_LABEL);
    CU_ASSERT_EQUAL(c.layer, AT_EMBEDDINGS);
    CU_ASSERT_EQUAL(c.output, OUT_PROB);
    CU_ASSERT_EQUAL(c.nbaselines, 3);
    CU_ASSERT_EQUAL(c.baselines[2], BASE_UNK);
    CU_ASSERT_EQUAL(c.ig.steps, 32);
    CU_ASSERT_EQUAL(c.ig.rule, RULE_RIEMANN_TRAPEZOID);
    CU_ASSERT_EQUAL(c.gradshap.samples, 7);
    CU_ASSERT_DOUBLE_EQUAL(c.gradshap.stdevs, 0.25, 0);
    CU_ASSERT_EQUAL(c.gradshap.seed, 42);
    CU_ASSERT_EQUAL(c.smoothgrad.samples, 3);
    CU_ASSERT_EQUAL(c.smoothgrad.base, M_IG);
    CU_ASSERT_EQUAL(c.smoothgrad.seed, 9);
    CU_ASSERT_EQUAL(c.deeplift.rules, DL_CAPTUM);
    CU_ASSERT_EQUAL(c.conductance.steps, 12);
    CU_ASSERT_EQUAL(c.attention.save, 1);
    CU_ASSERT_EQUAL(c.attention.float16, 1);
    CU_ASSERT_EQUAL(c.save_full, 1);
    CU_ASSERT_STRING_EQUAL(c.out, "results/x.h5");
    CU_ASSERT_EQUAL(c.threads, 2);
    CU_ASSERT_EQUAL(c.chunk, 4);

    MethodSpec s;
    config_method_spec(&c, M_GRADSHAP, &s);
    CU_ASSERT_EQUAL(s.samples, 7);
    CU_ASSERT_EQUAL(s.seed, 42);
    CU_ASSERT_EQUAL(s.nbaselines, 3);
    CU_ASSERT_EQUAL(s.layer, AT_EMBEDDINGS);
    CU_ASSERT_EQUAL(s.output, OUT_PROB);
    config_method_spec(&c, M_SMOOTHGRAD, &s);
    CU_ASSERT_EQUAL(s.smooth_base, M_IG);
    CU_ASSERT_EQUAL(s.steps, 32);
    CU_ASSERT_DOUBLE_EQUAL(s.stdevs, 0.5, 0);

    /* the resolved YAML reads back to the same configuration */
    char *y = config_to_yaml(&c, 0);
    RunConfig d;
    rc = parse(&d, y, err, sizeof err);
    if (rc)
        printf("\n  re-parse error: %s\n%s\n", err, y);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    char *y2 = config_to_yaml(&d, 0);
    CU_ASSERT_STRING_EQUAL(y, y2);
    char *r = config_to_yaml(&c, 1);
    CU_ASSERT_PTR_NULL(strstr(r, "threads"));
    CU_ASSERT_PTR_NOT_NULL(strstr(y, "threads: 2"));
    free(y);
    free(y2);
    free(r);
    config_free(&d);
    config_free(&c);
}

static void test_defaults_and_set(void)
{
    RunConfig c;
    char err[1024] = "";
    CU_ASSERT_EQUAL_FATAL(parse(&c, "model: m\ncorpus: data/x.tsv\nout: o.h5\n", err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(c.corpus.path, "data/x.tsv"); /* corpus as a bare path */
    CU_ASSERT_EQUAL(c.n_methods, 1);
    CU_ASSERT_EQUAL(c.methods[0], M_IG);
    CU_ASSERT_EQUAL(c.ig.steps, 50);
    CU_ASSERT_EQUAL(c.ig.rule, RULE_GAUSSLEGENDRE);
    CU_ASSERT_EQUAL(c.target, TARGET_PREDICTED);
    CU_ASSERT_EQUAL(c.nbaselines, 1);
    CU_ASSERT_EQUAL(c.baselines[0], BASE_PAD);
    CU_ASSERT_EQUAL(c.threads, 1);
    CU_ASSERT_EQUAL(c.chunk, 0);
    CU_ASSERT_EQUAL(c.attention.save, 0);

    CU_ASSERT_EQUAL(config_set(&c, "ig.steps=7", err, sizeof err), 0);
    CU_ASSERT_EQUAL(c.ig.steps, 7);
    CU_ASSERT_EQUAL(config_set(&c, "methods=[saliency, ig]", err, sizeof err), 0);
    CU_ASSERT_EQUAL(c.n_methods, 2);
    CU_ASSERT_EQUAL(c.methods[0], M_SALIENCY);
    CU_ASSERT_EQUAL(config_set(&c, "target=1", err, sizeof err), 0);
    CU_ASSERT_EQUAL(c.target, TARGET_INDEX);
    CU_ASSERT_EQUAL(c.target_index, 1);
    CU_ASSERT_EQUAL(config_set(&c, "target=\"[MASK]\"", err, sizeof err), 0);
    CU_ASSERT_EQUAL(c.target, TARGET_TOKEN);
    CU_ASSERT_STRING_EQUAL(c.target_token, "[MASK]");
    CU_ASSERT_EQUAL(config_set(&c, "corpus.limit=3", err, sizeof err), 0);
    CU_ASSERT_EQUAL(c.corpus.limit, 3);
    CU_ASSERT_EQUAL(config_set(&c, "attention={save: true}", err, sizeof err), 0);
    CU_ASSERT_EQUAL(c.attention.save, 1);
    CU_ASSERT_EQUAL(config_set(&c, "out=other.h5", err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(c.out, "other.h5");

    CU_ASSERT_EQUAL(config_set(&c, "ig.steps=0", err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "ig.steps"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "--set"));
    CU_ASSERT_EQUAL(config_set(&c, "ig.stepz=3", err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "ig.stepz"));
    CU_ASSERT_EQUAL(config_set(&c, "ig={steps: 3, steps: 4}", err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "duplicate key"));
    CU_ASSERT_EQUAL(config_set(&c, "ig.steps=3\n---\n4", err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "second YAML document"));
    /* an explicit single document is fine */
    CU_ASSERT_EQUAL(config_set(&c, "ig.steps=--- 9\n...\n", err, sizeof err), 0);
    CU_ASSERT_EQUAL(c.ig.steps, 9);
    CU_ASSERT_EQUAL(config_set(&c, "nokey", err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "key=value"));
    config_free(&c);
}

typedef struct {
    const char *yaml;
    const char *key;   /* must appear in the message */
    const char *line;  /* "job.yaml:N:" must appear, or NULL (whole-file checks) */
} Bad;

static const Bad BAD[] = {
    {"model: m\nout: o.h5\ncorpus: {path: c.tsv}\nstepz: 3\n", "stepz", "job.yaml:4:"},
    {"model: m\nout: o.h5\ncorpus:\n  path: c.tsv\n  limt: 3\n", "corpus.limt", "job.yaml:5:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nig:\n  steps: 0\n", "ig.steps", "job.yaml:5:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nig:\n  steps: many\n", "ig.steps", "job.yaml:5:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nig: {rule: simpson}\n", "ig.rule", "job.yaml:4:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\ngradshap:\n  stdevs: -0.1\n", "gradshap.stdevs", "job.yaml:5:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nsmoothgrad:\n  samples: 0\n", "smoothgrad.samples", "job.yaml:5:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nsmoothgrad: {base: deeplift}\n", "smoothgrad.base", "job.yaml:4:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nmethods: [ig, lime]\n", "methods", "job.yaml:4:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nmethods: [ig, saliency, ig]\n", "methods", "job.yaml:4:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nmethods: [{}]\n", "methods", "job.yaml:4:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nbaseline: [pad, noise]\n", "baseline", "job.yaml:4:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\ntarget: -2\n", "target", "job.yaml:4:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nlayer: pooler\n", "layer", "job.yaml:4:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\noutput: softmax\n", "output", "job.yaml:4:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nattention: {save: maybe}\n", "attention.save", "job.yaml:4:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nattention: {dtype: int8}\n", "attention.dtype", "job.yaml:4:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nthreads: 0\n", "threads", "job.yaml:4:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nchunk: -1\n", "chunk", "job.yaml:4:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\ndeeplift: {rules: exact}\n", "deeplift.rules", "job.yaml:4:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nconductance:\n  steps: 0\n", "conductance.steps", "job.yaml:5:"},
    {"model: m\nout: o.h5\ncorpus: {path: c.tsv, format: xml}\n", "corpus.format", "job.yaml:3:"},
    {"model: m\nout: o.h5\ncorpus: {path: c.tsv, on_error: ignore}\n", "corpus.on_error", "job.yaml:3:"},
    {"model: m\nout: o.h5\ncorpus: {path: c.tsv, max_length: -4}\n", "corpus.max_length", "job.yaml:3:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nig: 5\n", "ig", "job.yaml:4:"},
    {"model: [a, b]\nout: o.h5\ncorpus: c.tsv\n", "model", "job.yaml:1:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nig.steps: 5\n", "ig.steps", "job.yaml:4:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nsave_full: 2\n", "save_full", "job.yaml:4:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nig: {steps: 1, rule: riemann_left}\n", "ig.steps", NULL},
    {"model: m\nout: o.h5\ncorpus: [c.tsv\n", "YAML syntax", "job.yaml:"},
    {"out: o.h5\ncorpus: c.tsv\n", "model", NULL},
    {"model: m\ncorpus: c.tsv\n", "out", NULL},
    {"model: m\nout: o.h5\n", "corpus.path", NULL},
    /* YAML quirks: each key once, one document, bounded nesting */
    {"model: m\nout: o.h5\ncorpus: c.tsv\nmodel: n\n", "model: duplicate key (first given at line 1)", "job.yaml:4:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nig:\n  steps: 3\n  steps: 4\n", "ig.steps: duplicate key", "job.yaml:6:"},
    {"model: m\nout: o.h5\ncorpus: {path: a.tsv, \"path\": b.tsv}\n", "corpus.path: duplicate key", "job.yaml:3:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\n---\nmodel: n\n", "second YAML document", "job.yaml:4:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nig: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
     "nested deeper than 32", "job.yaml:4:"},
    /* the engine's limits (engine/attribution.h), refused when the config is read */
    {"model: m\nout: o.h5\ncorpus: c.tsv\nig: {steps: 150000}\n", "ig.steps", "job.yaml:4:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\ngradshap: {samples: 1048576}\n", "gradshap.samples", "job.yaml:4:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nsmoothgrad: {samples: 1048576}\n", "smoothgrad.samples", "job.yaml:4:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nconductance: {steps: 200000}\n", "conductance.steps", "job.yaml:4:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\ngradshap: {stdevs: inf}\n", "gradshap.stdevs", "job.yaml:4:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nsmoothgrad: {stdevs: 2e6}\n", "smoothgrad.stdevs", "job.yaml:4:"},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nmethods: [smoothgrad]\nsmoothgrad: {samples: 2000, base: ig}\n"
     "ig: {steps: 100000}\n", "samples x ig.steps = 2000 x 100000", NULL},
    {"model: m\nout: o.h5\ncorpus: c.tsv\nmethods: [smoothgrad]\nsmoothgrad: {samples: 1000000, base: ig}\n"
     "ig: {steps: 3000}\n", "= 3000000000 items", NULL},
};

/* The largest values the engine takes are accepted, and each spec passes method_spec_check:
 * a configuration that passes config_check runs. */
static void test_engine_limits(void)
{
    static const char *const EDGE[] = {
        "methods: [ig, conductance, gradshap]\nig: {steps: 100000}\nconductance: {steps: 100000}\n"
        "gradshap: {samples: 1000000, stdevs: 1e6}\n",
        "methods: [smoothgrad]\nsmoothgrad: {samples: 1000, base: ig, stdevs: 1e6}\nig: {steps: 100000}\n",
        "methods: [smoothgrad]\nsmoothgrad: {samples: 1000000}\n",
    };
    for (size_t i = 0; i < sizeof EDGE / sizeof *EDGE; i++) {
        char yaml[512], err[1024] = "";
        snprintf(yaml, sizeof yaml, "model: m\nout: o.h5\ncorpus: c.tsv\n%s", EDGE[i]);
        RunConfig c;
        int rc = parse(&c, yaml, err, sizeof err);
        if (rc)
            printf("\n  edge case %zu refused: %s\n", i, err);
        CU_ASSERT_EQUAL(rc, 0);
        for (int m = 0; !rc && m < c.n_methods; m++) {
            MethodSpec s;
            const char *why = NULL;
            config_method_spec(&c, c.methods[m], &s);
            CU_ASSERT_EQUAL(method_spec_check(&s, &why), 0);
            CU_ASSERT(method_items(&s) <= METHOD_MAX_ITEMS);
        }
        config_free(&c);
    }
    /* 64-bit item counts: 1000000 x 3000 does not wrap around */
    MethodSpec s;
    method_spec_default(&s, M_SMOOTHGRAD);
    s.smooth_base = M_IG;
    s.samples = 1000000;
    s.steps = 3000;
    CU_ASSERT_EQUAL(method_items(&s), 3000000000LL);
    const char *why = NULL;
    CU_ASSERT_EQUAL(method_spec_check(&s, &why), -1);
}

static void test_bad(void)
{
    for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++) {
        RunConfig c;
        char err[1024] = "";
        int rc = parse(&c, BAD[i].yaml, err, sizeof err);
        int good = rc == -1 && strstr(err, BAD[i].key) && (!BAD[i].line || strstr(err, BAD[i].line));
        if (!good)
            printf("\n  case %zu (%s): rc %d, message '%s'\n", i, BAD[i].key, rc, err);
        CU_ASSERT(good);
        config_free(&c);
    }
}

static void test_file(void)
{
    char path[] = "/tmp/attrun_test_config_XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("model: m\nout: o.h5\ncorpus: c.tsv\nig:\n  steps: 3\n", f);
    fclose(f);
    RunConfig c;
    char err[1024];
    char *sets[] = {"ig.steps=9", "threads=3"};
    CU_ASSERT_EQUAL(config_load(&c, path, sets, 2, err, sizeof err), 0);
    CU_ASSERT_EQUAL(c.ig.steps, 9);
    CU_ASSERT_EQUAL(c.threads, 3);
    config_free(&c);
    char *bad[] = {"ig.steps=-1"};
    CU_ASSERT_EQUAL(config_load(&c, path, bad, 1, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "ig.steps"));
    config_free(&c);
    unlink(path);
    CU_ASSERT_EQUAL(config_load(&c, "/nonexistent/job.yaml", NULL, 0, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/job.yaml"));
    config_free(&c);
}


/* The key table against the engine: defaults are Captum's (method_spec_default), the rule
 * words are the engine's names, every allowed word is documented, every bounded number shows
 * its range in the docs, and every default is printed back as it is written in the table. */
static void test_key_table(void)
{
    RunConfig c;
    config_init(&c);
    for (int m = 0; m < M_NUM_METHODS; m++) {
        MethodSpec want, got;
        method_spec_default(&want, (MethodKind)m);
        config_method_spec(&c, (MethodKind)m, &got);
        CU_ASSERT_EQUAL(got.steps, want.steps);
        CU_ASSERT_EQUAL(got.rule, want.rule);
        CU_ASSERT_EQUAL(got.samples, want.samples);
        CU_ASSERT_DOUBLE_EQUAL(got.stdevs, want.stdevs, 0);
        CU_ASSERT_EQUAL(got.seed, want.seed);
        CU_ASSERT_EQUAL(got.dl_rules, want.dl_rules);
        CU_ASSERT_EQUAL(got.smooth_base, want.smooth_base);
        CU_ASSERT_EQUAL(got.layer, want.layer);
        CU_ASSERT_EQUAL(got.output, want.output);
        CU_ASSERT_EQUAL(got.nbaselines, want.nbaselines);
        CU_ASSERT_EQUAL(got.baselines[0], want.baselines[0]);
    }
    const ConfigKey *rule = config_key_find("ig.rule");
    CU_ASSERT_PTR_NOT_NULL_FATAL(rule);
    int nrules = 0;
    for (; rule->words[nrules]; nrules++)
        CU_ASSERT_EQUAL(rule_from_name(rule->words[nrules]), rule->vals[nrules]);
    CU_ASSERT_STRING_EQUAL(rule_name((IgRule)nrules), "?"); /* the engine has no rule the table lacks */
    char *y = config_to_yaml(&c, 0);
    for (int i = 0; i < CONFIG_NKEYS; i++) {
        const ConfigKey *k = &CONFIG_KEYS[i];
        if (k->type == CK_WORD)
            for (int w = 0; k->words[w]; w++) {
                char tick[64];
                snprintf(tick, sizeof tick, "`%s`", k->words[w]);
                if (!strstr(k->doc, tick))
                    printf("\n  %s: word %s not in its doc\n", k->key, tick);
                CU_ASSERT_PTR_NOT_NULL(strstr(k->doc, tick));
            }
        if ((k->type == CK_INT && k->ihi < INT_MAX) || (k->type == CK_DOUBLE && k->dhi < 1e300)) {
            if (!strstr(k->doc, "{range}"))
                printf("\n  %s: bounded but its doc does not show {range}\n", k->key);
            CU_ASSERT_PTR_NOT_NULL(strstr(k->doc, "{range}"));
        }
        /* a default written as printed: "steps: 50", "format: auto" (not for stdevs 0.0 / 1.0
         * nor the quoted-or-null strings, whose printed forms differ in spelling only) */
        if (k->def && k->type != CK_DOUBLE && k->type != CK_STR) {
            const char *dot = strchr(k->key, '.');
            char line[300];
            snprintf(line, sizeof line, "%s%s: %s\n", dot ? "  " : "", dot ? dot + 1 : k->key, k->def);
            if (!strstr(y, line))
                printf("\n  default of %s prints differently from '%s'\n", k->key, k->def);
            CU_ASSERT_PTR_NOT_NULL(strstr(y, line));
        }
    }
    free(y);
    config_free(&c);
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("config", NULL, NULL);
    CU_add_test(s, "a config with every key", test_good);
    CU_add_test(s, "defaults and --set overrides", test_defaults_and_set);
    CU_add_test(s, "bad keys and values name key and line", test_bad);
    CU_add_test(s, "config_load: file plus overrides", test_file);
    CU_add_test(s, "the engine's largest values are accepted and run", test_engine_limits);
    CU_add_test(s, "the key table agrees with the engine and its docs", test_key_table);
    return test_run_registry();
}
