/* Pieces of the attribution methods that need no model: spec names and defaults,
 * integration nodes, exact fixed-point partials (merge, pack, overflow), and the
 * Philox random streams. */
#include "engine/attribution.h"
#include "engine/attr_internal.h"
#include "tests/testutil.h"
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_names(void)
{
    for (int k = 0; k < M_NUM_METHODS; k++)
        CU_ASSERT_EQUAL(method_from_name(method_name(k)), k);
    CU_ASSERT_STRING_EQUAL(method_name(M_IG), "ig");
    CU_ASSERT_STRING_EQUAL(method_name(M_CONDUCTANCE), "conductance");
    CU_ASSERT_EQUAL(method_from_name("deepliftshap"), M_DEEPLIFTSHAP);
    CU_ASSERT_EQUAL(method_from_name("IG"), -1);
    CU_ASSERT_EQUAL(method_from_name(NULL), -1);
    for (int r = 0; r <= RULE_RIEMANN_TRAPEZOID; r++)
        CU_ASSERT_EQUAL(rule_from_name(rule_name(r)), r);
    CU_ASSERT_EQUAL(rule_from_name("riemann_trapezoid"), RULE_RIEMANN_TRAPEZOID);
    CU_ASSERT_EQUAL(rule_from_name("simpson"), -1);
    for (int b = 0; b <= BASE_ZERO; b++)
        CU_ASSERT_EQUAL(baseline_from_name(baseline_name(b)), b);
    CU_ASSERT_EQUAL(baseline_from_name("pad_all"), BASE_PAD_ALL);
    CU_ASSERT_EQUAL(baseline_from_name("blank"), -1);
}

/* The method table: one entry per kind, and the properties Captum's definitions fix (which
 * methods have which deltas, run input/baseline pairs, work on the model cut at the layer). */
static void test_method_table(void)
{
    CU_ASSERT_PTR_NULL(method_ops(M_NUM_METHODS));
    CU_ASSERT_PTR_NULL(method_ops((MethodKind)-1));
    for (int k = 0; k < M_NUM_METHODS; k++) {
        const MethodOps *o = method_ops(k);
        CU_ASSERT_PTR_NOT_NULL_FATAL(o);
        CU_ASSERT_EQUAL(o->kind, k);
        CU_ASSERT_STRING_EQUAL(o->name, method_name(k));
        CU_ASSERT(o->shape && o->row_floats && o->block && o->finalize);
        CU_ASSERT(o->rows_per_item == ((k == M_DEEPLIFT || k == M_DEEPLIFTSHAP) ? 2 : 1));
        CU_ASSERT_EQUAL(o->cuts_at_layer, k == M_GRADSHAP || k == M_SMOOTHGRAD || k == M_CONDUCTANCE);
        CU_ASSERT_EQUAL(o->per_layer, k == M_CONDUCTANCE);
        CU_ASSERT_EQUAL(o->score_l2, k == M_SALIENCY);
        MethodSpec s;
        method_spec_default(&s, k);
        s.nbaselines = 3;
        s.samples = 6;
        s.steps = 5;
        MethodShape sh;
        method_shape(&s, &sh);
        CU_ASSERT_EQUAL(sh.items, method_items(&s));
        CU_ASSERT_EQUAL(sh.nodes, sh.items + (k == M_CONDUCTANCE)); /* n_steps + 1 nodes, n intervals */
        int all = k == M_GRADSHAP || k == M_DEEPLIFTSHAP, none = k == M_SALIENCY || k == M_INPUTXGRAD ||
                                                               k == M_SMOOTHGRAD; /* over saliency */
        CU_ASSERT_EQUAL(sh.baselines, all ? 3 : none ? 0 : 1);
        int deltas = k == M_IG || k == M_DEEPLIFT ? 1 : k == M_GRADSHAP ? 6 : k == M_DEEPLIFTSHAP ? 3 : 0;
        CU_ASSERT_EQUAL(sh.deltas, deltas);
        CU_ASSERT_EQUAL(sh.uses_steps, k == M_IG || k == M_CONDUCTANCE);
        CU_ASSERT_EQUAL(sh.uses_samples, k == M_GRADSHAP || k == M_SMOOTHGRAD);
    }
    /* SmoothGrad over IG: (sample, node) items, one delta per sample, the first baseline */
    MethodSpec s;
    MethodShape sh;
    method_spec_default(&s, M_SMOOTHGRAD);
    s.smooth_base = M_IG;
    s.samples = 4;
    s.steps = 3;
    method_shape(&s, &sh);
    CU_ASSERT(sh.items == 12 && sh.nodes == 12 && sh.baselines == 1 && sh.deltas == 4 && sh.uses_steps);
    /* an unchecked spec must not overflow the item count */
    s.samples = 1000000;
    s.steps = 100000;
    method_shape(&s, &sh);
    CU_ASSERT(sh.items > 0);
    CU_ASSERT_EQUAL(method_spec_check(&s, NULL), -1);
    s.kind = M_NUM_METHODS;
    method_shape(&s, &sh);
    CU_ASSERT_EQUAL(sh.items, 0);
}

