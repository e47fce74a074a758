/* Integrated Gradients (Captum LayerIntegratedGradients): for node k of the rule,
 * row k is b + α_k (x − b) at the layer (the input's positions); the partial holds
 * Σ_k w_k ∇F(row k) exactly, finalize multiplies by (x − b) as Captum does
 * (total_grads * (input - baseline)). Nodes run in fixed blocks (method_item_block). */
#include "engine/attr_internal.h"
#include <stdlib.h>

int ig_run_chunk(Engine *e, const MethodSpec *s, const Example *ex, int i0, int i1, Partial *p,
                 const char **err)
{
    const Model *m = engine_model(e);
    AttrCtx c;
    if (attr_ctx_init(&c, m, s, ex, 1, err))
        return -1;
    int T = c.T, n = s->steps, G = method_item_block(s, m, T);
    long TD = (long)T * c.D;
    double *alpha = malloc((size_t)n * sizeof(double)), *w = malloc((size_t)n * sizeof(double));
    float *xs = malloc((size_t)G * TD * sizeof(float)), *g = malloc((size_t)G * TD * sizeof(float));
    float *F = malloc((size_t)G * sizeof(float));
    RowMeta rm = {0};
    int rc = -1;
    if (!alpha || !w || !xs || !g || !F || rowmeta_init(&rm, ex, G)) {
        *err = "integrated gradients: out of memory";
        goto done;
    }
    ig_nodes(s->rule, n, alpha, w);
    for (int r = 0; r < G; r++)
        rowmeta_set(&rm, r, c.pos_in);
    for (int k0 = i0 / G * G; k0 < i1; k0 += G) {
        int B = n - k0 < G ? n - k0 : G;
        for (int r = 0; r < B; r++) {
            double a = alpha[k0 + r];
            float *row = xs + r * TD;
            for (long i = 0; i < TD; i++)
                row[i] = (float)(c.b[i] + a * ((double)c.x[i] - c.b[i]));
        }
        if (attr_engine_rows(e, s, &rm, B, xs, F, g, 0, err))
            goto done;
        for (int r = 0; r < B; r++) {
            if (k0 + r < i0 || k0 + r >= i1)
                continue; /* another chunk's item, computed only to keep the block whole */
            double wk = w[k0 + r]; /* float32-valued: w·g is exact in double */
            const float *gr = g + r * TD;
            for (long i = 0; i < TD; i++)
                if (fix_add(&p->acc[i], wk * gr[i])) {
                    *err = "integrated gradients: fixed-point accumulator overflow (|sum| >= 2^62)";
                    goto done;
                }
        }
    }
    rc = 0;
done:
    free(alpha);
    free(w);
    free(xs);
    free(g);
    free(F);
    rowmeta_free(&rm);
    attr_ctx_free(&c);
    return rc;
}
