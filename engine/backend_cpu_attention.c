/* Multi-head self-attention core: scores, masked softmax, context, and the backward.
 * Every (row, head) product is a cblas_sgemm on strided views of the (B,T,D) Q/K/V
 * tensors (head h = columns [h·hs, (h+1)·hs), leading dimension D).
 *
 * Why the (row, head) pairs run on the engine's pool (backend_cpu_pool.c) with OpenBLAS at one
 * thread: a pair's products are small (T×T×hs), so OpenBLAS splitting each over its
 * threads mostly waits (measured: single-threaded calls were as fast as two-threaded
 * ones), and the softmax between them ran on one core. Now each pair runs whole on one
 * thread, its products on single-threaded sgemm (OpenBLAS's pthreads build allows
 * concurrent calls), so a pair's arithmetic does not depend on the thread count. */
#pragma GCC optimize("O3", "no-trapping-math")
#include "engine/backend_cpu.h"
#include "engine/ops_exp.h"
#include <cblas.h>
#include <float.h>
#include <math.h>

/* Row sums over keys in LANES fixed partial sums (key j in lane j % LANES, lanes added in
 * order): a plain serial sum cannot be vectorised without reordering it, this order is
 * fixed per row whatever the batch, and it vectorises. */
#define LANES 16

static inline float sum_lanes(const float *x, int n)
{
    float acc[LANES] = {0};
    int j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int l = 0; l < LANES; l++)
            acc[l] += x[j + l];
    for (int l = 0; j < n; j++, l++)
        acc[l] += x[j];
    float s = 0;
    for (int l = 0; l < LANES; l++)
        s += acc[l];
    return s;
}

/* x[j] = exp(x[j] - mx) for every j, and their sum in sum_lanes' order: one pass instead of
 * three (subtract, exp, sum), the same bits as those three. */
static inline float exp_sub_sum_lanes(float *x, float mx, int n)
{
    float acc[LANES] = {0};
    int j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int l = 0; l < LANES; l++) {
            float e = exp_inline(x[j + l] - mx);
            x[j + l] = e;
            acc[l] += e;
        }
    for (int l = 0; j < n; j++, l++) {
        float e = exp_inline(x[j] - mx);
        x[j] = e;
        acc[l] += e;
    }
    float s = 0;
    for (int l = 0; l < LANES; l++)
        s += acc[l];
    return s;
}

/* max_j x[j] (exact in any order; lanes only so that it vectorises). */
static inline float max_lanes(const float *x, int n)
{
    float acc[LANES];
    for (int l = 0; l < LANES; l++)
        acc[l] = x[0];
    int j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int l = 0; l < LANES; l++)
            acc[l] = x[j + l] > acc[l] ? x[j + l] : acc[l];
    for (int l = 0; j < n; j++, l++)
        acc[l] = x[j] > acc[l] ? x[j] : acc[l];
    float m = acc[0];
    for (int l = 1; l < LANES; l++)
        m = acc[l] > m ? acc[l] : m;
    return m;
}

static inline float dot_lanes(const float *x, const float *y, int n)
{
    float acc[LANES] = {0};
    int j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int l = 0; l < LANES; l++)
            acc[l] += x[j + l] * y[j + l];
    for (int l = 0; j < n; j++, l++)
        acc[l] += x[j] * y[j];
    float s = 0;
    for (int l = 0; l < LANES; l++)
        s += acc[l];
    return s;
}

/* Row-wise softmax of S (T,T) in place, after adding HF's additive mask
 * (1 - mask[j]) · finfo(float32).min to every score of key j. A fully masked row
 * ends up uniform, as in HF. Causal (decoders): key j > i is masked too, and with a
 * sliding window (window > 0) key j <= i - window; HF combines the masks before adding
 * them (one finfo.min per masked key), and so does this. */
