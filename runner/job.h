/* The examples of a job, as every rank holds them after one pass over the corpus:
 * compact token data (ids, token types, special flags, character spans) in flat
 * arrays with offsets, fixed targets, MLM mask positions, and the sizes the
 * HDF5 file needs (N examples, M tokens, attention elements). Texts are kept
 * only where asked (rank 0 writes them). Also the "base" forward of one example
 * (logits, predicted target, attention probabilities) and its spool payload. */
#ifndef ATTRUN_JOB_H
#define ATTRUN_JOB_H
#include "engine/attribution.h"
#include "io/tokenizer.h"
#include "runner/config.h"
#include <stdint.h>

typedef struct {
    long n;                  /* examples (after skipped rows) */
    long *row, *line;        /* (n) corpus data row and file line */
    int *label;              /* (n) -1 when the row has none */
    int *target;             /* (n) fixed target, or -1 for `predicted` (resolved by a forward) */
    int *mlm_pos;            /* (n) first mask position (MLM heads), else 0 */
    int64_t *off;            /* (n+1) token offsets */
    int *ids, *type_ids, *special; /* (M) */
    int (*span)[2];          /* (M) character span [start, end) of each token */
    int64_t *aoff;           /* (n+1) offsets of attention-shaped data: L*NH*T*T per example */
    int n_truncated;         /* examples cut to max_length */
    char **text, **pair;     /* (n) only when kept (pair NULL without pair_field) */
    long nskipped;           /* rows skipped by on_error: skip */
    long *skip_row;
    char **skip_reason;
    int mask_id, unk_id;     /* the tokenizer's mask and unk ids (MLM targets, mask/unk baselines) */
    int cls_id, sep_id;      /* the tokenizer's [CLS]/<s> and [SEP]/</s> ids (attention statistics) */
    int fill_id;             /* BASE_TOKEN's id; decoders: every token baseline's (-1: none needed) */
    unsigned char *punct;    /* (M) 1 where the token's text is punctuation (attn_token_is_punct) */
    /* Continuations (corpus.continuation_field, runner/continuation.h), NULL without: each example
     * is one continuation token, its tokens the prefix before it. */
    long *cont_example;      /* (n) which prompt/continuation pair (0-based, in corpus order, skipped rows not counted) */
    int *cont_step;          /* (n) j: the unit explains token prompt_len + j */
    int *cont_prompt_len;    /* (n) tokens of the prompt */
    long n_cont;             /* prompt/continuation pairs */
    /* Token categories (analysis.categories, docs/analysis.md §6), or NULL / 0 without. */
    int16_t *category;       /* (M) index into category_names */
    char **category_names;   /* (n_categories) */
    int n_categories;
    /* Masked-LM cloze candidates (mlm.candidates, runner/candidates.h): token ids, or NULL / 0. */
    int *cand_ids;           /* (n_cand) */
    int n_cand;
    int any_label;           /* 1 when some example has a label (then /examples/correct is written) */
    /* Carried corpus fields (corpus.id_field, then corpus.keep_fields), rank 0 only (with the texts). */
    int n_kept;              /* fields per example: (id_field ? 1 : 0) + n_keep */
    char **kept;             /* (n * n_kept) strings, example-major, or NULL */
} Examples;

/* Streams the corpus once and tokenizes every row. Returns 0, -1 (err names file:line), or -2
 * for a configuration error found before the first row (target or max_length out of the
 * model's range, a corpus that cannot be opened): the job's exit status 2. */
int examples_load(Examples *ex, const RunConfig *c, const Model *m, const Tokenizer *tok, int keep_text,
                  char *err, size_t errlen);
void examples_free(Examples *ex);
static inline long examples_tokens(const Examples *ex) { return (long)ex->off[ex->n]; }
/* What one example is, for the messages that count them: "examples", or with continuations
 * "continuation tokens" (each example is one explained token of a continuation, a row of the file). */
static inline const char *examples_noun(const Examples *ex)
{
    return ex->cont_example ? "continuation tokens" : "examples";
}
/* An engine Example viewing example e (target as stored: -1 when still to predict). */
void examples_view(const Examples *ex, long e, Example *out);

