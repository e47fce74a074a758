/* Chunking invariance and relations between methods, on seeded random models (no
 * reference data needed):
 *  - method_run_chunk over any split of the items (chunks of 1, 3, 7, all at once),
 *    partials merged in reverse order and through pack/unpack, gives bit-identical
 *    finalized results (memcmp of every AttrResult array), for every method;
 *  - SmoothGrad with stdevs 0 is |Saliency|; over IG it is IG; Input×Gradient is
 *    x ⊙ Saliency; Gradient SHAP converges to IG as samples grow. */
#include "engine/attribution.h"
#include "engine/attr_internal.h"
#include "tests/testutil.h"
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T = 11, TLONG = 40 };
static int TT = T; /* tokens of the example in use */
static Model *M_BERT, *M_ROBERTA;
static Engine *E_BERT, *E_ROBERTA;
static int IDS[TLONG], SPECIAL[TLONG];

static Example example(void)
{
    return test_example(17, TT, IDS, SPECIAL);
}

static double rel(const float *a, const float *b, size_t n)
{
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return e / m;
}

static int run_chunked(Engine *e, const MethodSpec *s, const Example *ex, int chunk, AttrResult *r)
{
    const Model *m = engine_model(e);
    int n = method_items(s), rc = 0;
    Partial *all = partial_new(s, m, ex->T);
    /* chunks computed in order, merged last-first, every other one through pack/unpack */
    int nchunks = (n + chunk - 1) / chunk;
    Partial **ps = calloc(nchunks, sizeof *ps);
    const char *err = NULL;
    for (int c = 0; c < nchunks && !rc; c++) {
        ps[c] = partial_new(s, m, ex->T);
        int i1 = (c + 1) * chunk < n ? (c + 1) * chunk : n;
        rc = method_run_chunk(e, s, ex, c * chunk, i1, ps[c], &err);
    }
    for (int c = nchunks - 1; c >= 0 && !rc; c--) {
        if (c % 2) {
            size_t nb = partial_bytes(ps[c]);
            void *buf = malloc(nb);
            partial_pack(ps[c], buf);
            Partial *u = partial_unpack(buf, nb);
            free(buf);
            rc = !u || partial_merge(all, u);
            partial_free(u);
        } else {
            rc = partial_merge(all, ps[c]);
        }
    }
    if (!rc)
        rc = method_finalize(e, s, ex, all, r, &err);
    if (rc)
        printf("    %s chunk %d failed: %s\n", method_name(s->kind), chunk, err ? err : "merge");
    for (int c = 0; c < nchunks; c++)
        partial_free(ps[c]);
    free(ps);
    partial_free(all);
    return rc;
}

static int same_f(const float *a, const float *b, size_t n)
{
    if (!a || !b)
        return a == b;
    return !memcmp(a, b, n * sizeof(float));
}

static int results_identical(const AttrResult *a, const AttrResult *b)
{
    size_t TD = (size_t)a->T * a->D;
    int ok = a->T == b->T && a->D == b->D && a->n_delta == b->n_delta && a->L == b->L && a->NH == b->NH;
    ok = ok && same_f(a->full, b->full, TD) && same_f(a->token_sum, b->token_sum, a->T) &&
         same_f(a->token_l2, b->token_l2, a->T) && same_f(a->delta, b->delta, a->n_delta) &&
         a->f_input == b->f_input && a->f_baseline == b->f_baseline;
    if (ok && a->L)
        ok = same_f(a->cond_full, b->cond_full, (size_t)a->L * TD) &&
             same_f(a->cond_sum, b->cond_sum, (size_t)a->L * a->T) &&
             same_f(a->cond_l2, b->cond_l2, (size_t)a->L * a->T) &&
             same_f(a->cond_attn, b->cond_attn, (size_t)a->L * a->NH * a->T * a->T) &&
             same_f(a->cond_delta, b->cond_delta, a->L);
    return ok;
}

static void check_chunking(Engine *e, const MethodSpec *s, const char *tag)
{
    Example ex = example();
    AttrResult ref;
    int n = method_items(s);
    CU_ASSERT_EQUAL_FATAL(run_chunked(e, s, &ex, n, &ref), 0);
    int chunks[3] = {1, 3, 7};
    int ok_all = 1;
    for (int c = 0; c < 3; c++) {
        AttrResult r;
        CU_ASSERT_EQUAL_FATAL(run_chunked(e, s, &ex, chunks[c], &r), 0);
        int ok = results_identical(&ref, &r);
        CU_ASSERT(ok);
        ok_all &= ok;
        attr_result_free(&r);
    }
    /* and the result is not trivially zero */
    double mx = 0;
    const float *v = ref.full ? ref.full : ref.cond_full;
    size_t cnt = ref.full ? (size_t)ref.T * ref.D : (size_t)ref.L * ref.T * ref.D;
    for (size_t i = 0; i < cnt; i++)
        mx = fmax(mx, fabs(v[i]));
    CU_ASSERT(mx > 1e-6);
    printf("  %-28s %3d items: chunks 1/3/7/all %s (max |attr| %.3g)\n", tag, n,
           ok_all ? "bit-identical" : "DIFFER", mx);
    attr_result_free(&ref);
}

