/* Attribution methods on top of the engine, Captum's semantics (see README of
 * ../shared/reference): Integrated Gradients (five rules), Gradient SHAP,
 * DeepLIFT (rescale | captum rules), DeepLIFT SHAP, Saliency, Input×Gradient,
 * SmoothGrad, LayerConductance.
 *
 * Work on one example is split into items (IG/conductance: integration nodes;
 * Gradient SHAP/SmoothGrad: samples; DeepLIFT SHAP: baselines; others: 1 item).
 * method_run_chunk computes the partial result of items [i0, i1); partials of
 * disjoint chunks are merged with partial_merge in any order, and the result is
 * bitwise identical however the items were chunked, because the accumulators are
 * exact fixed-point integers (int128, 2^-64 resolution): integer addition is
 * associative. method_finalize turns the merged partial into attributions.
 *
 * What differs between methods is described once, in the method table (MethodOps,
 * method_ops()): its items, rows, baselines, deltas, whether it works on the model cut
 * at the layer, and its chunk and finalize steps. Each method's entry lives in its own
 * file (engine/attr_ig.c, ...) next to its run and finalize code; the table itself is
 * engine/attr_methods.c.
 */
#ifndef ATTRUN_ATTRIBUTION_H
#define ATTRUN_ATTRIBUTION_H
#include "engine/engine.h"
#include <stdint.h>

typedef enum { M_IG = 0, M_GRADSHAP, M_DEEPLIFT, M_DEEPLIFTSHAP, M_SALIENCY, M_INPUTXGRAD,
               M_SMOOTHGRAD, M_CONDUCTANCE, M_NUM_METHODS } MethodKind;
typedef enum { RULE_GAUSSLEGENDRE = 0, RULE_RIEMANN_LEFT, RULE_RIEMANN_RIGHT, RULE_RIEMANN_MIDDLE,
               RULE_RIEMANN_TRAPEZOID } IgRule;
/* BASE_TOKEN (decoders): every token but the kept ones (a leading BOS) replaced by
 * Example.fill_id (a named token: eos, unk, pad or any id, resolved by the caller). */
typedef enum { BASE_PAD = 0, BASE_MASK, BASE_UNK, BASE_PAD_ALL, BASE_ZERO, BASE_TOKEN } BaselineKind;
typedef enum { DL_RESCALE = 0, DL_CAPTUM } DeepLiftRules;

#define MAX_BASELINES 8

typedef struct {
    MethodKind kind;
    AttrLayer layer;          /* default AT_WORD_EMB */
    OutputKind output;        /* default OUT_LOGIT */
    int steps;                /* IG / conductance / SmoothGrad-over-IG nodes (default 50); IG only:
                                 IG_STEPS_AUTO = adaptive (engine/attr_ig_auto.c) */
    IgRule rule;              /* default RULE_GAUSSLEGENDRE */
    double tolerance;         /* adaptive IG: relative error it stops at (default 1e-4) */
    int max_steps;            /* adaptive IG: the largest Gauss-Legendre rule it tries (default 512) */
    int samples;              /* Gradient SHAP samples (default 20); SmoothGrad nt_samples */
    double stdevs;            /* Gaussian noise std at the layer (Gradient SHAP, SmoothGrad) */
    uint64_t seed;            /* Philox key: (seed, example index, sample index) */
    DeepLiftRules dl_rules;   /* default DL_RESCALE */
    MethodKind smooth_base;   /* SmoothGrad over M_SALIENCY (default) or M_IG */
    int nbaselines;           /* >= 1; Gradient SHAP / DeepLIFT SHAP use all, others the first */
    BaselineKind baselines[MAX_BASELINES];
    int block_tokens;         /* tokens (rows × T) of one item block, method_item_block (default 1024) */
} MethodSpec;

void method_spec_default(MethodSpec *s, MethodKind kind);
const char *method_name(MethodKind k);        /* "ig", "gradshap", ..., "conductance" */
int method_from_name(const char *name);       /* -1 when unknown */
const char *rule_name(IgRule r);
int rule_from_name(const char *name);
const char *baseline_name(BaselineKind b);
int baseline_from_name(const char *name);
/* Validates a spec (ranges of steps, samples, stdevs, baselines...). 0, or -1 with *err set.
 * The limits below are the engine's; the job configuration checks its keys against the same
 * constants (runner/config_keys.c), so a configuration that is accepted also runs. */
