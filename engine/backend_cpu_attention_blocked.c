/* The blocked attention kernel (issue 17): QKᵀ, masked softmax, P·V and their backward for all
 * heads of a micro-batch without a BLAS call per (row, head).
 *
 * Why: at T = 32..128 a (row, head) product is 32²..128² × hs, and OpenBLAS's per-call cost
 * (argument checks, packing both operands into its own buffers, its blocking logic) is a large
 * part of it; attention ran at a fraction of the sgemm rate (bench --profile). Here one work item
 * is one (row, key/value head): the key/value head's K and V are packed once into per-thread
 * scratch (padded to whole vectors) and serve its NH/NKV query heads (GQA), and every product is
 * one register-blocked loop: C (M,N) = α Σ_k a(m,k) · B(k,n), a read through strides (so that
 * Pᵀ and dSᵀ need no transposed copy), B packed row-major with N padded to a multiple of 16.
 *
 * Dispatch: the tile loop is plain C on GCC vector types, compiled for x86-64-v4 (AVX-512),
 * v3 (AVX2 + FMA) and the project's v2 baseline, the loader picking the best clone (HOT);
 * a second, uncloned copy is the portable path that tests/test_attention_kernel.c checks too
 * (attention_blocked_portable(1)). Arithmetic: each output is one serial FMA chain over k (fixed
 * order, so the result does not depend on the thread count or the batch), different from
 * OpenBLAS's, so results differ from the BLAS kernel in the last bits (not in accuracy: see the
 * test). The softmax and its backward are the BLAS kernel's own functions (same lanes). */
#pragma GCC optimize("O3", "no-trapping-math")
#include "engine/backend_cpu.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define VL 16                 /* floats per vector of the tile loop */
#define NVMAX 4               /* vectors per tile row: 64 columns */
#define MR 4                  /* rows per tile */
typedef float vf __attribute__((vector_size(VL * sizeof(float))));

static int g_portable;        /* tests: run the uncloned copy */
void attention_blocked_portable(int on) { g_portable = on; }

static inline int round_up(int x, int m) { return (x + m - 1) / m * m; }

/* One tile of MRt rows × NVt vectors at (m0, n0), k = 0..K-1 serial: acc += a(m,k) · B(k, n0..);
 * then C = α·acc, or C += α·acc (accumulate). The last vector may be partial (N - n0 < NVt·VL).
 * Always inlined with constant MRt, NVt, so that acc lives in registers. */
#define GEMM_ARGS                                                                                        \
    int M, int N, int K, float alpha, const float *A, size_t sam, size_t sak, const float *B, int ldb,   \
        float *C, int ldc, int accumulate
#define GEMM_PASS M, N, K, alpha, A, sam, sak, B, ldb, C, ldc, accumulate

static inline __attribute__((always_inline)) void tile(const int MRt, const int NVt, int m0, int n0, GEMM_ARGS)
{
    vf acc[MR][NVMAX];
    for (int r = 0; r < MRt; r++)
        for (int v = 0; v < NVt; v++)
            acc[r][v] = (vf){0};
    const float *ap = A + (size_t)m0 * sam, *bp = B + n0;
    for (int k = 0; k < K; k++, bp += ldb) {
        vf bv[NVMAX];
        for (int v = 0; v < NVt; v++)
            memcpy(&bv[v], bp + v * VL, sizeof(vf));
        for (int r = 0; r < MRt; r++) {
            float x = ap[(size_t)r * sam + (size_t)k * sak];
            for (int v = 0; v < NVt; v++)
                acc[r][v] += x * bv[v];
        }
    }
    for (int r = 0; r < MRt; r++) {
        float *c = C + (size_t)(m0 + r) * ldc + n0;
        for (int v = 0; v < NVt; v++) {
            int w = N - n0 - v * VL;
            w = w > VL ? VL : w;
            float t[VL];
            vf s = acc[r][v] * alpha;
            memcpy(t, &s, sizeof t);
            if (accumulate)
                for (int x = 0; x < w; x++)
                    c[v * VL + x] += t[x];
            else
                memcpy(c + v * VL, t, (size_t)w * sizeof(float));
        }
    }
}

/* Rows of tile height MRt over all columns: whole 64-column tiles, then one tile of the 1-4
 * vectors left (4 when 48 < N - n0 < 64: its last vector partial). */
static inline __attribute__((always_inline)) void tile_row(const int MRt, int m0, GEMM_ARGS)
{
    int n0 = 0;
    for (; N - n0 >= NVMAX * VL; n0 += NVMAX * VL)
        tile(MRt, NVMAX, m0, n0, GEMM_PASS);
    switch ((N - n0 + VL - 1) / VL) {
    case 1: tile(MRt, 1, m0, n0, GEMM_PASS); break;
    case 2: tile(MRt, 2, m0, n0, GEMM_PASS); break;
    case 3: tile(MRt, 3, m0, n0, GEMM_PASS); break;
    case 4: tile(MRt, 4, m0, n0, GEMM_PASS); break;
    }
}