static void test_defaults_and_items(void)
{
    MethodSpec s;
    const char *err = NULL;
    method_spec_default(&s, M_IG);
    CU_ASSERT_EQUAL(s.steps, 50);
    CU_ASSERT_EQUAL(s.rule, RULE_GAUSSLEGENDRE);
    CU_ASSERT_EQUAL(s.layer, AT_WORD_EMB);
    CU_ASSERT_EQUAL(s.output, OUT_LOGIT);
    CU_ASSERT_EQUAL(s.nbaselines, 1);
    CU_ASSERT_EQUAL(s.baselines[0], BASE_PAD);
    CU_ASSERT_EQUAL(method_items(&s), 50);
    CU_ASSERT_EQUAL(method_spec_check(&s, &err), 0);
    method_spec_default(&s, M_GRADSHAP);
    CU_ASSERT_EQUAL(s.samples, 20);
    CU_ASSERT_EQUAL(method_items(&s), 20);
    method_spec_default(&s, M_DEEPLIFTSHAP);
    s.nbaselines = 3;
    CU_ASSERT_EQUAL(method_items(&s), 3);
    method_spec_default(&s, M_SMOOTHGRAD);
    CU_ASSERT_EQUAL(s.smooth_base, M_SALIENCY);
    CU_ASSERT_EQUAL(method_items(&s), s.samples);
    s.smooth_base = M_IG;
    s.steps = 7;
    CU_ASSERT_EQUAL(method_items(&s), 7 * s.samples);
    method_spec_default(&s, M_SALIENCY);
    CU_ASSERT_EQUAL(method_items(&s), 1);
    method_spec_default(&s, M_CONDUCTANCE);
    CU_ASSERT_EQUAL(method_items(&s), 50);
    /* invalid specs are rejected with a message */
    method_spec_default(&s, M_IG);
    s.rule = RULE_RIEMANN_LEFT;
    s.steps = 1;
    err = NULL;
    CU_ASSERT_EQUAL(method_spec_check(&s, &err), -1);
    CU_ASSERT_PTR_NOT_NULL(err);
    method_spec_default(&s, M_GRADSHAP);
    s.stdevs = -1;
    CU_ASSERT_EQUAL(method_spec_check(&s, &err), -1);
    s.stdevs = NAN;
    CU_ASSERT_EQUAL(method_spec_check(&s, &err), -1);
    method_spec_default(&s, M_DEEPLIFTSHAP);
    s.nbaselines = MAX_BASELINES + 1;
    CU_ASSERT_EQUAL(method_spec_check(&s, &err), -1);
    method_spec_default(&s, M_SMOOTHGRAD);
    s.smooth_base = M_DEEPLIFT;
    CU_ASSERT_EQUAL(method_spec_check(&s, &err), -1);
}

