/* method_run_chunk (dispatch to the method files) and method_finalize: from the
 * merged exact sums to attributions, per-token summaries and convergence deltas. */
#include "engine/attr_internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

int method_run_chunk(Engine *e, const MethodSpec *s, const Example *ex, int i0, int i1,
                     Partial *p, const char **err)
{
    if (method_spec_check(s, err))
        return -1;
    if (!p || !ex || p->T != ex->T || p->n_items != method_items(s) ||
        (s->kind == M_CONDUCTANCE) != (p->L > 0)) {
        *err = "method_run_chunk: partial does not match the method or the example";
        return -1;
    }
    if (partial_claim(p, i0, i1)) {
        *err = "method_run_chunk: items out of range or already computed in this partial";
        return -1;
    }
    switch (s->kind) {
    case M_IG: return ig_run_chunk(e, s, ex, i0, i1, p, err);
    case M_GRADSHAP: return gradshap_run_chunk(e, s, ex, i0, i1, p, err);
    case M_DEEPLIFT: case M_DEEPLIFTSHAP: return deeplift_run_chunk(e, s, ex, i0, i1, p, err);
    case M_SALIENCY: case M_INPUTXGRAD: return saliency_run_chunk(e, s, ex, i0, i1, p, err);
    case M_SMOOTHGRAD: return smoothgrad_run_chunk(e, s, ex, i0, i1, p, err);
    case M_CONDUCTANCE: return conductance_run_chunk(e, s, ex, i0, i1, p, err);
    default: *err = "method_run_chunk: unknown method"; return -1;
    }
}

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

