/* The attention kernels (engine/backend_cpu_attention*.c) against a naive implementation in
 * double written here from the definition: scores = q kᵀ / √hs + HF's additive masks (padding,
 * causal, sliding window), P = softmax, ctx = P v; and the backward of F = Σ dctx ⊙ ctx: dq, dk,
 * dv and dF/dP. Shapes cover causal, grouped-query attention (NKV < NH), padding masks, a fully
 * masked row, odd T, T = 1 and head sizes 8 / 16 / 32 / 64 / 80 / 128 (the blocked kernel's tile
 * edges: 16-float vectors, 64-column and 4-row tiles; T = 114 and 61 leave 50 and 61 columns after
 * the whole tiles, a partial fourth vector). Each case runs the per-(row, head) BLAS kernel,
 * the blocked kernel's dispatched (AVX-512 / AVX2 clone on this CPU) and portable copies, on
 * 1 and 2 threads. Tolerance: 2e-5 of each tensor's largest |reference| (float rounding of sums
 * of ≤ 128 terms; the BLAS kernel's own error is printed next to the blocked one's). */
#include "engine/backend_cpu.h"
#include "tests/testutil.h"
#include <CUnit/Basic.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int B, T, NH, NKV, hs, causal, window, padded;
} Case;

static double urand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xFFFFFF) / (double)0x1000000 - 0.5;
}

/* 1 where key j of row b is attended (padding mask; row 1 of a padded case has its last third
 * masked, row 2 everything but key 0, so causal rows > 0 of row 2 mix both masks). */
static int key_on(const Case *c, int b, int j)
{
    if (!c->padded)
        return 1;
    if (b == 1)
        return j < c->T - c->T / 3;
    if (b == 2)
        return j == 0;
    return 1;
}

/* Naive double reference of forward and backward. */
static void reference(const Case *c, const float *q, const float *k, const float *v, const float *dctx, double *ctx,
                      double *P, double *dq, double *dk, double *dv, double *dP)
{
    int T = c->T, hs = c->hs, ldq = c->NH * hs, ldk = c->NKV * hs, rep = c->NH / c->NKV;
    double scale = 1.0 / sqrt((double)hs);
    memset(dk, 0, sizeof(double) * c->B * T * ldk);
    memset(dv, 0, sizeof(double) * c->B * T * ldk);
    double *S = malloc(sizeof(double) * T * T), *dS = malloc(sizeof(double) * T * T);
    for (int b = 0; b < c->B; b++)
        for (int h = 0; h < c->NH; h++) {
            int g = h / rep;
            const float *qh = q + (size_t)b * T * ldq + h * hs, *kg = k + (size_t)b * T * ldk + g * hs;
            const float *vg = v + (size_t)b * T * ldk + g * hs, *dc = dctx + (size_t)b * T * ldq + h * hs;
            double *Ph = P + ((size_t)b * c->NH + h) * T * T, *dPh = dP + ((size_t)b * c->NH + h) * T * T;
            for (int i = 0; i < T; i++) {
                double mx = -INFINITY;
                for (int j = 0; j < T; j++) {
                    double s = 0;
                    for (int d = 0; d < hs; d++)
                        s += (double)qh[(size_t)i * ldq + d] * kg[(size_t)j * ldk + d];
                    int off = !key_on(c, b, j) || (c->causal && (j > i || (c->window > 0 && j <= i - c->window)));
                    s = s * scale + (off ? -FLT_MAX : 0.0);
                    S[i * T + j] = s;
                    mx = s > mx ? s : mx;
                }
                double sum = 0;
                for (int j = 0; j < T; j++)
                    sum += Ph[i * T + j] = exp(S[i * T + j] - mx);
                for (int j = 0; j < T; j++)
                    Ph[i * T + j] /= sum;
                for (int d = 0; d < hs; d++) {
                    double s = 0;
                    for (int j = 0; j < T; j++)
                        s += Ph[i * T + j] * vg[(size_t)j * ldk + d];
                    ctx[((size_t)b * T + i) * ldq + h * hs + d] = s;
                }
            }
            for (int i = 0; i < T; i++) {
                double dot = 0;
                for (int j = 0; j < T; j++) {
                    double s = 0;
                    for (int d = 0; d < hs; d++)
                        s += (double)dc[(size_t)i * ldq + d] * vg[(size_t)j * ldk + d];
                    dPh[i * T + j] = s;
                    dot += s * Ph[i * T + j];
                }
                for (int j = 0; j < T; j++)
                    dS[i * T + j] = Ph[i * T + j] * (dPh[i * T + j] - dot);
            }
            for (int j = 0; j < T; j++)
                for (int d = 0; d < hs; d++) {
                    double sv = 0, sk = 0;
                    for (int i = 0; i < T; i++) {
                        sv += Ph[i * T + j] * dc[(size_t)i * ldq + d];
                        sk += dS[i * T + j] * qh[(size_t)i * ldq + d];
                    }
                    dv[((size_t)b * T + j) * ldk + g * hs + d] += sv;
                    dk[((size_t)b * T + j) * ldk + g * hs + d] += sk * scale;
                }
            for (int i = 0; i < T; i++)
                for (int d = 0; d < hs; d++) {
                    double s = 0;
                    for (int j = 0; j < T; j++)
                        s += dS[i * T + j] * kg[(size_t)j * ldk + d];
                    dq[((size_t)b * T + i) * ldq + h * hs + d] = s * scale;
                }
        }
    free(S);
    free(dS);
}

