/* The bf16 attention of precision bf16 (engine/backend_cpu_attention_bf16.c) against an fp64
 * reference computed here from the bf16-rounded q, k, v and dctx, element by element within
 * a bound derived from where the kernel rounds (v = 2^-24 fp32, u = 2^-8 bf16):
 *   S = scale·q̂k̂ᵀ accumulated in fp32:           |ΔS| ≤ (hs+2)·v·scale·Σ|q̂k̂|
 *   P = fp32 softmax of S (exp ≤ 2 ulp, T-term sums): |ΔP| ≤ P·(3·max_row|ΔS| + (T+10)·2v)
 *   ctx = bf16(P)·v̂ in fp32:                       |Δctx| ≤ Σ_j (|ΔP| + (u+(T+2)v)·P)·|v̂|
 *   dP = d̂ctx·v̂ᵀ in fp32:                          |ΔdP| ≤ (hs+2)·v·Σ|d̂ctx v̂|
 *   dS = P ⊙ (dP − Σ P dP) in fp32, then bf16:      first-order propagation of ΔP, ΔdP, plus u·|dS|
 *   dq = scale·bf16(dS)·k̂, dk = scale·Σ_r bf16(dS)ᵀ·q̂, dv = Σ_r bf16(P)ᵀ·d̂ctx likewise.
 * A head or group read from the wrong columns is off by O(1), far outside these bounds. The
 * test also checks that bf16 rounding of P really happened (ctx's error well above fp32
 * level somewhere) and that writing dF/dP to the caller's buffer changes no other output.
 * Shapes: encoder with padding, causal GQA with left padding (fully masked rows), sliding
 * window, multi-query with T = 1, and a shape again (cached primitives). Skips (77) where
 * the CPU or oneDNN cannot run bf16. */
#include "engine/backend.h"
#include "engine/backend_cpu.h"
#include "engine/gemm_bf16.h"
#include "tests/testutil.h"
#include <CUnit/Basic.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long long g_rng = 0x2545f4914f6cdd1dull;
static float *randv(size_t n, float scale) { return test_randv(n, scale, &g_rng); }

static double rb(float x) /* x rounded to bf16, as the kernel's operands */
{
    uint16_t h;
    gemm_bf16_from_f32(&h, &x, 1);
    return gemm_bf16_to_f32(h);
}

typedef struct {
    const char *name;
    int B, T, NH, NKV, hs, causal, window, pad; /* pad: 1 right padding (encoder), 2 left (decoder) */
} Case;

static double g_worst, g_bf16_seen;
static const char *g_worst_what = "";

static void check(const char *what, double got, double ref, double bound, int *bad)
{
    double r = fabs(got - ref) / bound;
    if (r > g_worst)
        g_worst = r, g_worst_what = what;
    if (!(r <= 1.0) && (*bad)++ < 3)
        printf("\n    %s: got %.9g ref %.9g |diff| %.3g bound %.3g", what, got, ref, fabs(got - ref), bound);
}

