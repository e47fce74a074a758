/* io/lex_java.c (javalang's token classes) and io/categories.c (sub-token categories by
 * character span).
 *
 * Expected token lists are written out by hand from javalang's rules (tokenizer.py) and
 * the deviations of docs/analysis.md §6.1. The last test lexes every text of
 * data/codexglue-cloze.jsonl and has tests/tools/javalex.py, an independent Python
 * re-implementation of those rules, compare every token (skipped, exit 77, without python3). */
#include "io/categories.h"
#include "io/lex_java.h"
#include "tests/testutil.h"
#include <CUnit/Basic.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* "cat:text cat:text ..." of the tokens of s (text re-encoded from the code point span). */
static char *render(const char *s)
{
    static char buf[8192];
    utf8proc_int32_t cp[1024];
    int n = 0;
    for (size_t p = 0, len = strlen(s); p < len && n < 1024;)
        p += (size_t)utf8proc_iterate((const utf8proc_uint8_t *)s + p, (utf8proc_ssize_t)(len - p), &cp[n++]);
    LexSpan *t;
    int nt;
    if (lex_java_utf8(s, &t, &nt))
        return strcpy(buf, "<error>");
    size_t w = 0;
    for (int k = 0; k < nt; k++) {
        w += (size_t)snprintf(buf + w, sizeof buf - w, "%s%s:", k ? " " : "", lex_java_names[t[k].cat]);
        for (int c = t[k].start; c < t[k].end; c++)
            w += (size_t)utf8proc_encode_char(cp[c], (utf8proc_uint8_t *)buf + w);
    }
    buf[w] = 0;
    free(t);
    return buf;
}

static void expect(const char *src, const char *want)
{
    const char *got = render(src);
    if (strcmp(got, want))
        printf("\n   lex(%s)\n   got  %s\n   want %s", src, got, want);
    CU_ASSERT_STRING_EQUAL(got, want);
}

static void test_names(void)
{
    const char *want = "keyword modifier basictype boolean null identifier separator operator annotation "
                       "integer floatingpoint character string comment special unknown";
    char buf[256] = "";
    for (int k = 0; k < LEXJ_NUM; k++)
        strcat(strcat(buf, k ? " " : ""), lex_java_names[k]);
    CU_ASSERT_STRING_EQUAL(buf, want);
}

static void test_words(void)
{
    expect("public static int f ( int [ ] a ) { return a . length ; }",
           "modifier:public modifier:static basictype:int identifier:f separator:( basictype:int separator:[ "
           "separator:] identifier:a separator:) separator:{ keyword:return identifier:a separator:. "
           "identifier:length separator:; separator:}");
    expect("final boolean b = true || false ; Object o = null ; goto const var",
           "modifier:final basictype:boolean identifier:b operator:= boolean:true operator:|| boolean:false "
           "separator:; identifier:Object identifier:o operator:= null:null separator:; keyword:goto "
           "keyword:const identifier:var");
    expect("$x _y a1 x.y", "identifier:$x identifier:_y identifier:a1 identifier:x separator:. identifier:y");
    expect("@ Override @Nullable", "annotation:@ identifier:Override annotation:@ identifier:Nullable");
}

static void test_literals(void)
{
    /* javalang: 0x.. hex, 0[0-7].. octal, 0b.. binary, 'l' suffix, '_' between digits;
     * '.5', exponent, f/d suffix and hex 'p' exponent make floating point */
    expect("0x1F 017 0b101 12L 1_000 09 0", "integer:0x1F integer:017 integer:0b101 integer:12L integer:1_000 "
                                           "integer:09 integer:0");
    expect("3.5f .5 1e-3 2. 1D 0x1.8p1 1.5e+2d", "floatingpoint:3.5f floatingpoint:.5 floatingpoint:1e-3 "
                                                 "floatingpoint:2. floatingpoint:1D floatingpoint:0x1.8p1 "
                                                 "floatingpoint:1.5e+2d");
    expect("'a' '\\n' '\\'' \"s\\\"t\" \"\\0\" \"\"", "character:'a' character:'\\n' character:'\\'' "
                                                     "string:\"s\\\"t\" string:\"\\0\" string:\"\"");
}

