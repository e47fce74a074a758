/* Checkpoint loading: the four reference checkpoints in shared/reference/models (config
 * fields, shapes, and tensor values checked against the file's raw bytes read here by a
 * separate minimal reader), and synthetic checkpoints written by this test into a temp dir:
 * one valid tiny BERT, then corrupt variants that must fail with a message naming the file
 * and the key or tensor. */
#define _GNU_SOURCE
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "tests/testutil.h"
#include <CUnit/Basic.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char ERR[2048];

/* ---------- a minimal independent reader for raw tensor bytes ---------- */

/* Reads n bytes of tensor `name` starting at element `first` (elements of esz bytes). */
static int raw_bytes(const char *file, const char *name, size_t first, size_t esz, void *out, size_t n)
{
    FILE *f = fopen(file, "rb");
    if (!f)
        return -1;
    unsigned char len8[8];
    uint64_t hlen = 0;
    if (fread(len8, 1, 8, f) != 8) {
        fclose(f);
        return -1;
    }
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | len8[i];
    char *h = malloc(hlen);
    int rc = -1;
    if (h && fread(h, 1, hlen, f) == hlen) {
        json_t *j = json_loadb(h, hlen, 0, NULL);
        json_t *t = j ? json_object_get(j, name) : NULL;
        if (t) {
            long long b = json_integer_value(json_array_get(json_object_get(t, "data_offsets"), 0));
            if (fseek(f, (long)(8 + hlen + b + first * esz), SEEK_SET) == 0 && fread(out, 1, n, f) == n)
                rc = 0;
        }
        json_decref(j);
    }
    free(h);
    fclose(f);
    return rc;
}

static int in_storage(const Model *m, const float *p, size_t n)
{
    const char *s = m->storage, *q = (const char *)p;
    return p && q >= s && q + n * sizeof(float) <= s + m->storage_bytes;
}

/* Every tensor pointer lies inside the one storage block, which holds exactly the parameters. */
static void check_storage(const Model *m)
{
    const ModelConfig *c = &m->cfg;
    size_t D = (size_t)c->D, FF = (size_t)c->FF;
    CU_ASSERT_EQUAL(m->storage_bytes, model_num_params(c) * sizeof(float));
    CU_ASSERT(in_storage(m, m->word_emb, (size_t)c->V * D));
    CU_ASSERT(in_storage(m, m->pos_emb, (size_t)c->P * D));
    if (c->arch == ARCH_DISTILBERT)
        CU_ASSERT_PTR_NULL(m->type_emb);
    if (c->arch != ARCH_DISTILBERT)
        CU_ASSERT(in_storage(m, m->type_emb, (size_t)c->TV * D));
    CU_ASSERT(in_storage(m, m->emb_ln_g, D) && in_storage(m, m->emb_ln_b, D));
    for (int l = 0; l < c->L; l++) {
        const LayerParams *p = &m->layer[l];
        CU_ASSERT(in_storage(m, p->q_w, D * D) && in_storage(m, p->k_w, D * D) && in_storage(m, p->v_w, D * D) &&
                  in_storage(m, p->o_w, D * D));
        CU_ASSERT(in_storage(m, p->q_b, D) && in_storage(m, p->k_b, D) && in_storage(m, p->v_b, D) &&
                  in_storage(m, p->o_b, D));
        CU_ASSERT(in_storage(m, p->ff1_w, FF * D) && in_storage(m, p->ff1_b, FF) && in_storage(m, p->ff2_w, D * FF) &&
                  in_storage(m, p->ff2_b, D));
        CU_ASSERT(in_storage(m, p->ln1_g, D) && in_storage(m, p->ln1_b, D) && in_storage(m, p->ln2_g, D) &&
                  in_storage(m, p->ln2_b, D));
    }
    CU_ASSERT(in_storage(m, m->head_dense_w, D * D) && in_storage(m, m->head_dense_b, D));
    CU_ASSERT(in_storage(m, m->head_out_w, (size_t)c->C * D) && in_storage(m, m->head_out_b, (size_t)c->C));
    if (c->head == HEAD_MLM)
        CU_ASSERT(in_storage(m, m->head_ln_g, D) && in_storage(m, m->head_ln_b, D));
}

/* Compares n F32 values of a loaded tensor with the raw bytes of the file, bit for bit. */
static void check_f32_raw(const char *file, const char *name, const float *got, size_t first, size_t n)
{
    uint32_t *raw = malloc(n * 4);
    CU_ASSERT_FATAL(raw_bytes(file, name, first, 4, raw, n * 4) == 0);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t g;
        memcpy(&g, &got[first + i], 4);
        bad += g != raw[i];
    }
    CU_ASSERT_EQUAL(bad, 0);
    free(raw);
}

static Model *load_ref(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "reference/models/%s", name);
    const char *dir = test_shared_path(rel);
    Model *m = checkpoint_load(dir, ERR, sizeof ERR);
    if (!m)
        fprintf(stderr, "checkpoint_load(%s): %s\n", name, ERR);
    return m;
}

