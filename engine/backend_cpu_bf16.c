/* The "cpu-bf16" backend (precision: bf16): the CPU backend with its linear layers as bf16
 * products accumulated in fp32 (gemm_bf16.c, oneDNN). Everything else stays the CPU
 * backend's fp32 code: attention (scores, softmax, P·V), norms, activations, the
 * residual stream and the head's softmax, where bf16's 8 bits would cost most accuracy
 * for a few per cent of the FLOPs.
 * "cpu-bf16-attention" (precision: bf16-attention) also runs the attention's six products
 * in bf16 (backend_cpu_attention_bf16.c; the softmax stays fp32), as torch.autocast does:
 * measured in docs/performance.md, it is a few per cent faster on BERT-base at 128-512
 * tokens and less accurate, so it is not what `bf16` means. */
#include "engine/backend_cpu.h"
#include "engine/engine.h"
#include "engine/gemm_bf16.h"

/* A product oneDNN fails (out of memory for a primitive) is redone in fp32. */
static void bf16_linear_forward(float *y, const float *x, const float *W, const float *b, int N, int IN, int OUT)
{
    if (gemm_bf16_xwt(y, x, W, b, N, IN, OUT) != 0)
        linear_forward(y, x, W, b, N, IN, OUT);
}

static void bf16_linear_backward(float *dx, const float *dy, const float *W, int N, int IN, int OUT, int accumulate)
{
    if (gemm_bf16_dyw(dx, dy, W, N, IN, OUT, accumulate) != 0)
        linear_backward(dx, dy, W, N, IN, OUT, accumulate);
}

static void bf16_attention_forward(float *ctx, float *P, const float *q, const float *k, const float *v,
                                   const int *mask, const AttnShape *sh, int B, int T)
{
    if (attention_forward_bf16(ctx, P, q, k, v, mask, sh, B, T) != 0)
        attention_forward(ctx, P, q, k, v, mask, sh, B, T);
}

static void bf16_attention_backward(float *dq, float *dk, float *dv, float *dPbuf, float *dprobs,
                                    const float *dctx, const float *q, const float *k, const float *v,
                                    const float *P, const AttnShape *sh, int B, int T)
{
    if (attention_backward_bf16(dq, dk, dv, dPbuf, dprobs, dctx, q, k, v, P, sh, B, T) != 0)
        attention_backward(dq, dk, dv, dPbuf, dprobs, dctx, q, k, v, P, sh, B, T);
}

/* Each variant frees its own scratch and its parent's (cpu, then cpu-bf16). */
static void bf16_release_scratch(void)
{
    backend_cpu.release_scratch();
    gemm_bf16_release_scratch();
}

static void bf16_attention_release_scratch(void)
{
    bf16_release_scratch();
    attention_bf16_release();
}

const Backend *backend_cpu_bf16(void)
{
    static Backend be;
    if (!gemm_bf16_available())
        return NULL;
    if (!be.name) {
        be = backend_cpu;
        be.name = "cpu-bf16";
        be.linear_forward = bf16_linear_forward;
        be.linear_backward = bf16_linear_backward;
        be.release_scratch = bf16_release_scratch;
    }
    return &be;
}

const Backend *backend_cpu_bf16_attention(void)
{
    static Backend be;
    if (!backend_cpu_bf16())
        return NULL;
    if (!be.name) {
        be = *backend_cpu_bf16();
        be.name = "cpu-bf16-attention";
        be.attention_forward = bf16_attention_forward;
        be.attention_backward = bf16_attention_backward;
        be.release_scratch = bf16_attention_release_scratch;
    }
    return &be;
}

const char *engine_bf16_status(void) { return gemm_bf16_isa(); }
