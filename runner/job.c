/* One pass over the corpus: tokenization into compact flat arrays, target and
 * mask-position checks; and the base forward of an example (see job.h). */
#include "runner/job.h"
#include "runner/continuation.h"
#include "engine/attn_stats.h"
#include "io/categories.h"
#include "io/corpus.h"
#include "runner/candidates.h"
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROW(p, cap, need)                                              \
    do {                                                                \
        if ((size_t)(need) > (cap)) {                                   \
            size_t nc_ = (cap) ? (cap) : 64;                            \
            while (nc_ < (size_t)(need))                                \
                nc_ *= 2;                                               \
            (p) = realloc((p), nc_ * sizeof *(p));                      \
            (cap) = nc_;                                                \
        }                                                               \
    } while (0)

void examples_free(Examples *ex)
{
    if (ex->text)
        for (long i = 0; i < ex->n; i++)
            free(ex->text[i]);
    if (ex->pair)
        for (long i = 0; i < ex->n; i++)
            free(ex->pair[i]);
    for (long i = 0; i < ex->nskipped; i++)
        free(ex->skip_reason[i]);
    free(ex->row);
    free(ex->line);
    free(ex->label);
    free(ex->target);
    free(ex->mlm_pos);
    free(ex->off);
    free(ex->ids);
    free(ex->type_ids);
    free(ex->special);
    free(ex->span);
    free(ex->punct);
    free(ex->category);
    for (int k = 0; k < ex->n_categories; k++)
        free(ex->category_names[k]);
    free(ex->category_names);
    free(ex->cand_ids);
    if (ex->kept)
        for (long i = 0; i < ex->n * ex->n_kept; i++)
            free(ex->kept[i]);
    free(ex->kept);
    free(ex->aoff);
    free(ex->cont_example);
    free(ex->cont_step);
    free(ex->cont_prompt_len);
    free(ex->text);
    free(ex->pair);
    free(ex->skip_row);
    free(ex->skip_reason);
    memset(ex, 0, sizeof *ex);
}

static void add_skip(Examples *ex, size_t *cap, long row, const char *why)
{
    GROW(ex->skip_row, *cap, ex->nskipped + 1);
    ex->skip_reason = realloc(ex->skip_reason, *cap * sizeof(char *));
    ex->skip_row[ex->nskipped] = row;
    ex->skip_reason[ex->nskipped] = strdup(why);
    ex->nskipped++;
}

/* Token categories of one encoded row (docs/analysis.md §6) into out (enc->n). For a field
 * source, special and unknown get the codes -1 and -2 until the whole corpus has given its
 * labels (finish_categories). Returns 0, or -1 with why. */
static int row_categories(const RunConfig *c, const CorpusRecord *rec, const Encoding *enc, CategoryNames *names,
                          int16_t *out, char *why, size_t wlen)
{
    if (c->analysis.categories == ANALYSIS_CAT_JAVA) {
        if (categories_java_segment(rec->text, (const int(*)[2])enc->offsets, enc->special, enc->type_ids, 0,
                                    enc->n, out) ||
            (rec->text_pair && categories_java_segment(rec->text_pair, (const int(*)[2])enc->offsets,
                                                       enc->special, enc->type_ids, 1, enc->n, out))) {
            snprintf(why, wlen, "out of memory in the Java lexer");
            return -1;
        }
        return 0;
    }
    LexSpan *sp = NULL;
    int n = 0;
    char perr[256];
    if (categories_parse_field(rec->extra, names, &sp, &n, perr, sizeof perr)) {
        snprintf(why, wlen, "field '%s': %s", c->analysis.category_field, perr);
        return -1;
    }
    for (int t = 0; t < enc->n; t++)
        out[t] = -2; /* pair tokens: the field's spans index the text only */
    int rc = categories_assign_segment((const int(*)[2])enc->offsets, enc->special, enc->type_ids, 0, enc->n, sp,
                                       n, -1, -2, out);
    free(sp);
    if (rc)
        snprintf(why, wlen, "field '%s': bad spans", c->analysis.category_field);
    return rc;
}

/* Field categories: append special and unknown to the labels and resolve their codes. */
static int finish_categories(Examples *ex, const RunConfig *c, CategoryNames *names)
{
    if (c->analysis.categories == ANALYSIS_CAT_JAVA) {
        ex->n_categories = LEXJ_NUM;
        ex->category_names = malloc(sizeof(char *) * LEXJ_NUM);
        for (int k = 0; k < LEXJ_NUM; k++)
            ex->category_names[k] = strdup(lex_java_names[k]);
        return 0;
    }
    int sc = category_names_index(names, "special"), uc = category_names_index(names, "unknown");
    if (sc < 0 || uc < 0 || names->n > 32767)
        return -1;
    for (long t = 0; t < (long)ex->off[ex->n]; t++)
        ex->category[t] = ex->category[t] == -1 ? (int16_t)sc : ex->category[t] == -2 ? (int16_t)uc : ex->category[t];
    ex->n_categories = names->n;
    ex->category_names = names->names;
    names->names = NULL;
    names->n = 0;
    return 0;
}

/* A token named in the config: eos / bos / unk / pad (the tokenizer's), a vocabulary token,
 * or an id below V. -1 when there is none. */
static int named_token(const Tokenizer *tok, const ModelConfig *mc, const char *name)
{
    static const struct { const char *name; SpecialToken which; } S[] = {
        {"eos", TOK_EOS}, {"bos", TOK_BOS}, {"unk", TOK_UNK}, {"pad", TOK_PAD}, {"mask", TOK_MASK}};
    for (size_t i = 0; i < sizeof S / sizeof *S; i++)
        if (!strcmp(name, S[i].name)) {
            int id = tokenizer_special_id(tok, S[i].which);
            if (id < 0 && S[i].which == TOK_PAD)
                id = mc->pad_id;
            if (id < 0 && S[i].which == TOK_EOS)
                id = mc->eos_id;
            if (id < 0 && S[i].which == TOK_BOS)
                id = mc->bos_id;
            return id;
        }
    int id = tokenizer_token_to_id(tok, name);
    if (id >= 0)
        return id;
    char *end;
    long v = strtol(name, &end, 10);
    return *name && !*end && v >= 0 && v < mc->V ? (int)v : -1;
}