/* full (T,D) from attributions in double; token sums (signed, or of |a| when abs_sum). */
static void fill_tokens(AttrResult *r, const double *a, int abs_sum)
{
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

static double sum_all(const double *a, long n)
{
    double s = 0.0;
    for (long i = 0; i < n; i++)
        s += a[i];
    return s;
}

int method_finalize(Engine *e, const MethodSpec *s, const Example *ex, const Partial *p,
                    AttrResult *r, const char **err)
{
    const Model *m = engine_model(e);
    memset(r, 0, sizeof *r);
    if (method_spec_check(s, err))
        return -1;
    if (!p || !ex || p->T != ex->T || p->n_items != method_items(s) ||
        (s->kind == M_CONDUCTANCE) != (p->L > 0)) {
        *err = "method_finalize: partial does not match the method or the example";
        return -1;
    }
    for (int i = 0; i < p->n_items; i++)
        if (!p->item_done[i]) {
            *err = "method_finalize: partial is incomplete (some items were never computed)";
            return -1;
        }
    int nb = (s->kind == M_GRADSHAP || s->kind == M_DEEPLIFTSHAP) ? s->nbaselines : 1;
    AttrCtx c;
    if (attr_ctx_init(&c, m, s, ex, nb, err))
        return -1;
    int T = c.T, D = c.D;
    long TD = (long)T * D;
    /* Methods on the model cut at the layer (noise or conductance inputs live there)
     * evaluate F(b) at the layer with the input's positions; the others run the model
     * on the baseline ids, as Captum's compute_convergence_delta does on token inputs. */
    int cut = s->kind == M_GRADSHAP || s->kind == M_SMOOTHGRAD || s->kind == M_CONDUCTANCE;
    float *xs = malloc((size_t)(1 + nb) * TD * sizeof(float)), *F = malloc((size_t)(1 + nb) * sizeof(float));
    double *a = malloc((size_t)TD * sizeof(double));
    RowMeta rm = {0};
    int rc = -1;
    if (!xs || !F || !a || rowmeta_init(&rm, ex, 1 + nb)) {
        *err = "method_finalize: out of memory";
        goto done;
    }
    memcpy(xs, c.x, (size_t)TD * sizeof(float));
    memcpy(xs + TD, c.b, (size_t)nb * TD * sizeof(float));
    rowmeta_set(&rm, 0, c.pos_in);
    for (int j = 0; j < nb; j++)
        rowmeta_set(&rm, 1 + j, cut ? c.pos_in : c.bpos + (size_t)j * T);
    if (attr_engine_rows(e, s, &rm, 1 + nb, xs, F, NULL, 0, err))
        goto done;
    double fx = F[0];
    r->T = T;
    r->D = D;
    r->f_input = F[0];
    r->f_baseline = F[1];

    if (s->kind == M_CONDUCTANCE) {
        int L = p->L, NH = p->NH;
        long HTT = (long)NH * T * T;
        r->L = L;
        r->NH = NH;
        r->cond_full = malloc((size_t)L * TD * sizeof(float));
        r->cond_sum = malloc((size_t)T * L * sizeof(float));
        r->cond_l2 = malloc((size_t)T * L * sizeof(float));
        r->cond_attn = malloc((size_t)L * HTT * sizeof(float));
        r->cond_delta = malloc((size_t)L * sizeof(float));
        if (!r->cond_full || !r->cond_sum || !r->cond_l2 || !r->cond_attn || !r->cond_delta) {
            *err = "method_finalize: out of memory";
            goto done;
        }
        for (int l = 0; l < L; l++) {
            double total = 0.0;
            for (int t = 0; t < T; t++) {
                double s1 = 0.0, s2 = 0.0;
                for (int d = 0; d < D; d++) {
                    size_t q = (size_t)l * TD + (size_t)t * D + d;
                    double v = fix_to_double(p->acc_hidden[q]);
                    r->cond_full[q] = (float)v;
                    s1 += v;
                    s2 += v * v;
                }
                r->cond_sum[(size_t)t * L + l] = (float)s1;
                r->cond_l2[(size_t)t * L + l] = (float)sqrt(s2);
                total += s1;
            }
            for (long q = 0; q < HTT; q++) {
                double v = fix_to_double(p->acc_attn[(size_t)l * HTT + q]);
                r->cond_attn[(size_t)l * HTT + q] = (float)v;
                total += v;
            }
            /* Captum sums the attributions of every output of the layer (hidden states
             * and attention probabilities) before comparing with F(x) − F(b). */
            r->cond_delta[l] = (float)(total - (fx - F[1]));
        }
        rc = 0;
        goto done;
    }

    r->full = malloc((size_t)TD * sizeof(float));
    r->token_sum = malloc((size_t)T * sizeof(float));
    r->token_l2 = malloc((size_t)T * sizeof(float));
    int n_delta = 0;
    switch (s->kind) {
    case M_IG: case M_DEEPLIFT: n_delta = 1; break;
    case M_GRADSHAP: n_delta = s->samples; break;
    case M_DEEPLIFTSHAP: n_delta = nb; break;
    case M_SMOOTHGRAD: n_delta = s->smooth_base == M_IG ? s->samples : 0; break;
    default: n_delta = 0;
    }
    r->n_delta = n_delta;
    r->delta = n_delta ? malloc((size_t)n_delta * sizeof(float)) : NULL;
    if (!r->full || !r->token_sum || !r->token_l2 || (n_delta && !r->delta)) {
        *err = "method_finalize: out of memory";
        goto done;
    }
    double div = 1.0;
    if (s->kind == M_GRADSHAP || s->kind == M_SMOOTHGRAD)
        div = s->samples;
    else if (s->kind == M_DEEPLIFTSHAP)
        div = nb;
    for (long q = 0; q < TD; q++) {
        double v = fix_to_double(p->acc[q]);
        a[q] = s->kind == M_IG ? ((double)c.x[q] - c.b[q]) * v : v / div;
    }
    int abs_sum = s->kind == M_SALIENCY || (s->kind == M_SMOOTHGRAD && s->smooth_base == M_SALIENCY);
    fill_tokens(r, a, abs_sum);
    switch (s->kind) {
    case M_IG: r->delta[0] = (float)(sum_all(a, TD) - (fx - F[1])); break;
    case M_DEEPLIFT: r->delta[0] = (float)(p->item[DL_SUM] - (fx - F[1])); break;
    case M_DEEPLIFTSHAP:
        for (int j = 0; j < nb; j++)
            r->delta[j] = (float)(p->item[(size_t)j * DL_WIDTH + DL_SUM] - (fx - F[1 + j]));
        break;
    case M_GRADSHAP:
        for (int k = 0; k < s->samples; k++) {
            const double *it = p->item + (size_t)k * GS_WIDTH;
            r->delta[k] = (float)(it[GS_SUM] - (it[GS_FX] - it[GS_FB]));
        }
        break;
    case M_SMOOTHGRAD:
        for (int k = 0; k < n_delta; k++) {
            double sk = 0.0;
            for (int j = 0; j < s->steps; j++)
                sk += p->item[((size_t)k * s->steps + j) * SG_WIDTH + SG_SUM];
            r->delta[k] = (float)(sk - (p->item[(size_t)k * s->steps * SG_WIDTH + SG_FX] - F[1]));
        }
        break;
    default: break;
    }
    rc = 0;
done:
    if (rc)
        attr_result_free(r);
    free(xs);
    free(F);
    free(a);
    rowmeta_free(&rm);
    attr_ctx_free(&c);
    return rc;
}
