/* Loading the JSON files of Hugging Face checkpoints (config.json, tokenizer_config.json) with
 * jansson, including integers beyond its 64-bit json_int_t: transformers writes
 * VERY_LARGE_INTEGER = int(1e30) as model_max_length when a model has no limit (codebert-base,
 * many others), which json_load_file refuses as "too big integer". */
#ifndef ATTRUN_JSON_LOAD_H
#define ATTRUN_JSON_LOAD_H
#include <jansson.h>

/* json_load_file(path, flags, je); when the file holds an integer too big for json_int_t, it is
 * read again with JSON_DECODE_INT_AS_REAL and every real that is a whole number within ±2^53
 * (every integer of an ordinary config) is turned back into an integer, so readers keep
 * checking json_is_integer; only the huge values stay reals (1e30 as a double). */
json_t *io_json_load_file(const char *path, size_t flags, json_error_t *je);
#endif
