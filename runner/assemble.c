/* Assembly of the HDF5 result from the spools (see assemble.h): contiguous
 * example ranges per rank, exact merge + finalize, collective hyperslab writes
 * in rounds of bounded memory, then strings and attributes from rank 0. */
#include "runner/assemble.h"
#include "engine/clock.h"
#include "io/mpi_agree.h"
#include "runner/analysis.h"
#include "runner/diskspace.h"
#include "runner/spool.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define BLOCK_TOKENS 8192             /* tokens per round and rank: bounds the buffers */
#define BLOCK_ATTN (32L << 20)        /* attention elements per round and rank */
#define MAX_COLS 256

typedef enum { ROW_EXAMPLE = 0, ROW_TOKEN, ROW_ATTN, ROW_OFFSETS } RowKind;

typedef struct {
    char path[192];
    RowKind kind;
    H5OutType type;
    int rank;
    uint64_t inner[3];
    size_t width;      /* elements per row */
    const char *doc;
    unsigned char *buf;
    size_t cap;
} Column;

typedef struct {
    const AssembleInput *in;
    int rank, nranks;
    H5Out *h5;
    int ncols;
    Column col[MAX_COLS];
    int ndelta[M_NUM_METHODS]; /* per method of the job (index into cfg->methods) */
    double write_s, bytes;
} Ctx;

static size_t esize(H5OutType t)
{
    return t == H5O_F16 || t == H5O_I16 ? 2 : t == H5O_I64 ? 8 : 4;
}

/* ---- columns ---- */

/* A column of rows of d1 x d2 x d3 elements (0 = no such dimension). */
static Column *col_add3(Ctx *x, const char *path, RowKind kind, H5OutType type, uint64_t d1, uint64_t d2,
                        uint64_t d3, const char *doc)
{
    Column *c = &x->col[x->ncols++];
    memset(c, 0, sizeof *c);
    snprintf(c->path, sizeof c->path, "%s", path);
    c->kind = kind;
    c->type = type;
    c->rank = 1 + (d1 > 0) + (d2 > 0) + (d3 > 0);
    c->inner[0] = d1;
    c->inner[1] = d2;
    c->inner[2] = d3;
    c->width = (d1 ? d1 : 1) * (d2 ? d2 : 1) * (d3 ? d3 : 1);
    c->doc = doc;
    return c;
}

static Column *col_add(Ctx *x, const char *path, RowKind kind, H5OutType type, uint64_t d1, uint64_t d2,
                       const char *doc)
{
    return col_add3(x, path, kind, type, d1, d2, 0, doc);
}

static Column *col_find(Ctx *x, const char *path)
{
    for (int i = 0; i < x->ncols; i++)
        if (!strcmp(x->col[i].path, path))
            return &x->col[i];
    return NULL;
}

static uint64_t col_rows_total(const Ctx *x, const Column *c)
{
    const Examples *ex = x->in->ex;
    switch (c->kind) {
    case ROW_EXAMPLE: return ex->n;
    case ROW_TOKEN: return ex->off[ex->n];
    case ROW_ATTN: return ex->aoff[ex->n];
    case ROW_OFFSETS: return ex->n + 1;
    }
    return 0;
}

/* Pointer to local row r of the current block. */
static void *col_row(Column *c, uint64_t r)
{
    return c->buf + r * c->width * esize(c->type);
}

static void method_group(const Ctx *x, int mi, char *g, size_t n)
{
    snprintf(g, n, "/attributions/%s", config_method_name(x->in->cfg->methods[mi]));
}

static const char *const AGREE_NAMES[4] = {"rollout_spearman", "rollout_top5", "cls_attention_spearman",
                                           "cls_attention_top5"};
static const char *const STAT_DOCS[ATTN_NSTAT] = {
    "mean over query rows of the attention on [CLS] columns, [example][layer][head]",
    "mean over query rows of the attention on [SEP] columns",
    "mean over query rows of the attention on punctuation columns",
    "mean over query rows of the attention on the diagonal (self)",
    "mean over rows 1..T-1 of the attention on the previous token",
    "mean over rows 0..T-2 of the attention on the next token",
    "mean over query rows of the row's entropy (nats)",
    "mean over query rows of the attention-weighted distance |i-j|"};

static void define_analysis2_columns(Ctx *x);
static int write_analysis2_attrs(Ctx *x, char *err, size_t errlen);

/* The analysis datasets (docs/analysis.md): statistics, rollout, agreement, faithfulness. */
static void define_analysis_columns(Ctx *x)
{
    const RunConfig *cfg = x->in->cfg;
    const ModelConfig *mc = &x->in->model->cfg;
    char p[192];
    if (cfg->analysis.stats)
        for (int s = 0; s < ATTN_NSTAT; s++) {
            snprintf(p, sizeof p, "/attention/stats/%s", attn_stat_names[s]);
            col_add(x, p, ROW_EXAMPLE, H5O_F32, mc->L, mc->NH, STAT_DOCS[s]);
        }
    if (analysis_has_cond_stats(cfg))
        for (int s = 0; s < ATTN_NSTAT; s++)
            if (analysis_cond_stat_applies(s)) {
                snprintf(p, sizeof p, "/conductance/stats/%s", attn_stat_names[s]);
                col_add(x, p, ROW_EXAMPLE, H5O_F32, mc->L, mc->NH,
                        "the same statistic of the attention conductance (signed contributions, rows do not "
                        "sum to 1), [example][layer][head]");
            }
    if (cfg->analysis.rollout)
        col_add(x, "/attributions/rollout/token_sum", ROW_TOKEN, H5O_F32, 0, 0,
                "attention rollout from [CLS] (Abnar & Zuidema 2020): row 0 of the product of the layers' "
                "row-normalised (mean-over-heads attention + I); sums to 1 per example");
    for (int mi = 0; mi < cfg->n_methods; mi++) {
        const char *m = config_method_name(cfg->methods[mi]);
        if (analysis_has_agreement(cfg, cfg->methods[mi]))
            for (int k = 0; k < 4; k++) {
                snprintf(p, sizeof p, "/agreement/%s/%s", m, AGREE_NAMES[k]);
                col_add(x, p, ROW_EXAMPLE, H5O_F32, 0, 0,
                        k % 2 == 0 ? "Spearman rank correlation of the method's token scores with the reference "
                                     "(specials excluded)"
                                   : "overlap of the top-5 tokens of the method and the reference (specials "
                                     "excluded)");
            }
        if (analysis_has_faithfulness(cfg, cfg->methods[mi])) {
            snprintf(p, sizeof p, "/faithfulness/%s/comprehensiveness", m);
            col_add(x, p, ROW_EXAMPLE, H5O_F32, FAITH_NK, 0,
                    "F(x) - F(x without its top k% tokens), columns k = k_percent");
            snprintf(p, sizeof p, "/faithfulness/%s/sufficiency", m);
            col_add(x, p, ROW_EXAMPLE, H5O_F32, FAITH_NK, 0,
                    "F(x) - F(x with only its top k% tokens), columns k = k_percent");
            snprintf(p, sizeof p, "/faithfulness/%s/aopc_comprehensiveness", m);
            col_add(x, p, ROW_EXAMPLE, H5O_F32, 0, 0, "mean of comprehensiveness over the k's");
            snprintf(p, sizeof p, "/faithfulness/%s/aopc_sufficiency", m);
            col_add(x, p, ROW_EXAMPLE, H5O_F32, 0, 0, "mean of sufficiency over the k's");
        }
    }
}