static void test_ref_bert(void)
{
    Model *m = load_ref("tiny-bert");
    CU_ASSERT_FATAL(m != NULL);
    const ModelConfig *c = &m->cfg;
    CU_ASSERT_EQUAL(c->arch, ARCH_BERT);
    CU_ASSERT_EQUAL(c->head, HEAD_CLASSIFIER);
    CU_ASSERT(c->V == 30522 && c->P == 512 && c->TV == 2 && c->D == 64 && c->L == 2 && c->NH == 4 && c->FF == 256);
    CU_ASSERT_EQUAL(c->C, 2);
    CU_ASSERT_EQUAL(c->act, ACT_GELU);
    CU_ASSERT_EQUAL(c->head_act, ACT_TANH);
    CU_ASSERT_EQUAL(c->ln_eps, 1e-12f);
    CU_ASSERT(c->pad_id == 0 && c->position_offset == 0);
    CU_ASSERT_STRING_EQUAL(c->model_type, "bert");
    CU_ASSERT_FATAL(c->labels != NULL);
    CU_ASSERT_STRING_EQUAL(c->labels[0], "LABEL_0");
    CU_ASSERT_STRING_EQUAL(c->labels[1], "LABEL_1");
    check_storage(m);
    const char *f = test_shared_path("reference/models/tiny-bert/model.safetensors");
    char file[4096];
    snprintf(file, sizeof file, "%s", f);
    check_f32_raw(file, "bert.embeddings.word_embeddings.weight", m->word_emb, 0, 64 * 30522);
    check_f32_raw(file, "bert.encoder.layer.1.output.dense.weight", m->layer[1].ff2_w, 0, 64 * 256);
    check_f32_raw(file, "bert.encoder.layer.0.attention.self.value.bias", m->layer[0].v_b, 0, 64);
    check_f32_raw(file, "bert.pooler.dense.weight", m->head_dense_w, 0, 64 * 64);
    check_f32_raw(file, "classifier.weight", m->head_out_w, 0, 2 * 64);
    check_f32_raw(file, "classifier.bias", m->head_out_b, 0, 2);
    model_free(m);
}

static void test_ref_bert_bf16(void)
{
    Model *m = load_ref("tiny-bert-bf16");
    CU_ASSERT_FATAL(m != NULL);
    CU_ASSERT(m->cfg.V == 30522 && m->cfg.D == 64 && m->cfg.C == 2 && m->cfg.arch == ARCH_BERT);
    check_storage(m);
    /* BF16 -> F32 is exact: every loaded value has zero low 16 bits, and its high half is the stored word. */
    const float *all = m->storage;
    size_t n = m->storage_bytes / 4, low = 0, zeros = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &all[i], 4);
        low += (b & 0xffffu) != 0;
        zeros += b == 0;
    }
    CU_ASSERT_EQUAL(low, 0);
    CU_ASSERT(zeros < n / 2); /* real weights, not an empty buffer */
    char file[4096];
    snprintf(file, sizeof file, "%s", test_shared_path("reference/models/tiny-bert-bf16/model.safetensors"));
    uint16_t raw[128];
    CU_ASSERT_FATAL(raw_bytes(file, "classifier.weight", 0, 2, raw, sizeof raw) == 0);
    size_t bad = 0;
    for (int i = 0; i < 128; i++) {
        uint32_t g;
        memcpy(&g, &m->head_out_w[i], 4);
        bad += g != (uint32_t)raw[i] << 16;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_FATAL(raw_bytes(file, "bert.embeddings.word_embeddings.weight", 1000 * 64, 2, raw, 128) == 0);
    for (int i = 0; i < 64; i++) {
        uint32_t g;
        memcpy(&g, &m->word_emb[1000 * 64 + i], 4);
        bad += g != (uint32_t)raw[i] << 16;
    }
    CU_ASSERT_EQUAL(bad, 0);
    model_free(m);
}

static void test_ref_roberta(void)
{
    Model *m = load_ref("tiny-roberta");
    CU_ASSERT_FATAL(m != NULL);
    const ModelConfig *c = &m->cfg;
    CU_ASSERT_EQUAL(c->arch, ARCH_ROBERTA);
    CU_ASSERT_EQUAL(c->head, HEAD_CLASSIFIER);
    CU_ASSERT(c->V == 50265 && c->P == 514 && c->TV == 1 && c->D == 64 && c->L == 2 && c->NH == 4 && c->FF == 256);
    CU_ASSERT_EQUAL(c->pad_id, 1);
    CU_ASSERT_EQUAL(c->position_offset, 2); /* pad_token_id + 1 */
    CU_ASSERT_EQUAL(c->ln_eps, 1e-5f);
    CU_ASSERT_EQUAL(c->C, 2); /* no id2label: transformers' default of 2 labels */
    CU_ASSERT_EQUAL(c->head_act, ACT_TANH);
    CU_ASSERT_STRING_EQUAL(c->model_type, "roberta");
    CU_ASSERT_FATAL(c->labels != NULL);
    CU_ASSERT_STRING_EQUAL(c->labels[1], "LABEL_1");
    check_storage(m);
    char file[4096];
    snprintf(file, sizeof file, "%s", test_shared_path("reference/models/tiny-roberta/model.safetensors"));
    check_f32_raw(file, "roberta.embeddings.position_embeddings.weight", m->pos_emb, 0, 514 * 64);
    check_f32_raw(file, "classifier.dense.weight", m->head_dense_w, 0, 64 * 64);
    check_f32_raw(file, "classifier.out_proj.weight", m->head_out_w, 0, 2 * 64);
    check_f32_raw(file, "roberta.encoder.layer.1.attention.self.query.weight", m->layer[1].q_w, 0, 64 * 64);
    model_free(m);
}

static void test_ref_distilbert(void)
{
    Model *m = load_ref("tiny-distilbert");
    CU_ASSERT_FATAL(m != NULL);
    const ModelConfig *c = &m->cfg;
    CU_ASSERT_EQUAL(c->arch, ARCH_DISTILBERT);
    CU_ASSERT_EQUAL(c->head, HEAD_CLASSIFIER);
    CU_ASSERT(c->V == 30522 && c->P == 512 && c->D == 64 && c->L == 2 && c->NH == 4 && c->FF == 256);
    CU_ASSERT_EQUAL(c->TV, 0);
    CU_ASSERT_EQUAL(c->C, 2);
    CU_ASSERT_EQUAL(c->act, ACT_GELU);
    CU_ASSERT_EQUAL(c->head_act, ACT_RELU);
    CU_ASSERT_EQUAL(c->ln_eps, 1e-12f);
    CU_ASSERT_EQUAL(c->position_offset, 0);
    CU_ASSERT_STRING_EQUAL(c->model_type, "distilbert");
    check_storage(m);
    char file[4096];
    snprintf(file, sizeof file, "%s", test_shared_path("reference/models/tiny-distilbert/model.safetensors"));
    check_f32_raw(file, "distilbert.transformer.layer.0.attention.out_lin.weight", m->layer[0].o_w, 0, 64 * 64);
    check_f32_raw(file, "distilbert.transformer.layer.1.sa_layer_norm.weight", m->layer[1].ln1_g, 0, 64);
    check_f32_raw(file, "distilbert.transformer.layer.1.output_layer_norm.bias", m->layer[1].ln2_b, 0, 64);
    check_f32_raw(file, "pre_classifier.weight", m->head_dense_w, 0, 64 * 64);
    check_f32_raw(file, "classifier.bias", m->head_out_b, 0, 2);
    model_free(m);
}

