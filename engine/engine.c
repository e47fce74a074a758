/* The engine: batched forward and input-gradient backward of a BERT-family
 * encoder with its head (engine/engine.h), built from the op pairs of ops.h.
 *
 * Rows are processed in passes of at most mb_tokens tokens (pairs of rows are never
 * split in DeepLIFT mode). All activations of one pass live in one arena, laid out by
 * acts_layout() from (rows, T) and reused across calls: nothing is allocated in the
 * hot path. What each forward keeps for the backward is said where it is computed. */
#include "engine/clock.h"
#include "engine/engine.h"
#include "engine/ops.h"
#include <cblas.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int ops_prof_on;
double ops_prof_s[PROF_N];
const char *const ops_prof_name[PROF_N] = {
    "embeddings fwd", "linear fwd", "attention fwd", "layernorm fwd", "activation fwd", "residual add",
    "head fwd+bwd", "linear bwd", "attention bwd", "layernorm bwd", "activation bwd"};

/* Times `stmt` into class k when profiling (two clock reads per op: negligible). */
#define PROF(k, stmt)                                    \
    do {                                                 \
        double t0_ = ops_prof_on ? clock_now() : 0;       \
        stmt;                                            \
        if (ops_prof_on)                                 \
            ops_prof_s[k] += clock_now() - t0_;           \
    } while (0)

/* Per-layer tensors kept for the backward. */
typedef struct {
    float *q, *k, *v;          /* (N,D) projections: attention backward */
    float *P;                  /* (Bm,NH,T,T) attention probabilities: attention backward */
    float *ln1_xhat, *ln1_rstd; /* (N,D), (N): LN1 backward */
    float *u;                  /* (N,FF) FFN pre-activation: activation backward / Rescale */
    float *ln2_xhat, *ln2_rstd; /* (N,D), (N): LN2 backward */
} LayerActs;

/* Everything else of one pass: the embedding LayerNorm's saved values, the head's,
 * and scratch that lives only within one layer (forward or backward). */
typedef struct {
    float *emb_xhat, *emb_rstd; /* (N,D), (N): embedding LN backward (AT_WORD_EMB) */
    float *h, *h1, *ctx, *a;    /* (N,D) scratch: layer input/output, after LN1, context, pre-LN sums */
    float *f;                   /* (N,FF) scratch: activation output, then its gradient */
    float *dh, *dx, *dq, *dk, *dv; /* (N,D) backward scratch */
    float *dP;                  /* (threads,T,T) attention backward scratch, one per thread */
    float *hc;                  /* (Bm,D) hidden state at the explained token */
    float *zpre;                /* (Bm,D) head dense output: activation backward / Rescale */
    float *z;                   /* (Bm,D) after head activation (and MLM LayerNorm) */
    float *hd_xhat, *hd_rstd;   /* (Bm,D), (Bm): MLM head LN backward */
    float *logits, *prob;       /* (Bm,C): prob for OUT_PROB's backward */
    float *dlogits;             /* (Bm,C) */
    float *dz, *dhc;            /* (Bm,D) */
} Acts;

struct Engine {
    const Model *m;
    int mb_tokens;
    float *arena;
    size_t arena_floats;
    LayerActs *la; /* L entries, pointing into the arena */
    Acts A;
    char err[512];
};

static int set_err(Engine *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->err, sizeof e->err, fmt, ap);
    va_end(ap);
    return -1;
}

/* Lays out (or, with base == NULL, only sizes) the arena for Bm rows of T tokens.
 * Every tensor starts on a 64-byte boundary. Returns the number of floats. */
