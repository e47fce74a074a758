/* Hugging Face checkpoint directory -> Model.
 *
 * The state-dict names the engine needs come from the family's layout table
 * (engine/family.h), each with its stored shape and the Model fields it fills. Resolution
 * follows transformers' loader:
 *   - legacy "LayerNorm.gamma"/"LayerNorm.beta" stand for "LayerNorm.weight"/"LayerNorm.bias"
 *     (PreTrainedModel._fix_state_dict_key_on_load renames exactly those suffixes);
 *   - when no key starts with the base-model prefix ("bert.", "roberta.", "distilbert."), the
 *     base-model keys are looked up without it (a task model loaded from a base checkpoint);
 *   - the MLM decoder weight is the word-embedding matrix when tie_word_embeddings is true
 *     (transformers' default; tie_weights() then overwrites whatever decoder weight the file
 *     holds), else the file's decoder weight;
 *   - the MLM bias may be stored under either name of the tied pair (cls.predictions.bias /
 *     cls.predictions.decoder.bias, lm_head.bias / lm_head.decoder.bias).
 * All shapes are checked before anything is converted; then every tensor is converted to F32
 * into one malloc'ed block (Model.storage) and checked finite, and its mapped pages are dropped
 * (st_release), so the stored copy and the float32 copy never coexist whole. Extra tensors are ignored. */
#include "io/checkpoint.h"
#include "io/checkpoint_internal.h"
#include "io/errmsg.h"
#include "io/safetensors.h"
#include <jansson.h>
#include <openssl/evp.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int starts_with_any(const SafeTensors *st, const char *prefix)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; i < st->ntensors; i++)
        if (strncmp(st->tensors[i].name, prefix, n) == 0)
            return 1;
    return 0;
}

static int resolve(const SafeTensors *st, const LayoutEntry *w, const StTensor **out, char *err, size_t errlen)
{
    char want_s[64], got_s[64];
    const StTensor *t = st_find(st, w->name);
    if (!t && w->alt[0])
        t = st_find(st, w->alt);
    st_shape_str(w->ndim, w->shape, want_s, sizeof want_s);
    if (!t)
        return io_fail(err, errlen, "%s: missing tensor '%s' (expected shape %s)", st->source, w->name, want_s);
    int same = t->ndim == w->ndim;
    for (int i = 0; same && i < w->ndim; i++)
        same = t->shape[i] == w->shape[i];
    if (!same)
        return io_fail(err, errlen, "%s: tensor '%s' has shape %s, expected %s", st_file_of(st, t), t->name,
                    st_shape_str(t->ndim, t->shape, got_s, sizeof got_s), want_s);
    switch (t->dtype) {
    case ST_F32: case ST_F16: case ST_BF16: case ST_F64: break;
    default:
        return io_fail(err, errlen, "%s: tensor '%s' has dtype %s; only F32, F16, BF16 and F64 weights are supported",
                    st_file_of(st, t), t->name, st_dtype_name(t->dtype));
    }
    *out = t;
    return 0;
}

/* Reads entry w's tensor t as F32 into dst in the engine's layout (Conv1D (in, out)
 * transposed to (out, in)). */
static int read_entry(const SafeTensors *st, const LayoutEntry *w, const StTensor *t, float *dst, char *err,
                      size_t errlen)
{
    size_t n = st_numel(t);
    if (!w->transpose)
        return st_read_f32(st, t, dst, err, errlen);
    float *tmp = malloc(n * sizeof(float));
    if (!tmp)
        return io_fail(err, errlen, "%s: out of memory", st->source);
    if (st_read_f32(st, t, tmp, err, errlen) != 0) {
        free(tmp);
        return -1;
    }
    size_t in = (size_t)w->shape[0], outd = (size_t)w->shape[1];
    for (size_t i = 0; i < in; i++)
        for (size_t o = 0; o < outd; o++)
            dst[o * in + i] = tmp[i * outd + o];
    free(tmp);
    return 0;
}

