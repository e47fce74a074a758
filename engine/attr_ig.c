/* Integrated Gradients (Captum LayerIntegratedGradients): for node k of the rule,
 * row k is b + α_k (x − b) at the layer (the input's positions); the partial holds
 * Σ_k w_k ∇F(row k) exactly, finalize multiplies by (x − b) as Captum does
 * (total_grads * (input - baseline)). Nodes run in fixed blocks (method_item_block). */
#include "engine/attr_internal.h"
#include <stdlib.h>

static void ig_shape(const MethodSpec *s, MethodShape *sh)
{
    sh->items = sh->nodes = s->steps;
    if (s->steps == IG_STEPS_AUTO) { /* every level's nodes (attribution.h) */
        int n[IG_AUTO_MAX_LEVELS], off[IG_AUTO_MAX_LEVELS];
        int L = ig_auto_levels(s, n, off);
        sh->items = sh->nodes = L > 0 ? off[L - 1] + n[L - 1] : 0;
    }
    sh->baselines = 1;
    sh->deltas = 1;
    sh->uses_steps = 1;
}

/* Adaptive IG: the level holding the item (every item of a chunk is in one level). */
static void ig_segment(const MethodSpec *s, int item, int *lo, int *hi)
{
    *lo = 0;
    *hi = s->steps;
    if (s->steps != IG_STEPS_AUTO)
        return;
    int n[IG_AUTO_MAX_LEVELS], off[IG_AUTO_MAX_LEVELS];
    int L = ig_auto_levels(s, n, off), l = ig_auto_level_of(s, item);
    if (l < 0) /* out of range: the whole item space (method_run_chunk refuses such chunks) */
        l = item < 0 ? 0 : L - 1;
    *lo = off[l];
    *hi = off[l] + n[l];
}

typedef struct {
    double *alpha, *w; /* the rule's nodes and weights */
    int base;          /* item number of node 0 (adaptive IG: the chunk's level's first item) */
} IgState;

static int ig_begin(AttrChunk *ch, const char **err)
{
    IgState *st = ch->own = calloc(1, sizeof *st);
    int lo = 0, n = ch->s->steps;
    if (ch->s->steps == IG_STEPS_AUTO) { /* the chunk's level is the rule n_l */
        int hi;
        ig_segment(ch->s, ch->i0, &lo, &hi);
        n = hi - lo;
    }
    if (!st || !(st->alpha = malloc((size_t)n * sizeof(double))) || !(st->w = malloc((size_t)n * sizeof(double)))) {
        *err = "integrated gradients: out of memory";
        return -1;
    }
    st->base = lo;
    ig_nodes(ch->s->rule, n, st->alpha, st->w);
    return 0;
}

static void ig_end(AttrChunk *ch)
{
    IgState *st = ch->own;
    if (st) {
        free(st->alpha);
        free(st->w);
        free(st);
    }
}

static int ig_block(AttrChunk *ch, int k0, int B, const char **err)
{
    const IgState *st = ch->own;
    const AttrCtx *c = &ch->c;
    long TD = ch->TD;
    for (int r = 0; r < B; r++) {
        double a = st->alpha[k0 - st->base + r];
        float *row = ch->xs + r * TD;
        for (long i = 0; i < TD; i++)
            row[i] = (float)(c->b[i] + a * ((double)c->x[i] - c->b[i]));
    }
    if (attr_engine_rows(ch->e, ch->s, &ch->rm, B, ch->xs, ch->F, ch->g, 0, err))
        return -1;
    for (int r = 0; r < B; r++) {
        if (!attr_chunk_owns(ch, k0 + r))
            continue;
        double wk = st->w[k0 - st->base + r]; /* float32-valued: w·g is exact in double */
        const float *gr = ch->g + r * TD;
        for (long i = 0; i < TD; i++)
            if (fix_add(&ch->p->acc[i], wk * gr[i])) {
                *err = "integrated gradients: fixed-point accumulator overflow (|sum| >= 2^62)";
                return -1;
            }
    }
    return 0;
}

/* attribution = (x − b) ⊙ Σ_k w_k ∇F; delta = Σ attribution − (F(x) − F(b)) */
static int ig_finalize(const AttrFinal *f, AttrResult *r, const char **err)
{
    const AttrCtx *c = f->c;
    long TD = (long)c->T * c->D;
    for (long q = 0; q < TD; q++)
        f->a[q] = ((double)c->x[q] - c->b[q]) * fix_to_double(f->p->acc[q]);
    attr_final_tokens(f, r, 0);
    r->delta[0] = (float)(attr_final_sum(f) - ((double)f->F[0] - f->F[1]));
    return 0;
}

const MethodOps attr_ig_ops = {
    .kind = M_IG, .name = "ig", .rows_per_item = 1,
    .shape = ig_shape, .segment = ig_segment, .row_floats = attr_row_floats_2td,
    .begin = ig_begin, .block = ig_block, .end = ig_end, .finalize = ig_finalize,
};
