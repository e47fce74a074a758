/* LayerConductance (captum/attr/_core/layer/layer_conductance.py) for every encoder
 * layer at once. Captum evaluates n_steps + 1 Gauss-Legendre nodes α_0..α_n (no
 * weights) of the path b + α (x − b) at the input (here: the attribution layer) and
 * sums, for each layer output y (hidden states, attention probabilities),
 *     Σ_{k<n} ∂F/∂y(row k) ⊙ (y(row k+1) − y(row k)).
 * Item k is the interval [α_k, α_{k+1}]: a chunk [i0,i1) needs nodes i0..i1. Nodes
 * run in fixed blocks of G (method_item_block); an interval that straddles two blocks
 * uses the last node of the previous block, kept in `prev`.
 *
 * The hidden states come as taps of every layer (L·G·T·D floats). The attention
 * probabilities do not: the engine's gradient sink hands over each layer's P and dF/dP of
 * one micro-batch during the backward (cond_grad_sink), and the intervals are summed there,
 * so only one layer's (rows,NH,T,T) pair exists, plus the last node's P and dF/dP of each
 * layer for the interval that starts in one micro-batch (or block) and ends in the next.
 * The fixed-point sums are exact, so the order of the additions changes no bit. */
#include "engine/attr_internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void conductance_shape(const MethodSpec *s, MethodShape *sh)
{
    sh->items = s->steps;
    sh->nodes = s->steps + 1;
    sh->baselines = 1;
    sh->uses_steps = 1;
}

/* The input row, the gradient, the hidden-state taps of every layer with their gradients,
 * and what the engine's backward of one row keeps of the attention: every layer's
 * probabilities and their gradient (the keep-all backward's P of each layer and the dF/dP the
 * sink reads; the block size method_item_block derives from this sets the rows per engine
 * call, whose bits are not micro-batch invariant, so it is the count it always was). */
static long conductance_row_floats(const Model *m, int T)
{
    const ModelConfig *c = &m->cfg;
    long TD = (long)T * c->D;
    return 2 * TD + 2L * c->L * TD + 2L * c->L * c->NH * T * T;
}

typedef struct {
    double *alpha, *w;              /* (nodes) */
    float *hid, *dhid;              /* the block's hidden-state taps: (L,G,T,D) */
    float *ph, *pdh;                /* the previous block's last node: (L,T,D) */
    float *pp, *pdp;                /* each layer's last node seen by the sink: (L,NH,T,T) */
    int have_prev;                  /* a block ran before this one: its last node is in ph.., pp.. */
    int a;                          /* the first node of the block the engine is running */
    int overflow;                   /* the sink stopped on an accumulator overflow */
    AttrChunk *ch;
} CondState;

static int conductance_begin(AttrChunk *ch, const char **err)
{
    CondState *st = ch->own = calloc(1, sizeof *st);
    if (!st) {
        *err = "conductance: out of memory";
        return -1;
    }
    const ModelConfig *mc = &ch->m->cfg;
    size_t L = (size_t)mc->L, G = (size_t)ch->G, TD = (size_t)ch->TD, HTT = (size_t)mc->NH * ch->T * ch->T;
    size_t nodes = (size_t)ch->sh.nodes;
    st->alpha = malloc(nodes * sizeof(double));
    st->w = malloc(nodes * sizeof(double));
    st->hid = malloc(L * G * TD * sizeof(float));
    st->dhid = malloc(L * G * TD * sizeof(float));
    st->ph = malloc(L * TD * sizeof(float));
    st->pdh = malloc(L * TD * sizeof(float));
    st->pp = malloc(L * HTT * sizeof(float));
    st->pdp = malloc(L * HTT * sizeof(float));
    if (!st->alpha || !st->w || !st->hid || !st->dhid || !st->ph || !st->pdh || !st->pp ||
        !st->pdp) {
        *err = "conductance: out of memory";
        return -1;
    }
    st->ch = ch;
    ig_nodes(RULE_GAUSSLEGENDRE, (int)nodes, st->alpha, st->w); /* Captum: alphas_func(n_steps + 1) */
    return 0;
}

static void conductance_end(AttrChunk *ch)
{
    CondState *st = ch->own;
    if (!st)
        return;
    free(st->alpha);
    free(st->w);
    free(st->hid);
    free(st->dhid);
    free(st->ph);
    free(st->pdh);
    free(st->pp);
    free(st->pdp);
    free(st);
}

/* acc += dy ⊙ (y1 − y0) over n elements */
static int accumulate(__int128 *acc, const float *dy, const float *y0, const float *y1, long n)
{
    for (long q = 0; q < n; q++)
        if (fix_add(&acc[q], dy[q] * ((double)y1[q] - y0[q])))
            return -1;
    return 0;
}

/* The hidden states of layer l of a block of B nodes from node a: the intervals whose both
 * ends are known. */
