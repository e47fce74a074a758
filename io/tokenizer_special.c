/* Names of the special tokens, shared by the WordPiece and BPE tokenizers. */
#include "io/tokenizer.h"