enum { K_BLAS, K_BLOCKED, K_PORTABLE };
static const char *const KNAME[] = {"blas", "blocked", "portable"};

static void run_case(const Case *c)
{
    int B = c->B, T = c->T, hs = c->hs, ldq = c->NH * hs, ldk = c->NKV * hs;
    size_t nq = (size_t)B * T * ldq, nk = (size_t)B * T * ldk, np = (size_t)B * c->NH * T * T;
    float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4), *dctx = malloc(nq * 4);
    float *ctx = malloc(nq * 4), *P = malloc(np * 4), *dq = malloc(nq * 4), *dk = malloc(nk * 4), *dv = malloc(nk * 4);
    float *dprobs = malloc(np * 4), *dPbuf = malloc((size_t)4 * T * T * 4);
    double *rctx = malloc(nq * 8), *rP = malloc(np * 8), *rdq = malloc(nq * 8), *rdk = malloc(nk * 8),
           *rdv = malloc(nk * 8), *rdP = malloc(np * 8);
    int *mask = malloc((size_t)B * T * sizeof(int));
    unsigned seed = 1234u + T * 7u + hs;
    for (size_t i = 0; i < nq; i++) {
        q[i] = (float)(2.0 * urand(&seed));
        dctx[i] = (float)urand(&seed);
    }
    for (size_t i = 0; i < nk; i++) {
        k[i] = (float)(2.0 * urand(&seed));
        v[i] = (float)urand(&seed);
    }
    for (int b = 0; b < B; b++)
        for (int j = 0; j < T; j++)
            mask[b * T + j] = key_on(c, b, j);
    reference(c, q, k, v, dctx, rctx, rP, rdq, rdk, rdv, rdP);
    AttnShape sh = {.NH = c->NH, .NKV = c->NKV, .hs = hs, .causal = c->causal, .window = c->window};
    const float *got[] = {ctx, P, dq, dk, dv, dprobs};
    const double *ref[] = {rctx, rP, rdq, rdk, rdv, rdP};
    size_t n[] = {nq, np, nq, nk, nk, np};
    const char *name[] = {"ctx", "P", "dq", "dk", "dv", "dP"};
    for (int threads = 1; threads <= 2; threads++)
        for (int kern = K_BLAS; kern <= K_PORTABLE; kern++)
            for (int with_dprobs = 0; with_dprobs <= 1; with_dprobs++) {
                ops_set_threads(threads);
                attention_kernel_set(kern != K_BLAS);
                attention_blocked_portable(kern == K_PORTABLE);
                memset(dk, 0xff, nk * 4); /* NaN: every element must be written */
                memset(dv, 0xff, nk * 4);
                attention_forward(ctx, P, q, k, v, c->padded ? mask : NULL, &sh, B, T);
                attention_backward(dq, dk, dv, dPbuf, with_dprobs ? dprobs : NULL, dctx, q, k, v, P, &sh, B, T);
                int nt = with_dprobs ? 6 : 5;
                char line[512];
                int o = snprintf(line, sizeof line, "  B %d T %3d NH %d NKV %d hs %3d causal %d window %d mask %d: %-8s "
                                 "%d thr:", B, T, c->NH, c->NKV, hs, c->causal, c->window, c->padded, KNAME[kern], threads);
                for (int t = 0; t < nt; t++) {
                    double e = test_rel_err_f(got[t], ref[t], n[t], 1e-30);
                    o += snprintf(line + o, sizeof line - o, " %s %.1e", name[t], e);
                    CU_ASSERT(e <= 2e-5);
                }
                if (with_dprobs)
                    printf("%s\n", line);
            }
    attention_kernel_set(0);
    attention_blocked_portable(0);
    free(q), free(k), free(v), free(dctx), free(ctx), free(P), free(dq), free(dk), free(dv), free(dprobs);
    free(dPbuf), free(rctx), free(rP), free(rdq), free(rdk), free(rdv), free(rdP), free(mask);
}

