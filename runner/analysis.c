/* Attention-bias analysis of a job (see analysis.h): what runs in the base unit and what
 * runs in assembly, and the token flags both need. */
#include "runner/analysis.h"
#include "engine/analysis_stats.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int analysis_wants_hidden(const RunConfig *c)
{
    return c->analysis.massive || c->analysis.save_hidden;
}

int analysis_bos_position(const Examples *ex, long e)
{
    int64_t t0 = ex->off[e];
    if (ex->off[e + 1] > t0 && ex->special[t0] && ex->span[t0][0] == 0 && ex->span[t0][1] == 0)
        return 0;
    return -1;
}

/* Massive activations of the base unit (docs/analysis.md §8) from r->hidden; then r->hidden
 * is dropped unless analysis.save_hidden. Returns NULL, or what failed. */
static const char *base_massive(const RunConfig *c, const ModelConfig *mc, int T, BaseResult *r)
{
    int L = mc->L;
    if (c->analysis.massive) {
        if (!r->hidden || r->n_hidden != (int64_t)L * T * mc->D)
            return "the base forward has no hidden states to analyse";
        r->n_massive = L;
        r->mass_values = malloc(sizeof(float) * 3 * L);
        r->mass_pos = malloc(sizeof(int32_t) * 3 * L);
        r->mass_dim = malloc(sizeof(int32_t) * 3 * L);
        r->mass_median = malloc(sizeof(float) * L);
        if (!r->mass_values || !r->mass_pos || !r->mass_dim || !r->mass_median)
            return "out of memory";
        if (analysis_massive(r->hidden, L, T, mc->D, r->mass_values, r->mass_pos, r->mass_dim, r->mass_median))
            return attn_error();
    }
    if (!c->analysis.save_hidden) {
        free(r->hidden);
        r->hidden = NULL;
        r->n_hidden = 0;
    }
    return NULL;
}

/* Agreement and faithfulness rank tokens: they need per-token scores (not conductance's
 * per-layer attributions). */
static int has_token_scores(MethodKind k)
{
    return !method_ops(k)->per_layer;
}

int analysis_has_agreement(const RunConfig *c, MethodKind k)
{
    return c->analysis.agreement && has_token_scores(k);
}

int analysis_has_faithfulness(const RunConfig *c, MethodKind k)
{
    return c->analysis.faithfulness && has_token_scores(k);
}

int analysis_has_cond_stats(const RunConfig *c)
{
    if (!c->analysis.stats)
        return 0;
    for (int i = 0; i < c->n_methods; i++)
        if (method_ops(c->methods[i])->per_layer)
            return 1;
    return 0;
}

int analysis_cond_stat_applies(int s)
{
    return s != ATTN_STAT_ENTROPY;
}

const float *analysis_scores(MethodKind k, const AttrResult *a)
{
    /* Saliency ranks by the gradient's L2 norm per token, as docs/analysis.md §3 and
     * scripts/analysis/report.py do (MethodOps.score_l2). */
    return method_ops(k)->score_l2 ? a->token_l2 : a->token_sum;
}

/* [CLS], [SEP] and punctuation flags of example e (T ints each, one block). */
static int *token_flags(const Examples *ex, long e, int T)
{
    int *f = malloc(sizeof(int) * 3 * (size_t)(T ? T : 1));
    if (!f)
        return NULL;
    const int *ids = ex->ids + ex->off[e];
    const unsigned char *punct = ex->punct + ex->off[e];
    for (int t = 0; t < T; t++) {
        f[t] = ids[t] == ex->cls_id;
        f[T + t] = ids[t] == ex->sep_id;
        f[2 * T + t] = punct[t];
    }
    return f;
}

/* The attention analysis of one base forward, fed layer by layer by the engine's sinks
 * (EngineOutput.attn_sink, attn_sink_rev): only the layer in hand exists, never (L,NH,T,T).
 * Each statistic is the whole-tensor function of engine/attn_stats.h or analysis_stats.h on
 * one layer's slice (L = 1), or on one head's (norm-weighted), so the bits are those of the
 * whole tensor; the outputs are (stat, L, NH) or (L, NH, ...) and each layer fills its part. */