/* Result of the base forward of one example. */
typedef struct {
    int target;              /* the target used for the example */
    int mlm;                 /* 1: top5 fields, 0: logits */
    int C;                   /* number of logits (classifier) */
    float *logits;           /* (C) */
    int top_ids[5];
    float top_probs[5];
    int K;                   /* masked LM with mlm.candidates: their number, else 0 */
    float *cand_logits;      /* (K) the candidates' logits at the mask, in Examples.cand_ids order */
    int64_t n_attn;          /* L*NH*T*T with attention.save, else 0 (the analysis streams it) */
    float *attn;             /* (L,NH,T,T) */
    /* Attention analysis of the same forward (runner/analysis.c), computed in the base unit
     * so that only these few numbers, not the attention, travel through the spools. */
    int n_stats;             /* ATTN_NSTAT*L*NH, or 0 (analysis.stats off) */
    float *stats;            /* (ATTN_NSTAT,L,NH) */
    int n_roll;              /* T, or 0 (neither rollout nor agreement) */
    float *rollout;          /* (T) attention rollout from [CLS] */
    float *cls_attn;         /* (T) last layer's [CLS] row, mean over heads */
    /* Second round (analysis_base, docs/analysis.md §6-8), 0 / NULL when off: */
    int n_cat;               /* L*NH*K */
    float *cat_recv;         /* (L,NH,K) attention received per category */
    int n_sink;              /* 3*L*NH */
    float *sinks;            /* (3,L,NH) first, bos, sink */
    int n_massive;           /* L */
    float *mass_values;      /* (L,3) top |hidden| */
    int32_t *mass_pos, *mass_dim; /* (L,3) */
    float *mass_median;      /* (L) */
    int64_t n_hidden;        /* L*T*D when analysis.save_hidden (or, before analysis_base, the forward's taps) */
    float *hidden;           /* (L,T,D) hidden states of each layer */
    /* attention.norm_weighted (docs/analysis.md §11), 0 / NULL when off: */
    int64_t n_vnorm;         /* L*NH*T */
    float *vnorm;            /* (L,NH,T) ||f_h(x_t)||, from the forward */
    int n_nw_stats;          /* (ATTN_NSTAT+3)*L*NH with analysis.stats, else 0 */
    float *nw_stats;         /* (ATTN_NSTAT+3,L,NH): the statistics, then first, bos, sink, of the norm-weighted attention */
    int n_nw_cat;            /* L*NH*K with categories, else 0 */
    float *nw_cat;           /* (L,NH,K) norm-weighted attention received per category */
} BaseResult;

/* Per-layer attention sinks of the base forward (EngineOutput.attn_sink, attn_sink_rev, attn_ctx). */
typedef struct {
    EngineAttnSink fwd, rev;
    void *ctx;
} AttnSinks;

/* Forward of example e: logits, predicted target (when target < 0), every layer's attention
 * (r->attn, L·NH·T² floats) when want_attn (attention.save), each layer's hidden states
 * (r->hidden) when want_hidden, the value norms (r->vnorm) when want_vnorm; each layer's
 * attention also goes to sinks (or NULL) as the engine computes it: that is how the analysis
 * (analysis_base_run) sees it without the whole tensor. The analysis fields stay empty. */
int base_run(Engine *eng, const Examples *ex, long e, int want_attn, int want_hidden, int want_vnorm,
             const AttnSinks *sinks, BaseResult *r, const char **err);
/* The explained token or class when the target is `predicted`: the argmax of the C logits, or with
 * cloze candidates the candidate with the highest logit. */
int examples_predict(const Examples *ex, const float *logits, int C);
/* The model's prediction recorded in a base result (classifier argmax, the candidates' argmax, or
 * the top token at the mask), whatever the target: what /examples/correct compares with the label. */
int base_prediction(const Examples *ex, const BaseResult *r);
/* The target of example e: stored, or the prediction of a forward (deterministic on every rank). */
int resolve_target(Engine *eng, const Examples *ex, long e, int *target, const char **err);
size_t base_bytes(const BaseResult *r);
void base_pack(const BaseResult *r, void *buf);
int base_unpack(const void *buf, size_t n, BaseResult *r); /* 0 or -1 on a malformed payload */
void base_free(BaseResult *r);
#endif
