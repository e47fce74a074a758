/* Hugging Face tokenizer.json pipelines (the `tokenizers` crate's serialized
 * Tokenizer), run as that crate runs them:
 *   added tokens (non-normalized) split out of the raw text
 *   -> normalizer on each remaining piece -> normalized added tokens split out
 *   -> pre-tokenizer -> model (BPE / WordPiece) -> post-processor (framing).
 * Files:
 *   tokjson.h          these types
 *   tokjson_load.c     tokenizer.json -> pipeline, errors naming the JSON path
 *   normalize.c        NStr (aligned text) and the normalizers
 *   pretok.c           pre-tokenizers and the PCRE2 regex wrapper
 *   tokjson_model.c    BPE and WordPiece over one pre-token
 *   tokjson_encode.c   added tokens, the per-segment pipeline, post-processing
 * Text is code points; every character carries the [start, end) range of the
 * original code points it came from (HF's alignments, in characters). */
#ifndef ATTRUN_TOKJSON_H
#define ATTRUN_TOKJSON_H
#include "io/tokenizer_internal.h"
#include <stdint.h>

/* ---- aligned text ---- */
typedef struct {
    uint32_t *c;
    int (*al)[2]; /* original [start, end) of each character */
    int n, cap;
} NStr;
void ns_push(NStr *s, uint32_t c, int a, int b);
void ns_free(NStr *s);
void ns_from_cps(NStr *s, const uint32_t *cp, int a, int b); /* identity alignment */

/* A list of pieces (pre-tokens). */
typedef struct {
    NStr *v;
    int n, cap;
} NList;
NStr *nl_add(NList *l); /* a new empty piece at the end */
void nl_free(NList *l);

/* ---- regex (PCRE2, UTF + UCP, Oniguruma classes translated) ---- */
typedef struct TjRegex TjRegex;
/* Compiles an Oniguruma / fancy-regex pattern; literal: the pattern is a plain string. */
TjRegex *tjre_compile(const char *pattern, int literal, char *err, size_t errlen);
void tjre_free(TjRegex *re);
/* Finds the non-overlapping matches in c[0..n): fills (start, end) pairs in characters,
 * returns their count (malloc'ed *out). */
int tjre_find(const TjRegex *re, const uint32_t *c, int n, int (**out)[2]);

/* ---- normalizers ---- */
enum { NM_BERT, NM_NFC, NM_NFD, NM_NFKC, NM_NFKD, NM_LOWER, NM_STRIP_ACCENTS, NM_STRIP, NM_PREPEND, NM_REPLACE,
       NM_SEQ };
typedef struct Normalizer {
    int kind;
    int clean_text, chinese, strip_accents, lowercase; /* BertNormalizer (strip_accents -1: as lowercase) */
    int left, right;                                   /* Strip */
    uint32_t *str;                                     /* Prepend / Replace content */
    int nstr;
    TjRegex *pat; /* Replace */
    struct Normalizer *sub;
    int nsub;
} Normalizer;
void normalizer_apply(const Normalizer *nm, NStr *s);
void normalizer_free(Normalizer *nm);

/* ---- pre-tokenizers ---- */
enum { PT_BERT, PT_BYTELEVEL, PT_SPLIT, PT_METASPACE, PT_DIGITS, PT_PUNCT, PT_WHITESPACE, PT_WSSPLIT, PT_SEQ };
enum { SB_REMOVED, SB_ISOLATED, SB_PREVIOUS, SB_NEXT, SB_CONTIGUOUS }; /* SplitDelimiterBehavior */
enum { PS_ALWAYS, PS_NEVER, PS_FIRST };                               /* Metaspace prepend_scheme */
typedef struct PreTok {
    int kind;
    int add_prefix_space, use_regex;      /* ByteLevel */
    TjRegex *re;                          /* Split */
    int behavior, invert;                 /* Split, Punctuation */
    uint32_t repl;                        /* Metaspace replacement */
    int prepend_scheme, split;            /* Metaspace */
    int individual;                       /* Digits */
    struct PreTok *sub;
    int nsub;
} PreTok;
/* Splits every piece of l in place (pieces may become several, or vanish). */
void pretok_apply(const PreTok *p, NList *l);
void pretok_free(PreTok *p);
/* A ByteLevel (use_regex) pre-tokenizer over one piece, each pre-token handed to fn. */
void pretok_bytelevel_each(const PreTok *p, const NStr *in, void (*fn)(const NStr *piece, void *ctx), void *ctx);
/* GPT-2's bytes_to_unicode stand-in of byte b. */
uint32_t bytelevel_char(int b);

