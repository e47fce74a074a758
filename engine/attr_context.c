/* Per-example preparation shared by all methods: baseline ids, the input's and the
 * baselines' values at the attribution layer, and engine calls over rows that share
 * the example's token types, target and MLM position. */
#include "engine/attr_internal.h"
#include <stdlib.h>
#include <string.h>

/* Replacement id for BASE_MASK / BASE_UNK: the caller's (tokenizer) id, or the model's
 * (ModelConfig.mask_id / unk_id, filled by io/ for the family's vocabulary); BASE_TOKEN:
 * the example's fill id. */
static int replacement_id(const Model *m, BaselineKind kind, const Example *ex)
{
    if (kind == BASE_MASK)
        return ex->mask_id > 0 ? ex->mask_id : m->cfg.mask_id;
    if (kind == BASE_UNK)
        return ex->unk_id > 0 ? ex->unk_id : m->cfg.unk_id;
    if (kind == BASE_TOKEN)
        return ex->fill_id;
    return m->cfg.pad_id;
}

int baseline_ids(const Model *m, BaselineKind kind, const Example *ex, int *out)
{
    if (kind == BASE_ZERO)
        return 0;
    if (!ex->ids || ex->T < 1)
        return -1;
    /* Decoders have no [PAD]/[MASK] convention: every token baseline (pad, unk, mask, token)
     * replaces every token but a leading BOS (special[0]) by the example's fill id, which the
     * caller resolved from the baseline's name and the tokenizer. */
    int dec = m->cfg.causal;
    int rep = dec ? ex->fill_id : replacement_id(m, kind, ex);
    if (rep < 0 || rep >= m->cfg.V)
        return -1;
    if (kind == BASE_PAD_ALL) { /* Captum's TokenReferenceBase: every token is [PAD] */
        for (int t = 0; t < ex->T; t++)
            out[t] = dec ? rep : m->cfg.pad_id;
        return 1;
    }
    if (kind != BASE_PAD && kind != BASE_MASK && kind != BASE_UNK && kind != BASE_TOKEN)
        return -1;
    if (dec || (kind == BASE_TOKEN && !ex->special)) {
        for (int t = 0; t < ex->T; t++)
            out[t] = rep;
        if (dec && ex->special && ex->special[0])
            out[0] = ex->ids[0];
        return 1;
    }
    if (!ex->special)
        return -1;
    for (int t = 0; t < ex->T; t++)
        out[t] = ex->special[t] ? ex->ids[t] : rep;
    return 1;
}

void attr_ctx_free(AttrCtx *c)
{
    free(c->pos_in);
    free(c->x);
    free(c->b);
    free(c->bids);
    free(c->bpos);
    free(c->bzero);
    free(c->bhead);
    memset(c, 0, sizeof *c);
}

/* The position a head reads on baseline ids. A decoder score head pools at the last token
 * that is not pad_token_id (0 when all are pad), as transformers does on whatever ids it is
 * given: a baseline that replaced the input's trailing pads (or is all pad) pools elsewhere
 * than the input. Every other head reads the input's position: the classifier token 0, the
 * causal LM the last position, the MLM the mask (which the baselines keep). */
static int baseline_head(const Model *m, const int *ids, int T, int input_head)
{
    if (m->cfg.head != HEAD_SCORE || m->cfg.pad_id < 0)
        return input_head;
    for (int t = T - 1; t >= 0; t--)
        if (ids[t] != m->cfg.pad_id)
            return t;
    return 0;
}

