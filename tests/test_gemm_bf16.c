/* bf16 products (engine/gemm_bf16.h) against an fp64 reference GEMM, and the fp32
 * fp32 fallback of precision bf16 when it is unavailable.
 *
 * Error bound, per output element c = Σ_k a_k b_k (+ bias), K terms:
 *   - each input is rounded to bf16 (8 significant bits, unit roundoff u = 2^-8):
 *     â = a(1+α), b̂ = b(1+β), |α|,|β| ≤ u, so |â b̂ - a b| ≤ (2u + u²)|a b|;
 *   - the product of two bf16 numbers is exact in fp32 (8 + 8 ≤ 24 bits);
 *   - fp32 accumulation of K terms in any order adds at most γ_K = K·v/(1-K·v),
 *     v = 2^-24, times Σ|â b̂| ≤ (1+u)² Σ|a b|;
 *   - the bias (fp32, not rounded to bf16) and the accumulate (dst +=) add one fp32
 *     rounding each: v·(|c| + |bias| + |dst|) per addition, bounded by 2v·(Σ|ab|+|bias|+|dst|).
 * So |ĉ - c| ≤ (2u + u² + γ_K (1+u)² + 4v) · (Σ_k |a_k b_k| + |bias| + |dst|).
 * For K = 3072 that is ≈ 8.0e-3 of the absolute sum. The test also checks that the error
 * is NOT at fp32 level (≥ 1e-2 of the bound somewhere), which would mean bf16 never ran. */
#include "engine/gemm_bf16.h"
#include "engine/backend.h"
#include "engine/backend_cpu.h"
#include "engine/engine.h"
#include "tests/testutil.h"
#include <CUnit/Basic.h>
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long long g_rng = 0x9e3779b97f4a7c15ull;
static float *randv(size_t n, float scale) { return test_randv(n, scale, &g_rng); }

static double bound_coeff(int K)
{
    const double u = ldexp(1.0, -8), v = ldexp(1.0, -24);
    double gk = K * v / (1.0 - K * v);
    return 2 * u + u * u + gk * (1 + u) * (1 + u) + 4 * v;
}

/* Checks got (M,Nn) against fp64 c = init + A (M,K) · Bm (K,Nn) [+ bias], where Bm(k,n) =
 * Wt ? W[n*K+k] : W[k*Nn+n]. Returns max |err| / bound over elements (≤ 1 required). */
static double check(const float *got, const float *init, const float *A, const float *W, int Wt,
                    const float *bias, int M, int K, int Nn)
{
    double worst = 0.0, coeff = bound_coeff(K);
    for (int i = 0; i < M; i++)
        for (int n = 0; n < Nn; n++) {
            double c = 0.0, abs_sum = 0.0;
            for (int k = 0; k < K; k++) {
                double b = Wt ? W[(size_t)n * K + k] : W[(size_t)k * Nn + n];
                c += (double)A[(size_t)i * K + k] * b;
                abs_sum += fabs((double)A[(size_t)i * K + k] * b);
            }
            if (bias) {
                c += bias[n];
                abs_sum += fabs(bias[n]);
            }
            if (init) {
                c += init[(size_t)i * Nn + n];
                abs_sum += fabs(init[(size_t)i * Nn + n]);
            }
            double err = fabs((double)got[(size_t)i * Nn + n] - c);
            double r = err / (coeff * abs_sum + 1e-30);
            worst = r > worst ? r : worst;
        }
    return worst;
}

