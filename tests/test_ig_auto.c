/* Adaptive IG (ig.steps: auto, engine/attr_ig_auto.c) on seeded random models (no reference data
 * needed):
 *  - the levels (16, 32, ... max_steps) and their item ranges; spec checks;
 *  - a level computed in any chunking is bit for bit the fixed rule `steps = n_l` (its exact sums);
 *    a chunk crossing two levels is refused;
 *  - ig_auto_decide's estimate equals max|a_l - a_(l-1)| / max|a_l| of the fixed rules' finalized
 *    attributions; it stops at the first level within tolerance, or at the last one (converged = 0);
 *  - ig_auto_finalize is method_finalize of the fixed rule, plus steps_used / rule_steps / converged;
 *  - honesty: every level's estimate bounds its true error against a 1024-node Gauss-Legendre rule,
 *    and the completeness gap of the reported result is within the tolerance's share of F(x) - F(b). */
#include "engine/attribution.h"
#include "engine/attr_internal.h"
#include "tests/testutil.h"
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T = 11 };
static Model *M;
static Engine *E;
static int IDS[T], SPECIAL[T];

static Example example(void)
{
    return test_example(3, T, IDS, SPECIAL);
}

static MethodSpec auto_spec(int max_steps, double tol)
{
    MethodSpec s;
    method_spec_default(&s, M_IG);
    s.steps = IG_STEPS_AUTO;
    s.max_steps = max_steps;
    s.tolerance = tol;
    return s;
}

static void test_levels(void)
{
    int n[IG_AUTO_MAX_LEVELS], off[IG_AUTO_MAX_LEVELS];
    MethodSpec s = auto_spec(512, 1e-4);
    int L = ig_auto_levels(&s, n, off);
    CU_ASSERT_EQUAL_FATAL(L, 6);
    int want_n[6] = {16, 32, 64, 128, 256, 512}, want_off[6] = {0, 16, 48, 112, 240, 496};
    for (int l = 0; l < 6; l++) {
        CU_ASSERT_EQUAL(n[l], want_n[l]);
        CU_ASSERT_EQUAL(off[l], want_off[l]);
    }
    CU_ASSERT_EQUAL(method_items(&s), 1008);
    CU_ASSERT_EQUAL(ig_auto_level_of(&s, 0), 0);
    CU_ASSERT_EQUAL(ig_auto_level_of(&s, 15), 0);
    CU_ASSERT_EQUAL(ig_auto_level_of(&s, 16), 1);
    CU_ASSERT_EQUAL(ig_auto_level_of(&s, 1007), 5);
    CU_ASSERT_EQUAL(ig_auto_level_of(&s, 1008), -1);
    int lo, hi;
    method_segment(&s, 50, &lo, &hi);
    CU_ASSERT(lo == 48 && hi == 112);
    s.max_steps = 100; /* the last level is max_steps itself */
    L = ig_auto_levels(&s, n, off);
    CU_ASSERT(L == 4 && n[3] == 100 && off[3] == 112);
    s.max_steps = 17;
    L = ig_auto_levels(&s, n, off);
    CU_ASSERT(L == 2 && n[1] == 17);
    /* a fixed spec: one segment */
    MethodSpec f;
    method_spec_default(&f, M_IG);
    method_segment(&f, 7, &lo, &hi);
    CU_ASSERT(lo == 0 && hi == 50);
}

static void test_spec_check(void)
{
    const char *err = NULL;
    MethodSpec s = auto_spec(512, 1e-4);
    CU_ASSERT_EQUAL(method_spec_check(&s, &err), 0);
    s.rule = RULE_RIEMANN_LEFT;
    CU_ASSERT_EQUAL(method_spec_check(&s, &err), -1);
    s = auto_spec(512, 1e-7); /* below float32 noise */
    CU_ASSERT_EQUAL(method_spec_check(&s, &err), -1);
    s = auto_spec(512, 1e-6);
    CU_ASSERT_EQUAL(method_spec_check(&s, &err), 0);
    s = auto_spec(16, 1e-4); /* one level only: nothing to compare */
    CU_ASSERT_EQUAL(method_spec_check(&s, &err), -1);
    MethodSpec g;
    method_spec_default(&g, M_SMOOTHGRAD);
    g.smooth_base = M_IG;
    g.steps = IG_STEPS_AUTO;
    CU_ASSERT_EQUAL(method_spec_check(&g, &err), -1);
    method_spec_default(&g, M_CONDUCTANCE);
    g.steps = IG_STEPS_AUTO;
    CU_ASSERT_EQUAL(method_spec_check(&g, &err), -1);
}