/* C (M,N), ldc = α Σ_k A[m·sam + k·sak] · B[k·ldb + n] (+ C). B has ldb ≥ round_up(N, VL) and its
 * padding columns hold finite values (they are computed and dropped). */
static inline __attribute__((always_inline)) void gemm_body(GEMM_ARGS)
{
    int m0 = 0;
    for (; M - m0 >= MR; m0 += MR)
        tile_row(MR, m0, GEMM_PASS);
    for (; m0 < M; m0++)
        tile_row(1, m0, GEMM_PASS);
}

static HOT void gemm_hot(GEMM_ARGS) { gemm_body(GEMM_PASS); }
static void gemm_portable(GEMM_ARGS) { gemm_body(GEMM_PASS); }

static void gemm(GEMM_ARGS)
{
    if (g_portable)
        gemm_portable(GEMM_PASS);
    else
        gemm_hot(GEMM_PASS);
}

/* dst (rows, ldd) = src (rows, cols) with leading dimension lds; columns cols..ldd-1 zeroed. */
static void pack_rows(float *dst, int ldd, const float *src, size_t lds, int rows, int cols)
{
    for (int i = 0; i < rows; i++) {
        memcpy(dst + (size_t)i * ldd, src + (size_t)i * lds, (size_t)cols * sizeof(float));
        memset(dst + (size_t)i * ldd + cols, 0, (size_t)(ldd - cols) * sizeof(float));
    }
}

/* dst (cols, ldd) = srcᵀ: dst[c][r] = src[r·lds + c]; columns rows..ldd-1 zeroed. */
static void pack_transposed(float *dst, int ldd, const float *src, size_t lds, int rows, int cols)
{
    for (int c = 0; c < cols; c++) {
        float *d = dst + (size_t)c * ldd;
        for (int r = 0; r < rows; r++)
            d[r] = src[(size_t)r * lds + c];
        memset(d + rows, 0, (size_t)(ldd - rows) * sizeof(float));
    }
}

/* Per-thread scratch, grown by the calling thread before the items run (items never allocate). */
#define SCRATCH_MAX 64
static float *g_scratch[SCRATCH_MAX];
static size_t g_scratch_n[SCRATCH_MAX];

void attention_blocked_release(void)
{
    for (int t = 0; t < SCRATCH_MAX; t++) {
        free(g_scratch[t]);
        g_scratch[t] = NULL;
        g_scratch_n[t] = 0;
    }
}

static int scratch_reserve(int threads, size_t floats)
{
    if (threads > SCRATCH_MAX)
        return -1;
    for (int t = 0; t < threads; t++) {
        if (g_scratch_n[t] >= floats)
            continue;
        float *p = realloc(g_scratch[t], floats * sizeof(float));
        if (!p)
            return -1;
        g_scratch[t] = p;
        g_scratch_n[t] = floats;
    }
    return 0;
}

typedef struct {
    float *ctx, *P, *dq, *dk, *dv, *dprobs;
    const float *q, *k, *v, *dctx, *Pc;
    const int *mask;
    int T, NH, NKV, hs, rep, ldq, ldk, causal, window, Tp, hp;
    float scale;
} Blk;

/* One (row b, key/value head g): K_gᵀ and V_g packed once, then each of its rep query heads:
 * S = scale · q_h K_gᵀ into P, masked softmax, ctx_h = P V_g. */
static void fwd_item(void *arg, int bg, int tid)
{
    const Blk *a = arg;
    int T = a->T, hs = a->hs, Tp = a->Tp, hp = a->hp, b = bg / a->NKV, g = bg % a->NKV;
    float *Kt = g_scratch[tid], *Vp = Kt + (size_t)hs * Tp;
    const float *kg = a->k + (size_t)b * T * a->ldk + (size_t)g * hs, *vg = a->v + (size_t)b * T * a->ldk + (size_t)g * hs;
    pack_transposed(Kt, Tp, kg, a->ldk, T, hs);
    const float *V = vg; /* read in place when hs is whole vectors (32, 64, 80, 128: no padding needed) */
    int ldv = a->ldk;
    if (hs % VL) {
        pack_rows(Vp, hp, vg, a->ldk, T, hs);
        V = Vp, ldv = hp;
    }
    for (int r = 0; r < a->rep; r++) {
        int h = g * a->rep + r;
        size_t oq = (size_t)b * T * a->ldq + (size_t)h * hs;
        float *S = a->P + ((size_t)b * a->NH + h) * T * T;
        gemm(T, T, hs, a->scale, a->q + oq, a->ldq, 1, Kt, Tp, S, T, 0);
        attention_masked_softmax(S, a->mask ? a->mask + (size_t)b * T : NULL, T, a->causal, a->window);
        gemm(T, hs, T, 1.0f, S, T, 1, V, ldv, a->ctx + oq, a->ldq, 0);
    }
}