/* Collective: attributes of the analysis groups and datasets (after create_datasets). */
static int write_analysis_attrs(Ctx *x, char *err, size_t errlen)
{
    const RunConfig *cfg = x->in->cfg;
    const ModelConfig *mc = &x->in->model->cfg;
    static const char *const groups[] = {"/attention", "/conductance"};
    for (int g = 0; g < 2; g++) {
        int exists = 0;
        for (int i = 0; i < x->ncols; i++)
            exists |= !strncmp(x->col[i].path, groups[g], strlen(groups[g])) &&
                      x->col[i].path[strlen(groups[g])] == '/';
        if (exists && (h5out_attr_int(x->h5, groups[g], "num_layers", mc->L, err, errlen) ||
                       h5out_attr_int(x->h5, groups[g], "num_heads", mc->NH, err, errlen)))
            return -1;
    }
    int64_t k[FAITH_NK];
    for (int q = 0; q < FAITH_NK; q++)
        k[q] = faith_k_percent[q];
    for (int mi = 0; mi < cfg->n_methods; mi++) {
        if (!analysis_has_faithfulness(cfg, cfg->methods[mi]))
            continue;
        char p[192];
        const char *m = config_method_name(cfg->methods[mi]);
        snprintf(p, sizeof p, "/faithfulness/%s/comprehensiveness", m);
        if (h5out_attr_int_array(x->h5, p, "k_percent", k, FAITH_NK, err, errlen))
            return -1;
        snprintf(p, sizeof p, "/faithfulness/%s/sufficiency", m);
        if (h5out_attr_int_array(x->h5, p, "k_percent", k, FAITH_NK, err, errlen))
            return -1;
    }
    return 0;
}

/* Every dataset of the schema (docs/hdf5-schema.md). Collective: same list on every rank. */
static void define_columns(Ctx *x)
{
    const RunConfig *cfg = x->in->cfg;
    const ModelConfig *mc = &x->in->model->cfg;
    int mlm = mc->head == HEAD_MLM;
    x->ncols = 0;
    col_add(x, "/examples/index", ROW_EXAMPLE, H5O_I64, 0, 0, "0-based data row of the example in the corpus");
    col_add(x, "/examples/label", ROW_EXAMPLE, H5O_I32, 0, 0, "label from the corpus, -1 when none");
    col_add(x, "/examples/target", ROW_EXAMPLE, H5O_I32, 0, 0,
            mlm ? "token id whose probability/logit at the mask position was explained"
                : "class whose logit/probability was explained");
    if (mlm) {
        col_add(x, "/examples/mlm_position", ROW_EXAMPLE, H5O_I32, 0, 0, "token position of the first mask");
        col_add(x, "/examples/mlm_top_ids", ROW_EXAMPLE, H5O_I32, 5, 0, "top-5 predicted token ids at the mask");
        col_add(x, "/examples/mlm_top_probs", ROW_EXAMPLE, H5O_F32, 5, 0, "their softmax probabilities");
    } else {
        col_add(x, "/examples/logits", ROW_EXAMPLE, H5O_F32, mc->C, 0, "classifier logits of the input");
    }
    col_add(x, "/tokens/offsets", ROW_OFFSETS, H5O_I64, 0, 0,
            "example i has tokens [offsets[i], offsets[i+1]) of every per-token dataset");
    col_add(x, "/tokens/ids", ROW_TOKEN, H5O_I32, 0, 0, "token ids, special tokens included");
    col_add(x, "/tokens/type_ids", ROW_TOKEN, H5O_I32, 0, 0, "token type (segment) ids");
    col_add(x, "/tokens/char_span", ROW_TOKEN, H5O_I32, 2, 0,
            "[start, end) of the token in Unicode code points of its text (pair tokens: of text_pair); "
            "(0,0) for added special tokens");
    int cond = 0;
    for (int mi = 0; mi < cfg->n_methods; mi++) {
        char g[128], p[192];
        if (cfg->methods[mi] == M_CONDUCTANCE) {
            cond = 1;
            continue;
        }
        method_group(x, mi, g, sizeof g);
        snprintf(p, sizeof p, "%s/token_sum", g);
        col_add(x, p, ROW_TOKEN, H5O_F32, 0, 0, "attribution summed over the hidden dimension");
        snprintf(p, sizeof p, "%s/token_l2", g);
        col_add(x, p, ROW_TOKEN, H5O_F32, 0, 0, "L2 norm of the attribution over the hidden dimension");
        if (x->ndelta[mi] > 0) {
            snprintf(p, sizeof p, "%s/delta", g);
            col_add(x, p, ROW_EXAMPLE, H5O_F32, x->ndelta[mi] > 1 ? x->ndelta[mi] : 0, 0,
                    "Captum's convergence delta (one per sample/baseline where the method has several)");
        }
        snprintf(p, sizeof p, "%s/f_input", g);
        col_add(x, p, ROW_EXAMPLE, H5O_F32, 0, 0, "F(input): the explained output");
        snprintf(p, sizeof p, "%s/f_baseline", g);
        col_add(x, p, ROW_EXAMPLE, H5O_F32, 0, 0, "F(first baseline)");
        if (cfg->save_full) {
            snprintf(p, sizeof p, "%s/full", g);
            col_add(x, p, ROW_TOKEN, H5O_F32, mc->D, 0, "attribution per token and hidden unit");
        }
    }
    if (cfg->attention.save || cond)
        col_add(x, "/attention/offsets", ROW_OFFSETS, H5O_I64, 0, 0,
                "example i has elements [offsets[i], offsets[i+1]) of attention-shaped datasets: "
                "its [L][H][T][T] array flattened");
    if (cfg->attention.save)
        col_add(x, "/attention/probs", ROW_ATTN, cfg->attention.float16 ? H5O_F16 : H5O_F32, 0, 0,
                "attention probabilities [L][H][T][T] per example, flattened");
    define_analysis_columns(x);
    define_analysis2_columns(x);
    if (cond) {
        col_add(x, "/conductance/hidden/token_sum", ROW_TOKEN, H5O_F32, mc->L, 0,
                "LayerConductance of each encoder layer's output, summed over D: [token][layer]");
        col_add(x, "/conductance/hidden/token_l2", ROW_TOKEN, H5O_F32, mc->L, 0, "its L2 norm over D");
        col_add(x, "/conductance/attention", ROW_ATTN, H5O_F32, 0, 0,
                "conductance of the attention probabilities, [L][H][T][T] per example, flattened");
        col_add(x, "/conductance/delta", ROW_EXAMPLE, H5O_F32, mc->L, 0, "convergence delta per layer");
        col_add(x, "/conductance/f_input", ROW_EXAMPLE, H5O_F32, 0, 0, "F(input)");
        col_add(x, "/conductance/f_baseline", ROW_EXAMPLE, H5O_F32, 0, 0, "F(baseline)");
        if (cfg->save_full)
            col_add(x, "/conductance/hidden/full", ROW_TOKEN, H5O_F32, mc->L, mc->D,
                    "conductance per token, layer and hidden unit");
    }
}

