/* The engine: batched forward and input-gradient backward of an encoder or decoder
 * with its head (engine/engine.h): passes, the activation arena, input checks. The
 * blocks themselves are in engine_blocks.c; every op goes through the backend.
 *
 * Rows are processed in passes of at most mb_tokens tokens (pairs of rows are never
 * split in DeepLIFT mode). All activations of one pass live in one arena, laid out by
 * acts_layout() from (rows, T) and reused across calls: nothing is allocated in the
 * hot path. What each forward keeps for the backward is said where it is computed. */
#include "engine/engine_internal.h"
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

struct Engine {
    const Model *m;
    const Backend *be;
    int mb_tokens;
    size_t budget;      /* activation bytes of one pass above which the backward recomputes (0: never) */
    int recompute;      /* this run's arena keeps one layer's tensors and each layer's input (A->hin):
                         * the backward re-runs each layer's forward; a forward-only pass with
                         * attn_sink_rev re-runs layers for it */
    float *arena;
    size_t arena_floats;
    LayerActs *la; /* L entries, pointing into the arena */
    double **vgram; /* L entries: each layer's value_norm_gram, made on the first vnorm request */
    float *dpr;     /* (R,NH,T,T) dF/dprobs of one layer of one pass, for grad_sink without out->dprobs;
                     * made and freed by each engine_run that needs it, so it is not kept past
                     * the call (a long text's is one layer's attention: it would outlive the pass) */
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
static size_t acts_layout(const ModelConfig *c, int Bm, int T, int recompute, float *base, Acts *A,
                          LayerActs *la)
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
    /* recompute: one layer's tensors (the backward re-runs each layer's forward from its
     * saved input, hin) instead of every layer's */
    int nl = recompute ? 1 : c->L;
    TAKE(A->hin, recompute ? (size_t)c->L * N * D : 0);
    for (int l = 0; l < nl; l++) {
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
    e->budget = (size_t)4 << 30;
    e->la = calloc((size_t)m->cfg.L, sizeof *e->la);
    e->vgram = calloc((size_t)m->cfg.L, sizeof *e->vgram);
    if (!e->la || !e->vgram) {
        free(e->la);
        free(e->vgram);
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
    for (int l = 0; l < e->m->cfg.L; l++)
        free(e->vgram[l]);
    free(e->vgram);
    free(e);
}

void engine_set_microbatch_tokens(Engine *e, int tokens) { e->mb_tokens = tokens > 0 ? tokens : 1; }
void engine_release_arena(Engine *e)
{
    if (e->arena)
        e->be->free(e->arena);
    e->arena = NULL;
    e->arena_floats = 0;
    if (e->be->release_scratch)
        e->be->release_scratch();
}
void engine_set_activation_budget(Engine *e, size_t bytes) { e->budget = bytes; }
void engine_set_threads(int threads) { backend_select(NULL)->set_threads(threads); }
const Model *engine_model(const Engine *e) { return e->m; }
const char *engine_error(const Engine *e) { return e->err; }

/* Grows the arena to hold a pass of Bm rows × T tokens (never shrinks: reused). When every
 * layer's tensors would exceed the budget, the passes keep one layer's and each layer's
 * input instead, and the backward re-runs the layer's forward (about one more forward of
 * work; the recomputed values are the same bits, so results do not depend on the mode). */
static int arena_reserve(Engine *e, int Bm, int T, int keep_inputs)
{
    size_t need = acts_layout(&e->m->cfg, Bm, T, 0, NULL, &e->A, e->la);
    e->recompute = keep_inputs || (e->budget && need * sizeof(float) > e->budget);
    if (e->recompute)
        need = acts_layout(&e->m->cfg, Bm, T, 1, NULL, &e->A, e->la);
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
    if (out->grad_sink && !out->grad)
        return set_err(e, "engine_run: grad_sink needs out->grad (the backward)");
    if (in->layer != AT_WORD_EMB && in->layer != AT_EMBEDDINGS)
        return set_err(e, "engine_run: unknown attribution layer %d", (int)in->layer);
    if (in->output != OUT_LOGIT && in->output != OUT_PROB && in->output != OUT_LOGPROB)
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

/* The pass's first hidden state A->h (N = Bm*T rows): the embeddings of the batch's rows b0.., or the
 * given layer values as they are; RoPE models also get their rotation tables for these positions. */
static void pass_input(Engine *e, const EngineBatch *in, int b0, int Bm)
{
    const Model *m = e->m;
    const ModelConfig *c = &m->cfg;
    Acts *A = &e->A;
    int T = in->T, D = c->D, N = Bm * T;
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
}

/* Backward from A->dh (the head's gradient at its token) through the layers, last to first, into
 * out->grad of rows b0..; rec: layer inputs were saved in A->hin and each layer's forward is re-run
 * into la[0] just before its backward. */
static int pass_backward(Engine *e, const EngineBatch *in, EngineOutput *out, int b0, int Bm, int rec)
{
    const Model *m = e->m;
    const ModelConfig *c = &m->cfg;
    Acts *A = &e->A;
    int T = in->T, D = c->D, B = in->B, N = Bm * T, pre = c->norm_place == NORM_PRE;
    size_t tt = (size_t)c->NH * T * T;
    const int *mask = in->mask ? in->mask + (size_t)b0 * T : NULL;
    for (int l = c->L - 1; l >= 0; l--) {
        if (out->dhidden)
            memcpy(out->dhidden + ((size_t)l * B + b0) * T * D, A->dh, (size_t)N * D * sizeof(float));
        float *dprobs = out->dprobs ? out->dprobs + ((size_t)l * B + b0) * tt : out->grad_sink ? e->dpr : NULL;
        int rs = (in->rescale & RESCALE_FFN_ACT) != 0;
        LayerActs *La = &e->la[rec ? 0 : l];
        if (rec) { /* re-run layer l's forward from its input: its tensors into la[0]; dh is untouched */
            memcpy(A->h, A->hin + (size_t)l * N * D, (size_t)N * D * sizeof(float));
            if (pre)
                prelayer_forward(c, &m->layer[l], La, A, mask, Bm, T);
            else
                layer_forward(c, &m->layer[l], La, A, mask, Bm, T);
        }
        if (out->attn_sink_rev && out->attn_sink_rev(out->attn_ctx, l, b0, Bm, La->P))
            return set_err(e, "engine_run: the reverse attention sink stopped at layer %d", l);
        if (pre)
            prelayer_backward(c, &m->layer[l], La, A, dprobs, Bm, T, rs);
        else
            layer_backward(c, &m->layer[l], La, A, dprobs, Bm, T, rs);
        /* the backward reads P and leaves it as it is: La->P is still layer l's probabilities */
        if (out->grad_sink && out->grad_sink(out->attn_ctx, l, b0, Bm, La->P, dprobs))
            return set_err(e, "engine_run: the gradient sink stopped at layer %d", l);
    }
    float *g = out->grad + (size_t)b0 * T * D;
    if (in->layer == AT_WORD_EMB && c->emb_norm)
        PROF(PROF_EMB, A->be->layernorm_backward(g, A->dh, A->emb_xhat, A->emb_rstd, m->emb_ln_g, N, D));
    else
        memcpy(g, A->dh, (size_t)N * D * sizeof(float));
    return 0;
}

/* attn_sink_rev of a forward-only pass, after the head: layers L-1..0, the last one's tensors
 * still in la[0] from the forward, each other one re-run into la[0] from its input in A->hin
 * (A->h is free now: the head has read it). */
static int pass_reverse_forward(Engine *e, const EngineBatch *in, EngineOutput *out, int b0, int Bm)
{
    const Model *m = e->m;
    const ModelConfig *c = &m->cfg;
    Acts *A = &e->A;
    LayerActs *La = &e->la[0];
    int T = in->T, N = Bm * T, D = c->D;
    const int *mask = in->mask ? in->mask + (size_t)b0 * T : NULL;
    for (int l = c->L - 1; l >= 0; l--) {
        if (l < c->L - 1) {
            memcpy(A->h, A->hin + (size_t)l * N * D, (size_t)N * D * sizeof(float));
            if (c->norm_place == NORM_PRE)
                prelayer_forward(c, &m->layer[l], La, A, mask, Bm, T);
            else
                layer_forward(c, &m->layer[l], La, A, mask, Bm, T);
        }
        if (out->attn_sink_rev(out->attn_ctx, l, b0, Bm, La->P))
            return set_err(e, "engine_run: the reverse attention sink stopped at layer %d", l);
    }
    return 0;
}

/* Rows [b0, b0+Bm) of the batch: forward, and the backward when out->grad. Returns 0, or -1 when a
 * sink stopped it (e->err set). */
static int run_pass(Engine *e, const EngineBatch *in, EngineOutput *out, int b0, int Bm)
{
    const Model *m = e->m;
    const ModelConfig *c = &m->cfg;
    Acts *A = &e->A;
    int T = in->T, D = c->D, L = c->L, B = in->B;
    int N = Bm * T, pre = c->norm_place == NORM_PRE;
    int rec = e->recompute && out->grad;
    int rev_fwd = out->attn_sink_rev && !out->grad; /* re-runs the layers after the head: keep their inputs */
    acts_layout(c, Bm, T, e->recompute, e->arena, A, e->la);
    const int *mask = in->mask ? in->mask + (size_t)b0 * T : NULL;
    pass_input(e, in, b0, Bm);

    for (int l = 0; l < L; l++) {
        /* Forward only: nothing is kept for a backward, so every layer reuses layer 0's
         * tensors (less memory touched, warmer caches). */
        LayerActs *La = &e->la[out->grad && !rec ? l : 0];
        if (rec || rev_fwd)
            memcpy(A->hin + (size_t)l * N * D, A->h, (size_t)N * D * sizeof(float));
        if (pre)
            prelayer_forward(c, &m->layer[l], La, A, mask, Bm, T);
        else
            layer_forward(c, &m->layer[l], La, A, mask, Bm, T);
        save_taps(c, La, A, out, l, b0, Bm, B, T);
        if (out->vnorm) /* (B,L,NH,T): row b0's layer l block, rows L·NH·T apart */
            value_norms(c, e->vgram[l], La->v, Bm, T, out->vnorm + ((size_t)b0 * L + l) * c->NH * T,
                        (size_t)L * c->NH * T);
        if (out->attn_sink && out->attn_sink(out->attn_ctx, l, b0, Bm, La->P))
            return set_err(e, "engine_run: the attention sink stopped at layer %d", l);
    }

    double t_head = ops_prof_on ? clock_now() : 0;
    for (int b = 0; b < Bm; b++)
        memcpy(A->hc + (size_t)b * D, A->h + ((size_t)b * T + head_token(c, in, b0 + b)) * D,
               (size_t)D * sizeof(float));
    head_forward(m, A, in, out, b0, Bm);
    if (!out->grad) {
        if (ops_prof_on)
            ops_prof_s[PROF_HEAD] += clock_now() - t_head;
        return rev_fwd ? pass_reverse_forward(e, in, out, b0, Bm) : 0;
    }
    head_backward(m, A, in, b0, Bm);
    memset(A->dh, 0, (size_t)N * D * sizeof(float));
    for (int b = 0; b < Bm; b++)
        memcpy(A->dh + ((size_t)b * T + head_token(c, in, b0 + b)) * D, A->dhc + (size_t)b * D,
               (size_t)D * sizeof(float));
    if (ops_prof_on)
        ops_prof_s[PROF_HEAD] += clock_now() - t_head;
    return pass_backward(e, in, out, b0, Bm, rec);
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
    if (arena_reserve(e, R, T, out->attn_sink_rev && !out->grad))
        return -1;
    for (int l = 0; out->vnorm && l < e->m->cfg.L; l++)
        if (!e->vgram[l] && !(e->vgram[l] = value_norm_gram(&e->m->cfg, &e->m->layer[l])))
            return set_err(e, "engine: out of memory for the value-norm Gram matrices");
    size_t dpr = out->grad_sink && !out->dprobs ? (size_t)R * e->m->cfg.NH * T * T : 0;
    if (dpr && !(e->dpr = malloc(dpr * sizeof(float))))
        return set_err(e, "engine: out of memory for the gradient sink's dF/dprobs (%zu floats)", dpr);
    int rc = 0;
    for (int b0 = 0; b0 < in->B && !rc; b0 += R)
        rc = run_pass(e, in, out, b0, in->B - b0 < R ? in->B - b0 : R);
    free(e->dpr);
    e->dpr = NULL;
    return rc ? -1 : 0;
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