/* Level l of s computed in chunks of `chunk` items (merged last-first), as one partial. */
static Partial *level_partial(const MethodSpec *s, int l, int chunk)
{
    int n[IG_AUTO_MAX_LEVELS], off[IG_AUTO_MAX_LEVELS];
    ig_auto_levels(s, n, off);
    Example ex = example();
    Partial *all = partial_new(s, M, T);
    const char *err = NULL;
    int i1 = off[l] + n[l], ok = all != NULL;
    for (int i = i1; ok && i > off[l];) { /* last chunk first */
        int a = off[l] + (i - off[l] - 1) / chunk * chunk;
        Partial *p = partial_new(s, M, T);
        ok = p && method_run_chunk(E, s, &ex, a, i, p, &err) == 0 && partial_merge(all, p) == 0;
        if (!ok)
            printf("    level %d chunk [%d, %d): %s\n", l, a, i, err ? err : "merge");
        partial_free(p);
        i = a;
    }
    if (!ok) {
        partial_free(all);
        return NULL;
    }
    return all;
}

static Partial *fixed_partial(int steps)
{
    MethodSpec f;
    method_spec_default(&f, M_IG);
    f.steps = steps;
    Example ex = example();
    const char *err = NULL;
    Partial *p = partial_new(&f, M, T);
    if (!p || method_run_chunk(E, &f, &ex, 0, steps, p, &err)) {
        printf("    fixed %d: %s\n", steps, err ? err : "?");
        partial_free(p);
        return NULL;
    }
    return p;
}