/* The fill id of the token baselines: `baseline: token` (baseline_token) on any model; on
 * decoders also pad / unk / mask (the tokenizer's token). Decoders take one token kind per
 * job (one fill id). Returns 0, or -2 with a config error naming what is missing. */
static int resolve_fill(Examples *ex, const RunConfig *c, const ModelConfig *mc, const Tokenizer *tok, char *err,
                        size_t errlen)
{
    ex->fill_id = -1;
    const char *kind = NULL;
    for (int j = 0; j < c->nbaselines; j++) {
        BaselineKind b = c->baselines[j];
        const char *name = b == BASE_TOKEN ? c->baseline_token
                           : !mc->causal || b == BASE_ZERO ? NULL
                           : b == BASE_PAD || b == BASE_PAD_ALL ? "pad" : b == BASE_UNK ? "unk" : "mask";
        if (b == BASE_TOKEN && !name) {
            snprintf(err, errlen, "%s: baseline: token needs baseline_token (a token, an id, eos, bos, unk or pad)",
                     c->source);
            return -2;
        }
        if (!name)
            continue;
        int id = named_token(tok, mc, name);
        if (id < 0 || id >= mc->V) {
            snprintf(err, errlen, "%s: baseline: '%s' needs a %s token, and %s's tokenizer has none (use "
                     "baseline: zero, or baseline: token with baseline_token)", c->source, baseline_name(b), name,
                     c->model);
            return -2;
        }
        if (kind && id != ex->fill_id) {
            snprintf(err, errlen, "%s: baseline: decoder models take one token baseline per job ('%s' and '%s' "
                     "differ)", c->source, kind, name);
            return -2;
        }
        kind = name;
        ex->fill_id = id;
    }
    return 0;
}

/* The position the head reads: the first mask (MLM), the last token (causal LM), the last
 * token that is not pad_token_id (score head; 0 when all are pad, the last without a pad id). */
static int head_position(const ModelConfig *mc, const Encoding *enc, int mask_id)
{
    if (mc->head == HEAD_MLM) {
        for (int t = 0; t < enc->n; t++)
            if (enc->ids[t] == mask_id)
                return t;
        return -1;
    }
    if (mc->head == HEAD_SCORE && mc->pad_id >= 0) {
        for (int t = enc->n - 1; t >= 0; t--)
            if (enc->ids[t] != mc->pad_id)
                return t;
        return 0;
    }
    return mc->head == HEAD_CLASSIFIER ? 0 : enc->n - 1;
}

/* The fixed target (target: N or target: <token>), checked against the model once; -1 when each row
 * brings its own (target: label) or the model's prediction is explained. */
static int resolve_fixed_target(const RunConfig *c, const ModelConfig *mc, const Tokenizer *tok, int *fixed,
                                char *err, size_t errlen)
{
    int mlm = mc->head == HEAD_MLM, vocab = mlm || mc->head == HEAD_LM;
    *fixed = -1;
    if (c->target == TARGET_INDEX) {
        if (c->target_index >= mc->C) {
            snprintf(err, errlen, "%s: target: %d is out of range: the model has %d %s", c->source,
                     c->target_index, mc->C, vocab ? "vocabulary entries" : "classes");
            return -2;
        }
        *fixed = c->target_index;
    } else if (c->target == TARGET_TOKEN) {
        if (!vocab) {
            snprintf(err, errlen, "%s: target: '%s' is not predicted, label or a class index (token targets "
                     "need a masked-LM or causal-LM model; %s is a classifier)", c->source, c->target_token,
                     c->model);
            return -2;
        }
        *fixed = tokenizer_token_to_id(tok, c->target_token);
        if (*fixed < 0) {
            snprintf(err, errlen, "%s: target: token '%s' is not in the vocabulary of %s", c->source,
                     c->target_token, c->model);
            return -2;
        }
    } else if (c->target == TARGET_LABEL && mlm) {
        snprintf(err, errlen, "%s: target: label needs a sequence-classification model (%s is a masked LM)",
                 c->source, c->model);
        return -2;
    }
    return 0;
}

/* Longest input: max_length, else what both the tokenizer and the position table allow. */
static int resolve_max_length(const RunConfig *c, const ModelConfig *mc, const Tokenizer *tok, int *out,
                              char *err, size_t errlen)
{
    int maxlen = c->corpus.max_length;
    int pmax = mc->P - mc->position_offset;
    int tmax = tokenizer_model_max_length(tok);
    if (maxlen <= 0)
        maxlen = tmax > 0 && tmax < pmax ? tmax : pmax;
    if (maxlen > pmax) {
        snprintf(err, errlen, "%s: corpus.max_length: %d is more than the model's %d positions", c->source,
                 maxlen, pmax);
        return -2;
    }
    /* Room for at least one text token per segment besides the special tokens the tokenizer
     * adds ([CLS] .. [SEP], <s> .. </s></s> .. </s>): below the specials HF's tokenizers refuse
     * to truncate, and at exactly the specials every example would hold no text at all. */
    Encoding frame;
    if (tokenizer_encode(tok, "", c->corpus.pair_field ? "" : NULL, 0, &frame) == 0) {
        int need = frame.n + (c->corpus.pair_field ? 2 : 1);
        encoding_free(&frame);
        if (maxlen < need) {
            snprintf(err, errlen, "%s: corpus.max_length: %d leaves no room for text: the tokenizer adds %d "
                     "special tokens%s, so at least %d are needed", c->source, maxlen, need - (c->corpus.pair_field
                     ? 2 : 1), c->corpus.pair_field ? " to a pair (and each segment needs one token)" : "", need);
            return -2;
        }
    }
    *out = maxlen;
    return 0;
}

