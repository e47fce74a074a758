/* The attention core of the "cpu-bf16" backend: QKᵀ, P·V and the four products of the
 * backward as batched bf16 products (gemm_bf16_batched, oneDNN on AMX), one call per
 * product for all (row, head) pairs of a micro-batch instead of B·NH small sgemm calls.
 *
 * What stays fp32, and why: the scores' masked softmax and its backward (exp and the row
 * sums are where bf16 would lose most), the probabilities P the engine keeps and stores,
 * dF/dP (the conductance tap), and every accumulation (oneDNN accumulates in fp32 and
 * writes fp32 outputs). What is bf16: the operands of the six products — q, k, v and
 * dctx converted once per call, P and dS converted per (row, head) right after the fp32
 * softmax (or its backward) while they are in cache. This is what torch.autocast does
 * on the CPU (bmm in bf16, softmax in fp32), measured in docs/performance.md.
 *
 * Grouped-query attention: the query heads h = g·rep + r (r < rep) of key/value head g
 * are one batched call per r over (row, g), so K and V are read in place; dk and dv add
 * the calls r > 0 (sum post-op). Layouts as in backend_cpu.h (head h = columns
 * [h·hs, (h+1)·hs)); every operand is a strided view, nothing is transposed in memory. */
#include "engine/backend_cpu.h"
#include "engine/gemm_bf16.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Scratch of the process (the engine is single-threaded), grown as needed; freed by
 * attention_bf16_release (the backend's release_scratch). */
typedef struct {
    uint16_t *p;
    size_t cap;
} Buf16;
static Buf16 g_q, g_k, g_v, g_dctx, g_P, g_dS;
static float *g_dP;
static size_t g_dP_cap;

static uint16_t *buf16(Buf16 *b, size_t n)
{
    if (n > b->cap) {
        uint16_t *p = realloc(b->p, n * sizeof *p);
        if (!p)
            return NULL;
        b->p = p;
        b->cap = n;
    }
    return b->p;
}

void attention_bf16_release(void)
{
    Buf16 *all[] = {&g_q, &g_k, &g_v, &g_dctx, &g_P, &g_dS};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        free(all[i]->p);
        *all[i] = (Buf16){0};
    }
    free(g_dP);
    g_dP = NULL;
    g_dP_cap = 0;
}

/* The views of one batched call over (row b, group g) for query head h = g·rep + r: the
 * (T, hs) query-side head (q, ctx, dq), the (T, hs) key-side head (k, v, dk, dv), the
 * (T, T) block of P / dP / dS, each as is or transposed. Strides: b, g, row, column. */
typedef struct {
    int B, G, T, hs, rep;
    long qv[4], qt[4], kv[4], kt[4], pv[4], pt[4];
    size_t nq, nk, TT, np; /* elements of q, of k, of one (T, T) block, of P */
    float scale;
} Views;

static void views_init(Views *w, const AttnShape *sh, int B, int T)
{
    long ldq = (long)sh->NH * sh->hs, ldk = (long)sh->NKV * sh->hs, TT = (long)T * T;
    int rep = sh->NH / sh->NKV;
    *w = (Views){.B = B, .G = sh->NKV, .T = T, .hs = sh->hs, .rep = rep, .nq = (size_t)B * T * ldq,
                 .nk = (size_t)B * T * ldk, .TT = (size_t)TT, .np = (size_t)B * sh->NH * TT,
                 .scale = 1.0f / sqrtf((float)sh->hs)};
    long qb = T * ldq, qg = (long)rep * sh->hs, kb = T * ldk, kg = sh->hs, pb = sh->NH * TT, pg = rep * TT;
    memcpy(w->qv, (long[4]){qb, qg, ldq, 1}, sizeof w->qv);
    memcpy(w->qt, (long[4]){qb, qg, 1, ldq}, sizeof w->qt);
    memcpy(w->kv, (long[4]){kb, kg, ldk, 1}, sizeof w->kv);
    memcpy(w->kt, (long[4]){kb, kg, 1, ldk}, sizeof w->kt);
    memcpy(w->pv, (long[4]){pb, pg, T, 1}, sizeof w->pv);
    memcpy(w->pt, (long[4]){pb, pg, 1, T}, sizeof w->pt);
}

/* dst (M,N) (+)= alpha · a (M,K) b (K,N) for every (row, group). */
static int bmm(const Views *w, float *dst, const long *sd, const uint16_t *a, const long *sa, const uint16_t *b,
               const long *sb, int M, int K, int N, float alpha, int accum)
{
    Bf16Batched s;
    memset(&s, 0, sizeof s);
    s.nb = 2;
    s.batch[0] = w->B;
    s.batch[1] = w->G;
    s.M = M, s.K = K, s.N = N;
    s.alpha = alpha;
    s.accum = accum;
    memcpy(s.sa, sa, sizeof s.sa);
    memcpy(s.sb, sb, sizeof s.sb);
    memcpy(s.sd, sd, sizeof s.sd);
    return gemm_bf16_batched(&s, dst, a, b);
}

/* Per-(row, head) element-wise work between the products, on the engine's threads. */
typedef struct {
    float *P, *dP, *dSbuf;
    uint16_t *Pb, *dSb;
    const int *mask;
    int T, NH, causal, window;
} RowArgs;

