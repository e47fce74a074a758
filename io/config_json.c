/* config.json -> ModelConfig for BERT, RoBERTa and DistilBERT checkpoints.
 * Follows what transformers does with the same file, and refuses (by name) whatever
 * this engine cannot compute exactly: other model types, activations, relative
 * position embeddings, sinusoidal DistilBERT positions, heads other than sequence
 * classification and masked LM. */
#include "io/checkpoint.h"
#include "io/errmsg.h"
#include "io/config_json.h"
#include "io/json_load.h"
#include "engine/family.h"
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest dimension accepted: keeps every size product far from overflow. */

/* Required integer key in [lo, hi]. */
int cj_get_int(json_t *root, const char *path, const char *key, long long lo, long long hi, int *out, char *err,
                   size_t errlen)
{
    json_t *v = json_object_get(root, key);
    if (!v)
        return io_fail(err, errlen, "%s: missing key '%s'", path, key);
    if (!json_is_integer(v))
        return io_fail(err, errlen, "%s: key '%s' must be an integer", path, key);
    long long x = json_integer_value(v);
    if (x < lo || x > hi)
        return io_fail(err, errlen, "%s: key '%s' = %lld is out of range [%lld, %lld]", path, key, x, lo, hi);
    *out = (int)x;
    return 0;
}

int cj_get_str(json_t *root, const char *path, const char *key, const char **out, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, key);
    if (!v)
        return io_fail(err, errlen, "%s: missing key '%s'", path, key);
    if (!json_is_string(v))
        return io_fail(err, errlen, "%s: key '%s' must be a string", path, key);
    *out = json_string_value(v);
    return 0;
}

/* transformers' ACT2FN names, mapped to what the engine computes. The tanh forms
 * (gelu_new, gelu_pytorch_tanh, gelu_fast, gelu_accurate) are one formula,
 * 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))); gelu_fast writes sqrt(2/pi) as 0.7978845608,
 * 3e-12 away, below float32 resolution. quick_gelu (x*sigmoid(1.702x)), gelu_10 (clipped),
 * silu, etc. are different functions and are refused. */
int cj_parse_act(const char *path, const char *key, const char *s, Activation *a, char *err, size_t errlen)
{
    if (!strcmp(s, "gelu") || !strcmp(s, "gelu_python"))
        *a = ACT_GELU;
    else if (!strcmp(s, "gelu_new") || !strcmp(s, "gelu_pytorch_tanh") || !strcmp(s, "gelu_fast") ||
             !strcmp(s, "gelu_accurate"))
        *a = ACT_GELU_TANH;
    else if (!strcmp(s, "relu"))
        *a = ACT_RELU;
    else if (!strcmp(s, "silu") || !strcmp(s, "swish"))
        *a = ACT_SILU;
    else
        return io_fail(err, errlen,
                    "%s: key '%s' = \"%s\" is not supported (supported: gelu, gelu_python, gelu_new, "
                    "gelu_pytorch_tanh, gelu_fast, gelu_accurate, relu, silu, swish)",
                    path, key, s);
    return 0;
}

int cj_architecture(json_t *root, const char *path, const char **out, char *err, size_t errlen)
{
    json_t *arch = json_object_get(root, "architectures");
    if (!arch)
        return io_fail(err, errlen, "%s: missing key 'architectures'", path);
    if (!json_is_array(arch) || json_array_size(arch) == 0 || !json_is_string(json_array_get(arch, 0)))
        return io_fail(err, errlen, "%s: key 'architectures' must be a non-empty array of strings", path);
    *out = json_string_value(json_array_get(arch, 0));
    return 0;
}