static size_t acts_layout(const ModelConfig *c, int Bm, int T, float *base, Acts *A, LayerActs *la)
{
    size_t N = (size_t)Bm * T, D = (size_t)c->D, FF = (size_t)c->FF, C = (size_t)c->C;
    size_t off = 0;
#define TAKE(ptr, n)                       \
    do {                                   \
        if (base)                          \
            (ptr) = base + off;            \
        off += ((size_t)(n) + 15) & ~(size_t)15; \
    } while (0)
    for (int l = 0; l < c->L; l++) {
        LayerActs *L = &la[l];
        TAKE(L->q, N * D);
        TAKE(L->k, N * D);
        TAKE(L->v, N * D);
        TAKE(L->P, (size_t)Bm * c->NH * T * T);
        TAKE(L->ln1_xhat, N * D);
        TAKE(L->ln1_rstd, N);
        TAKE(L->u, N * FF);
        TAKE(L->ln2_xhat, N * D);
        TAKE(L->ln2_rstd, N);
    }
    TAKE(A->emb_xhat, N * D);
    TAKE(A->emb_rstd, N);
    TAKE(A->h, N * D);
    TAKE(A->h1, N * D);
    TAKE(A->ctx, N * D);
    TAKE(A->a, N * D);
    TAKE(A->f, N * FF);
    TAKE(A->dh, N * D);
    TAKE(A->dx, N * D);
    TAKE(A->dq, N * D);
    TAKE(A->dk, N * D);
    TAKE(A->dv, N * D);
    TAKE(A->dP, (size_t)ops_threads() * T * T);
    TAKE(A->hc, Bm * D);
    TAKE(A->zpre, Bm * D);
    TAKE(A->z, Bm * D);
    TAKE(A->hd_xhat, Bm * D);
    TAKE(A->hd_rstd, Bm);
    TAKE(A->logits, Bm * C);
    TAKE(A->prob, Bm * C);
    TAKE(A->dlogits, Bm * C);
    TAKE(A->dz, Bm * D);
    TAKE(A->dhc, Bm * D);
#undef TAKE
    return off;
}

Engine *engine_create(const Model *m)
{
    if (!m || m->cfg.D <= 0 || m->cfg.NH <= 0 || m->cfg.D % m->cfg.NH != 0 || m->cfg.L <= 0)
        return NULL;
    Engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->m = m;
    e->mb_tokens = 2048;
    e->la = calloc((size_t)m->cfg.L, sizeof *e->la);
    if (!e->la) {
        free(e);
        return NULL;
    }
    return e;
}

void engine_free(Engine *e)
{
    if (!e)
        return;
    free(e->arena);
    free(e->la);
    free(e);
}

void engine_set_microbatch_tokens(Engine *e, int tokens) { e->mb_tokens = tokens > 0 ? tokens : 1; }
void engine_set_threads(int threads)
{
    ops_set_threads(threads);
    openblas_set_num_threads(threads > 0 ? threads : 1);
}
const Model *engine_model(const Engine *e) { return e->m; }
const char *engine_error(const Engine *e) { return e->err; }

/* Grows the arena to hold a pass of Bm rows × T tokens (never shrinks: reused). */
static int arena_reserve(Engine *e, int Bm, int T)
{
    size_t need = acts_layout(&e->m->cfg, Bm, T, NULL, &e->A, e->la);
    if (need > e->arena_floats) {
        free(e->arena);
        e->arena = malloc(need * sizeof(float));
        e->arena_floats = e->arena ? need : 0;
        if (!e->arena)
            return set_err(e, "engine: out of memory for the activation arena (%zu MiB for %d rows x %d tokens)",
                           need * sizeof(float) >> 20, Bm, T);
    }
    return 0;
}