HOT void attention_masked_softmax(float *S, const int *mask, int T, int causal, int window)
{
    for (int i = 0; i < T; i++) {
        float *s = S + (size_t)i * T;
        if (causal) {
            int lo = window > 0 ? i - window + 1 : 0;
            for (int j = 0; j < T; j++)
                s[j] += (j > i || j < lo || (mask && !mask[j])) ? -FLT_MAX : 0.0f;
        } else if (mask)
            for (int j = 0; j < T; j++)
                s[j] += mask[j] ? 0.0f : -FLT_MAX;
        float mx = max_lanes(s, T);
        float sum = exp_sub_sum_lanes(s, mx, T);
        float inv = 1.0f / sum;
        for (int j = 0; j < T; j++)
            s[j] *= inv;
    }
}

/* OpenBLAS at one thread for the small per-(row, head) products; returns the count to restore. */
static int blas_single_begin(void)
{
    int saved = openblas_get_num_threads();
    if (saved != 1)
        openblas_set_num_threads(1);
    return saved;
}

static void blas_single_end(int saved)
{
    if (saved != 1)
        openblas_set_num_threads(saved);
}

/* dS (T,T) = P ⊙ (dP - rowsum(P ⊙ dP)); dS may alias dP. */
HOT void attention_softmax_backward_rows(float *dS, const float *P, const float *dP, int T)
{
    for (int i = 0; i < T; i++) {
        const float *p = P + (size_t)i * T, *g = dP + (size_t)i * T;
        float *s = dS + (size_t)i * T;
        float dot = dot_lanes(p, g, T);
        for (int j = 0; j < T; j++)
            s[j] = p[j] * (g[j] - dot);
    }
}

/* Arguments of one call, shared by the (row, head) items. */
typedef struct {
    float *ctx, *P, *dq, *dk, *dv, *dPbuf, *dprobs;
    const float *q, *k, *v, *dctx, *Pc;
    const int *mask;
    int T, NH, hs, rep;    /* rep = NH / NKV query heads per key/value head (GQA) */
    int ldq, ldk;          /* NH·hs, NKV·hs */
    int causal, window;
    float scale;
} AttnArgs;

/* Offsets of head h of row b in the query-side (q, ctx, dq) and key-side (k, v, dk, dv) tensors. */
static inline void head_offsets(const AttnArgs *a, int bh, size_t *oq, size_t *ok)
{
    int b = bh / a->NH, h = bh % a->NH;
    *oq = (size_t)b * a->T * a->ldq + (size_t)h * a->hs;
    *ok = (size_t)b * a->T * a->ldk + (size_t)(h / a->rep) * a->hs;
}

static void attention_forward_item(void *arg, int bh, int tid)
{
    const AttnArgs *a = arg;
    int T = a->T, hs = a->hs, b = bh / a->NH;
    size_t oq, ok;
    head_offsets(a, bh, &oq, &ok);
    float *S = a->P + (size_t)bh * T * T;
    /* S (T,T) = scale · q_h (T,hs) k_g^T (hs,T), g = h / rep */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, a->scale, a->q + oq, a->ldq, a->k + ok, a->ldk,
                0.0f, S, T);
    attention_masked_softmax(S, a->mask ? a->mask + (size_t)b * T : NULL, T, a->causal, a->window);
    /* ctx_h (T,hs) = P (T,T) v_g (T,hs) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, 1.0f, S, T, a->v + ok, a->ldk, 0.0f,
                a->ctx + oq, a->ldq);
}

static int g_blocked; /* attention_kernel_set() */
void attention_kernel_set(int blocked) { g_blocked = blocked != 0; }
int attention_kernel_get(void) { return g_blocked; }

/* q (B,T,NH·hs), k, v (B,T,NKV·hs) -> P (B,NH,T,T), ctx (B,T,NH·hs). Keeps q, k, v, P
 * (the caller's buffers) for the backward. */