static void test_chunking_all_methods(void)
{
    MethodSpec s;
    method_spec_default(&s, M_IG);
    s.steps = 13;
    check_chunking(E_BERT, &s, "ig gausslegendre");
    s.rule = RULE_RIEMANN_TRAPEZOID;
    check_chunking(E_BERT, &s, "ig riemann_trapezoid");
    s.layer = AT_EMBEDDINGS;
    s.output = OUT_PROB;
    check_chunking(E_ROBERTA, &s, "ig embeddings prob roberta");
    method_spec_default(&s, M_GRADSHAP);
    s.samples = 11;
    s.stdevs = 0.05;
    s.seed = 9;
    s.nbaselines = 2;
    s.baselines[1] = BASE_MASK;
    check_chunking(E_BERT, &s, "gradshap");
    method_spec_default(&s, M_DEEPLIFT);
    check_chunking(E_BERT, &s, "deeplift rescale");
    method_spec_default(&s, M_DEEPLIFTSHAP);
    s.nbaselines = 4;
    s.baselines[1] = BASE_MASK;
    s.baselines[2] = BASE_UNK;
    s.baselines[3] = BASE_ZERO;
    s.dl_rules = DL_CAPTUM;
    check_chunking(E_ROBERTA, &s, "deepliftshap captum roberta");
    method_spec_default(&s, M_SALIENCY);
    check_chunking(E_BERT, &s, "saliency");
    method_spec_default(&s, M_INPUTXGRAD);
    check_chunking(E_BERT, &s, "inputxgrad");
    method_spec_default(&s, M_SMOOTHGRAD);
    s.samples = 9;
    s.stdevs = 0.1;
    check_chunking(E_BERT, &s, "smoothgrad saliency");
    s.smooth_base = M_IG;
    s.samples = 3;
    s.steps = 4;
    check_chunking(E_BERT, &s, "smoothgrad ig");
    method_spec_default(&s, M_CONDUCTANCE);
    s.steps = 10;
    check_chunking(E_BERT, &s, "conductance");
    s.nbaselines = 1;
    s.baselines[0] = BASE_PAD_ALL;
    check_chunking(E_ROBERTA, &s, "conductance pad_all roberta");

    /* a longer example: blocks are 1024/40 = 25 rows, so chunks straddle blocks */
    TT = TLONG;
    method_spec_default(&s, M_IG);
    s.steps = 60;
    CU_ASSERT(method_item_block(&s, M_BERT, TT) == 25);
    check_chunking(E_BERT, &s, "ig, T=40, 3 blocks");
    method_spec_default(&s, M_GRADSHAP);
    s.samples = 60;
    s.stdevs = 0.02;
    s.nbaselines = 2;
    s.baselines[1] = BASE_UNK;
    check_chunking(E_BERT, &s, "gradshap, T=40");
    method_spec_default(&s, M_SMOOTHGRAD);
    s.smooth_base = M_IG;
    s.samples = 5;
    s.steps = 12;
    s.stdevs = 0.05;
    check_chunking(E_BERT, &s, "smoothgrad ig, T=40");
    method_spec_default(&s, M_CONDUCTANCE);
    s.steps = 60;
    check_chunking(E_BERT, &s, "conductance, T=40, 3 blocks");
    TT = T;
}

static int run(Engine *e, const MethodSpec *s, AttrResult *r)
{
    Example ex = example();
    return run_chunked(e, s, &ex, method_items(s), r);
}