static void test_rounding(void)
{
    /* bf16 keeps 7 fraction bits: the ulp at 1 is 2^-7. */
    float one_tie = 1.0f + ldexpf(1.0f, -8);         /* halfway 1 | 1+2^-7: even is 1 */
    float odd_tie = 1.0f + 3.0f * ldexpf(1.0f, -8);  /* halfway 1+2^-7 | 1+2^-6: even is 1+2^-6 */
    float above = 1.0f + ldexpf(1.0f, -8) + ldexpf(1.0f, -20); /* just above the tie: up */
    float in[] = {one_tie, odd_tie, above, -one_tie, INFINITY, -INFINITY, NAN, 3.0e38f, 0.0f, -0.0f, 1e-40f};
    uint16_t out[11];
    gemm_bf16_from_f32(out, in, 11);
    CU_ASSERT_EQUAL(gemm_bf16_to_f32(out[0]), 1.0f);
    CU_ASSERT_EQUAL(gemm_bf16_to_f32(out[1]), 1.0f + ldexpf(1.0f, -6));
    CU_ASSERT_EQUAL(gemm_bf16_to_f32(out[2]), 1.0f + ldexpf(1.0f, -7));
    CU_ASSERT_EQUAL(gemm_bf16_to_f32(out[3]), -1.0f);
    CU_ASSERT_EQUAL(out[4], 0x7f80);
    CU_ASSERT_EQUAL(out[5], 0xff80);
    CU_ASSERT(isnan(gemm_bf16_to_f32(out[6])));
    CU_ASSERT_EQUAL(out[7], 0x7f62); /* 3e38 = 0x7f61b1e6 rounds up to 0x7f62 */
    CU_ASSERT_EQUAL(out[8], 0x0000);
    CU_ASSERT_EQUAL(out[9], 0x8000);
    CU_ASSERT_EQUAL(out[10], 0x0001); /* subnormal 1e-40 = 0x000116c2: kept, rounded */
}

/* One forward (x W^T + b) and one accumulating backward (dx += dy W) on shape (M, IN, OUT). */
static void run_shape(int M, int IN, int OUT, double *worst_seen)
{
    float *x = randv((size_t)M * IN, 1.0f), *W = randv((size_t)OUT * IN, 0.05f), *b = randv(OUT, 0.1f);
    float *dy = randv((size_t)M * OUT, 1.0f), *dx0 = randv((size_t)M * IN, 0.5f);
    float *y = malloc((size_t)M * OUT * sizeof *y), *dx = malloc((size_t)M * IN * sizeof *dx);
    CU_ASSERT_EQUAL_FATAL(gemm_bf16_xwt(y, x, W, b, M, IN, OUT), 0);
    double r = check(y, NULL, x, W, 1, b, M, IN, OUT);
    CU_ASSERT(r <= 1.0);
    *worst_seen = r > *worst_seen ? r : *worst_seen;
    memcpy(dx, dx0, (size_t)M * IN * sizeof *dx);
    CU_ASSERT_EQUAL_FATAL(gemm_bf16_dyw(dx, dy, W, M, IN, OUT, 1), 0);
    r = check(dx, dx0, dy, W, 0, NULL, M, OUT, IN);
    CU_ASSERT(r <= 1.0);
    *worst_seen = r > *worst_seen ? r : *worst_seen;
    CU_ASSERT_EQUAL_FATAL(gemm_bf16_dyw(dx, dy, W, M, IN, OUT, 0), 0);
    r = check(dx, NULL, dy, W, 0, NULL, M, OUT, IN);
    CU_ASSERT(r <= 1.0);
    printf("\n  M %d IN %d OUT %d: worst |err|/bound %.3g", M, IN, OUT, r);
    gemm_bf16_forget_weights(); /* W is freed: its address may come back with other values */
    free(x), free(W), free(b), free(dy), free(dx0), free(y), free(dx);
}

static void test_products(void)
{
    if (!gemm_bf16_available()) {
        printf("\n  bf16 unavailable here (%s): products checked by the fallback test only", gemm_bf16_isa());
        return;
    }
    printf("\n  oneDNN ISA: %s", gemm_bf16_isa());
    double worst = 0.0;
    run_shape(1, 1, 1, &worst);
    run_shape(37, 768, 100, &worst);  /* odd row count, narrow output */
    run_shape(64, 3072, 768, &worst); /* FFN-down shape: K = 3072 */
    run_shape(130, 768, 3072, &worst);
    run_shape(37, 768, 100, &worst);  /* again: cached primitive and weights */
    /* bf16 really ran: errors of an fp32 product would be ~1e-4 of the bound. */
    CU_ASSERT(worst > 1e-2);
}

/* precision bf16 through the backend seam: the "cpu-bf16" backend's linear layers are
 * bf16 (close to fp32, not equal) when available; else the precision stays fp32. */
