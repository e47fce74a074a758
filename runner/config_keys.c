/* The configuration keys: one row per key (path, type, field, range, allowed words, default,
 * docs), in the order of config_to_yaml and configs/README.md. The ranges of the method
 * parameters are the engine's (engine/attribution.h), so a value accepted here also runs.
 * Adding a key: a RunConfig field, a row here, then `attrun config --keys-markdown` into
 * configs/README.md (tests/test_config_docs.sh compares them). */
#include "runner/config_keys.h"
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the keys that are not a single typed value ---- */

/* A scalar or a sequence of scalars, visited in order. -1: neither; -2: more than max. */
static int seq_items(const yaml_document_t *doc, const yaml_node_t *n, yaml_node_t **items, int max)
{
    if (n->type == YAML_SCALAR_NODE) {
        items[0] = (yaml_node_t *)n;
        return 1;
    }
    if (n->type != YAML_SEQUENCE_NODE)
        return -1;
    int k = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        if (k == max)
            return -2;
        items[k++] = yaml_document_get_node((yaml_document_t *)doc, *it);
    }
    return k;
}

static int set_methods(ConfigCtx *x, RunConfig *c, const yaml_node_t *n, const char *key)
{
    yaml_node_t *items[M_NUM_METHODS + 1];
    int k = seq_items(x->doc, n, items, M_NUM_METHODS);
    if (k == -1)
        return config_fail(x, n, key, "expected a method name or a list of them");
    if (k == -2)
        return config_fail(x, n, key, "a method is listed twice");
    if (k == 0) { /* a forward-only job: the base forward and its analysis (docs/analysis.md §9) */
        c->n_methods = 0;
        return 0;
    }
    MethodKind m[M_NUM_METHODS];
    for (int i = 0; i < k; i++) {
        const char *v = config_scalar(x, items[i], key);
        if (!v)
            return -1;
        int id = config_method_from_name(v);
        if (id < 0)
            return config_fail(x, items[i], key, "unknown method '%s' (ig, gradshap, deeplift, deepliftshap, "
                               "saliency, inputxgradient, smoothgrad, conductance)", v);
        for (int j = 0; j < i; j++)
            if (m[j] == (MethodKind)id)
                return config_fail(x, items[i], key, "method '%s' is listed twice", v);
        m[i] = (MethodKind)id;
    }
    c->n_methods = k;
    memcpy(c->methods, m, sizeof(MethodKind) * k);
    return 0;
}

static void print_methods(ConfigBuf *b, const RunConfig *c)
{
    config_buf_put(b, "[");
    for (int i = 0; i < c->n_methods; i++)
        config_buf_put(b, "%s%s", i ? ", " : "", config_method_name(c->methods[i]));
    config_buf_put(b, "]");
}

static int set_baselines(ConfigCtx *x, RunConfig *c, const yaml_node_t *n, const char *key)
{
    yaml_node_t *items[MAX_BASELINES + 1];
    int k = seq_items(x->doc, n, items, MAX_BASELINES);
    if (k == -1)
        return config_fail(x, n, key, "expected a baseline name or a list of them");
    if (k == -2)
        return config_fail(x, n, key, "at most %d baselines", MAX_BASELINES);
    if (k == 0)
        return config_fail(x, n, key, "the list is empty");
    BaselineKind bs[MAX_BASELINES];
    for (int i = 0; i < k; i++) {
        const char *v = config_scalar(x, items[i], key);
        if (!v)
            return -1;
        int b = baseline_from_name(v);
        if (b < 0)
            return config_fail(x, items[i], key, "unknown baseline '%s' (pad, mask, unk, pad_all, zero, token)", v);
        bs[i] = (BaselineKind)b;
    }
    c->nbaselines = k;
    memcpy(c->baselines, bs, sizeof(BaselineKind) * k);
    return 0;
}

static void print_baselines(ConfigBuf *b, const RunConfig *c)
{
    config_buf_put(b, "[");
    for (int i = 0; i < c->nbaselines; i++)
        config_buf_put(b, "%s%s", i ? ", " : "", baseline_name(c->baselines[i]));
    config_buf_put(b, "]");
}

