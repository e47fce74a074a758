/* SmoothGrad (Captum NoiseTunnel, nt_type "smoothgrad") on the model cut at the
 * layer: the mean over samples of the base method at x + noise_k, noise from the
 * Philox stream of sample k. Over Saliency the base attribution is |∇F| (Saliency's
 * abs=True); over IG, items are (sample, node) pairs: item i is sample i / steps, node
 * i % steps, and each sample has Captum's delta Σattr_k − (F(x_k) − F(b)). */
#include "engine/attr_internal.h"
#include <math.h>
#include <stdlib.h>

int smoothgrad_run_chunk(Engine *e, const MethodSpec *s, const Example *ex, int i0, int i1,
                         Partial *p, const char **err)
{
    const Model *m = engine_model(e);
    int over_ig = s->smooth_base == M_IG;
    AttrCtx c;
    if (attr_ctx_init(&c, m, s, ex, over_ig ? 1 : 0, err))
        return -1;
    int T = c.T, D = c.D, n = over_ig ? s->steps : 1, items = method_items(s);
    int G = method_item_block(s, m, T);
    long TD = (long)T * D;
    double *alpha = malloc((size_t)n * sizeof(double)), *w = malloc((size_t)n * sizeof(double));
    double *noise = malloc((size_t)TD * sizeof(double));
    float *xk = malloc((size_t)TD * sizeof(float));
    float *xs = malloc((size_t)G * TD * sizeof(float)), *g = malloc((size_t)G * TD * sizeof(float));
    float *F = malloc((size_t)G * sizeof(float));
    float *xf = malloc((size_t)G * TD * sizeof(float)); /* forward-only rows x_k (IG deltas) */
    float *xkr = malloc((size_t)G * TD * sizeof(float)); /* x_k of each row */
    int *fx_item = malloc((size_t)G * sizeof(int));
    RowMeta rm = {0};
    int rc = -1, cur_sample = -1;
    if (!alpha || !w || !noise || !xk || !xs || !g || !F || !xf || !xkr || !fx_item ||
        rowmeta_init(&rm, ex, G)) {
        *err = "smoothgrad: out of memory";
        goto done;
    }
    if (over_ig)
        ig_nodes(s->rule, n, alpha, w);
    else
        alpha[0] = w[0] = 1.0;
    for (int r = 0; r < G; r++)
        rowmeta_set(&rm, r, c.pos_in);
    for (int i = i0 / G * G; i < i1; i += G) {
        int B = items - i < G ? items - i : G, nf = 0;
        for (int r = 0; r < B; r++) {
            int k = (i + r) / n, j = (i + r) % n;
            if (k != cur_sample) { /* x_k = x + noise_k, rounded to the engine's float */
                attr_draws(s, ex->index, k, T, D, NULL, NULL, noise);
                for (long q = 0; q < TD; q++)
                    xk[q] = (float)((double)c.x[q] + noise[q]);
                cur_sample = k;
            }
            float *row = xs + r * TD;
            for (long q = 0; q < TD; q++) {
                xkr[r * TD + q] = xk[q];
                row[q] = over_ig ? (float)(c.b[q] + alpha[j] * ((double)xk[q] - c.b[q])) : xk[q];
            }
            if (over_ig && j == 0) { /* F(x_k) for sample k's convergence delta */
                for (long q = 0; q < TD; q++)
                    xf[nf * TD + q] = xk[q];
                fx_item[nf++] = i + r;
            }
        }
        if (attr_engine_rows(e, s, &rm, B, xs, F, g, 0, err))
            goto done;
        for (int r = 0; r < B; r++) {
            int j = (i + r) % n;
            if (i + r < i0 || i + r >= i1)
                continue; /* another chunk's item */
            const float *gr = g + r * TD;
            if (over_ig) {
                double sum = 0.0;
                for (long q = 0; q < TD; q++) {
                    double v = ((double)xkr[r * TD + q] - c.b[q]) * (w[j] * gr[q]);
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
            if (attr_engine_rows(e, s, &rm, nf, xf, F, NULL, 0, err))
                goto done;
            for (int q = 0; q < nf; q++)
                if (fx_item[q] >= i0 && fx_item[q] < i1)
                    p->item[(size_t)fx_item[q] * SG_WIDTH + SG_FX] = F[q];
        }
    }
    rc = 0;
    goto done;
overflow:
    *err = "smoothgrad: fixed-point accumulator overflow";
done:
    free(alpha);
    free(w);
    free(noise);
    free(xk);
    free(xs);
    free(g);
    free(F);
    free(xf);
    free(fx_item);
    free(xkr);
    rowmeta_free(&rm);
    attr_ctx_free(&c);
    return rc;
}