/* Opens the corpus with the label names the model knows. *vnames (a causal LM's vocabulary, when its
 * labels are target tokens) is read while rows are, so the caller frees it after corpus_close. */
static Corpus *open_corpus(const RunConfig *c, const ModelConfig *mc, const Tokenizer *tok, char ***vnames,
                           char *err, size_t errlen)
{
    int mlm = mc->head == HEAD_MLM, lm = mc->head == HEAD_LM;
    CorpusSpec cs = {0};
    cs.path = c->corpus.path;
    cs.format = c->corpus.format;
    cs.text_field = c->corpus.text_field;
    cs.pair_field = c->corpus.pair_field;
    cs.label_field = c->corpus.label_field;
    cs.cont_field = c->corpus.continuation_field;
    cs.extra_field = c->analysis.categories == ANALYSIS_CAT_FIELD ? c->analysis.category_field : NULL;
    cs.offset = c->corpus.offset;
    cs.limit = c->corpus.limit;
    cs.skip_errors = c->corpus.skip_errors;
    cs.id_field = c->corpus.id_field;
    cs.keep_fields = c->corpus.keep_fields;
    cs.n_keep = c->corpus.n_keep;
    cs.label_strings = mlm; /* gold words, resolved as tokens in check_row (runner/candidates.h) */
    /* causal LM: a label is the row's target token (a vocabulary token or an id) */
    char **vn = NULL;
    if (lm && c->target == TARGET_LABEL && (vn = calloc((size_t)mc->V, sizeof *vn)))
        for (int v = 0; v < mc->V; v++)
            vn[v] = (char *)tokenizer_id_to_token(tok, v);
    cs.label_names = mlm ? NULL : lm ? vn : mc->labels;
    cs.n_labels = mlm || (lm && !vn) ? 0 : mc->C;
    cs.n_classes = mc->C; /* classes, or a masked LM's vocabulary: the same rule for every target */
    Corpus *cp = corpus_open(&cs, err, errlen);
    if (!cp) {
        free(vn);
        return NULL;
    }
    *vnames = vn;
    return cp;
}

/* Growth state of the example arrays while rows are read. */
typedef struct {
    size_t cap[8];          /* row, line, label, target, mlm_pos, off, text, pair */
    size_t cap_tok, cap_skip, cap_cont, cap_kept;
    int16_t *rowcat;        /* one row's token categories, reused from row to row */
    size_t cap_rowcat;
    CategoryNames names;    /* category labels seen so far */
    int want_cat;
} LoadState;

/* A masked LM's gold answer: a word (rec->label_text) as its token, and with candidates one of them.
 * NULL with *label set, or why the row cannot be used. */
static const char *gold_token(const Examples *ex, const Tokenizer *tok, const CorpusRecord *rec, int *label,
                              char *why, size_t wlen)
{
    if (rec->label_text) {
        char how[200];
        *label = word_token(tok, rec->label_text, how, sizeof how);
        if (*label < 0) {
            snprintf(why, wlen, "gold answer '%.100s' is not a single token of the vocabulary: %s", rec->label_text,
                     how);
            return why;
        }
    }
    if (ex->n_cand && *label >= 0 && candidates_find(ex->cand_ids, ex->n_cand, *label) < 0) {
        const char *t = tokenizer_id_to_token(tok, *label);
        snprintf(why, wlen, "gold answer '%.100s' (token id %d) is not one of the mlm.candidates",
                 rec->label_text ? rec->label_text : t ? t : "?", *label);
        return why;
    }
    return NULL;
}

/* Per-example checks (label target, categories, mask position): why the row cannot be explained, or
 * NULL with *label, *target and *mpos set. The categories land in st->rowcat; catwhy holds their error. */
static const char *check_row(const RunConfig *c, const ModelConfig *mc, const Tokenizer *tok, const Examples *ex,
                             LoadState *st, const CorpusRecord *rec, const Encoding *enc, int fixed, int *label,
                             int *target, int *mpos, char *catwhy, size_t catlen)
{
    int mlm = mc->head == HEAD_MLM, lm = mc->head == HEAD_LM;
    *label = rec->label;
    *target = fixed;
    *mpos = 0;
    if (mlm && gold_token(ex, tok, rec, label, catwhy, catlen))
        return catwhy;
    if (c->target == TARGET_LABEL) {
        *target = rec->label;
        if (rec->label < 0)
            return "target is label but the row has no label";
        if (rec->label >= mc->C)
            return lm ? "label is not a token id of the model's vocabulary"
                      : "label is out of range for the model's classes";
    }
    if (st->want_cat) {
        GROW(st->rowcat, st->cap_rowcat, enc->n + 1);
        if (row_categories(c, rec, enc, &st->names, st->rowcat, catwhy, catlen))
            return catwhy;
    }
    *mpos = head_position(mc, enc, ex->mask_id);
    if (*mpos < 0)
        return mlm ? "no mask token in the text (a masked-LM model explains the first mask)"
                   : "the text has no tokens";
    return NULL;
}

/* Appends one checked row: its per-example fields, then its tokens at the end of the flat token arrays
 * (grown by doubling, as they can reach millions of tokens). */