static int create_datasets(Ctx *x, char *err, size_t errlen)
{
    double t = clock_now();
    for (int i = 0; i < x->ncols; i++) {
        Column *c = &x->col[i];
        uint64_t dims[4] = {col_rows_total(x, c), c->inner[0], c->inner[1], c->inner[2]};
        if (h5out_dataset(x->h5, c->path, c->type, c->rank, dims, c->doc, err, errlen))
            return -1;
    }
    if (write_analysis_attrs(x, err, errlen) || write_analysis2_attrs(x, err, errlen))
        return -1;
    x->write_s += clock_now() - t;
    return 0;
}

/* Rank 0: reserves the result's size bound before the collective phase (diskspace.h):
 * every dataset's raw bytes plus the strings rank 0 adds serially afterwards. */
static int reserve_space(const Ctx *x, char *err, size_t errlen)
{
    const Examples *ex = x->in->ex;
    double raw = 0;
    for (int i = 0; i < x->ncols; i++)
        raw += (double)col_rows_total(x, &x->col[i]) * x->col[i].width * esize(x->col[i].type);
    /* variable-length strings: the text, a 16-byte reference and a heap entry header each */
    long M = ex->off[ex->n];
    for (long t = 0; t < M; t++)
        raw += strlen(tokenizer_id_to_token(x->in->tok, ex->ids[t])) + 32;
    for (long i = 0; i < ex->n; i++)
        raw += (ex->text ? strlen(ex->text[i]) : 0) + (ex->pair ? strlen(ex->pair[i]) + 32 : 0) + 32;
    for (long i = 0; i < ex->nskipped; i++)
        raw += strlen(ex->skip_reason[i]) + 40;
    raw += strlen(x->in->config_yaml) + 4096; /* root attributes */
    return diskspace_reserve(x->in->spool_dir, diskspace_bound(raw, x->ncols + 6), err, errlen);
}

/* ---- one block of examples ---- */

typedef struct {
    BaseResult base;
    AttrResult *res;      /* (n_methods) */
    ExampleAnalysis an;   /* agreement, faithfulness, conductance statistics */
} ExResult;

static int merge_method(Ctx *x, SpoolIndex *idx, long e, int mi, AttrResult *r, char *err, size_t errlen,
                        int target)
{
    const AssembleInput *in = x->in;
    const MethodSpec *sp = &in->specs[mi];
    int n = method_items(sp);
    long k = spool_find(idx, (int)e, (int)sp->kind);
    Partial *acc = NULL;
    int have = 0;
    for (; k >= 0 && k < idx->n && idx->r[k].example == e && idx->r[k].method == (int)sp->kind; k++) {
        void *buf = spool_read(idx, &idx->r[k], err, errlen);
        if (!buf)
            goto fail;
        Partial *p = partial_unpack(buf, idx->r[k].bytes);
        free(buf);
        if (!p) {
            snprintf(err, errlen, "%s: a spooled partial of example %ld (%s) cannot be unpacked", in->spool_dir,
                     e, config_method_name(sp->kind));
            goto fail;
        }
        have += idx->r[k].i1 - idx->r[k].i0;
        if (!acc) {
            acc = p;
        } else {
            int m = partial_merge(acc, p);
            partial_free(p);
            if (m) {
                snprintf(err, errlen, "%s: spooled partials of example %ld (%s) do not fit together",
                         in->spool_dir, e, config_method_name(sp->kind));
                goto fail;
            }
        }
    }
    if (have != n) {
        snprintf(err, errlen, "%s: example %ld (%s) has %d of its %d items in the spools", in->spool_dir, e,
                 config_method_name(sp->kind), have, n);
        goto fail;
    }
    Example xe;
    examples_view(in->ex, e, &xe);
    xe.target = target;
    const char *why = NULL;
    if (method_finalize(in->eng, sp, &xe, acc, r, &why)) {
        snprintf(err, errlen, "example %ld (corpus row %ld), %s: %s", e, in->ex->row[e],
                 config_method_name(sp->kind), why ? why : "finalize failed");
        goto fail;
    }
    partial_free(acc);
    return 0;
fail:
    if (acc)
        partial_free(acc);
    return -1;
}