/* The digest is that of the file's bytes, as coreutils' sha256sum computes it. */
static void test_ref_sha256(void)
{
    const char *dir = test_shared_path("reference/models/tiny-bert");
    char d[4096], hex[65], cmd[4200], line[256] = "";
    snprintf(d, sizeof d, "%s", dir);
    CU_ASSERT_FATAL(checkpoint_weights_sha256(d, hex, ERR, sizeof ERR) == 0);
    CU_ASSERT_EQUAL(strlen(hex), 64);
    snprintf(cmd, sizeof cmd, "sha256sum '%s/model.safetensors'", d);
    FILE *p = popen(cmd, "r");
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT(fgets(line, sizeof line, p) != NULL);
    pclose(p);
    CU_ASSERT(strncmp(line, hex, 64) == 0);
}

/* ---------- synthetic checkpoints ---------- */

/* Tiny BERT: V 8, P 6, TV 2, D 4, NH 2, FF 8, L 1, C 3. */
enum { SV = 8, SP = 6, STV = 2, SD = 4, SFF = 8, SC = 3 };

typedef struct {
    char name[128];
    char dtype[16];
    int ndim;
    int64_t shape[2];
    size_t begin, end; /* offsets in the data blob */
} TSpec;

typedef struct {
    TSpec t[64];
    int n;
    unsigned char *data;
    size_t size;
} TSet;

static char TMP[256];
static int case_no;

/* Fresh directory for one case under the test's temp dir. */
static const char *case_dir(void)
{
    static char d[512];
    snprintf(d, sizeof d, "%s/case%03d", TMP, ++case_no);
    CU_ASSERT_FATAL(mkdir(d, 0755) == 0);
    return d;
}

/* Appends a tensor with values base + 0.125*i (exact in F32, F16 and BF16 for small i).
 * dtype "F32", "F16" or "BF16"; cols 0 means a vector. */
static void ts_add(TSet *s, const char *dtype, const char *name, int64_t rows, int64_t cols, float base)
{
    TSpec *t = &s->t[s->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->dtype, sizeof t->dtype, "%s", dtype);
    t->ndim = cols ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = cols;
    size_t n = (size_t)rows * (size_t)(cols ? cols : 1);
    size_t esz = !strcmp(dtype, "I64") ? 8 : !strcmp(dtype, "F32") || !strcmp(dtype, "I32") ? 4 : 2;
    s->data = realloc(s->data, s->size + n * esz);
    t->begin = s->size;
    for (size_t i = 0; i < n; i++) {
        float v = base + 0.125f * (float)(i % 64);
        unsigned char *p = s->data + s->size + i * esz;
        if (esz == 8) {
            memset(p, 0, 8);
        } else if (esz == 4) {
            memcpy(p, &v, 4);
        } else if (!strcmp(dtype, "BF16")) {
            uint32_t b;
            memcpy(&b, &v, 4);
            uint16_t h = (uint16_t)(b >> 16); /* values chosen exact in BF16 */
            memcpy(p, &h, 2);
        } else {
#ifdef __FLT16_MAX__
            _Float16 h = (_Float16)v;
            memcpy(p, &h, 2);
#else
            CU_FAIL_FATAL("no _Float16 in this compiler");
#endif
        }
    }
    s->size += n * esz;
    t->end = s->size;
}

static TSpec *ts_get(TSet *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->t[i].name, name))
            return &s->t[i];
    CU_FAIL_FATAL("ts_get: no such tensor in the test set");
    return NULL;
}

static void ts_remove(TSet *s, const char *name)
{
    TSpec *t = ts_get(s, name);
    int i = (int)(t - s->t);
    memmove(&s->t[i], &s->t[i + 1], (size_t)(s->n - i - 1) * sizeof *t);
    s->n--;
}

/* Writes tensors [lo, hi) of s as one safetensors file (their data re-based to that file). */
static void ts_write_range(const TSet *s, int lo, int hi, const char *path)
{
    json_t *h = json_object();
    json_object_set_new(h, "__metadata__", json_pack("{s:s}", "format", "pt"));
    size_t base = hi > lo ? s->t[lo].begin : 0, end = base;
    for (int i = lo; i < hi; i++) {
        const TSpec *t = &s->t[i];
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer(t->shape[d]));
        json_object_set_new(h, t->name,
                            json_pack("{s:s,s:o,s:[I,I]}", "dtype", t->dtype, "shape", shape, "data_offsets",
                                      (json_int_t)(t->begin - base), (json_int_t)(t->end - base)));
        if (t->end > end && t->end <= s->size) /* a corrupted offset must not make us write more */
            end = t->end;
    }
    char *txt = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(h);
    size_t hl = strlen(txt), pad = (8 - hl % 8) % 8; /* spaces: the format's own padding */
    uint64_t n = hl + pad;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)(n >> (8 * i));
    FILE *f = fopen(path, "wb");
    CU_ASSERT_FATAL(f != NULL);
    fwrite(len8, 1, 8, f);
    fwrite(txt, 1, hl, f);
    for (size_t i = 0; i < pad; i++)
        fputc(' ', f);
    fwrite(s->data + base, 1, end - base, f);
    fclose(f);
    free(txt);
}

static void ts_write(const TSet *s, const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    ts_write_range(s, 0, s->n, path);
}

