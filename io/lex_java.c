/* Java lexer after javalang's tokenizer.py (see lex_java.h for what differs and why).
 * The scanner state is (cp, n, i): the text and the start of the next token; each
 * read_* returns the end j of the token that starts at i, as javalang's self.j. */
#include "io/lex_java.h"
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

const char *const lex_java_names[LEXJ_NUM] = {
    "keyword", "modifier", "basictype", "boolean", "null",   "identifier", "separator", "operator",
    "annotation", "integer", "floatingpoint", "character", "string", "comment", "special", "unknown"};

typedef struct {
    const uint32_t *cp;
    int n;
} Text;

static uint32_t at(const Text *t, int i) { return i >= 0 && i < t->n ? t->cp[i] : 0; }

static int in(uint32_t c, const char *set) { return c && c < 128 && strchr(set, (int)c); }

/* Python's str.isspace (javalang: c.isspace() and the regex \s). */
static int is_space(uint32_t c)
{
    return (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
           c == 0x3000;
}

static int is_line_end(uint32_t c) { return c == '\n' || c == '\r'; }

/* javalang's IDENT_START_CATEGORIES / IDENT_PART_CATEGORIES (Unicode general categories). */
static int ident_start(uint32_t c)
{
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_SC:
        return 1;
    default:
        return 0;
    }
}

static int ident_part(uint32_t c)
{
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return ident_start(c) || k == UTF8PROC_CATEGORY_MC || k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ND;
}

/* Python's str.isdigit for the '.5' test: decimal digits (Nd) and the other digits (No
 * with a digit value, e.g. superscripts); Nd covers every case a Java text has. */
static int py_isdigit(uint32_t c) { return c && utf8proc_category((utf8proc_int32_t)c) == UTF8PROC_CATEGORY_ND; }

static const char *const KEYWORDS[] = {
    "abstract", "assert", "boolean", "break", "byte", "case", "catch", "char", "class", "const",
    "continue", "default", "do", "double", "else", "enum", "extends", "final", "finally", "float",
    "for", "goto", "if", "implements", "import", "instanceof", "int", "interface", "long", "native",
    "new", "package", "private", "protected", "public", "return", "short", "static", "strictfp", "super",
    "switch", "synchronized", "this", "throw", "throws", "transient", "try", "void", "volatile", "while", NULL};
static const char *const MODIFIERS[] = {"abstract", "default", "final", "native", "private", "protected",
                                        "public", "static", "strictfp", "synchronized", "transient",
                                        "volatile", NULL};
static const char *const BASICTYPES[] = {"boolean", "byte", "char", "double", "float", "int", "long", "short",
                                         NULL};
/* Operator.VALUES ('>>' and '>>>' left out on purpose, as javalang: they lex as '>' '>'). */
static const char *const OPERATORS[] = {
    ">>>=", ">>=", "<<=", "%=", "^=", "|=", "&=", "/=", "*=", "-=", "+=", "<<", "--", "++", "||", "&&", "!=",
    ">=", "<=", "==", "%", "^", "|", "&", "/", "*", "-", "+", ":", "?", "~", "!", "<", ">", "=", "...", "->",
    "::", NULL};

/* Is the code point run [i, j) equal to the ASCII word w? */
static int run_is(const Text *t, int i, int j, const char *w)
{
    int k = 0;
    for (; i + k < j; k++)
        if (!w[k] || t->cp[i + k] != (unsigned char)w[k])
            return 0;
    return w[k] == 0;
}

static int run_in(const Text *t, int i, int j, const char *const *set)
{
    for (; *set; set++)
        if (run_is(t, i, j, *set))
            return 1;
    return 0;
}

/* Longest operator at i (javalang try_operator: lengths 4..1); the end, or i when none. */
static int read_operator(const Text *t, int i)
{
    for (int l = 4; l >= 1; l--)
        if (i + l <= t->n && run_in(t, i, i + l, OPERATORS))
            return i + l;
    return i;
}

static int word_category(const Text *t, int i, int j)
{
    if (run_in(t, i, j, KEYWORDS))
        return run_in(t, i, j, BASICTYPES) ? LEXJ_BASICTYPE : run_in(t, i, j, MODIFIERS) ? LEXJ_MODIFIER
                                                                                           : LEXJ_KEYWORD;
    if (run_is(t, i, j, "true") || run_is(t, i, j, "false"))
        return LEXJ_BOOLEAN;
    return run_is(t, i, j, "null") ? LEXJ_NULL : LEXJ_IDENTIFIER;
}

