/* The model: hyper-parameters and parameter tensors of a BERT-family encoder
 * with its head, as loaded from a Hugging Face checkpoint (io/checkpoint.c).
 *
 * Shapes use fixed letters throughout engine/:
 *   V vocab, P max positions, TV token types, D hidden, L layers, NH heads,
 *   hs = D/NH head size, FF intermediate size, C classes, B batch rows, T tokens.
 * Linear weights keep PyTorch's layout: W is (out, in) row-major, y = x W^T + b.
 */
#ifndef ATTRUN_MODEL_H
#define ATTRUN_MODEL_H
#include <stddef.h>

typedef enum { ARCH_BERT = 0, ARCH_ROBERTA, ARCH_DISTILBERT } ModelArch;
typedef enum { HEAD_CLASSIFIER = 0, HEAD_MLM } ModelHead;
typedef enum { ACT_GELU = 0, ACT_GELU_TANH, ACT_RELU, ACT_TANH } Activation;

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
    char model_type[32];   /* "bert", "roberta", "distilbert" */
} ModelConfig;

typedef struct {
    const float *q_w, *q_b, *k_w, *k_b, *v_w, *v_b; /* (D,D), (D) */
    const float *o_w, *o_b;                         /* attention output projection (D,D), (D) */
    const float *ln1_g, *ln1_b;                     /* after attention + residual (D) */
    const float *ff1_w, *ff1_b;                     /* (FF,D), (FF) */
    const float *ff2_w, *ff2_b;                     /* (D,FF), (D) */
    const float *ln2_g, *ln2_b;                     /* after FFN + residual (D) */
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
    const float *head_out_w, *head_out_b;     /* classifier (C,D),(C); MLM: out_w = word_emb, out_b (V) */
    void *storage;           /* owns all tensors above (F32 copies or mmap) */
    size_t storage_bytes;
} Model;

/* Allocates a model with random weights (uniform in ±scale, seeded) for tests and the benchmark. */
Model *model_random(const ModelConfig *cfg, unsigned long long seed, float scale);
void model_free(Model *m);
/* Number of parameters. */
size_t model_num_params(const ModelConfig *cfg);
#endif