#define METHOD_MAX_STEPS 100000       /* IG / conductance / SmoothGrad-over-IG nodes */
#define METHOD_MAX_SAMPLES 1000000    /* Gradient SHAP / SmoothGrad samples */
#define METHOD_MAX_STDEVS 1e6         /* Gaussian noise std (finite, >= 0) */
#define METHOD_MAX_ITEMS 100000000L   /* items of one example (SmoothGrad over IG: samples x steps) */
#define METHOD_MAX_TOLERANCE 1.0      /* adaptive IG's tolerance: in [IG_AUTO_MIN_TOLERANCE, 1] */
#define METHOD_MAX_BLOCK_TOKENS (1 << 24) /* tokens of one item block (MethodSpec.block_tokens) */
/* Below this the float32 gradients' rounding (about 1e-7 of max |attribution| on sst2-tiny,
 * docs/performance.md) decides whether two rules agree, not their quadrature error. */
#define IG_AUTO_MIN_TOLERANCE 1e-6
int method_spec_check(const MethodSpec *s, const char **err);

/* ---- adaptive Integrated Gradients (ig.steps: auto; engine/attr_ig_auto.c) ----
 * Level l is the Gauss-Legendre rule of n_l nodes: n_0 = IG_AUTO_FIRST, n_(l+1) = min(2 n_l,
 * max_steps), the last level is max_steps. Each level is computed whole, with Captum's nodes and
 * weights, so the result at level l is bit for bit `ig.steps: n_l`'s. Level l's nodes are the items
 * [off_l, off_l + n_l) of the example (levels follow one another: a spec's items are all levels').
 * The error estimate of level l >= 1 is max|a_l - a_(l-1)| / max|a_l| over the example's (T, D)
 * attributions a: the error of the coarser rule, a bound on the finer one's as long as
 * Gauss-Legendre converges (geometrically: for the smooth integrands of networks with smooth
 * activations). An example is finished at the first level l >= 1 whose estimate is <= tolerance
 * (converged), or at the last level (not converged). */
#define IG_STEPS_AUTO 0
#define IG_AUTO_FIRST 16
#define IG_AUTO_MAX_LEVELS 32
/* The levels of s: n[l] nodes at items [off[l], off[l] + n[l]); returns how many (>= 2). */
int ig_auto_levels(const MethodSpec *s, int *n, int *off);
/* The level holding item `item` (-1 when out of range). */
int ig_auto_level_of(const MethodSpec *s, int item);

/* Captum's nodes and weights for `rule` with n steps (alphas ascending for Gauss-Legendre,
 * computed in double; weights rounded to float32 as Captum applies them). */
void ig_nodes(IgRule rule, int n, double *alpha, double *weight);

/* One example, tokenized. */
typedef struct {
    long index;               /* corpus row: keys the random streams */
    int T;
    const int *ids, *type_ids; /* (T); type_ids may be NULL */
    int target;               /* class index or (MLM, causal LM) token id; resolved before attribution */
    int mlm_pos;              /* the position the head reads: MLM: first mask; causal LM: the
                                 explained (last) position; score head: last non-pad token */
    const int *special;       /* (T) 1 for tokens kept by the pad/mask/unk baselines ([CLS],[SEP],[PAD]...) */
    /* Replacement ids of BASE_MASK / BASE_UNK (tokenizer_special_id). 0 or less: the family's
     * usual ids (BERT/DistilBERT vocab: [MASK] 103, [UNK] 100; RoBERTa: <mask> V-1, <unk> 3). */
    int mask_id, unk_id;
    int fill_id;              /* BASE_TOKEN's replacement id (>= 0); decoders: every token baseline's */
} Example;

/* Baseline token ids for kind (T ints); BASE_ZERO returns 0 and fills nothing (zero vector). */
int baseline_ids(const Model *m, BaselineKind kind, const Example *ex, int *out);

