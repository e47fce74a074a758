/* Internals shared by the attribution method files (engine/attr_*.c):
 * exact fixed-point accumulation, Philox random streams, and the per-example
 * context (layer values of the input and of the baselines). Not a public API;
 * tests include it to check the pieces one by one. */
#ifndef ATTRUN_ATTR_INTERNAL_H
#define ATTRUN_ATTR_INTERNAL_H
#include "engine/attribution.h"
#include <stdint.h>

/* ---- attr_partial.c: fixed point with 2^-64 resolution in __int128 ----
 * A double v is stored as round(v · 2^64). Scaling by 2^64 is exact, so the only
 * rounding is to the 2^-64 grid (none at all for products of two floats of
 * magnitude >= 2^-40). |v| must stay below 2^62 per term and per sum. */
#define FIX_LIMIT 4611686018427387904.0 /* 2^62 */
/* *acc += v. Returns -1 when v is not finite or the term or the sum leaves ±2^62. */
int fix_add(__int128 *acc, double v);
double fix_to_double(__int128 a);
/* Marks items [i0,i1) as held by p; -1 when out of range or already held. */
int partial_claim(Partial *p, int i0, int i1);

/* ---- attr_random.c: Philox4x64-10 counter-based streams ----
 * key = (seed, example index), counter = (sample index, stream id, block, 0):
 * the draws of a sample depend on nothing else (not on ranks or chunking). */
enum { RNG_STREAM_DRAWS = 0, /* Gradient SHAP: baseline index, alpha */
       RNG_STREAM_NOISE = 1  /* Gaussian noise at the layer (T·D values) */ };
typedef struct {
    uint64_t key[2], ctr[4];
    uint64_t buf[4];
    int avail;
    int have_spare;
    double spare;
} AttrRng;
void attr_rng_init(AttrRng *r, uint64_t seed, long example, long sample, unsigned stream);
uint64_t attr_rng_u64(AttrRng *r);
double attr_rng_uniform(AttrRng *r);  /* [0,1), 53 random bits */
double attr_rng_normal(AttrRng *r);   /* N(0,1), Box-Muller (both values of a pair used) */
/* The draws of sample k: baseline index in [0, nbaselines), alpha in [0,1), and (noise != NULL,
 * stdevs > 0) noise (T·D) ~ N(0, stdevs²). */
void attr_draws(const MethodSpec *s, long example, int k, int T, int D,
                int *bidx, double *alpha, double *noise);

/* ---- attr_context.c: what every method needs about one example ---- */
typedef struct {
    const Model *m;
    int T, D;
    int *pos_in;          /* (T) position ids of the input */
    float *x;             /* (T,D) input values at the layer */
    int nb;               /* baselines prepared */
    float *b;             /* (nb,T,D) baseline values at the layer */
    int *bids;            /* (nb,T) baseline ids (unused rows for BASE_ZERO) */
    int *bpos;            /* (nb,T) baseline position ids (input's for BASE_ZERO) */
    int *bzero;           /* (nb) 1 for BASE_ZERO */
    int *bhead;           /* (nb) the position the head reads on the baseline ids: a score head pools
                             at the baseline's own last non-pad token (the input's mlm_pos otherwise) */
} AttrCtx;
/* Prepares the input and the first nb baselines of s. Returns 0 or -1 (message in *err). */
int attr_ctx_init(AttrCtx *c, const Model *m, const MethodSpec *s, const Example *ex, int nb,
                  const char **err);
void attr_ctx_free(AttrCtx *c);

/* A batch of rows sharing the example's token types, mask and target; the head reads the
 * input's position (mlm_in) except on rows holding a baseline's ids (rowmeta_set_baseline). */
typedef struct {
    int cap, T, mlm_in;
    int *pos, *type, *target, *mlm;
} RowMeta;
int rowmeta_init(RowMeta *rm, const Example *ex, int cap);
void rowmeta_set(RowMeta *rm, int row, const int *pos); /* pos (T); the input's head position */
/* Row `row` runs the model on baseline j's ids: its position ids and head position. */
void rowmeta_set_baseline(RowMeta *rm, int row, const AttrCtx *c, int j);
void rowmeta_free(RowMeta *rm);
/* Runs rows [0,B) of x (B,T,D) through the engine. grad (B,T,D) may be NULL (forward only). */
int attr_engine_rows(Engine *e, const MethodSpec *s, const RowMeta *rm, int B, const float *x,
                     float *F, float *grad, unsigned rescale, const char **err);
