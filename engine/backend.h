/* The compute backend seam (hpc/ior's aiori.h, ggml's ggml_backend_i): every op the
 * engine runs on activations is reached through one struct of function pointers, filled
 * by a backend's own files (backend_cpu*.c: OpenBLAS and the engine's thread pool). The
 * engine (engine.c) names no backend and no BLAS: it calls e->be->op(...). A new backend
 * (e.g. cuBLAS) is new files that fill a Backend, plus one line in backend_select()
 * (backend.c), the one selection point.
 *
 * What a backend must know: all pointers are to memory from its own alloc() (the
 * activation arena) or to the model's weights (host memory today: a device backend
 * uploads them once, keyed by pointer); the engine itself still gathers the embedding
 * rows and the head's token rows and copies the taps with memcpy on arena memory, so a
 * backend whose memory the host cannot address also needs those three as ops (see
 * docs/architecture.md when it exists). Shapes as in backend_cpu.h. */
#ifndef ATTRUN_BACKEND_H
#define ATTRUN_BACKEND_H
#include "engine/model.h"
#include <stddef.h>

/* The attention's shape: NH query heads, NKV key/value heads (GQA: query head h reads
 * key/value head h / (NH/NKV)), head size hs; causal mask and sliding window (0: none). */
typedef struct {
    int NH, NKV, hs, causal, window;
} AttnShape;

typedef struct Backend {
    const char *name;
    /* threads of this process's compute; per-thread scratch count of attention_backward */
    void (*set_threads)(int threads);
    int (*scratch_threads)(void);
    void *(*alloc)(size_t bytes);
    void (*free)(void *p);
    /* Frees what the kernels keep between calls (grown to the largest call so far; the next
     * call allocates again): engine_release_arena, before a pass that needs the memory. */
    void (*release_scratch)(void);
    /* y (N,OUT) = x (N,IN) W^T (OUT,IN) + b; dx (N,IN) (+)= dy (N,OUT) W */
    void (*linear_forward)(float *y, const float *x, const float *W, const float *b, int N, int IN, int OUT);
    void (*linear_backward)(float *dx, const float *dy, const float *W, int N, int IN, int OUT, int accumulate);
    void (*attention_forward)(float *ctx, float *P, const float *q, const float *k, const float *v,
                              const int *mask, const AttnShape *sh, int B, int T);
    void (*attention_backward)(float *dq, float *dk, float *dv, float *dPbuf, float *dprobs, const float *dctx,
                               const float *q, const float *k, const float *v, const float *P,
                               const AttnShape *sh, int B, int T);
    void (*layernorm_forward)(float *y, float *xhat, float *rstd, const float *x, const float *g,
                              const float *b, float eps, int N, int D);
    void (*layernorm_backward)(float *dx, const float *dy, const float *xhat, const float *rstd,
                               const float *g, int N, int D);
    /* x += r, then layernorm_forward(y, ..., x): the residual add and the norm in one pass over
     * each row (the sum stays in x, as after add; y must not alias x or r) */
    void (*add_layernorm_forward)(float *y, float *xhat, float *rstd, float *x, const float *r, const float *g,
                                  const float *b, float eps, int N, int D);
    void (*rmsnorm_forward)(float *y, float *xhat, float *rstd, const float *x, const float *g, float eps, int N,
                            int D);
    void (*rmsnorm_backward)(float *dx, const float *dy, const float *xhat, const float *rstd, const float *g,
                             int N, int D);
    void (*act_forward)(float *y, const float *x, long n, Activation a);
    void (*act_backward)(float *dx, const float *dy, const float *x, long n, Activation a);
    void (*act_backward_rescale)(float *dx_in, float *dx_ref, const float *dy_in, const float *dy_ref,
                                 const float *x, const float *r, long n, Activation a);
    void (*rope_tables)(float *cos_t, float *sin_t, const int *pos, int N, const ModelConfig *c);
    void (*rope_forward)(float *x, const float *cos_t, const float *sin_t, int N, int nh, int hs);
    void (*rope_backward)(float *dx, const float *cos_t, const float *sin_t, int N, int nh, int hs);
    double (*softmax_forward)(float *p, const float *z, int n); /* p = softmax(z); returns logsumexp(z) */
    void (*add)(float *y, const float *x, long n); /* y += x */
    void (*mul)(float *y, const float *x, long n); /* y *= x */
    void (*swap_mul)(float *a, float *b, long n);  /* (a, b) = (b, b·a) */
} Backend;

extern const Backend backend_cpu;
/* The CPU backend with bf16 linear layers (backend_cpu_bf16.c); NULL where bf16 is
 * unavailable (no oneDNN, or a CPU without native bf16). */
const Backend *backend_cpu_bf16(void);
/* cpu-bf16 with the attention's products in bf16 too; NULL where bf16 is unavailable. */
const Backend *backend_cpu_bf16_attention(void);
/* The selection point: the backend named ("cpu", "cpu-bf16", "cpu-bf16-attention"; NULL: the default, set by
 * engine_set_precision, else "cpu"), or NULL when none of that name is available. */
const Backend *backend_select(const char *name);

/* ---- engine.c: the per-op profile (attrun bench --profile) ---- */
/* Wall-clock seconds per op class, summed while ops_prof_on. */
enum { PROF_EMB, PROF_LIN_F, PROF_ATT_F, PROF_LN_F, PROF_ACT_F, PROF_ADD, PROF_HEAD,
       PROF_LIN_B, PROF_ATT_B, PROF_LN_B, PROF_ACT_B, PROF_N };
extern int ops_prof_on;
extern double ops_prof_s[PROF_N];
extern const char *const ops_prof_name[PROF_N];
#endif
