/* method_finalize: the skeleton every method's finalize runs in (attr_internal.h), and
 * the helpers they share: from the merged exact sums to attributions, per-token
 * summaries and convergence deltas. Each method's own step is in its file. */
#include "engine/attr_internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

void attr_result_free(AttrResult *r)
{
    free(r->full);
    free(r->token_sum);
    free(r->token_l2);
    free(r->delta);
    free(r->cond_full);
    free(r->cond_sum);
    free(r->cond_l2);
    free(r->cond_attn);
    free(r->cond_delta);
    memset(r, 0, sizeof *r);
}

void attr_final_mean(const AttrFinal *f, double div)
{
    long TD = (long)f->c->T * f->c->D;
    for (long q = 0; q < TD; q++)
        f->a[q] = fix_to_double(f->p->acc[q]) / div;
}

void attr_final_tokens(const AttrFinal *f, AttrResult *r, int abs_sum)
{
    const double *a = f->a;
    for (int t = 0; t < r->T; t++) {
        double s = 0.0, s2 = 0.0;
        for (int d = 0; d < r->D; d++) {
            double v = a[(size_t)t * r->D + d];
            r->full[(size_t)t * r->D + d] = (float)v;
            s += abs_sum ? fabs(v) : v;
            s2 += v * v;
        }
        r->token_sum[t] = (float)s;
        r->token_l2[t] = (float)sqrt(s2);
    }
}

double attr_final_sum(const AttrFinal *f)
{
    long n = (long)f->c->T * f->c->D;
    double s = 0.0;
    for (long i = 0; i < n; i++)
        s += f->a[i];
    return s;
}

static int check_partial(const MethodSpec *s, const Example *ex, const Partial *p, const char **err)
{
    if (method_spec_check(s, err))
        return -1;
    if (!p || !ex || p->T != ex->T || p->n_items != method_items(s) ||
        method_ops(s->kind)->per_layer != (p->L > 0)) {
        *err = "method_finalize: partial does not match the method or the example";
        return -1;
    }
    for (int i = 0; i < p->n_items; i++)
        if (!p->item_done[i]) {
            *err = "method_finalize: partial is incomplete (some items were never computed)";
            return -1;
        }
    return 0;
}

/* F(x) and F(b_j) in one engine call. Methods on the model cut at the layer (noise or
 * conductance inputs live there) evaluate F(b) at the layer with the input's positions;
 * the others run the model on the baseline ids, as Captum's compute_convergence_delta
 * does on token inputs (positions and, for a decoder score head, the pooled token are the
 * baseline's own). */
static int forward_input_and_baselines(Engine *e, const MethodSpec *s, const Example *ex, const AttrCtx *c,
                                       int nb, float *F, const char **err)
{
    long TD = (long)c->T * c->D;
    int cut = method_ops(s->kind)->cuts_at_layer;
    float *xs = malloc((size_t)(1 + nb) * TD * sizeof(float));
    RowMeta rm = {0};
    int rc = -1;
    if (!xs || rowmeta_init(&rm, ex, 1 + nb)) {
        *err = "method_finalize: out of memory";
        goto done;
    }
    memcpy(xs, c->x, (size_t)TD * sizeof(float));
    memcpy(xs + TD, c->b, (size_t)nb * TD * sizeof(float));
    rowmeta_set(&rm, 0, c->pos_in);
    for (int j = 0; j < nb; j++) {
        if (cut)
            rowmeta_set(&rm, 1 + j, c->pos_in);
        else
            rowmeta_set_baseline(&rm, 1 + j, c, j);
    }
    rc = attr_engine_rows(e, s, &rm, 1 + nb, xs, F, NULL, 0, err);
done:
    free(xs);
    rowmeta_free(&rm);
    return rc;
}

int method_finalize(Engine *e, const MethodSpec *s, const Example *ex, const Partial *p,
                    AttrResult *r, const char **err)
{
    memset(r, 0, sizeof *r);
    if (check_partial(s, ex, p, err))
        return -1;
    const MethodOps *ops = method_ops(s->kind);
    MethodShape sh;
    method_shape(s, &sh);
    int nb = sh.baselines > 1 ? sh.baselines : 1; /* F(first baseline) for every method */
    AttrCtx c;
    if (attr_ctx_init(&c, engine_model(e), s, ex, nb, err))
        return -1;
    int T = c.T, D = c.D;
    long TD = (long)T * D;
    float *F = malloc((size_t)(1 + nb) * sizeof(float));
    double *a = malloc((size_t)TD * sizeof(double));
    int rc = -1;
    if (!F || !a) {
        *err = "method_finalize: out of memory";
        goto done;
    }
    if (forward_input_and_baselines(e, s, ex, &c, nb, F, err))
        goto done;
    r->T = T;
    r->D = D;
    r->f_input = F[0];
    r->f_baseline = F[1];
    if (!ops->per_layer) {
        r->full = malloc((size_t)TD * sizeof(float));
        r->token_sum = malloc((size_t)T * sizeof(float));
        r->token_l2 = malloc((size_t)T * sizeof(float));
        r->n_delta = sh.deltas;
        r->delta = sh.deltas ? malloc((size_t)sh.deltas * sizeof(float)) : NULL;
        if (!r->full || !r->token_sum || !r->token_l2 || (sh.deltas && !r->delta)) {
            *err = "method_finalize: out of memory";
            goto done;
        }
    }
    AttrFinal f = {.s = s, .p = p, .c = &c, .F = F, .nb = nb, .a = a};
    rc = ops->finalize(&f, r, err);
done:
    if (rc)
        attr_result_free(r);
    free(F);
    free(a);
    attr_ctx_free(&c);
    return rc;
}
