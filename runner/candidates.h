/* Masked-LM cloze candidates (mlm.candidates) and gold words: a word as one vocabulary token,
 * the rule docs/analysis.md §10 documents. */
#ifndef ATTRUN_CANDIDATES_H
#define ATTRUN_CANDIDATES_H
#include "io/tokenizer.h"
#include "runner/config.h"
#include <stddef.h>

/* The token id of a word: the vocabulary entry spelled exactly so (CodeXGLUE's
 * `tokenizer.encoder[word]`: `max` is the token `max`, `Ġmax` the token `Ġmax`), else the one
 * token the tokenizer makes of the word alone (specials left out; BERT lower-cases `Max` to
 * `max`). -1 when neither gives exactly one token, with why ("the tokenizer splits it into 2
 * tokens: 'fo' 'o'"). */
int word_token(const Tokenizer *tok, const char *word, char *why, size_t wlen);

/* The candidates of the job as token ids, in the order given (list or file: one word per line,
 * surrounding whitespace and empty lines ignored). *K = 0 and *ids = NULL without candidates.
 * Returns 0, or -1 with a config error naming the word (not one token, the same token twice) or
 * the file. */
int candidates_load(const RunConfig *c, const Tokenizer *tok, int **ids, int *K, char *err, size_t errlen);

/* Position of id among the K candidates, or -1. */
int candidates_find(const int *ids, int K, int id);

/* The candidate with the highest logit (logits: the K candidates' logits), the first one in the
 * given order on a tie. */
int candidates_argmax(const float *logits, int K);
#endif
