/* The result schema table (see schema.h): every dataset of docs/hdf5-schema.md once, in the
 * order the datasets are created, with the callbacks that fill one example's rows. */
#include "runner/schema.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Element types: the h5out types, plus the two the job decides or that are strings. */
typedef enum { ST_F32, ST_I32, ST_I64, ST_ATTN /* attention.dtype */, ST_STR, ST_I16, ST_I8 } SchemaType;
/* Dimensions after the rows. D_K: K deltas per example, stored as [N] when K = 1; D_CAT: the K token
 * categories (analysis.categories). */
typedef enum { D_NONE = 0, D_C, D_L, D_H, D_D, D_5, D_2, D_NK, D_K, D_3, D_CAT, D_CAND } DimKind;
/* What an entry is repeated over: once per job, per method of the job, per attention statistic, per
 * carried corpus field (corpus.keep_fields). */
typedef enum { EACH_ONCE, EACH_METHOD, EACH_STAT, EACH_FIELD } Each;

struct SchemaEntry {
    const char *path;  /* "%s" = the method's or statistic's name */
    RowKind kind;
    SchemaType type;
    DimKind d1, d2, d3;
    int (*present)(const SchemaJob *j, int idx);      /* NULL: always */
    void (*fill)(const SchemaRow *r, const Column *c, void *dst);
    int (*write)(const Column *c, const SchemaJob *j, H5Out *h, char *err, size_t errlen); /* serial */
    const char *doc;
    const char *(*doc_of)(const SchemaJob *j, int idx); /* instead of doc when set */
    int (*attrs)(const Column *c, const SchemaJob *j, H5Out *h, char *err, size_t errlen); /* more attributes */
};

