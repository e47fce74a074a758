/* The engine's blocks (see engine_internal.h): the embedding block, the encoder's
 * post-norm layer (BERT family), the decoder's pre-norm layer (GPT-2, Llama family), the
 * FFN (plain or gated), the heads, each forward next to its backward, all ops through
 * the backend in A->be. What each forward keeps for the backward is said where it is
 * computed. */
#include "engine/engine_internal.h"
#include <string.h>

/* Embedding block at the word-embedding layer: h = LN(x + pos_emb[pos] + type_emb[type]).
 * Keeps emb_xhat, emb_rstd for the backward (the sum is linear in x). */
void embeddings_forward(const Model *m, Acts *A, const float *x, const int *pos, const int *type, int N)
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
void layer_forward(const ModelConfig *c, const LayerParams *p, LayerActs *L, Acts *A, const int *mask,
                          int Bm, int T)
{
    int N = Bm * T, D = c->D, FF = c->FF;
    PROF(PROF_LIN_F, A->be->linear_forward(L->q, A->h, p->q_w, p->q_b, N, D, D));
    PROF(PROF_LIN_F, A->be->linear_forward(L->k, A->h, p->k_w, p->k_b, N, D, D));
    PROF(PROF_LIN_F, A->be->linear_forward(L->v, A->h, p->v_w, p->v_b, N, D, D));
    AttnShape sh = attn_shape(c);
    PROF(PROF_ATT_F, A->be->attention_forward(A->ctx, L->P, L->q, L->k, L->v, mask, &sh, Bm, T));
    PROF(PROF_LIN_F, A->be->linear_forward(A->a, A->ctx, p->o_w, p->o_b, N, D, D));
    /* a += h (residual), h1 = LN1(a), in one pass */
    PROF(PROF_LN_F, A->be->add_layernorm_forward(A->h1, L->ln1_xhat, L->ln1_rstd, A->a, A->h, p->ln1_g, p->ln1_b,
                                                 c->ln_eps, N, D));
    PROF(PROF_LIN_F, A->be->linear_forward(L->u, A->h1, p->ff1_w, p->ff1_b, N, D, FF));
    PROF(PROF_ACT_F, A->be->act_forward(A->f, L->u, (long)N * FF, c->act));
    PROF(PROF_LIN_F, A->be->linear_forward(A->a, A->f, p->ff2_w, p->ff2_b, N, FF, D));
    /* a += h1 (residual), h = LN2(a), in one pass */
    PROF(PROF_LN_F, A->be->add_layernorm_forward(A->h, L->ln2_xhat, L->ln2_rstd, A->a, A->h1, p->ln2_g, p->ln2_b,
                                                 c->ln_eps, N, D));
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
void layer_backward(const ModelConfig *c, const LayerParams *p, LayerActs *L, Acts *A, float *dprobs,
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
    float *upv = L->up;
    A->be->swap_mul(upv, A->f, (long)n);
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
void prelayer_forward(const ModelConfig *c, const LayerParams *p, LayerActs *L, Acts *A, const int *mask,
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
void prelayer_backward(const ModelConfig *c, const LayerParams *p, LayerActs *L, Acts *A, float *dprobs,
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
int head_token(const ModelConfig *c, const EngineBatch *in, int row)
{
    return c->head == HEAD_CLASSIFIER ? 0 : in->mlm_pos[row];
}

/* Head forward on one token per row (A->hc): encoder heads h = act(dense(x)) [MLM: + LN],
 * decoder heads h = final_norm(x); then logits = h W_out^T + b_out and F. Keeps zpre
 * (activation backward / Rescale), the head norm's xhat/rstd and prob for OUT_PROB / OUT_LOGPROB. */
void head_forward(const Model *m, Acts *A, const EngineBatch *in, EngineOutput *out, int b0, int Bm)
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
        } else if (in->output == OUT_LOGPROB) { /* z_t - logsumexp(z), in double */
            double lse = A->be->softmax_forward(A->prob + (size_t)b * C, lg, C);
            out->F[b0 + b] = (float)((double)lg[tg] - lse);
        } else {
            out->F[b0 + b] = lg[tg];
        }
    }
    if (out->logits)
        memcpy(out->logits + (size_t)b0 * C, A->logits, (size_t)Bm * C * sizeof(float));
}

/* Head backward: dF/dlogits, then back to the explained token's hidden state (A->dhc). */
void head_backward(const Model *m, Acts *A, const EngineBatch *in, int b0, int Bm)
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
        } else if (in->output == OUT_LOGPROB) { /* d log p_t / d z_j = δ_tj - p_j */
            const float *p = A->prob + (size_t)b * C;
            for (int j = 0; j < C; j++)
                dl[j] = -p[j];
            dl[tg] += 1.0f;
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
void save_taps(const ModelConfig *c, const LayerActs *La, const Acts *A, EngineOutput *out, int l, int b0,
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

