/* Internal to engine/: the activation tensors of one pass (laid out by engine.c's
 * acts_layout) and the block functions of engine_blocks.c that run_pass calls: the
 * embedding block, the encoder (post-norm) and decoder (pre-norm) layers and the heads, * each forward next to its backward. */
#ifndef ATTRUN_ENGINE_INTERNAL_H
#define ATTRUN_ENGINE_INTERNAL_H
#include "engine/backend.h"
#include "engine/clock.h"
#include "engine/engine.h"
#include <stddef.h>

/* Times `stmt` into class k when profiling (two clock reads per op: negligible). */
#define PROF(k, stmt)                                    \
    do {                                                 \
        double t0_ = ops_prof_on ? clock_now() : 0;       \
        stmt;                                            \
        if (ops_prof_on)                                 \
            ops_prof_s[k] += clock_now() - t0_;           \
    } while (0)

/* Per-layer tensors kept for the backward. */
typedef struct {
    float *q, *k, *v;          /* (N,QD), (N,KD), (N,KD) projections (after RoPE): attention backward */
    float *P;                  /* (Bm,NH,T,T) attention probabilities: attention backward */
    float *ln1_xhat, *ln1_rstd; /* (N,D), (N): norm 1 backward */
    float *u;                  /* (N,FF) FFN (gate) pre-activation: activation backward / Rescale */
    float *up;                 /* (N,FF) gated FFN: up projection, for the product's backward */
    float *ln2_xhat, *ln2_rstd; /* (N,D), (N): norm 2 backward */
} LayerActs;

/* Everything else of one pass: the embedding LayerNorm's saved values, the head's, * and scratch that lives only within one layer (forward or backward). */
typedef struct {
    const Backend *be;          /* the engine's backend, for the block functions */
    float *hin;                 /* (L,N,D) recompute mode: each layer's input, for re-running its forward */
    float *emb_xhat, *emb_rstd; /* (N,D), (N): embedding LN backward (AT_WORD_EMB) */
    float *h, *h1, *ctx, *a;    /* (N,D) scratch: layer input/output, after LN1, context (N,QD), pre-LN sums */
    float *f;                   /* (N,FF) scratch: activation output, then its gradient */
    float *dh, *dx, *dq, *dk, *dv; /* (N,D) backward scratch; dq (N,QD), dk, dv (N,KD) */
    float *rcos, *rsin;         /* (N,hs/2) RoPE tables of the pass's positions */
    float *dP;                  /* (threads,T,T) attention backward scratch, one per thread */
    float *hc;                  /* (Bm,D) hidden state at the explained token */
    float *zpre;                /* (Bm,D) head dense output: activation backward / Rescale */
    float *z;                   /* (Bm,D) after head activation (and MLM LayerNorm) */
    float *hd_xhat, *hd_rstd;   /* (Bm,D), (Bm): MLM head LN backward */
    float *logits, *prob;       /* (Bm,C): prob for OUT_PROB's and OUT_LOGPROB's backward */
    float *dlogits;             /* (Bm,C) */
    float *dz, *dhc;            /* (Bm,D) */
} Acts;

void embeddings_forward(const Model *m, Acts *A, const float *x, const int *pos, const int *type, int N);
void layer_forward(const ModelConfig *c, const LayerParams *p, LayerActs *L, Acts *A, const int *mask, int Bm, int T);
void layer_backward(const ModelConfig *c, const LayerParams *p, LayerActs *L, Acts *A, float *dprobs, int Bm, int T, int rescale_ffn);
void prelayer_forward(const ModelConfig *c, const LayerParams *p, LayerActs *L, Acts *A, const int *mask, int Bm, int T);
void prelayer_backward(const ModelConfig *c, const LayerParams *p, LayerActs *L, Acts *A, float *dprobs, int Bm, int T, int rescale_ffn);
void head_forward(const Model *m, Acts *A, const EngineBatch *in, EngineOutput *out, int b0, int Bm);
void head_backward(const Model *m, Acts *A, const EngineBatch *in, int b0, int Bm);
void save_taps(const ModelConfig *c, const LayerActs *La, const Acts *A, EngineOutput *out, int l, int b0, int Bm, int B, int T);
int head_token(const ModelConfig *c, const EngineBatch *in, int row);
/* value_norm.c: the (NH,hs,hs) Gram matrices W_O^h (W_O^h)^T of a layer (NULL: out of memory),
 * and ||f_h(x_t)|| of Bm rows from the layer's v (N,KD) into out[b*b_stride + h*T + t]. */
double *value_norm_gram(const ModelConfig *c, const LayerParams *p);
void value_norms(const ModelConfig *c, const double *G, const float *v, int Bm, int T, float *out, size_t b_stride);
#endif