static void softmax_item(void *arg, int bh, int tid)
{
    const RowArgs *a = arg;
    size_t TT = (size_t)a->T * a->T;
    float *S = a->P + (size_t)bh * TT;
    attention_masked_softmax(S, a->mask ? a->mask + (size_t)(bh / a->NH) * a->T : NULL, a->T, a->causal,
                             a->window);
    gemm_bf16_from_f32(a->Pb + (size_t)bh * TT, S, TT);
}

static void softmax_backward_item(void *arg, int bh, int tid)
{
    const RowArgs *a = arg;
    size_t TT = (size_t)a->T * a->T;
    float *dS = a->dSbuf + (size_t)tid * TT;
    const float *P = a->P + (size_t)bh * TT;
    attention_softmax_backward_rows(dS, P, a->dP + (size_t)bh * TT, a->T);
    gemm_bf16_from_f32(a->dSb + (size_t)bh * TT, dS, TT);
    gemm_bf16_from_f32(a->Pb + (size_t)bh * TT, P, TT);
}

/* q, k, v -> bf16 copies; NULL when out of memory. */
static int convert_qkv(const float *q, const float *k, const float *v, size_t nq, size_t nk)
{
    if (!buf16(&g_q, nq) || !buf16(&g_k, nk) || !buf16(&g_v, nk))
        return -1;
    gemm_bf16_convert(g_q.p, q, nq);
    gemm_bf16_convert(g_k.p, k, nk);
    gemm_bf16_convert(g_v.p, v, nk);
    return 0;
}

int attention_forward_bf16(float *ctx, float *P, const float *q, const float *k, const float *v, const int *mask,
                           const AttnShape *sh, int B, int T)
{
    if (!gemm_bf16_available() || B <= 0 || T <= 0)
        return -1;
    Views w;
    views_init(&w, sh, B, T);
    size_t TT = w.TT;
    int hs = sh->hs;
    if (convert_qkv(q, k, v, w.nq, w.nk) != 0 || !buf16(&g_P, w.np))
        return -1;
    /* S (T,T) = scale · q_h k_g^T */
    for (int r = 0; r < w.rep; r++)
        if (bmm(&w, P + r * TT, w.pv, g_q.p + (size_t)r * hs, w.qv, g_k.p, w.kt, T, hs, T, w.scale, 0) != 0)
            return -1;
    RowArgs ra = {.P = P, .Pb = g_P.p, .mask = mask, .T = T, .NH = sh->NH, .causal = sh->causal,
                  .window = sh->window};
    ops_parallel(B * sh->NH, ops_threads(), softmax_item, &ra);
    /* ctx_h (T,hs) = P v_g */
    for (int r = 0; r < w.rep; r++)
        if (bmm(&w, ctx + (size_t)r * hs, w.qv, g_P.p + r * TT, w.pv, g_v.p, w.kv, T, T, hs, 1.0f, 0) != 0)
            return -1;
    return 0;
}

int attention_backward_bf16(float *dq, float *dk, float *dv, float *dPbuf, float *dprobs, const float *dctx,
                            const float *q, const float *k, const float *v, const float *P, const AttnShape *sh,
                            int B, int T)
{
    if (!gemm_bf16_available() || B <= 0 || T <= 0)
        return -1;
    Views w;
    views_init(&w, sh, B, T);
    size_t TT = w.TT, np = w.np;
    int hs = sh->hs;
    if (convert_qkv(q, k, v, w.nq, w.nk) != 0 || !buf16(&g_dctx, w.nq) || !buf16(&g_P, np) || !buf16(&g_dS, np))
        return -1;
    float *dP = dprobs;
    if (!dP) {
        if (np > g_dP_cap) {
            float *p = realloc(g_dP, np * sizeof *p);
            if (!p)
                return -1;
            g_dP = p;
            g_dP_cap = np;
        }
        dP = g_dP;
    }
    gemm_bf16_convert(g_dctx.p, dctx, w.nq);
    /* dP = dctx_h v_g^T */
    for (int r = 0; r < w.rep; r++)
        if (bmm(&w, dP + r * TT, w.pv, g_dctx.p + (size_t)r * hs, w.qv, g_v.p, w.kt, T, hs, T, 1.0f, 0) != 0)
            return -1;
    /* dS = P ⊙ (dP - rowsum(P ⊙ dP)) in fp32, then dS and P in bf16 */
    RowArgs ra = {.P = (float *)P, .dP = dP, .dSbuf = dPbuf, .Pb = g_P.p, .dSb = g_dS.p, .T = T, .NH = sh->NH};
    ops_parallel(B * sh->NH, ops_threads(), softmax_backward_item, &ra);
    for (int r = 0; r < w.rep; r++) {
        size_t oq = (size_t)r * hs, op = r * TT;
        int acc = r > 0;
        /* dv_g (+)= P^T dctx_h;  dq_h = scale · dS k_g;  dk_g (+)= scale · dS^T q_h */
        if (bmm(&w, dv, w.kv, g_P.p + op, w.pt, g_dctx.p + oq, w.qv, T, T, hs, 1.0f, acc) != 0 ||
            bmm(&w, dq + oq, w.qv, g_dS.p + op, w.pv, g_k.p, w.kv, T, T, hs, w.scale, 0) != 0 ||
            bmm(&w, dk, w.kv, g_dS.p + op, w.pt, g_q.p + oq, w.qv, T, T, hs, w.scale, acc) != 0)
            return -1;
    }
    return 0;
}