/* javalang read_digits from j: digits with '_' between them (an '_' run counts only when a
 * digit follows), then one 'l'/'L' when the last character looked at is one. */
static int read_digits(const Text *t, int j, const char *digits)
{
    int tmp = 0;
    uint32_t c = 0;
    while (j + tmp < t->n) {
        c = t->cp[j + tmp];
        if (in(c, digits))
            j += 1 + tmp, tmp = 0;
        else if (c == '_')
            tmp++;
        else
            break;
    }
    return in(c, "lL") ? j + 1 : j;
}

#define DEC "0123456789"
#define HEX "0123456789abcdefABCDEF"

/* javalang read_decimal_float_or_integer from i (a digit, or '.' before a digit). */
static int read_decimal(const Text *t, int i, int *cat)
{
    int j = read_digits(t, i, DEC);
    *cat = LEXJ_INTEGER;
    if (j >= t->n || !in(t->cp[j], ".eEfFdD"))
        return j;
    *cat = LEXJ_FLOATINGPOINT;
    if (t->cp[j] == '.')
        j = read_digits(t, j + 1, DEC);
    if (in(at(t, j), "eE")) {
        j++;
        if (in(at(t, j), "-+"))
            j++;
        j = read_digits(t, j, DEC);
    }
    return in(at(t, j), "fFdD") ? j + 1 : j;
}

/* javalang read_hex_integer_or_float from i ("0x..."); a missing 'p' is javalang's error,
 * ignored here as with ignore_errors. */
static int read_hex(const Text *t, int i, int *cat)
{
    int j = read_digits(t, i + 2, HEX);
    *cat = LEXJ_INTEGER;
    if (j >= t->n || !in(t->cp[j], ".pP"))
        return j;
    *cat = LEXJ_FLOATINGPOINT;
    if (t->cp[j] == '.')
        j = read_digits(t, j + 1, HEX);
    if (in(at(t, j), "pP"))
        j++;
    if (in(at(t, j), "-+"))
        j++;
    j = read_digits(t, j, DEC);
    return in(at(t, j), "fFdD") ? j + 1 : j;
}

static int read_number(const Text *t, int i, int *cat)
{
    uint32_t c = t->cp[i], cn = at(t, i + 1);
    if (c == '0' && in(cn, "xX"))
        return read_hex(t, i, cat);
    *cat = LEXJ_INTEGER;
    if (c == '0' && in(cn, "bB"))
        return read_digits(t, i + 2, "01");
    if (c == '0' && in(cn, "01234567"))
        return read_digits(t, i + 1, "01234567");
    return read_decimal(t, i, cat);
}

/* javalang read_string's state machine from the quote at i; the end after the closing
 * quote, or -1 when the text ends first. An illegal escape keeps the escape state, as
 * javalang does with ignore_errors. */
static int read_string(const Text *t, int i)
{
    uint32_t delim = t->cp[i];
    int state = 0;
    for (int j = i + 1; j < t->n; j++) {
        uint32_t c = t->cp[j];
        if (state == 0) {
            if (c == '\\')
                state = 1;
            else if (c == delim)
                return j + 1;
        } else if (state == 1) {
            if (in(c, "btnfru\"'\\"))
                state = 0;
            else if (in(c, "0123"))
                state = 2;
            else if (in(c, "01234567"))
                state = 3;
        } else if (state == 2) {
            if (in(c, "01234567"))
                state = 3;
            else if (c == '\\')
                state = 1;
            else if (c == delim)
                return j + 1;
        } else {
            state = 0;
            if (c == '\\')
                state = 1;
            else if (c == delim)
                return j + 1;
        }
    }
    return -1;
}

/* Is the whitespace-delimited word [a, b) a lone Java separator or operator? */
static int code_word(const Text *t, int a, int b)
{
    return (b == a + 1 && in(t->cp[a], "(){}[];,.")) || run_in(t, a, b, OPERATORS);
}

/* End of the `//` comment at i. With a line terminator anywhere in the text, javalang's
 * rule: the comment runs to the next CR or LF (Java's line terminators; javalang only
 * knows LF). In a one-line text (CodeXGLUE joins a function's tokens with spaces, so the
 * newline after a comment is lost) the comment ends before the code that follows it:
 * before the first whitespace-delimited word that is a lone separator or operator
 * (CodeXGLUE spaces code punctuation, prose keeps it attached: "text.", "(or"), moved
 * back over the words right before it that are Java reserved words or literals
 * ("... ranges if ( x" ends after "ranges"). Identifiers before that word cannot be told
 * from prose and stay in the comment. Without such a word the comment runs to the end. */