static void append_example(Examples *ex, LoadState *st, const CorpusRecord *rec, const Encoding *enc, int label,
                           int target, int mpos, int keep_text, int pair)
{
    long i = ex->n;
    size_t *cap = st->cap;
    GROW(ex->row, cap[0], i + 1);
    GROW(ex->line, cap[1], i + 1);
    GROW(ex->label, cap[2], i + 1);
    GROW(ex->target, cap[3], i + 1);
    GROW(ex->mlm_pos, cap[4], i + 1);
    GROW(ex->off, cap[5], i + 2);
    if (keep_text) {
        GROW(ex->text, cap[6], i + 1);
        ex->text[i] = strdup(rec->text ? rec->text : "");
        if (pair) {
            GROW(ex->pair, cap[7], i + 1);
            ex->pair[i] = strdup(rec->text_pair ? rec->text_pair : "");
        }
        if (ex->n_kept) {
            GROW(ex->kept, st->cap_kept, (size_t)(i + 1) * ex->n_kept);
            for (int k = 0; k < ex->n_kept; k++)
                ex->kept[i * ex->n_kept + k] = strdup(k == 0 && rec->id ? rec->id : rec->kept[k - (rec->id != NULL)]);
        }
    }
    ex->row[i] = rec->row;
    ex->line[i] = rec->line;
    ex->label[i] = label;
    ex->any_label |= label >= 0;
    ex->target[i] = target;
    ex->mlm_pos[i] = mpos;
    int64_t t0 = ex->off[i];
    size_t need = (size_t)(t0 + enc->n);
    if (need > st->cap_tok) {
        size_t nc = st->cap_tok ? st->cap_tok : 1024;
        while (nc < need)
            nc *= 2;
        ex->ids = realloc(ex->ids, nc * sizeof(int));
        ex->type_ids = realloc(ex->type_ids, nc * sizeof(int));
        ex->special = realloc(ex->special, nc * sizeof(int));
        ex->span = realloc(ex->span, nc * sizeof *ex->span);
        if (st->want_cat)
            ex->category = realloc(ex->category, nc * sizeof *ex->category);
        st->cap_tok = nc;
    }
    memcpy(ex->ids + t0, enc->ids, sizeof(int) * enc->n);
    memcpy(ex->type_ids + t0, enc->type_ids, sizeof(int) * enc->n);
    memcpy(ex->special + t0, enc->special, sizeof(int) * enc->n);
    memcpy(ex->span + t0, enc->offsets, sizeof *ex->span * enc->n);
    if (st->want_cat)
        memcpy(ex->category + t0, st->rowcat, sizeof *st->rowcat * enc->n);
    ex->off[i + 1] = t0 + enc->n;
    ex->n_truncated += enc->truncated;
    ex->n++;
}

/* A row that cannot be used: an error (-1) unless corpus.on_error is skip, then a recorded skip (0). */
static int reject_row(Examples *ex, LoadState *st, const RunConfig *c, long row, const char *why, char *err,
                      size_t errlen)
{
    if (!c->corpus.skip_errors) {
        snprintf(err, errlen, "%s (set corpus.on_error: skip to skip such rows)", why);
        return -1;
    }
    add_skip(ex, &st->cap_skip, row, why);
    return 0;
}

/* A prompt/continuation row: one example per continuation token p = prompt_len .. end-1, holding the
 * tokens before it (teacher forcing), its target the token itself and its head position p-1. The
 * text stored (and indexed by the character spans) is prompt + continuation. 0, or -1 on an error. */
static int read_continuation(Examples *ex, const RunConfig *c, const ModelConfig *mc, const Tokenizer *tok,
                             CorpusRecord *rec, int maxlen, int keep_text, LoadState *st, char *err, size_t errlen)
{
    char why[512];
    Encoding enc;
    int P, E;
    const char *bad = continuation_encode(tok, rec->text, rec->continuation, c->corpus.skip_long ? INT_MAX : maxlen,
                                          &enc, &P, &E);
    if (bad) {
        snprintf(why, sizeof why, "%s:%ld: %s", c->corpus.path, rec->line, bad);
        return reject_row(ex, st, c, rec->row, why, err, errlen);
    }
    if (c->corpus.skip_long && enc.n > maxlen) { /* on_long: skip, as for other rows (prompt + continuation) */
        snprintf(why, sizeof why, "%s:%ld: too long: %d tokens > %d (corpus.max_length, corpus.on_long: skip)",
                 c->corpus.path, rec->line, enc.n, maxlen);
        encoding_free(&enc);
        add_skip(ex, &st->cap_skip, rec->row, why);
        return 0;
    }
    char *joint = continuation_text(rec->text, rec->continuation);
    CorpusRecord jr = *rec;
    jr.text = joint;
    int label, target, mpos;
    char catwhy[480];
    bad = check_row(c, mc, tok, ex, st, &jr, &enc, -1, &label, &target, &mpos, catwhy, sizeof catwhy);
    if (bad) {
        snprintf(why, sizeof why, "%s:%ld: %s", c->corpus.path, rec->line, bad);
        encoding_free(&enc);
        free(joint);
        return reject_row(ex, st, c, rec->row, why, err, errlen);
    }
    for (int p = P; p < E; p++) {
        Encoding prefix = enc;
        prefix.n = p;
        prefix.truncated = p == P && enc.truncated; /* the row counts once in n_truncated */
        /* (st->rowcat holds the whole row's categories: append_example copies the prefix's) */
        long i = ex->n;
        append_example(ex, st, &jr, &prefix, label, enc.ids[p], p - 1, keep_text, 0);
        GROW(ex->cont_example, st->cap_cont, i + 1);
        ex->cont_step = realloc(ex->cont_step, st->cap_cont * sizeof(int));
        ex->cont_prompt_len = realloc(ex->cont_prompt_len, st->cap_cont * sizeof(int));
        ex->cont_example[i] = ex->n_cont;
        ex->cont_step[i] = p - P;
        ex->cont_prompt_len[i] = P;
    }
    ex->n_cont++;
    encoding_free(&enc);
    free(joint);
    return 0;
}