/* Number of items of a method on an example (steps, samples, baselines, ...). Computed in
 * 64 bits (samples x steps overflows an int); method_spec_check refuses a spec with more than
 * METHOD_MAX_ITEMS, so the count of a checked spec also fits an int. */
int64_t method_items(const MethodSpec *s);


typedef struct {
    int T, D, n_items;
    __int128 *acc;            /* (T,D) exact sum of per-item attribution contributions */
    /* conductance only: */
    int L, NH;
    __int128 *acc_hidden;     /* (L,T,D) */
    __int128 *acc_attn;       /* (L,NH,T,T) */
    double *item;             /* (n_items, item_width) per-item scalars (e.g. GradSHAP per-sample delta terms) */
    int item_width;
    unsigned char *item_done; /* (n_items) which items this partial holds */
} Partial;

Partial *partial_new(const MethodSpec *s, const Model *m, int T);
void partial_free(Partial *p);
/* dst += src (items must be disjoint). Returns -1 when shapes differ or items overlap. */
int partial_merge(Partial *dst, const Partial *src);
/* Serialised size and (de)serialisation, for spooling and messages. */
size_t partial_bytes(const Partial *p);
void partial_pack(const Partial *p, void *buf);
Partial *partial_unpack(const void *buf, size_t n);

/* Items are computed in fixed blocks [g·G, (g+1)·G) of G = method_item_block(...) items:
 * one engine call per block, always with the same rows, because an fp32 engine row's
 * result depends (in the last bits) on the batch it is computed in. A chunk [i0, i1)
 * computes the blocks it overlaps and keeps its own items, so results are bit-identical
 * however items are chunked; chunks aligned to G waste nothing. G depends only on the
 * spec (block_tokens: G = block_tokens / T rows, at least one item), the model's shape and T
 * (the same on every rank). The engine must run a block in one pass (micro-batch tokens ≥
 * block_tokens) for the bits not to depend on its micro-batch setting. */
int method_item_block(const MethodSpec *s, const Model *m, int T);

/* Computes items [i0, i1) into p. Returns 0 or -1 (engine error in *err). */
int method_run_chunk(Engine *e, const MethodSpec *s, const Example *ex, int i0, int i1,
                     Partial *p, const char **err);

/* Gradient SHAP with explicit draws instead of the Philox streams (replaying recorded
 * draws; the arrays hold all s->samples draws, since whole blocks are computed): sample k
 * uses baseline bidx[k] (index into s->baselines), alpha[k],
 * and noise + k·T·D ((T,D) added to the input at the layer; noise may be NULL: none).
 * Same accumulation as method_run_chunk; finalize with method_finalize. */
int gradshap_run_draws(Engine *e, const MethodSpec *s, const Example *ex, int i0, int i1,
                       const int *bidx, const double *alpha, const double *noise, Partial *p,
                       const char **err);

typedef struct {
    int T, D;
    float *full;              /* (T,D) attributions at the layer */
    float *token_sum;         /* (T) sum over D (Saliency: sum of |grad|) */
    float *token_l2;          /* (T) L2 norm over D */
    int n_delta;
    float *delta;             /* (n_delta) convergence deltas (IG: 1; GradSHAP: samples; DL SHAP: baselines) */
    float f_input, f_baseline; /* F(x), F(first baseline) */
    /* adaptive IG only (ig_auto_finalize): */
    int steps_used;           /* gradient evaluations of all its levels */
    int rule_steps;           /* nodes of the reported level's rule */
    float error_estimate;     /* that level's estimate (relative to max |attribution|) */
    int converged;            /* 1: error_estimate <= tolerance; 0: stopped at max_steps */
    /* conductance only: */
    int L, NH;
    float *cond_full;         /* (L,T,D) */
    float *cond_sum, *cond_l2; /* (T,L) per token and layer */
    float *cond_attn;         /* (L,NH,T,T) */
    float *cond_delta;        /* (L) */
} AttrResult;

/* Turns a complete partial (all items present) into attributions and deltas; runs the
 * forward passes F(x), F(baselines) the deltas need. Returns 0 or -1. */
