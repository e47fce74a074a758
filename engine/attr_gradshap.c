/* Gradient SHAP (Captum GradientShap = NoiseTunnel(smoothgrad) over
 * InputBaselineXGradient, on the model cut at the layer): sample k draws a baseline
 * b_k from the list, α_k ~ U(0,1) and Gaussian noise n_k (stdevs) at the layer;
 * x_k = x + n_k, row k = b_k + α_k (x_k − b_k), attribution_k = (x_k − b_k) ⊙ ∇F(row k);
 * the result is the mean over samples, and each sample's delta is Captum's
 * Σ attribution_k − (F(x_k) − F(b_k)) with F on the cut model (input positions). */
#include "engine/attr_internal.h"
#include <stdlib.h>
#include <string.h>

typedef struct {
    const MethodSpec *s;
    long example;
    const int *bidx;       /* replay: recorded draws, else NULL (Philox) */
    const double *alpha, *noise;
} Draws;

static void get_draws(const Draws *d, int k, int T, int D, int *b, double *a, double *noise)
{
    if (!d->bidx) {
        attr_draws(d->s, d->example, k, T, D, b, a, noise);
        return;
    }
    long TD = (long)T * D;
    *b = d->bidx[k];
    *a = d->alpha[k];
    for (long q = 0; q < TD; q++)
        noise[q] = d->noise ? d->noise[(long)k * TD + q] : 0.0;
}

static int gradshap_core(Engine *e, const MethodSpec *s, const Example *ex, int i0, int i1,
                         const Draws *d, Partial *p, const char **err)
{
    const Model *m = engine_model(e);
    AttrCtx c;
    if (attr_ctx_init(&c, m, s, ex, s->nbaselines, err))
        return -1;
    int T = c.T, D = c.D;
    long TD = (long)T * D;
    int G = method_item_block(s, m, T), R = G, n = s->samples;
    double *noise = malloc((size_t)TD * sizeof(double));
    float *xk = malloc((size_t)R * TD * sizeof(float));   /* x_k per row */
    float *xs = malloc((size_t)R * TD * sizeof(float)), *g = malloc((size_t)R * TD * sizeof(float));
    float *xf = malloc((size_t)2 * R * TD * sizeof(float)); /* forward-only rows x_k, b_k */
    float *F = malloc((size_t)2 * R * sizeof(float));
    int *bk = malloc((size_t)R * sizeof(int));
    RowMeta rm = {0};
    int rc = -1;
    if (!noise || !xk || !xs || !g || !xf || !F || !bk || rowmeta_init(&rm, ex, 2 * R)) {
        *err = "gradient shap: out of memory";
        goto done;
    }
    for (int r = 0; r < 2 * R; r++) /* cut model: every row at the input's positions */
        rowmeta_set(&rm, r, c.pos_in);
    for (int k0 = i0 / G * G; k0 < i1; k0 += G) {
        int B = n - k0 < G ? n - k0 : G;
        for (int r = 0; r < B; r++) {
            double a;
            get_draws(d, k0 + r, T, D, &bk[r], &a, noise);
            if (bk[r] < 0 || bk[r] >= s->nbaselines) {
                *err = "gradient shap: baseline index of a draw out of range";
                goto done;
            }
            const float *b = c.b + (size_t)bk[r] * TD;
            float *x = xk + r * TD, *row = xs + r * TD;
            for (long q = 0; q < TD; q++) {
                x[q] = (float)((double)c.x[q] + noise[q]);
                row[q] = (float)(b[q] + a * ((double)x[q] - b[q]));
            }
            memcpy(xf + (size_t)r * TD, x, (size_t)TD * sizeof(float));
            memcpy(xf + (size_t)(B + r) * TD, b, (size_t)TD * sizeof(float));
        }
        if (attr_engine_rows(e, s, &rm, B, xs, F, g, 0, err))
            goto done;
        for (int r = 0; r < B; r++) {
            if (k0 + r < i0 || k0 + r >= i1)
                continue; /* another chunk's sample, computed only to keep the block whole */
            const float *b = c.b + (size_t)bk[r] * TD, *x = xk + r * TD, *gr = g + r * TD;
            double sum = 0.0;
            for (long q = 0; q < TD; q++) {
                double v = ((double)x[q] - b[q]) * gr[q];
                sum += v;
                if (fix_add(&p->acc[q], v)) {
                    *err = "gradient shap: fixed-point accumulator overflow";
                    goto done;
                }
            }
            p->item[(size_t)(k0 + r) * GS_WIDTH + GS_SUM] = sum;
        }
        /* F(x_k) and F(b_k) for the per-sample deltas */
        if (attr_engine_rows(e, s, &rm, 2 * B, xf, F, NULL, 0, err))
            goto done;
        for (int r = 0; r < B; r++) {
            if (k0 + r < i0 || k0 + r >= i1)
                continue;
            p->item[(size_t)(k0 + r) * GS_WIDTH + GS_FX] = F[r];
            p->item[(size_t)(k0 + r) * GS_WIDTH + GS_FB] = F[B + r];
        }
    }
    rc = 0;
done:
    free(noise);
    free(xk);
    free(xs);
    free(g);
    free(xf);
    free(F);
    free(bk);
    rowmeta_free(&rm);
    attr_ctx_free(&c);
    return rc;
}

int gradshap_run_chunk(Engine *e, const MethodSpec *s, const Example *ex, int i0, int i1,
                       Partial *p, const char **err)
{
    Draws d = {.s = s, .example = ex->index};
    return gradshap_core(e, s, ex, i0, i1, &d, p, err);
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
    Draws d = {.s = s, .example = ex->index, .bidx = bidx, .alpha = alpha, .noise = noise};
    return gradshap_core(e, s, ex, i0, i1, &d, p, err);
}
