/* The layout emitters shared by the family tables, and the dispatch to them. */
#include "engine/family.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *family_prefix(const ModelConfig *c)
{
    switch (c->arch) {
    case ARCH_BERT: return "bert.";
    case ARCH_ROBERTA: return "roberta.";
    case ARCH_DISTILBERT: return "distilbert.";
    case ARCH_GPT2: return "transformer.";
    case ARCH_LLAMA: return "model.";
    }
    return "";
}

LayoutEntry *layout_add(Layout *lo, const float **dst, int64_t rows, int64_t cols, int base, const char *fmt, ...)
{
    static LayoutEntry sink; /* target of writes after an allocation failure; lo->oom says so */
    if (lo->n == lo->cap) {
        int cap = lo->cap ? 2 * lo->cap : 64;
        LayoutEntry *g = realloc(lo->e, (size_t)cap * sizeof *g);
        if (!g) {
            lo->oom = 1;
            return &sink;
        }
        lo->e = g;
        lo->cap = cap;
    }
    LayoutEntry *w = &lo->e[lo->n++];
    memset(w, 0, sizeof *w);
    char key[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(key, sizeof key, fmt, ap);
    va_end(ap);
    snprintf(w->name, sizeof w->name, "%s%s", base && lo->prefix ? lo->prefix : "", key);
    /* transformers renames legacy LayerNorm.gamma / .beta on load */
    size_t n = strlen(w->name);
    if (n > 16 && strcmp(w->name + n - 16, "LayerNorm.weight") == 0)
        snprintf(w->alt, sizeof w->alt, "%.*sLayerNorm.gamma", (int)(n - 16), w->name);
    else if (n > 14 && strcmp(w->name + n - 14, "LayerNorm.bias") == 0)
        snprintf(w->alt, sizeof w->alt, "%.*sLayerNorm.beta", (int)(n - 14), w->name);
    w->ndim = cols > 0 ? 2 : 1;
    w->shape[0] = rows;
    w->shape[1] = cols;
    w->dst[0] = dst;
    w->nsplit = 1;
    return w;
}

/* A Linear layer "<name>.weight" (out,in) and, when b != NULL, "<name>.bias" (out). */
void layout_linear(Layout *lo, const float **w, const float **b, int64_t out, int64_t in, int base, const char *name)
{
    layout_add(lo, w, out, in, base, "%s.weight", name);
    if (b)
        layout_add(lo, b, out, 0, base, "%s.bias", name);
}

/* A norm "<name>.weight" (D) and, when b != NULL (LayerNorm), "<name>.bias" (D). */
void layout_norm(Layout *lo, const float **g, const float **b, int64_t D, int base, const char *name)
{
    layout_add(lo, g, D, 0, base, "%s.weight", name)->gain = 1;
    if (b)
        layout_add(lo, b, D, 0, base, "%s.bias", name);
}

int family_layout(Model *m, Layout *lo)
{
    int rc = m->cfg.arch == ARCH_GPT2 || m->cfg.arch == ARCH_LLAMA ? layout_decoder(m, lo) : layout_encoder(m, lo);
    return rc || lo->oom ? -1 : 0;
}

void family_finish(Model *m)
{
    if (!m->cfg.untied && (m->cfg.head == HEAD_MLM || m->cfg.head == HEAD_LM))
        m->head_out_w = m->word_emb;
}

void family_describe(ModelConfig *c)
{
    int enc = c->arch == ARCH_BERT || c->arch == ARCH_ROBERTA || c->arch == ARCH_DISTILBERT;
    c->norm = c->arch == ARCH_LLAMA ? NORM_RMS : NORM_LAYER;
    c->norm_place = enc ? NORM_POST : NORM_PRE;
    c->emb_norm = enc;
    c->pos = c->arch == ARCH_LLAMA ? POS_ROPE : POS_LEARNED;
    c->pos_rule = c->arch == ARCH_ROBERTA ? POSID_PAD_OFFSET : POSID_RANGE;
    c->causal = !enc;
    c->ffn_gated = c->arch == ARCH_LLAMA;
    if (c->arch != ARCH_LLAMA) /* BERT family and GPT-2: every linear layer has a bias */
        c->qkv_bias = c->o_bias = c->ffn_bias = 1;
    if (c->NKV <= 0)
        c->NKV = c->NH;
    if (c->hs <= 0 && c->NH > 0)
        c->hs = c->D / c->NH;
    if (c->rope_theta <= 0)
        c->rope_theta = 10000.0f;
    if (enc) { /* the usual special ids of the families' vocabularies (a tokenizer's ids override them) */
        c->mask_id = c->arch == ARCH_ROBERTA ? c->V - 1 : 103;
        c->unk_id = c->arch == ARCH_ROBERTA ? 3 : 100;
    }
}

void layout_free(Layout *lo)
{
    free(lo->e);
    memset(lo, 0, sizeof *lo);
}