typedef struct {
    Each each;
    const SchemaEntry *e;
    int n;
} Section;

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Predicates (is the dataset in this job? idx: the method or statistic) and fill callbacks
 * (example r's rows of column c at dst) all have these two signatures. */
#define UNUSED __attribute__((unused))
#define PRED(name, idx) static int name(const SchemaJob *j, UNUSED int idx)
#define FILL(name) static void name(const SchemaRow *r, UNUSED const Column *c, void *dst)

/* ---- predicates ---- */

PRED(is_mlm, i) { return j->mc->head == HEAD_MLM; }
PRED(not_mlm, i) { return !is_mlm(j, i); }
PRED(per_token_method, mi) { return j->cfg->methods[mi] != M_CONDUCTANCE; }
PRED(has_delta, mi) { return per_token_method(j, mi) && j->ndelta[mi] > 0; }
PRED(method_full, mi) { return per_token_method(j, mi) && j->cfg->save_full; }
PRED(has_cond, i) { return j->cond_mi >= 0; }
PRED(cond_full, i) { return has_cond(j, i) && j->cfg->save_full; }
PRED(cond_attn_saved, i) { return has_cond(j, i) && j->cfg->conductance.save_attention; }
PRED(attn_saved, i) { return j->cfg->attention.save; }
PRED(attn_shaped, i) { return attn_saved(j, i) || cond_attn_saved(j, i); }
PRED(has_cand, i) { return is_mlm(j, i) && j->ex->n_cand > 0; }
PRED(has_labels, i) { return j->ex->any_label; }
PRED(has_id, i) { return j->cfg->corpus.id_field != NULL; }
PRED(stats_on, s) { return j->cfg->analysis.stats; }
/* Decoders have no [CLS]/[SEP]: their cls/sep statistics (the mass on whatever ids the tokenizer
 * calls so) are not written; /attention/stats/first and bos say what position 0 / BOS receive. */
static int stat_named(const SchemaJob *j, int s) { return !j->mc->causal || (s != ATTN_STAT_CLS && s != ATTN_STAT_SEP); }
PRED(stat_on, s) { return stats_on(j, s) && stat_named(j, s); }
PRED(cond_stats_on, s) { return analysis_has_cond_stats(j->cfg) && analysis_cond_stat_applies(s) && stat_named(j, s); }
PRED(rollout_on, i) { return j->cfg->analysis.rollout; }
PRED(agreement_on, mi) { return analysis_has_agreement(j->cfg, j->cfg->methods[mi]); }
/* The last layer's attention row the agreement compares with: [CLS]'s (encoders) or the
 * explained position's (decoders), each under its own name. */
PRED(agree_cls, mi) { return agreement_on(j, mi) && !j->mc->causal; }
PRED(agree_explained, mi) { return agreement_on(j, mi) && j->mc->causal; }
PRED(faith_on, mi) { return analysis_has_faithfulness(j->cfg, j->cfg->methods[mi]); }
PRED(has_pair, i) { return j->ex->pair != NULL; }
PRED(ig_auto, mi) { return j->cfg->methods[mi] == M_IG && j->cfg->ig.steps == IG_STEPS_AUTO; }
PRED(has_cont, i) { return j->ex->cont_step != NULL; }

/* ---- fill callbacks: example r's rows of column c at dst ---- */

#define ROW_BYTES(c) ((c)->width * schema_type_size((c)->type))

FILL(f_index) { *(int64_t *)dst = r->j->ex->row[r->e]; }
FILL(f_label) { *(int32_t *)dst = r->j->ex->label[r->e]; }
FILL(f_target) { *(int32_t *)dst = r->o->base.target; }
FILL(f_mlm_pos) { *(int32_t *)dst = r->j->ex->mlm_pos[r->e]; }
FILL(f_top_ids) { memcpy(dst, r->o->base.top_ids, ROW_BYTES(c)); }
FILL(f_top_probs) { memcpy(dst, r->o->base.top_probs, ROW_BYTES(c)); }
FILL(f_logits) { memcpy(dst, r->o->base.logits, ROW_BYTES(c)); }
FILL(f_cand_ids) { memcpy(dst, r->j->ex->cand_ids, ROW_BYTES(c)); }
FILL(f_cand_logits) { memcpy(dst, r->o->base.cand_logits, ROW_BYTES(c)); }
/* 1 when the model's prediction (classifier argmax, the candidates' argmax, or the top token at the
 * mask) is the label, 0 when not, -1 without a label (docs/analysis.md §10) */
FILL(f_correct)
{
    int label = r->j->ex->label[r->e];
    *(int8_t *)dst = (int8_t)(label < 0 ? -1 : base_prediction(r->j->ex, &r->o->base) == label);
}

FILL(f_cont_example) { *(int64_t *)dst = r->j->ex->cont_example[r->e]; }
FILL(f_cont_step) { *(int32_t *)dst = r->j->ex->cont_step[r->e]; }
FILL(f_cont_prompt_len) { *(int32_t *)dst = r->j->ex->cont_prompt_len[r->e]; }
FILL(f_cont_prefix_len) { *(int32_t *)dst = r->T; }

FILL(f_ids) { memcpy(dst, r->j->ex->ids + r->j->ex->off[r->e], sizeof(int32_t) * r->T); }
FILL(f_type_ids) { memcpy(dst, r->j->ex->type_ids + r->j->ex->off[r->e], sizeof(int32_t) * r->T); }
/* The tokenizer's own special flags (added tokens marked special in tokenizer.json, or the
 * [CLS]/[SEP]/<s>/</s> a template adds): the one rule for "special" (docs/analysis.md). */
FILL(f_special)
{
    const int *s = r->j->ex->special + r->j->ex->off[r->e];
    int8_t *d = dst;
    for (int t = 0; t < r->T; t++)
        d[t] = s[t] != 0;
}
FILL(f_span) { memcpy(dst, r->j->ex->span + r->j->ex->off[r->e], sizeof(int32_t) * 2 * r->T); }

static const AttrResult *res_of(const SchemaRow *r, const Column *c) { return &r->o->res[c->idx]; }
FILL(f_token_sum) { memcpy(dst, res_of(r, c)->token_sum, sizeof(float) * r->T); }
FILL(f_token_l2) { memcpy(dst, res_of(r, c)->token_l2, sizeof(float) * r->T); }
FILL(f_delta) { memcpy(dst, res_of(r, c)->delta, ROW_BYTES(c)); }
FILL(f_f_input) { *(float *)dst = res_of(r, c)->f_input; }
FILL(f_f_baseline) { *(float *)dst = res_of(r, c)->f_baseline; }
FILL(f_full) { memcpy(dst, res_of(r, c)->full, sizeof(float) * r->T * r->j->mc->D); }
FILL(f_steps_used) { *(int32_t *)dst = res_of(r, c)->steps_used; }
FILL(f_rule_steps) { *(int32_t *)dst = res_of(r, c)->rule_steps; }
FILL(f_error_estimate) { *(float *)dst = res_of(r, c)->error_estimate; }
FILL(f_converged) { *(int8_t *)dst = (int8_t)res_of(r, c)->converged; }

static int64_t n_attn(const SchemaRow *r) { return r->j->ex->aoff[r->e + 1] - r->j->ex->aoff[r->e]; }
FILL(f_attn)
{
    const float *a = r->o->base.attn;
    int64_t na = n_attn(r);
    if (c->type == H5O_F16) {
        uint16_t *d = dst;
        for (int64_t i = 0; i < na; i++)
            d[i] = h5out_f32_to_f16(a[i]);
    } else {
        memcpy(dst, a, sizeof(float) * na);
    }
}

static size_t LH(const SchemaRow *r) { return (size_t)r->j->mc->L * r->j->mc->NH; }
FILL(f_stat) { memcpy(dst, r->o->base.stats + c->idx * LH(r), ROW_BYTES(c)); }
FILL(f_cond_stat) { memcpy(dst, r->o->an.cond_stats + c->idx * LH(r), ROW_BYTES(c)); }
FILL(f_rollout) { memcpy(dst, r->o->base.rollout, sizeof(float) * r->T); }

/* agreement: the four measures in ExampleAnalysis.agree order */
FILL(f_agree0) { *(float *)dst = r->o->an.agree[c->idx][0]; }
FILL(f_agree1) { *(float *)dst = r->o->an.agree[c->idx][1]; }
FILL(f_agree2) { *(float *)dst = r->o->an.agree[c->idx][2]; }
FILL(f_agree3) { *(float *)dst = r->o->an.agree[c->idx][3]; }
FILL(f_comp) { memcpy(dst, r->o->an.faith[c->idx] + FAITH_COMP_10, ROW_BYTES(c)); }
FILL(f_suff) { memcpy(dst, r->o->an.faith[c->idx] + FAITH_SUFF_10, ROW_BYTES(c)); }
FILL(f_aopc_comp) { *(float *)dst = r->o->an.faith[c->idx][FAITH_AOPC_COMP]; }
FILL(f_aopc_suff) { *(float *)dst = r->o->an.faith[c->idx][FAITH_AOPC_SUFF]; }

static const AttrResult *cond_of(const SchemaRow *r) { return &r->o->res[r->j->cond_mi]; }
FILL(f_cond_sum) { memcpy(dst, cond_of(r)->cond_sum, ROW_BYTES(c) * r->T); }
FILL(f_cond_l2) { memcpy(dst, cond_of(r)->cond_l2, ROW_BYTES(c) * r->T); }
FILL(f_cond_attn) { memcpy(dst, cond_of(r)->cond_attn, sizeof(float) * n_attn(r)); }
FILL(f_cond_delta) { memcpy(dst, cond_of(r)->cond_delta, ROW_BYTES(c)); }
FILL(f_cond_f_input) { *(float *)dst = cond_of(r)->f_input; }
FILL(f_cond_f_baseline) { *(float *)dst = cond_of(r)->f_baseline; }
FILL(f_cond_full)
{
    /* (L,T,D) -> token-major [T][L][D] */
    const float *s = cond_of(r)->cond_full;
    int L = r->j->mc->L, D = r->j->mc->D, T = r->T;
    float *d = dst;
    for (int t = 0; t < T; t++)
        for (int l = 0; l < L; l++)
            memcpy(d + ((size_t)t * L + l) * D, s + ((size_t)l * T + t) * D, sizeof(float) * D);
}

/* ---- serial datasets (rank 0): strings and the skipped rows ---- */

static int w_text(const Column *c, const SchemaJob *j, H5Out *h, char *err, size_t errlen)
{
    return h5out_strings(h, c->path, (const char *const *)j->ex->text, j->ex->n, c->doc, err, errlen);
}
static int w_text_pair(const Column *c, const SchemaJob *j, H5Out *h, char *err, size_t errlen)
{
    return h5out_strings(h, c->path, (const char *const *)j->ex->pair, j->ex->n, c->doc, err, errlen);
}
/* One carried corpus field of every example (Examples.kept, example-major). */
static int write_kept(const Column *c, const SchemaJob *j, int k, H5Out *h, char *err, size_t errlen)
{
    const Examples *ex = j->ex;
    const char **v = malloc(sizeof(char *) * (ex->n ? ex->n : 1));
    if (!v) {
        snprintf(err, errlen, "%s: out of memory", c->path);
        return -1;
    }
    for (long i = 0; i < ex->n; i++)
        v[i] = ex->kept[i * ex->n_kept + k];
    int rc = h5out_strings(h, c->path, v, ex->n, c->doc, err, errlen);
    free(v);
    return rc;
}
static int w_id(const Column *c, const SchemaJob *j, H5Out *h, char *err, size_t errlen)
{
    return write_kept(c, j, 0, h, err, errlen);
}
static int w_field(const Column *c, const SchemaJob *j, H5Out *h, char *err, size_t errlen)
{
    return write_kept(c, j, c->idx + (j->cfg->corpus.id_field != NULL), h, err, errlen);
}
static int w_token_text(const Column *c, const SchemaJob *j, H5Out *h, char *err, size_t errlen)
{
    long M = j->ex->off[j->ex->n];
    const char **tt = malloc(sizeof(char *) * (M ? M : 1));
    for (long i = 0; i < M; i++)
        tt[i] = tokenizer_id_to_token(j->tok, j->ex->ids[i]);
    int rc = h5out_strings(h, c->path, tt, M, c->doc, err, errlen);
    free(tt);
    return rc;
}
static int w_skipped_rows(const Column *c, const SchemaJob *j, H5Out *h, char *err, size_t errlen)
{
    uint64_t S = j->ex->nskipped;
    return h5out_dataset(h, c->path, H5O_I64, 1, &S, c->doc, err, errlen) ||
                   h5out_write_rows(h, c->path, 0, S, j->ex->skip_row, err, errlen)
               ? -1
               : 0;
}
static int w_skipped_reasons(const Column *c, const SchemaJob *j, H5Out *h, char *err, size_t errlen)
{
    return h5out_strings(h, c->path, (const char *const *)j->ex->skip_reason, j->ex->nskipped, c->doc, err,
                         errlen);
}

/* ---- attributes beyond the description ---- */

static int a_k_percent(const Column *c, UNUSED const SchemaJob *j, H5Out *h, char *err, size_t errlen)
{
    int64_t k[FAITH_NK];
    for (int q = 0; q < FAITH_NK; q++)
        k[q] = faith_k_percent[q];
    return h5out_attr_int_array(h, c->path, "k_percent", k, FAITH_NK, err, errlen);
}
static int a_epsilon(const Column *c, const SchemaJob *j, H5Out *h, char *err, size_t errlen)
{
    return h5out_attr_double(h, c->path, "epsilon", j->cfg->analysis.sink_epsilon, err, errlen);
}
static int a_names(const Column *c, const SchemaJob *j, H5Out *h, char *err, size_t errlen)
{
    return h5out_attr_str_array(h, c->path, "names", (const char *const *)j->ex->category_names,
                                j->ex->n_categories, err, errlen);
}

/* ---- second-round analysis (docs/analysis.md §6-8): categories, sinks, massive activations ---- */

PRED(has_cat, i) { return j->ex->category != NULL; }
PRED(cat_method, mi) { return has_cat(j, mi) && per_token_method(j, mi); }
PRED(cat_cond, i) { return has_cat(j, i) && has_cond(j, i); }
PRED(massive_on, i) { return j->cfg->analysis.massive; }
PRED(hidden_on, i) { return j->cfg->analysis.save_hidden; }

FILL(f_first) { memcpy(dst, r->o->base.sinks, ROW_BYTES(c)); }
FILL(f_bos) { memcpy(dst, r->o->base.sinks + LH(r), ROW_BYTES(c)); }
FILL(f_sink) { memcpy(dst, r->o->base.sinks + 2 * LH(r), ROW_BYTES(c)); }
FILL(f_category) { memcpy(dst, r->j->ex->category + r->j->ex->off[r->e], sizeof(int16_t) * r->T); }
FILL(f_cat_count) { memcpy(dst, r->o->an.cat_count, ROW_BYTES(c)); }
FILL(f_cat_recv) { memcpy(dst, r->o->base.cat_recv, ROW_BYTES(c)); }
static void copy_or_zero(void *dst, const void *src, size_t n)
{
    if (src)
        memcpy(dst, src, n);
    else
        memset(dst, 0, n);
}
FILL(f_cond_cat) { copy_or_zero(dst, r->o->an.cond_cat, ROW_BYTES(c)); }
FILL(f_cat_mass) { copy_or_zero(dst, r->o->an.cat_mass[c->idx], ROW_BYTES(c)); }
FILL(f_mass_values) { memcpy(dst, r->o->base.mass_values, ROW_BYTES(c)); }
FILL(f_mass_pos) { memcpy(dst, r->o->base.mass_pos, ROW_BYTES(c)); }
FILL(f_mass_dim) { memcpy(dst, r->o->base.mass_dim, ROW_BYTES(c)); }
FILL(f_mass_median) { memcpy(dst, r->o->base.mass_median, ROW_BYTES(c)); }
FILL(f_hidden)
{
    /* (L,T,D) -> token-major [T][L][D] */
    const float *h = r->o->base.hidden;
    int L = r->j->mc->L, D = r->j->mc->D, T = r->T;
    float *d = dst;
    for (int t = 0; t < T; t++)
        for (int l = 0; l < L; l++)
            memcpy(d + ((size_t)t * L + l) * D, h + ((size_t)l * T + t) * D, sizeof(float) * D);
}

/* ---- descriptions that depend on the job ---- */

static const char *doc_target(const SchemaJob *j, UNUSED int i)
{
    return is_mlm(j, i) ? "token id whose probability/logit at the mask position was explained"
                        : "class whose logit/probability was explained";
}

static const char *const STAT_DOCS[ATTN_NSTAT] = {
    "mean over query rows of the attention on [CLS] columns, [example][layer][head]",
    "mean over query rows of the attention on [SEP] columns",
    "mean over query rows of the attention on punctuation columns",
    "mean over query rows of the attention on the diagonal (self)",
    "mean over rows 1..T-1 of the attention on the previous token",
    "mean over rows 0..T-2 of the attention on the next token",
    "mean over query rows of the row's entropy (nats)",
    "mean over query rows of the attention-weighted distance |i-j|"};
static const char *doc_stat(UNUSED const SchemaJob *j, int s) { return STAT_DOCS[s]; }

/* ---- the table (creation order) ---- */

/* Entry constructors: a parallel dataset (DS3: rows of three dimensions); one whose description
 * depends on the job (doc_of); one with more attributes; a serial one written whole by rank 0. */
#define DS(path, kind, type, d1, d2, present, fill, doc) \
    {path, kind, type, d1, d2, D_NONE, present, fill, NULL, doc, NULL, NULL}
#define DS3(path, kind, type, d1, d2, d3, present, fill, doc) \
    {path, kind, type, d1, d2, d3, present, fill, NULL, doc, NULL, NULL}
#define DS_DOCF(path, kind, type, d1, d2, present, fill, doc_of) \
    {path, kind, type, d1, d2, D_NONE, present, fill, NULL, NULL, doc_of, NULL}
#define DS_ATTR(path, kind, type, d1, d2, present, fill, doc, attrs) \
    {path, kind, type, d1, d2, D_NONE, present, fill, NULL, doc, NULL, attrs}
#define SER(path, kind, type, present, write, doc) \
    {path, kind, type, D_NONE, D_NONE, D_NONE, present, NULL, write, doc, NULL, NULL}

static const SchemaEntry EXAMPLES[] = {
    DS("/examples/index", ROW_EXAMPLE, ST_I64, D_NONE, D_NONE, NULL, f_index,
        "0-based data row of the example in the corpus"),
    DS("/examples/label", ROW_EXAMPLE, ST_I32, D_NONE, D_NONE, NULL, f_label,
        "label from the corpus, -1 when none"),
    DS_DOCF("/examples/target", ROW_EXAMPLE, ST_I32, D_NONE, D_NONE, NULL, f_target, doc_target),
    DS("/examples/mlm_position", ROW_EXAMPLE, ST_I32, D_NONE, D_NONE, is_mlm, f_mlm_pos,
        "token position of the first mask"),
    DS("/examples/mlm_top_ids", ROW_EXAMPLE, ST_I32, D_5, D_NONE, is_mlm, f_top_ids,
        "top-5 predicted token ids at the mask"),
    DS("/examples/mlm_top_probs", ROW_EXAMPLE, ST_F32, D_5, D_NONE, is_mlm, f_top_probs,
        "their softmax probabilities"),
    DS("/examples/candidate_ids", ROW_EXAMPLE, ST_I32, D_CAND, D_NONE, has_cand, f_cand_ids,
        "mlm.candidates: the candidates' token ids (the same row for every example)"),
    DS("/examples/candidate_logits", ROW_EXAMPLE, ST_F32, D_CAND, D_NONE, has_cand, f_cand_logits,
        "mlm.candidates: the candidates' logits at the mask, in candidate_ids order"),
    DS("/examples/logits", ROW_EXAMPLE, ST_F32, D_C, D_NONE, not_mlm, f_logits, "classifier logits of the input"),
    DS("/examples/correct", ROW_EXAMPLE, ST_I8, D_NONE, D_NONE, has_labels, f_correct,
        "1 when the prediction (classifier argmax; masked LM: the candidates' argmax, else the top token at "
        "the mask) equals the label, 0 when not, -1 without a label"),
};
static const SchemaEntry TOKENS[] = {
    DS("/tokens/offsets", ROW_OFFSETS, ST_I64, D_NONE, D_NONE, NULL, NULL,
        "example i has tokens [offsets[i], offsets[i+1]) of every per-token dataset"),
    DS("/tokens/ids", ROW_TOKEN, ST_I32, D_NONE, D_NONE, NULL, f_ids, "token ids, special tokens included"),
    DS("/tokens/type_ids", ROW_TOKEN, ST_I32, D_NONE, D_NONE, NULL, f_type_ids, "token type (segment) ids"),
    DS("/tokens/special", ROW_TOKEN, ST_I8, D_NONE, D_NONE, NULL, f_special,
        "1 for the tokenizer's special tokens ([CLS], [SEP], <s>, </s>, ...), else 0"),
    DS("/tokens/char_span", ROW_TOKEN, ST_I32, D_2, D_NONE, NULL, f_span,
        "[start, end) of the token in Unicode code points of its text (pair tokens: of text_pair); "
     "(0,0) for added special tokens"),
};
/* corpus.continuation_field: every example row is one explained continuation token (runner/continuation.h) */
static const SchemaEntry CONTINUATION[] = {
    DS("/continuation/example", ROW_EXAMPLE, ST_I64, D_NONE, D_NONE, has_cont, f_cont_example,
       "which prompt/continuation pair the row explains a token of (0-based, corpus order, skipped rows not "
       "counted)"),
    DS("/continuation/step", ROW_EXAMPLE, ST_I32, D_NONE, D_NONE, has_cont, f_cont_step,
       "j: the row explains continuation token j, at position prompt_len + j of prompt + continuation"),
    DS("/continuation/prompt_len", ROW_EXAMPLE, ST_I32, D_NONE, D_NONE, has_cont, f_cont_prompt_len,
       "tokens of the prompt (specials included)"),
    DS("/continuation/prefix_len", ROW_EXAMPLE, ST_I32, D_NONE, D_NONE, has_cont, f_cont_prefix_len,
       "p = prompt_len + j: the tokens the row's attributions cover (the model ran on them and explained "
       "the logit of the target token at position p-1)"),
};
static const SchemaEntry ATTRIBUTIONS[] = { /* per method */
    DS("/attributions/%s/token_sum", ROW_TOKEN, ST_F32, D_NONE, D_NONE, per_token_method, f_token_sum,
        "attribution summed over the hidden dimension"),
    DS("/attributions/%s/token_l2", ROW_TOKEN, ST_F32, D_NONE, D_NONE, per_token_method, f_token_l2,
        "L2 norm of the attribution over the hidden dimension"),
    DS("/attributions/%s/delta", ROW_EXAMPLE, ST_F32, D_K, D_NONE, has_delta, f_delta,
        "Captum's convergence delta (one per sample/baseline where the method has several)"),
    DS("/attributions/%s/f_input", ROW_EXAMPLE, ST_F32, D_NONE, D_NONE, per_token_method, f_f_input,
        "F(input): the explained output"),
    DS("/attributions/%s/f_baseline", ROW_EXAMPLE, ST_F32, D_NONE, D_NONE, per_token_method, f_f_baseline,
        "F(first baseline)"),
    DS("/attributions/%s/full", ROW_TOKEN, ST_F32, D_D, D_NONE, method_full, f_full,
        "attribution per token and hidden unit"),
    DS("/attributions/%s/steps_used", ROW_EXAMPLE, ST_I32, D_NONE, D_NONE, ig_auto, f_steps_used,
        "ig.steps: auto: gradient evaluations of the example, all the rules it tried"),
    DS("/attributions/%s/rule_steps", ROW_EXAMPLE, ST_I32, D_NONE, D_NONE, ig_auto, f_rule_steps,
        "ig.steps: auto: nodes of the Gauss-Legendre rule whose attributions are stored"),
    DS("/attributions/%s/error_estimate", ROW_EXAMPLE, ST_F32, D_NONE, D_NONE, ig_auto, f_error_estimate,
        "ig.steps: auto: max|a_n - a_m| / max|a_n| between the stored rule n and the one before it, m"),
    DS("/attributions/%s/converged", ROW_EXAMPLE, ST_I8, D_NONE, D_NONE, ig_auto, f_converged,
        "ig.steps: auto: 1 when error_estimate <= ig.tolerance, 0 when ig.max_steps was reached first"),
};
static const SchemaEntry ATTENTION[] = {
    DS("/attention/offsets", ROW_OFFSETS, ST_I64, D_NONE, D_NONE, attn_shaped, NULL,
        "example i has elements [offsets[i], offsets[i+1]) of attention-shaped datasets: "
     "its [L][H][T][T] array flattened"),
    DS("/attention/probs", ROW_ATTN, ST_ATTN, D_NONE, D_NONE, attn_saved, f_attn,
        "attention probabilities [L][H][T][T] per example, flattened"),
};
static const SchemaEntry STATS[] = { /* per attention statistic */
    DS_DOCF("/attention/stats/%s", ROW_EXAMPLE, ST_F32, D_L, D_H, stat_on, f_stat, doc_stat),
};
static const SchemaEntry COND_STATS[] = { /* per attention statistic */
    DS("/conductance/stats/%s", ROW_EXAMPLE, ST_F32, D_L, D_H, cond_stats_on, f_cond_stat,
        "the same statistic of the attention conductance (signed contributions, rows do not "
     "sum to 1), [example][layer][head]"),
};
static const SchemaEntry ROLLOUT[] = {
    DS("/attributions/rollout/token_sum", ROW_TOKEN, ST_F32, D_NONE, D_NONE, rollout_on, f_rollout,
        "attention rollout from [CLS] (Abnar & Zuidema 2020): row 0 of the product of the layers' "
     "row-normalised (mean-over-heads attention + I); sums to 1 per example"),
};
#define SPEARMAN_DOC \
    "Spearman rank correlation of the method's token scores with the reference (specials excluded)"
#define TOP5_DOC "overlap of the top-5 tokens of the method and the reference (specials excluded)"
static const SchemaEntry ANALYSIS[] = { /* per method */
    DS("/agreement/%s/rollout_spearman", ROW_EXAMPLE, ST_F32, D_NONE, D_NONE, agreement_on, f_agree0,
       SPEARMAN_DOC),
    DS("/agreement/%s/rollout_top5", ROW_EXAMPLE, ST_F32, D_NONE, D_NONE, agreement_on, f_agree1, TOP5_DOC),
    DS("/agreement/%s/cls_attention_spearman", ROW_EXAMPLE, ST_F32, D_NONE, D_NONE, agree_cls, f_agree2,
       SPEARMAN_DOC),
    DS("/agreement/%s/cls_attention_top5", ROW_EXAMPLE, ST_F32, D_NONE, D_NONE, agree_cls, f_agree3, TOP5_DOC),
    DS("/agreement/%s/explained_attention_spearman", ROW_EXAMPLE, ST_F32, D_NONE, D_NONE, agree_explained, f_agree2,
       SPEARMAN_DOC),
    DS("/agreement/%s/explained_attention_top5", ROW_EXAMPLE, ST_F32, D_NONE, D_NONE, agree_explained, f_agree3,
       TOP5_DOC),
    DS_ATTR("/faithfulness/%s/comprehensiveness", ROW_EXAMPLE, ST_F32, D_NK, D_NONE, faith_on, f_comp,
        "F(x) - F(x without its top k% tokens), columns k = k_percent", a_k_percent),
    DS_ATTR("/faithfulness/%s/sufficiency", ROW_EXAMPLE, ST_F32, D_NK, D_NONE, faith_on, f_suff,
        "F(x) - F(x with only its top k% tokens), columns k = k_percent", a_k_percent),
    DS("/faithfulness/%s/aopc_comprehensiveness", ROW_EXAMPLE, ST_F32, D_NONE, D_NONE, faith_on, f_aopc_comp,
        "mean of comprehensiveness over the k's"),
    DS("/faithfulness/%s/aopc_sufficiency", ROW_EXAMPLE, ST_F32, D_NONE, D_NONE, faith_on, f_aopc_suff,
        "mean of sufficiency over the k's"),
};
static const SchemaEntry ANALYSIS2[] = {
    DS("/attention/stats/first", ROW_EXAMPLE, ST_F32, D_L, D_H, stats_on, f_first,
       "mean over query rows of the attention on position 0, [example][layer][head]"),
    DS("/attention/stats/bos", ROW_EXAMPLE, ST_F32, D_L, D_H, stats_on, f_bos,
       "mean over query rows of the attention on the BOS token the tokenizer added; NaN without one"),
    DS_ATTR("/attention/stats/sink", ROW_EXAMPLE, ST_F32, D_L, D_H, stats_on, f_sink,
            "Gu et al.'s sink indicator: 1 when the mean attention on key 0 over queries i >= 0 is above "
            "the attribute epsilon, else 0", a_epsilon),
    DS_ATTR("/tokens/category", ROW_TOKEN, ST_I16, D_NONE, D_NONE, has_cat, f_category,
            "token category: index into the attribute names", a_names),
    DS("/examples/category_count", ROW_EXAMPLE, ST_I32, D_CAT, D_NONE, has_cat, f_cat_count,
       "tokens of each category, [example][k]"),
    DS3("/attention/categories/received", ROW_EXAMPLE, ST_F32, D_L, D_H, D_CAT, has_cat, f_cat_recv,
        "attention received by each category's tokens: sum over its keys, mean over queries, "
        "[example][layer][head][k]"),
};
static const SchemaEntry CATEGORY_MASS[] = { /* per method */
    DS("/attributions/%s/category_mass", ROW_EXAMPLE, ST_F32, D_CAT, D_NONE, cat_method, f_cat_mass,
       "sum of |token_sum| over the category's tokens / sum over all tokens, [example][k]"),
};
static const SchemaEntry ANALYSIS3[] = {
    DS3("/conductance/categories/received", ROW_EXAMPLE, ST_F32, D_L, D_H, D_CAT, cat_cond, f_cond_cat,
        "the same sum of the attention conductance, [example][layer][head][k]"),
    DS("/hidden/massive/top_values", ROW_EXAMPLE, ST_F32, D_L, D_3, massive_on, f_mass_values,
       "the 3 largest |hidden state| values of each layer's output, decreasing, [example][layer][3]"),
    DS("/hidden/massive/top_positions", ROW_EXAMPLE, ST_I32, D_L, D_3, massive_on, f_mass_pos,
       "their token positions"),
    DS("/hidden/massive/top_dims", ROW_EXAMPLE, ST_I32, D_L, D_3, massive_on, f_mass_dim, "their hidden dimensions"),
    DS("/hidden/massive/median_abs", ROW_EXAMPLE, ST_F32, D_L, D_NONE, massive_on, f_mass_median,
       "median |hidden state| of each layer's output, [example][layer]"),
    DS("/hidden/states", ROW_TOKEN, ST_F32, D_L, D_D, hidden_on, f_hidden,
       "output hidden states of each encoder layer, [token][layer][D]"),
};
static const SchemaEntry CONDUCTANCE[] = {
    DS("/conductance/hidden/token_sum", ROW_TOKEN, ST_F32, D_L, D_NONE, has_cond, f_cond_sum,
        "LayerConductance of each encoder layer's output, summed over D: [token][layer]"),
    DS("/conductance/hidden/token_l2", ROW_TOKEN, ST_F32, D_L, D_NONE, has_cond, f_cond_l2, "its L2 norm over D"),
    DS("/conductance/attention", ROW_ATTN, ST_F32, D_NONE, D_NONE, cond_attn_saved, f_cond_attn,
        "conductance of the attention probabilities, [L][H][T][T] per example, flattened"),
    DS("/conductance/delta", ROW_EXAMPLE, ST_F32, D_L, D_NONE, has_cond, f_cond_delta,
        "convergence delta per layer"),
    DS("/conductance/f_input", ROW_EXAMPLE, ST_F32, D_NONE, D_NONE, has_cond, f_cond_f_input, "F(input)"),
    DS("/conductance/f_baseline", ROW_EXAMPLE, ST_F32, D_NONE, D_NONE, has_cond, f_cond_f_baseline, "F(baseline)"),
    DS("/conductance/hidden/full", ROW_TOKEN, ST_F32, D_L, D_D, cond_full, f_cond_full,
        "conductance per token, layer and hidden unit"),
};
static const SchemaEntry SERIAL[] = { /* rank 0, after the collective rounds */
    SER("/examples/text", ROW_EXAMPLE, ST_STR, NULL, w_text, "input text"),
    SER("/examples/text_pair", ROW_EXAMPLE, ST_STR, has_pair, w_text_pair, "second segment"),
    SER("/examples/id", ROW_EXAMPLE, ST_STR, has_id, w_id, "corpus.id_field of the example's corpus row"),
    SER("/tokens/text", ROW_TOKEN, ST_STR, NULL, w_token_text, "token strings from the tokenizer's vocabulary"),
    SER("/examples/skipped_rows", ROW_SKIPPED, ST_I64, NULL, w_skipped_rows,
        "corpus data rows skipped by corpus.on_error: skip"),
    SER("/examples/skipped_reasons", ROW_SKIPPED, ST_STR, NULL, w_skipped_reasons,
        "why each skipped row was skipped"),
};

static const SchemaEntry FIELDS[] = { /* per carried corpus field */
    SER("/examples/fields/%s", ROW_EXAMPLE, ST_STR, NULL, w_field,
        "a corpus.keep_fields column of the example's corpus row, as a string"),
};

static const Section TABLE[] = {
    {EACH_ONCE, EXAMPLES, COUNT(EXAMPLES)},     {EACH_ONCE, TOKENS, COUNT(TOKENS)},
    {EACH_ONCE, CONTINUATION, COUNT(CONTINUATION)},
    {EACH_METHOD, ATTRIBUTIONS, COUNT(ATTRIBUTIONS)}, {EACH_ONCE, ATTENTION, COUNT(ATTENTION)},
    {EACH_STAT, STATS, COUNT(STATS)},           {EACH_STAT, COND_STATS, COUNT(COND_STATS)},
    {EACH_ONCE, ROLLOUT, COUNT(ROLLOUT)},       {EACH_METHOD, ANALYSIS, COUNT(ANALYSIS)},
    {EACH_ONCE, ANALYSIS2, COUNT(ANALYSIS2)},   {EACH_METHOD, CATEGORY_MASS, COUNT(CATEGORY_MASS)},
    {EACH_ONCE, ANALYSIS3, COUNT(ANALYSIS3)},
    {EACH_ONCE, CONDUCTANCE, COUNT(CONDUCTANCE)}, {EACH_ONCE, SERIAL, COUNT(SERIAL)},
    {EACH_FIELD, FIELDS, COUNT(FIELDS)},
};

/* ---- instantiation ---- */

size_t schema_type_size(H5OutType t)
{
    return t == H5O_I8 ? 1 : t == H5O_F16 || t == H5O_I16 ? 2 : t == H5O_I64 ? 8 : 4;
}

static uint64_t dim_value(const SchemaJob *j, DimKind d, int idx)
{
    switch (d) {
    case D_NONE: return 0;
    case D_C: return j->mc->C;
    case D_L: return j->mc->L;
    case D_H: return j->mc->NH;
    case D_D: return j->mc->D;
    case D_5: return 5;
    case D_2: return 2;
    case D_NK: return FAITH_NK;
    case D_K: return j->ndelta[idx] > 1 ? j->ndelta[idx] : 0;
    case D_3: return 3;
    case D_CAT: return j->ex->n_categories;
    case D_CAND: return j->ex->n_cand;
    }
    return 0;
}

static void instance(const SchemaJob *j, const SchemaEntry *s, int idx, const char *name, Column *c)
{
    memset(c, 0, sizeof *c);
    c->def = s;
    c->idx = idx;
    snprintf(c->path, sizeof c->path, s->path, name);
    c->kind = s->kind;
    c->type = s->type == ST_I32 ? H5O_I32 : s->type == ST_I64 ? H5O_I64 : s->type == ST_I16 ? H5O_I16
            : s->type == ST_I8 ? H5O_I8
            : s->type == ST_ATTN && j->cfg->attention.float16 ? H5O_F16 : H5O_F32;
    c->inner[0] = dim_value(j, s->d1, idx);
    c->inner[1] = dim_value(j, s->d2, idx);
    c->inner[2] = dim_value(j, s->d3, idx);
    c->rank = 1;
    c->width = 1;
    for (int d = 0; d < 3; d++)
        if (c->inner[d]) {
            c->rank++;
            c->width *= c->inner[d];
        }
    c->doc = s->doc_of ? s->doc_of(j, idx) : s->doc;
    c->serial = s->write != NULL;
    c->dset = -1;
}

int schema_columns(const SchemaJob *j, Column *out)
{
    int n = 0;
    for (int t = 0; t < COUNT(TABLE); t++) {
        const Section *sec = &TABLE[t];
        int reps = sec->each == EACH_METHOD ? j->cfg->n_methods : sec->each == EACH_STAT ? ATTN_NSTAT
                 : sec->each == EACH_FIELD ? j->cfg->corpus.n_keep : 1;
        for (int i = 0; i < reps; i++) { /* instance-major: a method's datasets together */
            int idx = sec->each == EACH_ONCE ? -1 : i;
            const char *name = sec->each == EACH_METHOD ? config_method_name(j->cfg->methods[i])
                             : sec->each == EACH_STAT   ? attn_stat_names[i]
                             : sec->each == EACH_FIELD  ? j->cfg->corpus.keep_fields[i]
                                                        : "";
            for (int k = 0; k < sec->n; k++)
                if ((!sec->e[k].present || sec->e[k].present(j, idx)) && n < SCHEMA_MAX_COLUMNS)
                    instance(j, &sec->e[k], idx, name, &out[n++]);
        }
    }
    return n;
}

void schema_fill(const Column *c, const SchemaRow *r, void *dst)
{
    c->def->fill(r, c, dst);
}

void schema_fill_offsets(const Column *c, const SchemaJob *j, void *dst)
{
    const int64_t *off = !strcmp(c->def->path, "/tokens/offsets") ? j->ex->off : j->ex->aoff;
    memcpy(dst, off, sizeof(int64_t) * (j->ex->n + 1));
}

int schema_write_serial(const Column *c, const SchemaJob *j, H5Out *h, char *err, size_t errlen)
{
    return c->def->write(c, j, h, err, errlen);
}

int schema_write_attrs(const Column *c, const SchemaJob *j, H5Out *h, char *err, size_t errlen)
{
    return c->def->attrs ? c->def->attrs(c, j, h, err, errlen) : 0;
}

/* ---- the table in the notation of docs/hdf5-schema.md ---- */

void schema_describe(void (*f)(const char *path, const char *type_shape, void *arg), void *arg)
{
    static const char *const TYPES[] = {"float32", "int32", "int64", "float32 or float16", "vlen UTF-8", "int16", "int8"};
    static const char *const ROWS[] = {"N", "M", "Σ L·H·T·T", "N+1", "S"};
    static const char *const DIMS[] = {"", "C", "L", "H", "D", "5", "2", "3", "K", "3", "K", "K"};
    for (int t = 0; t < COUNT(TABLE); t++)
        for (int k = 0; k < TABLE[t].n; k++) {
            const SchemaEntry *s = &TABLE[t].e[k];
            char path[160], ts[96];
            snprintf(path, sizeof path, s->path,
                     TABLE[t].each == EACH_METHOD ? "<method>" : TABLE[t].each == EACH_STAT ? "<name>"
                     : TABLE[t].each == EACH_FIELD ? "<field>" : "");
            if (s->d1 == D_K) /* stored without the K axis when K = 1 */
                snprintf(ts, sizeof ts, "%s [%s] or [%s, K]", TYPES[s->type], ROWS[s->kind], ROWS[s->kind]);
            else
                snprintf(ts, sizeof ts, "%s [%s%s%s%s%s%s%s]", TYPES[s->type], ROWS[s->kind], s->d1 ? ", " : "",
                         DIMS[s->d1], s->d2 ? ", " : "", DIMS[s->d2], s->d3 ? ", " : "", DIMS[s->d3]);
            f(path, ts, arg);
        }
}
