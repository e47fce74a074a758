/* The model: hyper-parameters, block description and parameter tensors of an encoder
 * (BERT, RoBERTa, DistilBERT) or decoder (GPT-2, Llama, Mistral, Qwen2) with its head,
 * as loaded from a Hugging Face checkpoint (io/checkpoint.c through the family's layout
 * table, engine/family.h).
 *
 * Shapes use fixed letters throughout engine/:
 *   V vocab, P max positions, TV token types, D hidden, L layers, NH heads, NKV key/value
 *   heads, hs head size (D/NH unless head_dim), FF intermediate size, C classes, B batch
 *   rows, T tokens.
 * Linear weights keep PyTorch's layout: W is (out, in) row-major, y = x W^T + b.
 */
#ifndef ATTRUN_MODEL_H
#define ATTRUN_MODEL_H
#include <stddef.h>

typedef enum { ARCH_BERT = 0, ARCH_ROBERTA, ARCH_DISTILBERT, ARCH_GPT2, ARCH_LLAMA } ModelArch;
/* HEAD_CLASSIFIER: dense + act + out on token 0 (encoders). HEAD_MLM: dense + act + LN + tied
 * decoder at a given position. HEAD_LM: final norm + lm_head (no bias), C = V, at a given
 * position (causal LM: the last one). HEAD_SCORE: final norm + score (no bias), C = num_labels,
 * at a given position (the last non-pad token). */
typedef enum { HEAD_CLASSIFIER = 0, HEAD_MLM, HEAD_LM, HEAD_SCORE } ModelHead;
typedef enum { ACT_GELU = 0, ACT_GELU_TANH, ACT_RELU, ACT_TANH, ACT_SILU } Activation;

/* The block, described (llama.cpp's hparams idea): the engine reads these fields and never
 * the family. */
typedef enum { NORM_LAYER = 0, NORM_RMS } NormKind;      /* LayerNorm (biased var.) / RMSNorm */
typedef enum { NORM_POST = 0, NORM_PRE } NormPlace;      /* BERT: after residual; GPT/Llama: before */
typedef enum { POS_LEARNED = 0, POS_ROPE, POS_NONE } PosKind;
typedef enum { POSID_RANGE = 0, POSID_PAD_OFFSET } PosIdRule; /* 0..T-1 / RoBERTa's from ids */
typedef enum { ROPE_DEFAULT = 0, ROPE_LINEAR, ROPE_LLAMA3 } RopeScaling;

typedef struct {
    ModelArch arch;
    ModelHead head;
    int V, P, TV, D, L, NH, FF, C; /* C = num_labels (classifier) or V (MLM) */
    Activation act;        /* encoder FFN activation (config hidden_act / activation) */
    Activation head_act;   /* classifier head: BERT pooler / RoBERTa dense: tanh; DistilBERT pre_classifier: relu.
                              MLM transform: gelu (BERT: hidden_act; RoBERTa: exact gelu) */
    float ln_eps;          /* layer_norm_eps (DistilBERT: 1e-12) */
    int pad_id;            /* pad_token_id */
    int position_offset;   /* RoBERTa: position ids start at pad_id + 1; 0 otherwise */
    char **labels;         /* id2label names, C entries (classifier) or NULL */
    char model_type[32];   /* "bert", "roberta", "distilbert", "gpt2", "llama", "mistral", "qwen2" */
    /* Block description (filled by io/config_json.c per family). */
    NormKind norm;
    NormPlace norm_place;  /* NORM_PRE implies a final norm (ln_f / model.norm) before the head */
    int emb_norm;          /* embedding LayerNorm present (encoders) */
    PosKind pos;
    PosIdRule pos_rule;
    float rope_theta;
    RopeScaling rope_scaling;
    float rope_factor, rope_low_freq, rope_high_freq; /* linear: factor; llama3: all, with rope_orig_P */
    int rope_orig_P;
    int causal;            /* causal mask (decoders) */
    int window;            /* sliding window (Mistral), 0 = none: key k visible from q iff q-window < k <= q */
    int NKV, hs;           /* key/value heads (GQA: NH % NKV == 0), head size (hs*NH need not be D) */
    int ffn_gated;         /* FFN = down(act(gate x) * up x) (SwiGLU) instead of ff2(act(ff1 x)) */
    int qkv_bias, o_bias, ffn_bias; /* which linear layers of the block have biases */
    int untied;            /* MLM decoder / lm_head has its own weight (tie_word_embeddings false) */
    int bos_id, eos_id, unk_id, mask_id; /* special ids from config/tokenizer, -1 = none */
} ModelConfig;