static int compute_block(Ctx *x, SpoolIndex *idx, long b0, long b1, ExResult *out, char *err, size_t errlen)
{
    const AssembleInput *in = x->in;
    int nm = in->cfg->n_methods;
    for (long e = b0; e < b1; e++) {
        ExResult *o = &out[e - b0];
        o->res = calloc(nm, sizeof(AttrResult));
        long k = spool_find(idx, (int)e, SPOOL_BASE);
        if (k < 0) {
            snprintf(err, errlen, "%s: the base forward of example %ld is missing from the spools", in->spool_dir,
                     e);
            return -1;
        }
        void *buf = spool_read(idx, &idx->r[k], err, errlen);
        if (!buf)
            return -1;
        int bad = base_unpack(buf, idx->r[k].bytes, &o->base);
        free(buf);
        if (bad) {
            snprintf(err, errlen, "%s: the spooled base result of example %ld is malformed", in->spool_dir, e);
            return -1;
        }
        for (int mi = 0; mi < nm; mi++)
            if (merge_method(x, idx, e, mi, &o->res[mi], err, errlen, o->base.target))
                return -1;
        if (analysis_example(in->cfg, in->eng, in->ex, e, &o->base, o->res, &o->an, err, errlen))
            return -1;
    }
    return 0;
}

static void free_block(ExResult *r, long n, int nm)
{
    for (long i = 0; i < n; i++) {
        base_free(&r[i].base);
        analysis_example_free(&r[i].an);
        if (r[i].res)
            for (int mi = 0; mi < nm; mi++)
                attr_result_free(&r[i].res[mi]);
        free(r[i].res);
    }
}

static void put_f(Column *c, uint64_t r, const float *v)
{
    if (c)
        memcpy(col_row(c, r), v, c->width * sizeof(float));
}

/* Second-round analysis datasets (docs/analysis.md §6-8): token categories and what is
 * computed per category, first/BOS/sink statistics, massive activations. */
static void define_analysis2_columns(Ctx *x)
{
    const RunConfig *cfg = x->in->cfg;
    const ModelConfig *mc = &x->in->model->cfg;
    const Examples *ex = x->in->ex;
    int K = ex->n_categories;
    char p[192];
    if (cfg->analysis.stats) {
        col_add(x, "/attention/stats/first", ROW_EXAMPLE, H5O_F32, mc->L, mc->NH,
                "mean over query rows of the attention on position 0, [example][layer][head]");
        col_add(x, "/attention/stats/bos", ROW_EXAMPLE, H5O_F32, mc->L, mc->NH,
                "mean over query rows of the attention on the BOS token the tokenizer added; NaN without one");
        col_add(x, "/attention/stats/sink", ROW_EXAMPLE, H5O_F32, mc->L, mc->NH,
                "Gu et al.'s sink indicator: 1 when the mean attention on key 0 over queries i >= 0 is above "
                "the attribute epsilon, else 0");
    }
    if (ex->category) {
        col_add(x, "/tokens/category", ROW_TOKEN, H5O_I16, 0, 0, "token category: index into the attribute names");
        col_add(x, "/examples/category_count", ROW_EXAMPLE, H5O_I32, K, 0, "tokens of each category, [example][k]");
        col_add3(x, "/attention/categories/received", ROW_EXAMPLE, H5O_F32, mc->L, mc->NH, K,
                 "attention received by each category's tokens: sum over its keys, mean over queries, "
                 "[example][layer][head][k]");
        for (int mi = 0; mi < cfg->n_methods; mi++) {
            if (cfg->methods[mi] == M_CONDUCTANCE) {
                col_add3(x, "/conductance/categories/received", ROW_EXAMPLE, H5O_F32, mc->L, mc->NH, K,
                         "the same sum of the attention conductance, [example][layer][head][k]");
                continue;
            }
            snprintf(p, sizeof p, "/attributions/%s/category_mass", config_method_name(cfg->methods[mi]));
            col_add(x, p, ROW_EXAMPLE, H5O_F32, K, 0,
                    "sum of |token_sum| over the category's tokens / sum over all tokens, [example][k]");
        }
    }
    if (cfg->analysis.massive) {
        col_add(x, "/hidden/massive/top_values", ROW_EXAMPLE, H5O_F32, mc->L, 3,
                "the 3 largest |hidden state| values of each layer's output, decreasing, [example][layer][3]");
        col_add(x, "/hidden/massive/top_positions", ROW_EXAMPLE, H5O_I32, mc->L, 3, "their token positions");
        col_add(x, "/hidden/massive/top_dims", ROW_EXAMPLE, H5O_I32, mc->L, 3, "their hidden dimensions");
        col_add(x, "/hidden/massive/median_abs", ROW_EXAMPLE, H5O_F32, mc->L, 0,
                "median |hidden state| of each layer's output, [example][layer]");
    }
    if (cfg->analysis.save_hidden)
        col_add(x, "/hidden/states", ROW_TOKEN, H5O_F32, mc->L, mc->D,
                "output hidden states of each encoder layer, [token][layer][D]");
}

/* Collective: the attributes of define_analysis2_columns' datasets. */
static int write_analysis2_attrs(Ctx *x, char *err, size_t errlen)
{
    const Examples *ex = x->in->ex;
    if (x->in->cfg->analysis.stats &&
        h5out_attr_double(x->h5, "/attention/stats/sink", "epsilon", x->in->cfg->analysis.sink_epsilon, err, errlen))
        return -1;
    if (ex->category && h5out_attr_str_array(x->h5, "/tokens/category", "names",
                                             (const char *const *)ex->category_names, ex->n_categories, err, errlen))
        return -1;
    return 0;
}

/* Checks that a spooled second-round part has n values where `want` are expected. */
static int spooled(long e, const char *what, long n, long want, char *err, size_t errlen)
{
    if (n == want)
        return 0;
    snprintf(err, errlen, "example %ld: spooled %s have %ld values, expected %ld", e, what, n, want);
    return -1;
}

