/* config.json -> ModelConfig for the decoder families: gpt2 (GPT2LMHeadModel,
 * GPT2ForSequenceClassification) and llama / mistral / qwen2 (*ForCausalLM,
 * *ForSequenceClassification). Keys are read with transformers' defaults for each
 * config class; every value the engine does not compute exactly is refused by name. */
#include "io/config_json.h"
#include "io/errmsg.h"
#include "engine/family.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Optional integer (null or absent: def). */
static int opt_int(json_t *root, const char *path, const char *key, long long lo, long long hi, int def, int *out,
                   char *err, size_t errlen)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    return cj_get_int(root, path, key, lo, hi, out, err, errlen);
}

/* Optional number in (lo, hi) (absent: def). */
static int opt_num(json_t *root, const char *path, const char *key, double lo, double hi, double def, double *out,
                   char *err, size_t errlen)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_number(v))
        return io_fail(err, errlen, "%s: key '%s' must be a number", path, key);
    *out = json_number_value(v);
    if (!(*out > lo && *out < hi))
        return io_fail(err, errlen, "%s: key '%s' = %g must be in (%g, %g)", path, key, *out, lo, hi);
    return 0;
}

/* Optional boolean (absent or null: def). */
static int opt_bool(json_t *root, const char *path, const char *key, int def, int *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v))
        return io_fail(err, errlen, "%s: key '%s' must be a boolean", path, key);
    *out = json_is_true(v);
    return 0;
}

/* architectures[0] = <Family>ForCausalLM / LMHeadModel / ForSequenceClassification. */
static int decoder_head(json_t *root, const char *path, ModelConfig *c, const char *family, const char *lm,
                        char *err, size_t errlen)
{
    const char *a;
    if (cj_architecture(root, path, &a, err, errlen))
        return -1;
    char lmn[64], cls[64];
    snprintf(lmn, sizeof lmn, "%s%s", family, lm);
    snprintf(cls, sizeof cls, "%sForSequenceClassification", family);
    if (!strcmp(a, lmn)) {
        c->head = HEAD_LM;
        c->C = c->V;
        return 0;
    }
    if (!strcmp(a, cls)) {
        c->head = HEAD_SCORE;
        return cj_parse_labels(root, path, c, err, errlen);
    }
    return io_fail(err, errlen, "%s: key 'architectures' = \"%s\" is not supported for model_type \"%s\" (supported: %s, %s)",
                   path, a, c->model_type, lmn, cls);
}

static int parse_gpt2(json_t *root, const char *path, ModelConfig *c, char *err, size_t errlen)
{
    const char *act = "gelu_new";
    double eps;
    int scale_w = 1, inv_layer = 0;
    c->arch = ARCH_GPT2;
    if (cj_get_int(root, path, "n_embd", 1, MAX_DIM, &c->D, err, errlen) ||
        cj_get_int(root, path, "n_layer", 1, 4096, &c->L, err, errlen) ||
        cj_get_int(root, path, "n_head", 1, MAX_DIM, &c->NH, err, errlen) ||
        cj_get_int(root, path, "n_positions", 1, MAX_DIM, &c->P, err, errlen) ||
        cj_get_int(root, path, "vocab_size", 1, MAX_DIM, &c->V, err, errlen) ||
        opt_int(root, path, "n_inner", 1, MAX_DIM, 4 * c->D, &c->FF, err, errlen) ||
        opt_num(root, path, "layer_norm_epsilon", 0, 1, 1e-5, &eps, err, errlen) ||
        opt_bool(root, path, "scale_attn_weights", 1, &scale_w, err, errlen) ||
        opt_bool(root, path, "scale_attn_by_inverse_layer_idx", 0, &inv_layer, err, errlen))
        return -1;
    json_t *a = json_object_get(root, "activation_function");
    if (a && !json_is_string(a))
        return io_fail(err, errlen, "%s: key 'activation_function' must be a string", path);
    if (a)
        act = json_string_value(a);
    if (cj_parse_act(path, "activation_function", act, &c->act, err, errlen))
        return -1;
    if (!scale_w)
        return io_fail(err, errlen, "%s: key 'scale_attn_weights' = false is not supported", path);
    if (inv_layer)
        return io_fail(err, errlen, "%s: key 'scale_attn_by_inverse_layer_idx' = true is not supported", path);
    /* reorder_and_upcast_attn only changes the precision of HF's own float16 runs. */
    c->ln_eps = (float)eps;
    if (c->D % c->NH)
        return io_fail(err, errlen, "%s: n_embd %d is not a multiple of n_head %d", path, c->D, c->NH);
    return cj_read_tie(root, path, c, 1, err, errlen) || decoder_head(root, path, c, "GPT2", "LMHeadModel", err, errlen);
}