void attention_forward(float *ctx, float *P, const float *q, const float *k, const float *v,
                       const int *mask, const AttnShape *sh, int B, int T)
{
    if (g_blocked && attention_forward_blocked(ctx, P, q, k, v, mask, sh, B, T) == 0)
        return;
    AttnArgs a = {.ctx = ctx, .P = P, .q = q, .k = k, .v = v, .mask = mask, .T = T, .NH = sh->NH, .hs = sh->hs,
                  .rep = sh->NH / sh->NKV, .ldq = sh->NH * sh->hs, .ldk = sh->NKV * sh->hs, .causal = sh->causal,
                  .window = sh->window, .scale = 1.0f / sqrtf((float)sh->hs)};
    int NH = sh->NH;
    int nt = ops_threads(), saved = blas_single_begin();
    ops_parallel(B * NH, nt, attention_forward_item, &a);
    blas_single_end(saved);
}

static void attention_backward_item(void *arg, int bh, int tid)
{
    const AttnArgs *a = arg;
    int T = a->T, hs = a->hs;
    size_t oq, ok;
    head_offsets(a, bh, &oq, &ok);
    const float *Pb = a->Pc + (size_t)bh * T * T;
    float *scratch = a->dPbuf + (size_t)tid * T * T;
    float *dP = a->dprobs ? a->dprobs + (size_t)bh * T * T : scratch;
    /* With GQA (rep > 1) the rep query heads of one key/value head run one after another in
     * one item (see attention_backward), so the first writes dk/dv and the others add. */
    float acc = a->rep > 1 && (bh % a->NH) % a->rep ? 1.0f : 0.0f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, 1.0f, a->dctx + oq, a->ldq, a->v + ok, a->ldk,
                0.0f, dP, T);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, 1.0f, Pb, T, a->dctx + oq, a->ldq, acc,
                a->dv + ok, a->ldk);
    float *dS = scratch;
    attention_softmax_backward_rows(dS, Pb, dP, T);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, a->scale, dS, T, a->k + ok, a->ldk, 0.0f,
                a->dq + oq, a->ldq);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, a->scale, dS, T, a->q + oq, a->ldq, acc,
                a->dk + ok, a->ldk);
}

/* One item per (row, key/value head): its rep query heads in order (they share dk, dv). */
static void attention_backward_group(void *arg, int bg, int tid)
{
    const AttnArgs *a = arg;
    for (int r = 0; r < a->rep; r++)
        attention_backward_item(arg, bg * a->rep + r, tid);
}

/* dctx (B,T,NH·hs) -> dq (B,T,NH·hs), dk, dv (B,T,NKV·hs):
 *   dP = dctx_h v_h^T, dv_h = P^T dctx_h,
 *   dS = P ⊙ (dP - rowsum(P ⊙ dP))  (softmax backward; masked keys have P = 0, so dS = 0),
 *   dq_h = scale · dS k_h, dk_h = scale · dS^T q_h. */
void attention_backward(float *dq, float *dk, float *dv, float *dPbuf, float *dprobs,
                        const float *dctx, const float *q, const float *k, const float *v,
                        const float *P, const AttnShape *sh, int B, int T)
{
    if (g_blocked && attention_backward_blocked(dq, dk, dv, dprobs, dctx, q, k, v, P, sh, B, T) == 0)
        return;
    AttnArgs a = {.dq = dq, .dk = dk, .dv = dv, .dPbuf = dPbuf, .dprobs = dprobs, .dctx = dctx, .q = q, .k = k,
                  .v = v, .Pc = P, .T = T, .NH = sh->NH, .hs = sh->hs, .rep = sh->NH / sh->NKV,
                  .ldq = sh->NH * sh->hs, .ldk = sh->NKV * sh->hs, .causal = sh->causal, .window = sh->window,
                  .scale = 1.0f / sqrtf((float)sh->hs)};
    int nt = ops_threads(), saved = blas_single_begin();
    if (a.rep > 1)
        ops_parallel(B * sh->NKV, nt, attention_backward_group, &a);
    else
        ops_parallel(B * sh->NH, nt, attention_backward_item, &a);
    blas_single_end(saved);
}
