/* Parameter layout of the decoder families: GPT-2 ("transformer.": wte, wpe, h.{l}, ln_f;
 * Conv1D weights stored (in, out); c_attn holds Q, K, V side by side) and the Llama
 * family, which Mistral and Qwen2 share ("model.": embed_tokens, layers.{l}, norm; biases
 * where the description says so). Heads: lm_head (absent when tied) or score. */
#include "engine/family.h"
#include <stdio.h>

/* A Conv1D "<name>.weight" stored (in, out) and its bias (out): the engine keeps (out, in). */
static void layout_conv1d(Layout *lo, const float **w, const float **b, int64_t out, int64_t in, const char *name)
{
    layout_add(lo, w, in, out, 1, "%s.weight", name)->transpose = 1;
    layout_add(lo, b, out, 0, 1, "%s.bias", name);
}

static void layout_head(Model *m, Layout *lo)
{
    const ModelConfig *c = &m->cfg;
    if (c->head == HEAD_SCORE)
        layout_add(lo, &m->head_out_w, c->C, c->D, 0, "score.weight");
    else if (c->untied)
        layout_add(lo, &m->head_out_w, c->V, c->D, 0, "lm_head.weight");
}

static void layout_gpt2(Model *m, Layout *lo)
{
    const ModelConfig *c = &m->cfg;
    int64_t D = c->D, FF = c->FF;
    char n[128];
    layout_add(lo, &m->word_emb, c->V, D, 1, "wte.weight");
    layout_add(lo, &m->pos_emb, c->P, D, 1, "wpe.weight");
    for (int l = 0; l < c->L; l++) {
        LayerParams *p = &m->layer[l];
#define LN(s) (snprintf(n, sizeof n, "h.%d.%s", l, s), n)
        layout_norm(lo, &p->ln1_g, &p->ln1_b, D, 1, LN("ln_1"));
        LayoutEntry *w = layout_add(lo, &p->q_w, D, 3 * D, 1, "h.%d.attn.c_attn.weight", l);
        w->transpose = 1;
        w->nsplit = 3;
        w->dst[1] = &p->k_w;
        w->dst[2] = &p->v_w;
        LayoutEntry *b = layout_add(lo, &p->q_b, 3 * D, 0, 1, "h.%d.attn.c_attn.bias", l);
        b->nsplit = 3;
        b->dst[1] = &p->k_b;
        b->dst[2] = &p->v_b;
        layout_conv1d(lo, &p->o_w, &p->o_b, D, D, LN("attn.c_proj"));
        layout_norm(lo, &p->ln2_g, &p->ln2_b, D, 1, LN("ln_2"));
        layout_conv1d(lo, &p->ff1_w, &p->ff1_b, FF, D, LN("mlp.c_fc"));
        layout_conv1d(lo, &p->ff2_w, &p->ff2_b, D, FF, LN("mlp.c_proj"));
#undef LN
    }
    layout_norm(lo, &m->final_g, &m->final_b, D, 1, "ln_f");
    layout_head(m, lo);
}

static void layout_llama(Model *m, Layout *lo)
{
    const ModelConfig *c = &m->cfg;
    int64_t D = c->D, FF = c->FF, QD = (int64_t)c->NH * c->hs, KD = (int64_t)c->NKV * c->hs;
    char n[128];
    layout_add(lo, &m->word_emb, c->V, D, 1, "embed_tokens.weight");
    for (int l = 0; l < c->L; l++) {
        LayerParams *p = &m->layer[l];
#define LN(s) (snprintf(n, sizeof n, "layers.%d.%s", l, s), n)
#define B(ptr, on) ((on) ? &(ptr) : NULL)
        layout_norm(lo, &p->ln1_g, NULL, D, 1, LN("input_layernorm"));
        layout_linear(lo, &p->q_w, B(p->q_b, c->qkv_bias), QD, D, 1, LN("self_attn.q_proj"));
        layout_linear(lo, &p->k_w, B(p->k_b, c->qkv_bias), KD, D, 1, LN("self_attn.k_proj"));
        layout_linear(lo, &p->v_w, B(p->v_b, c->qkv_bias), KD, D, 1, LN("self_attn.v_proj"));
        layout_linear(lo, &p->o_w, B(p->o_b, c->o_bias), D, QD, 1, LN("self_attn.o_proj"));
        layout_norm(lo, &p->ln2_g, NULL, D, 1, LN("post_attention_layernorm"));
        layout_linear(lo, &p->ffg_w, B(p->ffg_b, c->ffn_bias), FF, D, 1, LN("mlp.gate_proj"));
        layout_linear(lo, &p->ff1_w, B(p->ff1_b, c->ffn_bias), FF, D, 1, LN("mlp.up_proj"));
        layout_linear(lo, &p->ff2_w, B(p->ff2_b, c->ffn_bias), D, FF, 1, LN("mlp.down_proj"));
#undef B
#undef LN
    }
    layout_norm(lo, &m->final_g, NULL, D, 1, "norm");
    layout_head(m, lo);
}

int layout_decoder(Model *m, Layout *lo)
{
    if (m->cfg.arch == ARCH_GPT2)
        layout_gpt2(m, lo);
    else
        layout_llama(m, lo);
    return 0;
}
