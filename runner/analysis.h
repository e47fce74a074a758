/* The attention-bias analysis of `attrun run` (config key `analysis`, definitions in
 * docs/analysis.md, datasets in docs/hdf5-schema.md), on top of engine/attn_stats.h and
 * engine/faithfulness.h. Two places:
 *
 *   base unit (compute phase, any rank): each layer's attention probabilities, as the base
 *     forward computes them, become the per-head statistics, the rollout vector and the last
 *     layer's [CLS] attention; only these (ATTN_NSTAT·L·H + 2T floats) are spooled, the
 *     attention itself only with attention.save (then L·NH·T² floats: quadratic by request).
 *   assembly (the rank that owns the example): once the example's attributions are
 *     finalized, their agreement with rollout / [CLS] attention, the faithfulness metrics
 *     and the statistics of the attention conductance.
 *
 * Everything is a function of one example's data on one rank, so the results are the
 * same bits for any number of ranks and any chunking. */
#ifndef ATTRUN_ANALYSIS_H
#define ATTRUN_ANALYSIS_H
#include "engine/attn_stats.h"
#include "engine/faithfulness.h"
#include "runner/config.h"
#include "runner/job.h"
#include <stddef.h>

/* 1 when it must keep each layer's hidden states (analysis.massive or analysis.save_hidden). */
int analysis_wants_hidden(const RunConfig *c);
/* Position of the BOS token of example e (a special the tokenizer added at position 0, span
 * (0, 0)), or -1 (docs/analysis.md §7). */
int analysis_bos_position(const Examples *ex, long e);

/* Base unit of example e: base_run (logits, target; r->attn only with attention.save) with the
 * attention analysis streamed from the engine's per-layer sinks, so that one layer's attention
 * exists at a time: r->stats and r->sinks (analysis.stats), r->cat_recv (analysis.categories),
 * r->rollout, r->cls_attn (analysis.rollout or analysis.agreement; the rollout from the reverse
 * sink, which re-runs the layers: about one more forward), with attention.norm_weighted
 * r->nw_stats, r->nw_cat (r->vnorm is written); then the massive activations (analysis.massive)
 * from r->hidden, dropped unless analysis.save_hidden. The same bits as the whole-tensor functions
 * on (L,NH,T,T). Returns 0, or -1 with err naming the example (r is then freed). */
int analysis_base_run(const RunConfig *c, Engine *eng, const Examples *ex, long e, BaseResult *r, char *err,
                      size_t errlen);

/* The per-token scores that rank a method's tokens (agreement, faithfulness): token_sum, but
 * token_l2 for Saliency (docs/analysis.md §3). */
const float *analysis_scores(MethodKind k, const AttrResult *a);

/* Does the job write /agreement/<m> and /faithfulness/<m> for method k? (not conductance) */
int analysis_has_agreement(const RunConfig *c, MethodKind k);
int analysis_has_faithfulness(const RunConfig *c, MethodKind k);
/* /conductance/stats: analysis.stats and conductance in the job. Statistic s is written when
 * it applies to conductance (not entropy: rows of conductance are no distributions). */
int analysis_has_cond_stats(const RunConfig *c);
int analysis_cond_stat_applies(int s);

/* Assembly-side results of one example; arrays indexed by the job's method index. */
typedef struct {
    float agree[M_NUM_METHODS][4];          /* attn_agreement order */
    float faith[M_NUM_METHODS][FAITH_NOUT]; /* faithfulness_compute order */
    float *cond_stats;                      /* (ATTN_NSTAT,L,NH), or NULL */
    float *cond_cat;                        /* (L,NH,K) conductance received per category, or NULL */
    float *cat_mass[M_NUM_METHODS];         /* (K) attribution mass per category, or NULL */
    int32_t *cat_count;                     /* (K) tokens per category, or NULL */
} ExampleAnalysis;

/* Example e with its base result b and finalized attributions res[n_methods]. Faithfulness
 * runs its forwards on eng. Returns 0, or -1 with err naming the example and method. */
int analysis_example(const RunConfig *c, Engine *eng, const Examples *ex, long e, const BaseResult *b,
                     const AttrResult *res, ExampleAnalysis *out, char *err, size_t errlen);
void analysis_example_free(ExampleAnalysis *a);
#endif
