/* Hugging Face checkpoint directory -> Model.
 *
 * The state-dict names the engine needs are listed once per family (want_*), each with its
 * expected shape and the Model field it fills. Resolution follows transformers' loader:
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
 * into one malloc'ed block (Model.storage) and checked finite. Extra tensors are ignored. */
#include "io/checkpoint.h"
#include "io/errmsg.h"
#include "io/safetensors.h"
#include "io/json_load.h"
#include <jansson.h>
#include <openssl/evp.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One tensor the model needs. */
typedef struct {
    char name[192];        /* canonical state-dict key */
    char alt[192];         /* an equivalent key transformers also accepts, or "" */
    int ndim;
    int64_t shape[2];
    const float **dst;
    const StTensor *t;     /* resolved */
} Want;

typedef struct {
    Want *w;
    int n, cap;
    const char *prefix;    /* "bert." etc., or "" when the checkpoint has no base-model prefix */
} WantList;

static void want_add(WantList *wl, const float **dst, int64_t rows, int64_t cols, const char *alt, int base,
                     const char *fmt, ...)
{
    if (wl->n == wl->cap) {
        int cap = wl->cap ? 2 * wl->cap : 64;
        Want *g = realloc(wl->w, (size_t)cap * sizeof *g);
        if (!g)
            return; /* want_add failures surface as n < expected; checked by the caller */
        wl->w = g;
        wl->cap = cap;
    }
    Want *w = &wl->w[wl->n++];
    memset(w, 0, sizeof *w);
    char key[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(key, sizeof key, fmt, ap);
    va_end(ap);
    snprintf(w->name, sizeof w->name, "%s%s", base ? wl->prefix : "", key);
    if (alt)
        snprintf(w->alt, sizeof w->alt, "%s", alt);
    size_t n = strlen(w->name);
    if (!alt && n > 16 && strcmp(w->name + n - 16, "LayerNorm.weight") == 0)
        snprintf(w->alt, sizeof w->alt, "%.*sLayerNorm.gamma", (int)(n - 16), w->name);
    else if (!alt && n > 14 && strcmp(w->name + n - 14, "LayerNorm.bias") == 0)
        snprintf(w->alt, sizeof w->alt, "%.*sLayerNorm.beta", (int)(n - 14), w->name);
    w->ndim = cols > 0 ? 2 : 1;
    w->shape[0] = rows;
    w->shape[1] = cols;
    w->dst = dst;
}

/* A Linear layer "<name>.weight" (out,in) and "<name>.bias" (out). */
static void want_linear(WantList *wl, const float **w, const float **b, int64_t out, int64_t in, int base,
                        const char *name)
{
    want_add(wl, w, out, in, NULL, base, "%s.weight", name);
    want_add(wl, b, out, 0, NULL, base, "%s.bias", name);
}

static void want_norm(WantList *wl, const float **g, const float **b, int64_t D, int base, const char *name)
{
    want_add(wl, g, D, 0, NULL, base, "%s.weight", name);
    want_add(wl, b, D, 0, NULL, base, "%s.bias", name);
}

static void want_bert_like(WantList *wl, Model *m, int tied)
{
    const ModelConfig *c = &m->cfg;
    int64_t D = c->D, FF = c->FF, V = c->V;
    char n[128];
    want_add(wl, &m->word_emb, V, D, NULL, 1, "embeddings.word_embeddings.weight");
    want_add(wl, &m->pos_emb, c->P, D, NULL, 1, "embeddings.position_embeddings.weight");
    want_add(wl, &m->type_emb, c->TV, D, NULL, 1, "embeddings.token_type_embeddings.weight");
    want_norm(wl, &m->emb_ln_g, &m->emb_ln_b, D, 1, "embeddings.LayerNorm");
    for (int l = 0; l < c->L; l++) {
        LayerParams *p = &m->layer[l];
#define LN(s) (snprintf(n, sizeof n, "encoder.layer.%d.%s", l, s), n)
        want_linear(wl, &p->q_w, &p->q_b, D, D, 1, LN("attention.self.query"));
        want_linear(wl, &p->k_w, &p->k_b, D, D, 1, LN("attention.self.key"));
        want_linear(wl, &p->v_w, &p->v_b, D, D, 1, LN("attention.self.value"));
        want_linear(wl, &p->o_w, &p->o_b, D, D, 1, LN("attention.output.dense"));
        want_norm(wl, &p->ln1_g, &p->ln1_b, D, 1, LN("attention.output.LayerNorm"));
        want_linear(wl, &p->ff1_w, &p->ff1_b, FF, D, 1, LN("intermediate.dense"));
        want_linear(wl, &p->ff2_w, &p->ff2_b, D, FF, 1, LN("output.dense"));
        want_norm(wl, &p->ln2_g, &p->ln2_b, D, 1, LN("output.LayerNorm"));
#undef LN
    }
    int bert = c->arch == ARCH_BERT;
    if (c->head == HEAD_CLASSIFIER) {
        if (bert) {
            want_linear(wl, &m->head_dense_w, &m->head_dense_b, D, D, 1, "pooler.dense");
            want_linear(wl, &m->head_out_w, &m->head_out_b, c->C, D, 0, "classifier");
        } else {
            want_linear(wl, &m->head_dense_w, &m->head_dense_b, D, D, 0, "classifier.dense");
            want_linear(wl, &m->head_out_w, &m->head_out_b, c->C, D, 0, "classifier.out_proj");
        }
        return;
    }
    const char *h = bert ? "cls.predictions.transform." : "lm_head.";
    snprintf(n, sizeof n, "%sdense", h);
    want_linear(wl, &m->head_dense_w, &m->head_dense_b, D, D, 0, n);
    snprintf(n, sizeof n, "%s%s", h, bert ? "LayerNorm" : "layer_norm");
    want_norm(wl, &m->head_ln_g, &m->head_ln_b, D, 0, n);
    const char *bias = bert ? "cls.predictions.bias" : "lm_head.bias";
    const char *dec_bias = bert ? "cls.predictions.decoder.bias" : "lm_head.decoder.bias";
    want_add(wl, &m->head_out_b, V, 0, dec_bias, 0, "%s", bias);
    if (!tied)
        want_add(wl, &m->head_out_w, V, D, NULL, 0, "%s", bert ? "cls.predictions.decoder.weight"
                                                               : "lm_head.decoder.weight");
}

static void want_distilbert(WantList *wl, Model *m, int tied)
{
    const ModelConfig *c = &m->cfg;
    int64_t D = c->D, FF = c->FF, V = c->V;
    char n[128];
    want_add(wl, &m->word_emb, V, D, NULL, 1, "embeddings.word_embeddings.weight");
    want_add(wl, &m->pos_emb, c->P, D, NULL, 1, "embeddings.position_embeddings.weight");
    want_norm(wl, &m->emb_ln_g, &m->emb_ln_b, D, 1, "embeddings.LayerNorm");
    for (int l = 0; l < c->L; l++) {
        LayerParams *p = &m->layer[l];
#define LN(s) (snprintf(n, sizeof n, "transformer.layer.%d.%s", l, s), n)
        want_linear(wl, &p->q_w, &p->q_b, D, D, 1, LN("attention.q_lin"));
        want_linear(wl, &p->k_w, &p->k_b, D, D, 1, LN("attention.k_lin"));
        want_linear(wl, &p->v_w, &p->v_b, D, D, 1, LN("attention.v_lin"));
        want_linear(wl, &p->o_w, &p->o_b, D, D, 1, LN("attention.out_lin"));
        want_norm(wl, &p->ln1_g, &p->ln1_b, D, 1, LN("sa_layer_norm"));
        want_linear(wl, &p->ff1_w, &p->ff1_b, FF, D, 1, LN("ffn.lin1"));
        want_linear(wl, &p->ff2_w, &p->ff2_b, D, FF, 1, LN("ffn.lin2"));
        want_norm(wl, &p->ln2_g, &p->ln2_b, D, 1, LN("output_layer_norm"));
#undef LN
    }
    if (c->head == HEAD_CLASSIFIER) {
        want_linear(wl, &m->head_dense_w, &m->head_dense_b, D, D, 0, "pre_classifier");
        want_linear(wl, &m->head_out_w, &m->head_out_b, c->C, D, 0, "classifier");
        return;
    }
    want_linear(wl, &m->head_dense_w, &m->head_dense_b, D, D, 0, "vocab_transform");
    want_norm(wl, &m->head_ln_g, &m->head_ln_b, D, 0, "vocab_layer_norm");
    want_add(wl, &m->head_out_b, V, 0, NULL, 0, "vocab_projector.bias");
    if (!tied)
        want_add(wl, &m->head_out_w, V, D, NULL, 0, "vocab_projector.weight");
}

static int expected_wants(const ModelConfig *c, int tied)
{
    int per_layer = 16;
    int emb = c->arch == ARCH_DISTILBERT ? 4 : 5;
    int head = c->head == HEAD_CLASSIFIER ? 4 : 5 + !tied;
    return emb + c->L * per_layer + head;
}

/* tie_word_embeddings from config.json; transformers' default is true. */
static int read_tie(const char *dir, int *tied, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_error_t je;
    json_t *root = io_json_load_file(path, 0, &je);
    if (!root)
        return io_fail(err, errlen, "%s: cannot read: %s", path, je.text);
    json_t *t = json_object_get(root, "tie_word_embeddings");
    int rc = 0;
    *tied = 1;
    if (t && !json_is_boolean(t))
        rc = io_fail(err, errlen, "%s: key 'tie_word_embeddings' must be a boolean", path);
    else if (t)
        *tied = json_is_true(t);
    json_decref(root);
    return rc;
}

static int starts_with_any(const SafeTensors *st, const char *prefix)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; i < st->ntensors; i++)
        if (strncmp(st->tensors[i].name, prefix, n) == 0)
            return 1;
    return 0;
}

