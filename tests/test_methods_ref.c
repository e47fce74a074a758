/* Attribution methods against Captum 0.8 (../shared/reference/captum, float64):
 * every file is reproduced with the fp32 engine. Tolerance: max|a − ref| / max|ref|
 * <= 1e-4 per quantity (README: an fp32 engine agrees to ~1e-5). Deltas are close to
 * 0 for IG (1e-10 in float64), so their scale is max(max|ref delta|, |F(x)|, |F(b)|):
 * a delta is a difference of F values and inherits their fp32 error.
 * Every measured error is printed (tag, max error over the results of a file). */
#include "engine/attribution.h"
#include "engine/attr_internal.h"
#include "io/checkpoint.h"
#include "tests/testutil.h"
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-4

/* ---------- models (loaded once) ---------- */
static struct {
    const char *rel;
    Model *m;
    Engine *e;
} MODELS[4] = {{"reference/models/tiny-bert", NULL, NULL}, {"reference/models/tiny-bert-bf16", NULL, NULL},
               {"reference/models/tiny-roberta", NULL, NULL}, {"reference/models/tiny-distilbert", NULL, NULL}};

static Engine *engine_for(const char *rel)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(MODELS[i].rel, rel)) {
            if (!MODELS[i].m) {
                char err[512];
                MODELS[i].m = checkpoint_load(test_shared_path(rel), err, sizeof err);
                if (!MODELS[i].m) {
                    fprintf(stderr, "checkpoint_load(%s): %s\n", rel, err);
                    return NULL;
                }
                MODELS[i].e = engine_create(MODELS[i].m);
            }
            return MODELS[i].e;
        }
    return NULL;
}

/* ---------- per-file error bookkeeping ---------- */
typedef struct {
    double attr, sum, l2, delta, fx, fb;
} Errs;

static void errs_max(Errs *a, const Errs *b)
{
    a->attr = fmax(a->attr, b->attr);
    a->sum = fmax(a->sum, b->sum);
    a->l2 = fmax(a->l2, b->l2);
    a->delta = fmax(a->delta, b->delta);
    a->fx = fmax(a->fx, b->fx);
    a->fb = fmax(a->fb, b->fb);
}

static void errs_report(const char *tag, const Errs *e)
{
    printf("  [%s] max rel err: attr %.2e  attr_sum %.2e  attr_l2 %.2e  delta %.2e  F(x) %.2e  F(b) %.2e\n",
           tag, e->attr, e->sum, e->l2, e->delta, e->fx, e->fb);
    CU_ASSERT(e->attr <= TOL);
    CU_ASSERT(e->sum <= TOL);
    CU_ASSERT(e->l2 <= TOL);
    CU_ASSERT(e->delta <= TOL);
    CU_ASSERT(e->fx <= TOL);
    CU_ASSERT(e->fb <= TOL);
}

