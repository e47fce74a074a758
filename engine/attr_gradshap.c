/* Gradient SHAP (Captum GradientShap = NoiseTunnel(smoothgrad) over
 * InputBaselineXGradient, on the model cut at the layer): sample k draws a baseline
 * b_k from the list, α_k ~ U(0,1) and Gaussian noise n_k (stdevs) at the layer;
 * x_k = x + n_k, row k = b_k + α_k (x_k − b_k), attribution_k = (x_k − b_k) ⊙ ∇F(row k);
 * the result is the mean over samples, and each sample's delta is Captum's
 * Σ attribution_k − (F(x_k) − F(b_k)) with F on the cut model (input positions). */
#include "engine/attr_internal.h"
#include <stdlib.h>
#include <string.h>

static void gradshap_shape(const MethodSpec *s, MethodShape *sh)
{
    sh->items = sh->nodes = s->samples;
    sh->baselines = s->nbaselines;
    sh->deltas = s->samples;
    sh->item_width = GS_WIDTH;
    sh->uses_samples = 1;
}

/* Recorded draws to replay (gradshap_run_draws); without them, the Philox streams. */
typedef struct {
    const int *bidx;
    const double *alpha, *noise;
} Replay;

typedef struct {
    double *noise;   /* (T,D) */
    float *xk;       /* (G,T,D) x_k per row */
    float *xf;       /* (2G,T,D) forward-only rows x_k, b_k */
    int *bk;         /* (G) baseline of each row */
} GsState;

static void get_draws(const AttrChunk *ch, int k, int *b, double *a, double *noise)
{
    const Replay *d = ch->arg;
    if (!d) {
        attr_draws(ch->s, ch->ex->index, k, ch->T, ch->D, b, a, noise);
        return;
    }
    long TD = ch->TD;
    *b = d->bidx[k];
    *a = d->alpha[k];
    for (long q = 0; q < TD; q++)
        noise[q] = d->noise ? d->noise[(long)k * TD + q] : 0.0;
}

static int gradshap_begin(AttrChunk *ch, const char **err)
{
    GsState *st = ch->own = calloc(1, sizeof *st);
    size_t TD = (size_t)ch->TD, R = (size_t)ch->G;
    if (!st || !(st->noise = malloc(TD * sizeof(double))) || !(st->xk = malloc(R * TD * sizeof(float))) ||
        !(st->xf = malloc(2 * R * TD * sizeof(float))) || !(st->bk = malloc(R * sizeof(int)))) {
        *err = "gradient shap: out of memory";
        return -1;
    }
    return 0;
}

static void gradshap_end(AttrChunk *ch)
{
    GsState *st = ch->own;
    if (st) {
        free(st->noise);
        free(st->xk);
        free(st->xf);
        free(st->bk);
        free(st);
    }
}

static int gradshap_block(AttrChunk *ch, int k0, int B, const char **err)
{
    GsState *st = ch->own;
    const AttrCtx *c = &ch->c;
    const MethodSpec *s = ch->s;
    long TD = ch->TD;
    for (int r = 0; r < B; r++) {
        double a;
        get_draws(ch, k0 + r, &st->bk[r], &a, st->noise);
        if (st->bk[r] < 0 || st->bk[r] >= s->nbaselines) {
            *err = "gradient shap: baseline index of a draw out of range";
            return -1;
        }
        const float *b = c->b + (size_t)st->bk[r] * TD;
        float *x = st->xk + r * TD, *row = ch->xs + r * TD;
        for (long q = 0; q < TD; q++) {
            x[q] = (float)((double)c->x[q] + st->noise[q]);
            row[q] = (float)(b[q] + a * ((double)x[q] - b[q]));
        }
        memcpy(st->xf + (size_t)r * TD, x, (size_t)TD * sizeof(float));
        memcpy(st->xf + (size_t)(B + r) * TD, b, (size_t)TD * sizeof(float));
    }
    if (attr_engine_rows(ch->e, s, &ch->rm, B, ch->xs, ch->F, ch->g, 0, err))
        return -1;
    for (int r = 0; r < B; r++) {
        if (!attr_chunk_owns(ch, k0 + r))
            continue;
        const float *b = c->b + (size_t)st->bk[r] * TD, *x = st->xk + r * TD, *gr = ch->g + r * TD;
        double sum = 0.0;
        for (long q = 0; q < TD; q++) {
            double v = ((double)x[q] - b[q]) * gr[q];
            sum += v;
            if (fix_add(&ch->p->acc[q], v)) {
                *err = "gradient shap: fixed-point accumulator overflow";
                return -1;
            }
        }
        ch->p->item[(size_t)(k0 + r) * GS_WIDTH + GS_SUM] = sum;
    }
    /* F(x_k) and F(b_k) for the per-sample deltas */
    if (attr_engine_rows(ch->e, s, &ch->rm, 2 * B, st->xf, ch->F, NULL, 0, err))
        return -1;
    for (int r = 0; r < B; r++) {
        if (!attr_chunk_owns(ch, k0 + r))
            continue;
        ch->p->item[(size_t)(k0 + r) * GS_WIDTH + GS_FX] = ch->F[r];
        ch->p->item[(size_t)(k0 + r) * GS_WIDTH + GS_FB] = ch->F[B + r];
    }
    return 0;
}

/* mean over samples; delta_k = Σ attribution_k − (F(x_k) − F(b_k)) */
static int gradshap_finalize(const AttrFinal *f, AttrResult *r, const char **err)
{
    attr_final_mean(f, f->s->samples);
    attr_final_tokens(f, r, 0);
    for (int k = 0; k < f->s->samples; k++) {
        const double *it = f->p->item + (size_t)k * GS_WIDTH;
        r->delta[k] = (float)(it[GS_SUM] - (it[GS_FX] - it[GS_FB]));
    }
    return 0;
}

int gradshap_run_draws(Engine *e, const MethodSpec *s, const Example *ex, int i0, int i1,
                       const int *bidx, const double *alpha, const double *noise, Partial *p,
                       const char **err)
{
    if (s->kind != M_GRADSHAP || !bidx || !alpha) {
        *err = "gradient shap replay: needs a gradshap spec, baseline indices and alphas";
        return -1;
    }
    if (!p || p->T != ex->T || p->n_items != method_items(s) || partial_claim(p, i0, i1)) {
        *err = "gradient shap replay: partial does not match the example, or items out of range or already computed";
        return -1;
    }
    Replay d = {.bidx = bidx, .alpha = alpha, .noise = noise};
    return attr_chunk_run(e, s, ex, i0, i1, &d, p, err);
}

const MethodOps attr_gradshap_ops = {
    .kind = M_GRADSHAP, .name = "gradshap", .rows_per_item = 1, .cuts_at_layer = 1,
    .shape = gradshap_shape, .row_floats = attr_row_floats_4td,
    .begin = gradshap_begin, .block = gradshap_block, .end = gradshap_end, .finalize = gradshap_finalize,
};
