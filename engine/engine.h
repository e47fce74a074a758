/* The engine: batched forward and input-gradient backward of the model its description
 * says (engine/model.h: encoder or decoder block), through the compute backend
 * (engine/backend.h). Never calls MPI or HDF5.
 *
 * One call runs B rows of T tokens. Each row starts at the attribution layer:
 *   AT_WORD_EMB:   x is the output of the word-embedding lookup (B,T,D); the engine adds
 *                  learned position (+ token-type) embeddings and applies the embedding
 *                  LayerNorm where the model has them (RoPE models: x goes in as it is).
 *   AT_EMBEDDINGS: x is the output of the whole embedding block.
 * and ends at one scalar F per row: the logit (or softmax probability, or its log) of row's target
 * class (classifier heads: token 0; score heads: the row's mlm_pos), or of the target
 * token at row's mlm_pos (MLM heads: the mask; causal-LM heads: the explained position).
 * With out->grad the backward computes dF/dx for every row (input gradients only: no
 * weight gradients). Rows are processed in micro-batches of at most
 * engine_set_microbatch_tokens() tokens so activation memory stays bounded whatever B is.
 */
#ifndef ATTRUN_ENGINE_H
#define ATTRUN_ENGINE_H
#include "engine/model.h"

typedef enum { AT_WORD_EMB = 0, AT_EMBEDDINGS } AttrLayer;
/* F = z_t (the target's logit), p_t = softmax(z)_t, or log p_t = z_t - logsumexp(z). */
typedef enum { OUT_LOGIT = 0, OUT_PROB, OUT_LOGPROB } OutputKind;

/* DeepLIFT Rescale sites (bit mask for EngineBatch.rescale). */
enum { RESCALE_HEAD_ACT = 1u, /* classifier head activation (BERT pooler tanh, ...) */
       RESCALE_FFN_ACT = 2u   /* every encoder FFN activation */ };

typedef struct {
    int B, T;
    AttrLayer layer;
    const float *x;        /* (B,T,D) values at `layer` */
    const int *pos_ids;    /* (B,T) position ids; used with AT_WORD_EMB */
    const int *type_ids;   /* (B,T) token-type ids, or NULL (all 0) */
    const int *mask;       /* (B,T) 1 = real token, 0 = padding (additive float-min mask); NULL = all 1 */
    const int *target;     /* (B) class index, or token id for MLM heads */
    const int *mlm_pos;    /* (B) position explained by an MLM head; ignored for classifiers */
    OutputKind output;
    /* DeepLIFT: when rescale != 0, rows come in pairs (2i: input, 2i+1: its baseline).
     * At the sites in `rescale` the backward of both rows uses the Rescale multiplier
     * (f(x)-f(r))/(x-r) computed from the pair's pre-activations (the plain derivative
     * where |x-r| < 1e-10, as Captum does); everything else gets the plain gradient. */
    unsigned rescale;
} EngineBatch;

/* A per-layer attention sink (EngineOutput.attn_sink, attn_sink_rev): called with layer `layer`'s
 * attention probabilities of rows [b0, b0+Bm), probs (Bm,NH,T,T), read in place from the pass's
 * own tensors (nothing is copied), so a caller can reduce every layer's attention while only one
 * layer's of one micro-batch exists. Returns 0, or non-zero to stop engine_run (it returns -1). */
typedef int (*EngineAttnSink)(void *ctx, int layer, int b0, int Bm, const float *probs);
/* A per-layer gradient sink (EngineOutput.grad_sink): called in the backward, right after layer
 * `layer`'s backward of rows [b0, b0+Bm), with that layer's attention probabilities and dF/dprobs,
 * both (Bm,NH,T,T) and read in place, so a caller can reduce P and dF/dP of every layer (Layer-
 * Conductance) while only one layer's of one micro-batch exists. Layers come L-1..0 per micro-batch.
 * Returns 0, or non-zero to stop engine_run (it returns -1). */
typedef int (*EngineGradSink)(void *ctx, int layer, int b0, int Bm, const float *probs, const float *dprobs);