static double num(const json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

/* ---------- examples ---------- */
typedef struct {
    Example ex;
    int *ids, *special;
} ExBuf;

static int is_special_token(const char *t)
{
    static const char *const S[] = {"[CLS]", "[SEP]", "[PAD]", "<s>", "</s>", "<pad>", "<mask>"};
    for (size_t i = 0; i < sizeof S / sizeof *S; i++)
        if (!strcmp(t, S[i]))
            return 1;
    return 0;
}

static void exbuf_init(ExBuf *b, const json_t *res, long index)
{
    const json_t *ids = json_object_get(res, "ids"), *toks = json_object_get(res, "tokens");
    int T = (int)json_array_size(ids);
    b->ids = malloc(T * sizeof(int));
    b->special = malloc(T * sizeof(int));
    for (int t = 0; t < T; t++) {
        b->ids[t] = (int)json_integer_value(json_array_get(ids, t));
        b->special[t] = is_special_token(json_string_value(json_array_get(toks, t)));
    }
    memset(&b->ex, 0, sizeof b->ex);
    b->ex.index = index;
    b->ex.T = T;
    b->ex.ids = b->ids;
    b->ex.special = b->special;
    b->ex.target = (int)json_integer_value(json_object_get(res, "target"));
}

static void exbuf_free(ExBuf *b)
{
    free(b->ids);
    free(b->special);
}

/* Our baseline ids must be the reference's (a list, or a list of lists). */
static void check_baselines(const Model *m, const MethodSpec *s, const Example *ex, const json_t *res)
{
    const json_t *bl = json_object_get(res, "baseline_ids");
    int nested = json_is_array(json_array_get(bl, 0));
    int *out = malloc(ex->T * sizeof(int));
    for (int j = 0; j < s->nbaselines; j++) {
        const json_t *ref = nested ? json_array_get(bl, j) : bl;
        CU_ASSERT_EQUAL_FATAL(baseline_ids(m, s->baselines[j], ex, out), 1);
        CU_ASSERT_EQUAL(json_array_size(ref), (size_t)ex->T);
        int same = 1;
        for (int t = 0; t < ex->T; t++)
            same &= out[t] == (int)json_integer_value(json_array_get(ref, t));
        CU_ASSERT(same);
        if (!same)
            printf("    baseline %s ids differ from the reference\n", baseline_name(s->baselines[j]));
    }
    free(out);
}

static int run_all(Engine *e, const MethodSpec *s, const Example *ex, AttrResult *r)
{
    const char *err = NULL;
    Partial *p = partial_new(s, engine_model(e), ex->T);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int rc = method_run_chunk(e, s, ex, 0, method_items(s), p, &err);
    if (!rc)
        rc = method_finalize(e, s, ex, p, r, &err);
    if (rc)
        printf("    method %s failed: %s\n", method_name(s->kind), err ? err : "?");
    CU_ASSERT_EQUAL(rc, 0);
    partial_free(p);
    return rc;
}

/* Compares r with one reference result (attr, attr_sum, attr_l2, delta, f_input, f_baseline). */
static void compare(const AttrResult *r, const json_t *res, int saliency, Errs *e)
{
    size_t TD = (size_t)r->T * r->D;
    const json_t *attr = json_object_get(res, "attr");
    e->attr = test_json_rel_err(r->full, TD, attr, 0);
    if (saliency) { /* ours: Σ|g| per token; the reference's attr_sum is the signed sum */
        size_t n;
        double *a = test_json_flatten(attr, &n), *s = calloc(r->T, sizeof(double));
        for (size_t i = 0; i < n; i++)
            s[i / r->D] += fabs(a[i]);
        e->sum = test_rel_err_f(r->token_sum, s, r->T, 0);
        free(a);
        free(s);
    } else {
        e->sum = test_json_rel_err(r->token_sum, r->T, json_object_get(res, "attr_sum"), 0);
    }
    e->l2 = test_json_rel_err(r->token_l2, r->T, json_object_get(res, "attr_l2"), 0);
    double fx = num(res, "f_input"), fb = num(res, "f_baseline");
    e->fx = fabs(r->f_input - fx) / fmax(fabs(fx), 1e-30);
    e->fb = json_object_get(res, "f_baseline") && r->n_delta < 2 ? fabs(r->f_baseline - fb) / fmax(fabs(fb), 1e-30) : 0;
    e->delta = 0;
    const json_t *d = json_object_get(res, "delta");
    if (d && !saliency)
        e->delta = test_json_rel_err(r->delta, r->n_delta, d, fmax(fabs(fx), fabs(fb)));
}

static void spec_from_params(MethodSpec *s, MethodKind kind, const json_t *params)
{
    method_spec_default(s, kind);
    const char *rule = json_string_value(json_object_get(params, "ig_method"));
    if (rule)
        s->rule = rule_from_name(rule);
    if (json_object_get(params, "steps"))
        s->steps = (int)json_integer_value(json_object_get(params, "steps"));
    const char *layer = json_string_value(json_object_get(params, "layer"));
    s->layer = layer && !strcmp(layer, "embeddings") ? AT_EMBEDDINGS : AT_WORD_EMB;
    const char *out = json_string_value(json_object_get(params, "output"));
    s->output = out && !strcmp(out, "prob") ? OUT_PROB : OUT_LOGIT;
    s->samples = (int)json_integer_value(json_object_get(params, "samples"));
    s->stdevs = json_number_value(json_object_get(params, "stdevs"));
    const char *bl = json_string_value(json_object_get(params, "baselines"));
    s->nbaselines = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", bl ? bl : "pad");
    for (char *t = strtok(buf, ","); t; t = strtok(NULL, ","))
        s->baselines[s->nbaselines++] = baseline_from_name(t);
}

/* ig_alphas / ig_step_sizes of the reference equal ours (alphas to 1e-15, weights exactly) */
static void check_nodes(const MethodSpec *s, const json_t *res)
{
    const json_t *ja = json_object_get(res, "ig_alphas"), *jw = json_object_get(res, "ig_step_sizes");
    if (!ja)
        return;
    size_t n;
    double *ra = test_json_flatten(ja, &n), *rw = test_json_flatten(jw, &n);
    CU_ASSERT_EQUAL_FATAL(n, (size_t)s->steps);
    double *a = malloc(n * sizeof(double)), *w = malloc(n * sizeof(double)), ea = 0;
    ig_nodes(s->rule, (int)n, a, w);
    int wsame = 1;
    for (size_t i = 0; i < n; i++) {
        ea = fmax(ea, fabs(a[i] - ra[i]));
        wsame &= w[i] == rw[i];
    }
    CU_ASSERT(ea <= 1e-15);
    CU_ASSERT(wsame);
    static int printed[8];
    if (!printed[s->rule]++)
        printf("  nodes %s n=%zu: max |alpha - ref| %.1e, weights %s\n", rule_name(s->rule), n, ea,
               wsame ? "bit-identical" : "DIFFER");
    free(ra);
    free(rw);
    free(a);
    free(w);
}

/* ---------- standard result files (one method per file) ---------- */
static void run_file(const char *file, MethodKind kind, DeepLiftRules rules)
{
    char rel[256];
    snprintf(rel, sizeof rel, "reference/captum/%s", file);
    json_t *j = test_load_json(test_shared_path(rel));
    const json_t *params = json_object_get(j, "params");
    char mrel[256];
    snprintf(mrel, sizeof mrel, "reference/%s", json_string_value(json_object_get(params, "model")));
    Engine *e = engine_for(mrel);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    MethodSpec s;
    spec_from_params(&s, kind, params);
    s.dl_rules = rules;
    Errs all = {0};
    const json_t *results = json_object_get(j, "results");
    for (size_t i = 0; i < json_array_size(results); i++) {
        const json_t *res = json_array_get(results, i);
        ExBuf b;
        exbuf_init(&b, res, (long)i);
        check_baselines(engine_model(e), &s, &b.ex, res);
        check_nodes(&s, res);
        AttrResult r;
        if (run_all(e, &s, &b.ex, &r) == 0) {
            Errs one;
            compare(&r, res, kind == M_SALIENCY, &one);
            errs_max(&all, &one);
            attr_result_free(&r);
        }
        exbuf_free(&b);
    }
    errs_report(file, &all);
    json_decref(j);
}

static void test_ig_gausslegendre(void) { run_file("ig_gausslegendre_50.json", M_IG, DL_RESCALE); }
static void test_ig_trapezoid(void) { run_file("ig_riemann_trapezoid_20.json", M_IG, DL_RESCALE); }
static void test_ig_left(void) { run_file("ig_riemann_left_16.json", M_IG, DL_RESCALE); }
static void test_ig_right(void) { run_file("ig_riemann_right_16.json", M_IG, DL_RESCALE); }
static void test_ig_middle(void) { run_file("ig_riemann_middle_16.json", M_IG, DL_RESCALE); }
static void test_ig_embeddings_prob(void) { run_file("ig_embeddings_prob_30.json", M_IG, DL_RESCALE); }
static void test_ig_bf16(void) { run_file("bf16_ig_gausslegendre_50.json", M_IG, DL_RESCALE); }
static void test_deeplift_hf(void) { run_file("deeplift_hf.json", M_DEEPLIFT, DL_CAPTUM); }
static void test_deepliftshap(void) { run_file("deepliftshap_hf_pad_mask_unk.json", M_DEEPLIFTSHAP, DL_CAPTUM); }
static void test_saliency(void) { run_file("saliency.json", M_SALIENCY, DL_RESCALE); }

/* ---------- Gradient SHAP: replay of the recorded draws ---------- */
static void run_gradshap_replay(const char *file)
{
    char rel[256];
    snprintf(rel, sizeof rel, "reference/captum/%s", file);
    json_t *j = test_load_json(test_shared_path(rel));
    const json_t *params = json_object_get(j, "params");
    Engine *e = engine_for("reference/models/tiny-bert");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    MethodSpec s;
    spec_from_params(&s, M_GRADSHAP, params);
    Errs all = {0};
    const json_t *results = json_object_get(j, "results");
    for (size_t i = 0; i < json_array_size(results); i++) {
        const json_t *res = json_array_get(results, i), *rnd = json_object_get(res, "gradshap_random");
        ExBuf b;
        exbuf_init(&b, res, (long)i);
        size_t n, na, nn = 0;
        double *bi = test_json_flatten(json_object_get(rnd, "baseline_indices"), &n);
        double *al = test_json_flatten(json_object_get(rnd, "alphas"), &na);
        double *noise = json_object_get(rnd, "noise") ? test_json_flatten(json_object_get(rnd, "noise"), &nn) : NULL;
        CU_ASSERT_EQUAL_FATAL(n, (size_t)s.samples);
        CU_ASSERT_EQUAL_FATAL(na, (size_t)s.samples);
        int D = engine_model(e)->cfg.D;
        CU_ASSERT_FATAL(!noise || nn == (size_t)s.samples * b.ex.T * D);
        int *bidx = malloc(n * sizeof(int));
        for (size_t k = 0; k < n; k++)
            bidx[k] = (int)bi[k];
        Partial *p = partial_new(&s, engine_model(e), b.ex.T);
        const char *err = NULL;
        /* two chunks, to use the replay entry the way a rank would */
        int h = s.samples / 2;
        int rc = gradshap_run_draws(e, &s, &b.ex, 0, h, bidx, al, noise, p, &err);
        if (!rc)
            rc = gradshap_run_draws(e, &s, &b.ex, h, s.samples, bidx, al, noise, p, &err);
        AttrResult r;
        if (!rc)
            rc = method_finalize(e, &s, &b.ex, p, &r, &err);
        if (rc)
            printf("    gradshap replay failed: %s\n", err);
        CU_ASSERT_EQUAL(rc, 0);
        if (!rc) {
            Errs one;
            compare(&r, res, 0, &one);
            errs_max(&all, &one);
            attr_result_free(&r);
        }
        partial_free(p);
        free(bidx);
        free(bi);
        free(al);
        free(noise);
        exbuf_free(&b);
    }
    errs_report(file, &all);
    json_decref(j);
}

static void test_gradshap_draws(void) { run_gradshap_replay("gradshap_draws_50.json"); }
static void test_gradshap_noise(void) { run_gradshap_replay("gradshap_noise_draws_8.json"); }

/* ---------- RoBERTa and DistilBERT (several methods per file, .json.gz) ---------- */
static void run_multi(const char *file, const char *key, const char *model)
{
    char rel[256];
    snprintf(rel, sizeof rel, "reference/captum/%s", file);
    json_t *j = test_load_json(test_shared_path(rel));
    Engine *e = engine_for(model);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    const json_t *list = json_object_get(j, key);
    CU_ASSERT_FATAL(json_array_size(list) > 0);
    const char *names[3] = {"ig", "deeplift", "saliency"};
    MethodKind kinds[3] = {M_IG, M_DEEPLIFT, M_SALIENCY};
    for (int mi = 0; mi < 3; mi++) {
        Errs all = {0};
        int count = 0;
        for (size_t i = 0; i < json_array_size(list); i++) {
            const json_t *res = json_array_get(list, i);
            if (strcmp(json_string_value(json_object_get(res, "method")), names[mi]))
                continue;
            MethodSpec s;
            method_spec_default(&s, kinds[mi]);
            s.dl_rules = DL_CAPTUM;
            ExBuf b;
            exbuf_init(&b, res, (long)i);
            check_baselines(engine_model(e), &s, &b.ex, res);
            AttrResult r;
            if (run_all(e, &s, &b.ex, &r) == 0) {
                Errs one;
                compare(&r, res, kinds[mi] == M_SALIENCY, &one);
                errs_max(&all, &one);
                attr_result_free(&r);
                count++;
            }
            exbuf_free(&b);
        }
        char tag[128];
        snprintf(tag, sizeof tag, "%s %s (%d texts)", file, names[mi], count);
        CU_ASSERT(count > 0);
        errs_report(tag, &all);
    }
    json_decref(j);
}

static void test_roberta(void)
{
    run_multi("roberta_cls.json.gz", "cls", "reference/models/tiny-roberta");
}

static void test_distilbert(void)
{
    run_multi("distilbert.json.gz", "distilbert", "reference/models/tiny-distilbert");
}

/* ---------- LayerConductance on every encoder layer ---------- */
static void test_conductance(void)
{
    json_t *j = test_load_json(test_shared_path("reference/captum/conductance_pad.json"));
    Engine *e = engine_for("reference/models/tiny-bert");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    const json_t *params = json_object_get(j, "params");
    MethodSpec s;
    method_spec_default(&s, M_CONDUCTANCE);
    s.steps = (int)json_integer_value(json_object_get(params, "n_steps"));
    double eh = 0, es = 0, el = 0, ea = 0, ed = 0;
    const json_t *results = json_object_get(j, "results");
    for (size_t i = 0; i < json_array_size(results); i++) {
        const json_t *res = json_array_get(results, i), *layers = json_object_get(res, "layers");
        ExBuf b;
        exbuf_init(&b, res, (long)i);
        check_baselines(engine_model(e), &s, &b.ex, res);
        AttrResult r;
        if (run_all(e, &s, &b.ex, &r))
            continue;
        int T = r.T, D = r.D, L = r.L, NH = r.NH;
        CU_ASSERT_EQUAL(json_array_size(layers), (size_t)L);
        float *col = malloc(T * sizeof(float));
        for (int l = 0; l < L && l < (int)json_array_size(layers); l++) {
            const json_t *ly = json_array_get(layers, l);
            eh = fmax(eh, test_json_rel_err(r.cond_full + (size_t)l * T * D, (size_t)T * D,
                                            json_object_get(ly, "hidden"), 0));
            for (int t = 0; t < T; t++)
                col[t] = r.cond_sum[t * L + l];
            es = fmax(es, test_json_rel_err(col, T, json_object_get(ly, "hidden_sum"), 0));
            for (int t = 0; t < T; t++)
                col[t] = r.cond_l2[t * L + l];
            el = fmax(el, test_json_rel_err(col, T, json_object_get(ly, "hidden_l2"), 0));
            ea = fmax(ea, test_json_rel_err(r.cond_attn + (size_t)l * NH * T * T, (size_t)NH * T * T,
                              json_object_get(ly, "attention"), 0));
            ed = fmax(ed, test_json_rel_err(&r.cond_delta[l], 1, json_object_get(ly, "delta"),
                              fmax(fabs(r.f_input), fabs(r.f_baseline))));
        }
        free(col);
        attr_result_free(&r);
        exbuf_free(&b);
    }
    printf("  [conductance_pad.json] max rel err: hidden %.2e  hidden_sum %.2e  hidden_l2 %.2e  attention %.2e  delta %.2e\n",
           eh, es, el, ea, ed);
    CU_ASSERT(eh <= TOL);
    CU_ASSERT(es <= TOL);
    CU_ASSERT(el <= TOL);
    CU_ASSERT(ea <= TOL);
    CU_ASSERT(ed <= TOL);
    json_decref(j);
}

/* ---------- completeness ---------- */
/* IG with many Gauss-Legendre nodes: |Σattr − (F(x) − F(b))| must vanish up to fp32
 * noise; bound 1e-4 · max(|F(x)|, |F(b)|) (the float64 reference reaches 1e-10 at 50). */
static void test_ig_completeness(void)
{
    json_t *j = test_load_json(test_shared_path("reference/captum/ig_gausslegendre_50.json"));
    Engine *e = engine_for("reference/models/tiny-bert");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    const json_t *results = json_object_get(j, "results");
    int steps[2] = {50, 300};
    for (int si = 0; si < 2; si++) {
        double worst = 0;
        for (size_t i = 0; i < json_array_size(results); i++) {
            ExBuf b;
            exbuf_init(&b, json_array_get(results, i), (long)i);
            MethodSpec s;
            method_spec_default(&s, M_IG);
            s.steps = steps[si];
            AttrResult r;
            if (run_all(e, &s, &b.ex, &r) == 0) {
                worst = fmax(worst, fabs(r.delta[0]) / fmax(fabs(r.f_input), fabs(r.f_baseline)));
                attr_result_free(&r);
            }
            exbuf_free(&b);
        }
        printf("  IG completeness, Gauss-Legendre %d nodes: max |delta| / max|F| = %.2e\n", steps[si], worst);
        CU_ASSERT(worst <= 1e-4);
    }
    json_decref(j);
}

/* DeepLIFT completeness gaps of both rule sets on the reference texts (reported; the
 * captum rules leave a gap by construction, see deeplift_hf in the README). */
static void test_deeplift_gaps(void)
{
    json_t *j = test_load_json(test_shared_path("reference/captum/deeplift_hf.json"));
    Engine *e = engine_for("reference/models/tiny-bert");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    const json_t *results = json_object_get(j, "results");
    for (int rules = 0; rules < 2; rules++) {
        double worst = 0, worst_rel = 0;
        printf("  DeepLIFT %s rules, completeness gap per text:", rules == DL_RESCALE ? "rescale" : "captum");
        for (size_t i = 0; i < json_array_size(results); i++) {
            ExBuf b;
            exbuf_init(&b, json_array_get(results, i), (long)i);
            MethodSpec s;
            method_spec_default(&s, M_DEEPLIFT);
            s.dl_rules = rules;
            AttrResult r;
            if (run_all(e, &s, &b.ex, &r) == 0) {
                printf(" %.3g", r.delta[0]);
                worst = fmax(worst, fabs(r.delta[0]));
                worst_rel = fmax(worst_rel, fabs(r.delta[0]) / fabs(r.f_input - r.f_baseline));
                attr_result_free(&r);
            }
            exbuf_free(&b);
        }
        printf("\n    max |gap| %.3g, max |gap|/|F(x)-F(b)| %.3g\n", worst, worst_rel);
    }
    json_decref(j);
}

/* The rule sets are told apart by the references: Captum's result on real HF models
 * must match DL_CAPTUM (checked above) and not the full Rescale set (head + FFN). */
static double deeplift_rescale_err(const char *file, const char *key, const char *model)
{
    char rel[256];
    snprintf(rel, sizeof rel, "reference/captum/%s", file);
    json_t *j = test_load_json(test_shared_path(rel));
    Engine *e = engine_for(model);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    const json_t *list = json_object_get(j, key);
    double worst = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *res = json_array_get(list, i);
        const char *mname = json_string_value(json_object_get(res, "method"));
        if (mname && strcmp(mname, "deeplift"))
            continue;
        MethodSpec s;
        method_spec_default(&s, M_DEEPLIFT);
        s.dl_rules = DL_RESCALE;
        ExBuf b;
        exbuf_init(&b, res, (long)i);
        AttrResult r;
        if (run_all(e, &s, &b.ex, &r) == 0) {
            worst = fmax(worst, test_json_rel_err(r.full, (size_t)r.T * r.D, json_object_get(res, "attr"), 0));
            attr_result_free(&r);
        }
        exbuf_free(&b);
    }
    json_decref(j);
    return worst;
}

