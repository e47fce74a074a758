/* Second-round attention-bias statistics of one example (docs/analysis.md §6-8): attention
 * received per token category, attention to the first position and to BOS, the attention
 * sink indicator (Gu et al. 2024), massive activations (Sun et al. 2024) and attribution mass
 * per category. Pure math on host arrays, like attn_stats.h; errors via attn_error().
 *
 * Shapes: L layers, NH heads, T tokens of ONE example (unpadded), D hidden size, K
 * categories. probs (L,NH,T,T) row = query i, column = key j; cat (T) category index of each
 * token in [0, K). Sums run in double, outputs are float. */
#ifndef ATTRUN_ANALYSIS_STATS_H
#define ATTRUN_ANALYSIS_STATS_H
#include <stdint.h>

/* out (L,NH,K): out[l,h,k] = (1/T) sum_i sum_{j: cat[j] = k} probs[l,h,i,j], the attention
 * the category's tokens receive (sum over its keys, mean over all T queries); 0 for a
 * category without tokens. Works on conductance of attention too (signed, rows need not
 * sum to 1). Returns 0, or -1 on bad arguments (a category outside [0, K)). */
int analysis_category_received(const float *probs, int L, int NH, int T, const int16_t *cat, int K, float *out);

/* first (L,NH) = (1/T) sum_i probs[l,h,i,0]; bos (L,NH) the same for key bos_pos, all NaN
 * when bos_pos < 0 (no BOS token). Either output may be NULL. */
int analysis_first_bos(const float *probs, int L, int NH, int T, int bos_pos, float *first, float *bos);

/* Gu et al.'s sink indicator for key k: alpha[l,h] = mean over queries i >= k of
 * probs[l,h,i,k]; sink[l,h] = 1.0 when alpha > epsilon, else 0.0 (NaN when alpha is NaN).
 * alpha may be NULL. Needs 0 <= k < T. */
int analysis_sink(const float *probs, int L, int NH, int T, int k, double epsilon, float *alpha, float *sink);

/* Norm-weighted attention (Kobayashi et al. 2020), normalised per query row:
 * out[l,h,i,j] = probs[l,h,i,j]·vnorm[l,h,j] / sum_k probs[l,h,i,k]·vnorm[l,h,k], with vnorm (L,NH,T)
 * the norms ||f_h(x_j)|| of the transformed value vectors (EngineOutput.vnorm). A row whose sum
 * is 0 (every key it sees has a zero value vector) is NaN. out (L,NH,T,T) may not alias probs. */
int analysis_norm_weighted(const float *probs, const float *vnorm, int L, int NH, int T, float *out);

/* Massive activations of hidden (L,T,D), per layer l over its T*D values |hidden|:
 * top_values (L,3) the three largest |h| in decreasing order, top_pos / top_dim (L,3) their
 * token position and dimension (ties: lower position, then lower dimension first), and
 * median (L) the median |h| (mean of the two middle values when T*D is even). When T*D < 3
 * the missing places are NaN with position and dimension -1. */
int analysis_massive(const float *hidden, int L, int T, int D, float *top_values, int32_t *top_pos,
                     int32_t *top_dim, float *median);

/* Attribution mass per category: mass[k] = sum_{t: cat[t] = k} |scores[t]| / sum_t |scores[t]|
 * (all NaN when the total is 0 or not finite); count (K, may be NULL) the tokens of each
 * category. */
int analysis_category_mass(const float *scores, const int16_t *cat, int T, int K, float *mass, int32_t *count);
#endif
