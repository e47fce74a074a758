/* Loading Hugging Face checkpoint directories: config.json (jansson) and
 * model.safetensors or model.safetensors.index.json + shards (mmap; F32/F16/BF16
 * converted to F32). Families: BERT, RoBERTa, DistilBERT; heads: sequence
 * classification and masked LM. Every error names the file and the key or
 * tensor; nothing here exits or aborts. */
#ifndef ATTRUN_CHECKPOINT_H
#define ATTRUN_CHECKPOINT_H
#include "engine/model.h"
#include <stddef.h>

/* Parses <dir>/config.json into cfg. Returns 0, or -1 with a message in err. */
int checkpoint_read_config(const char *dir, ModelConfig *cfg, char *err, size_t errlen);
/* Loads config and weights. Returns the model, or NULL with a message in err. */
Model *checkpoint_load(const char *dir, char *err, size_t errlen);
/* SHA-256 (hex) over the weight files' bytes in name order, for provenance. */
int checkpoint_weights_sha256(const char *dir, char hex[65], char *err, size_t errlen);
void model_config_free(ModelConfig *cfg); /* frees cfg->labels */
#endif