static void test_precision_switch(void)
{
    const int M = 20, IN = 96, OUT = 40;
    float *x = randv((size_t)M * IN, 1.0f), *W = randv((size_t)OUT * IN, 0.1f), *b = randv(OUT, 0.1f);
    float *y32 = malloc((size_t)M * OUT * 4), *y = malloc((size_t)M * OUT * 4);
    CU_ASSERT_EQUAL(engine_set_precision("fp32"), 0);
    CU_ASSERT_STRING_EQUAL(engine_precision(), "fp32");
    backend_select(NULL)->linear_forward(y32, x, W, b, M, IN, OUT);
    int rc = engine_set_precision("bf16");
    CU_ASSERT_EQUAL(rc, gemm_bf16_available() ? 0 : -1);
    CU_ASSERT_STRING_EQUAL(engine_precision(), rc == 0 ? "bf16" : "fp32");
    CU_ASSERT_EQUAL(engine_set_precision("fp16"), -1);
    const Backend *be = backend_select(NULL);
    be->linear_forward(y, x, W, b, M, IN, OUT);
    if (rc == 0) {
        CU_ASSERT_STRING_EQUAL(be->name, "cpu-bf16");
        CU_ASSERT(check(y, NULL, x, W, 1, b, M, IN, OUT) <= 1.0);
        CU_ASSERT(memcmp(y, y32, (size_t)M * OUT * 4) != 0);
    } else {
        CU_ASSERT_PTR_NULL(backend_select("cpu-bf16"));
        CU_ASSERT(memcmp(y, y32, (size_t)M * OUT * 4) == 0);
    }
    /* bf16-attention: the same linear layers, its own attention ops (test_attention_bf16 checks them) */
    CU_ASSERT_EQUAL(engine_set_precision("bf16-attention"), rc);
    if (rc == 0) {
        const Backend *ba = backend_select(NULL);
        CU_ASSERT_STRING_EQUAL(ba->name, "cpu-bf16-attention");
        CU_ASSERT_STRING_EQUAL(engine_precision(), "bf16-attention");
        CU_ASSERT(ba->linear_forward == be->linear_forward);
        CU_ASSERT(ba->attention_forward != be->attention_forward);
        CU_ASSERT(be->attention_forward == backend_cpu.attention_forward);
    } else
        CU_ASSERT_PTR_NULL(backend_select("cpu-bf16-attention"));
    engine_set_precision("fp32");
    gemm_bf16_forget_weights();
    free(x), free(W), free(b), free(y32), free(y);
}

/* Run by CTest with ONEDNN_MAX_CPU_ISA=AVX512_CORE and ATTRUN_EXPECT_NO_BF16=1: oneDNN is
 * there but may not use bf16 instructions, so bf16 must report unavailable and the
 * products must fail over (return -1) instead of running emulated. */
static void test_expect_unavailable(void)
{
    if (!getenv("ATTRUN_EXPECT_NO_BF16"))
        return;
    CU_ASSERT_EQUAL(gemm_bf16_available(), 0);
    CU_ASSERT_EQUAL(engine_set_precision("bf16"), -1);
    CU_ASSERT_EQUAL(engine_set_precision("bf16-attention"), -1);
    CU_ASSERT_STRING_EQUAL(engine_precision(), "fp32");
    float x[4] = {1, 2, 3, 4}, W[4] = {1, 0, 0, 1}, y[4];
    CU_ASSERT_EQUAL(gemm_bf16_xwt(y, x, W, NULL, 2, 2, 2), -1);
    printf("\n  unavailable as expected: %s", gemm_bf16_isa());
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("gemm_bf16", NULL, NULL);
    CU_add_test(s, "fp32 -> bf16 round to nearest even", test_rounding);
    CU_add_test(s, "bf16 products vs fp64 within the bf16 bound", test_products);
    CU_add_test(s, "precision bf16 through the backend, fp32 fallback", test_precision_switch);
    CU_add_test(s, "unavailable when the CPU lacks bf16", test_expect_unavailable);
    return test_run_registry();
}