/* Example e's rows of define_analysis2_columns' datasets (local example row r, token row tr). */
static int fill_analysis2_rows(Ctx *x, long e, const ExResult *o, uint64_t r, uint64_t tr, char *err,
                               size_t errlen)
{
    const RunConfig *cfg = x->in->cfg;
    const ModelConfig *mc = &x->in->model->cfg;
    const Examples *ex = x->in->ex;
    const BaseResult *b = &o->base;
    int T = (int)(ex->off[e + 1] - ex->off[e]), L = mc->L, LH = L * mc->NH, K = ex->n_categories;
    if (cfg->analysis.stats) {
        if (spooled(e, "sink statistics", b->n_sink, 3L * LH, err, errlen))
            return -1;
        put_f(col_find(x, "/attention/stats/first"), r, b->sinks);
        put_f(col_find(x, "/attention/stats/bos"), r, b->sinks + LH);
        put_f(col_find(x, "/attention/stats/sink"), r, b->sinks + 2 * LH);
    }
    if (ex->category) {
        if (spooled(e, "category attentions", b->n_cat, (long)LH * K, err, errlen))
            return -1;
        memcpy(col_row(col_find(x, "/tokens/category"), tr), ex->category + ex->off[e], sizeof(int16_t) * T);
        memcpy(col_row(col_find(x, "/examples/category_count"), r), o->an.cat_count, sizeof(int32_t) * K);
        put_f(col_find(x, "/attention/categories/received"), r, b->cat_recv);
        if (o->an.cond_cat)
            put_f(col_find(x, "/conductance/categories/received"), r, o->an.cond_cat);
        for (int mi = 0; mi < cfg->n_methods; mi++)
            if (o->an.cat_mass[mi]) {
                char p[192];
                snprintf(p, sizeof p, "/attributions/%s/category_mass", config_method_name(cfg->methods[mi]));
                put_f(col_find(x, p), r, o->an.cat_mass[mi]);
            }
    }
    if (cfg->analysis.massive) {
        if (spooled(e, "massive activations", b->n_massive, L, err, errlen))
            return -1;
        put_f(col_find(x, "/hidden/massive/top_values"), r, b->mass_values);
        memcpy(col_row(col_find(x, "/hidden/massive/top_positions"), r), b->mass_pos, sizeof(int32_t) * 3 * L);
        memcpy(col_row(col_find(x, "/hidden/massive/top_dims"), r), b->mass_dim, sizeof(int32_t) * 3 * L);
        put_f(col_find(x, "/hidden/massive/median_abs"), r, b->mass_median);
    }
    if (cfg->analysis.save_hidden) {
        if (spooled(e, "hidden states", (long)b->n_hidden, (long)L * T * mc->D, err, errlen))
            return -1;
        float *dst = col_row(col_find(x, "/hidden/states"), tr); /* [t][l][d] from the forward's (l,t,d) */
        for (int t = 0; t < T; t++)
            for (int l = 0; l < L; l++)
                memcpy(dst + ((size_t)t * L + l) * mc->D, b->hidden + ((size_t)l * T + t) * mc->D,
                       sizeof(float) * mc->D);
    }
    return 0;
}

/* Example e's rows of the analysis datasets: local example row r, local token row tr. */
static int fill_analysis_rows(Ctx *x, long e, const ExResult *o, uint64_t r, uint64_t tr, char *err, size_t errlen)
{
    const RunConfig *cfg = x->in->cfg;
    const ModelConfig *mc = &x->in->model->cfg;
    const Examples *ex = x->in->ex;
    int T = (int)(ex->off[e + 1] - ex->off[e]), LH = mc->L * mc->NH;
    char p[192];
    if (cfg->analysis.stats) {
        if (o->base.n_stats != ATTN_NSTAT * LH) {
            snprintf(err, errlen, "example %ld: spooled attention statistics have %d values, expected %d", e,
                     o->base.n_stats, ATTN_NSTAT * LH);
            return -1;
        }
        for (int s = 0; s < ATTN_NSTAT; s++) {
            snprintf(p, sizeof p, "/attention/stats/%s", attn_stat_names[s]);
            put_f(col_find(x, p), r, o->base.stats + (size_t)s * LH);
            snprintf(p, sizeof p, "/conductance/stats/%s", attn_stat_names[s]);
            Column *c = col_find(x, p);
            if (c)
                put_f(c, r, o->an.cond_stats + (size_t)s * LH);
        }
    }
    if (cfg->analysis.rollout) {
        if (o->base.n_roll != T) {
            snprintf(err, errlen, "example %ld: spooled rollout has %d values, expected %d", e, o->base.n_roll, T);
            return -1;
        }
        memcpy(col_row(col_find(x, "/attributions/rollout/token_sum"), tr), o->base.rollout, sizeof(float) * T);
    }
    for (int mi = 0; mi < cfg->n_methods; mi++) {
        const char *m = config_method_name(cfg->methods[mi]);
        if (analysis_has_agreement(cfg, cfg->methods[mi]))
            for (int k = 0; k < 4; k++) {
                snprintf(p, sizeof p, "/agreement/%s/%s", m, AGREE_NAMES[k]);
                *(float *)col_row(col_find(x, p), r) = o->an.agree[mi][k];
            }
        if (analysis_has_faithfulness(cfg, cfg->methods[mi])) {
            const float *f = o->an.faith[mi];
            snprintf(p, sizeof p, "/faithfulness/%s/comprehensiveness", m);
            put_f(col_find(x, p), r, f + FAITH_COMP_10);
            snprintf(p, sizeof p, "/faithfulness/%s/sufficiency", m);
            put_f(col_find(x, p), r, f + FAITH_SUFF_10);
            snprintf(p, sizeof p, "/faithfulness/%s/aopc_comprehensiveness", m);
            *(float *)col_row(col_find(x, p), r) = f[FAITH_AOPC_COMP];
            snprintf(p, sizeof p, "/faithfulness/%s/aopc_sufficiency", m);
            *(float *)col_row(col_find(x, p), r) = f[FAITH_AOPC_SUFF];
        }
    }
    return 0;
}

