/* Assembly of the HDF5 result from the spools (see assemble.h): contiguous
 * example ranges per rank, exact merge + finalize, collective hyperslab writes
 * in rounds of bounded memory, then strings and attributes from rank 0. Which
 * datasets exist, their shapes and how an example fills them is the schema
 * table's business (runner/schema.c); this file only moves rows. */
#include "runner/assemble.h"
#include "runner/analysis.h"
#include "runner/diskspace.h"
#include "runner/ig_auto.h"
#include "runner/schema.h"
#include "runner/spool.h"
#include "engine/clock.h"
#include "io/mpi_agree.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define BLOCK_TOKENS 8192             /* tokens per round and rank: bounds the buffers */
#define BLOCK_ATTN (32L << 20)        /* attention elements per round and rank */

typedef struct {
    const AssembleInput *in;
    int rank, nranks;
    H5Out *h5;
    SchemaJob job;
    int ncols;
    Column col[SCHEMA_MAX_COLUMNS];
    int ndelta[M_NUM_METHODS]; /* per method of the job (index into cfg->methods) */
    double write_s, bytes;
} Ctx;

/* ---- rows: [first, first + count) of column c for examples [b0, b1) ---- */

static void block_rows(const Ctx *x, const Column *c, long b0, long b1, int first_round, uint64_t *first,
                       uint64_t *count)
{
    const Examples *ex = x->in->ex;
    switch (c->kind) {
    case ROW_EXAMPLE: *first = b0; *count = b1 - b0; return;
    case ROW_TOKEN: *first = ex->off[b0]; *count = ex->off[b1] - ex->off[b0]; return;
    case ROW_ATTN: *first = ex->aoff[b0]; *count = ex->aoff[b1] - ex->aoff[b0]; return;
    case ROW_OFFSETS: *first = 0; *count = (first_round && x->rank == 0) ? ex->n + 1 : 0; return;
    case ROW_SKIPPED: *first = 0; *count = ex->nskipped; return;
    }
}

static size_t row_bytes(const Column *c)
{
    return c->width * schema_type_size(c->type);
}

/* ---- the file: opened (it was created at the job's start), datasets created from the schema ---- */

/* Collective: num_layers / num_heads on the /attention and /conductance groups when they exist. */
static int write_group_attrs(Ctx *x, char *err, size_t errlen)
{
    const ModelConfig *mc = &x->in->model->cfg;
    static const char *const groups[] = {"/attention", "/conductance"};
    for (int g = 0; g < 2; g++) {
        size_t n = strlen(groups[g]);
        int exists = 0;
        for (int i = 0; i < x->ncols; i++)
            exists |= !x->col[i].serial && !strncmp(x->col[i].path, groups[g], n) && x->col[i].path[n] == '/';
        if (exists && (h5out_attr_int(x->h5, groups[g], "num_layers", mc->L, err, errlen) ||
                       h5out_attr_int(x->h5, groups[g], "num_heads", mc->NH, err, errlen)))
            return -1;
    }
    return 0;
}

/* Rank 0: reserves the result's size bound before the collective phase (diskspace.h):
 * every parallel dataset's raw bytes plus the strings rank 0 adds serially afterwards. */
static int reserve_space(const Ctx *x, char *err, size_t errlen)
{
    const Examples *ex = x->in->ex;
    double raw = 0;
    int nparallel = 0;
    for (int i = 0; i < x->ncols; i++) {
        const Column *c = &x->col[i];
        uint64_t first, total;
        if (c->serial)
            continue;
        block_rows(x, c, 0, ex->n, 1, &first, &total);
        raw += (double)total * row_bytes(c);
        nparallel++;
    }
    /* variable-length strings: the text, a 16-byte reference and a heap entry header each */
    long M = ex->off[ex->n];
    for (long t = 0; t < M; t++)
        raw += strlen(tokenizer_id_to_token(x->in->tok, ex->ids[t])) + 32;
    for (long i = 0; i < ex->n; i++)
        raw += (ex->text ? strlen(ex->text[i]) : 0) + (ex->pair ? strlen(ex->pair[i]) + 32 : 0) + 32;
    for (long i = 0; i < ex->nskipped; i++)
        raw += strlen(ex->skip_reason[i]) + 40;
    for (long i = 0; ex->kept && i < ex->n * ex->n_kept; i++) /* corpus.id_field, corpus.keep_fields */
        raw += strlen(ex->kept[i]) + 32;
    raw += strlen(x->in->config_yaml) + 4096; /* root attributes */
    return diskspace_reserve(x->in->spool_dir, diskspace_bound(raw, nparallel + 6), err, errlen);
}

