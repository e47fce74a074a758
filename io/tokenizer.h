/* Tokenizers equal to Hugging Face's: WordPiece (BertTokenizer/BertTokenizerFast,
 * from vocab.txt) and byte-level BPE (RobertaTokenizerFast, from vocab.json +
 * merges.txt). Options come from tokenizer_config.json (do_lower_case,
 * strip_accents, tokenize_chinese_chars, model_max_length). Unicode data from utf8proc. */
#ifndef ATTRUN_TOKENIZER_H
#define ATTRUN_TOKENIZER_H
#include <stddef.h>

typedef struct Tokenizer Tokenizer;
typedef enum { TOK_CLS = 0, TOK_SEP, TOK_PAD, TOK_MASK, TOK_UNK, TOK_NUM_SPECIAL } SpecialToken;

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

/* Loads the tokenizer of a checkpoint directory (vocab.txt, or vocab.json + merges.txt).
 * Returns NULL with a message naming the file in err. */
Tokenizer *tokenizer_load(const char *dir, char *err, size_t errlen);
void tokenizer_free(Tokenizer *t);

/* Encodes UTF-8 text (and optional text_pair, may be NULL) as [CLS] text [SEP] (pair [SEP])
 * or <s> text </s> (</s> pair </s>), truncated to max_length tokens (<= 0: the model maximum,
 * longest-first for pairs). Returns 0, or -1 when the text is not valid UTF-8. */
int tokenizer_encode(const Tokenizer *t, const char *text, const char *text_pair, int max_length,
                     Encoding *out);
void encoding_free(Encoding *e);

int tokenizer_vocab_size(const Tokenizer *t);
int tokenizer_model_max_length(const Tokenizer *t);
const char *tokenizer_id_to_token(const Tokenizer *t, int id);   /* NULL when out of range */
int tokenizer_token_to_id(const Tokenizer *t, const char *token); /* -1 when absent */
int tokenizer_special_id(const Tokenizer *t, SpecialToken which);
int tokenizer_is_bpe(const Tokenizer *t);
#endif