static void test_relations(void)
{
    MethodSpec s;
    AttrResult sal, sg, ixg, ig, sgig;
    size_t TD = (size_t)T * M_BERT->cfg.D;
    method_spec_default(&s, M_SALIENCY);
    CU_ASSERT_EQUAL_FATAL(run(E_BERT, &s, &sal), 0);
    method_spec_default(&s, M_SMOOTHGRAD);
    s.stdevs = 0;
    CU_ASSERT_EQUAL_FATAL(run(E_BERT, &s, &sg), 0);
    /* the S noiseless rows are one batch: the rows' last bits differ from a lone row's */
    float *absg = malloc(TD * sizeof(float));
    for (size_t i = 0; i < TD; i++)
        absg[i] = fabsf(sal.full[i]);
    double e0 = rel(sg.full, absg, TD), e0s = rel(sg.token_sum, sal.token_sum, T);
    printf("  smoothgrad(saliency, stdevs 0) vs |saliency|: %.2e, token sums %.2e\n", e0, e0s);
    CU_ASSERT(e0 <= 1e-6);
    CU_ASSERT(e0s <= 1e-6);
    free(absg);
    /* Input×Gradient = x ⊙ g */
    method_spec_default(&s, M_INPUTXGRAD);
    CU_ASSERT_EQUAL_FATAL(run(E_BERT, &s, &ixg), 0);
    float *x = malloc(TD * sizeof(float)), *xg = malloc(TD * sizeof(float));
    int pos[T];
    engine_position_ids(M_BERT, IDS, T, pos);
    engine_layer_values(M_BERT, AT_WORD_EMB, IDS, pos, NULL, T, x);
    for (size_t i = 0; i < TD; i++)
        xg[i] = (float)((double)x[i] * sal.full[i]);
    CU_ASSERT(same_f(xg, ixg.full, TD));
    /* SmoothGrad over IG with no noise is IG; its per-sample deltas are IG's delta */
    method_spec_default(&s, M_IG);
    s.steps = 8;
    CU_ASSERT_EQUAL_FATAL(run(E_BERT, &s, &ig), 0);
    method_spec_default(&s, M_SMOOTHGRAD);
    s.smooth_base = M_IG;
    s.stdevs = 0;
    s.samples = 2;
    s.steps = 8;
    CU_ASSERT_EQUAL_FATAL(run(E_BERT, &s, &sgig), 0);
    double e1 = rel(sgig.full, ig.full, TD);
    printf("  smoothgrad(ig, stdevs 0) vs ig: %.2e; deltas %.3g %.3g vs %.3g\n", e1, sgig.delta[0],
           sgig.delta[1], ig.delta[0]);
    CU_ASSERT(e1 <= 1e-6);
    CU_ASSERT(fabs(sgig.delta[0] - ig.delta[0]) <= 1e-5 * fmax(1, fabs(ig.f_input)));
    AttrResult *rs[] = {&sal, &sg, &ixg, &ig, &sgig};
    for (size_t i = 0; i < sizeof rs / sizeof *rs; i++)
        attr_result_free(rs[i]);
    free(x);
    free(xg);
}

/* Gradient SHAP with one baseline and no noise is a Monte Carlo estimate of IG:
 * E_α[(x−b)∇F(b+α(x−b))] = IG. The error shrinks like 1/√samples; with 4096 samples
 * the bound 3% of max|IG| is several standard errors wide on this model (the measured
 * errors are printed). */
static void test_gradshap_converges_to_ig(void)
{
    MethodSpec s;
    AttrResult ig;
    method_spec_default(&s, M_IG);
    s.steps = 64;
    CU_ASSERT_EQUAL_FATAL(run(E_BERT, &s, &ig), 0);
    size_t TD = (size_t)T * M_BERT->cfg.D;
    int ns[3] = {64, 512, 4096};
    double errs[3];
    for (int i = 0; i < 3; i++) {
        AttrResult gs;
        method_spec_default(&s, M_GRADSHAP);
        s.samples = ns[i];
        s.seed = 1234;
        CU_ASSERT_EQUAL_FATAL(run(E_BERT, &s, &gs), 0);
        errs[i] = rel(gs.full, ig.full, TD);
        attr_result_free(&gs);
    }
    printf("  gradshap vs ig (max|diff|/max|ig|): 64 samples %.3g, 512 %.3g, 4096 %.3g\n", errs[0], errs[1],
           errs[2]);
    CU_ASSERT(errs[2] <= 0.03);
    CU_ASSERT(errs[2] < errs[0]);
    attr_result_free(&ig);
}