static int fill_rows(Ctx *x, long b0, long b1, ExResult *res, int first_round, char *err, size_t errlen)
{
    const AssembleInput *in = x->in;
    const Examples *ex = in->ex;
    const RunConfig *cfg = in->cfg;
    const ModelConfig *mc = &in->model->cfg;
    int64_t t0 = ex->off[b0], a0 = ex->aoff[b0];
    for (int i = 0; i < x->ncols; i++) {
        Column *c = &x->col[i];
        uint64_t rows = c->kind == ROW_EXAMPLE ? (uint64_t)(b1 - b0)
                      : c->kind == ROW_TOKEN   ? (uint64_t)(ex->off[b1] - t0)
                      : c->kind == ROW_ATTN    ? (uint64_t)(ex->aoff[b1] - a0)
                      : (first_round && x->rank == 0) ? (uint64_t)ex->n + 1 : 0;
        size_t need = rows * c->width * esize(c->type);
        if (need > c->cap) {
            free(c->buf);
            c->buf = malloc(need);
            c->cap = need;
        }
    }
    if (first_round && x->rank == 0) {
        memcpy(col_find(x, "/tokens/offsets")->buf, ex->off, sizeof(int64_t) * (ex->n + 1));
        Column *ao = col_find(x, "/attention/offsets");
        if (ao)
            memcpy(ao->buf, ex->aoff, sizeof(int64_t) * (ex->n + 1));
    }
    Column *c_index = col_find(x, "/examples/index"), *c_label = col_find(x, "/examples/label"),
           *c_target = col_find(x, "/examples/target"), *c_logits = col_find(x, "/examples/logits"),
           *c_mpos = col_find(x, "/examples/mlm_position"), *c_tids = col_find(x, "/examples/mlm_top_ids"),
           *c_tpr = col_find(x, "/examples/mlm_top_probs"), *c_ids = col_find(x, "/tokens/ids"),
           *c_types = col_find(x, "/tokens/type_ids"), *c_span = col_find(x, "/tokens/char_span"),
           *c_attn = col_find(x, "/attention/probs");
    for (long e = b0; e < b1; e++) {
        ExResult *o = &res[e - b0];
        uint64_t r = e - b0, tr = ex->off[e] - t0, ar = ex->aoff[e] - a0;
        int T = (int)(ex->off[e + 1] - ex->off[e]);
        *(int64_t *)col_row(c_index, r) = ex->row[e];
        *(int32_t *)col_row(c_label, r) = ex->label[e];
        *(int32_t *)col_row(c_target, r) = o->base.target;
        if (c_logits) {
            if (o->base.mlm || o->base.C != mc->C) {
                snprintf(err, errlen, "example %ld: spooled logits have %d classes, the model %d", e, o->base.C,
                         mc->C);
                return -1;
            }
            put_f(c_logits, r, o->base.logits);
        } else {
            *(int32_t *)col_row(c_mpos, r) = ex->mlm_pos[e];
            memcpy(col_row(c_tids, r), o->base.top_ids, sizeof o->base.top_ids);
            memcpy(col_row(c_tpr, r), o->base.top_probs, sizeof o->base.top_probs);
        }
        memcpy(col_row(c_ids, tr), ex->ids + ex->off[e], sizeof(int) * T);
        memcpy(col_row(c_types, tr), ex->type_ids + ex->off[e], sizeof(int) * T);
        memcpy(col_row(c_span, tr), ex->span + ex->off[e], sizeof(int) * 2 * T);
        if (c_attn) {
            int64_t na = ex->aoff[e + 1] - ex->aoff[e];
            if (o->base.n_attn != na) {
                snprintf(err, errlen, "example %ld: spooled attention has %lld values, expected %lld", e,
                         (long long)o->base.n_attn, (long long)na);
                return -1;
            }
            if (c_attn->type == H5O_F16) {
                uint16_t *d = col_row(c_attn, ar);
                for (int64_t i = 0; i < na; i++)
                    d[i] = h5out_f32_to_f16(o->base.attn[i]);
            } else {
                memcpy(col_row(c_attn, ar), o->base.attn, sizeof(float) * na);
            }
        }
        if (fill_analysis_rows(x, e, o, r, tr, err, errlen) || fill_analysis2_rows(x, e, o, r, tr, err, errlen))
            return -1;
        for (int mi = 0; mi < cfg->n_methods; mi++) {
            AttrResult *a = &o->res[mi];
            char g[128], p[192];
            if (cfg->methods[mi] == M_CONDUCTANCE) {
                int L = mc->L, D = mc->D;
                if (a->L != L || !a->cond_sum || !a->cond_l2 || !a->cond_attn || !a->cond_delta) {
                    snprintf(err, errlen, "example %ld: conductance result is incomplete", e);
                    return -1;
                }
                memcpy(col_row(col_find(x, "/conductance/hidden/token_sum"), tr), a->cond_sum,
                       sizeof(float) * T * L);
                memcpy(col_row(col_find(x, "/conductance/hidden/token_l2"), tr), a->cond_l2,
                       sizeof(float) * T * L);
                memcpy(col_row(col_find(x, "/conductance/attention"), ar), a->cond_attn,
                       sizeof(float) * (ex->aoff[e + 1] - ex->aoff[e]));
                put_f(col_find(x, "/conductance/delta"), r, a->cond_delta);
                *(float *)col_row(col_find(x, "/conductance/f_input"), r) = a->f_input;
                *(float *)col_row(col_find(x, "/conductance/f_baseline"), r) = a->f_baseline;
                Column *cf = col_find(x, "/conductance/hidden/full");
                if (cf) { /* (L,T,D) -> token-major [T][L][D] */
                    float *d = col_row(cf, tr);
                    for (int t = 0; t < T; t++)
                        for (int l = 0; l < L; l++)
                            memcpy(d + ((size_t)t * L + l) * D, a->cond_full + ((size_t)l * T + t) * D,
                                   sizeof(float) * D);
                }
                continue;
            }
            method_group(x, mi, g, sizeof g);
            if (a->T != T) {
                snprintf(err, errlen, "example %ld, %s: result has %d tokens, expected %d", e, g, a->T, T);
                return -1;
            }
            snprintf(p, sizeof p, "%s/token_sum", g);
            memcpy(col_row(col_find(x, p), tr), a->token_sum, sizeof(float) * T);
            snprintf(p, sizeof p, "%s/token_l2", g);
            memcpy(col_row(col_find(x, p), tr), a->token_l2, sizeof(float) * T);
            snprintf(p, sizeof p, "%s/f_input", g);
            *(float *)col_row(col_find(x, p), r) = a->f_input;
            snprintf(p, sizeof p, "%s/f_baseline", g);
            *(float *)col_row(col_find(x, p), r) = a->f_baseline;
            if (x->ndelta[mi] != a->n_delta) {
                snprintf(err, errlen, "example %ld, %s: %d deltas where other examples have %d", e, g, a->n_delta,
                         x->ndelta[mi]);
                return -1;
            }
            if (a->n_delta) {
                snprintf(p, sizeof p, "%s/delta", g);
                put_f(col_find(x, p), r, a->delta);
            }
            if (cfg->save_full) {
                snprintf(p, sizeof p, "%s/full", g);
                memcpy(col_row(col_find(x, p), tr), a->full, sizeof(float) * T * mc->D);
            }
        }
    }
    return 0;
}