int ckpt_plan_open(CkptPlan *p, const char *dir, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    if (!(p->m = calloc(1, sizeof *p->m)))
        return io_fail(err, errlen, "%s: out of memory", dir);
    Model *m = p->m;
    if (checkpoint_read_config(dir, &m->cfg, err, errlen) != 0)
        return -1;
    if (!(m->layer = calloc((size_t)m->cfg.L, sizeof *m->layer)))
        return io_fail(err, errlen, "%s: out of memory", dir);
    if (st_open_dir(&p->st, dir, err, errlen) != 0)
        return -1;
    const char *prefix = family_prefix(&m->cfg);
    p->lo.prefix = starts_with_any(&p->st, prefix) ? prefix : "";
    if (family_layout(m, &p->lo) != 0 || !(p->ts = calloc((size_t)p->lo.n, sizeof *p->ts)))
        return io_fail(err, errlen, "%s: out of memory", dir);
    for (int i = 0; i < p->lo.n; i++) {
        if (resolve(&p->st, &p->lo.e[i], &p->ts[i], err, errlen) != 0)
            return -1;
        p->total += st_numel(p->ts[i]);
    }
    return 0;
}

void ckpt_plan_place(CkptPlan *p, float *storage)
{
    float *cur = storage;
    for (int i = 0; i < p->lo.n; i++) {
        const LayoutEntry *w = &p->lo.e[i];
        size_t n = st_numel(p->ts[i]);
        for (int j = 0; j < w->nsplit; j++)
            *w->dst[j] = cur + (size_t)j * (n / (size_t)w->nsplit);
        cur += n;
    }
}

int ckpt_part_of(size_t off, size_t n, size_t total, int nparts)
{
    int part = total ? (int)((off + n / 2) / ((double)total / nparts)) : 0;
    return part < nparts ? part : nparts - 1;
}

int ckpt_plan_read(const CkptPlan *p, float *storage, int part, int nparts, char *err, size_t errlen)
{
    size_t off = 0;
    for (int i = 0; i < p->lo.n; i++) {
        size_t n = st_numel(p->ts[i]);
        if (ckpt_part_of(off, n, p->total, nparts) == part) {
            if (read_entry(&p->st, &p->lo.e[i], p->ts[i], storage + off, err, errlen) != 0)
                return -1;
            st_release(&p->st, p->ts[i]); /* the stored bytes are not needed again: peak = float32 copy + one tensor */
        }
        off += n;
    }
    return 0;
}

Model *ckpt_plan_end(CkptPlan *p, int ok)
{
    free(p->ts);
    layout_free(&p->lo);
    st_close(&p->st);
    Model *m = p->m;
    p->m = NULL;
    if (!m)
        return NULL;
    if (!ok) {
        model_free(m); /* frees cfg.labels (C entries), storage and layer */
        return NULL;
    }
    family_finish(m);
    return m;
}

Model *checkpoint_load(const char *dir, char *err, size_t errlen)
{
    CkptPlan p;
    int ok = ckpt_plan_open(&p, dir, err, errlen) == 0;
    if (ok) {
        float *all = malloc((p.total ? p.total : 1) * sizeof(float));
        if (!all) {
            io_fail(err, errlen, "%s: out of memory for %zu weights", dir, p.total);
            ok = 0;
        } else {
            p.m->storage = all;
            p.m->storage_bytes = p.total * sizeof(float);
            ckpt_plan_place(&p, all);
            ok = ckpt_plan_read(&p, all, 0, 1, err, errlen) == 0;
        }
    }
    return ckpt_plan_end(&p, ok);
}

int checkpoint_weights_sha256(const char *dir, char hex[65], char *err, size_t errlen)
{
    char **paths = NULL;
    int n = 0, rc = -1;
    if (st_weight_files(dir, &paths, &n, err, errlen) != 0)
        return -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *buf = malloc(1 << 20);
    if (!ctx || !buf || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        io_fail(err, errlen, "%s: cannot start SHA-256", dir);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        FILE *f = fopen(paths[i], "rb");
        if (!f) {
            io_fail(err, errlen, "%s: cannot open: %s", paths[i], strerror(errno));
            goto out;
        }
        size_t got;
        while ((got = fread(buf, 1, 1 << 20, f)) > 0)
            EVP_DigestUpdate(ctx, buf, got);
        int bad = ferror(f);
        fclose(f);
        if (bad) {
            io_fail(err, errlen, "%s: read error", paths[i]);
            goto out;
        }
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32) {
        io_fail(err, errlen, "%s: SHA-256 failed", dir);
        goto out;
    }
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    rc = 0;
out:
    free(buf);
    EVP_MD_CTX_free(ctx);
    st_free_paths(paths, n);
    return rc;
}