/* Collective: the file the job created at its start, and every parallel dataset of the schema. */
static int open_and_create(Ctx *x, char *err, size_t errlen)
{
    const Examples *ex = x->in->ex;
    double t = clock_now();
    x->h5 = h5out_open_parallel(x->in->cfg->out, x->in->comm, err, errlen);
    if (!x->h5)
        return -1;
    int rc = 0;
    for (int i = 0; i < x->ncols && !rc; i++) {
        Column *c = &x->col[i];
        if (c->serial)
            continue;
        uint64_t first, total;
        block_rows(x, c, 0, ex->n, 1, &first, &total);
        uint64_t dims[4] = {c->kind == ROW_OFFSETS ? (uint64_t)ex->n + 1 : total, c->inner[0], c->inner[1],
                            c->inner[2]};
        rc = h5out_dataset(x->h5, c->path, c->type, c->rank, dims, c->doc, err, errlen) ||
             schema_write_attrs(c, &x->job, x->h5, err, errlen);
        c->dset = h5out_handle(x->h5, c->path);
    }
    if (!rc)
        rc = write_group_attrs(x, err, errlen);
    x->write_s += clock_now() - t;
    return rc;
}

/* ---- one block of examples: merge the spooled partials, finalize, analyse ---- */

/* Adaptive IG: the level ig_auto_decide reports, from the example's levels in the spools. */
static int merge_ig_auto(Ctx *x, SpoolIndex *idx, long e, int mi, AttrResult *r, char *err, size_t errlen,
                         int target)
{
    const AssembleInput *in = x->in;
    const MethodSpec *sp = &in->specs[mi];
    Example xe;
    examples_view(in->ex, e, &xe);
    xe.target = target;
    Partial *lv[IG_AUTO_MAX_LEVELS];
    int have, level = -1;
    if (ig_auto_merge_levels(idx, e, sp, in->model, xe.T, lv, &have, err, errlen))
        return -1;
    double est[IG_AUTO_MAX_LEVELS];
    const char *why = NULL;
    int rc = ig_auto_decide(in->model, sp, &xe, lv, have, &level, est, &why);
    if (rc == 1)
        snprintf(err, errlen, "%s: example %ld (ig, steps auto) is unfinished in the spools (%d levels)",
                 in->spool_dir, e, have);
    else if (rc == 0 && ig_auto_finalize(in->eng, sp, &xe, lv, level, est[level], r, &why))
        rc = -1;
    if (rc < 0)
        snprintf(err, errlen, "example %ld (corpus row %ld), ig: %s", e, in->ex->row[e], why ? why : "failed");
    ig_auto_free_levels(lv, sp);
    return rc ? -1 : 0;
}