/* Collective: every column's rows of this block (empty blocks write nothing but take part). */
static int write_block(Ctx *x, long b0, long b1, int first_round, char *err, size_t errlen)
{
    const Examples *ex = x->in->ex;
    double t = clock_now();
    for (int i = 0; i < x->ncols; i++) {
        Column *c = &x->col[i];
        uint64_t row0, rows;
        switch (c->kind) {
        case ROW_EXAMPLE: row0 = b0; rows = b1 - b0; break;
        case ROW_TOKEN: row0 = ex->off[b0]; rows = ex->off[b1] - ex->off[b0]; break;
        case ROW_ATTN: row0 = ex->aoff[b0]; rows = ex->aoff[b1] - ex->aoff[b0]; break;
        default: row0 = 0; rows = (first_round && x->rank == 0) ? ex->n + 1 : 0; break;
        }
        if (h5out_write_rows(x->h5, c->path, row0, rows, rows ? c->buf : NULL, err, errlen))
            return -1;
        x->bytes += (double)rows * c->width * esize(c->type);
    }
    x->write_s += clock_now() - t;
    return 0;
}

/* ---- provenance ---- */

int write_root_attrs(H5Out *h, const AssembleInput *in, int nranks, const char *end_time, int complete,
                     char *err, size_t errlen)
{
    const RunConfig *cfg = in->cfg;
    char methods[256] = "";
    for (int i = 0; i < cfg->n_methods; i++)
        snprintf(methods + strlen(methods), sizeof methods - strlen(methods), "%s%s", i ? "," : "",
                 config_method_name(cfg->methods[i]));
    if (h5out_attr_str(h, "/", "format", "attrun/1", err, errlen) ||
        h5out_attr_str(h, "/", "attrun_version", ATTRUN_VERSION, err, errlen) ||
        h5out_attr_str(h, "/", "attrun_git", ATTRUN_GIT, err, errlen) ||
        h5out_attr_str(h, "/", "model", cfg->model, err, errlen) ||
        h5out_attr_str(h, "/", "model_type", in->model->cfg.model_type, err, errlen) ||
        h5out_attr_str(h, "/", "weights_sha256", in->weights_sha256, err, errlen) ||
        h5out_attr_str(h, "/", "corpus", cfg->corpus.path, err, errlen) ||
        h5out_attr_str(h, "/", "methods", methods, err, errlen) ||
        h5out_attr_str(h, "/", "precision", cfg->precision ? "bf16" : "fp32", err, errlen) ||
        h5out_attr_str(h, "/", "config", in->config_yaml, err, errlen) ||
        h5out_attr_int(h, "/", "ranks", nranks, err, errlen) ||
        h5out_attr_int(h, "/", "n_examples", in->ex->n, err, errlen) ||
        h5out_attr_int(h, "/", "n_tokens", in->ex->off[in->ex->n], err, errlen) ||
        h5out_attr_int(h, "/", "n_truncated", in->ex->n_truncated, err, errlen) ||
        h5out_attr_int(h, "/", "n_skipped", in->ex->nskipped, err, errlen) ||
        h5out_attr_str(h, "/", "start_time", in->start_time, err, errlen) ||
        (end_time && h5out_attr_str(h, "/", "end_time", end_time, err, errlen)) ||
        h5out_attr_int(h, "/", "complete", complete, err, errlen))
        return -1;
    return 0;
}

