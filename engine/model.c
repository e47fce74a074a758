/* Model bookkeeping: parameter counts, random models for tests and the benchmark. */
#include "engine/model.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Sizes of every tensor, in the order they are carved out of one allocation. */
static size_t layer_params(const ModelConfig *c)
{
    size_t D = (size_t)c->D, FF = (size_t)c->FF;
    return 4 * (D * D + D) + 2 * (FF * D) + FF + D + 4 * D;
}

size_t model_num_params(const ModelConfig *c)
{
    size_t D = (size_t)c->D;
    size_t n = (size_t)c->V * D + (size_t)c->P * D + (c->arch == ARCH_DISTILBERT ? 0 : (size_t)c->TV * D) + 2 * D;
    n += (size_t)c->L * layer_params(c);
    n += D * D + D; /* head dense */
    if (c->head == HEAD_MLM)
        n += 2 * D + (size_t)c->V; /* head LayerNorm + decoder bias (decoder tied) */
    else
        n += (size_t)c->C * D + (size_t)c->C;
    return n;
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

Model *model_random(const ModelConfig *cfg, unsigned long long seed, float scale)
{
    Model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cfg = *cfg;
    m->cfg.labels = NULL;
    if (m->cfg.head == HEAD_MLM)
        m->cfg.C = m->cfg.V;
    size_t n = model_num_params(&m->cfg);
    float *all = malloc(n * sizeof(float));
    m->layer = calloc((size_t)cfg->L, sizeof *m->layer);
    if (!all || !m->layer) {
        free(all);
        free(m->layer);
        free(m);
        return NULL;
    }
    m->storage = all;
    m->storage_bytes = n * sizeof(float);
    uint64_t s = seed;
    size_t D = (size_t)cfg->D, FF = (size_t)cfg->FF;
    float *cur = all;
    m->word_emb = take(&cur, (size_t)cfg->V * D, &s, scale, 0);
    m->pos_emb = take(&cur, (size_t)cfg->P * D, &s, scale, 0);
    m->type_emb = cfg->arch == ARCH_DISTILBERT ? NULL : take(&cur, (size_t)cfg->TV * D, &s, scale, 0);
    m->emb_ln_g = take(&cur, D, &s, 0.2f * scale, 1);
    m->emb_ln_b = take(&cur, D, &s, scale, 0);
    for (int l = 0; l < cfg->L; l++) {
        LayerParams *p = &m->layer[l];
        p->q_w = take(&cur, D * D, &s, scale, 0);
        p->q_b = take(&cur, D, &s, scale, 0);
        p->k_w = take(&cur, D * D, &s, scale, 0);
        p->k_b = take(&cur, D, &s, scale, 0);
        p->v_w = take(&cur, D * D, &s, scale, 0);
        p->v_b = take(&cur, D, &s, scale, 0);
        p->o_w = take(&cur, D * D, &s, scale, 0);
        p->o_b = take(&cur, D, &s, scale, 0);
        p->ln1_g = take(&cur, D, &s, 0.2f * scale, 1);
        p->ln1_b = take(&cur, D, &s, scale, 0);
        p->ff1_w = take(&cur, FF * D, &s, scale, 0);
        p->ff1_b = take(&cur, FF, &s, scale, 0);
        p->ff2_w = take(&cur, D * FF, &s, scale, 0);
        p->ff2_b = take(&cur, D, &s, scale, 0);
        p->ln2_g = take(&cur, D, &s, 0.2f * scale, 1);
        p->ln2_b = take(&cur, D, &s, scale, 0);
    }
    m->head_dense_w = take(&cur, D * D, &s, scale, 0);
    m->head_dense_b = take(&cur, D, &s, scale, 0);
    if (cfg->head == HEAD_MLM) {
        m->head_ln_g = take(&cur, D, &s, 0.2f * scale, 1);
        m->head_ln_b = take(&cur, D, &s, scale, 0);
        m->head_out_w = m->word_emb;
        m->head_out_b = take(&cur, (size_t)cfg->V, &s, scale, 0);
    } else {
        m->head_out_w = take(&cur, (size_t)cfg->C * D, &s, scale, 0);
        m->head_out_b = take(&cur, (size_t)cfg->C, &s, scale, 0);
    }
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
    free(m->storage);
    free(m->layer);
    free(m);
}
