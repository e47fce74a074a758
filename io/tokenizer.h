/* Tokenizers equal to Hugging Face's. A checkpoint's tokenizer.json (the
 * `tokenizers` pipeline: normalizer, pre-tokenizer, WordPiece or BPE model,
 * added tokens, post-processor) is read whenever present, as transformers' fast
 * tokenizers do; otherwise WordPiece (BertTokenizer/BertTokenizerFast, from
 * vocab.txt) and byte-level BPE (RobertaTokenizerFast, from vocab.json +
 * merges.txt). Options come from tokenizer_config.json (do_lower_case,
 * strip_accents, tokenize_chinese_chars, model_max_length, add_bos_token,
 * add_eos_token, special-token names). Unicode data from utf8proc, regexes by PCRE2. */
#ifndef ATTRUN_TOKENIZER_H
#define ATTRUN_TOKENIZER_H
#include <stddef.h>

typedef struct Tokenizer Tokenizer;
/* The first TOK_NUM_SPECIAL are the encoder families' tokens; TOK_BOS / TOK_EOS
 * (decoder families) follow. An id is -1 when the tokenizer has no such token. */
typedef enum {
    TOK_CLS = 0, TOK_SEP, TOK_PAD, TOK_MASK, TOK_UNK, TOK_NUM_SPECIAL,
    TOK_BOS = TOK_NUM_SPECIAL, TOK_EOS, TOK_NUM_SPECIAL_ALL
} SpecialToken;

typedef struct {
    int n;              /* number of tokens, specials included */
    int *ids;           /* (n) */
    int *type_ids;      /* (n) 0 for the first segment, 1 for the pair */
    int *special;       /* (n) 1 for special tokens added by the tokenizer or written in the text */
    int (*offsets)[2];  /* (n) [start, end) in Unicode code points of the original text
                           (the fast tokenizers' offset mapping; (0,0) for added specials).
                           For the pair segment, offsets index into text_pair. */
    int truncated;      /* 1 when tokens were dropped to fit max_length */
} Encoding;

/* Loads the tokenizer of a checkpoint directory (tokenizer.json, else vocab.txt, else
 * vocab.json + merges.txt).
 * Returns NULL with a message naming the file in err. */
Tokenizer *tokenizer_load(const char *dir, char *err, size_t errlen);
void tokenizer_free(Tokenizer *t);

/* Encodes UTF-8 text (and optional text_pair, may be NULL) as [CLS] text [SEP] (pair [SEP])
 * or <s> text </s> (</s> pair </s>) -- with tokenizer.json, as its post-processor frames it
 * (e.g. <s> text for Llama, nothing added for GPT-2 / Qwen2) -- truncated to max_length tokens
 * (<= 0: the model maximum, none when it has none; longest-first for pairs). Returns 0, or -1
 * when the text is not valid UTF-8. */
int tokenizer_encode(const Tokenizer *t, const char *text, const char *text_pair, int max_length,
                     Encoding *out);
/* The same for texts of known byte length, which may hold NUL characters (pair_len is
 * ignored when text_pair is NULL). */
int tokenizer_encode_n(const Tokenizer *t, const char *text, size_t text_len, const char *text_pair, size_t pair_len,
                       int max_length, Encoding *out);
void encoding_free(Encoding *e);

int tokenizer_vocab_size(const Tokenizer *t);
int tokenizer_model_max_length(const Tokenizer *t);
const char *tokenizer_id_to_token(const Tokenizer *t, int id);   /* NULL when out of range */
int tokenizer_token_to_id(const Tokenizer *t, const char *token); /* -1 when absent */
int tokenizer_special_id(const Tokenizer *t, SpecialToken which);
int tokenizer_is_bpe(const Tokenizer *t);
/* 1 when the tokenizer came from tokenizer.json. */
int tokenizer_from_json(const Tokenizer *t);
/* Number of special tokens the tokenizer adds around one text (pair: 1) -- 2 for BERT/RoBERTa
 * single texts, 1 for Llama's <s>, 0 for GPT-2. */
int tokenizer_num_added(const Tokenizer *t, int pair);
#endif