static void ts_free(TSet *s)
{
    free(s->data);
    memset(s, 0, sizeof *s);
}

static void add_linear(TSet *s, const char *dt, const char *name, int64_t out, int64_t in, float base)
{
    char n[160];
    snprintf(n, sizeof n, "%s.weight", name);
    ts_add(s, dt, n, out, in, base);
    snprintf(n, sizeof n, "%s.bias", name);
    ts_add(s, dt, n, out, 0, base + 0.5f);
}

static void add_norm(TSet *s, const char *dt, const char *name, int legacy)
{
    char n[160];
    snprintf(n, sizeof n, "%s.%s", name, legacy ? "gamma" : "weight");
    ts_add(s, dt, n, SD, 0, 1.0f);
    snprintf(n, sizeof n, "%s.%s", name, legacy ? "beta" : "bias");
    ts_add(s, dt, n, SD, 0, -0.25f);
}

/* The tensors of a one-layer BERT-like model: prefix "bert." / "roberta." / ""; head 'c' (BERT
 * classifier), 'r' (RoBERTa classifier) or 'm' (BERT MLM) / 'M' (RoBERTa MLM). */
static void build_bert(TSet *s, const char *dt, const char *pre, char head, int legacy)
{
    char n[160];
#define P(x) (snprintf(n, sizeof n, "%s%s", pre, x), n)
    ts_add(s, dt, P("embeddings.word_embeddings.weight"), SV, SD, -1.0f);
    ts_add(s, dt, P("embeddings.position_embeddings.weight"), SP, SD, -2.0f);
    ts_add(s, dt, P("embeddings.token_type_embeddings.weight"), STV, SD, -3.0f);
    add_norm(s, dt, P("embeddings.LayerNorm"), legacy);
    add_linear(s, dt, P("encoder.layer.0.attention.self.query"), SD, SD, 0.25f);
    add_linear(s, dt, P("encoder.layer.0.attention.self.key"), SD, SD, 0.5f);
    add_linear(s, dt, P("encoder.layer.0.attention.self.value"), SD, SD, 0.75f);
    add_linear(s, dt, P("encoder.layer.0.attention.output.dense"), SD, SD, 1.0f);
    add_norm(s, dt, P("encoder.layer.0.attention.output.LayerNorm"), legacy);
    add_linear(s, dt, P("encoder.layer.0.intermediate.dense"), SFF, SD, 1.25f);
    add_linear(s, dt, P("encoder.layer.0.output.dense"), SD, SFF, 1.5f);
    add_norm(s, dt, P("encoder.layer.0.output.LayerNorm"), legacy);
    if (head == 'c') {
        add_linear(s, dt, P("pooler.dense"), SD, SD, 1.75f);
        add_linear(s, dt, "classifier", SC, SD, 2.0f);
    } else if (head == 'r') {
        add_linear(s, dt, "classifier.dense", SD, SD, 1.75f);
        add_linear(s, dt, "classifier.out_proj", SC, SD, 2.0f);
    } else if (head == 'm') {
        add_linear(s, dt, "cls.predictions.transform.dense", SD, SD, 1.75f);
        add_norm(s, dt, "cls.predictions.transform.LayerNorm", legacy);
        ts_add(s, dt, "cls.predictions.bias", SV, 0, 2.0f);
    } else {
        add_linear(s, dt, "lm_head.dense", SD, SD, 1.75f);
        add_norm(s, dt, "lm_head.layer_norm", 0);
        ts_add(s, dt, "lm_head.decoder.bias", SV, 0, 2.0f);
    }
#undef P
}

static json_t *bert_config(void)
{
    return json_pack("{s:[s],s:s,s:i,s:i,s:i,s:i,s:s,s:f,s:i,s:i,s:i,s:i,s:s,s:{s:s,s:s,s:s}}", "architectures",
                     "BertForSequenceClassification", "model_type", "bert", "hidden_size", SD, "num_hidden_layers", 1,
                     "num_attention_heads", 2, "intermediate_size", SFF, "hidden_act", "gelu", "layer_norm_eps",
                     1e-12, "max_position_embeddings", SP, "type_vocab_size", STV, "vocab_size", SV, "pad_token_id", 0,
                     "position_embedding_type", "absolute", "id2label", "0", "neg", "1", "neu", "2", "pos");
}