static void test_deeplift_rules_identified(void)
{
    double eb = deeplift_rescale_err("deeplift_hf.json", "results", "reference/models/tiny-bert");
    double er = deeplift_rescale_err("roberta_cls.json.gz", "cls", "reference/models/tiny-roberta");
    double ed = deeplift_rescale_err("distilbert.json.gz", "distilbert", "reference/models/tiny-distilbert");
    printf("  rescale rules (head + FFN) vs Captum's references: bert %.3g, roberta %.3g, distilbert %.3g"
           " (captum rules: <= 1.2e-6 above)\n", eb, er, ed);
    CU_ASSERT(eb > 100 * TOL);
    CU_ASSERT(er > 100 * TOL);
    CU_ASSERT(ed > 100 * TOL);
}

int main(void)
{
    test_require_shared("reference/captum/ig_gausslegendre_50.json");
    test_require_shared("reference/models/tiny-bert/model.safetensors");
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite su = CU_add_suite("methods_ref", NULL, NULL);
    CU_add_test(su, "ig gausslegendre 50", test_ig_gausslegendre);
    CU_add_test(su, "ig riemann trapezoid 20", test_ig_trapezoid);
    CU_add_test(su, "ig riemann left 16", test_ig_left);
    CU_add_test(su, "ig riemann right 16", test_ig_right);
    CU_add_test(su, "ig riemann middle 16", test_ig_middle);
    CU_add_test(su, "ig embeddings prob 30", test_ig_embeddings_prob);
    CU_add_test(su, "ig bf16 model", test_ig_bf16);
    CU_add_test(su, "deeplift (captum rules)", test_deeplift_hf);
    CU_add_test(su, "deepliftshap pad,mask,unk", test_deepliftshap);
    CU_add_test(su, "saliency", test_saliency);
    CU_add_test(su, "gradshap replay 50 draws", test_gradshap_draws);
    CU_add_test(su, "gradshap replay 8 draws with noise", test_gradshap_noise);
    CU_add_test(su, "roberta ig/deeplift/saliency", test_roberta);
    CU_add_test(su, "distilbert ig/deeplift/saliency", test_distilbert);
    CU_add_test(su, "conductance all layers", test_conductance);
    CU_add_test(su, "ig completeness", test_ig_completeness);
    CU_add_test(su, "deeplift completeness gaps", test_deeplift_gaps);
    CU_add_test(su, "deeplift rule sets told apart", test_deeplift_rules_identified);
    int rc = test_run_registry();
    for (int i = 0; i < 4; i++) {
        engine_free(MODELS[i].e);
        model_free(MODELS[i].m);
    }
    return rc;
}