/* Gauss-Legendre: nodes symmetric about 1/2, ascending; the rule integrates
 * polynomials of degree <= 2n-1 exactly (here up to the float32 rounding of the
 * weights Captum applies: |error| <= n·2^-24). */
static void test_gauss_legendre(void)
{
    int ns[] = {1, 2, 3, 7, 50, 51, 128};
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
        int n = ns[i];
        double *a = malloc(n * sizeof(double)), *w = malloc(n * sizeof(double));
        ig_nodes(RULE_GAUSSLEGENDRE, n, a, w);
        for (int k = 0; k < n; k++) {
            CU_ASSERT(a[k] > 0 && a[k] < 1);
            CU_ASSERT(w[k] == (double)(float)w[k]);
            CU_ASSERT(fabs(a[k] + a[n - 1 - k] - 1.0) <= 2e-16);
            if (k)
                CU_ASSERT(a[k] > a[k - 1]);
        }
        for (int deg = 0; deg <= 2 * n - 1 && deg <= 40; deg++) {
            double q = 0;
            for (int k = 0; k < n; k++)
                q += w[k] * pow(a[k], deg);
            CU_ASSERT(fabs(q - 1.0 / (deg + 1)) <= n * 0x1p-24);
        }
        free(a);
        free(w);
    }
    /* n = 2: nodes (1 ∓ 1/√3)/2, weights 1/2 */
    double a[2], w[2];
    ig_nodes(RULE_GAUSSLEGENDRE, 2, a, w);
    CU_ASSERT(fabs(a[0] - 0.5 * (1 - 1 / sqrt(3.0))) <= 1e-16);
    CU_ASSERT(w[0] == 0.5 && w[1] == 0.5);
}

static void test_riemann(void)
{
    double a[5], w[5];
    ig_nodes(RULE_RIEMANN_LEFT, 4, a, w);
    CU_ASSERT(a[0] == 0 && a[1] == 0.25 && a[2] == 0.5 && a[3] == 0.75);
    CU_ASSERT(w[0] == 0.25 && w[3] == 0.25);
    ig_nodes(RULE_RIEMANN_RIGHT, 4, a, w);
    CU_ASSERT(a[0] == 0.25 && a[3] == 1.0);
    ig_nodes(RULE_RIEMANN_MIDDLE, 4, a, w);
    CU_ASSERT(a[0] == 0.125 && a[3] == 0.875);
    ig_nodes(RULE_RIEMANN_TRAPEZOID, 5, a, w);
    CU_ASSERT(a[0] == 0 && a[2] == 0.5 && a[4] == 1.0);
    /* Captum's trapezoid: weights 1/n with halved ends, summing to (n-1)/n */
    CU_ASSERT(w[0] == (double)0.1f && w[1] == (double)0.2f && w[4] == (double)0.1f);
    /* torch.linspace(0, 1, 10, float32) as torch 1.13 prints it: element 6 is
     * 0.6666667 (fused multiply-add from the end), 1/9 rounded in float32 */
    double b[10], v[10];
    ig_nodes(RULE_RIEMANN_TRAPEZOID, 10, b, v);
    CU_ASSERT(b[6] == (double)0.6666667f);
    CU_ASSERT(b[1] == (double)(1.0f / 9.0f));
    CU_ASSERT(b[9] == 1.0);
}