/* Reads, tokenizes and checks every row of the corpus: 0 at its end, -1 on the first error. */
static int read_rows(Examples *ex, const RunConfig *c, const ModelConfig *mc, const Tokenizer *tok, Corpus *cp,
                     int fixed, int maxlen, int keep_text, LoadState *st, char *err, size_t errlen)
{
    for (;;) {
        CorpusRecord rec;
        char why[512];
        int k = corpus_next(cp, &rec, why, sizeof why);
        if (k == 0)
            return 0;
        if (k < 0) {
            snprintf(err, errlen, "%s", why);
            return -1;
        }
        if (k == 2) {
            add_skip(ex, &st->cap_skip, rec.row, why);
            continue;
        }
        if (c->corpus.continuation_field) {
            if (read_continuation(ex, c, mc, tok, &rec, maxlen, keep_text, st, err, errlen))
                return -1;
            continue;
        }
        Encoding enc;
        /* on_long: skip needs the whole length to tell (and to name it) */
        if (tokenizer_encode(tok, rec.text, rec.text_pair, c->corpus.skip_long ? INT_MAX : maxlen, &enc)) {
            snprintf(why, sizeof why, "%s:%ld: text is not valid UTF-8", c->corpus.path, rec.line);
            if (reject_row(ex, st, c, rec.row, why, err, errlen))
                return -1;
            continue;
        }
        if (c->corpus.skip_long && enc.n > maxlen) { /* skipped whatever on_error says: the user asked for it */
            snprintf(why, sizeof why, "%s:%ld: too long: %d tokens > %d (corpus.max_length, corpus.on_long: skip)",
                     c->corpus.path, rec.line, enc.n, maxlen);
            encoding_free(&enc);
            add_skip(ex, &st->cap_skip, rec.row, why);
            continue;
        }
        int label, target, mpos;
        char catwhy[480];
        const char *bad = check_row(c, mc, tok, ex, st, &rec, &enc, fixed, &label, &target, &mpos, catwhy,
                                    sizeof catwhy);
        if (bad) {
            snprintf(why, sizeof why, "%s:%ld: %s", c->corpus.path, rec.line, bad);
            encoding_free(&enc);
            if (reject_row(ex, st, c, rec.row, why, err, errlen))
                return -1;
            continue;
        }
        append_example(ex, st, &rec, &enc, label, target, mpos, keep_text, c->corpus.pair_field != NULL);
        encoding_free(&enc);
    }
}

/* Per-token punctuation flags and per-example attention offsets, once all rows are in. */
static void index_tokens(Examples *ex, const ModelConfig *mc, const Tokenizer *tok)
{
    /* Punctuation flags from the token strings (ids were checked against the vocabulary). */
    long M = (long)ex->off[ex->n];
    ex->punct = malloc(M ? M : 1);
    for (long t = 0; t < M; t++)
        ex->punct[t] = (unsigned char)attn_token_is_punct(tokenizer_id_to_token(tok, ex->ids[t]));
    /* Attention-shaped offsets: L*NH*T*T per example. */
    ex->aoff = malloc(sizeof(int64_t) * (ex->n + 1));
    ex->aoff[0] = 0;
    for (long i = 0; i < ex->n; i++) {
        int64_t T = ex->off[i + 1] - ex->off[i];
        ex->aoff[i + 1] = ex->aoff[i] + (int64_t)mc->L * mc->NH * T * T;
    }
}

int examples_load(Examples *ex, const RunConfig *c, const Model *m, const Tokenizer *tok, int keep_text,
                  char *err, size_t errlen)
{
    memset(ex, 0, sizeof *ex);
    const ModelConfig *mc = &m->cfg;
    ex->mask_id = tokenizer_special_id(tok, TOK_MASK);
    ex->unk_id = tokenizer_special_id(tok, TOK_UNK);
    ex->cls_id = tokenizer_special_id(tok, TOK_CLS);
    ex->sep_id = tokenizer_special_id(tok, TOK_SEP);
    if (continuation_check_config(c, mc, err, errlen) || resolve_fill(ex, c, mc, tok, err, errlen))
        return -2;
    int fixed, maxlen;
    if (resolve_fixed_target(c, mc, tok, &fixed, err, errlen) ||
        resolve_max_length(c, mc, tok, &maxlen, err, errlen))
        return -2;
    if ((c->mlm.candidates || c->mlm.candidates_file) && mc->head != HEAD_MLM) {
        snprintf(err, errlen, "%s: mlm.candidates: needs a masked-LM model (%s is not one)", c->source, c->model);
        return -2;
    }
    if (candidates_load(c, tok, &ex->cand_ids, &ex->n_cand, err, errlen))
        return -2;
    ex->n_kept = keep_text ? (c->corpus.id_field != NULL) + c->corpus.n_keep : 0;
    char **vnames = NULL;
    Corpus *cp = open_corpus(c, mc, tok, &vnames, err, errlen);
    if (!cp)
        return -2;

    LoadState st = {0};
    st.want_cat = c->analysis.categories != ANALYSIS_CAT_NONE;
    ex->off = malloc(sizeof(int64_t));
    ex->off[0] = 0;
    int rc = read_rows(ex, c, mc, tok, cp, fixed, maxlen, keep_text, &st, err, errlen);
    corpus_close(cp);
    free(st.rowcat);
    if (!rc && st.want_cat && finish_categories(ex, c, &st.names)) {
        snprintf(err, errlen, "%s: analysis.categories: out of memory or more than 32765 labels", c->source);
        rc = -1;
    }
    category_names_free(&st.names);
    free(vnames);
    if (rc) {
        examples_free(ex);
        return -1;
    }
    index_tokens(ex, mc, tok);
    return 0;
}