/* ---- added tokens (AddedTok: io/tokenizer_internal.h) ---- */

/* ---- post-processor ---- */
typedef struct {
    int seq;     /* 0: special token, 1: sequence A, 2: sequence B */
    int *ids;    /* special's ids */
    int nids, type_id;
} TplPiece;
enum { PP_NONE, PP_TEMPLATE, PP_BERT, PP_ROBERTA, PP_BYTELEVEL };

typedef struct TjPipeline {
    char path[1100]; /* tokenizer.json, for messages */
    Normalizer *norm; /* NULL: none */
    PreTok *pre;      /* NULL: none */
    /* model */
    int wordpiece;    /* 0: BPE, 1: WordPiece */
    int unk_id;       /* -1: none */
    int byte_fallback, fuse_unk, ignore_merges;
    char *cont_prefix, *eow_suffix; /* BPE continuing_subword_prefix / end_of_word_suffix, NULL: none */
    int byte_fb_id[256];            /* <0xNN> ids, -1 when absent */
    int max_input_chars;            /* WordPiece */
    char *wp_prefix;                /* WordPiece continuing_subword_prefix */
    int max_tok_bytes;              /* longest vocab entry, bounds the greedy search */
    /* added tokens */
    AddedTok *added;
    int nadded;
    int any_normalized_added;
    uint64_t added_first[2];        /* bit (first character & 63) of the [non-normalized, normalized] ones */
    /* post-processor */
    int pp_kind;
    TplPiece *single, *pair;
    int nsingle, npair;
    int trim_offsets, trim_add_prefix_space; /* ByteLevel / Roberta offset trimming */
    int cls_id, sep_id;                      /* Bert / Roberta */
    int truncation_max;                      /* tokenizer.json "truncation.max_length" (validated; HF's
                                                encode ignores it unless truncation is asked for) */
} TjPipeline;

/* tokjson_load.c: fills t (vocab, merges, id_to_tok, t->tj) from a tokenizer.json. */
int tokjson_load(Tokenizer *t, const char *path, char *err, size_t errlen);
void tokjson_free(TjPipeline *p);
/* tokjson_model.c: tokens of one pre-token s, appended to out with original offsets.
 * *scratch: buffers reused across calls (NULL at first; tjscratch_free at the end). */
typedef struct TjScratch TjScratch;
void tjmodel_encode(const Tokenizer *t, const NStr *s, TokList *out, TjScratch **scratch);
void tjscratch_free(TjScratch *w);
/* tokjson_encode.c: the whole encode for tokenizer.json pipelines (tokenizer_encode's contract). */
int tokjson_encode(const Tokenizer *t, const uint32_t *cp1, int n1, const uint32_t *cp2, int n2, int has_pair,
                   int max_length, Encoding *out);
/* Applies add_bos_token / add_eos_token of tokenizer_config.json as transformers'
 * update_post_processor does (TemplateProcessing rewritten). */
/* tokenizer_config.json over a loaded pipeline: model_max_length, the BertNormalizer
 * options, special-token ids, add_bos_token / add_eos_token. config_json: a json_t or NULL. */
int tokjson_config(Tokenizer *t, void *config_json, const char *cfgp, char *err, size_t errlen);
/* lead_sp / trail_sp of every token (after the vocabulary is complete). */
void tokjson_space_tables(Tokenizer *t);
int tokjson_set_bos_eos(Tokenizer *t, int add_bos, int add_eos, char *err, size_t errlen);

/* Unicode classes of the pre-tokenizers (normalize.c; the others: io/tokenizer_internal.h). */
int uc_is_numeric(uint32_t c);  /* Nd Nl No */
#endif