typedef struct {
    const RunConfig *c;
    const BaseResult *r; /* the forward's result: vnorm of each layer is written before its sink call */
    int L, NH, T, K, bos, q;
    int stats, roll, nw;   /* analysis.stats; rollout or agreement; attention.norm_weighted */
    const int16_t *cat;    /* (T) token categories, or NULL */
    int *flags;            /* (3T) [CLS], [SEP], punctuation (token_flags) */
    float *tmp;            /* (ATTN_NSTAT·NH) one layer's statistics */
    float *nwh;            /* (T,T) one head's norm-weighted attention */
    int next_fwd;          /* the layer the forward sink expects next */
    AttnRollout ro;        /* fed by the reverse sink */
    /* the results, moved into the BaseResult at the end (sizes as BaseResult says) */
    float *st, *sinks, *cat_recv, *rollout, *cls_attn, *nw_stats, *nw_cat;
    const char *why;       /* what failed in a sink, or NULL */
} BaseStream;

/* Statistic s of head h of the layer in hand, from tmp (ATTN_NSTAT, n) into out (ATTN_NSTAT, LH) at lh0 + h. */
static void scatter_stats(const float *tmp, int n, size_t LH, size_t lh0, float *out)
{
    for (int s = 0; s < ATTN_NSTAT; s++)
        for (int h = 0; h < n; h++)
            out[s * LH + lh0 + h] = tmp[s * n + h];
}

/* Norm-weighted statistics of layer l (docs/analysis.md §11), head by head: N = p·||f(x)||
 * normalised per row, then the per-head statistics, first/BOS/sink and categories on it. */
static const char *stream_norm_weighted(BaseStream *s, int l, const float *probs)
{
    int NH = s->NH, T = s->T;
    size_t LH = (size_t)s->L * NH, TT = (size_t)T * T;
    if (!s->r->vnorm || s->r->n_vnorm != (int64_t)LH * T)
        return "the base forward has no value norms for the norm-weighted attention";
    for (int h = 0; h < NH; h++) {
        size_t lh = (size_t)l * NH + h;
        float *nw = s->nwh, *sk = s->nw_stats ? s->nw_stats + ATTN_NSTAT * LH : NULL;
        if (analysis_norm_weighted(probs + h * TT, s->r->vnorm + lh * T, 1, 1, T, nw))
            return attn_error();
        if (s->stats) {
            if (attn_stats_compute(nw, 1, 1, T, s->flags, s->flags + T, s->flags + 2 * T, s->tmp) ||
                analysis_first_bos(nw, 1, 1, T, s->bos, sk + lh, sk + LH + lh) ||
                analysis_sink(nw, 1, 1, T, 0, s->c->analysis.sink_epsilon, NULL, sk + 2 * LH + lh))
                return attn_error();
            scatter_stats(s->tmp, 1, LH, lh, s->nw_stats);
        }
        if (s->cat && analysis_category_received(nw, 1, 1, T, s->cat, s->K, s->nw_cat + lh * s->K))
            return attn_error();
    }
    return NULL;
}

/* Layer l's part of every streamed result but the rollout; NULL, or what failed. */
static const char *stream_layer_stats(BaseStream *s, int l, const float *probs)
{
    int NH = s->NH, T = s->T;
    size_t LH = (size_t)s->L * NH, lh0 = (size_t)l * NH;
    if (s->stats) {
        if (attn_stats_compute(probs, 1, NH, T, s->flags, s->flags + T, s->flags + 2 * T, s->tmp) ||
            analysis_first_bos(probs, 1, NH, T, s->bos, s->sinks + lh0, s->sinks + LH + lh0) ||
            analysis_sink(probs, 1, NH, T, 0, s->c->analysis.sink_epsilon, NULL, s->sinks + 2 * LH + lh0))
            return attn_error();
        scatter_stats(s->tmp, NH, LH, lh0, s->st);
    }
    if (s->cat && analysis_category_received(probs, 1, NH, T, s->cat, s->K, s->cat_recv + lh0 * s->K))
        return attn_error();
    /* decoders: from the explained position (their row 0 attends to itself only); the schema names the
     * agreement with it /agreement/<m>/explained_attention_* for them (runner/schema.c) */
    if (s->roll && l == s->L - 1 && attn_row_attention(probs, 1, NH, T, s->q, s->cls_attn))
        return attn_error();
    if (s->nw && (s->stats || s->cat))
        return stream_norm_weighted(s, l, probs);
    return NULL;
}

