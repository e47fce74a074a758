/* LayerConductance (captum/attr/_core/layer/layer_conductance.py) for every encoder
 * layer at once. Captum evaluates n_steps + 1 Gauss-Legendre nodes α_0..α_n (no
 * weights) of the path b + α (x − b) at the input (here: the attribution layer) and
 * sums, for each layer output y (hidden states, attention probabilities),
 *     Σ_{k<n} ∂F/∂y(row k) ⊙ (y(row k+1) − y(row k)).
 * Item k is the interval [α_k, α_{k+1}]: a chunk [i0,i1) evaluates nodes i0..i1. */
#include "engine/attr_internal.h"
#include <stdlib.h>

int conductance_run_chunk(Engine *e, const MethodSpec *s, const Example *ex, int i0, int i1,
                          Partial *p, const char **err)
{
    const Model *m = engine_model(e);
    AttrCtx c;
    if (attr_ctx_init(&c, m, s, ex, 1, err))
        return -1;
    int T = c.T, D = c.D, L = m->cfg.L, NH = m->cfg.NH, n = s->steps;
    long TD = (long)T * D, HTT = (long)NH * T * T;
    int R = attr_rows_per_call(2 * TD + 2 * L * TD + 2 * L * HTT);
    if (R < 2)
        R = 2; /* a group needs both ends of an interval */
    if (R > i1 - i0 + 1)
        R = i1 - i0 + 1;
    double *alpha = malloc((size_t)(n + 1) * sizeof(double)), *w = malloc((size_t)(n + 1) * sizeof(double));
    float *xs = malloc((size_t)R * TD * sizeof(float)), *g = malloc((size_t)R * TD * sizeof(float));
    float *F = malloc((size_t)R * sizeof(float));
    float *hid = malloc((size_t)L * R * TD * sizeof(float)), *dhid = malloc((size_t)L * R * TD * sizeof(float));
    float *pr = malloc((size_t)L * R * HTT * sizeof(float)), *dpr = malloc((size_t)L * R * HTT * sizeof(float));
    RowMeta rm = {0};
    int rc = -1;
    if (!alpha || !w || !xs || !g || !F || !hid || !dhid || !pr || !dpr || rowmeta_init(&rm, ex, R)) {
        *err = "conductance: out of memory";
        goto done;
    }
    ig_nodes(RULE_GAUSSLEGENDRE, n + 1, alpha, w); /* Captum: alphas_func(n_steps + 1) */
    for (int r = 0; r < R; r++)
        rowmeta_set(&rm, r, c.pos_in);
    /* Groups of B nodes [a, a+B) cover intervals [a, a+B-1); consecutive groups share a node. */
    for (int a = i0; a < i1;) {
        int B = i1 - a + 1 < R ? i1 - a + 1 : R;
        for (int r = 0; r < B; r++) {
            double al = alpha[a + r];
            float *row = xs + r * TD;
            for (long q = 0; q < TD; q++)
                row[q] = (float)(c.b[q] + al * ((double)c.x[q] - c.b[q]));
        }
        EngineBatch in = {.B = B, .T = T, .layer = s->layer, .x = xs, .pos_ids = rm.pos,
                          .type_ids = rm.type, .target = rm.target, .mlm_pos = rm.mlm,
                          .output = s->output};
        EngineOutput out = {.F = F, .grad = g, .hidden = hid, .dhidden = dhid, .probs = pr, .dprobs = dpr};
        if (engine_run(e, &in, &out)) {
            *err = engine_error(e);
            goto done;
        }
        for (int l = 0; l < L; l++)
            for (int r = 0; r + 1 < B; r++) {
                /* taps are layer-major: (L,B,T,D) and (L,B,NH,T,T) */
                const float *h0 = hid + ((size_t)l * B + r) * TD, *h1 = h0 + TD;
                const float *dh = dhid + ((size_t)l * B + r) * TD;
                __int128 *acc = p->acc_hidden + (size_t)l * TD;
                for (long q = 0; q < TD; q++)
                    if (fix_add(&acc[q], dh[q] * ((double)h1[q] - h0[q])))
                        goto overflow;
                const float *p0 = pr + ((size_t)l * B + r) * HTT, *p1 = p0 + HTT;
                const float *dp = dpr + ((size_t)l * B + r) * HTT;
                __int128 *acca = p->acc_attn + (size_t)l * HTT;
                for (long q = 0; q < HTT; q++)
                    if (fix_add(&acca[q], dp[q] * ((double)p1[q] - p0[q])))
                        goto overflow;
            }
        a += B - 1;
    }
    rc = 0;
    goto done;
overflow:
    *err = "conductance: fixed-point accumulator overflow";
done:
    free(alpha);
    free(w);
    free(xs);
    free(g);
    free(F);
    free(hid);
    free(dhid);
    free(pr);
    free(dpr);
    rowmeta_free(&rm);
    attr_ctx_free(&c);
    return rc;
}
