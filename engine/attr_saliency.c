/* Saliency (the signed gradient; per-token Σ|g| and ‖g‖₂) and Input×Gradient
 * (x ⊙ ∇F(x)): one item, one row at the input. */
#include "engine/attr_internal.h"
#include <stdlib.h>

int saliency_run_chunk(Engine *e, const MethodSpec *s, const Example *ex, int i0, int i1,
                       Partial *p, const char **err)
{
    const Model *m = engine_model(e);
    AttrCtx c;
    if (attr_ctx_init(&c, m, s, ex, 0, err))
        return -1;
    long TD = (long)c.T * c.D;
    float *g = malloc((size_t)TD * sizeof(float)), F;
    RowMeta rm = {0};
    int rc = -1;
    if (!g || rowmeta_init(&rm, ex, 1)) {
        *err = "saliency: out of memory";
        goto done;
    }
    rowmeta_set(&rm, 0, c.pos_in);
    if (attr_engine_rows(e, s, &rm, 1, c.x, &F, g, 0, err))
        goto done;
    for (long i = 0; i < TD; i++) {
        double v = s->kind == M_INPUTXGRAD ? (double)c.x[i] * g[i] : (double)g[i];
        if (fix_add(&p->acc[i], v)) {
            *err = "saliency: fixed-point accumulator overflow";
            goto done;
        }
    }
    rc = 0;
done:
    free(g);
    rowmeta_free(&rm);
    attr_ctx_free(&c);
    return rc;
}