/* EngineOutput.attn_sink: layer l's probabilities (1,NH,T,T) of the example. */
static int stream_layer(void *ctx, int l, int b0, int Bm, const float *probs)
{
    BaseStream *s = ctx;
    if (b0 != 0 || Bm != 1 || l != s->next_fwd++)
        s->why = "the base forward's attention came in an unexpected order";
    else
        s->why = stream_layer_stats(s, l, probs);
    return s->why != NULL;
}

/* EngineOutput.attn_sink_rev: the rollout, layers L-1..0. */
static int stream_layer_rev(void *ctx, int l, int b0, int Bm, const float *probs)
{
    BaseStream *s = ctx;
    (void)l, (void)b0, (void)Bm;
    if (attn_rollout_layer(&s->ro, probs))
        s->why = attn_error();
    return s->why != NULL;
}

static void stream_free(BaseStream *s)
{
    free(s->flags);
    free(s->tmp);
    free(s->nwh);
    attn_rollout_free(&s->ro);
    free(s->st);
    free(s->sinks);
    free(s->cat_recv);
    free(s->rollout);
    free(s->cls_attn);
    free(s->nw_stats);
    free(s->nw_cat);
}

/* Sets up s for example e; 0, or -1 out of memory (or bad shape: attn_error()). */
static int stream_begin(BaseStream *s, const RunConfig *c, const ModelConfig *mc, const Examples *ex, long e,
                        const BaseResult *r)
{
    int T = (int)(ex->off[e + 1] - ex->off[e]), L = mc->L, NH = mc->NH;
    size_t LH = (size_t)L * NH;
    memset(s, 0, sizeof *s);
    s->c = c, s->r = r, s->L = L, s->NH = NH, s->T = T;
    s->stats = c->analysis.stats;
    s->roll = c->analysis.rollout || c->analysis.agreement;
    s->nw = c->attention.norm_weighted;
    s->bos = analysis_bos_position(ex, e);
    s->q = mc->causal ? ex->mlm_pos[e] : 0;
    if (ex->category) {
        s->cat = ex->category + ex->off[e];
        s->K = ex->n_categories;
    }
    int ok = 1, nw = s->nw && (s->stats || s->cat);
    if (s->stats || nw) {
        ok &= (s->flags = token_flags(ex, e, T)) != NULL;
        ok &= (s->tmp = malloc(sizeof(float) * ATTN_NSTAT * NH)) != NULL;
    }
    if (s->stats) {
        ok &= (s->st = malloc(sizeof(float) * ATTN_NSTAT * LH)) != NULL;
        ok &= (s->sinks = malloc(sizeof(float) * 3 * LH)) != NULL;
    }
    if (s->cat)
        ok &= (s->cat_recv = malloc(sizeof(float) * LH * s->K)) != NULL;
    if (s->roll) {
        ok &= (s->rollout = malloc(sizeof(float) * T)) != NULL;
        ok &= (s->cls_attn = malloc(sizeof(float) * T)) != NULL;
    }
    if (nw) {
        ok &= (s->nwh = malloc(sizeof(float) * (size_t)T * T)) != NULL;
        if (s->stats)
            ok &= (s->nw_stats = malloc(sizeof(float) * (ATTN_NSTAT + 3) * LH)) != NULL;
        if (s->cat)
            ok &= (s->nw_cat = malloc(sizeof(float) * LH * s->K)) != NULL;
    }
    if (!ok)
        return attn_fail("out of memory for the attention analysis");
    return s->roll ? attn_rollout_begin(&s->ro, L, NH, T, s->q) : 0;
}

/* Moves the results of s into r (its sizes as BaseResult says); 0, or -1 (attn_error()) when the
 * forward did not give every layer. */
static int stream_end(BaseStream *s, BaseResult *r)
{
    size_t LH = (size_t)s->L * s->NH;
    int any = s->stats || s->roll || s->cat || s->nw;
    if (any && s->next_fwd != s->L)
        return attn_fail("the base forward gave %d of %d layers' attention to analyse", s->next_fwd, s->L);
    if (s->roll && attn_rollout_end(&s->ro, s->rollout))
        return -1;
    if (s->stats) {
        r->n_stats = (int)(ATTN_NSTAT * LH), r->stats = s->st, s->st = NULL;
        r->n_sink = (int)(3 * LH), r->sinks = s->sinks, s->sinks = NULL;
    }
    if (s->roll) {
        r->n_roll = s->T;
        r->rollout = s->rollout, r->cls_attn = s->cls_attn;
        s->rollout = s->cls_attn = NULL;
    }
    if (s->cat)
        r->n_cat = (int)(LH * s->K), r->cat_recv = s->cat_recv, s->cat_recv = NULL;
    if (s->nw_stats)
        r->n_nw_stats = (int)((ATTN_NSTAT + 3) * LH), r->nw_stats = s->nw_stats, s->nw_stats = NULL;
    if (s->nw_cat)
        r->n_nw_cat = (int)(LH * s->K), r->nw_cat = s->nw_cat, s->nw_cat = NULL;
    return 0;
}

