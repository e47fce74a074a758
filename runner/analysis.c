/* Attention-bias analysis of a job (see analysis.h): what runs in the base unit and what
 * runs in assembly, and the token flags both need. */
#include "runner/analysis.h"
#include "engine/analysis_stats.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int analysis_wants_attention(const RunConfig *c)
{
    return c->attention.save || c->analysis.stats || c->analysis.rollout || c->analysis.agreement ||
           c->analysis.categories != ANALYSIS_CAT_NONE;
}

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

/* Second round of the base unit (docs/analysis.md §6-8): sinks, categories, massive
 * activations. Returns NULL, or what failed. */
static const char *base_second(const RunConfig *c, const ModelConfig *mc, const Examples *ex, long e,
                               BaseResult *r)
{
    int T = (int)(ex->off[e + 1] - ex->off[e]), L = mc->L, NH = mc->NH, LH = L * NH;
    if (c->analysis.stats) {
        r->n_sink = 3 * LH;
        if (!(r->sinks = malloc(sizeof(float) * r->n_sink)))
            return "out of memory";
        if (analysis_first_bos(r->attn, L, NH, T, analysis_bos_position(ex, e), r->sinks, r->sinks + LH) ||
            analysis_sink(r->attn, L, NH, T, 0, c->analysis.sink_epsilon, NULL, r->sinks + 2 * LH))
            return attn_error();
    }
    if (ex->category) {
        int K = ex->n_categories;
        r->n_cat = LH * K;
        if (!(r->cat_recv = malloc(sizeof(float) * r->n_cat)))
            return "out of memory";
        if (analysis_category_received(r->attn, L, NH, T, ex->category + ex->off[e], K, r->cat_recv))
            return attn_error();
    }
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

int analysis_base(const RunConfig *c, const ModelConfig *mc, const Examples *ex, long e, BaseResult *r,
                  char *err, size_t errlen)
{
    int T = (int)(ex->off[e + 1] - ex->off[e]), L = mc->L, NH = mc->NH;
    int want_roll = c->analysis.rollout || c->analysis.agreement;
    if (!c->analysis.stats && !want_roll && !ex->category && !analysis_wants_hidden(c))
        return 0;
    int need_attn = c->analysis.stats || want_roll || ex->category;
    if (need_attn && (!r->attn || r->n_attn != (int64_t)L * NH * T * T)) {
        snprintf(err, errlen, "example %ld: the base forward has no attention probabilities to analyse", e);
        return -1;
    }
    int rc = 0;
    if (c->analysis.stats) {
        int *flags = token_flags(ex, e, T);
        r->n_stats = ATTN_NSTAT * L * NH;
        r->stats = malloc(sizeof(float) * r->n_stats);
        if (!flags || !r->stats)
            rc = -1, snprintf(err, errlen, "example %ld: out of memory for the attention statistics", e);
        else if (attn_stats_compute(r->attn, L, NH, T, flags, flags + T, flags + 2 * T, r->stats))
            rc = -1, snprintf(err, errlen, "example %ld: %s", e, attn_error());
        free(flags);
    }
    if (!rc && want_roll) {
        r->n_roll = T;
        r->rollout = malloc(sizeof(float) * T);
        r->cls_attn = malloc(sizeof(float) * T);
        if (!r->rollout || !r->cls_attn)
            rc = -1, snprintf(err, errlen, "example %ld: out of memory for the rollout", e);
        /* decoders: both from the explained position (their row 0 attends to itself only); the
         * schema names the second /agreement/<m>/explained_attention_* for them (runner/schema.c) */
        else if (attn_rollout_from(r->attn, L, NH, T, mc->causal ? ex->mlm_pos[e] : 0, r->rollout) ||
                 attn_row_attention(r->attn, L, NH, T, mc->causal ? ex->mlm_pos[e] : 0, r->cls_attn))
            rc = -1, snprintf(err, errlen, "example %ld: %s", e, attn_error());
    }
    const char *why = rc ? NULL : base_second(c, mc, ex, e, r);
    if (why)
        rc = -1, snprintf(err, errlen, "example %ld: %s", e, why);
    if (!c->attention.save) { /* computed for the analysis only: it does not go to the spool */
        free(r->attn);
        r->attn = NULL;
        r->n_attn = 0;
    }
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