/* analysis.categories: none | java | field:<name> (docs/analysis.md §6). */
static int set_categories(ConfigCtx *x, RunConfig *c, const yaml_node_t *n, const char *key)
{
    const char *v = config_scalar(x, n, key);
    if (!v)
        return -1;
    free(c->analysis.category_field);
    c->analysis.category_field = NULL;
    if (!strcmp(v, "none") || !strcmp(v, "java")) {
        c->analysis.categories = v[0] == 'j' ? ANALYSIS_CAT_JAVA : ANALYSIS_CAT_NONE;
        return 0;
    }
    if (!strncmp(v, "field:", 6) && v[6]) {
        c->analysis.categories = ANALYSIS_CAT_FIELD;
        c->analysis.category_field = strdup(v + 6);
        return 0;
    }
    return config_fail(x, n, key, "unknown source '%s' (none, java, or field:<name> of a JSONL corpus field of "
                       "[[start, end, \"label\"], ...])", v);
}

static void print_categories(ConfigBuf *b, const RunConfig *c)
{
    if (c->analysis.categories == ANALYSIS_CAT_FIELD) {
        char *v = malloc(strlen(c->analysis.category_field) + 7);
        if (v) {
            strcat(strcpy(v, "field:"), c->analysis.category_field);
            config_buf_quoted(b, v);
        }
        free(v);
    } else {
        config_buf_put(b, c->analysis.categories == ANALYSIS_CAT_JAVA ? "java" : "none");
    }
}

void config_free_words(char **w, int n)
{
    for (int i = 0; w && i < n; i++)
        free(w[i]);
    free(w);
}

/* A list of strings (a flow or block sequence of scalars) into *out / *n, replacing what was there. */
static int set_word_list(ConfigCtx *x, const yaml_node_t *n, const char *key, char ***out, int *nout)
{
    int k = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
        k++;
    char **w = calloc(k ? (size_t)k : 1, sizeof *w);
    if (!w)
        return config_fail(x, n, key, "out of memory");
    int i = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
        yaml_node_t *item = yaml_document_get_node(x->doc, *it);
        const char *v = config_scalar(x, item, key);
        if (!v || !*v) {
            if (v)
                config_fail(x, item, key, "item %d is empty", i + 1);
            config_free_words(w, i);
            return -1;
        }
        w[i] = strdup(v);
    }
    config_free_words(*out, *nout);
    *out = w;
    *nout = k;
    return 0;
}

static void print_word_list(ConfigBuf *b, char *const *w, int n)
{
    config_buf_put(b, "[");
    for (int i = 0; i < n; i++) {
        config_buf_put(b, "%s", i ? ", " : "");
        config_buf_quoted(b, w[i]);
    }
    config_buf_put(b, "]");
}

/* corpus.keep_fields: a list of column / field names. Each becomes /examples/fields/<name>, so a
 * name must be usable as one HDF5 link name (no '/', not '.'), and given once. */
static int set_keep_fields(ConfigCtx *x, RunConfig *c, const yaml_node_t *n, const char *key)
{
    if (config_is_null(n)) {
        config_free_words(c->corpus.keep_fields, c->corpus.n_keep);
        c->corpus.keep_fields = NULL;
        c->corpus.n_keep = 0;
        return 0;
    }
    if (n->type != YAML_SEQUENCE_NODE)
        return config_fail(x, n, key, "expected a list of column or field names, e.g. [idx, url]");
    char **w = NULL;
    int k = 0;
    if (set_word_list(x, n, key, &w, &k))
        return -1;
    if (k > 32) { /* each is a dataset: the schema's column budget (SCHEMA_MAX_COLUMNS) must hold them */
        config_free_words(w, k);
        return config_fail(x, n, key, "at most 32 fields (got %d)", k);
    }
    for (int i = 0; i < k; i++) {
        const char *why = strchr(w[i], '/') ? "contains '/'"
                          : !strcmp(w[i], ".") || !strcmp(w[i], "..") ? "is not a dataset name"
                          : strlen(w[i]) > 100 ? "is longer than 100 bytes" : NULL;
        for (int j = 0; j < i && !why; j++)
            if (!strcmp(w[i], w[j]))
                why = "is listed twice";
        if (why) {
            config_fail(x, n, key, "field '%s' %s (each becomes /examples/fields/<name>)", w[i], why);
            config_free_words(w, k);
            return -1;
        }
    }
    if (k == 0) { /* no array for no fields: the defaults template holds no allocation (config_init copies it) */
        free(w);
        w = NULL;
    }
    config_free_words(c->corpus.keep_fields, c->corpus.n_keep);
    c->corpus.keep_fields = w;
    c->corpus.n_keep = k;
    return 0;
}

static void print_keep_fields(ConfigBuf *b, const RunConfig *c)
{
    print_word_list(b, c->corpus.keep_fields, c->corpus.n_keep);
}

