/* LayerConductance (captum/attr/_core/layer/layer_conductance.py) for every encoder
 * layer at once. Captum evaluates n_steps + 1 Gauss-Legendre nodes α_0..α_n (no
 * weights) of the path b + α (x − b) at the input (here: the attribution layer) and
 * sums, for each layer output y (hidden states, attention probabilities),
 *     Σ_{k<n} ∂F/∂y(row k) ⊙ (y(row k+1) − y(row k)).
 * Item k is the interval [α_k, α_{k+1}]: a chunk [i0,i1) needs nodes i0..i1. Nodes
 * run in fixed blocks of G (method_item_block); an interval that straddles two blocks
 * uses the last node of the previous block, kept in `prev`. */
#include "engine/attr_internal.h"
#include <stdlib.h>
#include <string.h>

/* acc += dy ⊙ (y1 − y0) over n elements */
static int accumulate(__int128 *acc, const float *dy, const float *y0, const float *y1, long n)
{
    for (long q = 0; q < n; q++)
        if (fix_add(&acc[q], dy[q] * ((double)y1[q] - y0[q])))
            return -1;
    return 0;
}

int conductance_run_chunk(Engine *e, const MethodSpec *s, const Example *ex, int i0, int i1,
                          Partial *p, const char **err)
{
    const Model *m = engine_model(e);
    AttrCtx c;
    if (attr_ctx_init(&c, m, s, ex, 1, err))
        return -1;
    int T = c.T, D = c.D, L = m->cfg.L, NH = m->cfg.NH, n = s->steps, nodes = n + 1;
    long TD = (long)T * D, HTT = (long)NH * T * T;
    int G = method_item_block(s, m, T);
    double *alpha = malloc((size_t)nodes * sizeof(double)), *w = malloc((size_t)nodes * sizeof(double));
    float *xs = malloc((size_t)G * TD * sizeof(float)), *g = malloc((size_t)G * TD * sizeof(float));
    float *F = malloc((size_t)G * sizeof(float));
    float *hid = malloc((size_t)L * G * TD * sizeof(float)), *dhid = malloc((size_t)L * G * TD * sizeof(float));
    float *pr = malloc((size_t)L * G * HTT * sizeof(float)), *dpr = malloc((size_t)L * G * HTT * sizeof(float));
    /* the previous block's last node: hidden, dhidden (L,T,D); probs, dprobs (L,NH,T,T) */
    float *ph = malloc((size_t)L * TD * sizeof(float)), *pdh = malloc((size_t)L * TD * sizeof(float));
    float *pp = malloc((size_t)L * HTT * sizeof(float)), *pdp = malloc((size_t)L * HTT * sizeof(float));
    RowMeta rm = {0};
    int rc = -1, have_prev = 0;
    if (!alpha || !w || !xs || !g || !F || !hid || !dhid || !pr || !dpr || !ph || !pdh || !pp || !pdp ||
        rowmeta_init(&rm, ex, G)) {
        *err = "conductance: out of memory";
        goto done;
    }
    ig_nodes(RULE_GAUSSLEGENDRE, nodes, alpha, w); /* Captum: alphas_func(n_steps + 1) */
    for (int r = 0; r < G; r++)
        rowmeta_set(&rm, r, c.pos_in);
    for (int a = i0 / G * G; a <= i1; a += G) {
        int B = nodes - a < G ? nodes - a : G;
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
        /* taps are layer-major: (L,B,T,D) and (L,B,NH,T,T) */
        for (int l = 0; l < L; l++) {
            __int128 *acc = p->acc_hidden + (size_t)l * TD, *acca = p->acc_attn + (size_t)l * HTT;
            const float *H = hid + (size_t)l * B * TD, *DH = dhid + (size_t)l * B * TD;
            const float *P = pr + (size_t)l * B * HTT, *DP = dpr + (size_t)l * B * HTT;
            int k = a - 1; /* the interval across the block boundary */
            if (have_prev && k >= i0 && k < i1 &&
                (accumulate(acc, pdh + l * TD, ph + l * TD, H, TD) ||
                 accumulate(acca, pdp + l * HTT, pp + l * HTT, P, HTT)))
                goto overflow;
            for (int r = 0; r + 1 < B; r++) {
                k = a + r;
                if (k < i0 || k >= i1)
                    continue;
                if (accumulate(acc, DH + r * TD, H + r * TD, H + (r + 1) * TD, TD) ||
                    accumulate(acca, DP + r * HTT, P + r * HTT, P + (r + 1) * HTT, HTT))
                    goto overflow;
            }
            memcpy(ph + l * TD, H + (B - 1) * TD, (size_t)TD * sizeof(float));
            memcpy(pdh + l * TD, DH + (B - 1) * TD, (size_t)TD * sizeof(float));
            memcpy(pp + l * HTT, P + (B - 1) * HTT, (size_t)HTT * sizeof(float));
            memcpy(pdp + l * HTT, DP + (B - 1) * HTT, (size_t)HTT * sizeof(float));
        }
        have_prev = 1;
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
    free(ph);
    free(pdh);
    free(pp);
    free(pdp);
    rowmeta_free(&rm);
    attr_ctx_free(&c);
    return rc;
}
