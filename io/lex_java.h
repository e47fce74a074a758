/* A Java lexer with javalang's token classes (c2nes/javalang, javalang/tokenizer.py), for
 * token categories of the attention analysis (docs/analysis.md §6). It never fails on
 * text: what javalang would reject becomes LEXJ_UNKNOWN tokens and lexing goes on.
 *
 * Spans are [start, end) in Unicode code points of the text, the unit of the tokenizer's
 * offsets (io/tokenizer.h), so sub-tokens and lexer tokens can be matched by span.
 *
 * Rules as javalang's JavaTokenizer.tokenize (with ignore_errors), except (each is
 * documented in docs/analysis.md §6.1):
 *   - comments are tokens (LEXJ_COMMENT; javalang drops them);
 *   - a `//` comment in a text without any line terminator (CodeXGLUE's one-line
 *     functions) ends at the code boundary rule of lex_java_comment_end;
 *   - '...' literals are LEXJ_CHARACTER (javalang labels both quote kinds String);
 *   - an unterminated string or character literal: its opening quote is LEXJ_UNKNOWN
 *     and lexing resumes after it (javalang swallows the rest of the text);
 *   - a character that starts no token is one LEXJ_UNKNOWN token (javalang: an error);
 *   - \uXXXX escapes are not translated before lexing (that would shift the spans): a
 *     backslash outside a literal is LEXJ_UNKNOWN. */
#ifndef ATTRUN_LEX_JAVA_H
#define ATTRUN_LEX_JAVA_H
#include <stdint.h>

/* Category index; the order is the order of /tokens/category's `names` attribute. */
typedef enum {
    LEXJ_KEYWORD = 0, /* reserved words that are neither modifiers nor basic types */
    LEXJ_MODIFIER,    /* abstract default final native private protected public static strictfp
                         synchronized transient volatile */
    LEXJ_BASICTYPE,   /* boolean byte char double float int long short */
    LEXJ_BOOLEAN,     /* true false */
    LEXJ_NULL,        /* null */
    LEXJ_IDENTIFIER,
    LEXJ_SEPARATOR,   /* ( ) { } [ ] ; , . */
    LEXJ_OPERATOR,
    LEXJ_ANNOTATION,  /* the '@' alone (javalang: the name after it is an Identifier) */
    LEXJ_INTEGER,     /* decimal, octal, binary, hex integers */
    LEXJ_FLOATINGPOINT,
    LEXJ_CHARACTER,
    LEXJ_STRING,
    LEXJ_COMMENT,
    LEXJ_SPECIAL,     /* never produced by the lexer: the tokenizer's special tokens */
    LEXJ_UNKNOWN,
    LEXJ_NUM
} LexJavaCategory;

/* "keyword", "modifier", ..., "special", "unknown" (LEXJ_NUM names, lower case). */
extern const char *const lex_java_names[LEXJ_NUM];

typedef struct {
    int start, end; /* [start, end) code points */
    int cat;        /* LexJavaCategory */
} LexSpan;

/* Lexes the n code points cp. *out (malloc'd, free with free()) receives the tokens in
 * text order, *nout their count. Returns 0, or -1 when out of memory. */
int lex_java(const uint32_t *cp, int n, LexSpan **out, int *nout);

/* Decodes UTF-8 text and lexes it. Returns 0, or -1 on invalid UTF-8 or out of memory. */
int lex_java_utf8(const char *text, LexSpan **out, int *nout);
#endif
