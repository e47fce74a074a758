/* config.json helpers shared by io/config_json.c (encoders) and io/family_decoder.c
 * (decoders). Each returns 0, or -1 with a message naming the file and the key. */
#ifndef ATTRUN_CONFIG_JSON_H
#define ATTRUN_CONFIG_JSON_H
#include "engine/model.h"
#include <jansson.h>
#include <stddef.h>

/* Largest dimension accepted: keeps every size product far from overflow. */
#define MAX_DIM (1 << 24)

int cj_get_int(json_t *root, const char *path, const char *key, long long lo, long long hi, int *out, char *err,
               size_t errlen);
int cj_get_str(json_t *root, const char *path, const char *key, const char **out, char *err, size_t errlen);
/* architectures[0] (transformers' class name: it names the head). */
int cj_architecture(json_t *root, const char *path, const char **out, char *err, size_t errlen);
int cj_parse_act(const char *path, const char *key, const char *s, Activation *a, char *err, size_t errlen);
int cj_parse_labels(json_t *root, const char *path, ModelConfig *c, char *err, size_t errlen);
int cj_read_tie(json_t *root, const char *path, ModelConfig *c, int def, char *err, size_t errlen);
/* gpt2, llama, mistral, qwen2 (io/family_decoder.c). */
int cj_parse_decoder(json_t *root, const char *path, ModelConfig *c, char *err, size_t errlen);
#endif