static int merge_method(Ctx *x, SpoolIndex *idx, long e, int mi, AttrResult *r, char *err, size_t errlen,
                        int target)
{
    const AssembleInput *in = x->in;
    const MethodSpec *sp = &in->specs[mi];
    if (ig_auto_method(in->cfg, in->specs, mi))
        return merge_ig_auto(x, idx, e, mi, r, err, errlen, target);
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

static int spooled(long e, const char *what, long n, long want, char *err, size_t errlen)
{
    snprintf(err, errlen, "example %ld: spooled %s have %ld values, expected %ld", e, what, n, want);
    return -1;
}

/* Example e's results have the sizes the datasets were created with (spools of another
 * configuration or a damaged spool would otherwise write out of bounds). */
static int check_example(const Ctx *x, long e, const ExResult *o, char *err, size_t errlen)
{
    const RunConfig *cfg = x->in->cfg;
    const ModelConfig *mc = &x->in->model->cfg;
    const Examples *ex = x->in->ex;
    int T = (int)(ex->off[e + 1] - ex->off[e]), LH = mc->L * mc->NH;
    int64_t na = ex->aoff[e + 1] - ex->aoff[e];
    if (mc->head != HEAD_MLM && (o->base.mlm || o->base.C != mc->C))
        return snprintf(err, errlen, "example %ld: spooled logits have %d classes, the model %d", e, o->base.C,
                        mc->C), -1;
    if (cfg->attention.save && o->base.n_attn != na)
        return snprintf(err, errlen, "example %ld: spooled attention has %lld values, expected %lld", e,
                        (long long)o->base.n_attn, (long long)na), -1;
    if (cfg->analysis.stats && o->base.n_stats != ATTN_NSTAT * LH)
        return snprintf(err, errlen, "example %ld: spooled attention statistics have %d values, expected %d", e,
                        o->base.n_stats, ATTN_NSTAT * LH), -1;
    if (cfg->analysis.rollout && o->base.n_roll != T)
        return snprintf(err, errlen, "example %ld: spooled rollout has %d values, expected %d", e, o->base.n_roll,
                        T), -1;
    if (cfg->analysis.stats && o->base.n_sink != 3 * LH)
        return spooled(e, "sink statistics", o->base.n_sink, 3L * LH, err, errlen);
    if (ex->category && o->base.n_cat != (long)LH * ex->n_categories)
        return spooled(e, "category attentions", o->base.n_cat, (long)LH * ex->n_categories, err, errlen);
    if (cfg->analysis.massive && o->base.n_massive != mc->L)
        return spooled(e, "massive activations", o->base.n_massive, mc->L, err, errlen);
    if (cfg->analysis.save_hidden && (long)o->base.n_hidden != (long)mc->L * T * mc->D)
        return spooled(e, "hidden states", (long)o->base.n_hidden, (long)mc->L * T * mc->D, err, errlen);
    if (cfg->attention.norm_weighted) {
        if ((long)o->base.n_vnorm != (long)LH * T)
            return spooled(e, "value norms", (long)o->base.n_vnorm, (long)LH * T, err, errlen);
        if (cfg->analysis.stats && o->base.n_nw_stats != (ATTN_NSTAT + 3) * LH)
            return spooled(e, "norm-weighted statistics", o->base.n_nw_stats, (long)(ATTN_NSTAT + 3) * LH, err,
                           errlen);
        if (ex->category && o->base.n_nw_cat != (long)LH * ex->n_categories)
            return spooled(e, "norm-weighted category attentions", o->base.n_nw_cat, (long)LH * ex->n_categories,
                           err, errlen);
    }
    for (int mi = 0; mi < cfg->n_methods; mi++) {
        const AttrResult *a = &o->res[mi];
        const char *m = config_method_name(cfg->methods[mi]);
        if (cfg->methods[mi] == M_CONDUCTANCE) {
            if (a->L != mc->L || !a->cond_sum || !a->cond_l2 || !a->cond_attn || !a->cond_delta ||
                (cfg->save_full && !a->cond_full))
                return snprintf(err, errlen, "example %ld: conductance result is incomplete", e), -1;
            continue;
        }
        if (a->T != T)
            return snprintf(err, errlen, "example %ld, /attributions/%s: result has %d tokens, expected %d", e, m,
                            a->T, T), -1;
        if (x->ndelta[mi] != a->n_delta)
            return snprintf(err, errlen, "example %ld, /attributions/%s: %d deltas where other examples have %d",
                            e, m, a->n_delta, x->ndelta[mi]), -1;
    }
    return 0;
}

/* This rank's rows of every parallel column for examples [b0, b1), into the columns' buffers. */
static int fill_rows(Ctx *x, long b0, long b1, const ExResult *res, int first_round, char *err, size_t errlen)
{
    const Examples *ex = x->in->ex;
    for (int i = 0; i < x->ncols; i++) {
        Column *c = &x->col[i];
        uint64_t first, rows;
        block_rows(x, c, b0, b1, first_round, &first, &rows);
        size_t need = c->serial ? 0 : rows * row_bytes(c);
        if (need > c->cap) {
            free(c->buf);
            c->buf = malloc(need);
            c->cap = need;
        }
        if (c->kind == ROW_OFFSETS && rows)
            schema_fill_offsets(c, &x->job, c->buf);
    }
    for (long e = b0; e < b1; e++) {
        const ExResult *o = &res[e - b0];
        if (check_example(x, e, o, err, errlen))
            return -1;
        SchemaRow r = {&x->job, e, (int)(ex->off[e + 1] - ex->off[e]), o};
        for (int i = 0; i < x->ncols; i++) {
            Column *c = &x->col[i];
            if (c->serial || c->kind == ROW_OFFSETS)
                continue;
            uint64_t mine, block, n; /* the example's first row, and the block's */
            block_rows(x, c, e, e + 1, 0, &mine, &n);
            block_rows(x, c, b0, b1, 0, &block, &n);
            schema_fill(c, &r, c->buf + (mine - block) * row_bytes(c));
        }
    }
    return 0;
}

/* Collective: every column's rows of this block (empty blocks write nothing but take part). */
static int write_block(Ctx *x, long b0, long b1, int first_round, char *err, size_t errlen)
{
    double t = clock_now();
    for (int i = 0; i < x->ncols; i++) {
        Column *c = &x->col[i];
        if (c->serial)
            continue;
        uint64_t row0, rows;
        block_rows(x, c, b0, b1, first_round, &row0, &rows);
        if (h5out_write_rows_at(x->h5, c->dset, row0, rows, rows ? c->buf : NULL, err, errlen))
            return -1;
        x->bytes += (double)rows * row_bytes(c);
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
        h5out_attr_str(h, "/", "precision", config_precision_name(cfg->precision), err, errlen) ||
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
static int finish_serial(Ctx *x, char *err, size_t errlen)
{
    const AssembleInput *in = x->in;
    H5Out *h = h5out_open_serial(in->cfg->out, 0, err, errlen);
    if (!h)
        return -1;
    char end[64];
    iso_time_now(end, sizeof end);
    int rc = 0;
    for (int i = 0; i < x->ncols && !rc; i++)
        if (x->col[i].serial)
            rc = schema_write_serial(&x->col[i], &x->job, h, err, errlen);
    if (!rc)
        rc = write_root_attrs(h, in, x->nranks, end, 0, err, errlen);
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

/* This rank's examples: a contiguous range [*e0, *e1) with about M / ranks tokens, cut into
 * blocks of bounded size. Returns the block starts (nblk of them, then *e1). */
static long *plan_blocks(const Ctx *x, long *e0, long *e1, long *nblk)
{
    const Examples *ex = x->in->ex;
    long M = ex->off[ex->n];
    long lo_t = (long)((double)M * x->rank / x->nranks), hi_t = (long)((double)M * (x->rank + 1) / x->nranks);
    long a = 0, b;
    while (a < ex->n && ex->off[a] < lo_t)
        a++;
    b = a;
    while (b < ex->n && ex->off[b] < hi_t)
        b++;
    if (x->rank == x->nranks - 1)
        b = ex->n;
    long n = 0, cap = 16, *blk = malloc(sizeof(long) * cap);
    for (long e = a; e < b;) {
        long s = e;
        int64_t tok = 0, att = 0;
        while (e < b && (e == s || (tok + (ex->off[e + 1] - ex->off[e]) <= BLOCK_TOKENS &&
                                    att + (ex->aoff[e + 1] - ex->aoff[e]) <= BLOCK_ATTN))) {
            tok += ex->off[e + 1] - ex->off[e];
            att += ex->aoff[e + 1] - ex->aoff[e];
            e++;
        }
        if (n + 2 > cap)
            blk = realloc(blk, sizeof(long) * (cap *= 2));
        blk[n++] = s;
    }
    blk[n] = b;
    *e0 = a;
    *e1 = b;
    *nblk = n;
    return blk;
}

/* Round 0 (collective): the deltas per method (every example of a method has the same count,
 * agreed between ranks: a rank without examples has none to look at), then the file. */
static int first_round(Ctx *x, const ExResult *res, long nex, int ok, char *err, size_t errlen)
{
    int nm = x->in->cfg->n_methods, mine[M_NUM_METHODS];
    for (int mi = 0; mi < nm; mi++)
        mine[mi] = ok && nex > 0 ? res[0].res[mi].n_delta : 0;
    MPI_Allreduce(mine, x->ndelta, nm, MPI_INT, MPI_MAX, x->in->comm);
    /* a failure agreed on here leaves every rank failed: nobody fills rows */
    if (mpi_agree(x->in->comm, ok, err, errlen))
        return -1;
    x->ncols = schema_columns(&x->job, x->col);
    /* the space first: a full disk inside HDF5's collective flush hangs (diskspace.h) */
    ok = x->rank != 0 || reserve_space(x, err, errlen) == 0;
    if (mpi_agree(x->in->comm, ok, err, errlen))
        return -1;
    if (x->rank == 0)
        diskspace_release(x->in->spool_dir);
    ok = open_and_create(x, err, errlen) == 0;
    return mpi_agree(x->in->comm, ok, err, errlen);
}

/* Collective: every round merges, fills and writes one block per rank (ranks with fewer
 * blocks take part with empty ones). Returns 0 or -1 with err, on every rank alike. */
static int rounds(Ctx *x, SpoolIndex *idx, char *err, size_t errlen)
{
    long e0, e1, nblk, nrounds;
    long *blk = plan_blocks(x, &e0, &e1, &nblk);
    MPI_Allreduce(&nblk, &nrounds, 1, MPI_LONG, MPI_MAX, x->in->comm);
    if (nrounds < 1)
        nrounds = 1;
    int nm = x->in->cfg->n_methods, rc = 0;
    for (long round = 0; round < nrounds && !rc; round++) {
        long b0 = round < nblk ? blk[round] : e1, b1 = round < nblk ? blk[round + 1] : e1;
        ExResult *res = calloc(b1 - b0 + 1, sizeof(ExResult));
        int ok = compute_block(x, idx, b0, b1, res, err, errlen) == 0;
        if (round == 0 && first_round(x, res, b1 - b0, ok, err, errlen))
            ok = 0, rc = -1;
        if (ok)
            ok = fill_rows(x, b0, b1, res, round == 0, err, errlen) == 0;
        free_block(res, b1 - b0, nm);
        free(res);
        if (!rc && mpi_agree(x->in->comm, ok, err, errlen))
            rc = -1;
        if (!rc && mpi_agree(x->in->comm, write_block(x, b0, b1, round == 0, err, errlen) == 0, err, errlen))
            rc = -1;
    }
    free(blk);
    return rc;
}

int assemble(const AssembleInput *in, AssembleStats *st, char *err, size_t errlen)
{
    double t_start = clock_now();
    Ctx *x = calloc(1, sizeof *x);
    x->in = in;
    MPI_Comm_rank(in->comm, &x->rank);
    MPI_Comm_size(in->comm, &x->nranks);
    x->job = (SchemaJob){in->cfg, &in->model->cfg, in->ex, in->tok, x->ndelta, -1};
    for (int mi = 0; mi < in->cfg->n_methods; mi++)
        if (in->cfg->methods[mi] == M_CONDUCTANCE)
            x->job.cond_mi = mi;
    memset(st, 0, sizeof *st);
    char myerr[1024] = "";

    SpoolIndex idx;
    int ok = spool_scan(in->spool_dir, &idx, myerr, sizeof myerr) == 0;
    int rc = mpi_agree(in->comm, ok, myerr, sizeof myerr);
    if (!rc)
        rc = rounds(x, &idx, myerr, sizeof myerr);
    if (ok)
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
    /* Rank 0 finishes the file serially. */
    double t = clock_now();
    if (!rc)
        rc = mpi_agree(in->comm, x->rank != 0 || finish_serial(x, myerr, sizeof myerr) == 0, myerr,
                   sizeof myerr);
    double serial_s = clock_now() - t;
    if (rc) {
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