/* rope_scaling: null, or {rope_type (or type): default | linear | llama3, ...}. */
static int parse_rope_scaling(json_t *root, const char *path, ModelConfig *c, char *err, size_t errlen)
{
    json_t *r = json_object_get(root, "rope_scaling");
    c->rope_scaling = ROPE_DEFAULT;
    if (!r || json_is_null(r))
        return 0;
    if (!json_is_object(r))
        return io_fail(err, errlen, "%s: key 'rope_scaling' must be an object or null", path);
    json_t *t = json_object_get(r, "rope_type");
    if (!t)
        t = json_object_get(r, "type");
    if (!t || !json_is_string(t))
        return io_fail(err, errlen, "%s: key 'rope_scaling' needs a string 'rope_type'", path);
    const char *ty = json_string_value(t);
    if (!strcmp(ty, "default"))
        return 0;
    double f;
    if (strcmp(ty, "linear") && strcmp(ty, "llama3"))
        return io_fail(err, errlen,
                       "%s: key 'rope_scaling.rope_type' = \"%s\" is not supported (supported: default, linear, llama3)",
                       path, ty);
    if (opt_num(r, path, "factor", 0, 1e9, NAN, &f, err, errlen))
        return -1;
    if (isnan(f))
        return io_fail(err, errlen, "%s: key 'rope_scaling.factor' is missing", path);
    c->rope_factor = (float)f;
    if (!strcmp(ty, "linear")) {
        c->rope_scaling = ROPE_LINEAR;
        return 0;
    }
    double lo, hi;
    c->rope_scaling = ROPE_LLAMA3;
    if (opt_num(r, path, "low_freq_factor", 0, 1e9, NAN, &lo, err, errlen) ||
        opt_num(r, path, "high_freq_factor", 0, 1e9, NAN, &hi, err, errlen) ||
        cj_get_int(r, path, "original_max_position_embeddings", 1, MAX_DIM, &c->rope_orig_P, err, errlen))
        return -1;
    if (isnan(lo) || isnan(hi) || !(hi > lo))
        return io_fail(err, errlen, "%s: key 'rope_scaling' (llama3) needs low_freq_factor < high_freq_factor", path);
    c->rope_low_freq = (float)lo;
    c->rope_high_freq = (float)hi;
    return 0;
}