static int parse_head(json_t *root, const char *path, ModelConfig *c, const char *family, char *err, size_t errlen)
{
    const char *a;
    if (cj_architecture(root, path, &a, err, errlen))
        return -1;
    char cls[64], mlm[64];
    snprintf(cls, sizeof cls, "%sForSequenceClassification", family);
    snprintf(mlm, sizeof mlm, "%sForMaskedLM", family);
    if (!strcmp(a, cls))
        c->head = HEAD_CLASSIFIER;
    else if (!strcmp(a, mlm))
        c->head = HEAD_MLM;
    else
        return io_fail(err, errlen,
                    "%s: key 'architectures' = \"%s\" is not supported for model_type \"%s\" (supported: %s, %s)",
                    path, a, c->model_type, cls, mlm);
    return 0;
}

/* Classifier labels: num_labels = len(id2label) when id2label is given (as transformers does),
 * else num_labels, else 2; names from id2label, else transformers' default "LABEL_<i>". */
int cj_parse_labels(json_t *root, const char *path, ModelConfig *c, char *err, size_t errlen)
{
    json_t *id2 = json_object_get(root, "id2label"), *nl = json_object_get(root, "num_labels");
    int n = 2;
    if (id2 && !json_is_null(id2)) {
        if (!json_is_object(id2) || json_object_size(id2) == 0)
            return io_fail(err, errlen, "%s: key 'id2label' must be a non-empty object", path);
        if (json_object_size(id2) > MAX_DIM)
            return io_fail(err, errlen, "%s: key 'id2label' has too many entries", path);
        n = (int)json_object_size(id2);
    }
    if (nl && !json_is_null(nl)) {
        if (!json_is_integer(nl) || json_integer_value(nl) < 1 || json_integer_value(nl) > MAX_DIM)
            return io_fail(err, errlen, "%s: key 'num_labels' must be a positive integer", path);
        if (id2 && !json_is_null(id2) && json_integer_value(nl) != n)
            return io_fail(err, errlen, "%s: key 'num_labels' = %lld disagrees with 'id2label' (%d entries)", path,
                        (long long)json_integer_value(nl), n);
        n = (int)json_integer_value(nl);
    }
    c->C = n;
    c->labels = calloc((size_t)n, sizeof *c->labels);
    if (!c->labels)
        return io_fail(err, errlen, "%s: out of memory", path);
    if (id2 && !json_is_null(id2)) {
        const char *k;
        json_t *v;
        json_object_foreach(id2, k, v)
        {
            char *end = NULL;
            long id = strtol(k, &end, 10);
            if (!*k || *end || id < 0 || id >= n)
                return io_fail(err, errlen, "%s: key 'id2label' has key \"%s\", not an id in [0, %d)", path, k, n);
            if (!json_is_string(v))
                return io_fail(err, errlen, "%s: key 'id2label' entry \"%s\" must be a string", path, k);
            if (c->labels[id])
                return io_fail(err, errlen, "%s: key 'id2label' names id %ld twice", path, id);
            if (!(c->labels[id] = strdup(json_string_value(v))))
                return io_fail(err, errlen, "%s: out of memory", path);
        }
    } else {
        for (int i = 0; i < n; i++) {
            char name[32];
            snprintf(name, sizeof name, "LABEL_%d", i);
            if (!(c->labels[i] = strdup(name)))
                return io_fail(err, errlen, "%s: out of memory", path);
        }
    }
    return 0;
}