static void write_config(json_t *cfg, const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", dir);
    CU_ASSERT_FATAL(json_dump_file(cfg, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0);
    json_decref(cfg);
}

/* A valid tiny BERT classifier checkpoint in a fresh dir. */
static const char *good_bert(const char *dt)
{
    const char *d = case_dir();
    TSet s = {0};
    build_bert(&s, dt, "bert.", 'c', 0);
    ts_write(&s, d);
    ts_free(&s);
    write_config(bert_config(), d);
    return d;
}

/* Asserts checkpoint_load(dir) fails with a message containing each of the given strings. */
static void expect_fail(const char *dir, const char *a, const char *b, const char *c)
{
    ERR[0] = 0;
    Model *m = checkpoint_load(dir, ERR, sizeof ERR);
    CU_ASSERT_PTR_NULL(m);
    model_free(m);
    printf("\n    refused: %s", ERR);
    const char *want[3] = {a, b, c};
    for (int i = 0; i < 3; i++)
        if (want[i] && !strstr(ERR, want[i])) {
            fprintf(stderr, "\n    message \"%s\" lacks \"%s\"\n", ERR, want[i]);
            CU_FAIL("error message lacks an expected part");
        }
}

/* A corrupt variant: the tiny BERT with `edit` applied to its tensor list before writing. */
typedef void (*Edit)(TSet *s);
static const char *bad_tensors(Edit edit)
{
    const char *d = case_dir();
    TSet s = {0};
    build_bert(&s, "F32", "bert.", 'c', 0);
    edit(&s);
    ts_write(&s, d);
    ts_free(&s);
    write_config(bert_config(), d);
    return d;
}

/* A variant with one config key changed (value NULL: deleted). */
static const char *bad_config(const char *key, json_t *value)
{
    const char *d = case_dir();
    TSet s = {0};
    build_bert(&s, "F32", "bert.", 'c', 0);
    ts_write(&s, d);
    ts_free(&s);
    json_t *c = bert_config();
    if (value)
        json_object_set_new(c, key, value);
    else
        json_object_del(c, key);
    write_config(c, d);
    return d;
}

static void test_good_bert(void)
{
    const char *d = good_bert("F32");
    Model *m = checkpoint_load(d, ERR, sizeof ERR);
    if (!m)
        fprintf(stderr, "%s\n", ERR);
    CU_ASSERT_FATAL(m != NULL);
    CU_ASSERT(m->cfg.D == SD && m->cfg.V == SV && m->cfg.P == SP && m->cfg.FF == SFF && m->cfg.C == SC);
    CU_ASSERT_STRING_EQUAL(m->cfg.labels[0], "neg");
    CU_ASSERT_STRING_EQUAL(m->cfg.labels[2], "pos");
    check_storage(m);
    /* values as written: base + 0.125 i */
    CU_ASSERT_EQUAL(m->word_emb[5], -1.0f + 0.625f);
    CU_ASSERT_EQUAL(m->layer[0].ff2_w[9], 1.5f + 1.125f);
    CU_ASSERT_EQUAL(m->head_out_b[2], 2.5f + 0.25f);
    CU_ASSERT_EQUAL(m->emb_ln_g[3], 1.0f + 0.375f);
    model_free(m);
}

/* F16 and BF16 files load to the same F32 values (all written values are exact in both). */
static void test_half_weights(void)
{
    const char *d32 = good_bert("F32");
    char keep[512];
    snprintf(keep, sizeof keep, "%s", d32);
    Model *a = checkpoint_load(keep, ERR, sizeof ERR);
    CU_ASSERT_FATAL(a != NULL);
    const char *dtypes[2] = {"F16", "BF16"};
    for (int k = 0; k < 2; k++) {
        Model *b = checkpoint_load(good_bert(dtypes[k]), ERR, sizeof ERR);
        if (!b)
            fprintf(stderr, "%s\n", ERR);
        CU_ASSERT_FATAL(b != NULL);
        CU_ASSERT_EQUAL(a->storage_bytes, b->storage_bytes);
        CU_ASSERT(memcmp(a->storage, b->storage, a->storage_bytes) == 0);
        model_free(b);
    }
    model_free(a);
}

/* F16 -> F32 on every one of the 65536 bit patterns, against the compiler's _Float16. */
static void test_f16_exhaustive(void)
{
    struct {
        uint16_t h;
        float f;
    } known[] = {{0x3c00, 1.0f},        {0xc000, -2.0f},     {0x7bff, 65504.0f},        {0x0400, 0x1p-14f},
                 {0x0001, 0x1p-24f},    {0x03ff, 0x3ffp-24f}, {0x8001, -0x1p-24f},       {0x3555, 0x1.554p-2f},
                 {0x7c00, INFINITY},    {0xfc00, -INFINITY}};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        CU_ASSERT_EQUAL(st_f16_to_f32(known[i].h), known[i].f);
    CU_ASSERT(st_f16_to_f32(0x8000) == 0.0f && signbit(st_f16_to_f32(0x8000)));
    CU_ASSERT(isnan(st_f16_to_f32(0x7e00)) && isnan(st_f16_to_f32(0xfc01)) && isnan(st_f16_to_f32(0x7c01)));
    CU_ASSERT_EQUAL(st_bf16_to_f32(0x3f80), 1.0f);
    CU_ASSERT_EQUAL(st_bf16_to_f32(0xc0a0), -5.0f);
    CU_ASSERT(isnan(st_bf16_to_f32(0x7fc0)) && st_bf16_to_f32(0xff80) == -INFINITY);
    CU_ASSERT_EQUAL(st_bf16_to_f32(0x0001), 0x1p-133f); /* BF16 subnormal */
#ifdef __FLT16_MAX__
    unsigned bad = 0;
    for (uint32_t b = 0; b < 65536; b++) {
        uint16_t h = (uint16_t)b;
        _Float16 x;
        memcpy(&x, &h, 2);
        float want = (float)x, got = st_f16_to_f32(h);
        if (isnan(want) ? !isnan(got) : memcmp(&want, &got, 4) != 0)
            bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
#endif
}

/* Two shards + index: the same values as the single file. */
static void test_sharded(void)
{
    const char *d = case_dir();
    TSet s = {0};
    build_bert(&s, "F32", "bert.", 'c', 0);
    char p1[600], p2[600], idx[600];
    snprintf(p1, sizeof p1, "%s/model-00001-of-00002.safetensors", d);
    snprintf(p2, sizeof p2, "%s/model-00002-of-00002.safetensors", d);
    int half = s.n / 2;
    ts_write_range(&s, 0, half, p1);
    ts_write_range(&s, half, s.n, p2);
    json_t *wm = json_object();
    for (int i = 0; i < s.n; i++)
        json_object_set_new(wm, s.t[i].name,
                            json_string(i < half ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors"));
    json_t *index = json_pack("{s:{s:I},s:o}", "metadata", "total_size", (json_int_t)s.size, "weight_map", wm);
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", d);
    CU_ASSERT_FATAL(json_dump_file(index, idx, JSON_INDENT(2)) == 0);
    json_decref(index);
    write_config(bert_config(), d);
    char keep[512];
    snprintf(keep, sizeof keep, "%s", d);
    Model *m = checkpoint_load(keep, ERR, sizeof ERR);
    if (!m)
        fprintf(stderr, "%s\n", ERR);
    CU_ASSERT_FATAL(m != NULL);
    Model *one = checkpoint_load(good_bert("F32"), ERR, sizeof ERR);
    CU_ASSERT_FATAL(one != NULL);
    CU_ASSERT(m->storage_bytes == one->storage_bytes && memcmp(m->storage, one->storage, m->storage_bytes) == 0);
    model_free(one);
    model_free(m);
    /* the digest covers both shards, in name order: equal to sha256 of their concatenation */
    char hex[65], cmd[2000], line[256] = "";
    CU_ASSERT_FATAL(checkpoint_weights_sha256(keep, hex, ERR, sizeof ERR) == 0);
    snprintf(cmd, sizeof cmd, "cat '%s' '%s' | sha256sum", p1, p2);
    FILE *pp = popen(cmd, "r");
    CU_ASSERT_FATAL(pp != NULL);
    CU_ASSERT(fgets(line, sizeof line, pp) != NULL);
    pclose(pp);
    CU_ASSERT(strncmp(line, hex, 64) == 0);
    /* an index naming a shard that is not there */
    remove(p2);
    expect_fail(keep, "model.safetensors.index.json", "model-00002-of-00002.safetensors", "does not exist");
    ts_free(&s);
}

/* RoBERTa MLM with legacy LayerNorm.gamma/beta names, no "roberta." prefix and the bias stored
 * as lm_head.decoder.bias: transformers loads all of these; the decoder is the word embeddings. */
static void test_tolerated_names(void)
{
    const char *d = case_dir();
    TSet s = {0};
    build_bert(&s, "F32", "", 'M', 1);
    ts_add(&s, "F32", "lm_head.decoder.weight", SV, SD, 7.0f); /* tied: transformers overwrites it */
    ts_write(&s, d);
    ts_free(&s);
    json_t *c = bert_config();
    json_object_set_new(c, "model_type", json_string("roberta"));
    json_object_set_new(c, "architectures", json_pack("[s]", "RobertaForMaskedLM"));
    json_object_set_new(c, "pad_token_id", json_integer(1));
    json_object_set_new(c, "hidden_act", json_string("gelu_new"));
    write_config(c, d);
    Model *m = checkpoint_load(d, ERR, sizeof ERR);
    if (!m)
        fprintf(stderr, "%s\n", ERR);
    CU_ASSERT_FATAL(m != NULL);
    CU_ASSERT_EQUAL(m->cfg.head, HEAD_MLM);
    CU_ASSERT_EQUAL(m->cfg.C, SV);
    CU_ASSERT_PTR_NULL(m->cfg.labels);
    CU_ASSERT_EQUAL(m->cfg.act, ACT_GELU_TANH);
    CU_ASSERT_EQUAL(m->cfg.head_act, ACT_GELU); /* RobertaLMHead: exact gelu whatever hidden_act says */
    CU_ASSERT_EQUAL(m->cfg.position_offset, 2);
    CU_ASSERT(m->head_out_w == m->word_emb);
    CU_ASSERT_EQUAL(m->head_out_b[1], 2.125f);
    CU_ASSERT_EQUAL(m->emb_ln_b[0], -0.25f);
    check_storage(m);
    model_free(m);
}

/* BERT MLM with tie_word_embeddings false: the file's decoder weight is used. */
static void test_untied_mlm(void)
{
    const char *d = case_dir();
    TSet s = {0};
    build_bert(&s, "F32", "bert.", 'm', 0);
    ts_add(&s, "F32", "cls.predictions.decoder.weight", SV, SD, 7.0f);
    ts_write(&s, d);
    ts_free(&s);
    json_t *c = bert_config();
    json_object_set_new(c, "architectures", json_pack("[s]", "BertForMaskedLM"));
    json_object_set_new(c, "tie_word_embeddings", json_false());
    json_object_set_new(c, "hidden_act", json_string("relu"));
    write_config(c, d);
    Model *m = checkpoint_load(d, ERR, sizeof ERR);
    if (!m)
        fprintf(stderr, "%s\n", ERR);
    CU_ASSERT_FATAL(m != NULL);
    CU_ASSERT_EQUAL(m->cfg.head_act, ACT_RELU); /* BERT's transform uses hidden_act */
    CU_ASSERT(m->head_out_w != m->word_emb);
    CU_ASSERT_EQUAL(m->head_out_w[3], 7.375f);
    model_free(m);
}

static void test_bad_config(void)
{
    char dir[512];
    /* no config.json at all */
    snprintf(dir, sizeof dir, "%s", case_dir());
    expect_fail(dir, "config.json", NULL, NULL);
    expect_fail(bad_config("hidden_size", NULL), "config.json", "'hidden_size'", "missing");
    expect_fail(bad_config("layer_norm_eps", NULL), "config.json", "'layer_norm_eps'", NULL);
    expect_fail(bad_config("hidden_size", json_string("4")), "config.json", "'hidden_size'", "integer");
    expect_fail(bad_config("vocab_size", json_real(8.0)), "config.json", "'vocab_size'", NULL);
    expect_fail(bad_config("model_type", json_string("t5")), "config.json", "'model_type'", "t5");
    expect_fail(bad_config("hidden_act", json_string("quick_gelu")), "config.json", "'hidden_act'", "quick_gelu");
    expect_fail(bad_config("position_embedding_type", json_string("relative_key")), "config.json",
                "'position_embedding_type'", "relative_key");
    expect_fail(bad_config("architectures", json_pack("[s]", "BertModel")), "config.json", "BertModel",
                "BertForSequenceClassification");
    expect_fail(bad_config("num_attention_heads", json_integer(3)), "config.json", NULL, NULL);
    expect_fail(bad_config("num_labels", json_integer(5)), "config.json", "'num_labels'", NULL);
    expect_fail(bad_config("id2label", json_pack("{s:s,s:s}", "0", "a", "7", "b")), "config.json", "'id2label'",
                NULL);
    /* not JSON */
    snprintf(dir, sizeof dir, "%s", good_bert("F32"));
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"model_type\": \"bert\",", f);
    fclose(f);
    expect_fail(dir, "config.json", "JSON", NULL);
    /* RoBERTa whose position table is too small for its pad offset */
    json_t *c = bert_config();
    json_object_set_new(c, "model_type", json_string("roberta"));
    json_object_set_new(c, "architectures", json_pack("[s]", "RobertaForSequenceClassification"));
    json_object_set_new(c, "pad_token_id", json_integer(6));
    json_object_set_new(c, "vocab_size", json_integer(SV));
    snprintf(dir, sizeof dir, "%s", case_dir());
    write_config(c, dir);
    expect_fail(dir, "config.json", "'max_position_embeddings'", NULL);
}

static void test_bad_distilbert_config(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", case_dir());
    json_t *c = json_pack("{s:[s],s:s,s:i,s:i,s:i,s:i,s:s,s:i,s:i,s:i,s:b}", "architectures",
                          "DistilBertForSequenceClassification", "model_type", "distilbert", "dim", SD, "n_layers", 1,
                          "n_heads", 2, "hidden_dim", SFF, "activation", "gelu", "max_position_embeddings", SP,
                          "vocab_size", SV, "pad_token_id", 0, "sinusoidal_pos_embds", 1);
    write_config(c, dir);
    expect_fail(dir, "config.json", "'sinusoidal_pos_embds'", NULL);
    ModelConfig cfg;
    CU_ASSERT(checkpoint_read_config(dir, &cfg, ERR, sizeof ERR) != 0);
    /* with learned positions the config parses; weights are then missing */
    snprintf(dir, sizeof dir, "%s", case_dir());
    c = json_pack("{s:[s],s:s,s:i,s:i,s:i,s:i,s:s,s:i,s:i,s:i}", "architectures", "DistilBertForMaskedLM",
                  "model_type", "distilbert", "dim", SD, "n_layers", 1, "n_heads", 2, "hidden_dim", SFF, "activation",
                  "gelu", "max_position_embeddings", SP, "vocab_size", SV, "pad_token_id", 0);
    write_config(c, dir);
    CU_ASSERT_FATAL(checkpoint_read_config(dir, &cfg, ERR, sizeof ERR) == 0);
    CU_ASSERT(cfg.arch == ARCH_DISTILBERT && cfg.head == HEAD_MLM && cfg.C == SV && cfg.ln_eps == 1e-12f &&
              cfg.head_act == ACT_GELU && cfg.TV == 0);
    model_config_free(&cfg);
    expect_fail(dir, "model.safetensors", NULL, NULL);
}

static void e_missing(TSet *s) { ts_remove(s, "bert.pooler.dense.weight"); }
static void e_shape(TSet *s)
{
    TSpec *t = ts_get(s, "bert.encoder.layer.0.attention.self.query.weight");
    t->shape[0] = 2; /* same bytes, wrong shape */
    t->shape[1] = 8;
}
static void e_dtype(TSet *s) { snprintf(ts_get(s, "bert.encoder.layer.0.attention.self.key.bias")->dtype, 16, "F17"); }
static void e_size(TSet *s) { snprintf(ts_get(s, "bert.encoder.layer.0.attention.self.key.weight")->dtype, 16, "F16"); }
static void e_int(TSet *s) { snprintf(ts_get(s, "bert.encoder.layer.0.output.dense.bias")->dtype, 16, "I32"); }
static void e_outside(TSet *s)
{
    TSpec *t = ts_get(s, "bert.encoder.layer.0.attention.self.value.weight");
    t->begin += 100000;
    t->end += 100000;
}
static void e_overlap(TSet *s)
{
    TSpec *q = ts_get(s, "bert.encoder.layer.0.attention.self.query.bias"),
          *k = ts_get(s, "bert.encoder.layer.0.attention.self.key.bias");
    q->begin = k->begin + 4; /* shares three floats with key.bias */
    q->end = k->end + 4;
}
static void e_nan(TSet *s)
{
    float v = NAN;
    memcpy(s->data + ts_get(s, "bert.encoder.layer.0.attention.self.value.bias")->begin + 8, &v, 4);
}
static void e_inf(TSet *s)
{
    float v = -INFINITY;
    memcpy(s->data + ts_get(s, "classifier.weight")->begin, &v, 4);
}
static void e_extra(TSet *s)
{
    ts_add(s, "I64", "bert.embeddings.position_ids", 1, SP, 0); /* a buffer older checkpoints carry */
    ts_add(s, "F32", "some.unused.tensor", 3, 0, 0);
}

static void test_bad_tensors(void)
{
    expect_fail(bad_tensors(e_missing), "model.safetensors", "'bert.pooler.dense.weight'", "[4, 4]");
    expect_fail(bad_tensors(e_shape), "'bert.encoder.layer.0.attention.self.query.weight'", "[2, 8]", "[4, 4]");
    expect_fail(bad_tensors(e_shape), "model.safetensors", NULL, NULL);
    expect_fail(bad_tensors(e_dtype), "model.safetensors", "'bert.encoder.layer.0.attention.self.key.bias'", "F17");
    expect_fail(bad_tensors(e_size), "model.safetensors", "'bert.encoder.layer.0.attention.self.key.weight'", "F16");
    expect_fail(bad_tensors(e_int), "model.safetensors", "'bert.encoder.layer.0.output.dense.bias'", "I32");
    expect_fail(bad_tensors(e_outside), "model.safetensors", "'bert.encoder.layer.0.attention.self.value.weight'",
                "outside the data section");
    expect_fail(bad_tensors(e_overlap), "model.safetensors", "overlap", "attention.self.key.bias");
    expect_fail(bad_tensors(e_overlap), "attention.self.query.bias", NULL, NULL);
    expect_fail(bad_tensors(e_nan), "model.safetensors", "'bert.encoder.layer.0.attention.self.value.bias'", "nan");
    expect_fail(bad_tensors(e_inf), "model.safetensors", "'classifier.weight'", "inf");
    /* extra tensors, of any known dtype, are ignored */
    Model *m = checkpoint_load(bad_tensors(e_extra), ERR, sizeof ERR);
    if (!m)
        fprintf(stderr, "%s\n", ERR);
    CU_ASSERT(m != NULL);
    model_free(m);
}

/* Overwrites bytes of <dir>/model.safetensors at offset. */
static void patch(const char *dir, long off, const void *bytes, size_t n)
{
    char path[600];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "r+b");
    CU_ASSERT_FATAL(f != NULL);
    fseek(f, off, SEEK_SET);
    fwrite(bytes, 1, n, f);
    fclose(f);
}

static void cut(const char *dir, long delta_from_end, long absolute)
{
    char path[600];
    struct stat sb;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CU_ASSERT_FATAL(stat(path, &sb) == 0);
    CU_ASSERT_FATAL(truncate(path, absolute >= 0 ? absolute : (long)sb.st_size - delta_from_end) == 0);
}

static void test_bad_files(void)
{
    char d[512], path[600];
    /* truncated: the last tensor (classifier.bias) loses its tail */
    snprintf(d, sizeof d, "%s", good_bert("F32"));
    cut(d, 6, -1);
    expect_fail(d, "model.safetensors", "'classifier.bias'", "truncated");
    /* truncated inside the 8-byte length */
    snprintf(d, sizeof d, "%s", good_bert("F32"));
    cut(d, 0, 5);
    expect_fail(d, "model.safetensors", "8-byte", NULL);
    /* header length larger than the file */
    snprintf(d, sizeof d, "%s", good_bert("F32"));
    unsigned char big[8] = {0x00, 0x00, 0x10, 0, 0, 0, 0, 0};
    patch(d, 0, big, 8);
    expect_fail(d, "model.safetensors", "header length 1048576", "exceeds the file size");
    /* header not JSON */
    snprintf(d, sizeof d, "%s", good_bert("F32"));
    patch(d, 8, "#", 1);
    expect_fail(d, "model.safetensors", "not valid JSON", NULL);
    /* no weights at all */
    snprintf(d, sizeof d, "%s", good_bert("F32"));
    snprintf(path, sizeof path, "%s/model.safetensors", d);
    remove(path);
    expect_fail(d, d, "no model.safetensors", NULL);
    char hex[65];
    CU_ASSERT(checkpoint_weights_sha256(d, hex, ERR, sizeof ERR) != 0 && strstr(ERR, "model.safetensors"));
    /* an index whose weight_map puts a tensor in the wrong shard */
    snprintf(d, sizeof d, "%s", case_dir());
    TSet s = {0};
    build_bert(&s, "F32", "bert.", 'c', 0);
    snprintf(path, sizeof path, "%s/a.safetensors", d);
    ts_write_range(&s, 0, s.n - 1, path);
    snprintf(path, sizeof path, "%s/b.safetensors", d);
    ts_write_range(&s, s.n - 1, s.n, path);
    json_t *wm = json_object();
    for (int i = 0; i < s.n; i++)
        json_object_set_new(wm, s.t[i].name, json_string("a.safetensors"));
    json_object_set_new(wm, s.t[0].name, json_string("b.safetensors"));
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", d);
    json_t *idx = json_pack("{s:o}", "weight_map", wm);
    CU_ASSERT_FATAL(json_dump_file(idx, path, 0) == 0);
    json_decref(idx);
    write_config(bert_config(), d);
    expect_fail(d, "model.safetensors.index.json", s.t[0].name, "b.safetensors");
    /* the same tensor in two shards */
    snprintf(path, sizeof path, "%s/b.safetensors", d);
    ts_write_range(&s, 0, 1, path);
    wm = json_object();
    for (int i = 0; i < s.n; i++)
        json_object_set_new(wm, s.t[i].name, json_string("a.safetensors"));
    json_object_set_new(wm, s.t[0].name, json_string("b.safetensors"));
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", d);
    idx = json_pack("{s:o}", "weight_map", wm);
    CU_ASSERT_FATAL(json_dump_file(idx, path, 0) == 0);
    json_decref(idx);
    expect_fail(d, "model.safetensors.index.json", s.t[0].name, "both");
    ts_free(&s);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    int have_shared = test_shared_path("reference/models/tiny-bert/config.json") &&
                      access(test_shared_path("reference/models/tiny-bert/config.json"), R_OK) == 0;
    if (have_shared) {
        CU_pSuite s = CU_add_suite("checkpoint_reference", NULL, NULL);
        CU_add_test(s, "tiny-bert", test_ref_bert);
        CU_add_test(s, "tiny-bert-bf16", test_ref_bert_bf16);
        CU_add_test(s, "tiny-roberta", test_ref_roberta);
        CU_add_test(s, "tiny-distilbert", test_ref_distilbert);
        CU_add_test(s, "sha256", test_ref_sha256);
    }
    snprintf(TMP, sizeof TMP, "/tmp/attrun_ckpt_XXXXXX");
    if (!mkdtemp(TMP)) {
        perror("mkdtemp");
        return 2;
    }
    CU_pSuite syn = CU_add_suite("checkpoint_synthetic", NULL, NULL);
    CU_add_test(syn, "good tiny BERT", test_good_bert);
    CU_add_test(syn, "F16 and BF16 weights", test_half_weights);
    CU_add_test(syn, "F16/BF16 conversion", test_f16_exhaustive);
    CU_add_test(syn, "sharded checkpoint", test_sharded);
    CU_add_test(syn, "legacy names, no prefix, tied MLM", test_tolerated_names);
    CU_add_test(syn, "untied MLM decoder", test_untied_mlm);
    CU_add_test(syn, "bad config.json", test_bad_config);
    CU_add_test(syn, "bad DistilBERT config", test_bad_distilbert_config);
    CU_add_test(syn, "bad tensors", test_bad_tensors);
    CU_add_test(syn, "bad files", test_bad_files);
    int rc = test_run_registry();
    nftw(TMP, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (rc == 0 && !have_shared) {
        printf("SKIPPED: ../shared/reference/models is absent; reference checkpoints not tested\n");
        return TEST_SKIP_CODE;
    }
    return rc;
}