static void test_fixed_point(void)
{
    __int128 acc = 0;
    float x = 0.1f, y = 0.3f;
    double v = (double)x * y; /* exact product of two floats */
    CU_ASSERT_EQUAL(fix_add(&acc, v), 0);
    CU_ASSERT(fix_to_double(acc) == v);
    CU_ASSERT_EQUAL(fix_add(&acc, -v), 0);
    CU_ASSERT(acc == 0);
    /* resolution 2^-64 */
    CU_ASSERT_EQUAL(fix_add(&acc, 0x1p-64), 0);
    CU_ASSERT(acc == 1);
    CU_ASSERT_EQUAL(fix_add(&acc, 0x1p-66), 0); /* rounds to 0 */
    CU_ASSERT(acc == 1);
    /* overflow and non-finite values are reported, the accumulator is untouched */
    acc = 0;
    CU_ASSERT_EQUAL(fix_add(&acc, 0x1p62), -1);
    CU_ASSERT_EQUAL(fix_add(&acc, NAN), -1);
    CU_ASSERT_EQUAL(fix_add(&acc, INFINITY), -1);
    CU_ASSERT(acc == 0);
    CU_ASSERT_EQUAL(fix_add(&acc, 0x1.8p61), 0);
    CU_ASSERT_EQUAL(fix_add(&acc, 0x1.8p61), -1); /* the sum would leave ±2^62 */
    CU_ASSERT(fix_to_double(acc) == 0x1.8p61);
    /* the sum of many terms does not depend on their order */
    enum { N = 10000 };
    double *t = malloc(N * sizeof(double));
    srand(5);
    for (int i = 0; i < N; i++)
        t[i] = ((double)rand() / RAND_MAX - 0.5) * pow(10, rand() % 12 - 6) * (float)((double)rand() / RAND_MAX);
    __int128 s1 = 0, s2 = 0;
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL_FATAL(fix_add(&s1, t[i]), 0);
    for (int i = N - 1; i >= 0; i -= 2)
        CU_ASSERT_EQUAL_FATAL(fix_add(&s2, t[i]), 0);
    for (int i = N - 2; i >= 0; i -= 2)
        CU_ASSERT_EQUAL_FATAL(fix_add(&s2, t[i]), 0);
    CU_ASSERT(s1 == s2);
    free(t);
}

static Model *fake_model(int D, int L, int NH)
{
    Model *m = calloc(1, sizeof *m);
    m->cfg.D = D;
    m->cfg.L = L;
    m->cfg.NH = NH;
    return m;
}

static void fill_partial(Partial *p, int i0, int i1, unsigned seed)
{
    CU_ASSERT_EQUAL_FATAL(partial_claim(p, i0, i1), 0);
    srand(seed);
    size_t TD = (size_t)p->T * p->D;
    for (int i = i0; i < i1; i++) {
        if (p->acc)
            for (size_t q = 0; q < TD; q++)
                fix_add(&p->acc[q], (double)rand() / RAND_MAX - 0.5);
        for (size_t q = 0; p->L && q < (size_t)p->L * TD; q++)
            fix_add(&p->acc_hidden[q], (double)rand() / RAND_MAX);
        for (size_t q = 0; p->L && q < (size_t)p->L * p->NH * p->T * p->T; q++)
            fix_add(&p->acc_attn[q], -(double)rand() / RAND_MAX);
        for (int c = 0; c < p->item_width; c++)
            p->item[(size_t)i * p->item_width + c] = rand();
    }
}

static int partial_equal(const Partial *a, const Partial *b)
{
    size_t na = partial_bytes(a), nb = partial_bytes(b);
    if (na != nb)
        return 0;
    char *x = malloc(na), *y = malloc(nb);
    partial_pack(a, x);
    partial_pack(b, y);
    int eq = !memcmp(x, y, na);
    free(x);
    free(y);
    return eq;
}