/* mlm.candidates: null (the whole vocabulary), a list of words, or a file of words (a single string:
 * its path). The words are mapped to token ids when the tokenizer is loaded (runner/candidates.c). */
static int set_candidates(ConfigCtx *x, RunConfig *c, const yaml_node_t *n, const char *key)
{
    char **w = NULL;
    int k = 0;
    char *file = NULL;
    if (n->type == YAML_SEQUENCE_NODE) {
        if (set_word_list(x, n, key, &w, &k))
            return -1;
        if (k == 0)
            return config_fail(x, n, key, "the list is empty (give words, a file of words, or null)");
    } else if (!config_is_null(n)) {
        const char *v = config_scalar(x, n, key);
        if (!v)
            return -1;
        if (!*v)
            return config_fail(x, n, key, "must not be empty");
        file = strdup(v);
    }
    config_free_words(c->mlm.candidates, c->mlm.n_candidates);
    free(c->mlm.candidates_file);
    c->mlm.candidates = w;
    c->mlm.n_candidates = k;
    c->mlm.candidates_file = file;
    return 0;
}

static void print_candidates(ConfigBuf *b, const RunConfig *c)
{
    if (c->mlm.candidates_file)
        config_buf_quoted(b, c->mlm.candidates_file);
    else if (c->mlm.candidates)
        print_word_list(b, c->mlm.candidates, c->mlm.n_candidates);
    else
        config_buf_put(b, "null");
}

/* predicted | label | a class index | (masked LM) a token string, checked when the model is loaded. */
static int set_target(ConfigCtx *x, RunConfig *c, const yaml_node_t *n, const char *key)
{
    const char *v = config_scalar(x, n, key);
    if (!v)
        return -1;
    if (!*v)
        return config_fail(x, n, key, "must not be empty");
    free(c->target_token);
    c->target_token = NULL;
    int plain = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (plain && !strcmp(v, "predicted")) {
        c->target = TARGET_PREDICTED;
        return 0;
    }
    if (plain && !strcmp(v, "label")) {
        c->target = TARGET_LABEL;
        return 0;
    }
    char *end;
    errno = 0;
    long r = strtol(v, &end, 10);
    if (plain && !*end && !errno) {
        if (r < 0 || r > INT_MAX)
            return config_fail(x, n, key, "a class index must be >= 0 (got %ld)", r);
        c->target = TARGET_INDEX;
        c->target_index = (int)r;
        return 0;
    }
    c->target = TARGET_TOKEN;
    c->target_token = strdup(v);
    return 0;
}

static void print_target(ConfigBuf *b, const RunConfig *c)
{
    if (c->target == TARGET_PREDICTED)
        config_buf_put(b, "predicted");
    else if (c->target == TARGET_LABEL)
        config_buf_put(b, "label");
    else if (c->target == TARGET_INDEX)
        config_buf_put(b, "%d", c->target_index);
    else
        config_buf_quoted(b, c->target_token);
}

/* ig.steps: an integer in the key's range, or `auto` (IG_STEPS_AUTO: adaptive IG). */
static int set_ig_steps(ConfigCtx *x, RunConfig *c, const yaml_node_t *n, const char *key)
{
    if (n && n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        !strcmp((const char *)n->data.scalar.value, "auto")) {
        c->ig.steps = IG_STEPS_AUTO;
        return 0;
    }
    const ConfigKey as_int = {.key = key, .type = CK_INT, .off = offsetof(RunConfig, ig.steps), .ilo = 1,
                              .ihi = METHOD_MAX_STEPS};
    return config_key_set(x, c, &as_int, n);
}

static void print_ig_steps(ConfigBuf *b, const RunConfig *c)
{
    if (c->ig.steps == IG_STEPS_AUTO)
        config_buf_put(b, "auto");
    else
        config_buf_put(b, "%d", c->ig.steps);
}

/* ---- the table ---- */

static const char *const FORMATS[] = {"auto", "tsv", "csv", "jsonl", "text", NULL};
static const int FORMAT_VALS[] = {CORPUS_AUTO, CORPUS_TSV, CORPUS_CSV, CORPUS_JSONL, CORPUS_TEXT};
static const char *const ON_ERROR[] = {"fail", "skip", NULL};
static const char *const ON_LONG[] = {"truncate", "skip", NULL};
static const char *const LAYERS[] = {"word_embeddings", "embeddings", NULL};
static const int LAYER_VALS[] = {AT_WORD_EMB, AT_EMBEDDINGS};
static const char *const OUTPUTS[] = {"logit", "prob", "logprob", NULL};
static const int OUTPUT_VALS[] = {OUT_LOGIT, OUT_PROB, OUT_LOGPROB};
/* the engine's names (rule_from_name); tests/test_config.c checks that they agree */
static const char *const RULES[] = {"gausslegendre", "riemann_left", "riemann_right", "riemann_middle",
                                    "riemann_trapezoid", NULL};
