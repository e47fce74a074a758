/* Continuations (corpus.continuation_field, docs/models.md "Continuations"): a prompt and its
 * continuation are tokenized as one text, and every continuation token becomes one explained
 * unit, teacher-forced: the model runs on the tokens before it and explains its logit at the
 * position before it. The units are ordinary examples of Examples (one per continuation token,
 * their tokens the prefix), so scheduling, chunking, the spools, --resume and assembly treat
 * them as any example; runner/schema.c's /continuation datasets say which row is which. */
#ifndef ATTRUN_CONTINUATION_H
#define ATTRUN_CONTINUATION_H
#include "engine/model.h"
#include "io/tokenizer.h"
#include "runner/config.h"
#include <stddef.h>

/* The combinations a continuation job refuses (exit 2): a model without a causal-LM head,
 * pair_field, a target other than predicted. 0, or -2 with err set. */
int continuation_check_config(const RunConfig *c, const ModelConfig *mc, char *err, size_t errlen);

/* One row: *full = the encoding of prompt + continuation (truncated to max_length), *prompt_len =
 * the tokens of the prompt alone (specials included, added trailing specials not), *end = one past
 * the last explained token (added trailing specials such as an EOS are not explained). Units are
 * the positions p = prompt_len .. end-1. Returns NULL, or why the row cannot be used (full freed). */
const char *continuation_encode(const Tokenizer *tok, const char *prompt, const char *cont, int max_length,
                                Encoding *full, int *prompt_len, int *end);
/* The concatenated text the tokens (and their character spans) come from (malloc'd). */
char *continuation_text(const char *prompt, const char *cont);
#endif
