/* Model bookkeeping: parameter counts, random models for tests and the benchmark. */
#include "engine/model.h"
#include "engine/family.h"
#include "engine/gemm_bf16.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t entry_numel(const LayoutEntry *e)
{
    return (size_t)e->shape[0] * (size_t)(e->ndim == 2 ? e->shape[1] : 1);
}

/* Sum over the family's layout table (engine/family.h); 0 when out of memory. */
size_t model_num_params(const ModelConfig *c)
{
    Model tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.cfg = *c;
    family_describe(&tmp.cfg);
    tmp.layer = calloc((size_t)c->L, sizeof *tmp.layer);
    Layout lo = {.prefix = ""};
    size_t n = 0;
    if (tmp.layer && family_layout(&tmp, &lo) == 0)
        for (int i = 0; i < lo.n; i++)
            n += entry_numel(&lo.e[i]);
    layout_free(&lo);
    free(tmp.layer);
    return n;
}

static void add_linear(LinearWeight *out, int max, int *k, const float *W, size_t n)
{
    if (!W)
        return;
    for (int i = 0; i < *k && i < max; i++)
        if (out[i].W == W)
            return; /* tied: the MLM decoder is the word embedding */
    if (*k < max)
        out[*k] = (LinearWeight){W, n};
    (*k)++;
}

/* The shapes are those engine_blocks.c passes: q (NH·hs,D), k/v (NKV·hs,D), o (D,NH·hs),
 * ff1/ffg (FF,D), ff2 (D,FF), head dense (D,D), head out (C,D). */
int model_linear_weights(const Model *m, LinearWeight *out, int max)
{
    const ModelConfig *c = &m->cfg;
    size_t D = (size_t)c->D, QD = (size_t)c->NH * (size_t)c->hs, KD = (size_t)c->NKV * (size_t)c->hs;
    size_t FF = (size_t)c->FF;
    int k = 0;
    for (int l = 0; l < c->L; l++) {
        const LayerParams *p = &m->layer[l];
        add_linear(out, max, &k, p->q_w, QD * D);
        add_linear(out, max, &k, p->k_w, KD * D);
        add_linear(out, max, &k, p->v_w, KD * D);
        add_linear(out, max, &k, p->o_w, D * QD);
        add_linear(out, max, &k, p->ff1_w, FF * D);
        add_linear(out, max, &k, p->ffg_w, FF * D);
        add_linear(out, max, &k, p->ff2_w, D * FF);
    }
    add_linear(out, max, &k, m->head_dense_w, D * D);
    add_linear(out, max, &k, m->head_out_w, (size_t)c->C * D);
    return k;
}

/* splitmix64: a small, well-known generator; enough for random test weights. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static float *take(float **cursor, size_t n, uint64_t *s, float scale, float base)
{
    float *p = *cursor;
    *cursor += n;
    for (size_t i = 0; i < n; i++) {
        double u = (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0); /* [0,1) */
        p[i] = base + (float)((2.0 * u - 1.0) * scale);
    }
    return p;
}

/* Every entry of the family's layout, in table order, from one seeded stream: norm weights
 * 1 ± 0.2·scale, everything else ±scale. */
Model *model_random(const ModelConfig *cfg, unsigned long long seed, float scale)
{
    Model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cfg = *cfg;
    m->cfg.labels = NULL;
    family_describe(&m->cfg);
    if (m->cfg.head == HEAD_MLM || m->cfg.head == HEAD_LM)
        m->cfg.C = m->cfg.V;
    Layout lo = {.prefix = ""};
    m->layer = calloc((size_t)cfg->L, sizeof *m->layer);
    if (!m->layer || family_layout(m, &lo) != 0) {
        layout_free(&lo);
        model_free(m);
        return NULL;
    }
    size_t n = 0;
    for (int i = 0; i < lo.n; i++)
        n += entry_numel(&lo.e[i]);
    float *all = malloc((n ? n : 1) * sizeof(float));
    if (!all) {
        layout_free(&lo);
        model_free(m);
        return NULL;
    }
    m->storage = all;
    m->storage_bytes = n * sizeof(float);
    uint64_t s = seed;
    float *cur = all;
    for (int i = 0; i < lo.n; i++) {
        const LayoutEntry *e = &lo.e[i];
        size_t k = entry_numel(e), part = k / (size_t)e->nsplit;
        float *p = take(&cur, k, &s, e->gain ? 0.2f * scale : scale, e->gain ? 1 : 0);
        for (int j = 0; j < e->nsplit; j++)
            *e->dst[j] = p + (size_t)j * part;
    }
    layout_free(&lo);
    family_finish(m);
    return m;
}

void model_free(Model *m)
{
    if (!m)
        return;
    if (m->cfg.labels) {
        for (int i = 0; i < m->cfg.C; i++)
            free(m->cfg.labels[i]);
        free(m->cfg.labels);
    }
    gemm_bf16_forget_weights(); /* its bf16 copies are keyed by addresses about to be freed */
    free(m->storage);
    free(m->layer);
    free(m);
}