static void test_partials(void)
{
    Model *m = fake_model(8, 2, 2);
    MethodSpec s;
    method_spec_default(&s, M_GRADSHAP);
    s.samples = 6;
    /* shape and per-item scalars */
    Partial *a = partial_new(&s, m, 5);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(a->n_items, 6);
    CU_ASSERT_EQUAL(a->item_width, GS_WIDTH);
    CU_ASSERT_PTR_NULL(a->acc_hidden);
    /* merge of chunks in two orders and through pack/unpack gives the same bytes */
    Partial *b = partial_new(&s, m, 5), *c = partial_new(&s, m, 5), *all1 = partial_new(&s, m, 5),
            *all2 = partial_new(&s, m, 5);
    fill_partial(a, 0, 2, 1);
    fill_partial(b, 2, 5, 2);
    fill_partial(c, 5, 6, 3);
    CU_ASSERT_EQUAL(partial_merge(all1, a), 0);
    CU_ASSERT_EQUAL(partial_merge(all1, b), 0);
    CU_ASSERT_EQUAL(partial_merge(all1, c), 0);
    size_t n = partial_bytes(b);
    void *buf = malloc(n);
    partial_pack(b, buf);
    Partial *bu = partial_unpack(buf, n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bu);
    CU_ASSERT(partial_equal(bu, b));
    CU_ASSERT_EQUAL(partial_merge(all2, c), 0);
    CU_ASSERT_EQUAL(partial_merge(all2, bu), 0);
    CU_ASSERT_EQUAL(partial_merge(all2, a), 0);
    CU_ASSERT(partial_equal(all1, all2));
    for (int i = 0; i < 6; i++)
        CU_ASSERT(all1->item_done[i] == 1);
    /* overlapping items, claims, shape mismatches, bad buffers */
    CU_ASSERT_EQUAL(partial_merge(all1, a), -1);
    CU_ASSERT_EQUAL(partial_claim(a, 1, 3), -1);
    CU_ASSERT_EQUAL(partial_claim(a, 5, 7), -1);
    Partial *other = partial_new(&s, m, 4);
    CU_ASSERT_EQUAL(partial_merge(other, c), -1);
    CU_ASSERT_PTR_NULL(partial_unpack(buf, n - 1));
    ((char *)buf)[0] = 'X';
    CU_ASSERT_PTR_NULL(partial_unpack(buf, n));
    free(buf);
    /* overflow on merge is reported */
    Partial *o1 = partial_new(&s, m, 5), *o2 = partial_new(&s, m, 5);
    partial_claim(o1, 0, 1);
    partial_claim(o2, 1, 2);
    CU_ASSERT_EQUAL(fix_add(&o1->acc[3], 0x1.8p61), 0);
    CU_ASSERT_EQUAL(fix_add(&o2->acc[3], 0x1.8p61), 0);
    CU_ASSERT_EQUAL(partial_merge(o1, o2), -1);
    partial_free(o1);
    partial_free(o2);
    /* conductance partials carry the per-layer accumulators */
    MethodSpec sc;
    method_spec_default(&sc, M_CONDUCTANCE);
    sc.steps = 4;
    Partial *p1 = partial_new(&sc, m, 3), *p2 = partial_new(&sc, m, 3), *q = partial_new(&sc, m, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p1->acc_hidden);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p1->acc_attn);
    fill_partial(p1, 0, 3, 7);
    fill_partial(p2, 3, 4, 8);
    n = partial_bytes(p1);
    buf = malloc(n);
    partial_pack(p1, buf);
    Partial *p1u = partial_unpack(buf, n);
    CU_ASSERT_EQUAL(partial_merge(q, p2), 0);
    CU_ASSERT_EQUAL(partial_merge(q, p1u), 0);
    CU_ASSERT_EQUAL(partial_merge(p1, p2), 0);
    CU_ASSERT(partial_equal(p1, q));
    CU_ASSERT_EQUAL(partial_merge(q, a), -1); /* other method's shape */
    free(buf);
    Partial *ps[] = {a, b, c, all1, all2, bu, other, p1, p2, q, p1u};
    for (size_t i = 0; i < sizeof ps / sizeof *ps; i++)
        partial_free(ps[i]);
    free(m);
}