static int parse_bert_like(json_t *root, const char *path, ModelConfig *c, char *err, size_t errlen)
{
    const char *act, *pet = "absolute";
    double eps;
    if (cj_get_int(root, path, "hidden_size", 1, MAX_DIM, &c->D, err, errlen) ||
        cj_get_int(root, path, "num_hidden_layers", 1, 4096, &c->L, err, errlen) ||
        cj_get_int(root, path, "num_attention_heads", 1, MAX_DIM, &c->NH, err, errlen) ||
        cj_get_int(root, path, "intermediate_size", 1, MAX_DIM, &c->FF, err, errlen) ||
        cj_get_str(root, path, "hidden_act", &act, err, errlen) ||
        cj_parse_act(path, "hidden_act", act, &c->act, err, errlen) ||
        cj_get_int(root, path, "max_position_embeddings", 1, MAX_DIM, &c->P, err, errlen) ||
        cj_get_int(root, path, "type_vocab_size", 1, MAX_DIM, &c->TV, err, errlen) ||
        cj_get_int(root, path, "vocab_size", 1, MAX_DIM, &c->V, err, errlen) ||
        cj_get_int(root, path, "pad_token_id", 0, MAX_DIM, &c->pad_id, err, errlen))
        return -1;
    json_t *e = json_object_get(root, "layer_norm_eps");
    if (!e)
        return io_fail(err, errlen, "%s: missing key 'layer_norm_eps'", path);
    if (!json_is_number(e))
        return io_fail(err, errlen, "%s: key 'layer_norm_eps' must be a number", path);
    eps = json_number_value(e);
    if (!(eps > 0 && eps < 1))
        return io_fail(err, errlen, "%s: key 'layer_norm_eps' = %g must be in (0, 1)", path, eps);
    c->ln_eps = (float)eps;
    json_t *p = json_object_get(root, "position_embedding_type");
    if (p && !json_is_null(p)) {
        if (!json_is_string(p))
            return io_fail(err, errlen, "%s: key 'position_embedding_type' must be a string", path);
        pet = json_string_value(p);
    }
    if (strcmp(pet, "absolute") != 0)
        return io_fail(err, errlen, "%s: key 'position_embedding_type' = \"%s\" is not supported (only \"absolute\")",
                    path, pet);
    return 0;
}

static int parse_distilbert(json_t *root, const char *path, ModelConfig *c, char *err, size_t errlen)
{
    const char *act;
    if (cj_get_int(root, path, "dim", 1, MAX_DIM, &c->D, err, errlen) ||
        cj_get_int(root, path, "n_layers", 1, 4096, &c->L, err, errlen) ||
        cj_get_int(root, path, "n_heads", 1, MAX_DIM, &c->NH, err, errlen) ||
        cj_get_int(root, path, "hidden_dim", 1, MAX_DIM, &c->FF, err, errlen) ||
        cj_get_str(root, path, "activation", &act, err, errlen) ||
        cj_parse_act(path, "activation", act, &c->act, err, errlen) ||
        cj_get_int(root, path, "max_position_embeddings", 1, MAX_DIM, &c->P, err, errlen) ||
        cj_get_int(root, path, "vocab_size", 1, MAX_DIM, &c->V, err, errlen) ||
        cj_get_int(root, path, "pad_token_id", 0, MAX_DIM, &c->pad_id, err, errlen))
        return -1;
    json_t *s = json_object_get(root, "sinusoidal_pos_embds"); /* transformers' default: false */
    if (s && !json_is_boolean(s))
        return io_fail(err, errlen, "%s: key 'sinusoidal_pos_embds' must be a boolean", path);
    if (s && json_is_true(s))
        return io_fail(err, errlen, "%s: key 'sinusoidal_pos_embds' = true is not supported (learned positions only)",
                    path);
    c->TV = 0;
    c->ln_eps = 1e-12f; /* DistilBERT's LayerNorms hard-code eps=1e-12 in transformers */
    return 0;
}

/* tie_word_embeddings (transformers' default: def) -> cfg->untied. */
int cj_read_tie(json_t *root, const char *path, ModelConfig *c, int def, char *err, size_t errlen)
{
    json_t *t = json_object_get(root, "tie_word_embeddings");
    if (t && !json_is_boolean(t))
        return io_fail(err, errlen, "%s: key 'tie_word_embeddings' must be a boolean", path);
    c->untied = t ? !json_is_true(t) : !def;
    return 0;
}