static void run_case(const Case *c)
{
    const double u = ldexp(1.0, -8), v = ldexp(1.0, -24);
    int B = c->B, T = c->T, NH = c->NH, NKV = c->NKV, hs = c->hs, rep = NH / NKV;
    int ldq = NH * hs, ldk = NKV * hs;
    size_t nq = (size_t)B * T * ldq, nk = (size_t)B * T * ldk, TT = (size_t)T * T, np = (size_t)B * NH * TT;
    float *q = randv(nq, 2.0f), *k = randv(nk, 2.0f), *vv = randv(nk, 1.0f), *dctx = randv(nq, 1.0f);
    int *mask = malloc((size_t)B * T * sizeof *mask);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int npad = c->pad ? (b * (T + 2)) / (B + 1) : 0; /* row b has npad padded tokens */
            mask[b * T + t] = c->pad == 2 ? t >= npad : t < T - npad;
        }
    float *ctx = malloc(nq * 4), *P = malloc(np * 4), *dP = malloc(np * 4);
    float *dq = malloc(nq * 4), *dk = malloc(nk * 4), *dv = malloc(nk * 4);
    float *scr = malloc((size_t)ops_threads() * TT * 4);
    float *dq2 = malloc(nq * 4), *dk2 = malloc(nk * 4), *dv2 = malloc(nk * 4);
    AttnShape sh = {.NH = NH, .NKV = NKV, .hs = hs, .causal = c->causal, .window = c->window};
    CU_ASSERT_EQUAL_FATAL(attention_forward_bf16(ctx, P, q, k, vv, c->pad ? mask : NULL, &sh, B, T), 0);
    CU_ASSERT_EQUAL_FATAL(attention_backward_bf16(dq, dk, dv, scr, dP, dctx, q, k, vv, P, &sh, B, T), 0);
    CU_ASSERT_EQUAL_FATAL(attention_backward_bf16(dq2, dk2, dv2, scr, NULL, dctx, q, k, vv, P, &sh, B, T), 0);
    CU_ASSERT(!memcmp(dq, dq2, nq * 4) && !memcmp(dk, dk2, nk * 4) && !memcmp(dv, dv2, nk * 4));
    /* After the scratch is freed (engine_release_arena) the kernels allocate again: same bits */
    attention_bf16_release();
    float *ctx2 = malloc(nq * 4), *P2 = malloc(np * 4);
    CU_ASSERT_EQUAL_FATAL(attention_forward_bf16(ctx2, P2, q, k, vv, c->pad ? mask : NULL, &sh, B, T), 0);
    attention_bf16_release();
    CU_ASSERT_EQUAL_FATAL(attention_backward_bf16(dq2, dk2, dv2, scr, NULL, dctx, q, k, vv, P, &sh, B, T), 0);
    CU_ASSERT(!memcmp(ctx, ctx2, nq * 4) && !memcmp(P, P2, np * 4));
    CU_ASSERT(!memcmp(dq, dq2, nq * 4) && !memcmp(dk, dk2, nk * 4) && !memcmp(dv, dv2, nk * 4));
    free(ctx2), free(P2);

    double scale = 1.0 / sqrt((double)hs);
    double *S = malloc(TT * 8), *eS = malloc(TT * 8), *Pr = malloc(TT * 8), *eP = malloc(TT * 8);
    double *dPr = malloc(TT * 8), *edP = malloc(TT * 8), *dSr = malloc(TT * 8), *edS = malloc(TT * 8);
    /* dk, dv sum over the rep query heads of a group: references and bounds accumulated per group */
    double *dkr = calloc(nk, 8), *dkb = calloc(nk, 8), *dvr = calloc(nk, 8), *dvb = calloc(nk, 8);
    int bad = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            int g = h / rep;
            const float *qh = q + (size_t)b * T * ldq + h * hs, *dch = dctx + (size_t)b * T * ldq + h * hs;
            const float *kg = k + (size_t)b * T * ldk + g * hs, *vg = vv + (size_t)b * T * ldk + g * hs;
            const float *Pk = P + ((size_t)b * NH + h) * TT, *dPk = dP + ((size_t)b * NH + h) * TT;
            for (int i = 0; i < T; i++) {
                double mx = -INFINITY, maxe = 0, sum = 0;
                int allowed = 0;
                for (int j = 0; j < T; j++) {
                    double s = 0, a = 0;
                    for (int d = 0; d < hs; d++) {
                        double x = rb(qh[(size_t)i * ldq + d]) * rb(kg[(size_t)j * ldk + d]);
                        s += x, a += fabs(x);
                    }
                    int ok = (!c->pad || mask[b * T + j]) &&
                             (!c->causal || (j <= i && (c->window <= 0 || j > i - c->window)));
                    S[i * T + j] = ok ? s * scale : -INFINITY;
                    eS[i * T + j] = (hs + 2) * v * scale * a;
                    if (ok) {
                        allowed = 1;
                        mx = fmax(mx, s * scale);
                        maxe = fmax(maxe, eS[i * T + j]);
                    }
                }
                for (int j = 0; j < T; j++)
                    sum += allowed ? exp(S[i * T + j] - mx) : 1.0;
                for (int j = 0; j < T; j++) {
                    double p = (allowed ? exp(S[i * T + j] - mx) : 1.0) / sum;
                    Pr[i * T + j] = p;
                    eP[i * T + j] = p * (3 * maxe + (T + 10) * 2 * v) + 1e-30;
                    check("P", Pk[i * T + j], p, eP[i * T + j], &bad);
                }
            }
            for (int i = 0; i < T; i++)
                for (int d = 0; d < hs; d++) {
                    double s = 0, bnd = 0, fp32 = 0;
                    for (int j = 0; j < T; j++) {
                        double vj = rb(vg[(size_t)j * ldk + d]);
                        s += Pr[i * T + j] * vj;
                        bnd += (eP[i * T + j] + (u + (T + 2) * v) * Pr[i * T + j]) * fabs(vj);
                        fp32 += (eP[i * T + j] + (T + 2) * v * Pr[i * T + j]) * fabs(vj);
                    }
                    double got = ctx[((size_t)b * T + i) * ldq + h * hs + d];
                    check("ctx", got, s, bnd + 1e-30, &bad);
                    if (fp32 > 0 && fabs(got - s) / fp32 > g_bf16_seen)
                        g_bf16_seen = fabs(got - s) / fp32;
                }
            /* backward */
            for (int i = 0; i < T; i++) {
                double r = 0, er = 0, ar = 0;
                for (int j = 0; j < T; j++) {
                    double s = 0, a = 0;
                    for (int d = 0; d < hs; d++) {
                        double x = rb(dch[(size_t)i * ldq + d]) * rb(vg[(size_t)j * ldk + d]);
                        s += x, a += fabs(x);
                    }
                    dPr[i * T + j] = s;
                    edP[i * T + j] = (hs + 2) * v * a;
                    check("dP", dPk[i * T + j], s, edP[i * T + j] + 1e-30, &bad);
                    r += Pr[i * T + j] * s;
                    er += eP[i * T + j] * fabs(s) + Pr[i * T + j] * edP[i * T + j];
                    ar += Pr[i * T + j] * fabs(s);
                }
                er += (T + 2) * v * ar;
                for (int j = 0; j < T; j++) {
                    double p = Pr[i * T + j], g2 = dPr[i * T + j] - r, ds = p * g2;
                    dSr[i * T + j] = ds;
                    edS[i * T + j] = eP[i * T + j] * (fabs(g2) + edP[i * T + j] + er) +
                                     p * (edP[i * T + j] + er) + (u + 4 * v) * fabs(ds) + 1e-30;
                }
            }
            for (int i = 0; i < T; i++)
                for (int d = 0; d < hs; d++) {
                    double s = 0, bnd = 0;
                    for (int j = 0; j < T; j++) {
                        double kj = rb(kg[(size_t)j * ldk + d]);
                        s += dSr[i * T + j] * kj;
                        bnd += (edS[i * T + j] + (T + 2) * v * fabs(dSr[i * T + j])) * fabs(kj);
                    }
                    check("dq", dq[((size_t)b * T + i) * ldq + h * hs + d], s * scale, bnd * scale + 1e-30, &bad);
                }
            for (int j = 0; j < T; j++)
                for (int d = 0; d < hs; d++) {
                    double sk = 0, bk = 0, sv = 0, bv = 0;
                    for (int i = 0; i < T; i++) {
                        double qi = rb(qh[(size_t)i * ldq + d]), di = rb(dch[(size_t)i * ldq + d]);
                        sk += dSr[i * T + j] * qi;
                        bk += (edS[i * T + j] + (T + 2 + rep) * v * fabs(dSr[i * T + j])) * fabs(qi);
                        sv += Pr[i * T + j] * di;
                        bv += (eP[i * T + j] + (u + (T + 2 + rep) * v) * Pr[i * T + j]) * fabs(di);
                    }
                    size_t o = ((size_t)b * T + j) * ldk + g * hs + d;
                    dkr[o] += sk * scale, dkb[o] += bk * scale, dvr[o] += sv, dvb[o] += bv;
                }
        }
    for (size_t o = 0; o < nk; o++) {
        check("dk", dk[o], dkr[o], dkb[o] + 1e-30, &bad);
        check("dv", dv[o], dvr[o], dvb[o] + 1e-30, &bad);
    }
    printf("\n  %-34s B %d T %3d NH %2d NKV %2d hs %3d: %d elements outside the bound", c->name, B, T, NH, NKV, hs,
           bad);
    CU_ASSERT_EQUAL(bad, 0);
    free(q), free(k), free(vv), free(dctx), free(mask), free(ctx), free(P), free(dP), free(dq), free(dk), free(dv);
    free(scr), free(dq2), free(dk2), free(dv2), free(S), free(eS), free(Pr), free(eP), free(dPr), free(edP);
    free(dSr), free(edS), free(dkr), free(dkb), free(dvr), free(dvb);
}