int attr_ctx_init(AttrCtx *c, const Model *m, const MethodSpec *s, const Example *ex, int nb,
                  const char **err)
{
    memset(c, 0, sizeof *c);
    if (method_spec_check(s, err))
        return -1;
    if (!ex || !ex->ids || ex->T < 1) {
        *err = "example: no tokens";
        return -1;
    }
    if (ex->T > m->cfg.P) {
        *err = "example: more tokens than the model's max_position_embeddings";
        return -1;
    }
    int T = ex->T, D = m->cfg.D;
    c->m = m;
    c->T = T;
    c->D = D;
    c->nb = nb;
    c->pos_in = malloc((size_t)T * sizeof(int));
    c->x = malloc((size_t)T * D * sizeof(float));
    c->b = calloc((size_t)nb * T * D, sizeof(float));
    c->bids = calloc((size_t)nb * T, sizeof(int));
    c->bpos = malloc((size_t)nb * T * sizeof(int));
    c->bzero = calloc((size_t)nb, sizeof(int));
    c->bhead = malloc((size_t)(nb > 0 ? nb : 1) * sizeof(int));
    int *types = calloc((size_t)T, sizeof(int));
    if (!c->pos_in || !c->x || !c->b || !c->bids || !c->bpos || !c->bzero || !c->bhead || !types) {
        free(types);
        attr_ctx_free(c);
        *err = "attribution: out of memory";
        return -1;
    }
    const int *ty = ex->type_ids ? ex->type_ids : types;
    engine_position_ids(m, ex->ids, T, c->pos_in);
    if (engine_layer_values(m, s->layer, ex->ids, c->pos_in, ty, T, c->x)) {
        free(types);
        attr_ctx_free(c);
        *err = "example: token id or token type id out of range";
        return -1;
    }
    for (int j = 0; j < nb; j++) {
        int *ids = c->bids + (size_t)j * T, *pos = c->bpos + (size_t)j * T;
        int r = baseline_ids(m, s->baselines[j], ex, ids);
        if (r < 0) {
            free(types);
            attr_ctx_free(c);
            *err = s->baselines[j] == BASE_PAD_ALL || ex->special
                       ? "baseline: replacement token id out of the vocabulary"
                       : "baseline: pad/mask/unk baselines need the example's special-token flags";
            return -1;
        }
        c->bhead[j] = ex->mlm_pos;
        if (r == 0) { /* BASE_ZERO: zero vector at the layer, the input's positions */
            c->bzero[j] = 1;
            memcpy(pos, c->pos_in, (size_t)T * sizeof(int));
            memcpy(ids, ex->ids, (size_t)T * sizeof(int));
            continue;
        }
        /* F(baseline) is the model on the baseline ids: RoBERTa derives other position ids. */
        engine_position_ids(m, ids, T, pos);
        c->bhead[j] = baseline_head(m, ids, T, ex->mlm_pos);
        if (engine_layer_values(m, s->layer, ids, pos, ty, T, c->b + (size_t)j * T * D)) {
            free(types);
            attr_ctx_free(c);
            *err = "baseline: token id out of range";
            return -1;
        }
    }
    free(types);
    return 0;
}

int rowmeta_init(RowMeta *rm, const Example *ex, int cap)
{
    int T = ex->T;
    rm->cap = cap;
    rm->T = T;
    rm->mlm_in = ex->mlm_pos;
    rm->pos = malloc((size_t)cap * T * sizeof(int));
    rm->type = malloc((size_t)cap * T * sizeof(int));
    rm->target = malloc((size_t)cap * sizeof(int));
    rm->mlm = malloc((size_t)cap * sizeof(int));
    if (!rm->pos || !rm->type || !rm->target || !rm->mlm) {
        rowmeta_free(rm);
        return -1;
    }
    for (int r = 0; r < cap; r++) {
        for (int t = 0; t < T; t++)
            rm->type[(size_t)r * T + t] = ex->type_ids ? ex->type_ids[t] : 0;
        rm->target[r] = ex->target;
        rm->mlm[r] = ex->mlm_pos;
    }
    return 0;
}

void rowmeta_set(RowMeta *rm, int row, const int *pos)
{
    memcpy(rm->pos + (size_t)row * rm->T, pos, (size_t)rm->T * sizeof(int));
    rm->mlm[row] = rm->mlm_in;
}

void rowmeta_set_baseline(RowMeta *rm, int row, const AttrCtx *c, int j)
{
    rowmeta_set(rm, row, c->bpos + (size_t)j * c->T);
    rm->mlm[row] = c->bhead[j];
}

void rowmeta_free(RowMeta *rm)
{
    free(rm->pos);
    free(rm->type);
    free(rm->target);
    free(rm->mlm);
    memset(rm, 0, sizeof *rm);
}

int attr_engine_rows(Engine *e, const MethodSpec *s, const RowMeta *rm, int B, const float *x,
                     float *F, float *grad, unsigned rescale, const char **err)
{
    EngineBatch in = {.B = B, .T = rm->T, .layer = s->layer, .x = x, .pos_ids = rm->pos,
                      .type_ids = rm->type, .mask = NULL, .target = rm->target, .mlm_pos = rm->mlm,
                      .output = s->output, .rescale = rescale};
    EngineOutput out = {.F = F, .grad = grad};
    if (engine_run(e, &in, &out)) {
        *err = engine_error(e);
        return -1;
    }
    return 0;
}

/* Workspace budget per engine call: 64 Mi floats (256 MiB); the engine micro-batches
 * its own activations, this bounds the rows we hand it at once. */
int attr_rows_per_call(long floats_per_row)
{
    long r = (64L << 20) / (floats_per_row > 0 ? floats_per_row : 1);
    return r < 1 ? 1 : r > 4096 ? 4096 : (int)r;
}
