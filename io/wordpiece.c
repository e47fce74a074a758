/* WordPiece as BertTokenizerFast: BertNormalizer (clean text, spaces around CJK
 * ideographs, NFD + drop Mn when stripping accents, lower-case), BertPreTokenizer
 * (split on whitespace, isolate each punctuation character), then greedy
 * longest-match-first WordPiece with "##" continuations; words longer than
 * max_input_chars_per_word become [UNK]. Each normalised character remembers
 * which original code point it came from, which gives the offsets. */
#include "io/tokenizer_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

int wordpiece_load(Tokenizer *t, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open", path);
        return -1;
    }
    strmap_init(&t->vocab, 32768);
    strmap_init(&t->cont, 8192);
    char *line = NULL;
    size_t cap = 0, ncap = 0;
    ssize_t len;
    int n = 0, rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        /* HF's load_vocab strips the line: vocab entries never hold spaces */
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++, len--;
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            s[--len] = 0;
        uint32_t *cp;
        int nc = utf8_to_cps(s, (size_t)len, &cp);
        if (nc < 0) {
            snprintf(err, errlen, "%s:%d: token is not valid UTF-8", path, n + 1);
            rc = -1;
            break;
        }
        free(cp);
        if (len == 0) {
            snprintf(err, errlen, "%s:%d: empty token", path, n + 1);
            rc = -1;
            break;
        }
        int prev = strmap_put(&t->vocab, s, (size_t)len, n);
        if (prev >= 0) {
            snprintf(err, errlen, "%s:%d: duplicate token '%s' (first on line %d)", path, n + 1, s, prev + 1);
            rc = -1;
            break;
        }
        if (len > 2 && s[0] == '#' && s[1] == '#') {
            strmap_put(&t->cont, s + 2, (size_t)len - 2, n);
            if (len - 2 > t->max_tok_bytes)
                t->max_tok_bytes = (int)len - 2;
        } else if (len > t->max_tok_bytes) {
            t->max_tok_bytes = (int)len;
        }
        if ((size_t)n == ncap) {
            ncap = ncap ? ncap * 2 : 32768;
            t->id_to_tok = realloc(t->id_to_tok, ncap * sizeof(char *));
        }
        t->id_to_tok[n++] = strdup(s);
    }
    free(line);
    fclose(f);
    t->vocab_size = n;
    if (!rc && n == 0) {
        snprintf(err, errlen, "%s: empty vocabulary", path);
        rc = -1;
    }
    return rc;
}

/* Normalised text: code points with the original index each came from. */
typedef struct {
    uint32_t *c;
    int *orig;
    int n, cap;
} NText;

static void nt_push(NText *t, uint32_t c, int orig)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->c = realloc(t->c, t->cap * sizeof *t->c);
        t->orig = realloc(t->orig, t->cap * sizeof *t->orig);
    }
    t->c[t->n] = c;
    t->orig[t->n] = orig;
    t->n++;
}

