/* Decoder config.json handling (io/family_decoder.c): the block description read from the
 * reference checkpoints, transformers' defaults, and every refused value named in the error.
 * Each case rewrites one key of tiny-llama's / tiny-gpt2's config.json in a temporary
 * directory (the weights are not read: checkpoint_read_config only). */
#include "io/checkpoint.h"
#include "tests/testutil.h"
#include <CUnit/Basic.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/attrun_deccfg_XXXXXX";

/* Writes <tmpdir>/config.json = <dir>/config.json with key set to v (NULL: removed). */
static const char *set_key(const char *dir, const char *key, json_t *v)
{
    char src[4200];
    snprintf(src, sizeof src, "%s/config.json", dir);
    json_t *root = json_load_file(src, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    if (v)
        json_object_set_new(root, key, v);
    else
        json_object_del(root, key);
    static char dst[4200];
    snprintf(dst, sizeof dst, "%s/config.json", tmpdir);
    CU_ASSERT_EQUAL_FATAL(json_dump_file(root, dst, 0), 0);
    json_decref(root);
    return tmpdir;
}

/* <tmpdir>/config.json = the model's config with key set to v (NULL: removed). */
static const char *with_key(const char *model_rel, const char *key, json_t *v)
{
    return set_key(test_shared_path(model_rel), key, v);
}

/* One more key of <tmpdir>/config.json changed (after with_key). */
static const char *and_key(const char *key, json_t *v) { return set_key(tmpdir, key, v); }

static void expect_fail(const char *dir, const char *part1, const char *part2)
{
    ModelConfig c;
    char err[1024] = "";
    int rc = checkpoint_read_config(dir, &c, err, sizeof err);
    printf("\n    refused: %s", err);
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, part1));
    if (part2)
        CU_ASSERT_PTR_NOT_NULL(strstr(err, part2));
}

static void test_reference_descriptions(void)
{
    ModelConfig c;
    char err[1024];
    CU_ASSERT_EQUAL_FATAL(checkpoint_read_config(test_shared_path("reference/models/tiny-llama"), &c, err, sizeof err), 0);
    CU_ASSERT(c.arch == ARCH_LLAMA && c.head == HEAD_LM && c.C == c.V && c.V == 2048);
    CU_ASSERT(c.norm == NORM_RMS && c.norm_place == NORM_PRE && c.pos == POS_ROPE && c.causal && c.ffn_gated);
    CU_ASSERT(c.NH == 4 && c.NKV == 2 && c.hs == 16 && c.untied && !c.qkv_bias && !c.o_bias && c.ln_eps == 1e-5f);
    CU_ASSERT(c.bos_id == 1 && c.eos_id == 2 && c.pad_id == -1 && c.rope_theta == 10000.0f);
    model_config_free(&c);
    CU_ASSERT_EQUAL_FATAL(checkpoint_read_config(test_shared_path("reference/models/tiny-qwen2"), &c, err, sizeof err), 0);
    CU_ASSERT(c.qkv_bias && !c.o_bias && !c.untied && c.window == 0 && c.ln_eps == 1e-6f);
    model_config_free(&c);
    CU_ASSERT_EQUAL_FATAL(checkpoint_read_config(test_shared_path("reference/models/tiny-gpt2"), &c, err, sizeof err), 0);
    CU_ASSERT(c.arch == ARCH_GPT2 && c.norm == NORM_LAYER && c.norm_place == NORM_PRE && c.pos == POS_LEARNED);
    CU_ASSERT(c.FF == 4 * c.D && c.act == ACT_GELU_TANH && !c.untied && c.qkv_bias && !c.emb_norm && c.P == 128);
    model_config_free(&c);
    /* Mistral: sliding_window defaults to 4096 (MistralConfig), null = none */
    with_key("reference/models/tiny-llama", "model_type", json_string("mistral"));
    const char *d = and_key("architectures", json_pack("[s]", "MistralForCausalLM"));
    CU_ASSERT_EQUAL_FATAL(checkpoint_read_config(d, &c, err, sizeof err), 0);
    CU_ASSERT_EQUAL(c.window, 4096);
    model_config_free(&c);
    and_key("sliding_window", json_integer(3));
    CU_ASSERT_EQUAL_FATAL(checkpoint_read_config(d, &c, err, sizeof err), 0);
    CU_ASSERT_EQUAL(c.window, 3);
    model_config_free(&c);
}

static void test_refusals(void)
{
    const char *L = "reference/models/tiny-llama", *G = "reference/models/tiny-gpt2";
    expect_fail(with_key(L, "rope_scaling", json_pack("{s:s,s:f}", "rope_type", "yarn", "factor", 4.0)),
                "rope_scaling.rope_type", "yarn");
    expect_fail(with_key(L, "rope_scaling", json_pack("{s:s}", "rope_type", "linear")), "rope_scaling.factor", NULL);
    expect_fail(with_key(L, "rope_scaling", json_pack("{s:s,s:f}", "rope_type", "llama3", "factor", 8.0)),
                "original_max_position_embeddings", NULL);
    expect_fail(with_key(L, "num_key_value_heads", json_integer(3)), "num_key_value_heads", NULL);
    expect_fail(with_key(L, "hidden_act", json_string("gelu_10")), "hidden_act", "gelu_10");
    expect_fail(with_key(L, "architectures", json_pack("[s]", "LlamaModel")), "architectures", "LlamaModel");
    expect_fail(with_key(L, "head_dim", json_integer(15)), "head_dim", NULL);
    expect_fail(with_key(L, "tie_word_embeddings", json_string("yes")), "tie_word_embeddings", NULL);
    /* No head_dim and more heads than hidden units: hidden_size // heads = 0 (fuzz_config_json's
     * decoder invariants) */
    with_key(L, "head_dim", NULL);
    and_key("num_attention_heads", json_integer(128));
    expect_fail(and_key("num_key_value_heads", json_integer(128)), "leaves a head size of 0", "num_attention_heads 128");
    expect_fail(with_key(L, "hidden_size", NULL), "hidden_size", NULL);
    expect_fail(with_key(G, "scale_attn_by_inverse_layer_idx", json_true()), "scale_attn_by_inverse_layer_idx", NULL);
    expect_fail(with_key(G, "scale_attn_weights", json_false()), "scale_attn_weights", NULL);
    expect_fail(with_key(G, "activation_function", json_string("quick_gelu")), "activation_function", "quick_gelu");
    expect_fail(with_key(G, "pad_token_id", json_integer(99999)), "pad_token_id", NULL);
    expect_fail(with_key("reference/models/tiny-qwen2", "use_sliding_window", json_true()), "use_sliding_window",
                NULL);
}

int main(void)
{
    test_require_shared("reference/models/tiny-llama/config.json");
    if (!mkdtemp(tmpdir))
        return 1;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite su = CU_add_suite("decoder_config", NULL, NULL);
    CU_add_test(su, "descriptions of tiny-llama, tiny-qwen2, tiny-gpt2, mistral defaults", test_reference_descriptions);
    CU_add_test(su, "unsupported values refused by name", test_refusals);
    int rc = test_run_registry();
    char p[4200];
    snprintf(p, sizeof p, "%s/config.json", tmpdir);
    unlink(p);
    rmdir(tmpdir);
    return rc;
}