static void test_operators(void)
{
    /* '>>' and '>>>' are not operators in javalang: they lex as '>' tokens */
    expect("a >>>= b >> c >>> d", "identifier:a operator:>>>= identifier:b operator:> operator:> identifier:c "
                                  "operator:> operator:> operator:> identifier:d");
    expect("f ( String ... a ) -> b :: c != d ? e : ~ g ++",
           "identifier:f separator:( identifier:String operator:... identifier:a separator:) operator:-> "
           "identifier:b operator::: identifier:c operator:!= identifier:d operator:? identifier:e operator:: "
           "operator:~ identifier:g operator:++");
    expect("a .. b", "identifier:a separator:. separator:. identifier:b");
    expect("Math . <mask> ( x )", "identifier:Math separator:. operator:< identifier:mask operator:> "
                                  "separator:( identifier:x separator:)");
}

static void test_comments(void)
{
    /* one-line text: a `//` comment ends before the first lone separator/operator word,
     * moved back over reserved words right before it */
    expect("// Check ranges if ( a ) { }", "comment:// Check ranges keyword:if separator:( identifier:a "
                                           "separator:) separator:{ separator:}");
    expect("x ; // to min. continue ; }", "identifier:x separator:; comment:// to min. keyword:continue "
                                          "separator:; separator:}");
    /* prose punctuation stays attached; identifiers before the code word stay in the comment */
    expect("// (or text.length() if absent) int a ;", "comment:// (or text.length() if absent) int a "
                                                      "separator:;");
    expect("// see below final int x", "comment:// see below final int x");
    expect("// see below return ( x )", "comment:// see below keyword:return separator:( identifier:x "
                                        "separator:)");
    expect("// only prose here  ", "comment:// only prose here");
    expect("// ( x", "comment:// separator:( identifier:x");
    expect("//a // b", "comment://a // b");
    /* a text with a line terminator: javalang's rule, to the line end (CR or LF) */
    expect("a ; // x = 1 ;\n b", "identifier:a separator:; comment:// x = 1 ; identifier:b");
    expect("// x ( y\r z", "comment:// x ( y identifier:z");
    expect("/* a ( b ) */ c /** doc */", "comment:/* a ( b ) */ identifier:c comment:/** doc */");
    expect("a /* open", "identifier:a comment:/* open");
}

static void test_unicode_and_unknown(void)
{
    expect("String 名字 = \"中文\" ; // 注释 if ( x )", "identifier:String identifier:名字 operator:= "
                                                     "string:\"中文\" separator:; comment:// 注释 keyword:if "
                                                     "separator:( identifier:x separator:)");
    expect("a # b ` c \\u0041", "identifier:a unknown:# identifier:b unknown:` identifier:c unknown:\\ "
                                "identifier:u0041");
    /* unterminated literal: the quote is unknown, lexing resumes after it */
    expect("x = \"abc ;", "identifier:x operator:= unknown:\" identifier:abc separator:;");
    expect("c = ' ;", "identifier:c operator:= unknown:' separator:;");
    expect("a，b", "identifier:a unknown:， identifier:b"); /* fullwidth comma: Po, starts no token */
    expect("", "");
    LexSpan *t = NULL;
    int n = -1;
    CU_ASSERT_EQUAL(lex_java_utf8("a \xff b", &t, &n), -1); /* invalid UTF-8 */
}