static int comment_end(const Text *t, int i, int one_line)
{
    int e = i + 2;
    while (e < t->n && !is_line_end(t->cp[e]))
        e++;
    if (!one_line)
        return e;
    int ws[64], we[64], nw = 0; /* the last 64 words: enough to back off over reserved words */
    for (int a = i + 2; a < e;) {
        while (a < e && is_space(t->cp[a]))
            a++;
        if (a >= e)
            break;
        int b = a;
        while (b < e && !is_space(t->cp[b]))
            b++;
        if (code_word(t, a, b)) {
            int k = nw;
            while (k > 0 && word_category(t, ws[(k - 1) % 64], we[(k - 1) % 64]) != LEXJ_IDENTIFIER && k > nw - 63)
                k--;
            return k > 0 ? we[(k - 1) % 64] : i + 2;
        }
        ws[nw % 64] = a, we[nw % 64] = b, nw++;
        a = b;
    }
    while (e > i + 2 && is_space(t->cp[e - 1]))
        e--;
    return e;
}

/* One token at i (not whitespace): its end and category (javalang's tokenize branches, in
 * its order). */
static int next_token(const Text *t, int i, int one_line, int *cat)
{
    uint32_t c = t->cp[i], cn = at(t, i + 1);
    int j;
    if (c == '/' && (cn == '/' || cn == '*')) {
        *cat = LEXJ_COMMENT;
        if (cn == '/')
            return comment_end(t, i, one_line);
        for (j = i + 2; j + 1 < t->n; j++)
            if (t->cp[j] == '*' && t->cp[j + 1] == '/')
                return j + 2;
        return t->n; /* unterminated: to the end, as javalang */
    }
    if (c == '.' && cn == '.' && (j = read_operator(t, i)) > i)
        return *cat = LEXJ_OPERATOR, j;
    if (c == '@')
        return *cat = LEXJ_ANNOTATION, i + 1;
    if (c == '.' && py_isdigit(cn))
        return read_decimal(t, i, cat);
    if (in(c, "(){}[];,."))
        return *cat = LEXJ_SEPARATOR, i + 1;
    if (c == '\'' || c == '"') {
        j = read_string(t, i);
        if (j < 0)
            return *cat = LEXJ_UNKNOWN, i + 1;
        return *cat = c == '"' ? LEXJ_STRING : LEXJ_CHARACTER, j;
    }
    if (in(c, DEC))
        return read_number(t, i, cat);
    if (ident_start(c)) {
        for (j = i + 1; j < t->n && ident_part(t->cp[j]); j++)
            ;
        return *cat = word_category(t, i, j), j;
    }
    if ((j = read_operator(t, i)) > i)
        return *cat = LEXJ_OPERATOR, j;
    return *cat = LEXJ_UNKNOWN, i + 1;
}

int lex_java(const uint32_t *cp, int n, LexSpan **out, int *nout)
{
    Text t = {cp, n};
    int one_line = 1, cap = 16, k = 0;
    for (int i = 0; i < n && one_line; i++)
        one_line = !is_line_end(cp[i]);
    LexSpan *v = malloc(sizeof *v * cap);
    if (!v)
        return -1;
    for (int i = 0; i < n;) {
        if (is_space(cp[i])) {
            i++;
            continue;
        }
        int cat, j = next_token(&t, i, one_line, &cat);
        if (k == cap) {
            LexSpan *w = realloc(v, sizeof *v * (cap *= 2));
            if (!w)
                return free(v), -1;
            v = w;
        }
        v[k++] = (LexSpan){i, j, cat};
        i = j;
    }
    *out = v;
    *nout = k;
    return 0;
}

int lex_java_utf8(const char *text, LexSpan **out, int *nout)
{
    size_t len = strlen(text);
    uint32_t *cp = malloc(sizeof *cp * (len + 1));
    if (!cp)
        return -1;
    int n = 0;
    for (size_t p = 0; p < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t r = utf8proc_iterate((const utf8proc_uint8_t *)text + p, (utf8proc_ssize_t)(len - p), &c);
        if (r <= 0)
            return free(cp), -1;
        cp[n++] = (uint32_t)c;
        p += (size_t)r;
    }
    int rc = lex_java(cp, n, out, nout);
    free(cp);
    return rc;
}