static void test_philox(void)
{
    AttrRng r1, r2;
    attr_rng_init(&r1, 42, 7, 3, RNG_STREAM_NOISE);
    attr_rng_init(&r2, 42, 7, 3, RNG_STREAM_NOISE);
    int same = 1;
    for (int i = 0; i < 100; i++)
        same &= attr_rng_u64(&r1) == attr_rng_u64(&r2);
    CU_ASSERT(same);
    /* any change of seed, example, sample or stream gives another stream */
    uint64_t ref;
    attr_rng_init(&r1, 42, 7, 3, RNG_STREAM_NOISE);
    ref = attr_rng_u64(&r1);
    attr_rng_init(&r2, 43, 7, 3, RNG_STREAM_NOISE);
    CU_ASSERT(attr_rng_u64(&r2) != ref);
    attr_rng_init(&r2, 42, 8, 3, RNG_STREAM_NOISE);
    CU_ASSERT(attr_rng_u64(&r2) != ref);
    attr_rng_init(&r2, 42, 7, 4, RNG_STREAM_NOISE);
    CU_ASSERT(attr_rng_u64(&r2) != ref);
    attr_rng_init(&r2, 42, 7, 3, RNG_STREAM_DRAWS);
    CU_ASSERT(attr_rng_u64(&r2) != ref);
    /* moments: uniform mean 1/2, var 1/12; normal mean 0, var 1 (bounds: 6 standard errors) */
    enum { N = 1000000 };
    double su = 0, su2 = 0, sn = 0, sn2 = 0;
    attr_rng_init(&r1, 1, 0, 0, 0);
    for (int i = 0; i < N; i++) {
        double u = attr_rng_uniform(&r1), z = attr_rng_normal(&r1);
        CU_ASSERT_FATAL(u >= 0 && u < 1);
        su += u;
        su2 += u * u;
        sn += z;
        sn2 += z * z;
    }
    double mu = su / N, vu = su2 / N - mu * mu, mn = sn / N, vn = sn2 / N - mn * mn;
    printf("  philox: uniform mean %.5f var %.5f; normal mean %.5f var %.5f (N=%d)\n", mu, vu, mn, vn, N);
    CU_ASSERT(fabs(mu - 0.5) < 6 * sqrt(1.0 / 12 / N));
    CU_ASSERT(fabs(vu - 1.0 / 12) < 6 * sqrt(1.0 / 180 / N));
    CU_ASSERT(fabs(mn) < 6 / sqrt((double)N));
    CU_ASSERT(fabs(vn - 1) < 6 * sqrt(2.0 / N));
    /* the draws of a sample: baseline indices cover the list about evenly */
    MethodSpec s;
    method_spec_default(&s, M_GRADSHAP);
    s.nbaselines = 3;
    s.stdevs = 0.5;
    int cnt[3] = {0};
    for (int k = 0; k < 30000; k++) {
        int b;
        double a;
        attr_draws(&s, 11, k, 1, 1, &b, &a, NULL);
        CU_ASSERT_FATAL(b >= 0 && b < 3 && a >= 0 && a < 1);
        cnt[b]++;
    }
    for (int b = 0; b < 3; b++)
        CU_ASSERT(abs(cnt[b] - 10000) < 6 * 82); /* sd = sqrt(30000·(1/3)(2/3)) ≈ 82 */
    double n1[6], n2[6];
    int b1, b2;
    double a1, a2;
    attr_draws(&s, 11, 5, 2, 3, &b1, &a1, n1);
    attr_draws(&s, 11, 5, 2, 3, &b2, &a2, n2);
    CU_ASSERT(b1 == b2 && a1 == a2 && !memcmp(n1, n2, sizeof n1));
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite su = CU_add_suite("methods_core", NULL, NULL);
    CU_add_test(su, "names", test_names);
    CU_add_test(su, "method table", test_method_table);
    CU_add_test(su, "defaults, items, validation", test_defaults_and_items);
    CU_add_test(su, "gauss-legendre nodes", test_gauss_legendre);
    CU_add_test(su, "riemann nodes", test_riemann);
    CU_add_test(su, "fixed point", test_fixed_point);
    CU_add_test(su, "partials merge/pack", test_partials);
    CU_add_test(su, "philox streams", test_philox);
    return test_run_registry();
}