static int check_batch(Engine *e, const EngineBatch *in, const EngineOutput *out)
{
    const ModelConfig *c = &e->m->cfg;
    if (!in || !out)
        return set_err(e, "engine_run: NULL batch or output");
    if (in->B <= 0)
        return set_err(e, "engine_run: B = %d rows; need B >= 1", in->B);
    if (in->T <= 0)
        return set_err(e, "engine_run: T = %d tokens; need T >= 1", in->T);
    if (in->T > c->P)
        return set_err(e, "engine_run: T = %d tokens exceeds max_position_embeddings = %d", in->T, c->P);
    if (!in->x)
        return set_err(e, "engine_run: x is NULL");
    if (!in->target)
        return set_err(e, "engine_run: target is NULL");
    if (!out->F)
        return set_err(e, "engine_run: out->F is NULL (required)");
    if ((out->dhidden || out->dprobs) && !out->grad)
        return set_err(e, "engine_run: dhidden/dprobs need out->grad (the backward)");
    if (in->layer != AT_WORD_EMB && in->layer != AT_EMBEDDINGS)
        return set_err(e, "engine_run: unknown attribution layer %d", (int)in->layer);
    if (in->output != OUT_LOGIT && in->output != OUT_PROB)
        return set_err(e, "engine_run: unknown output kind %d", (int)in->output);
    if (in->rescale & ~(unsigned)(RESCALE_HEAD_ACT | RESCALE_FFN_ACT))
        return set_err(e, "engine_run: unknown rescale bits 0x%x", in->rescale);
    if (in->rescale && in->B % 2)
        return set_err(e, "engine_run: DeepLIFT rescale needs rows in (input, baseline) pairs; B = %d is odd",
                       in->B);
    if (c->head == HEAD_MLM && !in->mlm_pos)
        return set_err(e, "engine_run: MLM head needs mlm_pos");
    for (int b = 0; b < in->B; b++) {
        if (in->target[b] < 0 || in->target[b] >= c->C)
            return set_err(e, "engine_run: row %d: target %d out of range [0, %d)%s", b, in->target[b], c->C,
                           c->head == HEAD_MLM ? " (vocabulary)" : " (num_labels)");
        if (c->head == HEAD_MLM && (in->mlm_pos[b] < 0 || in->mlm_pos[b] >= in->T))
            return set_err(e, "engine_run: row %d: mlm_pos %d out of range [0, T = %d)", b, in->mlm_pos[b], in->T);
    }
    size_t BT = (size_t)in->B * in->T;
    if (in->layer == AT_WORD_EMB) {
        if (!in->pos_ids)
            return set_err(e, "engine_run: pos_ids is NULL (needed at the word-embedding layer)");
        for (size_t i = 0; i < BT; i++) {
            if (in->pos_ids[i] < 0 || in->pos_ids[i] >= c->P)
                return set_err(e, "engine_run: row %zu token %zu: position id %d out of range [0, %d)",
                               i / in->T, i % in->T, in->pos_ids[i], c->P);
            /* DistilBERT has no token-type embeddings: type ids are ignored there. */
            if (in->type_ids && e->m->type_emb && (in->type_ids[i] < 0 || in->type_ids[i] >= c->TV))
                return set_err(e, "engine_run: row %zu token %zu: token type id %d out of range [0, %d)",
                               i / in->T, i % in->T, in->type_ids[i], c->TV);
        }
    }
    if (in->mask)
        for (size_t i = 0; i < BT; i++)
            if (in->mask[i] != 0 && in->mask[i] != 1)
                return set_err(e, "engine_run: row %zu token %zu: attention mask value %d (need 0 or 1)",
                               i / in->T, i % in->T, in->mask[i]);
    return 0;
}

/* Embedding block at the word-embedding layer: h = LN(x + pos_emb[pos] + type_emb[type]).
 * Keeps emb_xhat, emb_rstd for the backward (the sum is linear in x). */
static void embeddings_forward(const Model *m, Acts *A, const float *x, const int *pos, const int *type, int N)
{
    int D = m->cfg.D;
    for (int i = 0; i < N; i++) {
        const float *xi = x + (size_t)i * D, *pe = m->pos_emb + (size_t)pos[i] * D;
        const float *te = m->type_emb ? m->type_emb + (size_t)(type ? type[i] : 0) * D : NULL;
        float *hi = A->h + (size_t)i * D;
        for (int j = 0; j < D; j++)
            hi[j] = xi[j] + pe[j] + (te ? te[j] : 0.0f);
    }
    layernorm_forward(A->h, A->emb_xhat, A->emb_rstd, A->h, m->emb_ln_g, m->emb_ln_b, m->cfg.ln_eps, N, D);
}

/* y += x over N rows of D. */
static void add_rows(float *y, const float *x, int N, int D)
{
    for (int i = 0; i < N; i++) {
        float *yi = y + (size_t)i * D;
        const float *xi = x + (size_t)i * D;
        for (int j = 0; j < D; j++)
            yi[j] += xi[j];
    }
}

/* One encoder layer, h (N,D) in, h (N,D) out. Keeps (in LayerActs) q, k, v, P, LN1's and
 * LN2's xhat/rstd and the FFN pre-activation u; h1, ctx, a, f are scratch. */
