/* Attention-bias statistics, attention rollout and attribution/attention agreement
 * for one example. Pure math on host arrays: the runner calls these and writes the
 * results to HDF5 (docs/analysis.md lists the datasets and the exact definitions).
 *
 * Shapes (letters as in engine/model.h): L layers, NH heads, T tokens of ONE example,
 * unpadded. probs is (L,NH,T,T) row-major, row = query i, column = key j, e.g. one
 * example's slice of EngineOutput.attn, or a LayerConductance tensor of the same shape.
 *
 * Ranking conventions shared by Spearman and top-k: scores are ranked by their signed
 * value (largest = most important); pass |score| or an L2 norm for magnitude rankings.
 */
#ifndef ATTRUN_ATTN_STATS_H
#define ATTRUN_ATTN_STATS_H

/* Statistic index of the first axis of attn_stats_compute's output. Names are stable:
 * they are the HDF5 dataset names /attention/stats/<name>. */
enum {
    ATTN_STAT_CLS = 0,  /* mean over rows of the mass on [CLS] columns */
    ATTN_STAT_SEP,      /* ... on [SEP] columns */
    ATTN_STAT_PUNCT,    /* ... on punctuation columns */
    ATTN_STAT_SELF,     /* ... on the diagonal (j = i) */
    ATTN_STAT_PREV,     /* ... on j = i-1, over the rows i = 1..T-1 only (row 0 has no previous token) */
    ATTN_STAT_NEXT,     /* ... on j = i+1, over the rows i = 0..T-2 only (row T-1 has no next token) */
    ATTN_STAT_ENTROPY,  /* mean over rows of -sum_j p log p (nats, 0 log 0 = 0); NaN when a row is
                           not a distribution (negative entry or sum off 1 by > 1e-3: conductance) */
    ATTN_STAT_DISTANCE, /* mean over rows of sum_j p_ij |i-j| */
    ATTN_NSTAT
};

/* "cls", "sep", "punct", "self", "prev", "next", "entropy", "distance". */
extern const char *const attn_stat_names[ATTN_NSTAT];

/* Message of the last failed call of this header's functions (thread-local; names the
 * function and the bad argument). */
const char *attn_error(void);
/* Sets that message (printf format) and returns -1; for the statistics of
 * engine/analysis_stats.h, which report through attn_error() too. */
int attn_fail(const char *fmt, ...);

/* probs (L,NH,T,T); is_cls, is_sep, is_punct (T) 0/1 flags (any may be NULL = none);
 * out (ATTN_NSTAT,L,NH). prev/next are NaN when T = 1 (no row has such a neighbour).
 * Returns 0, or -1 on bad arguments (attn_error). */
int attn_stats_compute(const float *probs, int L, int NH, int T, const int *is_cls, const int *is_sep,
                       const int *is_punct, float *out);

/* 1 when a token's text is punctuation: after stripping a WordPiece "##" or a byte-level
 * BPE "Ġ" (U+0120) prefix, non-empty and every byte an ASCII punctuation character
 * (Clark et al.'s set: !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~). Special tokens like "[CLS]" or
 * "</s>" contain letters and are never punctuation. */
int attn_token_is_punct(const char *text);

/* Attention rollout (Abnar & Zuidema 2020) from [CLS]: per layer A = mean over heads,
 * Â = (A + I) row-normalised (= 0.5 A + 0.5 I for attention rows that sum to 1),
 * R = Â_L ... Â_1 (layer 1 = first encoder layer); out (T) = R[0,:], which sums to 1.
 * Computed as a row vector times matrices in double, O(L T^2). Returns -1 on bad
 * arguments or a row of A + I that does not sum to a positive value. */
int attn_rollout(const float *probs, int L, int NH, int T, float *out);
/* The same from query position q: decoders have no [CLS]; their rollout is taken from the
 * explained position (causal attention: R[q,:] is 0 after q). */
int attn_rollout_from(const float *probs, int L, int NH, int T, int q, float *out);

/* The rollout one layer at a time, last layer first, in O(T) memory (no T×T matrix): what
 * attn_rollout_from computes (it runs on these), the same bits, for probabilities that arrive
 * layer by layer (EngineOutput.attn_sink_rev). begin: L layers will come, from query q;
 * layer: probs (NH,T,T) of the next layer down (L-1 first); end: out (T) = R[q,:] after all L
 * (an error when fewer came). Each returns 0 or -1 (attn_error); end and free release it. */
typedef struct {
    int L, NH, T, q, l;  /* l: the layer the next attn_rollout_layer call takes */
    double *r, *rn, *row; /* (T) each: the row vector, its next value, one row of Â */
} AttnRollout;
int attn_rollout_begin(AttnRollout *ro, int L, int NH, int T, int q);
int attn_rollout_layer(AttnRollout *ro, const float *probs);
int attn_rollout_end(AttnRollout *ro, float *out);
void attn_rollout_free(AttnRollout *ro);

/* Last-layer attention of the [CLS] row (query 0) averaged over heads: out (T). */
int attn_cls_attention(const float *probs, int L, int NH, int T, float *out);
/* The same for query row q (decoders: the explained position; their row 0 attends to itself only). */
int attn_row_attention(const float *probs, int L, int NH, int T, int q, float *out);

/* Spearman rank correlation of a and b (T) over the positions where exclude is 0
 * (exclude may be NULL): Pearson correlation of the average ranks (ties share the mean
 * of their ranks). *rho is NaN when fewer than 2 positions remain or either side is
 * constant there. Returns -1 on bad arguments or out of memory. */
int attn_spearman(const float *a, const float *b, const int *exclude, int T, float *rho);

/* |top_k(a) ∩ top_k(b)| / k over the positions where exclude is 0, k clipped to their
 * count n (k <= 0 is an error). Ties at the k-th place go to the lower position, so the
 * result is deterministic. *overlap is NaN when n = 0. */
int attn_topk_overlap(const float *a, const float *b, const int *exclude, int T, int k, float *overlap);

/* Agreement of an attribution's per-token scores (T) with rollout (T) and the last-layer
 * [CLS] attention (T), specials (flags, T) excluded from both sides:
 * out[0] rollout Spearman, out[1] rollout top-5 overlap,
 * out[2] [CLS]-attention Spearman, out[3] [CLS]-attention top-5 overlap. */
enum { ATTN_AGREE_TOPK = 5 };
int attn_agreement(const float *scores, const float *rollout, const float *cls_attn, const int *special, int T,
                   float out[4]);
#endif