int analysis_base_run(const RunConfig *c, Engine *eng, const Examples *ex, long e, BaseResult *r, char *err,
                      size_t errlen)
{
    const ModelConfig *mc = &engine_model(eng)->cfg;
    int T = (int)(ex->off[e + 1] - ex->off[e]);
    BaseStream s;
    if (stream_begin(&s, c, mc, ex, e, r)) {
        snprintf(err, errlen, "example %ld: %s", e, attn_error());
        stream_free(&s);
        return -1;
    }
    AttnSinks sk = {.fwd = stream_layer, .rev = s.roll ? stream_layer_rev : NULL, .ctx = &s};
    int any = s.stats || s.roll || s.cat || s.nw;
    const char *why = NULL;
    if (base_run(eng, ex, e, c->attention.save, analysis_wants_hidden(c), s.nw, any ? &sk : NULL, r, &why)) {
        if (s.why)
            snprintf(err, errlen, "example %ld: %s", e, s.why);
        else
            snprintf(err, errlen, "example %ld (corpus row %ld), forward: %s", e, ex->row[e], why ? why : "failed");
        stream_free(&s);
        return -1;
    }
    int rc = 0;
    if (stream_end(&s, r))
        rc = -1, snprintf(err, errlen, "example %ld: %s", e, attn_error());
    else if ((why = base_massive(c, mc, T, r)))
        rc = -1, snprintf(err, errlen, "example %ld: %s", e, why);
    stream_free(&s);
    if (rc)
        base_free(r);
    return rc;
}

/* The id faithfulness erases tokens with: pad_token_id; decoders without one: the job's
 * token-baseline fill id, else eos. */
static int erase_id(const ModelConfig *mc, const Examples *ex)
{
    return mc->pad_id >= 0 ? mc->pad_id : ex->fill_id >= 0 ? ex->fill_id : mc->eos_id;
}

/* Non-special tokens that faithfulness may replace (the MLM mask position never is). */
static int replaceable(const Examples *ex, long e, int T, int mlm)
{
    const int *sp = ex->special + ex->off[e];
    int n = 0;
    for (int t = 0; t < T; t++)
        n += !sp[t] && !(mlm && t == ex->mlm_pos[e]);
    return n;
}

static int analysis_example_categories(const RunConfig *c, const ModelConfig *mc, const Examples *ex, long e,
                                       const AttrResult *res, ExampleAnalysis *out, char *err, size_t errlen);

/* Faithfulness runs here, in assembly, on the rank that owns the example, rather than as
 * work units of its own: it needs the example's finalized attributions, which exist only
 * after every unit of the example is merged, so separate units would need a second
 * scheduling pass and spool round after the first. Its cost (7 forward rows per example
 * and method) is small next to the attribution itself (IG: 2·steps row passes), and the
 * assembly ranges are balanced by tokens, so the split across ranks stays even. */