static void test_against_fp64(void)
{
    static const Case cases[] = {
        {"encoder, right padding", 3, 37, 4, 4, 64, 0, 0, 1},
        {"causal GQA 8/2, left padding", 3, 29, 8, 2, 32, 1, 0, 2},
        {"causal GQA 6/3, sliding window 7", 2, 40, 6, 3, 24, 1, 7, 0},
        {"multi-query 4/1, one token", 5, 1, 4, 1, 16, 1, 0, 0},
        {"encoder, no mask, head size 128", 2, 20, 2, 2, 128, 0, 0, 0},
        {"encoder, right padding (again)", 3, 37, 4, 4, 64, 0, 0, 1},
        {"encoder, right padding, B 1", 1, 37, 4, 4, 64, 0, 0, 1},
    };
    g_worst = g_bf16_seen = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        run_case(&cases[i]);
    printf("\n  worst |err|/bound %.3g (%s); ctx error up to %.3g x its fp32-level part (bf16 rounding of P ran)",
           g_worst,
           g_worst_what, g_bf16_seen);
    CU_ASSERT(g_bf16_seen > 10.0);
}

int main(void)
{
    if (!gemm_bf16_available()) {
        printf("test_attention_bf16: skipped: bf16 unavailable here (%s)\n", gemm_bf16_isa());
        return 77;
    }
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("attention_bf16", NULL, NULL);
    CU_add_test(s, "bf16 attention forward and backward vs fp64 within the bound", test_against_fp64);
    return test_run_registry();
}
