/* Masked-LM cloze candidates and gold words as vocabulary tokens (candidates.h). */
#include "runner/candidates.h"
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int word_token(const Tokenizer *tok, const char *word, char *why, size_t wlen)
{
    int id = tokenizer_token_to_id(tok, word);
    if (id >= 0)
        return id;
    Encoding enc;
    if (tokenizer_encode(tok, word, NULL, INT_MAX, &enc)) {
        snprintf(why, wlen, "it is not valid UTF-8");
        return -1;
    }
    int n = 0, one = -1;
    char pieces[200] = "";
    for (int t = 0; t < enc.n; t++) {
        if (enc.special[t])
            continue;
        one = enc.ids[t];
        const char *s = tokenizer_id_to_token(tok, enc.ids[t]);
        size_t used = strlen(pieces);
        if (used + 8 < sizeof pieces)
            snprintf(pieces + used, sizeof pieces - used, " '%s'", s ? s : "?");
        n++;
    }
    encoding_free(&enc);
    if (n == 1)
        return one;
    if (n == 0)
        snprintf(why, wlen, "it is no vocabulary entry and the tokenizer makes no token of it");
    else
        snprintf(why, wlen, "it is no vocabulary entry and the tokenizer splits it into %d tokens:%s", n, pieces);
    return -1;
}

/* The words of a candidates file: one per line, trimmed, empty lines skipped. */
static int read_words(const char *path, char ***out, int *nout, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "mlm.candidates: cannot open the file of words '%s': %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    char **w = NULL;
    int n = 0, wcap = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        char *s = line, *e = line + len;
        while (s < e && isspace((unsigned char)*s))
            s++;
        while (e > s && isspace((unsigned char)e[-1]))
            e--;
        if (e == s)
            continue;
        if (n == wcap) {
            wcap = wcap ? 2 * wcap : 64;
            w = realloc(w, sizeof *w * (size_t)wcap);
        }
        w[n++] = strndup(s, (size_t)(e - s));
    }
    int bad = ferror(f);
    fclose(f);
    free(line);
    if (bad || n == 0) {
        snprintf(err, errlen, "mlm.candidates: %s '%s'", bad ? "cannot read the file of words" : "no words in the file",
                 path);
        config_free_words(w, n);
        return -1;
    }
    *out = w;
    *nout = n;
    return 0;
}

int candidates_load(const RunConfig *c, const Tokenizer *tok, int **ids, int *K, char *err, size_t errlen)
{
    *ids = NULL;
    *K = 0;
    char **words = c->mlm.candidates, **own = NULL;
    int n = c->mlm.n_candidates;
    if (c->mlm.candidates_file) {
        if (read_words(c->mlm.candidates_file, &own, &n, err, errlen))
            return -1;
        words = own;
    }
    if (!words || n == 0)
        return 0;
    int *v = malloc(sizeof(int) * (size_t)n), ok = v != NULL;
    const char *src = c->mlm.candidates_file ? c->mlm.candidates_file : c->source;
    for (int i = 0; ok && i < n; i++) {
        char why[300];
        v[i] = word_token(tok, words[i], why, sizeof why);
        if (v[i] < 0) {
            snprintf(err, errlen, "%s: mlm.candidates: '%s' is not a single token of %s's vocabulary: %s; each "
                     "candidate must be one token (spell it as in the vocabulary, e.g. with a leading 'Ġ' for a "
                     "byte-level BPE word after a space)", src, words[i], c->model, why);
            ok = 0;
        }
        for (int j = 0; ok && j < i; j++)
            if (v[j] == v[i]) {
                snprintf(err, errlen, "%s: mlm.candidates: '%s' and '%s' are the same token (id %d); give each "
                         "candidate once", src, words[j], words[i], v[i]);
                ok = 0;
            }
    }
    config_free_words(own, own ? n : 0);
    if (!ok) {
        if (!v)
            snprintf(err, errlen, "mlm.candidates: out of memory");
        free(v);
        return -1;
    }
    *ids = v;
    *K = n;
    return 0;
}

int candidates_find(const int *ids, int K, int id)
{
    for (int k = 0; k < K; k++)
        if (ids[k] == id)
            return k;
    return -1;
}

int candidates_argmax(const float *logits, int K)
{
    int b = 0;
    for (int k = 1; k < K; k++)
        if (logits[k] > logits[b])
            b = k;
    return b;
}
