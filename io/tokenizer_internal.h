/* Internals shared by the tokenizer files: the Tokenizer struct, a string->id
 * hash map, the token lists the models append to, and the per-model entry points.
 *   tokenizer.c          loading, encode (special split, truncation, [CLS]/<s> framing), accessors
 *   tokenizer_special.c  special tokens: names, matching them where written in the text
 *   wordpiece.c          BERT normalizer + pre-tokenizer + greedy WordPiece
 *   bpe.c                GPT-2 byte-level pre-tokenizer + BPE merges with a word cache
 *   tokjson*.c, normalize.c, pretok.c   tokenizer.json pipelines (io/tokjson.h)
 * Text inside the tokenizer is an array of Unicode code points; every produced
 * token carries [start, end) in code points of the original text. */
#ifndef ATTRUN_TOKENIZER_INTERNAL_H
#define ATTRUN_TOKENIZER_INTERNAL_H
#include "io/tokenizer.h"
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Open-addressing map from byte strings to ints; keys live in one pool. */
typedef struct {
    uint32_t *slot;      /* (cap) index+1 into key arrays, 0 = empty */
    uint32_t cap;        /* power of two */
    uint32_t n;
    uint32_t *koff, *klen; /* (n) key bytes in pool */
    int *val;            /* (n) */
    char *pool;
    size_t pool_len, pool_cap;
    uint32_t ncap;       /* capacity of koff/klen/val */
} StrMap;

void strmap_init(StrMap *m, uint32_t expect);
void strmap_free(StrMap *m);
uint64_t strmap_hash(const char *s, size_t len);
/* Value, or -1 when absent. */
int strmap_get(const StrMap *m, const char *s, size_t len);
int strmap_get_h(const StrMap *m, const char *s, size_t len, uint64_t h);
/* Inserts; returns the previous value when the key was already present (and keeps it), else -1. */
int strmap_put(StrMap *m, const char *s, size_t len, int val);

/* A token recognised where written in the text, as HF's AddedVocabulary matches it: the
 * legacy tokenizers' specials (tokenizer_special.c) and tokenizer.json's added_tokens. */
typedef struct {
    char *content;       /* UTF-8 (the legacy specials; NULL for tokenizer.json's) */
    uint32_t *cp;        /* content as code points (normalized, when normalized is set) */
    int ncp, id;
    int special;         /* added as a special token (special flag of the encoding) */
    int lstrip, rstrip;  /* swallow whitespace on that side (HF AddedToken) */
    int single_word;     /* only where no word character borders it */
    int normalized;      /* matched on the normalized text, not the raw one */
} AddedTok;

/* added_match.c: the matches of the tokens toks[0..ntok) with normalized == want_norm in
 * c[0..n), leftmost-longest, as (start, end, index into toks) triples; returns their count
 * (malloc'ed *out, NULL when none). first: bit (ch & 63) is set when some such token starts
 * with a character ch of that class (a prefilter; ~0 tries every position). */
int added_find(const AddedTok *toks, int ntok, uint64_t first, int want_norm, const uint32_t *c, int n,
               int (**out)[3]);

/* Tokens of one segment, before framing: ids and [start, end) in code points. */
typedef struct {
    int n, cap;
    int *ids;
    int (*off)[2];
    int *special;
} TokList;
void toklist_push(TokList *l, int id, int s, int e, int special);
void toklist_free(TokList *l);

/* BPE merge table: (left id, right id) -> (rank, merged id). */
typedef struct {
    uint64_t *key;       /* (cap) left<<32 | right, UINT64_MAX empty */
    uint32_t *rank;
    int *merged;
    uint32_t cap, n;
} MergeMap;

typedef struct {
    StrMap map;          /* word bytes -> index into tok pool */
    int *pool;           /* per entry: count, then (id, byte length) pairs */
    size_t pool_len, pool_cap;
    pthread_mutex_t lock;
} BpeCache;