typedef struct {
    float *F;        /* (B) explained scalar per row; required */
    float *logits;   /* (B,C) head outputs, or NULL (C = V for MLM heads) */
    float *grad;     /* (B,T,D) dF/dx, or NULL: forward only */
    float *attn;     /* (B,L,NH,T,T) attention probabilities, or NULL */
    /* Per-layer taps (all NULL when not wanted), layer-major; LayerConductance takes hidden and
     * dhidden, and the attention through grad_sink (probs/dprobs of every layer are L·B·NH·T²):
     * hidden  (L,B,T,D)     output hidden states of each encoder layer
     * dhidden (L,B,T,D)     dF/d(hidden)          (needs grad != NULL)
     * probs   (L,B,NH,T,T)  attention probabilities of each layer
     * dprobs  (L,B,NH,T,T)  dF/d(probs)           (needs grad != NULL) */
    float *hidden, *dhidden, *probs, *dprobs;
    /* (B,L,NH,T) ||f_h(x_t)||, the norm of token t's value vector through head h's slice of the
     * output projection (Kobayashi et al. 2020; GQA: the KV head h reads), or NULL. The
     * norm-weighted attention of head h is probs[i,t] * vnorm[t] (engine/value_norm.c). */
    float *vnorm;
    /* Attention sinks, or NULL. For each micro-batch: attn_sink gets layers 0..L-1 as each is
     * computed (that layer's vnorm rows are written by then); attn_sink_rev then gets layers
     * L-1..0 (attention rollout multiplies from the last layer down). For attn_sink_rev a
     * forward-only pass keeps each layer's input (L·Bm·T·D floats) and re-runs layers L-2..0
     * after the head (the same bits: about one more forward of the layers); with grad it is
     * called in the backward, before each layer's backward. Neither needs out->attn. */
    EngineAttnSink attn_sink, attn_sink_rev;
    /* Gradient sink, or NULL; needs grad. dprobs goes to out->dprobs when that is set, else to one
     * micro-batch layer's (Bm,NH,T,T) buffer the engine keeps. Every sink gets attn_ctx. */
    EngineGradSink grad_sink;
    void *attn_ctx;
} EngineOutput;

typedef struct Engine Engine;

Engine *engine_create(const Model *m);
void engine_free(Engine *e);
/* Largest number of tokens (rows × T) per internal pass; default 2048. */
void engine_set_microbatch_tokens(Engine *e, int tokens);
/* Frees the activation arena (it is kept between calls and only grows); the next engine_run
 * allocates what it needs again. For a caller about to hold other large buffers. */
void engine_release_arena(Engine *e);
/* Activation bytes of one pass above which the backward recomputes each layer's forward from
 * its saved input instead of keeping every layer's tensors (default 4 GiB; 0 = never). The
 * results are bitwise the same either way; recomputing costs about one more forward. */
void engine_set_activation_budget(Engine *e, size_t bytes);
/* OpenBLAS threads used by this process. */
void engine_set_threads(int threads);
/* Precision of the linear layers of engines created afterwards: "fp32" (default) or "bf16"
 * (bf16 inputs, fp32 accumulation; everything else stays fp32), or "bf16-attention" (bf16, and
 * the attention's QKᵀ, P·V and backward products in bf16 too; its softmax stays fp32). Returns 0, or -1 when that
 * precision is unavailable here (bf16 without oneDNN or native bf16: the default stays).
 * engine_bf16_status(): the ISA oneDNN uses, or why bf16 is unavailable. */
int engine_set_precision(const char *precision);
const char *engine_precision(void);
/* The CPU backend's attention kernel for every engine: "blas" (default: one sgemm per (row, head)
 * product, the bits of the golden files) or "blocked" (backend_cpu_attention_blocked.c: all heads
 * of a micro-batch in one register-blocked kernel, other rounding). Returns -1 on another name. */
int engine_set_attention_kernel(const char *name);
const char *engine_attention_kernel(void);
const char *engine_bf16_status(void);
const Model *engine_model(const Engine *e);

/* Runs the batch. Returns 0, or -1 with engine_error() set (bad ids, T > P, out of memory). */
int engine_run(Engine *e, const EngineBatch *in, EngineOutput *out);
const char *engine_error(const Engine *e);

/* Values at the attribution layer for token ids (T): the word-embedding rows, or the whole
 * embedding block's output (AT_EMBEDDINGS, needs pos/type ids). x is (T,D). Returns -1 on
 * an id out of range. */
int engine_layer_values(const Model *m, AttrLayer layer, const int *ids, const int *pos_ids,
                        const int *type_ids, int T, float *x);
/* Position ids as the model family derives them: 0..T-1 (BERT, DistilBERT) or, for RoBERTa,
 * pad_id + 1 + cumulative count of non-pad tokens, pad tokens at pad_id. */
void engine_position_ids(const Model *m, const int *ids, int T, int *pos_ids);

/* FLOPs of one forward (and of forward+backward) of B rows of T tokens, for throughput reports. */
double engine_flops(const ModelConfig *c, int B, int T, int backward);
#endif