int analysis_example(const RunConfig *c, Engine *eng, const Examples *ex, long e, const BaseResult *b,
                     const AttrResult *res, ExampleAnalysis *out, char *err, size_t errlen)
{
    const ModelConfig *mc = &engine_model(eng)->cfg;
    int T = (int)(ex->off[e + 1] - ex->off[e]), mlm = mc->head == HEAD_MLM;
    const int *special = ex->special + ex->off[e];
    memset(out, 0, sizeof *out);
    for (int mi = 0; mi < c->n_methods; mi++) {
        MethodKind k = c->methods[mi];
        const char *name = config_method_name(k);
        const float *s = has_token_scores(k) ? analysis_scores(k, &res[mi]) : NULL;
        if (analysis_has_agreement(c, k)) {
            if (b->n_roll != T) {
                snprintf(err, errlen, "example %ld: the spooled rollout has %d values, expected T = %d", e,
                         b->n_roll, T);
                return -1;
            }
            if (attn_agreement(s, b->rollout, b->cls_attn, special, T, out->agree[mi])) {
                snprintf(err, errlen, "example %ld (corpus row %ld), agreement of %s: %s", e, ex->row[e], name,
                         attn_error());
                return -1;
            }
        }
        if (analysis_has_faithfulness(c, k)) {
            if (replaceable(ex, e, T, mlm) == 0) { /* nothing to remove (empty text): undefined */
                for (int q = 0; q < FAITH_NOUT; q++)
                    out->faith[mi][q] = NAN;
                continue;
            }
            if (faithfulness_compute(eng, ex->ids + ex->off[e], ex->type_ids + ex->off[e], special, T, b->target,
                                     ex->mlm_pos[e], c->output, s, erase_id(mc, ex), out->faith[mi])) {
                snprintf(err, errlen, "example %ld (corpus row %ld), faithfulness of %s: %s", e, ex->row[e], name,
                         faithfulness_error());
                return -1;
            }
        }
        if (method_ops(k)->per_layer && analysis_has_cond_stats(c)) {
            const AttrResult *a = &res[mi];
            int *flags = token_flags(ex, e, T);
            out->cond_stats = malloc(sizeof(float) * ATTN_NSTAT * mc->L * mc->NH);
            const char *why = NULL;
            if (!flags || !out->cond_stats)
                why = "out of memory";
            else if (!a->cond_attn || a->L != mc->L || a->NH != mc->NH)
                why = "the conductance result has no attention part of the model's shape";
            else if (attn_stats_compute(a->cond_attn, mc->L, mc->NH, T, flags, flags + T, flags + 2 * T,
                                        out->cond_stats))
                why = attn_error();
            free(flags);
            if (why) {
                snprintf(err, errlen, "example %ld (corpus row %ld), statistics of the attention conductance: %s",
                         e, ex->row[e], why);
                return -1;
            }
        }
    }
    return analysis_example_categories(c, mc, ex, e, res, out, err, errlen);
}

/* Per-category results of example e (ex->category set): token counts, each method's
 * attribution mass, the conductance received per category. Returns NULL or what failed. */
static const char *example_categories(const RunConfig *c, const ModelConfig *mc, const Examples *ex, long e,
                                      const AttrResult *res, ExampleAnalysis *out)
{
    int T = (int)(ex->off[e + 1] - ex->off[e]), K = ex->n_categories;
    const int16_t *cat = ex->category + ex->off[e];
    if (!(out->cat_count = calloc((size_t)K, sizeof(int32_t))))
        return "out of memory";
    for (int t = 0; t < T; t++)
        out->cat_count[cat[t]]++;
    for (int mi = 0; mi < c->n_methods; mi++) {
        const AttrResult *a = &res[mi];
        if (c->methods[mi] == M_CONDUCTANCE) {
            if (!a->cond_attn || a->L != mc->L || a->NH != mc->NH)
                return "the conductance result has no attention part of the model's shape";
            if (!(out->cond_cat = malloc(sizeof(float) * mc->L * mc->NH * K)))
                return "out of memory";
            if (analysis_category_received(a->cond_attn, mc->L, mc->NH, T, cat, K, out->cond_cat))
                return attn_error();
            continue;
        }
        if (!(out->cat_mass[mi] = malloc(sizeof(float) * K)))
            return "out of memory";
        if (analysis_category_mass(a->token_sum, cat, T, K, out->cat_mass[mi], NULL))
            return attn_error();
    }
    return NULL;
}

static int analysis_example_categories(const RunConfig *c, const ModelConfig *mc, const Examples *ex, long e,
                                       const AttrResult *res, ExampleAnalysis *out, char *err, size_t errlen)
{
    if (!ex->category)
        return 0;
    const char *why = example_categories(c, mc, ex, e, res, out);
    if (why)
        snprintf(err, errlen, "example %ld (corpus row %ld), token categories: %s", e, ex->row[e], why);
    return why ? -1 : 0;
}

void analysis_example_free(ExampleAnalysis *a)
{
    free(a->cond_stats);
    a->cond_stats = NULL;
    free(a->cond_cat);
    a->cond_cat = NULL;
    free(a->cat_count);
    a->cat_count = NULL;
    for (int mi = 0; mi < M_NUM_METHODS; mi++) {
        free(a->cat_mass[mi]);
        a->cat_mass[mi] = NULL;
    }
}