void examples_view(const Examples *ex, long e, Example *out)
{
    int64_t t0 = ex->off[e];
    memset(out, 0, sizeof *out);
    out->index = ex->row[e];
    out->T = (int)(ex->off[e + 1] - t0);
    out->ids = ex->ids + t0;
    out->type_ids = ex->type_ids + t0;
    out->special = ex->special + t0;
    out->target = ex->target[e];
    out->mlm_pos = ex->mlm_pos[e];
    out->mask_id = ex->mask_id;
    out->unk_id = ex->unk_id;
    out->fill_id = ex->fill_id;
}

/* ---- base forward ---- */

static int forward(Engine *eng, const Examples *ex, long e, int target, float *logits, float *attn,
                   float *hidden, float *vnorm, const AttnSinks *sinks, const char **err)
{
    const Model *m = engine_model(eng);
    Example x;
    examples_view(ex, e, &x);
    int T = x.T, D = m->cfg.D;
    int *pos = malloc(sizeof(int) * T);
    float *h = malloc(sizeof(float) * (size_t)T * D);
    engine_position_ids(m, x.ids, T, pos);
    const int *types = m->type_emb ? x.type_ids : NULL;
    int rc = 0;
    if (engine_layer_values(m, AT_WORD_EMB, x.ids, pos, types, T, h)) {
        *err = "token id out of the model's vocabulary";
        rc = -1;
    } else {
        float F;
        EngineBatch in = {0};
        in.B = 1;
        in.T = T;
        in.layer = AT_WORD_EMB;
        in.x = h;
        in.pos_ids = pos;
        in.type_ids = types;
        in.target = &target;
        in.mlm_pos = &x.mlm_pos;
        in.output = OUT_LOGIT;
        EngineOutput out = {0};
        out.F = &F;
        out.logits = logits;
        out.attn = attn;
        out.hidden = hidden; /* (L,1,T,D): the conductance taps, forward only */
        out.vnorm = vnorm;   /* (1,L,NH,T) */
        if (sinks) {
            out.attn_sink = sinks->fwd;
            out.attn_sink_rev = sinks->rev;
            out.attn_ctx = sinks->ctx;
        }
        if (engine_run(eng, &in, &out)) {
            *err = engine_error(eng);
            rc = -1;
        }
    }
    free(pos);
    free(h);
    return rc;
}

static int argmax(const float *v, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b])
            b = i;
    return b;
}

int examples_predict(const Examples *ex, const float *logits, int C)
{
    if (!ex->n_cand)
        return argmax(logits, C);
    int best = 0; /* the candidates' argmax, the first given on a tie (candidates_argmax) */
    for (int k = 1; k < ex->n_cand; k++)
        if (logits[ex->cand_ids[k]] > logits[ex->cand_ids[best]])
            best = k;
    return ex->cand_ids[best];
}

int base_prediction(const Examples *ex, const BaseResult *r)
{
    if (!r->mlm)
        return r->C > 0 ? argmax(r->logits, r->C) : -1;
    if (r->K > 0 && r->K == ex->n_cand)
        return ex->cand_ids[candidates_argmax(r->cand_logits, r->K)];
    return r->top_ids[0];
}

int resolve_target(Engine *eng, const Examples *ex, long e, int *target, const char **err)
{
    if (ex->target[e] >= 0) {
        *target = ex->target[e];
        return 0;
    }
    int C = engine_model(eng)->cfg.C;
    float *logits = malloc(sizeof(float) * C);
    int rc = forward(eng, ex, e, 0, logits, NULL, NULL, NULL, NULL, err);
    if (!rc)
        *target = examples_predict(ex, logits, C);
    free(logits);
    return rc;
}

int base_run(Engine *eng, const Examples *ex, long e, int want_attn, int want_hidden, int want_vnorm,
             const AttnSinks *sinks, BaseResult *r, const char **err)
{
    const ModelConfig *mc = &engine_model(eng)->cfg;
    memset(r, 0, sizeof *r);
    int C = mc->C;
    float *logits = malloc(sizeof(float) * C);
    if (want_attn) {
        r->n_attn = ex->aoff[e + 1] - ex->aoff[e];
        r->attn = malloc(sizeof(float) * (r->n_attn ? r->n_attn : 1));
    }
    if (want_hidden) {
        r->n_hidden = (int64_t)mc->L * (ex->off[e + 1] - ex->off[e]) * mc->D;
        r->hidden = malloc(sizeof(float) * (r->n_hidden ? r->n_hidden : 1));
    }
    if (want_vnorm) {
        r->n_vnorm = (int64_t)mc->L * mc->NH * (ex->off[e + 1] - ex->off[e]);
        r->vnorm = malloc(sizeof(float) * (r->n_vnorm ? r->n_vnorm : 1));
    }
    int t0 = ex->target[e] >= 0 ? ex->target[e] : 0;
    if (forward(eng, ex, e, t0, logits, r->attn, r->hidden, r->vnorm, sinks, err)) {
        free(logits);
        base_free(r);
        return -1;
    }
    r->target = ex->target[e] >= 0 ? ex->target[e] : examples_predict(ex, logits, C);
    r->mlm = mc->head == HEAD_MLM;
    if (r->mlm && ex->n_cand) {
        r->K = ex->n_cand;
        r->cand_logits = malloc(sizeof(float) * (size_t)r->K);
        for (int k = 0; k < r->K; k++)
            r->cand_logits[k] = logits[ex->cand_ids[k]];
    }
    if (r->mlm) {
        /* top 5 of the softmax over the vocabulary, in double for the normaliser */
        double mx = logits[argmax(logits, C)], z = 0;
        for (int i = 0; i < C; i++)
            z += exp((double)logits[i] - mx);
        for (int k = 0; k < 5; k++) {
            int best = -1;
            for (int i = 0; i < C; i++) {
                int taken = 0;
                for (int j = 0; j < k; j++)
                    taken |= r->top_ids[j] == i;
                if (!taken && (best < 0 || logits[i] > logits[best]))
                    best = i;
            }
            r->top_ids[k] = best;
            r->top_probs[k] = best < 0 ? 0.0f : (float)(exp((double)logits[best] - mx) / z);
        }
        free(logits);
    } else {
        r->C = C;
        r->logits = logits;
    }
    return 0;
}