static void test_assign(void)
{
    /* text "int ab=1;" spans: int[0,3) ab[4,6) =[6,7) 1[7,8) ;[8,9) */
    LexSpan sp[] = {{0, 3, LEXJ_BASICTYPE}, {4, 6, LEXJ_IDENTIFIER}, {6, 7, LEXJ_OPERATOR},
                    {7, 8, LEXJ_INTEGER}, {8, 9, LEXJ_SEPARATOR}};
    /* sub-tokens: <s> | int | a | b= (1 char each: tie, the earlier span) | 1; (tie) | " " (none) | </s> */
    int span[][2] = {{0, 0}, {0, 3}, {4, 5}, {5, 7}, {7, 9}, {3, 4}, {0, 0}};
    int special[] = {1, 0, 0, 0, 0, 0, 1};
    int16_t got[7];
    CU_ASSERT_EQUAL(categories_assign((const int(*)[2])span, special, 7, sp, 5, LEXJ_SPECIAL, LEXJ_UNKNOWN, got), 0);
    int16_t want[] = {LEXJ_SPECIAL, LEXJ_BASICTYPE, LEXJ_IDENTIFIER, LEXJ_IDENTIFIER, LEXJ_INTEGER, LEXJ_UNKNOWN,
                      LEXJ_SPECIAL};
    CU_ASSERT_EQUAL(memcmp(got, want, sizeof want), 0);
    /* majority: [5,8) overlaps ab by 1, = by 1, 1 by 1 -> ab; [6,9) = 1 ; all 1 -> '=' */
    int span2[][2] = {{2, 7}, {6, 9}};
    int sp2[] = {0, 0};
    categories_assign((const int(*)[2])span2, sp2, 2, sp, 5, LEXJ_SPECIAL, LEXJ_UNKNOWN, got);
    CU_ASSERT_EQUAL(got[0], LEXJ_IDENTIFIER); /* [2,7): int 1, ab 2, = 1 */
    CU_ASSERT_EQUAL(got[1], LEXJ_OPERATOR);
}

static void test_field(void)
{
    CategoryNames names = {0};
    LexSpan *s;
    int n;
    char err[256];
    CU_ASSERT_EQUAL(categories_parse_field("[[0, 3, \"NOUN\"], [4, 7, \"VERB\"], [8, 9, \"NOUN\"]]", &names, &s,
                                           &n, err, sizeof err), 0);
    CU_ASSERT_EQUAL(n, 3);
    CU_ASSERT_EQUAL(names.n, 2);
    CU_ASSERT_STRING_EQUAL(names.names[0], "NOUN");
    CU_ASSERT(s[0].cat == 0 && s[1].cat == 1 && s[2].cat == 0 && s[1].start == 4 && s[1].end == 7);
    free(s);
    CU_ASSERT_EQUAL(categories_parse_field("[[0, 2, \"ADJ\"]]", &names, &s, &n, err, sizeof err), 0);
    CU_ASSERT(names.n == 3 && s[0].cat == 2);
    free(s);
    CU_ASSERT_EQUAL(categories_parse_field("[]", &names, &s, &n, err, sizeof err), 0);
    CU_ASSERT_EQUAL(n, 0);
    free(s);
    const char *bad[] = {"[[0, 3]]", "[[3, 1, \"X\"]]", "[[0, 1, 2]]", "{\"a\": 1}", "[[-1, 2, \"X\"]]", "[[0,"};
    for (int i = 0; i < 6; i++) {
        err[0] = 0;
        CU_ASSERT_EQUAL(categories_parse_field(bad[i], &names, &s, &n, err, sizeof err), -1);
        CU_ASSERT(strlen(err) > 0);
    }
    CU_ASSERT_EQUAL(category_names_index(&names, "VERB"), 1);
    CU_ASSERT_EQUAL(category_names_index(&names, "special"), 3);
    category_names_free(&names);
}

static int corpus_skipped;

/* Every text of the bundled cloze corpus, token by token, against tests/tools/javalex.py. */
static void test_corpus_vs_python(void)
{
    if (system("python3 -c 1 >/dev/null 2>&1") != 0) {
        printf("\n   SKIPPED: no python3 for the independent lexer");
        corpus_skipped = 1;
        return;
    }
    const char *corpus = "data/codexglue-cloze.jsonl", *dump = "test_lex_java.tokens";
    FILE *in = fopen(corpus, "r"), *out = fopen(dump, "w");
    CU_ASSERT_FATAL(in != NULL && out != NULL);
    char *line = NULL;
    size_t cap = 0;
    long row = 0, ntok = 0;
    while (getline(&line, &cap, in) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        CU_ASSERT_FATAL(j != NULL);
        LexSpan *t;
        int n;
        CU_ASSERT_FATAL(lex_java_utf8(json_string_value(json_object_get(j, "text")), &t, &n) == 0);
        for (int k = 0; k < n; k++)
            fprintf(out, "%ld %d %d %s\n", row, t[k].start, t[k].end, lex_java_names[t[k].cat]);
        ntok += n, row++;
        free(t);
        json_decref(j);
    }
    free(line);
    fclose(in);
    fclose(out);
    CU_ASSERT(row == 482 && ntok > 50000);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "python3 tests/tools/javalex.py --compare %s %s", corpus, dump);
    CU_ASSERT_EQUAL(system(cmd), 0);
    remove(dump);
}