int attention_forward_blocked(float *ctx, float *P, const float *q, const float *k, const float *v,
                              const int *mask, const AttnShape *sh, int B, int T)
{
    int hs = sh->hs, Tp = round_up(T, VL), hp = round_up(hs, VL), nt = ops_threads();
    Blk a = {.ctx = ctx, .P = P, .q = q, .k = k, .v = v, .mask = mask, .T = T, .NH = sh->NH, .NKV = sh->NKV,
             .hs = hs, .rep = sh->NH / sh->NKV, .ldq = sh->NH * hs, .ldk = sh->NKV * hs, .causal = sh->causal,
             .window = sh->window, .Tp = Tp, .hp = hp, .scale = 1.0f / sqrtf((float)hs)};
    if (scratch_reserve(nt, (size_t)hs * Tp + (size_t)T * hp))
        return -1;
    ops_parallel(B * sh->NKV, nt, fwd_item, &a);
    return 0;
}

/* One (row b, key/value head g), its rep query heads in order (the first writes dk, dv, the
 * others add):  dP = dctx_h V_gᵀ, dv_g (+)= Pᵀ dctx_h, dS = P ⊙ (dP − rowsum(P ⊙ dP)),
 * dq_h = scale · dS K_g, dk_g (+)= scale · dSᵀ q_h. */
static void bwd_item(void *arg, int bg, int tid)
{
    const Blk *a = arg;
    int T = a->T, hs = a->hs, Tp = a->Tp, hp = a->hp, b = bg / a->NKV, g = bg % a->NKV;
    float *Vt = g_scratch[tid], *Kp = Vt + (size_t)hs * Tp, *Qp = Kp + (size_t)T * hp, *Dp = Qp + (size_t)T * hp;
    float *dS = Dp + (size_t)T * hp;
    size_t ok = (size_t)b * T * a->ldk + (size_t)g * hs;
    int inplace = hs % VL == 0; /* K, q, dctx read in place (whole vectors), else padded copies */
    pack_transposed(Vt, Tp, a->v + ok, a->ldk, T, hs);
    const float *K = inplace ? a->k + ok : Kp;
    int ldkk = inplace ? a->ldk : hp, ldqq = inplace ? a->ldq : hp;
    if (!inplace)
        pack_rows(Kp, hp, a->k + ok, a->ldk, T, hs);
    for (int r = 0; r < a->rep; r++) {
        int h = g * a->rep + r, acc = r > 0;
        size_t oq = (size_t)b * T * a->ldq + (size_t)h * hs, op = ((size_t)b * a->NH + h) * T * T;
        const float *Pb = a->Pc + op;
        float *dP = a->dprobs ? a->dprobs + op : dS;
        const float *Q = a->q + oq, *D = a->dctx + oq;
        if (!inplace) {
            pack_rows(Qp, hp, Q, a->ldq, T, hs);
            pack_rows(Dp, hp, D, a->ldq, T, hs);
            Q = Qp, D = Dp;
        }
        gemm(T, T, hs, 1.0f, a->dctx + oq, a->ldq, 1, Vt, Tp, dP, T, 0);
        gemm(T, hs, T, 1.0f, Pb, 1, T, D, ldqq, a->dv + ok, a->ldk, acc);
        attention_softmax_backward_rows(dS, Pb, dP, T);
        gemm(T, hs, T, a->scale, dS, T, 1, K, ldkk, a->dq + oq, a->ldq, 0);
        gemm(T, hs, T, a->scale, dS, 1, T, Q, ldqq, a->dk + ok, a->ldk, acc);
    }
}

int attention_backward_blocked(float *dq, float *dk, float *dv, float *dprobs, const float *dctx,
                               const float *q, const float *k, const float *v, const float *P,
                               const AttnShape *sh, int B, int T)
{
    int hs = sh->hs, Tp = round_up(T, VL), hp = round_up(hs, VL), nt = ops_threads();
    Blk a = {.dq = dq, .dk = dk, .dv = dv, .dprobs = dprobs, .dctx = dctx, .q = q, .k = k, .v = v, .Pc = P, .T = T,
             .NH = sh->NH, .NKV = sh->NKV, .hs = hs, .rep = sh->NH / sh->NKV, .ldq = sh->NH * hs,
             .ldk = sh->NKV * hs, .causal = sh->causal, .window = sh->window, .Tp = Tp, .hp = hp,
             .scale = 1.0f / sqrtf((float)hs)};
    if (scratch_reserve(nt, (size_t)hs * Tp + 3 * (size_t)T * hp + (size_t)T * T))
        return -1;
    ops_parallel(B * sh->NKV, nt, bwd_item, &a);
    return 0;
}