static int conductance_layer(AttrChunk *ch, CondState *st, int l, int a, int B)
{
    long TD = ch->TD;
    __int128 *acc = ch->p->acc_hidden + (size_t)l * TD;
    /* taps are layer-major: (L,B,T,D) */
    const float *H = st->hid + (size_t)l * B * TD, *DH = st->dhid + (size_t)l * B * TD;
    int k = a - 1; /* the interval across the block boundary */
    if (st->have_prev && attr_chunk_owns(ch, k) && accumulate(acc, st->pdh + l * TD, st->ph + l * TD, H, TD))
        return -1;
    for (int r = 0; r + 1 < B; r++) {
        k = a + r;
        if (attr_chunk_owns(ch, k) && accumulate(acc, DH + r * TD, H + r * TD, H + (r + 1) * TD, TD))
            return -1;
    }
    memcpy(st->ph + l * TD, H + (B - 1) * TD, (size_t)TD * sizeof(float));
    memcpy(st->pdh + l * TD, DH + (B - 1) * TD, (size_t)TD * sizeof(float));
    return 0;
}

/* The engine's gradient sink: layer l's P and dF/dP of the block's rows [b0, b0+Bm). Row r is
 * node a+b0+r; the interval ending there starts at the row before, or (r = 0) at the node last
 * seen at this layer (pp, pdp: the previous micro-batch's or block's last row). */
static int cond_grad_sink(void *ctx, int l, int b0, int Bm, const float *P, const float *DP)
{
    CondState *st = ctx;
    AttrChunk *ch = st->ch;
    long HTT = (long)ch->m->cfg.NH * ch->T * ch->T;
    __int128 *acca = ch->p->acc_attn + (size_t)l * HTT;
    float *pp = st->pp + (size_t)l * HTT, *pdp = st->pdp + (size_t)l * HTT;
    for (int r = 0; r < Bm; r++) {
        int k = st->a + b0 + r - 1; /* the interval [node k, node k+1] */
        if (r == 0 && b0 == 0 && !st->have_prev)
            continue;
        if (!attr_chunk_owns(ch, k))
            continue;
        const float *p0 = r ? P + (size_t)(r - 1) * HTT : pp, *d0 = r ? DP + (size_t)(r - 1) * HTT : pdp;
        if (accumulate(acca, d0, p0, P + (size_t)r * HTT, HTT)) {
            st->overflow = 1;
            return -1;
        }
    }
    memcpy(pp, P + (size_t)(Bm - 1) * HTT, (size_t)HTT * sizeof(float));
    memcpy(pdp, DP + (size_t)(Bm - 1) * HTT, (size_t)HTT * sizeof(float));
    return 0;
}

static int conductance_block(AttrChunk *ch, int a, int B, const char **err)
{
    CondState *st = ch->own;
    const AttrCtx *c = &ch->c;
    const MethodSpec *s = ch->s;
    long TD = ch->TD;
    for (int r = 0; r < B; r++) {
        double al = st->alpha[a + r];
        float *row = ch->xs + r * TD;
        for (long q = 0; q < TD; q++)
            row[q] = (float)(c->b[q] + al * ((double)c->x[q] - c->b[q]));
    }
    const RowMeta *rm = &ch->rm;
    EngineBatch in = {.B = B, .T = ch->T, .layer = s->layer, .x = ch->xs, .pos_ids = rm->pos,
                      .type_ids = rm->type, .target = rm->target, .mlm_pos = rm->mlm, .output = s->output};
    EngineOutput out = {.F = ch->F, .grad = ch->g, .hidden = st->hid, .dhidden = st->dhid,
                        .grad_sink = cond_grad_sink, .attn_ctx = st};
    st->a = a;
    if (engine_run(ch->e, &in, &out)) {
        *err = st->overflow ? "conductance: fixed-point accumulator overflow" : engine_error(ch->e);
        return -1;
    }
    for (int l = 0; l < ch->m->cfg.L; l++)
        if (conductance_layer(ch, st, l, a, B)) {
            *err = "conductance: fixed-point accumulator overflow";
            return -1;
        }
    st->have_prev = 1;
    return 0;
}

/* Per layer: the attributions of the hidden states (full, per-token sum and L2) and of
 * the attention probabilities, and the layer's delta. */
static int conductance_finalize(const AttrFinal *f, AttrResult *r, const char **err)
{
    const Partial *p = f->p;
    int T = r->T, D = r->D, L = p->L, NH = p->NH;
    long TD = (long)T * D, HTT = (long)NH * T * T;
    double fx = f->F[0];
    r->L = L;
    r->NH = NH;
    r->cond_full = malloc((size_t)L * TD * sizeof(float));
    r->cond_sum = malloc((size_t)T * L * sizeof(float));
    r->cond_l2 = malloc((size_t)T * L * sizeof(float));
    r->cond_attn = malloc((size_t)L * HTT * sizeof(float));
    r->cond_delta = malloc((size_t)L * sizeof(float));
    if (!r->cond_full || !r->cond_sum || !r->cond_l2 || !r->cond_attn || !r->cond_delta) {
        *err = "method_finalize: out of memory";
        return -1;
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
        r->cond_delta[l] = (float)(total - (fx - f->F[1]));
    }
    return 0;
}

const MethodOps attr_conductance_ops = {
    .kind = M_CONDUCTANCE, .name = "conductance", .rows_per_item = 1, .cuts_at_layer = 1, .per_layer = 1,
    .shape = conductance_shape, .row_floats = conductance_row_floats,
    .begin = conductance_begin, .block = conductance_block, .end = conductance_end,
    .finalize = conductance_finalize,
};
