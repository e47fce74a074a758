/* The CPU backend's kernels (OpenBLAS + the engine's thread pool), internal to engine/:
 * backend_cpu.c puts them into the Backend table (engine/backend.h), which is how the
 * engine reaches them. Every forward sits next to its backward, and the forward's comment
 * says what it keeps for the backward. Backwards compute input gradients only
 * (attribution never needs weight gradients). Shapes: N = rows × tokens (B·T), D hidden,
 * FF intermediate, NH heads, hs head size. All tensors row-major float. */
#ifndef ATTRUN_BACKEND_CPU_H
#define ATTRUN_BACKEND_CPU_H
#include "engine/backend.h"

/* HOT: element-wise kernels are compiled for AVX-512 and AVX2 as well as the project's x86-64-v2
 * baseline, and the loader picks the best clone for the CPU (GCC target_clones). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(ATTRUN_NO_CLONES)
#define HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define HOT
#endif

/* ---- backend_cpu_pool.c: the engine's threads for work OpenBLAS does not thread ---- */
/* Threads of that work: engine_set_threads()'s count, else OpenBLAS's. */
int ops_threads(void);
void ops_set_threads(int threads);
/* Runs fn(ctx, i, tid) for every item i in [0, n) on up to `threads` threads (tid in
 * [0, threads): the caller is 0); returns when all are done. Items are independent and
 * each runs whole on one thread. One caller at a time (the engine is single-threaded). */
typedef void (*ops_task_fn)(void *ctx, int item, int tid);
void ops_parallel(int n, int threads, ops_task_fn fn, void *ctx);

/* ---- backend_cpu_linear.c: y = x W^T + b through cblas_sgemm ---- */
/* x (N,IN), W (OUT,IN) PyTorch layout, b (OUT) or NULL, y (N,OUT).
 * Keeps nothing: the input gradient needs only W. */
void linear_forward(float *y, const float *x, const float *W, const float *b, int N, int IN, int OUT);
/* dx (N,IN) = dy (N,OUT) W (OUT,IN); accumulate: dx += instead of dx =. */
void linear_backward(float *dx, const float *dy, const float *W, int N, int IN, int OUT, int accumulate);

/* ---- backend_cpu_layernorm.c: y = g · (x - mean)/sqrt(var + eps) + b, biased variance ---- */
/* x, y, xhat (N,D); rstd (N). Keeps xhat (normalised input) and rstd for the backward.
 * y may alias x. */
void layernorm_forward(float *y, float *xhat, float *rstd, const float *x, const float *g,
                       const float *b, float eps, int N, int D);
/* x += r (N,D), then y = LayerNorm(x) as layernorm_forward: the same bits as cpu_add followed by
 * layernorm_forward, but each row's sum is normalised while it is in cache, and the add runs on
 * the pool's threads. y must not alias x or r. */
void add_layernorm_forward(float *y, float *xhat, float *rstd, float *x, const float *r, const float *g,
                           const float *b, float eps, int N, int D);
/* dx (N,D) from dy (N,D): dx = rstd · (g·dy - mean(g·dy) - xhat · mean(g·dy·xhat)).
 * dx may alias dy. */
void layernorm_backward(float *dx, const float *dy, const float *xhat, const float *rstd,
                        const float *g, int N, int D);

/* ---- backend_cpu_attention.c: multi-head self-attention core (after Q,K,V projections) ---- */
/* q, ctx (B,T,NH·hs) with head h in columns [h·hs, (h+1)·hs); k, v (B,T,NKV·hs);
 * P (B,NH,T,T); mask (B,T) of 1/0 or NULL. scores = q k^T / sqrt(hs) + (1-mask)·(-FLT_MAX)
 * (HF adds finfo.min; causal / window masks likewise), P = softmax over keys, ctx = P v.
 * Keeps q, k, v and P for the backward (ctx is not needed: no weight gradients). */
void attention_forward(float *ctx, float *P, const float *q, const float *k, const float *v,
                       const int *mask, const AttnShape *sh, int B, int T);
/* dq (B,T,NH·hs), dk, dv (B,T,NKV·hs) from dctx (B,T,NH·hs). dPbuf: (ops_threads(),T,T) scratch, one (T,T) per
 * thread; when dprobs != NULL dF/dP is written there instead ((B,NH,T,T), the conductance tap).
 * Both directions share the (row, head) pairs among ops_threads() threads. */
void attention_backward(float *dq, float *dk, float *dv, float *dPbuf, float *dprobs,
                        const float *dctx, const float *q, const float *k, const float *v,
                        const float *P, const AttnShape *sh, int B, int T);

/* The rows of the per-(row, head) kernels, shared with the blocked kernel below: masked softmax
 * of S (T,T) in place (HF's additive finfo.min mask, causal / window), and
 * dS = P ⊙ (dP - rowsum(P ⊙ dP)) (dS may alias dP). */
void attention_masked_softmax(float *S, const int *mask, int T, int causal, int window);
void attention_softmax_backward_rows(float *dS, const float *P, const float *dP, int T);
/* Which kernel attention_forward/backward run: 0 the per-(row, head) sgemm calls (default),
 * 1 the blocked kernel (engine_set_attention_kernel("blocked")). */
void attention_kernel_set(int blocked);
int attention_kernel_get(void);