static void normalize(const Tokenizer *t, const uint32_t *cp, int a, int b, NText *out)
{
    NText tmp = {0};
    NText *cur = t->strip_accents ? &tmp : out;
    for (int i = a; i < b; i++) {
        uint32_t c = cp[i];
        if (c == 0 || c == 0xFFFD || (c != '\t' && c != '\n' && c != '\r' && uc_is_control(c)))
            continue;
        if (uc_is_whitespace(c))
            nt_push(cur, ' ', i);
        else if (t->chinese_chars && uc_is_chinese(c)) {
            nt_push(cur, ' ', i);
            nt_push(cur, c, i);
            nt_push(cur, ' ', i);
        } else
            nt_push(cur, c, i);
    }
    if (t->strip_accents) {
        /* NFD: full canonical decomposition, then canonical ordering of combining
         * marks; then drop the nonspacing marks (Mn). */
        int start = out->n;
        for (int i = 0; i < tmp.n; i++) {
            uint32_t c = tmp.c[i];
            if (c < 0xC0) {
                nt_push(out, c, tmp.orig[i]);
                continue;
            }
            utf8proc_int32_t d[32];
            int last = 0;
            utf8proc_ssize_t k = utf8proc_decompose_char((utf8proc_int32_t)c, d, 32, UTF8PROC_DECOMPOSE, &last);
            if (k < 1 || k > 32) {
                nt_push(out, c, tmp.orig[i]);
                continue;
            }
            for (int j = 0; j < k; j++)
                nt_push(out, (uint32_t)d[j], tmp.orig[i]);
        }
        for (int i = start + 1; i < out->n; i++) { /* stable insertion sort within runs of ccc != 0 */
            int ci = utf8proc_get_property((utf8proc_int32_t)out->c[i])->combining_class;
            if (!ci)
                continue;
            for (int j = i; j > start; j--) {
                int cj = utf8proc_get_property((utf8proc_int32_t)out->c[j - 1])->combining_class;
                if (!cj || cj <= ci)
                    break;
                uint32_t x = out->c[j];
                out->c[j] = out->c[j - 1];
                out->c[j - 1] = x;
                int o = out->orig[j];
                out->orig[j] = out->orig[j - 1];
                out->orig[j - 1] = o;
            }
        }
        int w = start;
        for (int i = start; i < out->n; i++)
            if (out->c[i] < 0x300 || utf8proc_category((utf8proc_int32_t)out->c[i]) != UTF8PROC_CATEGORY_MN) {
                out->c[w] = out->c[i];
                out->orig[w] = out->orig[i];
                w++;
            }
        out->n = w;
        free(tmp.c);
        free(tmp.orig);
    }
    if (t->do_lower_case) {
        /* Full lower-case mapping (Rust's char::to_lowercase): only U+0130 differs
         * from the simple mapping, becoming "i" + U+0307. */
        if (uc_lower_simple(out->c, out->n)) {
            NText x = {0};
            for (int i = 0; i < out->n; i++) {
                if (out->c[i] == 0x130) {
                    nt_push(&x, 'i', out->orig[i]);
                    nt_push(&x, 0x307, out->orig[i]);
                } else
                    nt_push(&x, out->c[i], out->orig[i]);
            }
            free(out->c);
            free(out->orig);
            *out = x;
        }
    }
}

/* Greedy longest-match-first over the word's characters w[0..k). */
static void wordpiece_word(const Tokenizer *t, const NText *nt, int w0, int k, TokList *out, char **buf,
                           int **bpos, int *bcap)
{
    int unk = t->special_id[TOK_UNK];
    if (k > t->max_input_chars_per_word) {
        toklist_push(out, unk, nt->orig[w0], nt->orig[w0 + k - 1] + 1, 0);
        return;
    }
    if (4 * k + 4 > *bcap) {
        *bcap = 8 * k + 64;
        *buf = realloc(*buf, *bcap);
        *bpos = realloc(*bpos, *bcap * sizeof(int));
    }
    char *b = *buf;
    int *bp = *bpos, nb = 0;
    for (int i = 0; i < k; i++) {
        bp[i] = nb;
        nb += utf8_put(nt->c[w0 + i], b + nb);
    }
    bp[k] = nb;
    int first = out->n;
    int s = 0;
    while (s < k) {
        int e = k, id = -1;
        const StrMap *m = s == 0 ? &t->vocab : &t->cont;
        while (e > s && bp[e] - bp[s] > t->max_tok_bytes)
            e--;
        for (; e > s; e--) {
            id = strmap_get(m, b + bp[s], (size_t)(bp[e] - bp[s]));
            if (id >= 0)
                break;
        }
        if (id < 0) { /* no piece fits: the whole word is [UNK] */
            out->n = first;
            toklist_push(out, unk, nt->orig[w0], nt->orig[w0 + k - 1] + 1, 0);
            return;
        }
        toklist_push(out, id, nt->orig[w0 + s], nt->orig[w0 + e - 1] + 1, 0);
        s = e;
    }
}

void wordpiece_encode_span(const Tokenizer *t, const uint32_t *cp, int a, int b, TokList *out)
{
    NText nt = {0};
    normalize(t, cp, a, b, &nt);
    char *buf = NULL;
    int *bpos = NULL, bcap = 0;
    int w0 = -1;
    for (int i = 0; i <= nt.n; i++) {
        uint32_t c = i < nt.n ? nt.c[i] : ' ';
        int ws = uc_is_whitespace(c), p = !ws && uc_is_punct(c);
        if (ws || p) {
            if (w0 >= 0)
                wordpiece_word(t, &nt, w0, i - w0, out, &buf, &bpos, &bcap);
            w0 = -1;
            if (p)
                wordpiece_word(t, &nt, i, 1, out, &buf, &bpos, &bcap);
        } else if (w0 < 0)
            w0 = i;
    }
    free(buf);
    free(bpos);
    free(nt.c);
    free(nt.orig);
}