/* Payload: int32 target, mlm, C, K; float logits[C] | int32 top_ids[5] float top_probs[5] float cand_logits[K];
 * int64 n_attn; float attn[n_attn]; int32 n_stats, n_roll; float stats[n_stats],
 * rollout[n_roll], cls_attn[n_roll]; then the second round: int32 n_cat, n_sink, n_massive, 0;
 * int64 n_hidden; float cat_recv[n_cat], sinks[n_sink], mass_values[3 n_massive];
 * int32 mass_pos[3 n_massive], mass_dim[3 n_massive]; float mass_median[n_massive],
 * hidden[n_hidden]; then the norm-weighted part: int32 n_nw_stats, n_nw_cat, 0, 0; int64 n_vnorm;
 * float vnorm[n_vnorm], nw_stats[n_nw_stats], nw_cat[n_nw_cat]. */
static size_t second_bytes(const BaseResult *r)
{
    return 24 + 4 * ((size_t)r->n_cat + (size_t)r->n_sink + 10 * (size_t)r->n_massive + (size_t)r->n_hidden) +
           24 + 4 * ((size_t)r->n_vnorm + (size_t)r->n_nw_stats + (size_t)r->n_nw_cat);
}

size_t base_bytes(const BaseResult *r)
{
    return 16 + (r->mlm ? 40 + 4 * (size_t)r->K : 4 * (size_t)r->C) + 8 + 4 * (size_t)r->n_attn + 8 + 4 * (size_t)r->n_stats +
           8 * (size_t)r->n_roll + second_bytes(r);
}

static char *put_n(char *p, const void *src, size_t bytes)
{
    if (bytes)
        memcpy(p, src, bytes);
    return p + bytes;
}

static void pack_second(const BaseResult *r, char *p)
{
    int32_t h[4] = {r->n_cat, r->n_sink, r->n_massive, 0};
    p = put_n(p, h, 16);
    p = put_n(p, &r->n_hidden, 8);
    p = put_n(p, r->cat_recv, 4 * (size_t)r->n_cat);
    p = put_n(p, r->sinks, 4 * (size_t)r->n_sink);
    size_t m3 = 12 * (size_t)r->n_massive;
    p = put_n(p, r->mass_values, m3);
    p = put_n(p, r->mass_pos, m3);
    p = put_n(p, r->mass_dim, m3);
    p = put_n(p, r->mass_median, 4 * (size_t)r->n_massive);
    p = put_n(p, r->hidden, 4 * (size_t)r->n_hidden);
    int32_t w[4] = {r->n_nw_stats, r->n_nw_cat, 0, 0};
    p = put_n(p, w, 16);
    p = put_n(p, &r->n_vnorm, 8);
    p = put_n(p, r->vnorm, 4 * (size_t)r->n_vnorm);
    p = put_n(p, r->nw_stats, 4 * (size_t)r->n_nw_stats);
    put_n(p, r->nw_cat, 4 * (size_t)r->n_nw_cat);
}

/* A copy of n bytes at *p (NULL for 0 bytes), advancing *p. */
static void *take(const char **p, size_t bytes)
{
    void *v = bytes ? malloc(bytes) : NULL;
    if (v)
        memcpy(v, *p, bytes);
    *p += bytes;
    return v;
}

/* The second-round part at p, with `left` bytes to the end of the payload. */
static int unpack_second(BaseResult *r, const char *p, size_t left)
{
    if (left < 24)
        return -1;
    int32_t h[4];
    memcpy(h, p, 16);
    memcpy(&r->n_hidden, p + 16, 8);
    p += 24;
    r->n_cat = h[0], r->n_sink = h[1], r->n_massive = h[2];
    if (r->n_cat < 0 || r->n_sink < 0 || r->n_massive < 0 || r->n_hidden < 0 || (uint64_t)r->n_hidden > left / 4)
        return -1;
    /* the norm-weighted part's header sits after the second round's arrays */
    size_t at = 24 + 4 * ((size_t)r->n_cat + (size_t)r->n_sink + 10 * (size_t)r->n_massive + (size_t)r->n_hidden);
    if (at + 24 > left)
        return -1;
    int32_t w[4];
    memcpy(w, p - 24 + at, 16);
    memcpy(&r->n_vnorm, p - 24 + at + 16, 8);
    r->n_nw_stats = w[0], r->n_nw_cat = w[1];
    if (r->n_nw_stats < 0 || r->n_nw_cat < 0 || r->n_vnorm < 0 || (uint64_t)r->n_vnorm > left / 4 ||
        second_bytes(r) != left)
        return -1;
    r->cat_recv = take(&p, 4 * (size_t)r->n_cat);
    r->sinks = take(&p, 4 * (size_t)r->n_sink);
    size_t m3 = 12 * (size_t)r->n_massive;
    r->mass_values = take(&p, m3);
    r->mass_pos = take(&p, m3);
    r->mass_dim = take(&p, m3);
    r->mass_median = take(&p, 4 * (size_t)r->n_massive);
    r->hidden = take(&p, 4 * (size_t)r->n_hidden);
    p += 24;
    r->vnorm = take(&p, 4 * (size_t)r->n_vnorm);
    r->nw_stats = take(&p, 4 * (size_t)r->n_nw_stats);
    r->nw_cat = take(&p, 4 * (size_t)r->n_nw_cat);
    return 0;
}

