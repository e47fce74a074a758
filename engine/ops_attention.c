/* Multi-head self-attention core: scores, masked softmax, context, and the backward.
 * Every (row, head) product is a cblas_sgemm on strided views of the (B,T,D) Q/K/V
 * tensors (head h = columns [h·hs, (h+1)·hs), leading dimension D). */
#include "engine/ops.h"
#include <cblas.h>
#include <float.h>
#include <math.h>

/* Row-wise softmax of S (T,T) in place, after adding HF's additive mask
 * (1 - mask[j]) · finfo(float32).min to every score of key j. A fully masked row
 * ends up uniform, as in HF. */
static void masked_softmax(float *S, const int *mask, int T)
{
    for (int i = 0; i < T; i++) {
        float *s = S + (size_t)i * T;
        if (mask)
            for (int j = 0; j < T; j++)
                s[j] += mask[j] ? 0.0f : -FLT_MAX;
        float mx = s[0];
        for (int j = 1; j < T; j++)
            mx = s[j] > mx ? s[j] : mx;
        for (int j = 0; j < T; j++)
            s[j] -= mx;
        ops_exp_array(s, s, T);
        float sum = 0;
        for (int j = 0; j < T; j++)
            sum += s[j];
        float inv = 1.0f / sum;
        for (int j = 0; j < T; j++)
            s[j] *= inv;
    }
}

/* q, k, v (B,T,D) -> P (B,NH,T,T), ctx (B,T,D). Keeps q, k, v, P (the caller's
 * buffers) for the backward. */
void attention_forward(float *ctx, float *P, const float *q, const float *k, const float *v,
                       const int *mask, int B, int T, int D, int NH)
{
    int hs = D / NH;
    float scale = 1.0f / sqrtf((float)hs);
    for (int b = 0; b < B; b++) {
        const int *mb = mask ? mask + (size_t)b * T : NULL;
        for (int h = 0; h < NH; h++) {
            size_t off = (size_t)b * T * D + (size_t)h * hs;
            float *S = P + ((size_t)b * NH + h) * T * T;
            /* S (T,T) = scale · q_h (T,hs) k_h^T (hs,T) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, scale, q + off, D, k + off, D,
                        0.0f, S, T);
            masked_softmax(S, mb, T);
            /* ctx_h (T,hs) = P (T,T) v_h (T,hs) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, 1.0f, S, T, v + off, D, 0.0f,
                        ctx + off, D);
        }
    }
}

/* dctx (B,T,D) -> dq, dk, dv (B,T,D):
 *   dP = dctx_h v_h^T, dv_h = P^T dctx_h,
 *   dS = P ⊙ (dP - rowsum(P ⊙ dP))  (softmax backward; masked keys have P = 0, so dS = 0),
 *   dq_h = scale · dS k_h, dk_h = scale · dS^T q_h. */
void attention_backward(float *dq, float *dk, float *dv, float *dPbuf, float *dprobs,
                        const float *dctx, const float *q, const float *k, const float *v,
                        const float *P, int B, int T, int D, int NH)
{
    int hs = D / NH;
    float scale = 1.0f / sqrtf((float)hs);
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            size_t off = (size_t)b * T * D + (size_t)h * hs;
            const float *Pb = P + ((size_t)b * NH + h) * T * T;
            float *dP = dprobs ? dprobs + ((size_t)b * NH + h) * T * T : dPbuf;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, 1.0f, dctx + off, D, v + off, D,
                        0.0f, dP, T);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, 1.0f, Pb, T, dctx + off, D, 0.0f,
                        dv + off, D);
            float *dS = dPbuf;
            for (int i = 0; i < T; i++) {
                const float *p = Pb + (size_t)i * T, *g = dP + (size_t)i * T;
                float *s = dS + (size_t)i * T;
                float dot = 0;
                for (int j = 0; j < T; j++)
                    dot += p[j] * g[j];
                for (int j = 0; j < T; j++)
                    s[j] = p[j] * (g[j] - dot);
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, scale, dS, T, k + off, D, 0.0f,
                        dq + off, D);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, scale, dS, T, q + off, D, 0.0f,
                        dk + off, D);
        }
    }
}
