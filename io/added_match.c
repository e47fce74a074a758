/* Finding added tokens where they are written in the text, as HF's AddedVocabulary does
 * (leftmost-longest; single_word, lstrip, rstrip), for the legacy tokenizers' specials and
 * tokenizer.json's added_tokens alike. */
#include "io/tokenizer_internal.h"
#include <stdlib.h>
#include <string.h>

static int is_word_char(uint32_t c) { return c == '_' || uc_is_alnum(c); }

int added_find(const AddedTok *toks, int ntok, uint64_t first, int want_norm, const uint32_t *c, int n,
               int (**out)[3])
{
    int (*m)[3] = NULL;
    int nm = 0, cap = 0, prev_end = 0;
    *out = NULL;
    for (int i = 0; i < n; i++) {
        int best = -1, best_len = 0;
        if (!(first >> (c[i] & 63) & 1))
            continue; /* no token starts with this character */
        for (int k = 0; k < ntok; k++) {
            const AddedTok *a = &toks[k];
            if (a->normalized != want_norm || a->cp[0] != c[i] || a->ncp > n - i || a->ncp <= best_len)
                continue;
            if (memcmp(a->cp, c + i, a->ncp * sizeof *c) == 0) {
                best = k;
                best_len = a->ncp;
            }
        }
        if (best < 0)
            continue;
        const AddedTok *a = &toks[best];
        int start = i, end = i + best_len;
        if (a->single_word) {
            int ok_l = start == 0 || !is_word_char(c[start - 1]), ok_r = end == n || !is_word_char(c[end]);
            if (!ok_l || !ok_r) {
                i = end - 1; /* the automaton moves past a rejected match */
                continue;
            }
        }
        if (a->lstrip)
            while (start > prev_end && uc_is_whitespace(c[start - 1]))
                start--;
        if (a->rstrip)
            while (end < n && uc_is_whitespace(c[end]))
                end++;
        if (nm == cap) {
            cap = cap ? cap * 2 : 8;
            m = realloc(m, cap * sizeof *m);
        }
        m[nm][0] = start;
        m[nm][1] = end;
        m[nm][2] = best;
        nm++;
        prev_end = end;
        i = end - 1;
    }
    *out = m;
    return nm;
}