static void layer_forward(const ModelConfig *c, const LayerParams *p, LayerActs *L, Acts *A, const int *mask,
                          int Bm, int T)
{
    int N = Bm * T, D = c->D, FF = c->FF;
    PROF(PROF_LIN_F, linear_forward(L->q, A->h, p->q_w, p->q_b, N, D, D));
    PROF(PROF_LIN_F, linear_forward(L->k, A->h, p->k_w, p->k_b, N, D, D));
    PROF(PROF_LIN_F, linear_forward(L->v, A->h, p->v_w, p->v_b, N, D, D));
    PROF(PROF_ATT_F, attention_forward(A->ctx, L->P, L->q, L->k, L->v, mask, Bm, T, D, c->NH));
    PROF(PROF_LIN_F, linear_forward(A->a, A->ctx, p->o_w, p->o_b, N, D, D));
    PROF(PROF_ADD, add_rows(A->a, A->h, N, D));
    PROF(PROF_LN_F, layernorm_forward(A->h1, L->ln1_xhat, L->ln1_rstd, A->a, p->ln1_g, p->ln1_b, c->ln_eps, N, D));
    PROF(PROF_LIN_F, linear_forward(L->u, A->h1, p->ff1_w, p->ff1_b, N, D, FF));
    PROF(PROF_ACT_F, act_forward(A->f, L->u, (long)N * FF, c->act));
    PROF(PROF_LIN_F, linear_forward(A->a, A->f, p->ff2_w, p->ff2_b, N, FF, D));
    PROF(PROF_ADD, add_rows(A->a, A->h1, N, D));
    PROF(PROF_LN_F, layernorm_forward(A->h, L->ln2_xhat, L->ln2_rstd, A->a, p->ln2_g, p->ln2_b, c->ln_eps, N, D));
}

/* Activation backward of Bm rows of `width` elements, plain or (rescale) with the pair's
 * Rescale multipliers. dy may alias dx. */
static void act_backward_rows(float *dx, const float *dy, const float *x, int Bm, size_t width, Activation a,
                              int rescale)
{
    if (!rescale) {
        act_backward(dx, dy, x, (long)(Bm * width), a);
        return;
    }
    for (int b = 0; b + 1 < Bm; b += 2) {
        size_t o0 = (size_t)b * width, o1 = o0 + width;
        act_backward_rescale(dx + o0, dx + o1, dy + o0, dy + o1, x + o0, x + o1, (long)width, a);
    }
}

/* Layer backward: A->dh holds dF/d(layer output) on entry and dF/d(layer input) on exit. */
static void layer_backward(const ModelConfig *c, const LayerParams *p, LayerActs *L, Acts *A, float *dprobs,
                           int Bm, int T, int rescale_ffn)
{
    int N = Bm * T, D = c->D, FF = c->FF;
    PROF(PROF_LN_B, layernorm_backward(A->dx, A->dh, L->ln2_xhat, L->ln2_rstd, p->ln2_g, N, D)); /* ds2 */
    PROF(PROF_LIN_B, linear_backward(A->f, A->dx, p->ff2_w, N, FF, D, 0));                        /* df */
    PROF(PROF_ACT_B, act_backward_rows(A->f, A->f, L->u, Bm, (size_t)T * FF, c->act, rescale_ffn)); /* du */
    PROF(PROF_LIN_B, linear_backward(A->dx, A->f, p->ff1_w, N, D, FF, 1)); /* dh1 = ds2 + du W1 */
    PROF(PROF_LN_B, layernorm_backward(A->dh, A->dx, L->ln1_xhat, L->ln1_rstd, p->ln1_g, N, D)); /* ds1 */
    PROF(PROF_LIN_B, linear_backward(A->ctx, A->dh, p->o_w, N, D, D, 0));                        /* dctx */
    PROF(PROF_ATT_B, attention_backward(A->dq, A->dk, A->dv, A->dP, dprobs, A->ctx, L->q, L->k, L->v, L->P, Bm,
                                        T, D, c->NH));
    /* dh = ds1 (residual) + dq Wq + dk Wk + dv Wv */
    PROF(PROF_LIN_B, linear_backward(A->dh, A->dq, p->q_w, N, D, D, 1));
    PROF(PROF_LIN_B, linear_backward(A->dh, A->dk, p->k_w, N, D, D, 1));
    PROF(PROF_LIN_B, linear_backward(A->dh, A->dv, p->v_w, N, D, D, 1));
}

