/* SmoothGrad (Captum NoiseTunnel, nt_type "smoothgrad") on the model cut at the
 * layer: the mean over samples of the base method at x + noise_k, noise from the
 * Philox stream of sample k. Over Saliency the base attribution is |∇F| (Saliency's
 * abs=True); over IG, items are (sample, node) pairs: item i is sample i / steps, node
 * i % steps, and each sample has Captum's delta Σattr_k − (F(x_k) − F(b)). */
#include "engine/attr_internal.h"
#include <math.h>
#include <stdlib.h>

static void smoothgrad_shape(const MethodSpec *s, MethodShape *sh)
{
    int over_ig = s->smooth_base == M_IG;
    sh->items = sh->nodes = over_ig ? (int64_t)s->samples * s->steps : s->samples;
    sh->baselines = over_ig;
    sh->deltas = over_ig ? s->samples : 0;
    sh->item_width = over_ig ? SG_WIDTH : 0;
    sh->uses_steps = over_ig;
    sh->uses_samples = 1;
}

typedef struct {
    int over_ig, n;        /* over IG: n = steps nodes per sample; over Saliency: 1 */
    int cur_sample;        /* the sample whose x_k is in xk */
    double *alpha, *w;     /* (n) IG nodes and weights; 1 over Saliency */
    double *noise;         /* (T,D) */
    float *xk;             /* (T,D) x_k = x + noise_k */
    float *xkr;            /* (G,T,D) x_k of each row */
    float *xf;             /* (G,T,D) forward-only rows x_k (IG deltas) */
    int *fx_item;          /* (G) the item each of those rows belongs to */
} SgState;

static int smoothgrad_begin(AttrChunk *ch, const char **err)
{
    SgState *st = ch->own = calloc(1, sizeof *st);
    if (!st) {
        *err = "smoothgrad: out of memory";
        return -1;
    }
    size_t TD = (size_t)ch->TD, G = (size_t)ch->G;
    st->over_ig = ch->s->smooth_base == M_IG;
    st->n = st->over_ig ? ch->s->steps : 1;
    st->cur_sample = -1;
    st->alpha = malloc((size_t)st->n * sizeof(double));
    st->w = malloc((size_t)st->n * sizeof(double));
    st->noise = malloc(TD * sizeof(double));
    st->xk = malloc(TD * sizeof(float));
    st->xkr = malloc(G * TD * sizeof(float));
    st->xf = malloc(G * TD * sizeof(float));
    st->fx_item = malloc(G * sizeof(int));
    if (!st->alpha || !st->w || !st->noise || !st->xk || !st->xkr || !st->xf || !st->fx_item) {
        *err = "smoothgrad: out of memory";
        return -1;
    }
    if (st->over_ig)
        ig_nodes(ch->s->rule, st->n, st->alpha, st->w);
    else
        st->alpha[0] = st->w[0] = 1.0;
    return 0;
}

static void smoothgrad_end(AttrChunk *ch)
{
    SgState *st = ch->own;
    if (st) {
        free(st->alpha);
        free(st->w);
        free(st->noise);
        free(st->xk);
        free(st->xkr);
        free(st->xf);
        free(st->fx_item);
        free(st);
    }
}

/* rows of items [i, i + B): x_k, or over IG b + α_j (x_k − b); F(x_k) rows for node 0 */
static int smoothgrad_rows(AttrChunk *ch, SgState *st, int i, int B)
{
    const AttrCtx *c = &ch->c;
    long TD = ch->TD;
    int nf = 0;
    for (int r = 0; r < B; r++) {
        int k = (i + r) / st->n, j = (i + r) % st->n;
        if (k != st->cur_sample) { /* x_k = x + noise_k, rounded to the engine's float */
            attr_draws(ch->s, ch->ex->index, k, ch->T, ch->D, NULL, NULL, st->noise);
            for (long q = 0; q < TD; q++)
                st->xk[q] = (float)((double)c->x[q] + st->noise[q]);
            st->cur_sample = k;
        }
        float *row = ch->xs + r * TD;
        for (long q = 0; q < TD; q++) {
            st->xkr[r * TD + q] = st->xk[q];
            row[q] = st->over_ig ? (float)(c->b[q] + st->alpha[j] * ((double)st->xk[q] - c->b[q])) : st->xk[q];
        }
        if (st->over_ig && j == 0) { /* F(x_k) for sample k's convergence delta */
            for (long q = 0; q < TD; q++)
                st->xf[nf * TD + q] = st->xk[q];
            st->fx_item[nf++] = i + r;
        }
    }
    return nf;
}

static int smoothgrad_block(AttrChunk *ch, int i, int B, const char **err)
{
    SgState *st = ch->own;
    const AttrCtx *c = &ch->c;
    Partial *p = ch->p;
    long TD = ch->TD;
    int nf = smoothgrad_rows(ch, st, i, B);
    if (attr_engine_rows(ch->e, ch->s, &ch->rm, B, ch->xs, ch->F, ch->g, 0, err))
        return -1;
    for (int r = 0; r < B; r++) {
        int j = (i + r) % st->n;
        if (!attr_chunk_owns(ch, i + r))
            continue; /* another chunk's item */
        const float *gr = ch->g + r * TD;
        if (st->over_ig) {
            double sum = 0.0;
            for (long q = 0; q < TD; q++) {
                double v = ((double)st->xkr[r * TD + q] - c->b[q]) * (st->w[j] * gr[q]);
                sum += v;
                if (fix_add(&p->acc[q], v))
                    goto overflow;
            }
            p->item[(size_t)(i + r) * SG_WIDTH + SG_SUM] = sum;
        } else {
            for (long q = 0; q < TD; q++)
                if (fix_add(&p->acc[q], fabs((double)gr[q])))
                    goto overflow;
        }
    }
    if (nf > 0) {
        if (attr_engine_rows(ch->e, ch->s, &ch->rm, nf, st->xf, ch->F, NULL, 0, err))
            return -1;
        for (int q = 0; q < nf; q++)
            if (attr_chunk_owns(ch, st->fx_item[q]))
                p->item[(size_t)st->fx_item[q] * SG_WIDTH + SG_FX] = ch->F[q];
    }
    return 0;
overflow:
    *err = "smoothgrad: fixed-point accumulator overflow";
    return -1;
}

/* mean over samples; over IG, delta_k = Σ_j attribution_kj − (F(x_k) − F(b)) */
static int smoothgrad_finalize(const AttrFinal *f, AttrResult *r, const char **err)
{
    const MethodSpec *s = f->s;
    attr_final_mean(f, s->samples);
    attr_final_tokens(f, r, s->smooth_base == M_SALIENCY);
    for (int k = 0; k < r->n_delta; k++) {
        double sk = 0.0;
        for (int j = 0; j < s->steps; j++)
            sk += f->p->item[((size_t)k * s->steps + j) * SG_WIDTH + SG_SUM];
        r->delta[k] = (float)(sk - (f->p->item[(size_t)k * s->steps * SG_WIDTH + SG_FX] - f->F[1]));
    }
    return 0;
}

const MethodOps attr_smoothgrad_ops = {
    .kind = M_SMOOTHGRAD, .name = "smoothgrad", .rows_per_item = 1, .cuts_at_layer = 1,
    .shape = smoothgrad_shape, .row_floats = attr_row_floats_4td,
    .begin = smoothgrad_begin, .block = smoothgrad_block, .end = smoothgrad_end,
    .finalize = smoothgrad_finalize,
};
