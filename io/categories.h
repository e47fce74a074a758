/* Token categories for the attention analysis (docs/analysis.md §6): a category index for
 * every sub-token of an example, from labelled character spans (the Java lexer's tokens,
 * io/lex_java.h, or a corpus field of [[start, end, "label"], ...]).
 *
 * Sub-token rule: a special token (the tokenizer's [CLS]/<s>, [SEP]/</s>, <mask>, ...) gets
 * the `special` category. Any other sub-token [a, b) gets the category of the span that
 * shares the most code points with it; a tie (a sub-token that straddles two spans
 * equally) goes to the span that starts first (for a field: the first in its list among
 * equal starts). A sub-token that overlaps no span (whitespace only, or an empty span) is
 * `unknown`. Spans are [start, end) in Unicode code points, as tokenizer offsets. */
#ifndef ATTRUN_CATEGORIES_H
#define ATTRUN_CATEGORIES_H
#include "io/lex_java.h"
#include <stddef.h>
#include <stdint.h>

/* Fills out (T) with a category for each sub-token. span (T) [start, end) of the
 * sub-tokens, special (T) 0/1; spans (n, LexSpan: start, end, cat). special_cat and
 * unknown_cat are the indices of those two categories. Returns 0, or -1 on bad arguments. */
int categories_assign(const int (*span)[2], const int *special, int T, const LexSpan *spans, int n,
                      int special_cat, int unknown_cat, int16_t *out);

/* The same for the tokens t with type_ids[t] == seg only (the others are left as they are):
 * a pair input's second segment has offsets into text_pair. */
int categories_assign_segment(const int (*span)[2], const int *special, const int *type_ids, int seg, int T,
                              const LexSpan *spans, int n, int special_cat, int unknown_cat, int16_t *out);

/* Categories of the `java` lexer for one text: lexes text and assigns (LEXJ_* indices).
 * Returns 0, or -1 on invalid UTF-8 or out of memory. */
int categories_java(const char *text, const int (*span)[2], const int *special, int T, int16_t *out);
/* The same for the tokens of segment seg (type_ids, see categories_assign_segment). */
int categories_java_segment(const char *text, const int (*span)[2], const int *special, const int *type_ids,
                            int seg, int T, int16_t *out);

/* Label table of a `field:` source: names in order of first appearance, then "special"
 * and "unknown" appended when the corpus did not use them as labels. */
typedef struct {
    char **names;
    int n, cap;
} CategoryNames;

/* Index of label name in the table, added when new; -1 when out of memory. */
int category_names_index(CategoryNames *t, const char *name);
void category_names_free(CategoryNames *t);

/* Parses a field value, a JSON array of [start, end, "label"] triples (start <= end,
 * integers >= 0, any label string), into *out (malloc'd, n spans; cat = the label's index
 * in t, new labels added). Returns 0, or -1 with err naming the bad element. */
int categories_parse_field(const char *json, CategoryNames *t, LexSpan **out, int *n, char *err, size_t errlen);
#endif
