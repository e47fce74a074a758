/* Parameter layout of each model family: one table of tensors (state-dict name, stored
 * shape, role) per family, as llama.cpp's LLM_TENSOR_NAMES. The checkpoint loader
 * (io/checkpoint.c) resolves and converts the names, model_random() fills the same
 * entries with random values and model_num_params() sums them: the layout is written
 * once, here (engine/family_encoder.c, engine/family_decoder.c). */
#ifndef ATTRUN_FAMILY_H
#define ATTRUN_FAMILY_H
#include "engine/model.h"
#include <stdint.h>

typedef struct {
    char name[192];        /* canonical state-dict key (with the base-model prefix when base) */
    char alt[192];         /* an equivalent key transformers also accepts, or "" */
    int ndim;
    int64_t shape[2];      /* as stored in the checkpoint */
    const float **dst[3];  /* Model fields filled: rows split in nsplit equal parts (GPT-2 c_attn) */
    int nsplit;
    int transpose;         /* stored (in, out) (GPT-2 Conv1D): the engine keeps (out, in) */
    int gain;              /* a norm weight: model_random draws 1 ± 0.2·scale instead of ±scale */
} LayoutEntry;

typedef struct {
    LayoutEntry *e;
    int n, cap, oom;
    const char *prefix;    /* base-model prefix ("bert.", "transformer.", "model.") or "" */
} Layout;

/* The state-dict prefix of the family's base model ("bert.", ...). */
const char *family_prefix(const ModelConfig *c);
/* Fills lo with every tensor of m's family and head (m->layer must hold cfg.L entries).
 * Returns 0, or -1 when out of memory. lo->prefix must be set first. */
int family_layout(Model *m, Layout *lo);
/* Fills the block description fields fixed by c->arch (norm kind and placement, position
 * encoding, causal mask, FFN form, biases of the encoders, ...) and defaults NKV = NH,
 * hs = D/NH, rope_theta = 10000 where they are 0. io/config_json.c sets the fields a
 * config.json decides (NKV, hs, rope, window, decoder biases, untied) before calling it. */
void family_describe(ModelConfig *c);
/* After the entries are filled: aliases (tied head weights). */
void family_finish(Model *m);
void layout_free(Layout *lo);

/* Emitters used by the family files. */
LayoutEntry *layout_add(Layout *lo, const float **dst, int64_t rows, int64_t cols, int base, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
void layout_linear(Layout *lo, const float **w, const float **b, int64_t out, int64_t in, int base,
                   const char *name);
void layout_norm(Layout *lo, const float **g, const float **b, int64_t D, int base, const char *name);
int layout_encoder(Model *m, Layout *lo);
int layout_decoder(Model *m, Layout *lo);
#endif