/* ---- backend_cpu_attention_blocked.c: the same attention without a BLAS call per (row, head) ---- */
/* Same arguments and results as attention_forward / attention_backward (up to float rounding:
 * another summation order), one work item per (row, key/value head) on ops_threads() threads.
 * Return -1 (nothing computed) when their per-thread scratch cannot be allocated. */
int attention_forward_blocked(float *ctx, float *P, const float *q, const float *k, const float *v,
                              const int *mask, const AttnShape *sh, int B, int T);
int attention_backward_blocked(float *dq, float *dk, float *dv, float *dprobs, const float *dctx,
                               const float *q, const float *k, const float *v, const float *P,
                               const AttnShape *sh, int B, int T);
/* Tests: 1 runs the uncloned (portable C, x86-64-v2 baseline) copy of the tile loop. */
void attention_blocked_portable(int on);
/* Frees the per-thread scratch (the next call allocates it again). */
void attention_blocked_release(void);

/* ---- backend_cpu_attention_bf16.c: the same attention with its six products in bf16 (cpu-bf16) ---- */
/* Same arguments and results as attention_forward / attention_backward, the products' operands
 * rounded to bf16 (fp32 accumulation, softmax and its backward in fp32). Return -1 when bf16 is
 * unavailable or oneDNN / memory fails; the caller then runs the fp32 kernel, which rewrites
 * every output. */
int attention_forward_bf16(float *ctx, float *P, const float *q, const float *k, const float *v, const int *mask,
                           const AttnShape *sh, int B, int T);
int attention_backward_bf16(float *dq, float *dk, float *dv, float *dPbuf, float *dprobs, const float *dctx,
                            const float *q, const float *k, const float *v, const float *P, const AttnShape *sh,
                            int B, int T);
/* Frees the bf16 operand copies and dF/dP scratch (B·NH·T² · 8 bytes at the largest call). */
void attention_bf16_release(void);

/* ---- backend_cpu_rmsnorm.c: y = g · x / sqrt(mean(x²) + eps) (HF's LlamaRMSNorm, float32 variance) ---- */
/* x, y, xhat (N,D); rstd (N). Keeps xhat = x·rstd and rstd for the backward; y may alias x. */
void rmsnorm_forward(float *y, float *xhat, float *rstd, const float *x, const float *g, float eps, int N, int D);
/* dx = rstd · (g·dy - xhat · mean(g·dy·xhat)); dx may alias dy. */
void rmsnorm_backward(float *dx, const float *dy, const float *xhat, const float *rstd, const float *g, int N,
                      int D);

/* ---- backend_cpu_rope.c: rotary position embedding on HF's rotate_half layout ---- */
/* cos, sin (N, hs/2) for the positions pos (N): angle_i = pos · inv_freq_i, computed in float32
 * as transformers does (inv_freq with rope_theta and rope_scaling default / linear / llama3). */
void rope_tables(float *cos_t, float *sin_t, const int *pos, int N, const ModelConfig *c);
/* x (N, nh·hs) in place: each head's halves (x1, x2) -> (x1·cos - x2·sin, x2·cos + x1·sin).
 * Keeps nothing but the tables. The backward is the inverse (transposed) rotation. */
void rope_forward(float *x, const float *cos_t, const float *sin_t, int N, int nh, int hs);
void rope_backward(float *dx, const float *cos_t, const float *sin_t, int N, int nh, int hs);

/* ---- backend_cpu_act.c: element-wise activations ---- */
/* y = act(x), n elements (y may alias x). Keeps nothing itself: the caller keeps x
 * (the pre-activation), which is all the backward needs. */
void act_forward(float *y, const float *x, long n, Activation a);
/* dx = dy · act'(x) (dx may alias dy). */
void act_backward(float *dx, const float *dy, const float *x, long n, Activation a);
/* DeepLIFT Rescale for a pair of rows: x and r (n each) are the pre-activations of the
 * input row and its baseline row; both gradients use m = (f(x)-f(r))/(x-r), or f'(x)
 * where |x-r| < 1e-10. dx_in/dx_ref may alias dy_in/dy_ref. */
void act_backward_rescale(float *dx_in, float *dx_ref, const float *dy_in, const float *dy_ref,
                          const float *x, const float *r, long n, Activation a);

/* Vectorisable float exp and erf (backend_cpu_act.c). exp: relative error ≤ 2 ulp on
 * [-87, 88], 0 below -87.3, clamped above. erf: ≤ 2 ulp on all of R (tested against
 * erf() in double by tests/test_engine_fd.c). Both are meant for loops that the
 * compiler vectorises, unlike glibc's expf/erff calls. */
float ops_expf(float x);
float ops_erff(float x);
void ops_exp_array(float *y, const float *x, long n);
void ops_erf_array(float *y, const float *x, long n);

/* ---- backend_cpu_softmax.c: softmax over the head's outputs (OUT_PROB, OUT_LOGPROB) ---- */
/* p (n) = softmax(z); returns logsumexp(z); accumulates in double: vocabulary heads have
 * V = 30522 (BERT) to 151936 (Qwen2) terms. */
double softmax_forward(float *p, const float *z, int n);

/* ---- backend_cpu.c: element-wise helpers of the engine's block ---- */
/* y += x (n elements); y *= x (n elements). */
void cpu_add(float *y, const float *x, long n);
void cpu_mul(float *y, const float *x, long n);
void cpu_swap_mul(float *a, float *b, long n);
#endif
