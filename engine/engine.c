/* The engine: batched forward and input-gradient backward of a BERT-family
 * encoder with its head (engine/engine.h), built from the op pairs of ops.h.
 *
 * Rows are processed in passes of at most mb_tokens tokens (pairs of rows are never
 * split in DeepLIFT mode). All activations of one pass live in one arena, laid out by
 * acts_layout() from (rows, T) and reused across calls: nothing is allocated in the
 * hot path. What each forward keeps for the backward is said where it is computed. */
#include "engine/clock.h"
#include "engine/engine.h"
#include "engine/backend.h"
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
    float *q, *k, *v;          /* (N,QD), (N,KD), (N,KD) projections (after RoPE): attention backward */
    float *P;                  /* (Bm,NH,T,T) attention probabilities: attention backward */
    float *ln1_xhat, *ln1_rstd; /* (N,D), (N): norm 1 backward */
    float *u;                  /* (N,FF) FFN (gate) pre-activation: activation backward / Rescale */
    float *up;                 /* (N,FF) gated FFN: up projection, for the product's backward */
    float *ln2_xhat, *ln2_rstd; /* (N,D), (N): norm 2 backward */
} LayerActs;

/* Everything else of one pass: the embedding LayerNorm's saved values, the head's,
 * and scratch that lives only within one layer (forward or backward). */
typedef struct {
    const Backend *be;          /* the engine's backend, for the block functions */
    float *emb_xhat, *emb_rstd; /* (N,D), (N): embedding LN backward (AT_WORD_EMB) */
    float *h, *h1, *ctx, *a;    /* (N,D) scratch: layer input/output, after LN1, context (N,QD), pre-LN sums */
    float *f;                   /* (N,FF) scratch: activation output, then its gradient */
    float *dh, *dx, *dq, *dk, *dv; /* (N,D) backward scratch; dq (N,QD), dk, dv (N,KD) */
    float *rcos, *rsin;         /* (N,hs/2) RoPE tables of the pass's positions */
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
    const Backend *be;
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
    size_t QD = (size_t)c->NH * c->hs, KD = (size_t)c->NKV * c->hs, XD = QD > D ? QD : D;
    size_t HR = c->pos == POS_ROPE ? (size_t)c->hs / 2 : 0, GF = c->ffn_gated ? FF : 0;
    size_t off = 0;
#define TAKE(ptr, n)                       \
    do {                                   \
        if (base)                          \
            (ptr) = base + off;            \
        off += ((size_t)(n) + 15) & ~(size_t)15; \
    } while (0)
    for (int l = 0; l < c->L; l++) {
        LayerActs *L = &la[l];
        TAKE(L->q, N * QD);
        TAKE(L->k, N * KD);
        TAKE(L->v, N * KD);
        TAKE(L->P, (size_t)Bm * c->NH * T * T);
        TAKE(L->ln1_xhat, N * D);
        TAKE(L->ln1_rstd, N);
        TAKE(L->u, N * FF);
        TAKE(L->up, N * GF);
        TAKE(L->ln2_xhat, N * D);
        TAKE(L->ln2_rstd, N);
    }
    TAKE(A->emb_xhat, N * D);
    TAKE(A->emb_rstd, N);
    TAKE(A->h, N * D);
    TAKE(A->h1, N * D);
    TAKE(A->ctx, N * XD);
    TAKE(A->a, N * D);
    TAKE(A->f, N * FF);
    TAKE(A->dh, N * D);
    TAKE(A->dx, N * D);
    TAKE(A->dq, N * XD);
    TAKE(A->dk, N * KD);
    TAKE(A->dv, N * KD);
    TAKE(A->rcos, N * HR);
    TAKE(A->rsin, N * HR);
    TAKE(A->dP, (size_t)A->be->scratch_threads() * T * T);
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
    const ModelConfig *c = m ? &m->cfg : NULL;
    if (!m || c->D <= 0 || c->NH <= 0 || c->NKV <= 0 || c->NH % c->NKV != 0 || c->hs <= 0 || c->L <= 0 ||
        (c->pos == POS_ROPE && c->hs % 2))
        return NULL;
    Engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->m = m;
    e->be = e->A.be = backend_select(NULL);
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
    if (e->arena)
        e->be->free(e->arena);
    free(e->la);
    free(e);
}

