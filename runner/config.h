/* The job configuration of `attrun run`: a YAML file (libyaml) of nested maps,
 * plus `--set key.sub=value` overrides. Every key is checked: an unknown key or
 * a bad value is an error that names the file, the line and the key. Paths are
 * kept as written; relative paths resolve against the current directory (users
 * run jobs from the repository root), not against the config file's directory.
 * Every key (type, range, default, docs) is a row of runner/config_keys.c; configs/README.md's
 * key table is generated from it (attrun config --keys-markdown). */
#ifndef ATTRUN_CONFIG_H
#define ATTRUN_CONFIG_H
#include "engine/attribution.h"
#include "io/corpus.h"
#include <stddef.h>
#include <stdint.h>

typedef enum { ANALYSIS_CAT_NONE = 0, ANALYSIS_CAT_JAVA, ANALYSIS_CAT_FIELD } AnalysisCategories;
typedef enum { TARGET_PREDICTED = 0, TARGET_LABEL, TARGET_INDEX, TARGET_TOKEN } TargetMode;

typedef struct {
    char *model;                  /* checkpoint directory (required) */
    struct {
        char *path;               /* required */
        CorpusFormat format;
        char *text_field, *pair_field, *label_field; /* NULL: reader defaults */
        char *continuation_field; /* causal LMs: the field of the continuation explained token by token (NULL: none) */
        int max_length;           /* 0: the model maximum */
        long limit, offset;       /* 0: all rows / none skipped */
        int skip_errors;          /* on_error: skip (1) | fail (0) */
        int skip_long;            /* on_long: skip (1) | truncate (0) */
        char *id_field;           /* a column/field carried into /examples/id, or NULL */
        char **keep_fields;       /* (n_keep) columns/fields carried into /examples/fields/<name> */
        int n_keep;
    } corpus;
    int n_methods;
    MethodKind methods[M_NUM_METHODS]; /* in the order given, no duplicates */
    TargetMode target;
    int target_index;             /* TARGET_INDEX */
    char *target_token;           /* TARGET_TOKEN (MLM models) */
    AttrLayer layer;
    OutputKind output;
    int nbaselines;
    BaselineKind baselines[MAX_BASELINES];
    char *baseline_token;         /* decoders: `baseline: token`'s token (string, id, eos/bos/unk/pad) */
    /* Masked-LM cloze candidates (runner/candidates.h): the words the prediction is restricted to,
     * given as a list or as a file of words, one per line (candidates_file); none: the vocabulary. */
    struct {
        char **candidates;        /* (n_candidates) words as written, or NULL */
        int n_candidates;
        char *candidates_file;    /* or NULL */
    } mlm;
    struct { int steps; IgRule rule; double tolerance; int max_steps; } ig; /* steps: IG_STEPS_AUTO = auto */
    struct { int samples; double stdevs; uint64_t seed; } gradshap;
    struct { int samples; double stdevs; MethodKind base; uint64_t seed; } smoothgrad;
    struct { DeepLiftRules rules; } deeplift;
    struct { int steps; int save_attention; } conductance;
    /* norm_weighted: the statistics also on Kobayashi et al.'s norm-weighted attention
     * (docs/analysis.md §11), with the value norms written for recomputation */
    struct { int save; int float16; int norm_weighted; } attention;
    /* Attention-bias analysis (runner/analysis.h, docs/analysis.md): per-head statistics,
     * rollout, attribution/attention agreement (all cheap, on by default) and the ERASER
     * faithfulness metrics (7 extra forward rows per example and method, off by default). */
    struct {
        int stats, rollout, agreement, faithfulness;
        /* second round (docs/analysis.md §6-8): token categories (`categories: none | java |
         * field:<name>`), the sink threshold of /attention/stats/sink, massive activations,
         * and the hidden states themselves (for recomputation; [M, L, D], off by default) */
        AnalysisCategories categories;
        char *category_field; /* ANALYSIS_CAT_FIELD: the corpus field of [[start, end, "label"], ...] */
        double sink_epsilon;
        int massive, save_hidden;
    } analysis;
    int save_full;
    char *out;                    /* output HDF5 path (required) */
    int precision;                /* 0 fp32, 1 bf16 linear layers, 2 also bf16 attention (engine_set_precision) */
    int threads;                  /* OpenBLAS threads per rank */
    int chunk;                    /* items per work unit; 0 = auto */
    int activation_mib;           /* engine pass activations above which the backward recomputes (0: never) */
    int microbatch_tokens;        /* tokens (rows × T) of one item block = one engine pass (MethodSpec.block_tokens) */
    int share_weights;            /* ShareMode (io/checkpoint_shared.h): 0 auto, 1 on, 2 off */
    char *source;                 /* the config file's path, for messages */
} RunConfig;

/* Defaults for every key (model, corpus.path and out stay NULL). */
void config_init(RunConfig *c);
void config_free(RunConfig *c);
/* Frees a list of n strings (corpus.keep_fields, mlm.candidates). */
void config_free_words(char **w, int n);

/* Parses YAML text; `name` is used in messages ("NAME:LINE: key: what").
 * Returns 0, or -1 with the message in err. Required keys are checked by config_check. */
int config_parse_string(RunConfig *c, const char *yaml, size_t len, const char *name,
                        char *err, size_t errlen);
/* Reads and parses a file. */
int config_parse_file(RunConfig *c, const char *path, char *err, size_t errlen);
/* Applies one override "key.sub=value"; the value is YAML (a scalar, or a flow
 * list like [ig, saliency]). */
int config_set(RunConfig *c, const char *assignment, char *err, size_t errlen);
/* Checks required keys and cross-key constraints. */
int config_check(const RunConfig *c, char *err, size_t errlen);
/* Warnings about a valid configuration: threads above the CPUs this process may run on (its
 * affinity mask, as Slurm or a cgroup sets it). Returns 1 with the message in msg, or 0. */
int config_warnings(const RunConfig *c, char *msg, size_t len);
/* Convenience: init, parse file, apply overrides, check. */
int config_load(RunConfig *c, const char *path, char *const *sets, int nsets, char *err, size_t errlen);

/* The fully resolved configuration as YAML (malloc'ed). With results_only, keys
 * that cannot change results (threads, chunk) are left out: used to check that a
 * --resume continues the same job. */
char *config_to_yaml(const RunConfig *c, int results_only);

/* Method names as configs and the result file spell them ("inputxgradient" for M_INPUTXGRAD;
 * the engine's short name "inputxgrad" is accepted too). */
const char *config_method_name(MethodKind k);
/* "fp32", "bf16" or "bf16-attention" for Config.precision. */
const char *config_precision_name(int precision);
int config_method_from_name(const char *name); /* -1 when unknown */

/* The engine's MethodSpec for one method of the job. */
void config_method_spec(const RunConfig *c, MethodKind k, MethodSpec *s);
#endif