/* Bad inputs give errors, never crashes. */
static void test_errors(void)
{
    MethodSpec s;
    method_spec_default(&s, M_IG);
    s.steps = 4;
    Example ex = example();
    const char *err = NULL;
    Partial *p = partial_new(&s, M_BERT, T);
    CU_ASSERT_EQUAL(method_run_chunk(E_BERT, &s, &ex, 2, 6, p, &err), -1); /* past the items */
    CU_ASSERT_EQUAL(method_run_chunk(E_BERT, &s, &ex, 0, 2, p, &err), 0);
    CU_ASSERT_EQUAL(method_run_chunk(E_BERT, &s, &ex, 1, 3, p, &err), -1); /* item 1 twice */
    AttrResult r;
    err = NULL;
    CU_ASSERT_EQUAL(method_finalize(E_BERT, &s, &ex, p, &r, &err), -1); /* incomplete */
    CU_ASSERT_PTR_NOT_NULL(err);
    partial_free(p);
    /* a token id out of the vocabulary */
    int bad[T];
    memcpy(bad, IDS, sizeof bad);
    bad[3] = 100000;
    ex.ids = bad;
    p = partial_new(&s, M_BERT, T);
    err = NULL;
    CU_ASSERT_EQUAL(method_run_chunk(E_BERT, &s, &ex, 0, 4, p, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(err);
    if (err)
        printf("  bad id: %s\n", err);
    partial_free(p);
    /* pad baseline without special flags */
    ex = example();
    ex.special = NULL;
    p = partial_new(&s, M_BERT, T);
    err = NULL;
    CU_ASSERT_EQUAL(method_run_chunk(E_BERT, &s, &ex, 0, 4, p, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(err);
    partial_free(p);
    /* partial of another example length */
    ex = example();
    p = partial_new(&s, M_BERT, T - 1);
    CU_ASSERT_EQUAL(method_run_chunk(E_BERT, &s, &ex, 0, 4, p, &err), -1);
    partial_free(p);
    /* baselines: pad keeps specials, pad_all replaces everything, zero fills nothing */
    int out[T];
    CU_ASSERT_EQUAL(baseline_ids(M_BERT, BASE_PAD, &ex, out), 1);
    CU_ASSERT(out[0] == IDS[0] && out[T - 1] == IDS[T - 1] && out[1] == 0);
    CU_ASSERT_EQUAL(baseline_ids(M_BERT, BASE_MASK, &ex, out), 1);
    CU_ASSERT(out[2] == 5 && out[0] == IDS[0]);
    CU_ASSERT_EQUAL(baseline_ids(M_BERT, BASE_UNK, &ex, out), 1);
    CU_ASSERT(out[2] == 6);
    CU_ASSERT_EQUAL(baseline_ids(M_BERT, BASE_PAD_ALL, &ex, out), 1);
    CU_ASSERT(out[0] == 0 && out[T - 1] == 0);
    CU_ASSERT_EQUAL(baseline_ids(M_BERT, BASE_ZERO, &ex, out), 0);
    ex.mask_id = 1000; /* outside the vocabulary */
    CU_ASSERT_EQUAL(baseline_ids(M_BERT, BASE_MASK, &ex, out), -1);
}

/* DeepLIFT rule sets: captum hooks only BERT's nn.Tanh pooler (GELU FFN), RoBERTa
 * nothing; rescale = head + FFN activations. */
static void test_deeplift_sites(void)
{
    CU_ASSERT_EQUAL(deeplift_rescale_sites(M_BERT, DL_RESCALE), RESCALE_HEAD_ACT | RESCALE_FFN_ACT);
    CU_ASSERT_EQUAL(deeplift_rescale_sites(M_BERT, DL_CAPTUM), RESCALE_HEAD_ACT);
    CU_ASSERT_EQUAL(deeplift_rescale_sites(M_ROBERTA, DL_CAPTUM), 0u);
    Model relu = *M_BERT;
    relu.cfg.act = ACT_RELU;
    CU_ASSERT_EQUAL(deeplift_rescale_sites(&relu, DL_CAPTUM), RESCALE_HEAD_ACT | RESCALE_FFN_ACT);
    relu.cfg.arch = ARCH_DISTILBERT;
    relu.cfg.head_act = ACT_RELU;
    CU_ASSERT_EQUAL(deeplift_rescale_sites(&relu, DL_CAPTUM), RESCALE_FFN_ACT);
    relu.cfg.head = HEAD_MLM;
    relu.cfg.head_act = ACT_GELU;
    CU_ASSERT_EQUAL(deeplift_rescale_sites(&relu, DL_CAPTUM), RESCALE_FFN_ACT);
}

int main(void)
{
    M_BERT = test_random_classifier(ARCH_BERT, 101, 0.3f);
    M_ROBERTA = test_random_classifier(ARCH_ROBERTA, 202, 0.3f);
    if (!M_BERT || !M_ROBERTA)
        return 2;
    E_BERT = engine_create(M_BERT);
    E_ROBERTA = engine_create(M_ROBERTA);
    /* [CLS] w w ... [SEP] */
    test_fill_ids(IDS, TLONG);
    for (int t = 0; t < TLONG; t++)
        SPECIAL[t] = t == 0 || t == T - 1 || t == TLONG - 1;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite su = CU_add_suite("methods_chunk", NULL, NULL);
    CU_add_test(su, "chunking is bit-identical for every method", test_chunking_all_methods);
    CU_add_test(su, "smoothgrad / inputxgrad relations", test_relations);
    CU_add_test(su, "gradshap converges to ig", test_gradshap_converges_to_ig);
    CU_add_test(su, "errors", test_errors);
    CU_add_test(su, "deeplift rule sites", test_deeplift_sites);
    int rc = test_run_registry();
    engine_free(E_BERT);
    engine_free(E_ROBERTA);
    model_free(M_BERT);
    model_free(M_ROBERTA);
    return rc;
}