/* Rows per engine call so that `floats_per_row` floats of workspace stay within a fixed budget. */
int attr_rows_per_call(long floats_per_row);

/* ---- attr_chunk.c: the one chunk runner of every method (MethodOps begin/block/end) ----
 * Items [i0, i1) are computed in whole blocks [k0, k0 + G) of G = method_item_block items
 * (see attribution.h: the same rows in every engine call, so the same bits however items
 * are chunked). For each block the method builds its rows in xs, runs the engine and adds
 * the items of [i0, i1) to the partial; items of the block outside the chunk are computed
 * only to keep the block whole, and dropped. */
struct AttrChunk {
    Engine *e;
    const Model *m;
    const MethodSpec *s;
    const Example *ex;
    Partial *p;
    int i0, i1;         /* the chunk's items */
    MethodShape sh;
    AttrCtx c;          /* the input and the method's baselines at the layer */
    int T, D;
    long TD;
    int G;              /* items per block */
    RowMeta rm;         /* 2·rows_per_item·G rows, every row at the input's positions */
    float *xs, *g;      /* (rows_per_item·G, T, D): a block's rows and their gradients */
    float *F;           /* (2·rows_per_item·G) the rows' F */
    const void *arg;    /* method input besides the spec (Gradient SHAP's replayed draws) */
    void *own;          /* the method's own buffers (begin allocates, end frees) */
};
/* Runs items [i0, i1) of s (already claimed in p) with the chunk runner. */
int attr_chunk_run(Engine *e, const MethodSpec *s, const Example *ex, int i0, int i1, const void *arg,
                   Partial *p, const char **err);
/* Every item of [k0, k0 + B) that belongs to the chunk (the others are dropped). */
static inline int attr_chunk_owns(const AttrChunk *ch, int item)
{
    return item >= ch->i0 && item < ch->i1;
}
/* Workspace floats per row for methods whose rows need n·T·D floats. */
long attr_row_floats_2td(const Model *m, int T);
long attr_row_floats_4td(const Model *m, int T);

/* ---- attr_finalize.c: the one finalize skeleton (MethodOps finalize) ----
 * method_finalize checks the partial, prepares the input and max(1, baselines) baselines,
 * runs F(x), F(b_j) in one engine call and allocates the per-token result (not for
 * per_layer methods); the method's finalize turns the sums into attributions and deltas. */
struct AttrFinal {
    const MethodSpec *s;
    const Partial *p;
    const AttrCtx *c;   /* T, D, x, b */
    const float *F;     /* (1 + nb) F(x), F(b_0), ..., F(b_nb-1) */
    int nb;
    double *a;          /* (T,D) scratch for the attributions in double */
};
/* a = acc / div (exact sums, then one division: the mean over samples or baselines). */
void attr_final_mean(const AttrFinal *f, double div);
/* r->full, token_sum (of |a| when abs_sum), token_l2 from f->a. */
void attr_final_tokens(const AttrFinal *f, AttrResult *r, int abs_sum);
/* Σ f->a */
double attr_final_sum(const AttrFinal *f);

/* ---- the table entries (one per method file) ---- */
extern const MethodOps attr_ig_ops, attr_gradshap_ops, attr_deeplift_ops, attr_deepliftshap_ops,
    attr_saliency_ops, attr_inputxgrad_ops, attr_smoothgrad_ops, attr_conductance_ops;

/* DeepLIFT's Rescale sites for s->dl_rules on model m (engine RESCALE_* bits). */
unsigned deeplift_rescale_sites(const Model *m, DeepLiftRules rules);

/* Per-item scalar layout (Partial.item rows). */
enum { GS_SUM = 0, GS_FX, GS_FB, GS_WIDTH };   /* Gradient SHAP: Σattr_k, F(x_k), F(b_k) */
enum { DL_SUM = 0, DL_WIDTH };                 /* DeepLIFT (SHAP): Σattr_j */
enum { SG_SUM = 0, SG_FX, SG_WIDTH };          /* SmoothGrad over IG: Σ contribution, F(x_k) at node 0 */
#endif
