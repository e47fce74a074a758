/* Adaptive Integrated Gradients (ig.steps: auto; attribution.h): the levels, the decision per
 * example and its result.
 *
 * Why whole Gauss-Legendre rules that double (16, 32, 64, ...) rather than a nested rule
 * (Gauss-Kronrod, Clenshaw-Curtis): a nested rule gives other weights to the nodes it shares,
 * so reusing them needs every node's gradient kept apart (T·D values per node, in the spools)
 * or one accumulator per rule; a whole rule per level is one exact fixed-point sum per level,
 * i.e. the partials, spools, merge and resume as they are, and a level's result is Captum's
 * Gauss-Legendre rule bit for bit (the tests compare it with `ig.steps: n`). The price is that
 * no node is reused: an example finished at level l cost n_0 + ... + n_l evaluations (about
 * 2 n_l). The estimate |a_l - a_(l-1)| is that of the coarser rule; Gauss-Legendre's error
 * falls geometrically with n, so it bounds level l's error with a wide margin (honest, not
 * tight). docs/performance.md has the measurements. */
#include "engine/attr_internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

int ig_auto_levels(const MethodSpec *s, int *n, int *off)
{
    int L = 0, k = IG_AUTO_FIRST, at = 0;
    if (s->max_steps <= IG_AUTO_FIRST)
        return 0;
    while (L < IG_AUTO_MAX_LEVELS) {
        n[L] = k;
        off[L] = at;
        at += k;
        L++;
        if (k >= s->max_steps)
            break;
        k = 2 * k < s->max_steps ? 2 * k : s->max_steps;
    }
    return L;
}

int ig_auto_level_of(const MethodSpec *s, int item)
{
    int n[IG_AUTO_MAX_LEVELS], off[IG_AUTO_MAX_LEVELS];
    int L = ig_auto_levels(s, n, off);
    for (int l = 0; l < L; l++)
        if (item >= off[l] && item < off[l] + n[l])
            return l;
    return -1;
}

/* max|a_l - a_(l-1)| / max|a_l| with a = (x - b) ⊙ acc, in double and in a fixed order. */
static double level_estimate(const AttrCtx *c, const Partial *hi, const Partial *lo)
{
    long TD = (long)c->T * c->D;
    double dmax = 0.0, amax = 0.0;
    for (long q = 0; q < TD; q++) {
        double xb = (double)c->x[q] - c->b[q];
        double ah = xb * fix_to_double(hi->acc[q]), al = xb * fix_to_double(lo->acc[q]);
        double d = fabs(ah - al);
        if (d > dmax)
            dmax = d;
        if (fabs(ah) > amax)
            amax = fabs(ah);
    }
    if (dmax == 0.0)
        return 0.0;
    return amax > 0.0 ? dmax / amax : INFINITY;
}

static int check_levels(const MethodSpec *s, const Example *ex, Partial *const *lv, int have, const int *n,
                        const int *off, int L, const char **err)
{
    if (s->steps != IG_STEPS_AUTO || s->kind != M_IG || have < 0 || have > L) {
        *err = "adaptive IG: not an adaptive spec, or more levels than it has";
        return -1;
    }
    for (int l = 0; l < have; l++) {
        const Partial *p = lv[l];
        if (!p || !p->acc || p->T != ex->T || p->n_items != off[L - 1] + n[L - 1]) {
            *err = "adaptive IG: a level's partial does not match the spec or the example";
            return -1;
        }
        for (int i = off[l]; i < off[l] + n[l]; i++)
            if (!p->item_done[i]) {
                *err = "adaptive IG: a level's partial is incomplete";
                return -1;
            }
    }
    return 0;
}

int ig_auto_decide(const Model *m, const MethodSpec *s, const Example *ex, Partial *const *lv, int have,
                   int *level, double *est, const char **err)
{
    int n[IG_AUTO_MAX_LEVELS], off[IG_AUTO_MAX_LEVELS];
    int L = ig_auto_levels(s, n, off);
    if (method_spec_check(s, err) || check_levels(s, ex, lv, have, n, off, L, err))
        return -1;
    if (have < 2) /* an estimate needs two levels */
        return 1;
    AttrCtx c;
    if (attr_ctx_init(&c, m, s, ex, 1, err))
        return -1;
    int rc = 1;
    for (int l = 1; l < have; l++) {
        double e = level_estimate(&c, lv[l], lv[l - 1]);
        if (est)
            est[l] = e;
        if (e <= s->tolerance || l == L - 1) { /* converged, or the last level: finished */
            *level = l;
            rc = 0;
            break;
        }
    }
    attr_ctx_free(&c);
    return rc;
}

int ig_auto_finalize(Engine *e, const MethodSpec *s, const Example *ex, Partial *const *lv, int level,
                     double est, AttrResult *r, const char **err)
{
    memset(r, 0, sizeof *r);
    int n[IG_AUTO_MAX_LEVELS], off[IG_AUTO_MAX_LEVELS];
    int L = ig_auto_levels(s, n, off);
    if (method_spec_check(s, err) || level < 1 || check_levels(s, ex, lv, level + 1, n, off, L, err))
        return level < 1 ? (*err = "adaptive IG: the reported level must be >= 1", -1) : -1;
    /* level l as the fixed rule ig.steps = n_l: its sum is a partial of n_l items, all there */
    MethodSpec fixed = *s;
    fixed.steps = n[level];
    Partial *p = partial_new(&fixed, engine_model(e), ex->T);
    if (!p) {
        *err = "adaptive IG: out of memory";
        return -1;
    }
    memcpy(p->acc, lv[level]->acc, (size_t)p->T * p->D * sizeof(__int128));
    memset(p->item_done, 1, (size_t)p->n_items);
    int rc = method_finalize(e, &fixed, ex, p, r, err);
    partial_free(p);
    if (rc)
        return -1;
    r->steps_used = off[level] + n[level];
    r->rule_steps = n[level];
    r->error_estimate = (float)est;
    r->converged = est <= s->tolerance;
    return 0;
}