void engine_set_microbatch_tokens(Engine *e, int tokens) { e->mb_tokens = tokens > 0 ? tokens : 1; }
void engine_set_threads(int threads) { backend_select(NULL)->set_threads(threads); }
const Model *engine_model(const Engine *e) { return e->m; }
const char *engine_error(const Engine *e) { return e->err; }

/* Grows the arena to hold a pass of Bm rows × T tokens (never shrinks: reused). */
static int arena_reserve(Engine *e, int Bm, int T)
{
    size_t need = acts_layout(&e->m->cfg, Bm, T, NULL, &e->A, e->la);
    if (need > e->arena_floats) {
        if (e->arena)
            e->be->free(e->arena);
        e->arena = e->be->alloc(need * sizeof(float));
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
    if (c->head != HEAD_CLASSIFIER && !in->mlm_pos)
        return set_err(e, "engine_run: %s head needs mlm_pos (the position it reads)",
                       c->head == HEAD_MLM ? "MLM" : c->head == HEAD_LM ? "causal-LM" : "sequence-classification");
    for (int b = 0; b < in->B; b++) {
        if (in->target[b] < 0 || in->target[b] >= c->C)
            return set_err(e, "engine_run: row %d: target %d out of range [0, %d)%s", b, in->target[b], c->C,
                           c->head == HEAD_MLM || c->head == HEAD_LM ? " (vocabulary)" : " (num_labels)");
        if (c->head != HEAD_CLASSIFIER && (in->mlm_pos[b] < 0 || in->mlm_pos[b] >= in->T))
            return set_err(e, "engine_run: row %d: mlm_pos %d out of range [0, T = %d)", b, in->mlm_pos[b], in->T);
    }
    size_t BT = (size_t)in->B * in->T;
    if (in->layer == AT_WORD_EMB && c->pos == POS_LEARNED) {
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
    if (!m->pos_emb) { /* RoPE / no positions: the word embeddings are the block's output */
        memcpy(A->h, x, (size_t)N * D * sizeof(float));
        return;
    }
    for (int i = 0; i < N; i++) {
        const float *xi = x + (size_t)i * D, *pe = m->pos_emb + (size_t)pos[i] * D;
        const float *te = m->type_emb ? m->type_emb + (size_t)(type ? type[i] : 0) * D : NULL;
        float *hi = A->h + (size_t)i * D;
        for (int j = 0; j < D; j++)
            hi[j] = xi[j] + pe[j] + (te ? te[j] : 0.0f);
    }
    if (m->cfg.emb_norm)
        A->be->layernorm_forward(A->h, A->emb_xhat, A->emb_rstd, A->h, m->emb_ln_g, m->emb_ln_b, m->cfg.ln_eps, N, D);
}

static AttnShape attn_shape(const ModelConfig *c)
{
    AttnShape sh = {.NH = c->NH, .NKV = c->NKV, .hs = c->hs, .causal = c->causal, .window = c->window};
    return sh;
}

/* The block's norm (LayerNorm with bias, or RMSNorm without) forward and backward. */
static void norm_forward(const Backend *be, const ModelConfig *c, float *y, float *xhat, float *rstd, const float *x, const float *g,
                         const float *b, int N)
{
    if (c->norm == NORM_RMS)
        be->rmsnorm_forward(y, xhat, rstd, x, g, c->ln_eps, N, c->D);
    else
        be->layernorm_forward(y, xhat, rstd, x, g, b, c->ln_eps, N, c->D);
}

static void norm_backward(const Backend *be, const ModelConfig *c, float *dx, const float *dy, const float *xhat, const float *rstd,
                          const float *g, int N)
{
    if (c->norm == NORM_RMS)
        be->rmsnorm_backward(dx, dy, xhat, rstd, g, N, c->D);
    else
        be->layernorm_backward(dx, dy, xhat, rstd, g, N, c->D);
}

/* One encoder layer, h (N,D) in, h (N,D) out. Keeps (in LayerActs) q, k, v, P, LN1's and
 * LN2's xhat/rstd and the FFN pre-activation u; h1, ctx, a, f are scratch. */
static void layer_forward(const ModelConfig *c, const LayerParams *p, LayerActs *L, Acts *A, const int *mask,
                          int Bm, int T)
{
    int N = Bm * T, D = c->D, FF = c->FF;
    PROF(PROF_LIN_F, A->be->linear_forward(L->q, A->h, p->q_w, p->q_b, N, D, D));
    PROF(PROF_LIN_F, A->be->linear_forward(L->k, A->h, p->k_w, p->k_b, N, D, D));
    PROF(PROF_LIN_F, A->be->linear_forward(L->v, A->h, p->v_w, p->v_b, N, D, D));
    AttnShape sh = attn_shape(c);
    PROF(PROF_ATT_F, A->be->attention_forward(A->ctx, L->P, L->q, L->k, L->v, mask, &sh, Bm, T));
    PROF(PROF_LIN_F, A->be->linear_forward(A->a, A->ctx, p->o_w, p->o_b, N, D, D));
    PROF(PROF_ADD, A->be->add(A->a, A->h, (long)N * D));
    PROF(PROF_LN_F, A->be->layernorm_forward(A->h1, L->ln1_xhat, L->ln1_rstd, A->a, p->ln1_g, p->ln1_b, c->ln_eps, N, D));
    PROF(PROF_LIN_F, A->be->linear_forward(L->u, A->h1, p->ff1_w, p->ff1_b, N, D, FF));
    PROF(PROF_ACT_F, A->be->act_forward(A->f, L->u, (long)N * FF, c->act));
    PROF(PROF_LIN_F, A->be->linear_forward(A->a, A->f, p->ff2_w, p->ff2_b, N, FF, D));
    PROF(PROF_ADD, A->be->add(A->a, A->h1, (long)N * D));
    PROF(PROF_LN_F, A->be->layernorm_forward(A->h, L->ln2_xhat, L->ln2_rstd, A->a, p->ln2_g, p->ln2_b, c->ln_eps, N, D));
}

/* Activation backward of Bm rows of `width` elements, plain or (rescale) with the pair's
 * Rescale multipliers. dy may alias dx. */
static void act_backward_rows(const Backend *be, float *dx, const float *dy, const float *x, int Bm, size_t width, Activation a,
                              int rescale)
{
    if (!rescale) {
        be->act_backward(dx, dy, x, (long)(Bm * width), a);
        return;
    }
    for (int b = 0; b + 1 < Bm; b += 2) {
        size_t o0 = (size_t)b * width, o1 = o0 + width;
        be->act_backward_rescale(dx + o0, dx + o1, dy + o0, dy + o1, x + o0, x + o1, (long)width, a);
    }
}

/* Layer backward: A->dh holds dF/d(layer output) on entry and dF/d(layer input) on exit. */
static void layer_backward(const ModelConfig *c, const LayerParams *p, LayerActs *L, Acts *A, float *dprobs,
                           int Bm, int T, int rescale_ffn)
{
    int N = Bm * T, D = c->D, FF = c->FF;
    PROF(PROF_LN_B, A->be->layernorm_backward(A->dx, A->dh, L->ln2_xhat, L->ln2_rstd, p->ln2_g, N, D)); /* ds2 */
    PROF(PROF_LIN_B, A->be->linear_backward(A->f, A->dx, p->ff2_w, N, FF, D, 0));                        /* df */
    PROF(PROF_ACT_B, act_backward_rows(A->be, A->f, A->f, L->u, Bm, (size_t)T * FF, c->act, rescale_ffn)); /* du */
    PROF(PROF_LIN_B, A->be->linear_backward(A->dx, A->f, p->ff1_w, N, D, FF, 1)); /* dh1 = ds2 + du W1 */
    PROF(PROF_LN_B, A->be->layernorm_backward(A->dh, A->dx, L->ln1_xhat, L->ln1_rstd, p->ln1_g, N, D)); /* ds1 */
    PROF(PROF_LIN_B, A->be->linear_backward(A->ctx, A->dh, p->o_w, N, D, D, 0));                        /* dctx */
    AttnShape sh = attn_shape(c);
    PROF(PROF_ATT_B, A->be->attention_backward(A->dq, A->dk, A->dv, A->dP, dprobs, A->ctx, L->q, L->k, L->v, L->P, &sh,
                                        Bm, T));
    /* dh = ds1 (residual) + dq Wq + dk Wk + dv Wv */
    PROF(PROF_LIN_B, A->be->linear_backward(A->dh, A->dq, p->q_w, N, D, D, 1));
    PROF(PROF_LIN_B, A->be->linear_backward(A->dh, A->dk, p->k_w, N, D, D, 1));
    PROF(PROF_LIN_B, A->be->linear_backward(A->dh, A->dv, p->v_w, N, D, D, 1));
}

/* FFN of a pre-norm block on x = A->h1 (N,D), result into A->a (N,D). Plain: ff2(act(ff1 x));
 * gated: ff2(act(gate x) · up x). Keeps u (the (gate) pre-activation) and, gated, up. */
static void ffn_forward(const ModelConfig *c, const LayerParams *p, LayerActs *L, Acts *A, int N)
{
    int D = c->D, FF = c->FF;
    if (!c->ffn_gated) {
        PROF(PROF_LIN_F, A->be->linear_forward(L->u, A->h1, p->ff1_w, p->ff1_b, N, D, FF));
        PROF(PROF_ACT_F, A->be->act_forward(A->f, L->u, (long)N * FF, c->act));
    } else {
        PROF(PROF_LIN_F, A->be->linear_forward(L->u, A->h1, p->ffg_w, p->ffg_b, N, D, FF));
        PROF(PROF_LIN_F, A->be->linear_forward(L->up, A->h1, p->ff1_w, p->ff1_b, N, D, FF));
        PROF(PROF_ACT_F, A->be->act_forward(A->f, L->u, (long)N * FF, c->act));
        A->be->mul(A->f, L->up, (long)N * FF);
    }
    PROF(PROF_LIN_F, A->be->linear_forward(A->a, A->f, p->ff2_w, p->ff2_b, N, FF, D));
}

/* A->a holds dF/d(FFN output) (N,D); adds dF/d(FFN input) into A->dx (N,D). f, h1 scratch. */
static void ffn_backward(const ModelConfig *c, const LayerParams *p, LayerActs *L, Acts *A, int Bm, int T,
                         int rescale)
{
    int N = Bm * T, D = c->D, FF = c->FF;
    PROF(PROF_LIN_B, A->be->linear_backward(A->f, A->a, p->ff2_w, N, FF, D, 0)); /* df */
    if (!c->ffn_gated) {
        PROF(PROF_ACT_B, act_backward_rows(A->be, A->f, A->f, L->u, Bm, (size_t)T * FF, c->act, rescale));
        PROF(PROF_LIN_B, A->be->linear_backward(A->dx, A->f, p->ff1_w, N, D, FF, 1));
        return;
    }
    /* f = act(u)·up: d(act u) = df·up and d(up) = df·act(u). up's value is not needed after
     * this, so its buffer takes df (for d(up)) while A->f becomes df·up. */
    size_t n = (size_t)N * FF;
    float *upv = L->up, *df = A->f;
    for (size_t i = 0; i < n; i++) {
        float t = upv[i];
        upv[i] = df[i];
        df[i] *= t;
    }
    PROF(PROF_ACT_B, act_backward_rows(A->be, A->f, A->f, L->u, Bm, (size_t)T * FF, c->act, rescale)); /* du */
    PROF(PROF_LIN_B, A->be->linear_backward(A->dx, A->f, p->ffg_w, N, D, FF, 1));
    PROF(PROF_ACT_F, A->be->act_forward(A->f, L->u, (long)n, c->act)); /* act(u) */
    A->be->mul(A->f, upv, (long)n);                                      /* d(up) = df·act(u) */
    PROF(PROF_LIN_B, A->be->linear_backward(A->dx, A->f, p->ff1_w, N, D, FF, 1));
}

/* One pre-norm decoder layer (GPT-2, Llama family), h (N,D) in and out:
 *   n1 = norm1(h); q,k,v = proj(n1) (RoPE on q, k); a = h + o(attn); h = a + ffn(norm2(a)).
 * Keeps q, k, v, P, both norms' xhat/rstd, u (and up); h1, ctx, a, f scratch.
 * a is kept in A->dx during the layer (A->dx is only backward scratch). */
static void prelayer_forward(const ModelConfig *c, const LayerParams *p, LayerActs *L, Acts *A, const int *mask,
                             int Bm, int T)
{
    int N = Bm * T, D = c->D, QD = c->NH * c->hs, KD = c->NKV * c->hs;
    AttnShape sh = attn_shape(c);
    PROF(PROF_LN_F, norm_forward(A->be, c, A->h1, L->ln1_xhat, L->ln1_rstd, A->h, p->ln1_g, p->ln1_b, N));
    PROF(PROF_LIN_F, A->be->linear_forward(L->q, A->h1, p->q_w, p->q_b, N, D, QD));
    PROF(PROF_LIN_F, A->be->linear_forward(L->k, A->h1, p->k_w, p->k_b, N, D, KD));
    PROF(PROF_LIN_F, A->be->linear_forward(L->v, A->h1, p->v_w, p->v_b, N, D, KD));
    if (c->pos == POS_ROPE) {
        A->be->rope_forward(L->q, A->rcos, A->rsin, N, c->NH, c->hs);
        A->be->rope_forward(L->k, A->rcos, A->rsin, N, c->NKV, c->hs);
    }
    PROF(PROF_ATT_F, A->be->attention_forward(A->ctx, L->P, L->q, L->k, L->v, mask, &sh, Bm, T));
    PROF(PROF_LIN_F, A->be->linear_forward(A->dx, A->ctx, p->o_w, p->o_b, N, QD, D));
    PROF(PROF_ADD, A->be->add(A->dx, A->h, (long)N * D)); /* a = h + attn */
    PROF(PROF_LN_F, norm_forward(A->be, c, A->h1, L->ln2_xhat, L->ln2_rstd, A->dx, p->ln2_g, p->ln2_b, N));
    ffn_forward(c, p, L, A, N);
    memcpy(A->h, A->dx, (size_t)N * D * sizeof(float));
    PROF(PROF_ADD, A->be->add(A->h, A->a, (long)N * D)); /* h = a + ffn */
}

/* Pre-norm layer backward: A->dh holds dF/d(layer output) on entry, dF/d(layer input) on exit. */
static void prelayer_backward(const ModelConfig *c, const LayerParams *p, LayerActs *L, Acts *A, float *dprobs,
                              int Bm, int T, int rescale_ffn)
{
    int N = Bm * T, D = c->D, QD = c->NH * c->hs, KD = c->NKV * c->hs;
    AttnShape sh = attn_shape(c);
    memcpy(A->a, A->dh, (size_t)N * D * sizeof(float)); /* dF/d(ffn out) */
    memset(A->dx, 0, (size_t)N * D * sizeof(float));
    ffn_backward(c, p, L, A, Bm, T, rescale_ffn);      /* dx = dF/d(norm2 out) */
    PROF(PROF_LN_B, norm_backward(A->be, c, A->dx, A->dx, L->ln2_xhat, L->ln2_rstd, p->ln2_g, N));
    PROF(PROF_ADD, A->be->add(A->dh, A->dx, (long)N * D));      /* da = dh + norm2 path */
    PROF(PROF_LIN_B, A->be->linear_backward(A->ctx, A->dh, p->o_w, N, QD, D, 0)); /* dctx */
    PROF(PROF_ATT_B, A->be->attention_backward(A->dq, A->dk, A->dv, A->dP, dprobs, A->ctx, L->q, L->k, L->v, L->P, &sh,
                                        Bm, T));
    if (c->pos == POS_ROPE) {
        A->be->rope_backward(A->dq, A->rcos, A->rsin, N, c->NH, c->hs);
        A->be->rope_backward(A->dk, A->rcos, A->rsin, N, c->NKV, c->hs);
    }
    PROF(PROF_LIN_B, A->be->linear_backward(A->dx, A->dq, p->q_w, N, D, QD, 0));
    PROF(PROF_LIN_B, A->be->linear_backward(A->dx, A->dk, p->k_w, N, D, KD, 1));
    PROF(PROF_LIN_B, A->be->linear_backward(A->dx, A->dv, p->v_w, N, D, KD, 1));
    PROF(PROF_LN_B, norm_backward(A->be, c, A->dx, A->dx, L->ln1_xhat, L->ln1_rstd, p->ln1_g, N));
    PROF(PROF_ADD, A->be->add(A->dh, A->dx, (long)N * D));      /* dh = da + norm1 path */
}

/* The token the head reads in row b: token 0 (encoder classifiers) or the batch's
 * position (MLM mask, causal-LM last position, score head's last non-pad token). */
static int head_token(const ModelConfig *c, const EngineBatch *in, int row)
{
    return c->head == HEAD_CLASSIFIER ? 0 : in->mlm_pos[row];
}

/* Head forward on one token per row (A->hc): encoder heads h = act(dense(x)) [MLM: + LN],
 * decoder heads h = final_norm(x); then logits = h W_out^T + b_out and F. Keeps zpre
 * (activation backward / Rescale), the head norm's xhat/rstd and prob for OUT_PROB. */
static void head_forward(const Model *m, Acts *A, const EngineBatch *in, EngineOutput *out, int b0, int Bm)
{
    const ModelConfig *c = &m->cfg;
    int D = c->D, C = c->C;
    if (c->norm_place == NORM_PRE) {
        norm_forward(A->be, c, A->z, A->hd_xhat, A->hd_rstd, A->hc, m->final_g, m->final_b, Bm);
    } else {
        A->be->linear_forward(A->zpre, A->hc, m->head_dense_w, m->head_dense_b, Bm, D, D);
        A->be->act_forward(A->z, A->zpre, (long)Bm * D, c->head_act);
        if (c->head == HEAD_MLM)
            A->be->layernorm_forward(A->z, A->hd_xhat, A->hd_rstd, A->z, m->head_ln_g, m->head_ln_b, c->ln_eps, Bm, D);
    }
    A->be->linear_forward(A->logits, A->z, m->head_out_w, m->head_out_b, Bm, D, C);
    for (int b = 0; b < Bm; b++) {
        const float *lg = A->logits + (size_t)b * C;
        int tg = in->target[b0 + b];
        if (in->output == OUT_PROB) {
            A->be->softmax_forward(A->prob + (size_t)b * C, lg, C);
            out->F[b0 + b] = A->prob[(size_t)b * C + tg];
        } else {
            out->F[b0 + b] = lg[tg];
        }
    }
    if (out->logits)
        memcpy(out->logits + (size_t)b0 * C, A->logits, (size_t)Bm * C * sizeof(float));
}

/* Head backward: dF/dlogits, then back to the explained token's hidden state (A->dhc). */
static void head_backward(const Model *m, Acts *A, const EngineBatch *in, int b0, int Bm)
{
    const ModelConfig *c = &m->cfg;
    int D = c->D, C = c->C;
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
    if (c->norm_place == NORM_PRE) {
        A->be->linear_backward(A->dz, A->dlogits, m->head_out_w, Bm, D, C, 0);
        norm_backward(A->be, c, A->dhc, A->dz, A->hd_xhat, A->hd_rstd, m->final_g, Bm);
        return;
    }
    A->be->linear_backward(A->dz, A->dlogits, m->head_out_w, Bm, D, C, 0);
    if (c->head == HEAD_MLM)
        A->be->layernorm_backward(A->dz, A->dz, A->hd_xhat, A->hd_rstd, m->head_ln_g, Bm, D);
    act_backward_rows(A->be, A->dz, A->dz, A->zpre, Bm, (size_t)D, c->head_act, (in->rescale & RESCALE_HEAD_ACT) != 0);
    A->be->linear_backward(A->dhc, A->dz, m->head_dense_w, Bm, D, D, 0);
}

/* Copies the per-layer taps of layer l (attention probabilities, hidden states). */
static void save_taps(const ModelConfig *c, const LayerActs *La, const Acts *A, EngineOutput *out, int l, int b0,
                      int Bm, int B, int T)
{
    size_t tt = (size_t)c->NH * T * T, N = (size_t)Bm * T;
    if (out->attn)
        for (int b = 0; b < Bm; b++)
            memcpy(out->attn + ((size_t)(b0 + b) * c->L + l) * tt, La->P + (size_t)b * tt, tt * sizeof(float));
    if (out->probs)
        memcpy(out->probs + ((size_t)l * B + b0) * tt, La->P, (size_t)Bm * tt * sizeof(float));
    if (out->hidden)
        memcpy(out->hidden + ((size_t)l * B + b0) * T * c->D, A->h, N * c->D * sizeof(float));
}

/* Rows [b0, b0+Bm) of the batch: forward, and the backward when out->grad. */
static void run_pass(Engine *e, const EngineBatch *in, EngineOutput *out, int b0, int Bm)
{
    const Model *m = e->m;
    const ModelConfig *c = &m->cfg;
    Acts *A = &e->A;
    int T = in->T, D = c->D, NH = c->NH, L = c->L, B = in->B;
    int N = Bm * T, pre = c->norm_place == NORM_PRE;
    size_t tt = (size_t)NH * T * T;
    acts_layout(c, Bm, T, e->arena, A, e->la);
    const int *mask = in->mask ? in->mask + (size_t)b0 * T : NULL;
    const float *x = in->x + (size_t)b0 * T * D;
    const int *pos = in->pos_ids ? in->pos_ids + (size_t)b0 * T : NULL;

    if (c->pos == POS_ROPE) { /* positions: the batch's, else 0..T-1 (HF without position_ids) */
        int *pp = (int *)A->dv; /* dv is backward scratch of at least N ints: borrowed for the positions */
        for (int i = 0; i < N; i++)
            pp[i] = pos ? pos[i] : i % T;
        A->be->rope_tables(A->rcos, A->rsin, pp, N, c);
    }
    if (in->layer == AT_WORD_EMB)
        PROF(PROF_EMB, embeddings_forward(m, A, x, pos, in->type_ids ? in->type_ids + (size_t)b0 * T : NULL, N));
    else
        memcpy(A->h, x, (size_t)N * D * sizeof(float));

    for (int l = 0; l < L; l++) {
        /* Forward only: nothing is kept for a backward, so every layer reuses layer 0's
         * tensors (less memory touched, warmer caches). */
        LayerActs *La = &e->la[out->grad ? l : 0];
        if (pre)
            prelayer_forward(c, &m->layer[l], La, A, mask, Bm, T);
        else
            layer_forward(c, &m->layer[l], La, A, mask, Bm, T);
        save_taps(c, La, A, out, l, b0, Bm, B, T);
    }

    double t_head = ops_prof_on ? clock_now() : 0;
    for (int b = 0; b < Bm; b++)
        memcpy(A->hc + (size_t)b * D, A->h + ((size_t)b * T + head_token(c, in, b0 + b)) * D,
               (size_t)D * sizeof(float));
    head_forward(m, A, in, out, b0, Bm);
    if (!out->grad) {
        if (ops_prof_on)
            ops_prof_s[PROF_HEAD] += clock_now() - t_head;
        return;
    }
    head_backward(m, A, in, b0, Bm);
    memset(A->dh, 0, (size_t)N * D * sizeof(float));
    for (int b = 0; b < Bm; b++)
        memcpy(A->dh + ((size_t)b * T + head_token(c, in, b0 + b)) * D, A->dhc + (size_t)b * D,
               (size_t)D * sizeof(float));
    if (ops_prof_on)
        ops_prof_s[PROF_HEAD] += clock_now() - t_head;

    for (int l = L - 1; l >= 0; l--) {
        if (out->dhidden)
            memcpy(out->dhidden + ((size_t)l * B + b0) * T * D, A->dh, (size_t)N * D * sizeof(float));
        float *dprobs = out->dprobs ? out->dprobs + ((size_t)l * B + b0) * tt : NULL;
        int rs = (in->rescale & RESCALE_FFN_ACT) != 0;
        if (pre)
            prelayer_backward(c, &m->layer[l], &e->la[l], A, dprobs, Bm, T, rs);
        else
            layer_backward(c, &m->layer[l], &e->la[l], A, dprobs, Bm, T, rs);
    }

    float *g = out->grad + (size_t)b0 * T * D;
    if (in->layer == AT_WORD_EMB && c->emb_norm)
        PROF(PROF_EMB, A->be->layernorm_backward(g, A->dh, A->emb_xhat, A->emb_rstd, m->emb_ln_g, N, D));
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
    if (layer == AT_WORD_EMB || !m->pos_emb)
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
    if (!rc && c->emb_norm) /* a host-side utility on the model: the CPU backend's LayerNorm */
        backend_cpu.layernorm_forward(x, xhat, rstd, x, m->emb_ln_g, m->emb_ln_b, c->ln_eps, T, D);
    free(xhat);
    free(rstd);
    return rc;
}

void engine_position_ids(const Model *m, const int *ids, int T, int *pos_ids)
{
    if (m->cfg.pos_rule == POSID_PAD_OFFSET) { /* HF create_position_ids_from_input_ids */
        int pad = m->cfg.pad_id, n = 0;
        for (int t = 0; t < T; t++)
            pos_ids[t] = ids[t] == pad ? pad : pad + (++n);
        return;
    }
    for (int t = 0; t < T; t++)
        pos_ids[t] = t;
}

/* Multiply-adds × 2 of the GEMMs (element-wise work is not counted).
 * Forward per layer: Q,O 2·N·D·QD + K,V 2·N·D·KD + FFN (2 or 3)·N·D·FF + scores and
 * context 2·B·T²·QD (QD = NH·hs, KD = NKV·hs; encoders QD = KD = D).
 * Backward (input gradients only): the same linear products once each, attention
 * four products (dP, dV, dQ, dK). Head: [dense D²] and output D·C per row, both ways. */
double engine_flops(const ModelConfig *c, int B, int T, int backward)
{
    int NKV = c->NKV > 0 ? c->NKV : c->NH, hs = c->hs > 0 ? c->hs : c->D / c->NH;
    double N = (double)B * T, D = c->D, FF = c->FF, C = c->C, QD = (double)c->NH * hs, KD = (double)NKV * hs;
    double lin = 2.0 * (2 * N * D * QD + 2 * N * D * KD + (c->ffn_gated ? 3 : 2) * N * D * FF);
    double att = 2.0 * (2.0 * B * (double)T * T * QD);
    double head = 2.0 * B * ((c->norm_place == NORM_PRE ? 0 : D * D) + D * C);
    double fwd = c->L * (lin + att) + head;
    if (!backward)
        return fwd;
    return fwd + c->L * (lin + 2 * att) + head;
}
