/* Parameter layout of the encoder families: BERT and RoBERTa (one layout, other names in
 * the head) and DistilBERT, with a sequence-classification or masked-LM head. The order
 * of the entries is the order model_random() draws them in. */
#include "engine/family.h"
#include <stdio.h>

/* The MLM head: transform dense + LayerNorm, decoder bias (either name of the tied pair)
 * and, when untied, the decoder weight. */
static void layout_mlm(Layout *lo, Model *m, const char *dense, const char *ln, const char *bias,
                       const char *dec_bias, const char *dec_w)
{
    const ModelConfig *c = &m->cfg;
    layout_linear(lo, &m->head_dense_w, &m->head_dense_b, c->D, c->D, 0, dense);
    layout_norm(lo, &m->head_ln_g, &m->head_ln_b, c->D, 0, ln);
    LayoutEntry *b = layout_add(lo, &m->head_out_b, c->V, 0, 0, "%s", bias);
    if (dec_bias)
        snprintf(b->alt, sizeof b->alt, "%s", dec_bias);
    if (c->untied)
        layout_add(lo, &m->head_out_w, c->V, c->D, 0, "%s", dec_w);
}

/* An encoder layer's tensor names, after "<prefix>.<l>.": the attention's q, k, v and output
 * projections, its LayerNorm, the two FFN projections and the output LayerNorm. */
typedef struct {
    const char *prefix, *q, *k, *v, *o, *ln1, *ff1, *ff2, *ln2;
} EncoderLayerNames;

static const EncoderLayerNames BERT_LAYER = {
    "encoder.layer", "attention.self.query", "attention.self.key", "attention.self.value",
    "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense", "output.dense",
    "output.LayerNorm"};
static const EncoderLayerNames DISTILBERT_LAYER = {
    "transformer.layer", "attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin",
    "sa_layer_norm", "ffn.lin1", "ffn.lin2", "output_layer_norm"};

static void layout_layers(Model *m, Layout *lo, const EncoderLayerNames *nm)
{
    const ModelConfig *c = &m->cfg;
    int64_t D = c->D, FF = c->FF;
    char n[128];
    for (int l = 0; l < c->L; l++) {
        LayerParams *p = &m->layer[l];
#define LN(s) (snprintf(n, sizeof n, "%s.%d.%s", nm->prefix, l, s), n)
        layout_linear(lo, &p->q_w, &p->q_b, D, D, 1, LN(nm->q));
        layout_linear(lo, &p->k_w, &p->k_b, D, D, 1, LN(nm->k));
        layout_linear(lo, &p->v_w, &p->v_b, D, D, 1, LN(nm->v));
        layout_linear(lo, &p->o_w, &p->o_b, D, D, 1, LN(nm->o));
        layout_norm(lo, &p->ln1_g, &p->ln1_b, D, 1, LN(nm->ln1));
        layout_linear(lo, &p->ff1_w, &p->ff1_b, FF, D, 1, LN(nm->ff1));
        layout_linear(lo, &p->ff2_w, &p->ff2_b, D, FF, 1, LN(nm->ff2));
        layout_norm(lo, &p->ln2_g, &p->ln2_b, D, 1, LN(nm->ln2));
#undef LN
    }
}

static void layout_bert_like(Model *m, Layout *lo)
{
    const ModelConfig *c = &m->cfg;
    int64_t D = c->D, V = c->V;
    layout_add(lo, &m->word_emb, V, D, 1, "embeddings.word_embeddings.weight");
    layout_add(lo, &m->pos_emb, c->P, D, 1, "embeddings.position_embeddings.weight");
    layout_add(lo, &m->type_emb, c->TV, D, 1, "embeddings.token_type_embeddings.weight");
    layout_norm(lo, &m->emb_ln_g, &m->emb_ln_b, D, 1, "embeddings.LayerNorm");
    layout_layers(m, lo, &BERT_LAYER);
    int bert = c->arch == ARCH_BERT;
    if (c->head == HEAD_CLASSIFIER) {
        if (bert) {
            layout_linear(lo, &m->head_dense_w, &m->head_dense_b, D, D, 1, "pooler.dense");
            layout_linear(lo, &m->head_out_w, &m->head_out_b, c->C, D, 0, "classifier");
        } else {
            layout_linear(lo, &m->head_dense_w, &m->head_dense_b, D, D, 0, "classifier.dense");
            layout_linear(lo, &m->head_out_w, &m->head_out_b, c->C, D, 0, "classifier.out_proj");
        }
        return;
    }
    if (bert)
        layout_mlm(lo, m, "cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm",
                   "cls.predictions.bias", "cls.predictions.decoder.bias", "cls.predictions.decoder.weight");
    else
        layout_mlm(lo, m, "lm_head.dense", "lm_head.layer_norm", "lm_head.bias", "lm_head.decoder.bias",
                   "lm_head.decoder.weight");
}

static void layout_distilbert(Model *m, Layout *lo)
{
    const ModelConfig *c = &m->cfg;
    int64_t D = c->D, V = c->V;
    layout_add(lo, &m->word_emb, V, D, 1, "embeddings.word_embeddings.weight");
    layout_add(lo, &m->pos_emb, c->P, D, 1, "embeddings.position_embeddings.weight");
    layout_norm(lo, &m->emb_ln_g, &m->emb_ln_b, D, 1, "embeddings.LayerNorm");
    layout_layers(m, lo, &DISTILBERT_LAYER);
    if (c->head == HEAD_CLASSIFIER) {
        layout_linear(lo, &m->head_dense_w, &m->head_dense_b, D, D, 0, "pre_classifier");
        layout_linear(lo, &m->head_out_w, &m->head_out_b, c->C, D, 0, "classifier");
        return;
    }
    layout_mlm(lo, m, "vocab_transform", "vocab_layer_norm", "vocab_projector.bias", NULL, "vocab_projector.weight");
}

int layout_encoder(Model *m, Layout *lo)
{
    if (m->cfg.arch == ARCH_DISTILBERT)
        layout_distilbert(m, lo);
    else
        layout_bert_like(m, lo);
    return 0;
}