int checkpoint_read_config(const char *dir, ModelConfig *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_error_t je;
    json_t *root = io_json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (je.line < 0 || strstr(je.text, "unable to open"))
            return io_fail(err, errlen, "%s: cannot read: %s", path, je.text);
        return io_fail(err, errlen, "%s: not valid JSON (line %d: %s)", path, je.line, je.text);
    }
    int rc = -1;
    const char *mt;
    if (!json_is_object(root)) {
        io_fail(err, errlen, "%s: top level is not a JSON object", path);
        goto out;
    }
    if (cj_get_str(root, path, "model_type", &mt, err, errlen))
        goto out;
    snprintf(cfg->model_type, sizeof cfg->model_type, "%s", mt);
    const char *family;
    if (!strcmp(mt, "bert")) {
        cfg->arch = ARCH_BERT;
        family = "Bert";
    } else if (!strcmp(mt, "roberta")) {
        cfg->arch = ARCH_ROBERTA;
        family = "Roberta";
    } else if (!strcmp(mt, "distilbert")) {
        cfg->arch = ARCH_DISTILBERT;
        family = "DistilBert";
    } else if (!strcmp(mt, "gpt2") || !strcmp(mt, "llama") || !strcmp(mt, "mistral") || !strcmp(mt, "qwen2")) {
        rc = cj_parse_decoder(root, path, cfg, err, errlen);
        goto out;
    } else {
        io_fail(err, errlen,
                "%s: key 'model_type' = \"%s\" is not supported (supported: bert, roberta, distilbert, gpt2, "
                "llama, mistral, qwen2; see docs/models.md)",
                path, mt);
        goto out;
    }
    if (cj_read_tie(root, path, cfg, 1, err, errlen))
        goto out;
    if (cfg->arch == ARCH_DISTILBERT ? parse_distilbert(root, path, cfg, err, errlen)
                                     : parse_bert_like(root, path, cfg, err, errlen))
        goto out;
    if (cfg->D % cfg->NH != 0) {
        io_fail(err, errlen, "%s: hidden size %d is not a multiple of the number of attention heads %d", path, cfg->D,
             cfg->NH);
        goto out;
    }
    if (cfg->pad_id >= cfg->V) {
        io_fail(err, errlen, "%s: key 'pad_token_id' = %d is not below vocab_size %d", path, cfg->pad_id, cfg->V);
        goto out;
    }
    if (parse_head(root, path, cfg, family, err, errlen))
        goto out;
    /* RoBERTa numbers positions from padding_idx + 1 (create_position_ids_from_input_ids), so
     * position table rows 0..pad_id are never used and the longest input is P - pad_id - 1. */
    cfg->position_offset = cfg->arch == ARCH_ROBERTA ? cfg->pad_id + 1 : 0;
    if (cfg->position_offset >= cfg->P) {
        io_fail(err, errlen,
             "%s: key 'max_position_embeddings' = %d leaves no positions after RoBERTa's offset pad_token_id + 1 = %d",
             path, cfg->P, cfg->position_offset);
        goto out;
    }
    if (cfg->head == HEAD_MLM) {
        cfg->C = cfg->V;
        /* BertPredictionHeadTransform and DistilBERT's vocab_transform use the config activation;
         * RobertaLMHead calls gelu() (exact erf) whatever hidden_act says. */
        cfg->head_act = cfg->arch == ARCH_ROBERTA ? ACT_GELU : cfg->act;
    } else {
        /* BERT pooler and RoBERTa classifier.dense: tanh; DistilBERT pre_classifier: ReLU. */
        cfg->head_act = cfg->arch == ARCH_DISTILBERT ? ACT_RELU : ACT_TANH;
        if (cj_parse_labels(root, path, cfg, err, errlen))
            goto out;
    }
    cfg->bos_id = cfg->eos_id = cfg->unk_id = cfg->mask_id = -1;
    family_describe(cfg);
    rc = 0;
out:
    json_decref(root);
    if (rc != 0)
        model_config_free(cfg);
    return rc;
}

void model_config_free(ModelConfig *cfg)
{
    if (!cfg || !cfg->labels)
        return;
    for (int i = 0; i < cfg->C; i++)
        free(cfg->labels[i]);
    free(cfg->labels);
    cfg->labels = NULL;
}