static void test_encoder_shapes(void)
{
    Case cs[] = {{3, 13, 4, 4, 32, 0, 0, 1}, {3, 32, 2, 2, 64, 0, 0, 1}, {2, 67, 2, 2, 80, 0, 0, 0},
                 {3, 128, 2, 2, 128, 0, 0, 1}, {2, 1, 2, 2, 64, 0, 0, 0}, {2, 5, 3, 3, 8, 0, 0, 0},
                 {3, 114, 4, 4, 16, 0, 0, 1}, {2, 61, 2, 2, 64, 0, 0, 1}};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
        run_case(&cs[i]);
}

static void test_decoder_shapes(void)
{
    Case cs[] = {{3, 17, 4, 2, 64, 1, 0, 1}, {2, 31, 6, 2, 80, 1, 5, 0}, {3, 40, 8, 1, 32, 1, 0, 1},
                 {2, 129, 4, 4, 128, 1, 0, 0}, {2, 7, 14, 2, 64, 1, 3, 1}};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
        run_case(&cs[i]);
}

/* The blocked kernel is deterministic: the same bits on 1 and 2 threads and in any batch. */
static void test_blocked_deterministic(void)
{
    Case c = {4, 37, 4, 2, 64, 1, 0, 1};
    int T = c.T, hs = c.hs, ldq = c.NH * hs, ldk = c.NKV * hs;
    size_t nq = (size_t)c.B * T * ldq, nk = (size_t)c.B * T * ldk, np = (size_t)c.B * c.NH * T * T;
    float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4), *dctx = malloc(nq * 4);
    float *out[2][5];
    unsigned seed = 99;
    for (size_t i = 0; i < nq; i++)
        q[i] = (float)urand(&seed), dctx[i] = (float)urand(&seed);
    for (size_t i = 0; i < nk; i++)
        k[i] = (float)urand(&seed), v[i] = (float)urand(&seed);
    AttnShape sh = {.NH = c.NH, .NKV = c.NKV, .hs = hs, .causal = 1};
    attention_kernel_set(1);
    for (int r = 0; r < 2; r++) {
        out[r][0] = malloc(nq * 4), out[r][1] = malloc(np * 4), out[r][2] = malloc(nq * 4);
        out[r][3] = malloc(nk * 4), out[r][4] = malloc(nk * 4);
        ops_set_threads(r + 1);
        int B = r ? c.B : 1; /* row 0 alone, then in a batch of 4 */
        attention_forward(out[r][0], out[r][1], q, k, v, NULL, &sh, B, T);
        attention_backward(out[r][2], out[r][3], out[r][4], NULL, NULL, dctx, q, k, v, out[r][1], &sh, B, T);
    }
    size_t n1[] = {(size_t)T * ldq, (size_t)c.NH * T * T, (size_t)T * ldq, (size_t)T * ldk, (size_t)T * ldk};
    for (int t = 0; t < 5; t++)
        CU_ASSERT(memcmp(out[0][t], out[1][t], n1[t] * 4) == 0);
    attention_kernel_set(0);
    for (int r = 0; r < 2; r++)
        for (int t = 0; t < 5; t++)
            free(out[r][t]);
    free(q), free(k), free(v), free(dctx);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("attention_kernel", NULL, NULL);
    CU_add_test(s, "encoder shapes (padding masks, hs 8-128, T 1-128)", test_encoder_shapes);
    CU_add_test(s, "decoder shapes (causal, window, GQA)", test_decoder_shapes);
    CU_add_test(s, "blocked kernel deterministic", test_blocked_deterministic);
    return test_run_registry();
}