/* Rows [b0, b0+Bm) of the batch: forward, and the backward when out->grad. */
static void run_pass(Engine *e, const EngineBatch *in, EngineOutput *out, int b0, int Bm)
{
    const Model *m = e->m;
    const ModelConfig *c = &m->cfg;
    Acts *A = &e->A;
    int T = in->T, D = c->D, C = c->C, NH = c->NH, L = c->L, B = in->B;
    int N = Bm * T;
    size_t tt = (size_t)NH * T * T;
    acts_layout(c, Bm, T, e->arena, A, e->la);
    const int *mask = in->mask ? in->mask + (size_t)b0 * T : NULL;
    const float *x = in->x + (size_t)b0 * T * D;

    if (in->layer == AT_WORD_EMB)
        PROF(PROF_EMB, embeddings_forward(m, A, x, in->pos_ids + (size_t)b0 * T,
                                          in->type_ids ? in->type_ids + (size_t)b0 * T : NULL, N));
    else
        memcpy(A->h, x, (size_t)N * D * sizeof(float));

    for (int l = 0; l < L; l++) {
        /* Forward only: nothing is kept for a backward, so every layer reuses layer 0's
         * tensors (less memory touched, warmer caches). */
        LayerActs *La = &e->la[out->grad ? l : 0];
        layer_forward(c, &m->layer[l], La, A, mask, Bm, T);
        if (out->attn)
            for (int b = 0; b < Bm; b++)
                memcpy(out->attn + ((size_t)(b0 + b) * L + l) * tt, La->P + (size_t)b * tt, tt * sizeof(float));
        if (out->probs)
            memcpy(out->probs + ((size_t)l * B + b0) * tt, La->P, (size_t)Bm * tt * sizeof(float));
        if (out->hidden)
            memcpy(out->hidden + ((size_t)l * B + b0) * T * D, A->h, (size_t)N * D * sizeof(float));
    }

    /* Head on one token per row. Keeps zpre (activation backward / Rescale), the MLM
     * LayerNorm's xhat/rstd, and prob for OUT_PROB. */
    double t_head = ops_prof_on ? clock_now() : 0;
    for (int b = 0; b < Bm; b++) {
        int t = c->head == HEAD_MLM ? in->mlm_pos[b0 + b] : 0;
        memcpy(A->hc + (size_t)b * D, A->h + ((size_t)b * T + t) * D, (size_t)D * sizeof(float));
    }
    linear_forward(A->zpre, A->hc, m->head_dense_w, m->head_dense_b, Bm, D, D);
    act_forward(A->z, A->zpre, (long)Bm * D, c->head_act);
    if (c->head == HEAD_MLM)
        layernorm_forward(A->z, A->hd_xhat, A->hd_rstd, A->z, m->head_ln_g, m->head_ln_b, c->ln_eps, Bm, D);
    linear_forward(A->logits, A->z, m->head_out_w, m->head_out_b, Bm, D, C);
    for (int b = 0; b < Bm; b++) {
        const float *lg = A->logits + (size_t)b * C;
        int tg = in->target[b0 + b];
        if (in->output == OUT_PROB) {
            softmax_forward(A->prob + (size_t)b * C, lg, C);
            out->F[b0 + b] = A->prob[(size_t)b * C + tg];
        } else {
            out->F[b0 + b] = lg[tg];
        }
    }
    if (out->logits)
        memcpy(out->logits + (size_t)b0 * C, A->logits, (size_t)Bm * C * sizeof(float));
    if (!out->grad) {
        if (ops_prof_on)
            ops_prof_s[PROF_HEAD] += clock_now() - t_head;
        return;
    }

    /* Head backward: dF/dlogits, then back to the explained token's hidden state. */
    memset(A->dlogits, 0, (size_t)Bm * C * sizeof(float));
    for (int b = 0; b < Bm; b++) {
        int tg = in->target[b0 + b];
        float *dl = A->dlogits + (size_t)b * C;
        if (in->output == OUT_PROB) { /* d p_t / d z_j = p_t (δ_tj - p_j) */
            const float *p = A->prob + (size_t)b * C;
            for (int j = 0; j < C; j++)
                dl[j] = -p[tg] * p[j];
            dl[tg] += p[tg];
        } else {
            dl[tg] = 1.0f;
        }
    }
    linear_backward(A->dz, A->dlogits, m->head_out_w, Bm, D, C, 0);
    if (c->head == HEAD_MLM)
        layernorm_backward(A->dz, A->dz, A->hd_xhat, A->hd_rstd, m->head_ln_g, Bm, D);
    act_backward_rows(A->dz, A->dz, A->zpre, Bm, (size_t)D, c->head_act, (in->rescale & RESCALE_HEAD_ACT) != 0);
    linear_backward(A->dhc, A->dz, m->head_dense_w, Bm, D, D, 0);
    memset(A->dh, 0, (size_t)N * D * sizeof(float));
    for (int b = 0; b < Bm; b++) {
        int t = c->head == HEAD_MLM ? in->mlm_pos[b0 + b] : 0;
        memcpy(A->dh + ((size_t)b * T + t) * D, A->dhc + (size_t)b * D, (size_t)D * sizeof(float));
    }
    if (ops_prof_on)
        ops_prof_s[PROF_HEAD] += clock_now() - t_head;

    for (int l = L - 1; l >= 0; l--) {
        if (out->dhidden)
            memcpy(out->dhidden + ((size_t)l * B + b0) * T * D, A->dh, (size_t)N * D * sizeof(float));
        float *dprobs = out->dprobs ? out->dprobs + ((size_t)l * B + b0) * tt : NULL;
        layer_backward(c, &m->layer[l], &e->la[l], A, dprobs, Bm, T, (in->rescale & RESCALE_FFN_ACT) != 0);
    }

    float *g = out->grad + (size_t)b0 * T * D;
    if (in->layer == AT_WORD_EMB)
        PROF(PROF_EMB, layernorm_backward(g, A->dh, A->emb_xhat, A->emb_rstd, m->emb_ln_g, N, D));
    else
        memcpy(g, A->dh, (size_t)N * D * sizeof(float));
}