int method_finalize(Engine *e, const MethodSpec *s, const Example *ex, const Partial *p,
                    AttrResult *r, const char **err);
void attr_result_free(AttrResult *r);

/* ---- the method table ---- */

/* The counts of one method under one spec (method_shape). */
typedef struct {
    int64_t items;      /* per example: what chunks split (method_items; 64 bits like it: an
                         * unchecked SmoothGrad-over-IG spec has samples x steps of them) */
    int64_t nodes;      /* elements of the engine's item blocks: items, or items + 1 for
                         * conductance, whose items are the intervals between nodes */
    int baselines;      /* baselines it uses: 0, 1 (the first) or all of the spec's */
    int deltas;         /* convergence deltas per example (AttrResult.n_delta) */
    int item_width;     /* per-item scalars kept in the partial (Partial.item_width) */
    int uses_steps;     /* the spec's steps/rule apply (checked by method_spec_check) */
    int uses_samples;   /* the spec's samples apply */
} MethodShape;

typedef struct AttrChunk AttrChunk;   /* a chunk being computed (engine/attr_internal.h) */
typedef struct AttrFinal AttrFinal;   /* what a method's finalize starts from (attr_internal.h) */
typedef struct {
    MethodKind kind;
    const char *name;       /* method_name(): "ig", "gradshap", ... */
    int rows_per_item;      /* engine rows per item: 2 for DeepLIFT's (input, baseline) pairs */
    int cuts_at_layer;      /* runs on the model cut at the layer: F(baseline) at the input's
                             * positions (noise or conductance inputs live at the layer) */
    int per_layer;          /* attributions per encoder layer (conductance), none per token */
    int score_l2;           /* tokens rank by token_l2 rather than token_sum (Saliency) */
    void (*shape)(const MethodSpec *s, MethodShape *sh);
    /* optional: the segment [lo, hi) of items holding `item` (adaptive IG: its level). Item
     * blocks start at a segment's start and never cross its end, and a chunk lies in one
     * segment. NULL: one segment, all items. */
    void (*segment)(const MethodSpec *s, int item, int *lo, int *hi);
    long (*row_floats)(const Model *m, int T); /* workspace floats per engine row */
    /* the chunk runner (engine/attr_chunk.c) calls begin, then block for each item block
     * overlapping the chunk, then end (also after a failure) */
    int (*begin)(AttrChunk *ch, const char **err);
    int (*block)(AttrChunk *ch, int k0, int B, const char **err);
    void (*end)(AttrChunk *ch);
    /* from the merged sums to attributions and deltas (method_finalize) */
    int (*finalize)(const AttrFinal *f, AttrResult *r, const char **err);
} MethodOps;

/* The table entry of method k; NULL for a kind that is no method. */
const MethodOps *method_ops(MethodKind k);
/* The counts of s's method (zeros for an unknown kind). */
void method_shape(const MethodSpec *s, MethodShape *sh);
/* The segment [lo, hi) of s's items holding `item` (MethodOps.segment; [0, items) without one). */
void method_segment(const MethodSpec *s, int item, int *lo, int *hi);

/* ---- adaptive IG, per example (engine/attr_ig_auto.c) ----
 * lv[l] (l < have): the merged partial of level l, complete (its items all there); levels
 * 0..have-1. Decides from them alone (the same bits on any ranks and chunking): returns 0 with
 * *level = the reported level when the example is finished, 1 when level `have` must be computed
 * first, -1 on error (*err). est[l] (l in 1..have-1, may be NULL): the estimates computed. */
int ig_auto_decide(const Model *m, const MethodSpec *s, const Example *ex, Partial *const *lv, int have,
                   int *level, double *est, const char **err);
/* The result of a finished example at `level` (from ig_auto_decide): `ig.steps: n_level`'s
 * attributions and delta, plus steps_used, rule_steps, error_estimate and converged. */
int ig_auto_finalize(Engine *e, const MethodSpec *s, const Example *ex, Partial *const *lv, int level,
                     double est, AttrResult *r, const char **err);

#endif