static const int RULE_VALS[] = {RULE_GAUSSLEGENDRE, RULE_RIEMANN_LEFT, RULE_RIEMANN_RIGHT, RULE_RIEMANN_MIDDLE,
                                RULE_RIEMANN_TRAPEZOID};
static const char *const SG_BASES[] = {"saliency", "ig", NULL};
static const int SG_BASE_VALS[] = {M_SALIENCY, M_IG};
static const char *const DL_RULES[] = {"rescale", "captum", NULL};
static const int DL_RULE_VALS[] = {DL_RESCALE, DL_CAPTUM};
static const char *const DTYPES[] = {"float32", "float16", NULL};
static const char *const PRECISIONS[] = {"fp32", "bf16", "bf16-attention", NULL};
const char *config_precision_name(int precision)
{
    int n = (int)(sizeof PRECISIONS / sizeof *PRECISIONS) - 1; /* without the NULL */
    return precision >= 0 && precision < n ? PRECISIONS[precision] : "fp32";
}
static const char *const SHARE_MODES[] = {"auto", "on", "off", NULL}; /* ShareMode (io/checkpoint_shared.h) */

#define F(field) offsetof(RunConfig, field)
#define SECTION(name, ...) {.key = name, .type = CK_SECTION, __VA_ARGS__}
#define INTK(name, field, lo, hi, ...) {.key = name, .type = CK_INT, .off = F(field), .ilo = lo, .ihi = hi, __VA_ARGS__}
#define LONGK(name, field, lo, hi, ...) \
    {.key = name, .type = CK_LONG, .off = F(field), .ilo = lo, .ihi = hi, __VA_ARGS__}
#define DBLK(name, field, lo, hi, ...) \
    {.key = name, .type = CK_DOUBLE, .off = F(field), .dlo = lo, .dhi = hi, __VA_ARGS__}
#define BOOLK(name, field, ...) {.key = name, .type = CK_BOOL, .off = F(field), __VA_ARGS__}
#define WORDK(name, field, w, v, ...) {.key = name, .type = CK_WORD, .off = F(field), .words = w, .vals = v, __VA_ARGS__}
#define STRK(name, field, ...) {.key = name, .type = CK_STR, .off = F(field), __VA_ARGS__}
#define U64K(name, field, ...) {.key = name, .type = CK_U64, .off = F(field), __VA_ARGS__}
#define CUSTOM(name, p, pr, ...) {.key = name, .type = CK_CUSTOM, .parse = p, .print = pr, __VA_ARGS__}