void iso_time_now(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Rank 0, serial: strings, skipped rows, attributes, then complete = 1 last. */
static int finish_serial(const AssembleInput *in, int nranks, char *err, size_t errlen)
{
    const Examples *ex = in->ex;
    H5Out *h = h5out_open_serial(in->cfg->out, 0, err, errlen);
    if (!h)
        return -1;
    long M = ex->off[ex->n];
    const char **tt = malloc(sizeof(char *) * (M ? M : 1));
    for (long i = 0; i < M; i++)
        tt[i] = tokenizer_id_to_token(in->tok, ex->ids[i]);
    uint64_t S = ex->nskipped;
    char end[64];
    iso_time_now(end, sizeof end);
    int rc = h5out_strings(h, "/examples/text", (const char *const *)ex->text, ex->n, "input text", err, errlen) ||
             (ex->pair && h5out_strings(h, "/examples/text_pair", (const char *const *)ex->pair, ex->n,
                                        "second segment", err, errlen)) ||
             h5out_strings(h, "/tokens/text", tt, M, "token strings from the tokenizer's vocabulary", err,
                           errlen) ||
             h5out_dataset(h, "/examples/skipped_rows", H5O_I64, 1, &S,
                           "corpus data rows skipped by corpus.on_error: skip", err, errlen) ||
             h5out_write_rows(h, "/examples/skipped_rows", 0, S, ex->skip_row, err, errlen) ||
             h5out_strings(h, "/examples/skipped_reasons", (const char *const *)ex->skip_reason, S,
                           "why each skipped row was skipped", err, errlen) ||
             write_root_attrs(h, in, nranks, end, 0, err, errlen)
                 ? -1
                 : 0;
    free(tt);
    /* `complete` = 1 only once everything else is on disk: HDF5 writes its cache in its own
     * order, so setting the flag before a flush that fails (disk full) could leave a file
     * that says complete = 1 without its data. After this flush the flag is overwritten in
     * place (h5out_attr_int), and the close writes nothing but that one object header. */
    if (!rc)
        rc = h5out_flush(h, err, errlen) || h5out_attr_int(h, "/", "complete", 1, err, errlen) ? -1 : 0;
    char cerr[1024];
    if (h5out_close(h, cerr, sizeof cerr) && !rc) {
        snprintf(err, errlen, "%s", cerr);
        /* The close failed after the flag was set. Its flush writes only the flag's object
         * header, so a failed flush most likely left 0 on disk; but close(2) itself can fail
         * (NFS) after the flag reached the file. A failed close must not leave a file that
         * claims to be complete: remove it (the spools are kept; --resume rebuilds it). */
        if (remove(in->cfg->out) == 0)
            snprintf(err + strlen(err), errlen - strlen(err), "; removed %s, which cannot be trusted",
                     in->cfg->out);
        rc = -1;
    }
    return rc;
}

int assemble(const AssembleInput *in, AssembleStats *st, char *err, size_t errlen)
{
    double t_start = clock_now();
    Ctx *x = calloc(1, sizeof *x);
    x->in = in;
    MPI_Comm_rank(in->comm, &x->rank);
    MPI_Comm_size(in->comm, &x->nranks);
    const Examples *ex = in->ex;
    int nm = in->cfg->n_methods;
    memset(st, 0, sizeof *st);
    char myerr[1024] = "";

    SpoolIndex idx;
    int ok = spool_scan(in->spool_dir, &idx, myerr, sizeof myerr) == 0;
    if (mpi_agree(in->comm, ok, myerr, sizeof myerr)) {
        snprintf(err, errlen, "%s", myerr);
        if (ok)
            spool_index_free(&idx);
        free(x);
        return -1;
    }
    /* My examples: a contiguous range with about M / ranks tokens. */
    long M = ex->off[ex->n];
    long e0 = 0, e1 = 0;
    {
        long lo_t = (long)((double)M * x->rank / x->nranks), hi_t = (long)((double)M * (x->rank + 1) / x->nranks);
        while (e0 < ex->n && ex->off[e0] < lo_t)
            e0++;
        e1 = e0;
        while (e1 < ex->n && ex->off[e1] < hi_t)
            e1++;
        if (x->rank == x->nranks - 1)
            e1 = ex->n;
    }
    /* Blocks of bounded size. */
    long nblk = 0, cap = 0, *blk = NULL; /* block starts, plus e1 */
    for (long e = e0; e < e1;) {
        long b = e;
        int64_t tok = 0, att = 0;
        while (e < e1 && (e == b || (tok + (ex->off[e + 1] - ex->off[e]) <= BLOCK_TOKENS &&
                                     att + (ex->aoff[e + 1] - ex->aoff[e]) <= BLOCK_ATTN))) {
            tok += ex->off[e + 1] - ex->off[e];
            att += ex->aoff[e + 1] - ex->aoff[e];
            e++;
        }
        if (nblk + 2 > cap)
            blk = realloc(blk, sizeof(long) * (cap = cap ? cap * 2 : 16));
        blk[nblk++] = b;
    }
    if (!blk)
        blk = malloc(sizeof(long) * 2);
    blk[nblk] = e1;
    long nrounds;
    MPI_Allreduce(&nblk, &nrounds, 1, MPI_LONG, MPI_MAX, in->comm);
    if (nrounds < 1)
        nrounds = 1;

    int rc = 0;
    for (long round = 0; round < nrounds; round++) {
        long b0 = round < nblk ? blk[round] : e1, b1 = round < nblk ? blk[round + 1] : e1;
        ExResult *res = calloc(b1 - b0 + 1, sizeof(ExResult));
        ok = compute_block(x, &idx, b0, b1, res, myerr, sizeof myerr) == 0;
        if (round == 0) {
            /* deltas per method: every example of a method has the same count; agree on it */
            int mine[M_NUM_METHODS], all[M_NUM_METHODS];
            for (int mi = 0; mi < nm; mi++)
                mine[mi] = ok && b1 > b0 ? res[0].res[mi].n_delta : 0;
            MPI_Allreduce(mine, all, nm, MPI_INT, MPI_MAX, in->comm);
            memcpy(x->ndelta, all, sizeof(int) * nm);
            /* a failure agreed on here leaves ok = 0 on every rank: nobody fills rows */
            if (mpi_agree(in->comm, ok, myerr, sizeof myerr)) {
                ok = 0;
            } else {
                /* the space first: a full disk inside HDF5's collective flush hangs (diskspace.h) */
                define_columns(x);
                ok = x->rank != 0 || reserve_space(x, myerr, sizeof myerr) == 0;
                if (mpi_agree(in->comm, ok, myerr, sizeof myerr)) {
                    ok = 0;
                } else {
                    if (x->rank == 0)
                        diskspace_release(in->spool_dir);
                    double t = clock_now();
                    x->h5 = h5out_create_parallel(in->cfg->out, in->comm, myerr, sizeof myerr);
                    ok = x->h5 != NULL;
                    x->write_s += clock_now() - t;
                    if (mpi_agree(in->comm, ok, myerr, sizeof myerr)) {
                        ok = 0;
                    } else {
                        ok = create_datasets(x, myerr, sizeof myerr) == 0;
                        if (mpi_agree(in->comm, ok, myerr, sizeof myerr))
                            ok = 0;
                    }
                }
            }
        }
        if (ok)
            ok = fill_rows(x, b0, b1, res, round == 0, myerr, sizeof myerr) == 0;
        free_block(res, b1 - b0, nm);
        free(res);
        if (mpi_agree(in->comm, ok, myerr, sizeof myerr)) {
            rc = -1;
            break;
        }
        ok = write_block(x, b0, b1, round == 0, myerr, sizeof myerr) == 0;
        if (mpi_agree(in->comm, ok, myerr, sizeof myerr)) {
            rc = -1;
            break;
        }
    }
    free(blk);
    spool_index_free(&idx);
    if (x->h5) {
        double t = clock_now();
        char cerr[512];
        if (h5out_close(x->h5, cerr, sizeof cerr) && !rc) {
            rc = -1;
            snprintf(myerr, sizeof myerr, "%s", cerr);
        }
        x->write_s += clock_now() - t;
    }
    for (int i = 0; i < x->ncols; i++)
        free(x->col[i].buf);
    if (rc) {
        snprintf(err, errlen, "%s", myerr);
        free(x);
        return -1;
    }
    /* Rank 0 finishes the file serially. */
    double t = clock_now();
    ok = 1;
    if (x->rank == 0)
        ok = finish_serial(in, x->nranks, myerr, sizeof myerr) == 0;
    double serial_s = clock_now() - t;
    if (mpi_agree(in->comm, ok, myerr, sizeof myerr)) {
        snprintf(err, errlen, "%s", myerr);
        free(x);
        return -1;
    }
    double mine[2] = {clock_now() - t_start, x->write_s + (x->rank == 0 ? serial_s : 0)}, mx[2];
    MPI_Allreduce(mine, mx, 2, MPI_DOUBLE, MPI_MAX, in->comm);
    MPI_Allreduce(&x->bytes, &st->bytes, 1, MPI_DOUBLE, MPI_SUM, in->comm);
    st->seconds = mx[0];
    st->write_seconds = mx[1];
    struct stat sb;
    if (x->rank == 0 && stat(in->cfg->out, &sb) == 0)
        st->file_bytes = sb.st_size;
    free(x);
    return 0;
}