/* Random texts from an alphabet of the lexer's hard cases (quotes, escapes, comment starts,
 * number forms, non-ASCII, line ends): every non-whitespace character is covered by exactly
 * one token, tokens are in order and within the text; and the Python lexer agrees on each. */
static void test_random_texts(void)
{
    static const char *const pieces[] = {"a", "_x", "$", "9", "0x1F", "0b1", "07", "1.5e-3f", ".5", "1_0L", "'", "\"",
                                         "\\", "\\u0041", "//", "/*", "*/", "/", "*", "(", ")", ";", ".", "..", "...",
                                         ">>>=", ">", "<", "-", "->", "::", ":", "@", "#", "`", " ", "  ", "\n", "\r",
                                         "\t", "é", "名", "，", "\u00a0", "if", "int", "true", "null", "<mask>", "e", "p"};
    enum { NP = sizeof pieces / sizeof *pieces, NTEXT = 400 };
    unsigned long long r = 0x9E3779B97F4A7C15ULL;
    FILE *jl = fopen("test_lex_java.random.jsonl", "w"), *dump = fopen("test_lex_java.random.tokens", "w");
    CU_ASSERT_FATAL(jl && dump);
    for (int k = 0; k < NTEXT; k++) {
        char text[512] = "";
        int len = (int)(r % 24);
        for (int q = 0; q < len; q++) {
            r ^= r << 13, r ^= r >> 7, r ^= r << 17;
            strcat(text, pieces[r % NP]);
        }
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        utf8proc_int32_t cp[512];
        int n = 0;
        for (size_t p = 0, tl = strlen(text); p < tl;)
            p += (size_t)utf8proc_iterate((const utf8proc_uint8_t *)text + p, (utf8proc_ssize_t)(tl - p), &cp[n++]);
        LexSpan *t;
        int nt;
        CU_ASSERT_FATAL(lex_java_utf8(text, &t, &nt) == 0);
        int covered[512] = {0}, prev_end = 0;
        for (int i = 0; i < nt; i++) {
            CU_ASSERT(t[i].start >= prev_end && t[i].end > t[i].start && t[i].end <= n);
            prev_end = t[i].end;
            for (int c = t[i].start; c < t[i].end && c < n; c++)
                covered[c]++;
            fprintf(dump, "%d %d %d %s\n", k, t[i].start, t[i].end, lex_java_names[t[i].cat]);
        }
        for (int c = 0; c < n; c++) {
            int space = cp[c] == ' ' || cp[c] == '\n' || cp[c] == '\r' || cp[c] == '\t' || cp[c] == 0xa0;
            CU_ASSERT(covered[c] == 1 || (space && covered[c] == 0));
        }
        free(t);
        json_t *o = json_pack("{s:s}", "text", text);
        char *line = json_dumps(o, JSON_COMPACT);
        fprintf(jl, "%s\n", line);
        free(line);
        json_decref(o);
    }
    fclose(jl);
    fclose(dump);
    if (!corpus_skipped)
        CU_ASSERT_EQUAL(system("python3 tests/tools/javalex.py --compare test_lex_java.random.jsonl "
                               "test_lex_java.random.tokens"), 0);
    remove("test_lex_java.random.jsonl");
    remove("test_lex_java.random.tokens");
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("lex_java", NULL, NULL);
    CU_add_test(s, "category names", test_names);
    CU_add_test(s, "keywords, modifiers, identifiers", test_words);
    CU_add_test(s, "literals", test_literals);
    CU_add_test(s, "operators and separators", test_operators);
    CU_add_test(s, "comments", test_comments);
    CU_add_test(s, "non-ASCII and unknown", test_unicode_and_unknown);
    CU_add_test(s, "sub-tokens by span", test_assign);
    CU_add_test(s, "field spans", test_field);
    CU_add_test(s, "cloze corpus vs independent lexer", test_corpus_vs_python);
    CU_add_test(s, "random texts: coverage, independent lexer", test_random_texts);
    int rc = test_run_registry();
    return rc == 0 && corpus_skipped ? TEST_SKIP_CODE : rc;
}