const ConfigKey CONFIG_KEYS[] = {
    STRK("model", model, .missing = "a checkpoint directory",
         .doc = "checkpoint directory: `config.json`, `model.safetensors` (or shards), tokenizer files"),
    SECTION("corpus", .flags = CKF_BARE, .def_doc = "required", .doc = "a map (below), or just the path"),
    STRK("corpus.path", corpus.path, .missing = "",
         .doc = "TSV/CSV with a header, JSONL, or plain text (one example per line)"),
    WORDK("corpus.format", corpus.format, FORMATS, FORMAT_VALS, .def = "auto",
          .doc = "`auto` (by extension) \\| `tsv` \\| `csv` \\| `jsonl` \\| `text`"),
    STRK("corpus.text_field", corpus.text_field, .flags = CKF_NULLABLE, .def = "null",
         .def_doc = "`sentence` if present, else `text`",
         .doc = "column (TSV/CSV) or field (JSONL) name. The default is the same for every format: a TSV/CSV "
                "header, or each JSONL record, is read at `sentence` when it has one, else at `text`"),
    STRK("corpus.pair_field", corpus.pair_field, .flags = CKF_NULLABLE, .def = "null", .def_doc = "none",
         .doc = "second segment of a pair (`[SEP]`-joined)"),
    STRK("corpus.continuation_field", corpus.continuation_field, .flags = CKF_NULLABLE, .def = "null",
         .def_doc = "none",
         .doc = "causal-LM models: the column/field holding a continuation of the text (the prompt). Each "
                "continuation token is explained by teacher forcing, its logit at the position before it "
                "attributed over every token before it (docs/models.md, `/continuation` in "
                "docs/hdf5-schema.md). `prompt + continuation` is tokenized as one text (with the tokenizer's "
                "specials); an empty continuation makes the row bad. Not with `pair_field`, a `target` other "
                "than `predicted`, or an encoder / sequence-classification model"),
    STRK("corpus.label_field", corpus.label_field, .flags = CKF_NULLABLE, .def = "null",
         .def_doc = "`label` when present",
         .doc = "a label is a class index 0 … C−1 (C: the model's classes; for a masked-LM model, a token id "
                "below the vocabulary size), as an integer (`1`; a zero fraction such as `1.0` is accepted in "
                "every format), or a name from the model's `id2label`. Any other label (`-3`, `7` for a 2-class "
                "model, `1.5`) makes the row bad whatever the `target` (see `corpus.on_error`)"),
    INTK("corpus.max_length", corpus.max_length, 0, INT_MAX, .def = "0", .def_doc = "`0` = model maximum",
         .doc = "tokens per example, specials included (longer inputs are truncated; the number is in the root "
                "attribute `n_truncated`). At least one text token per segment must fit besides the special "
                "tokens the tokenizer adds: BERT and RoBERTa need ≥ 3 (pairs: BERT ≥ 5, RoBERTa ≥ 6); smaller "
                "values are refused when the tokenizer is loaded"),
    LONGK("corpus.limit", corpus.limit, 0, LONG_MAX, .def = "0", .def_doc = "`0` = all",
          .doc = "at most this many rows"),
    LONGK("corpus.offset", corpus.offset, 0, LONG_MAX, .def = "0", .doc = "skip this many data rows"),
    WORDK("corpus.on_error", corpus.skip_errors, ON_ERROR, NULL, .def = "fail",
          .doc = "`fail` \\| `skip`: bad rows (unparsable, invalid UTF-8, a bad label, no label for "
                 "`target: label`, no mask for MLM) are listed in `/examples/skipped_rows` and "
                 "`/examples/skipped_reasons`"),
    WORDK("corpus.on_long", corpus.skip_long, ON_LONG, NULL, .def = "truncate",
          .doc = "`truncate` \\| `skip`: a text longer than `max_length` tokens (specials included) is cut to it "
                 "(`truncate`, counted in `n_truncated`) or left out (`skip`: listed in `/examples/skipped_rows` "
                 "with the reason `too long: N tokens > M`, whatever `on_error` says)"),
    STRK("corpus.id_field", corpus.id_field, .flags = CKF_NULLABLE, .def = "null", .def_doc = "none",
         .doc = "a column (TSV/CSV) or field (JSONL) copied as a string into `/examples/id` (a JSON number or "
                "other non-string value as its JSON text, `null` as \"\"); a row without the field is bad (see "
                "`corpus.on_error`); a TSV/CSV header without the column is a config error"),
    CUSTOM("corpus.keep_fields", set_keep_fields, print_keep_fields, .def = "[]",
           .doc = "list of columns / fields copied as strings into `/examples/fields/<name>`, by the rules of "
                  "`id_field`"),
    CUSTOM("methods", set_methods, print_methods, .def = "[ig]",
           .doc = "list of `ig`, `gradshap`, `deeplift`, `deepliftshap`, `saliency`, `inputxgradient`, "
                  "`smoothgrad`, `conductance` (each once); `[]`: a forward-only job (the base forward and its "
                  "analysis, docs/analysis.md §9)"),
    CUSTOM("target", set_target, print_target, .def = "predicted",
           .doc = "`predicted` (argmax of the input's logits), `label` (from the corpus), a class index, or for "
                  "masked-LM models a token string such as `\"good\"` (explained at the first mask). Causal-LM "
                  "models (gpt2, llama, mistral, qwen2 *ForCausalLM): the next token after the text, explained "
                  "at the last position: `predicted` = argmax, a token string or id, or `label` = the row's "
                  "label as a token or id"),
    WORDK("layer", layer, LAYERS, LAYER_VALS, .def = "word_embeddings",
          .doc = "`word_embeddings` (output of the word-embedding lookup) \\| `embeddings` (after the embedding "
                 "LayerNorm)"),
    WORDK("output", output, OUTPUTS, OUTPUT_VALS, .def = "logit",
          .doc = "`logit` \\| `prob` (softmax probability of the target) \\| `logprob` (its log, "
                 "z_t − logsumexp(z), computed stably; causal LMs: the next token's log-likelihood)"),
    CUSTOM("baseline", set_baselines, print_baselines, .def = "[pad]", .def_doc = "`pad`",
           .doc = "`pad`, `mask`, `unk` (every token but specials replaced), `pad_all`, `zero`; or a list: "
                  "`gradshap` and `deepliftshap` use all, others the first. RoBERTa models with `pad`/`pad_all`: "
                  "the job warns that the baseline's position ids differ from the input's and Captum-equal "
                  "deltas will be large; prefer `mask` or `unk` (docs/models.md). Decoder models (gpt2, llama, "
                  "mistral, qwen2): `zero`, or `pad`/`unk`/`mask`/`token` = every token but a leading BOS "
                  "replaced by that token (`token`: `baseline_token`)"),
    STRK("baseline_token", baseline_token, .flags = CKF_NULLABLE, .def = "null", .def_doc = "none",
         .doc = "decoder models, for `baseline: token`: a vocabulary token, an id, or `eos`, `bos`, `unk`, `pad` "
                "(the tokenizer's special token; a config error names one the tokenizer lacks)"),
    SECTION("mlm"),
    CUSTOM("mlm.candidates", set_candidates, print_candidates, .def = "null", .def_doc = "none",
           .doc = "masked-LM cloze: restrict the prediction to these words, a list (`[max, min]`) or a file of "
                  "words, one per line (a single string: its path). Each word is the vocabulary token spelled so "
                  "(CodeXGLUE's rule: `max` is the token `max`, not `Ġmax`), else what the tokenizer makes of "
                  "the word alone, which must be one token; anything else is a config error naming the word. "
                  "Writes `/examples/candidate_ids` and `candidate_logits`; `target: predicted` is the "
                  "candidate with the highest logit; labels must be candidates (docs/analysis.md §10)"),
    SECTION("ig"),
    CUSTOM("ig.steps", set_ig_steps, print_ig_steps, .def = "50",
           .doc = "1 to 100000 (≥ 2 for Riemann rules), or `auto`: adaptive, per example, Gauss-Legendre rules of "
                  "16, 32, 64, ... nodes up to `ig.max_steps`, until two successive rules agree within "
                  "`ig.tolerance` (docs/performance.md)"),
    WORDK("ig.rule", ig.rule, RULES, RULE_VALS, .noun = "rule", .def = "gausslegendre",
          .doc = "`gausslegendre`, `riemann_left`, `riemann_right`, `riemann_middle`, `riemann_trapezoid`"),
    DBLK("ig.tolerance", ig.tolerance, IG_AUTO_MIN_TOLERANCE, METHOD_MAX_TOLERANCE, .def = "1e-4",
         .doc = "{range}, with `ig.steps: auto`: an example is done when its attributions under two successive "
                "rules differ by at most tolerance × its largest \\|attribution\\| (stored per example: "
                "`/attributions/ig/error_estimate`)"),
    INTK("ig.max_steps", ig.max_steps, IG_AUTO_FIRST + 1, METHOD_MAX_STEPS, .def = "512",
         .doc = "{range}, `ig.steps: auto`: the largest rule; examples not within `ig.tolerance` there are "
                "flagged (`/attributions/ig/converged` = 0) and counted in a warning"),
    SECTION("gradshap"),
    INTK("gradshap.samples", gradshap.samples, 1, METHOD_MAX_SAMPLES, .def = "20", .doc = "{range}"),
    DBLK("gradshap.stdevs", gradshap.stdevs, 0.0, METHOD_MAX_STDEVS, .def = "0.0",
         .doc = "{range}: Gaussian noise added to the input per sample"),
    U64K("gradshap.seed", gradshap.seed, .def = "0",
         .doc = "random draws depend on (seed, corpus row, sample) only: the same for any number of ranks"),
    SECTION("smoothgrad"),
    INTK("smoothgrad.samples", smoothgrad.samples, 1, METHOD_MAX_SAMPLES, .def = "5",
         .doc = "{range} (Captum NoiseTunnel `nt_samples`); with `base: ig`, samples × `ig.steps` must not "
                "exceed {max_items} (the items of one example)"),
    DBLK("smoothgrad.stdevs", smoothgrad.stdevs, 0.0, METHOD_MAX_STDEVS, .def = "1.0", .doc = "{range}"),
    WORDK("smoothgrad.base", smoothgrad.base, SG_BASES, SG_BASE_VALS, .def = "saliency",
          .doc = "`saliency` \\| `ig` (uses `ig.steps`, `ig.rule`)"),
    U64K("smoothgrad.seed", smoothgrad.seed, .def = "0", .doc = "as `gradshap.seed`"),
    SECTION("deeplift"),
    WORDK("deeplift.rules", deeplift.rules, DL_RULES, DL_RULE_VALS, .def = "rescale",
          .doc = "`rescale` \\| `captum` (what Captum computes on a real HF model)"),
    SECTION("conductance"),
    INTK("conductance.steps", conductance.steps, 1, METHOD_MAX_STEPS, .def = "50",
         .doc = "{range}; LayerConductance of every encoder layer"),
    BOOLK("conductance.save_attention", conductance.save_attention, .def = "false",
          .doc = "also write `/conductance/attention`, the conductance of every attention probability (4·L·H·T² "
                 "bytes per example: 22.4 GB for the 482 bundled cloze functions at max_length 512 on CodeBERT-base, "
                 "L = H = 12); its statistics "
                 "(`/conductance/stats`, `/conductance/categories`) are computed in the run either way"),
    SECTION("attention"),
    BOOLK("attention.save", attention.save, .def = "false",
          .doc = "store attention probabilities, L·H·T² values per example: quadratic in T by definition, in the "
                 "file and in the base unit's memory (the statistics below need no saved attention: they are "
                 "computed layer by layer during the run)"),
    WORDK("attention.dtype", attention.float16, DTYPES, NULL, .def = "float32", .doc = "`float32` \\| `float16`"),
    BOOLK("attention.norm_weighted", attention.norm_weighted, .def = "false",
          .doc = "also compute the statistics (`analysis.stats`, and the category statistics with "
                 "`analysis.categories`) on the norm-weighted attention of Kobayashi et al. 2020, "
                 "p_ij·\\|f_h(x_j)\\| normalised per query row, under `/attention/norm_weighted/`, with the "
                 "value norms \\|f_h(x_j)\\| themselves (`value_norm` [M, L, H]); see docs/analysis.md §11"),
    SECTION("analysis"),
    BOOLK("analysis.stats", analysis.stats, .def = "true",
          .doc = "per-head attention statistics `/attention/stats/*` (and `/conductance/stats/*` with "
                 "`conductance`), from the attention of the base forward; cheap: O(L·H·T²), measured 14 ms per "
                 "example for BERT-base shapes at T = 128 (L = H = 12)"),
    BOOLK("analysis.rollout", analysis.rollout, .def = "true",
          .doc = "attention rollout from [CLS], `/attributions/rollout/token_sum`"),
    BOOLK("analysis.agreement", analysis.agreement, .def = "true",
          .doc = "rank agreement of each method's token scores with the rollout and the [CLS] attention, "
                 "`/agreement/<method>/*`"),
    BOOLK("analysis.faithfulness", analysis.faithfulness, .def = "false",
          .doc = "ERASER comprehensiveness / sufficiency / AOPC, `/faithfulness/<method>/*`. **Costs one forward "
                 "batch of 7 rows per example and method** (about as much as 2–3 rows of forward and backward; IG "
                 "with 50 steps runs 50 such rows), run by the rank that assembles the example. Needs a method "
                 "other than `conductance`"),
    CUSTOM("analysis.categories", set_categories, print_categories, .def = "none",
           .doc = "token categories (docs/analysis.md §6): `java` (the built-in lexer, javalang's classes) or "
                  "`field:<name>` (a JSONL field of `[[start, end, \"label\"], ...]` in code points of the text); "
                  "writes `/tokens/category` and, per category, the attention and conductance received and each "
                  "method's attribution mass"),
    DBLK("analysis.sink_epsilon", analysis.sink_epsilon, 0.0, 0.999999, .def = "0.3",
         .doc = "{range}: ε of Gu et al.'s sink indicator `/attention/stats/sink` (written with `analysis.stats`, "
                "beside `/attention/stats/first` and `bos`)"),
    BOOLK("analysis.massive", analysis.massive, .def = "true",
          .doc = "massive activations `/hidden/massive/*`: top-3 \\|h\\| with position and dimension and the "
                 "median \\|h\\| of each layer's output, from the base forward (O(L·T·D))"),
    BOOLK("analysis.save_hidden", analysis.save_hidden, .def = "false",
          .doc = "also write each layer's hidden states `/hidden/states` [M, L, D] (4·L·D bytes per token)"),
    BOOLK("save_full", save_full, .def = "false",
          .doc = "also store the attribution of every hidden unit (`[M, D]` per method)"),
    STRK("out", out, .missing = "the output .h5 file",
         .doc = "output `.h5`; `<out>.spool/` holds the checkpoints while the job runs"),
    WORDK("precision", precision, PRECISIONS, NULL, .def = "fp32",
          .doc = "`fp32` \\| `bf16` \\| `bf16-attention`: `bf16` runs the linear layers' matrix products in "
                 "bf16 with fp32 accumulation (oneDNN, Debian libdnnl2: AMX or AVX-512 BF16); softmax, norms, "
                 "activations, attention and the residual stream stay fp32. `bf16-attention` also runs the "
                 "attention's products (QKᵀ, P·V and their backward) in bf16 as torch.autocast does, the softmax "
                 "in fp32: a few per cent faster on long texts, less accurate. The job fails (exit 1) where the "
                 "CPU or oneDNN cannot run bf16. Costs accuracy that depends on the model: see "
                 "docs/performance.md. Recorded as the result file's `precision` attribute"),
    INTK("threads", threads, 1, 1024, .def = "1", .flags = CKF_RUNTIME,
         .doc = "{range}: OpenBLAS threads per rank (ranks × threads ≤ cores). More threads than the CPUs the "
                "rank may run on (its affinity mask: mpirun binds a rank to one core unless given "
                "`--map-by slot:PE=N`; Slurm gives `--cpus-per-task`) is warned about at the start"),
    INTK("chunk", chunk, 0, INT_MAX, .def = "0", .flags = CKF_RUNTIME,
         .doc = "items per work unit (IG steps, samples, ...); `0` = automatic: an example's items are split only "
                "when ranks would otherwise idle (fewer examples than 4 × ranks, or one example would straggle). "
                "Results are bitwise identical for any `chunk` and any number of ranks (at the same `threads`: "
                "OpenBLAS's thread count changes the last bits of a GEMM, ~1e-6 relative)"),
    INTK("activation_mib", activation_mib, 0, 1 << 24, .def = "4096", .flags = CKF_RUNTIME,
         .doc = "{range}: MiB of activations one engine pass may keep for its backward; a pass that would keep "
                "more (long texts: every layer's attention probabilities, L·H·T²·4 bytes per row) keeps one "
                "layer's and each layer's input instead and re-runs the layer's forward in the backward (about "
                "one more forward of work, the same bits). `0` = never recompute"),
    INTK("microbatch_tokens", microbatch_tokens, 1, METHOD_MAX_BLOCK_TOKENS, .def = "1024",
         .doc = "{range}: tokens (rows × T) of one engine pass over a method's items (IG steps, samples, ...): "
                "an example of T tokens runs in blocks of max(1, this / T) rows (DeepLIFT: input/baseline "
                "pairs), each one pass. More rows per pass make larger matrix products and more activations "
                "(bounded by `activation_mib`, docs/performance.md). Results differ in the last bits (~1e-7 "
                "relative: other GEMM shapes round differently), so a resumed job must keep it"),
    WORDK("share_weights", share_weights, SHARE_MODES, NULL, .def = "auto", .flags = CKF_RUNTIME,
          .doc = "`auto` \\| `on` \\| `off`: the ranks of one node share one copy of the converted weights (and "
                 "of their bf16 copies) in shared memory (/dev/shm) instead of one copy each. `auto`: when a node runs "
                 "more than one rank, else (or when the shared memory cannot be had: a note in the log) a copy per "
                 "rank; `on`: always, and the job fails when it cannot; `off`: a copy per rank. Results are "
                 "bitwise the same; the log says `weights_shared: true|false` (docs/performance.md)"),
};
const int CONFIG_NKEYS = (int)(sizeof CONFIG_KEYS / sizeof *CONFIG_KEYS);

const ConfigKey *config_key_find(const char *key)
{
    for (int i = 0; i < CONFIG_NKEYS; i++)
        if (!strcmp(CONFIG_KEYS[i].key, key))
            return &CONFIG_KEYS[i];
    return NULL;
}

void config_key_list(const char *section, char *out, size_t len)
{
    size_t sl = strlen(section), n = 0;
    out[0] = 0;
    for (int i = 0; i < CONFIG_NKEYS; i++) {
        const char *k = CONFIG_KEYS[i].key;
        const char *name;
        if (sl) {
            if (strncmp(k, section, sl) || k[sl] != '.')
                continue;
            name = k + sl + 1;
        } else {
            name = k;
        }
        if (strchr(name, '.'))
            continue;
        int w = snprintf(out + n, len - n, "%s%s", n ? ", " : "", name);
        if (w < 0 || (size_t)w >= len - n)
            break;
        n += (size_t)w;
    }
}
