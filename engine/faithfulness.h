/* Faithfulness of per-token attribution scores (DeYoung et al. 2020, ERASER):
 * comprehensiveness and sufficiency at k = 10, 20, 50 % of the non-special tokens,
 * and their AOPC (mean over the three k's). Definitions in docs/analysis.md.
 *
 * For each k (count = ceil(k% * n), at least 1, n = number of non-special tokens):
 *   top   = the `count` non-special positions with the largest signed score (ties: lower position)
 *   comprehensiveness_k = F(x) - F(x with the top positions replaced by pad_id)
 *   sufficiency_k       = F(x) - F(x with every non-special, non-top position replaced by pad_id)
 * F is the engine's explained scalar (logit or probability of `target`, OutputKind).
 * Replaced tokens stay in place: position ids, token-type ids and the attention mask
 * (all 1) are those of the original input, so only the token content changes.
 * For MLM heads the position mlm_pos is never replaced (it is treated as special).
 * All 7 rows (the original x, then 3 comprehensiveness and 3 sufficiency inputs) run
 * in ONE engine_run batch.
 */
#ifndef ATTRUN_FAITHFULNESS_H
#define ATTRUN_FAITHFULNESS_H
#include "engine/engine.h"

enum { FAITH_NK = 3 };
/* The k's, in percent of the non-special tokens. */
extern const int faith_k_percent[FAITH_NK]; /* {10, 20, 50} */

/* Order of out[]: */
enum {
    FAITH_COMP_10 = 0, FAITH_COMP_20, FAITH_COMP_50, /* comprehensiveness at k = 10, 20, 50 % */
    FAITH_SUFF_10, FAITH_SUFF_20, FAITH_SUFF_50,     /* sufficiency at k = 10, 20, 50 % */
    FAITH_AOPC_COMP, FAITH_AOPC_SUFF,                /* means of the three above */
    FAITH_NOUT
};

/* ids, special (T); type_ids (T) or NULL; scores (T) per-token attribution (e.g. the
 * token sum of an attribution; only non-special positions are read). target and
 * mlm_pos as in EngineBatch. out[FAITH_NOUT] in the order above.
 * Returns 0, or -1 with faithfulness_error() set (bad arguments, no non-special token,
 * non-finite score, engine failure: the engine's message is included). */
int faithfulness_compute(Engine *e, const int *ids, const int *type_ids, const int *special, int T, int target,
                         int mlm_pos, OutputKind output, const float *scores, int pad_id, float out[8]);

/* Positions of faithfulness_compute's top-`count` choice, for tests and reports: sel (T)
 * gets 1 at the chosen positions. `excluded` (T) marks positions never chosen.
 * Returns the number chosen (min(count, #non-excluded)) or -1 on a non-finite score. */
int faithfulness_top(const float *scores, const int *excluded, int T, int count, int *sel);

/* Message of the last failed faithfulness_compute in this thread. */
const char *faithfulness_error(void);
#endif