static int resolve(const SafeTensors *st, Want *w, char *err, size_t errlen)
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
    w->t = t;
    return 0;
}

Model *checkpoint_load(const char *dir, char *err, size_t errlen)
{
    Model *m = calloc(1, sizeof *m);
    if (!m) {
        io_fail(err, errlen, "%s: out of memory", dir);
        return NULL;
    }
    SafeTensors st;
    memset(&st, 0, sizeof st);
    WantList wl = {0};
    int tied = 1, ok = 0;
    if (checkpoint_read_config(dir, &m->cfg, err, errlen) != 0)
        goto out;
    if (read_tie(dir, &tied, err, errlen) != 0)
        goto out;
    if (!(m->layer = calloc((size_t)m->cfg.L, sizeof *m->layer))) {
        io_fail(err, errlen, "%s: out of memory", dir);
        goto out;
    }
    if (st_open_dir(&st, dir, err, errlen) != 0)
        goto out;
    const char *prefix = m->cfg.arch == ARCH_BERT ? "bert." : m->cfg.arch == ARCH_ROBERTA ? "roberta." : "distilbert.";
    wl.prefix = starts_with_any(&st, prefix) ? prefix : "";
    if (m->cfg.arch == ARCH_DISTILBERT)
        want_distilbert(&wl, m, tied);
    else
        want_bert_like(&wl, m, tied);
    if (wl.n != expected_wants(&m->cfg, tied)) {
        io_fail(err, errlen, "%s: out of memory", dir);
        goto out;
    }
    size_t total = 0;
    for (int i = 0; i < wl.n; i++) {
        if (resolve(&st, &wl.w[i], err, errlen) != 0)
            goto out;
        total += st_numel(wl.w[i].t);
    }
    float *all = malloc((total ? total : 1) * sizeof(float));
    if (!all) {
        io_fail(err, errlen, "%s: out of memory for %zu weights", dir, total);
        goto out;
    }
    m->storage = all;
    m->storage_bytes = total * sizeof(float);
    float *cur = all;
    for (int i = 0; i < wl.n; i++) {
        if (st_read_f32(&st, wl.w[i].t, cur, err, errlen) != 0)
            goto out;
        *wl.w[i].dst = cur;
        cur += st_numel(wl.w[i].t);
    }
    if (m->cfg.head == HEAD_MLM && tied)
        m->head_out_w = m->word_emb;
    ok = 1;
out:
    free(wl.w);
    st_close(&st);
    if (!ok) {
        model_free(m); /* frees cfg.labels (C entries), storage and layer */
        return NULL;
    }
    return m;
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