int engine_run(Engine *e, const EngineBatch *in, EngineOutput *out)
{
    e->err[0] = 0;
    if (check_batch(e, in, out))
        return -1;
    int T = in->T;
    int R = e->mb_tokens / T;
    if (R < 1)
        R = 1;
    if (in->rescale) { /* whole (input, baseline) pairs per pass */
        R &= ~1;
        if (R < 2)
            R = 2;
    }
    if (R > in->B)
        R = in->B;
    if (arena_reserve(e, R, T))
        return -1;
    for (int b0 = 0; b0 < in->B; b0 += R)
        run_pass(e, in, out, b0, in->B - b0 < R ? in->B - b0 : R);
    return 0;
}

int engine_layer_values(const Model *m, AttrLayer layer, const int *ids, const int *pos_ids, const int *type_ids,
                        int T, float *x)
{
    const ModelConfig *c = &m->cfg;
    int D = c->D;
    for (int t = 0; t < T; t++) {
        if (ids[t] < 0 || ids[t] >= c->V)
            return -1;
        memcpy(x + (size_t)t * D, m->word_emb + (size_t)ids[t] * D, (size_t)D * sizeof(float));
    }
    if (layer == AT_WORD_EMB)
        return 0;
    if (!pos_ids)
        return -1;
    float *xhat = malloc((size_t)T * D * sizeof(float)), *rstd = malloc((size_t)T * sizeof(float));
    if (!xhat || !rstd) {
        free(xhat);
        free(rstd);
        return -1;
    }
    int rc = 0;
    for (int t = 0; t < T && !rc; t++) {
        int p = pos_ids[t], ty = type_ids ? type_ids[t] : 0;
        if (p < 0 || p >= c->P || (m->type_emb && (ty < 0 || ty >= c->TV))) {
            rc = -1;
            break;
        }
        float *xt = x + (size_t)t * D;
        for (int j = 0; j < D; j++)
            xt[j] += m->pos_emb[(size_t)p * D + j] + (m->type_emb ? m->type_emb[(size_t)ty * D + j] : 0.0f);
    }
    if (!rc)
        layernorm_forward(x, xhat, rstd, x, m->emb_ln_g, m->emb_ln_b, c->ln_eps, T, D);
    free(xhat);
    free(rstd);
    return rc;
}

void engine_position_ids(const Model *m, const int *ids, int T, int *pos_ids)
{
    if (m->cfg.arch == ARCH_ROBERTA) { /* HF create_position_ids_from_input_ids */
        int pad = m->cfg.pad_id, n = 0;
        for (int t = 0; t < T; t++)
            pos_ids[t] = ids[t] == pad ? pad : pad + (++n);
        return;
    }
    for (int t = 0; t < T; t++)
        pos_ids[t] = t;
}

/* Multiply-adds × 2 of the GEMMs (element-wise work is not counted).
 * Forward per layer: Q,K,V,O 4·N·D² + FFN 2·N·D·FF + scores and context 2·B·T²·D.
 * Backward (input gradients only): the same linear products once each, attention
 * four products (dP, dV, dQ, dK). Head: dense D² and output D·C per row, both ways. */
double engine_flops(const ModelConfig *c, int B, int T, int backward)
{
    double N = (double)B * T, D = c->D, FF = c->FF, C = c->C;
    double lin = 2.0 * (4 * N * D * D + 2 * N * D * FF);
    double att = 2.0 * (2.0 * B * (double)T * T * D);
    double head = 2.0 * B * (D * D + D * C);
    double fwd = c->L * (lin + att) + head;
    if (!backward)
        return fwd;
    return fwd + c->L * (lin + 2 * att) + head;
}