typedef struct {
    const float *q_w, *q_b;                         /* (NH·hs,D), (NH·hs) */
    const float *k_w, *k_b, *v_w, *v_b;             /* (NKV·hs,D), (NKV·hs) */
    const float *o_w, *o_b;                         /* attention output projection (D,NH·hs), (D) */
    const float *ln1_g, *ln1_b;                     /* post: after attention + residual; pre: before attention (D) */
    const float *ff1_w, *ff1_b;                     /* (FF,D), (FF); gated FFN: up_proj */
    const float *ffg_w, *ffg_b;                     /* gated FFN only: gate_proj (FF,D), (FF) */
    const float *ff2_w, *ff2_b;                     /* (D,FF), (D) */
    const float *ln2_g, *ln2_b;                     /* post: after FFN + residual; pre: before FFN (D) */
} LayerParams;

typedef struct {
    ModelConfig cfg;
    const float *word_emb;   /* (V,D) */
    const float *pos_emb;    /* (P,D) */
    const float *type_emb;   /* (TV,D), NULL for DistilBERT */
    const float *emb_ln_g, *emb_ln_b; /* (D) */
    LayerParams *layer;      /* L entries */
    /* Head, one shape for all families: h = head_act(x W_dense^T + b_dense) on one token,
     * classifier: out = h W_out^T + b_out, C outputs, token 0 ([CLS] / <s>).
     *   BERT: bert.pooler.dense + tanh, classifier. RoBERTa: classifier.dense + tanh,
     *   classifier.out_proj. DistilBERT: pre_classifier + relu, classifier.
     * MLM: h = LayerNorm(head_act(x W_dense^T + b_dense)) at the mask position,
     *   out = h word_emb^T + mlm_bias (decoder tied to the word embeddings), V outputs. */
    const float *head_dense_w, *head_dense_b; /* (D,D), (D) */
    const float *head_ln_g, *head_ln_b;       /* MLM only (D) */
    const float *head_out_w, *head_out_b;     /* classifier (C,D),(C); MLM: out_w = word_emb, out_b (V);
                                                 LM/score: (C,D), no bias */
    const float *final_g, *final_b;           /* pre-norm families: ln_f / model.norm (D); RMSNorm: no b */
    void *storage;           /* owns all tensors above (F32 copies); NULL when they live in memory
                                owned elsewhere (one copy per node in MPI shared memory:
                                io/checkpoint_shared.h), which model_free leaves alone */
    size_t storage_bytes;
} Model;

/* Allocates a model with random weights (uniform in ±scale, seeded) for tests and the benchmark. */
Model *model_random(const ModelConfig *cfg, unsigned long long seed, float scale);
void model_free(Model *m);
/* The weight matrices the engine multiplies through Backend.linear_forward/backward
 * (engine_blocks.c): each distinct one once, with its element count (OUT·IN), in a fixed
 * order. Writes at most max entries; returns how many there are. */
typedef struct {
    const float *W;
    size_t n;
} LinearWeight;
int model_linear_weights(const Model *m, LinearWeight *out, int max);
/* Number of parameters. */
size_t model_num_params(const ModelConfig *cfg);
#endif