void base_pack(const BaseResult *r, void *buf)
{
    char *p = buf;
    int32_t h[4] = {r->target, r->mlm, r->C, r->K}; /* K = 0 without candidates: the payload of before */
    memcpy(p, h, 16);
    p += 16;
    if (r->mlm) {
        memcpy(p, r->top_ids, 20);
        memcpy(p + 20, r->top_probs, 20);
        p += 40;
        if (r->K)
            memcpy(p, r->cand_logits, 4 * (size_t)r->K);
        p += 4 * (size_t)r->K;
    } else {
        memcpy(p, r->logits, 4 * (size_t)r->C);
        p += 4 * (size_t)r->C;
    }
    memcpy(p, &r->n_attn, 8);
    p += 8;
    if (r->n_attn)
        memcpy(p, r->attn, 4 * (size_t)r->n_attn);
    p += 4 * (size_t)r->n_attn;
    int32_t na[2] = {r->n_stats, r->n_roll};
    memcpy(p, na, 8);
    p += 8;
    if (r->n_stats)
        memcpy(p, r->stats, 4 * (size_t)r->n_stats);
    p += 4 * (size_t)r->n_stats;
    if (r->n_roll) {
        memcpy(p, r->rollout, 4 * (size_t)r->n_roll);
        memcpy(p + 4 * (size_t)r->n_roll, r->cls_attn, 4 * (size_t)r->n_roll);
    }
    pack_second(r, p + 8 * (size_t)r->n_roll);
}

int base_unpack(const void *buf, size_t n, BaseResult *r)
{
    memset(r, 0, sizeof *r);
    const char *p = buf;
    if (n < 24)
        return -1;
    int32_t h[4];
    memcpy(h, p, 16);
    p += 16;
    r->target = h[0];
    r->mlm = h[1];
    r->C = h[2];
    r->K = h[3];
    if (r->C < 0 || r->K < 0 || (r->K && !r->mlm) || (uint64_t)r->K > n / 4 ||
        (r->mlm ? 40u + 4u * (size_t)r->K : 4u * (size_t)r->C) + 24 > n)
        return -1;
    if (r->mlm) {
        memcpy(r->top_ids, p, 20);
        memcpy(r->top_probs, p + 20, 20);
        p += 40;
        if (r->K) {
            r->cand_logits = malloc(4 * (size_t)r->K);
            memcpy(r->cand_logits, p, 4 * (size_t)r->K);
        }
        p += 4 * (size_t)r->K;
    } else {
        r->logits = malloc(4 * (size_t)(r->C ? r->C : 1));
        memcpy(r->logits, p, 4 * (size_t)r->C);
        p += 4 * (size_t)r->C;
    }
    memcpy(&r->n_attn, p, 8);
    p += 8;
    /* the fixed part (n_stats, n_roll) must fit before the sizes are read */
    size_t head = (size_t)(p - (const char *)buf);
    if (r->n_attn < 0 || (uint64_t)r->n_attn > (n - head) / 4 || head + 4 * (size_t)r->n_attn + 8 > n) {
        base_free(r);
        return -1;
    }
    if (r->n_attn) {
        r->attn = malloc(4 * (size_t)r->n_attn);
        memcpy(r->attn, p, 4 * (size_t)r->n_attn);
    }
    p += 4 * (size_t)r->n_attn;
    int32_t na[2];
    memcpy(na, p, 8);
    p += 8;
    r->n_stats = na[0];
    r->n_roll = na[1];
    size_t at = (size_t)(p - (const char *)buf) + 4 * (size_t)r->n_stats + 8 * (size_t)r->n_roll;
    if (r->n_stats < 0 || r->n_roll < 0 || (uint64_t)r->n_stats > n / 4 || (uint64_t)r->n_roll > n / 8 || at > n ||
        unpack_second(r, (const char *)buf + at, n - at) || base_bytes(r) != n) {
        base_free(r);
        return -1;
    }
    if (r->n_stats) {
        r->stats = malloc(4 * (size_t)r->n_stats);
        memcpy(r->stats, p, 4 * (size_t)r->n_stats);
    }
    p += 4 * (size_t)r->n_stats;
    if (r->n_roll) {
        r->rollout = malloc(4 * (size_t)r->n_roll);
        r->cls_attn = malloc(4 * (size_t)r->n_roll);
        memcpy(r->rollout, p, 4 * (size_t)r->n_roll);
        memcpy(r->cls_attn, p + 4 * (size_t)r->n_roll, 4 * (size_t)r->n_roll);
    }
    return 0;
}

void base_free(BaseResult *r)
{
    free(r->cand_logits);
    r->cand_logits = NULL;
    r->K = 0;
    free(r->logits);
    free(r->attn);
    free(r->stats);
    free(r->rollout);
    free(r->cls_attn);
    free(r->cat_recv);
    free(r->sinks);
    free(r->mass_values);
    free(r->mass_pos);
    free(r->mass_dim);
    free(r->mass_median);
    free(r->hidden);
    free(r->vnorm);
    free(r->nw_stats);
    free(r->nw_cat);
    r->vnorm = r->nw_stats = r->nw_cat = NULL;
    r->n_vnorm = 0;
    r->n_nw_stats = r->n_nw_cat = 0;
    r->logits = NULL;
    r->attn = NULL;
    r->stats = r->rollout = r->cls_attn = NULL;
    r->n_attn = 0;
    r->n_stats = r->n_roll = 0;
    r->cat_recv = r->sinks = r->mass_values = r->mass_median = r->hidden = NULL;
    r->mass_pos = r->mass_dim = NULL;
    r->n_cat = r->n_sink = r->n_massive = 0;
    r->n_hidden = 0;
}