struct TjPipeline;
struct Tokenizer {
    int bpe;                 /* 0: WordPiece, 1: BPE (byte-level, or SentencePiece-style from tokenizer.json) */
    struct TjPipeline *tj;   /* the tokenizer.json pipeline; NULL for vocab.txt / vocab.json + merges.txt */
    char dir[1024];
    int vocab_size;          /* max id + 1 */
    char **id_to_tok;        /* (vocab_size) NULL for holes */
    StrMap vocab;            /* token -> id */
    int special_id[TOK_NUM_SPECIAL_ALL];
    AddedTok *specials;      /* recognised in the text */
    int n_specials;
    int model_max_length;
    /* WordPiece */
    StrMap cont;             /* "##xyz" stored as "xyz" -> id */
    int do_lower_case, strip_accents, chinese_chars;
    int max_input_chars_per_word;
    int max_tok_bytes;       /* longest vocab entry (after "##"), bounds the greedy search */
    /* BPE */
    MergeMap merges;
    int byte_id[256];        /* vocab id of each byte's printable stand-in */
    char byte_str[256][3];   /* UTF-8 of the stand-in (1 or 2 bytes + NUL) */
    unsigned char *lead_sp, *trail_sp; /* (vocab_size) leading/trailing 'Ġ' count, for trim_offsets */
    BpeCache *cache;
};

/* tokenizer_special.c */
int special_setup(Tokenizer *t, const void *config_json, const char *cfg_path, char *err, size_t errlen);
void special_free(Tokenizer *t);

/* wordpiece.c / bpe.c: encode cp[a..b) (no special tokens in it), appending to out. */
int wordpiece_load(Tokenizer *t, const char *path, char *err, size_t errlen);
void wordpiece_encode_span(const Tokenizer *t, const uint32_t *cp, int a, int b, TokList *out);
int bpe_load(Tokenizer *t, const char *vocab_path, const char *merges_path, char *err, size_t errlen);
void bpe_encode_span(const Tokenizer *t, const uint32_t *cp, int a, int b, TokList *out);
void bpe_free(Tokenizer *t);
/* bpe.c pieces the tokenizer.json pipeline shares: the merge table, the merge loop
 * over any initial symbols, and GPT-2's pre-tokenizer pattern matcher. */
void bpe_merges_put(MergeMap *m, uint64_t key, uint32_t rank, int merged);
int bpe_merges_get(const MergeMap *m, int a, int b, uint32_t *rank);
int bpe_merge_syms(const MergeMap *m, int *ids, int *lens, int n);
void bpe_classes(const uint32_t *cp, int n, unsigned char *cls);
int bpe_pretok_match(const uint32_t *cp, const unsigned char *cls, int i, int e);

/* Unicode helpers (tokenizer.c), classes as Rust's char methods define them. */
int uc_is_whitespace(uint32_t c);  /* White_Space property */
/* Classes of the tokenizers crate's BertNormalizer / BertPreTokenizer and the other
 * normalizers (normalize.c), shared by the legacy WordPiece path. */
int uc_is_alnum(uint32_t c);       /* letters, marks, numbers (Rust's is_alphanumeric, approximately) */
int uc_is_punct(uint32_t c);       /* ASCII symbols, or Unicode P* */
int uc_is_control(uint32_t c);     /* Rust's is_other: Cc Cf Cn Co Cs */
int uc_is_chinese(uint32_t c);     /* the CJK ideograph blocks BERT pads with spaces */
/* Rust's char::to_lowercase over c[0..n) in place, but for U+0130 (left as is: its full mapping
 * is two characters, "i" + U+0307, which the caller inserts); returns whether one was seen. */
int uc_lower_simple(uint32_t *c, int n);
/* UTF-8 -> code points; returns count or -1 when invalid. *cp malloc'ed (n+1). */
int utf8_to_cps(const char *s, size_t len, uint32_t **cp);
int utf8_put(uint32_t c, char *out); /* bytes written (1..4) */
/* Truncation as the tokenizers crate does it, legacy tokenizers and tokenizer.json alike: k1 (and,
 * with has_pair, k2) tokens cut to max_length (<= 0: t's model_max_length; no limit when that is
 * 0 too) less the `added` special tokens, a pair longest-first. Returns 1 when it cut. */
int tok_truncate(const Tokenizer *t, int max_length, int added, int has_pair, int *k1, int *k2);

/* The Encoding's arrays for up to n tokens; appending one token, or the first k of a TokList
 * as segment `type` (tokenizer.c, for both encoders). */
void encoding_alloc(Encoding *e, int n);
void encoding_put(Encoding *e, int id, int type, int special, int s, int en);
void encoding_put_list(Encoding *e, const TokList *l, int k, int type);
#endif