static void test_level_is_fixed_rule(void)
{
    MethodSpec s = auto_spec(128, 1e-4);
    int n[IG_AUTO_MAX_LEVELS], off[IG_AUTO_MAX_LEVELS];
    int L = ig_auto_levels(&s, n, off);
    for (int l = 0; l < L; l++) {
        Partial *fx = fixed_partial(n[l]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(fx);
        int chunks[3] = {n[l], 5, 1};
        for (int c = 0; c < 3; c++) {
            Partial *p = level_partial(&s, l, chunks[c]);
            CU_ASSERT_PTR_NOT_NULL_FATAL(p);
            CU_ASSERT(!memcmp(p->acc, fx->acc, sizeof(__int128) * T * M->cfg.D));
            partial_free(p);
        }
        partial_free(fx);
    }
    /* a chunk across levels 0 and 1 */
    Example ex = example();
    Partial *p = partial_new(&s, M, T);
    const char *err = NULL;
    CU_ASSERT_EQUAL(method_run_chunk(E, &s, &ex, 10, 20, p, &err), -1);
    partial_free(p);
}

/* max|a - b| / max|a| of two finalized results, over (T, D) */
static double rel_diff(const AttrResult *a, const AttrResult *b)
{
    double d = 0, m = 0;
    for (int i = 0; i < a->T * a->D; i++) {
        d = fmax(d, fabs((double)a->full[i] - b->full[i]));
        m = fmax(m, fabs((double)a->full[i]));
    }
    return d / m;
}

static int finalize_fixed(int steps, AttrResult *r)
{
    MethodSpec f;
    method_spec_default(&f, M_IG);
    f.steps = steps;
    Example ex = example();
    Partial *p = fixed_partial(steps);
    const char *err = NULL;
    int rc = p ? method_finalize(E, &f, &ex, p, r, &err) : -1;
    partial_free(p);
    return rc;
}

static void test_decide_and_finalize(void)
{
    MethodSpec s = auto_spec(128, 1.0);
    int n[IG_AUTO_MAX_LEVELS], off[IG_AUTO_MAX_LEVELS];
    int L = ig_auto_levels(&s, n, off);
    Partial *lv[IG_AUTO_MAX_LEVELS] = {0};
    for (int l = 0; l < L; l++) {
        lv[l] = level_partial(&s, l, 7);
        CU_ASSERT_PTR_NOT_NULL_FATAL(lv[l]);
    }
    AttrResult fx[IG_AUTO_MAX_LEVELS];
    for (int l = 0; l < L; l++)
        CU_ASSERT_EQUAL_FATAL(finalize_fixed(n[l], &fx[l]), 0);
    Example ex = example();
    const char *err = NULL;
    int level = -1;
    double est[IG_AUTO_MAX_LEVELS];
    /* fewer than two levels: the next one is needed */
    CU_ASSERT_EQUAL(ig_auto_decide(M, &s, &ex, lv, 0, &level, est, &err), 1);
    CU_ASSERT_EQUAL(ig_auto_decide(M, &s, &ex, lv, 1, &level, est, &err), 1);
    /* tolerance 1: finished at level 1; the estimate is that of the finalized rules */
    CU_ASSERT_EQUAL(ig_auto_decide(M, &s, &ex, lv, 2, &level, est, &err), 0);
    CU_ASSERT_EQUAL(level, 1);
    double want = rel_diff(&fx[1], &fx[0]);
    CU_ASSERT(fabs(est[1] - want) <= 1e-5 * want + 1e-9);
    /* the tightest tolerance: the first level within it, else the last, not converged */
    s.tolerance = IG_AUTO_MIN_TOLERANCE;
    int rc = ig_auto_decide(M, &s, &ex, lv, L, &level, est, &err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    int first = L - 1;
    for (int l = 1; l < L; l++) {
        double e = rel_diff(&fx[l], &fx[l - 1]);
        CU_ASSERT(fabs(est[l] - e) <= 1e-4 * e + 1e-7);
        if (est[l] <= s.tolerance) {
            first = l;
            break;
        }
    }
    CU_ASSERT_EQUAL(level, first);
    printf("\n    random model: levels %d..%d, estimates", n[0], n[L - 1]);
    for (int l = 1; l <= level; l++)
        printf(" %.2e", est[l]);
    printf(", finished at %d nodes\n", n[level]);
    /* a spec whose tolerance cannot be met before the last level */
    if (level < L - 1) {
        CU_ASSERT_EQUAL(ig_auto_decide(M, &s, &ex, lv, level, &level, est, &err), 1);
    }
    AttrResult r;
    rc = ig_auto_finalize(E, &s, &ex, lv, level, est[level], &r, &err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT(!memcmp(r.full, fx[level].full, sizeof(float) * T * M->cfg.D));
    CU_ASSERT(!memcmp(r.token_sum, fx[level].token_sum, sizeof(float) * T));
    CU_ASSERT(r.delta[0] == fx[level].delta[0] && r.f_input == fx[level].f_input);
    CU_ASSERT_EQUAL(r.steps_used, off[level] + n[level]);
    CU_ASSERT_EQUAL(r.rule_steps, n[level]);
    CU_ASSERT_EQUAL(r.converged, est[level] <= s.tolerance);
    CU_ASSERT(r.error_estimate == (float)est[level]);
    attr_result_free(&r);
    /* level 0 cannot be reported (no estimate) */
    CU_ASSERT_EQUAL(ig_auto_finalize(E, &s, &ex, lv, 0, 0.0, &r, &err), -1);
    for (int l = 0; l < L; l++) {
        attr_result_free(&fx[l]);
        partial_free(lv[l]);
    }
}

/* The estimate of level l is the coarser rule's error: it must bound level l's own error, measured
 * against a much finer rule (the integrand is analytic: GELU, tanh, softmax). */
static void test_estimate_bounds_error(void)
{
    MethodSpec s = auto_spec(256, IG_AUTO_MIN_TOLERANCE);
    int n[IG_AUTO_MAX_LEVELS], off[IG_AUTO_MAX_LEVELS];
    int L = ig_auto_levels(&s, n, off);
    AttrResult ref, fx[IG_AUTO_MAX_LEVELS];
    CU_ASSERT_EQUAL_FATAL(finalize_fixed(1024, &ref), 0);
    for (int l = 0; l < L; l++)
        CU_ASSERT_EQUAL_FATAL(finalize_fixed(n[l], &fx[l]), 0);
    double fgap = fabs((double)ref.f_input - ref.f_baseline);
    for (int l = 1; l < L; l++) {
        double est = rel_diff(&fx[l], &fx[l - 1]), err = rel_diff(&ref, &fx[l]);
        printf("    level %d (%d nodes): estimate %.2e, error vs 1024 nodes %.2e, |delta| / |F(x)-F(b)| %.2e\n", l,
               n[l], est, err, fabs(fx[l].delta[0]) / fgap);
        CU_ASSERT(err <= fmax(est, 1e-6)); /* 1e-6: the float32 gradients' own rounding */
    }
    for (int l = 0; l < L; l++)
        attr_result_free(&fx[l]);
    attr_result_free(&ref);
}

int main(void)
{
    /* weights of scale 1: a path along which F bends (with 0.3 the rules agree at once) */
    M = test_random_classifier(ARCH_BERT, 77, 1.0f);
    if (!M)
        return 2;
    E = engine_create(M);
    test_fill_ids(IDS, T);
    for (int t = 0; t < T; t++)
        SPECIAL[t] = t == 0 || t == T - 1;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite su = CU_add_suite("ig_auto", NULL, NULL);
    CU_add_test(su, "levels and segments", test_levels);
    CU_add_test(su, "spec checks", test_spec_check);
    CU_add_test(su, "a level is the fixed rule, in any chunking", test_level_is_fixed_rule);
    CU_add_test(su, "decide and finalize", test_decide_and_finalize);
    CU_add_test(su, "the estimate bounds the error", test_estimate_bounds_error);
    int rc = test_run_registry();
    engine_free(E);
    model_free(M);
    return rc;
}