static int parse_llama_like(json_t *root, const char *path, ModelConfig *c, char *err, size_t errlen)
{
    const char *mt = c->model_type, *act = "silu";
    int qwen = !strcmp(mt, "qwen2"), mistral = !strcmp(mt, "mistral"), abias = 0, mbias = 0;
    double eps, theta;
    c->arch = ARCH_LLAMA;
    if (cj_get_int(root, path, "hidden_size", 1, MAX_DIM, &c->D, err, errlen) ||
        cj_get_int(root, path, "num_hidden_layers", 1, 4096, &c->L, err, errlen) ||
        cj_get_int(root, path, "num_attention_heads", 1, MAX_DIM, &c->NH, err, errlen) ||
        opt_int(root, path, "num_key_value_heads", 1, MAX_DIM, c->NH, &c->NKV, err, errlen) ||
        cj_get_int(root, path, "intermediate_size", 1, MAX_DIM, &c->FF, err, errlen) ||
        cj_get_int(root, path, "max_position_embeddings", 1, MAX_DIM, &c->P, err, errlen) ||
        cj_get_int(root, path, "vocab_size", 1, MAX_DIM, &c->V, err, errlen) ||
        opt_int(root, path, "head_dim", 1, MAX_DIM, c->D / c->NH, &c->hs, err, errlen) ||
        opt_num(root, path, "rms_norm_eps", 0, 1, 1e-6, &eps, err, errlen) ||
        opt_num(root, path, "rope_theta", 0, 1e30, 10000.0, &theta, err, errlen) ||
        parse_rope_scaling(root, path, c, err, errlen))
        return -1;
    json_t *a = json_object_get(root, "hidden_act");
    if (a && !json_is_string(a))
        return io_fail(err, errlen, "%s: key 'hidden_act' must be a string", path);
    if (a)
        act = json_string_value(a);
    if (cj_parse_act(path, "hidden_act", act, &c->act, err, errlen))
        return -1;
    if (c->hs < 1) /* no head_dim and hidden_size < num_attention_heads: hidden_size // heads is 0 */
        return io_fail(err, errlen, "%s: hidden_size %d / num_attention_heads %d leaves a head size of 0 (no head_dim)",
                       path, c->D, c->NH);
    if (c->NH % c->NKV)
        return io_fail(err, errlen, "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", path,
                       c->NH, c->NKV);
    if (c->hs % 2)
        return io_fail(err, errlen, "%s: head_dim %d is odd (RoPE rotates pairs)", path, c->hs);
    if (!qwen && !mistral && (opt_bool(root, path, "attention_bias", 0, &abias, err, errlen) ||
                              opt_bool(root, path, "mlp_bias", 0, &mbias, err, errlen)))
        return -1;
    /* Qwen2Attention: q/k/v always have biases, o_proj never; Mistral: no biases. */
    c->qkv_bias = qwen || abias;
    c->o_bias = abias;
    c->ffn_bias = mbias;
    c->ln_eps = (float)eps;
    c->rope_theta = (float)theta;
    if (mistral && opt_int(root, path, "sliding_window", 1, 1 << 30, 4096, &c->window, err, errlen))
        return -1;
    if (mistral && json_is_null(json_object_get(root, "sliding_window")))
        c->window = 0;
    if (qwen) {
        int usw = 0;
        if (opt_bool(root, path, "use_sliding_window", 0, &usw, err, errlen))
            return -1;
        if (usw)
            return io_fail(err, errlen, "%s: key 'use_sliding_window' = true is not supported", path);
    }
    const char *fam = qwen ? "Qwen2" : mistral ? "Mistral" : "Llama";
    return cj_read_tie(root, path, c, 0, err, errlen) || decoder_head(root, path, c, fam, "ForCausalLM", err, errlen);
}

/* Special ids from the config: pad (the score head pools at the last non-pad token;
 * none: the last position), bos, eos. A list of eos ids keeps the first. */
static int special_id(json_t *root, const char *path, const char *key, int V, int *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, key);
    if (v && json_is_array(v))
        v = json_array_size(v) ? json_array_get(v, 0) : NULL;
    *out = -1;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= V)
        return io_fail(err, errlen, "%s: key '%s' must be a token id in [0, %d) or null", path, key, V);
    *out = (int)json_integer_value(v);
    return 0;
}

int cj_parse_decoder(json_t *root, const char *path, ModelConfig *c, char *err, size_t errlen)
{
    if (!strcmp(c->model_type, "gpt2") ? parse_gpt2(root, path, c, err, errlen)
                                       : parse_llama_like(root, path, c, err, errlen))
        return -1;
    c->unk_id = c->mask_id = -1;
    if (special_id(root, path, "pad_token_id", c->V, &c->pad_id, err, errlen) ||
        special_id(root, path, "bos_token_id", c->V, &c->bos_id, err, errlen) ||
        special_id(root, path, "eos_token_id", c->V, &c->eos_id, err, errlen))
        return -1;
    family_describe(c);
    return 0;
}
