/* Corpus readers on small files written here (good and bad cases for TSV, CSV,
 * JSONL, text), a 10 MB line, and the real SST-2 dev.tsv (872 rows). */
#include "io/corpus.h"
#include "tests/testutil.h"
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *tmpdir;

static const char *write_tmp(const char *name, const char *content, size_t len)
{
    static char p[4][600];
    static int k;
    char *path = p[k++ % 4];
    snprintf(path, 600, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    fwrite(content, 1, len ? len : strlen(content), f);
    fclose(f);
    return path;
}

static int contains(const char *s, const char *want)
{
    if (strstr(s, want))
        return 1;
    fprintf(stderr, "\n  message '%s' lacks '%s'\n", s, want);
    return 0;
}

/* Opens and returns the corpus, or checks the open error. */
static Corpus *open_spec(CorpusSpec *s, const char *want_err)
{
    char err[1024] = "";
    Corpus *c = corpus_open(s, err, sizeof err);
    if (want_err) {
        CU_ASSERT_PTR_NULL(c);
        CU_ASSERT(contains(err, want_err));
        corpus_close(c);
        return NULL;
    }
    if (!c)
        fprintf(stderr, "\n  open: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL(c);
    return c;
}

/* Next record must be ok with this text; returns it for the caller's further checks. */
static CorpusRecord next_ok(Corpus *c, const char *text)
{
    CorpusRecord r;
    char err[1024] = "";
    int k = corpus_next(c, &r, err, sizeof err);
    if (k != 1)
        fprintf(stderr, "\n  expected a record '%s', got %d: %s\n", text, k, err);
    CU_ASSERT_EQUAL_FATAL(k, 1);
    CU_ASSERT_STRING_EQUAL(r.text, text);
    return r;
}

/* Next record must be ok with this text and label. */
static void want_rec(Corpus *c, const char *text, const char *pair, int label, long row, long line)
{
    CorpusRecord r = next_ok(c, text);
    if (pair) {
        CU_ASSERT(r.text_pair && strcmp(r.text_pair, pair) == 0);
    } else {
        CU_ASSERT_PTR_NULL(r.text_pair);
    }
    CU_ASSERT_EQUAL(r.label, label);
    CU_ASSERT_EQUAL(r.row, row);
    CU_ASSERT_EQUAL(r.line, line);
}

static void want_err(Corpus *c, int code, const char *msg)
{
    CorpusRecord r;
    char err[1024] = "";
    int k = corpus_next(c, &r, err, sizeof err);
    CU_ASSERT_EQUAL(k, code);
    CU_ASSERT(contains(err, msg));
}

static void want_end(Corpus *c)
{
    CorpusRecord r;
    char err[1024] = "";
    CU_ASSERT_EQUAL(corpus_next(c, &r, err, sizeof err), 0);
}

static void test_tsv(void)
{
    const char *p = write_tmp("a.tsv", "\xEF\xBB\xBFsentence\tlabel\r\nfirst one \t1\r\n\nsecond\t0\n", 0);
    CorpusSpec s = {.path = p};
    Corpus *c = open_spec(&s, NULL);
    want_rec(c, "first one ", NULL, 1, 0, 2);
    want_rec(c, "second", NULL, 0, 1, 4); /* the blank line 3 is no row */
    want_end(c);
    corpus_close(c);

    /* columns by name, in another order, with a pair */
    p = write_tmp("b.tsv", "idx\tq\tlabel\ts\n0\tis it?\tpositive\tyes\n", 0);
    char *names[] = {"negative", "positive"};
    CorpusSpec s2 = {.path = p, .text_field = "q", .pair_field = "s", .label_names = names, .n_labels = 2};
    c = open_spec(&s2, NULL);
    want_rec(c, "is it?", "yes", 1, 0, 2);
    want_end(c);
    corpus_close(c);

    /* test.tsv-like: no label column -> label -1 */
    p = write_tmp("c.tsv", "index\tsentence\n0\tno label here\n", 0);
    CorpusSpec s3 = {.path = p};
    c = open_spec(&s3, NULL);
    want_rec(c, "no label here", NULL, -1, 0, 2);
    want_end(c);
    corpus_close(c);
}

static void test_tsv_errors(void)
{
    char want[700];
    CorpusSpec s = {.path = "/nonexistent/x.tsv"};
    open_spec(&s, "/nonexistent/x.tsv: cannot open corpus");
    s.path = write_tmp("empty.tsv", "", 0);
    snprintf(want, sizeof want, "%s:1: empty file (no header)", s.path);
    open_spec(&s, want);
    s.path = write_tmp("nocol.tsv", "sentence\tlabel\nx\t1\n", 0);
    s.text_field = "review";
    snprintf(want, sizeof want, "%s:1: no column 'review' in the header (columns: 'sentence', 'label')", s.path);
    open_spec(&s, want);
    s.text_field = NULL;
    s.label_field = "stars";
    open_spec(&s, "no column 'stars' (label)");

    const char *body = "sentence\tlabel\n"
                       "ok\t1\n"            /* row 0, line 2 */
                       "bad \xff utf8\t1\n" /* row 1, line 3 */
                       "three\tfields\t0\n" /* row 2, line 4 */
                       " \t1\n"             /* row 3, line 5: empty text */
                       "x\tmaybe\n"         /* row 4, line 6: label */
                       "y\t-2\n"            /* row 5, line 7 */
                       "last\t0\n";         /* row 6, line 8 */
    const char *p = write_tmp("bad.tsv", body, 0);
    CorpusSpec f = {.path = p};
    Corpus *c = open_spec(&f, NULL);
    want_rec(c, "ok", NULL, 1, 0, 2);
    snprintf(want, sizeof want, "%s:3: invalid UTF-8 at byte 5", p);
    want_err(c, -1, want);
    corpus_close(c);

    CorpusSpec k = {.path = p, .skip_errors = 1};
    c = open_spec(&k, NULL);
    want_rec(c, "ok", NULL, 1, 0, 2);
    want_err(c, 2, ":3: invalid UTF-8");
    want_err(c, 2, ":4: expected 2 tab-separated fields (as the header), found 3");
    want_err(c, 2, ":5: empty text in column 'sentence'");
    want_err(c, 2, ":6: label 'maybe' is not an integer");
    want_err(c, 2, ":7: label -2 is not a non-negative class index");
    want_rec(c, "last", NULL, 0, 6, 8);
    want_end(c);
    corpus_close(c);

    /* label names: unknown name lists the known ones */
    char *names[] = {"neg", "pos"};
    p = write_tmp("names.tsv", "sentence\tlabel\na\tPOS\nb\tneutral\n", 0);
    CorpusSpec n = {.path = p, .label_names = names, .n_labels = 2};
    c = open_spec(&n, NULL);
    want_rec(c, "a", NULL, 1, 0, 2); /* case-insensitive fallback */
    want_err(c, -1, ":3: label 'neutral' is neither an integer nor a label name (neg, pos)");
    corpus_close(c);
}

static void test_offset_limit(void)
{
    const char *p = write_tmp("ol.tsv", "sentence\tlabel\nr0\t0\nr1\t1\nr2\t0\nr3\t1\nr4\t0\n", 0);
    CorpusSpec s = {.path = p, .offset = 1, .limit = 2};
    Corpus *c = open_spec(&s, NULL);
    want_rec(c, "r1", NULL, 1, 1, 3);
    want_rec(c, "r2", NULL, 0, 2, 4);
    want_end(c);
    corpus_close(c);
    CorpusSpec t = {.path = p, .offset = 4};
    c = open_spec(&t, NULL);
    want_rec(c, "r4", NULL, 0, 4, 6);
    want_end(c);
    corpus_close(c);
}

static void test_csv(void)
{
    const char *body = "id,text,label\n"
                       "1,\"hello, world\",1\n"
                       "2,\"she said \"\"hi\"\"\",0\n"
                       "3,\"two\nlines\",1\r\n"
                       "4,plain,\n";
    const char *p = write_tmp("a.csv", body, 0);
    CorpusSpec s = {.path = p};
    Corpus *c = open_spec(&s, NULL);
    want_rec(c, "hello, world", NULL, 1, 0, 2);
    want_rec(c, "she said \"hi\"", NULL, 0, 1, 3);
    want_rec(c, "two\nlines", NULL, 1, 2, 4);
    want_rec(c, "plain", NULL, -1, 3, 6); /* the quoted newline moved the line count on */
    want_end(c);
    corpus_close(c);

    p = write_tmp("b.csv", "text,label\n\"oops\"x,1\nfine,0\n\"never closed,1\nmore\n", 0);
    CorpusSpec k = {.path = p, .skip_errors = 1};
    c = open_spec(&k, NULL);
    want_err(c, 2, ":2: text after a closing quote on line 2");
    want_rec(c, "fine", NULL, 0, 1, 3);
    want_err(c, -1, ":4: unterminated quoted field (the quote opened on line 4 never closes)");
    want_err(c, -1, "unterminated"); /* stays failed */
    corpus_close(c);

    p = write_tmp("c.csv", "text,label\nonly one field\n", 0);
    CorpusSpec e = {.path = p};
    c = open_spec(&e, NULL);
    want_err(c, -1, ":2: expected 2 comma-separated fields (as the header), found 1");
    corpus_close(c);
}

static void test_jsonl(void)
{
    const char *body = "{\"text\": \"caf\\u00e9\", \"label\": 1}\n"
                       "\n"
                       "{\"text\": \"b\", \"label\": \"pos\", \"hyp\": \"h\"}\n"
                       "{\"text\": \"c\"}\n"
                       "{\"text\": \"d\", \"label\": 1.5}\n"
                       "{\"text\": 5}\n"
                       "{\"txt\": \"e\"}\n"
                       "{\"text\": \"f\",\n"
                       "[1, 2]\n"
                       "{\"text\": \"\"}\n";
    const char *p = write_tmp("a.jsonl", body, 0);
    char *names[] = {"neg", "pos"};
    CorpusSpec s = {.path = p, .skip_errors = 1, .label_names = names, .n_labels = 2};
    Corpus *c = open_spec(&s, NULL);
    want_rec(c, "caf\xc3\xa9", NULL, 1, 0, 1);
    want_rec(c, "b", NULL, 1, 1, 3);
    want_rec(c, "c", NULL, -1, 2, 4);
    want_err(c, 2, ":5: label 1.5 is not a non-negative integer");
    want_err(c, 2, ":6: field 'text' is not a string");
    want_err(c, 2, ":7: missing field 'text'");
    want_err(c, 2, ":8: malformed JSON");
    want_err(c, 2, ":9: expected a JSON object");
    want_err(c, 2, ":10: empty text in field 'text'");
    want_end(c);
    corpus_close(c);

    p = write_tmp("pairs.json", "{\"premise\": \"p\", \"hypothesis\": \"h\", \"y\": 0}\n{\"premise\": \"q\"}\n", 0);
    CorpusSpec t = {.path = p, .text_field = "premise", .pair_field = "hypothesis", .label_field = "y"};
    c = open_spec(&t, NULL);
    want_rec(c, "p", "h", 0, 0, 1);
    want_err(c, -1, ":2: missing field 'hypothesis'");
    corpus_close(c);
}

static void test_text(void)
{
    const char *p = write_tmp("a.txt", "one line\r\n\ntwo\n", 0);
    CorpusSpec s = {.path = p};
    Corpus *c = open_spec(&s, NULL);
    want_rec(c, "one line", NULL, -1, 0, 1);
    char want[700];
    snprintf(want, sizeof want, "%s:2: empty text", p);
    want_err(c, -1, want);
    corpus_close(c);
    CorpusSpec f = {.path = write_tmp("forced.tsv", "sentence\tlabel\n", 0), .format = CORPUS_TEXT};
    c = open_spec(&f, NULL); /* forced format: the header is just text */
    want_rec(c, "sentence\tlabel", NULL, -1, 0, 1);
    want_end(c);
    corpus_close(c);
    CU_ASSERT_STRING_EQUAL(corpus_format_name(CORPUS_CSV), "csv");
    CU_ASSERT_STRING_EQUAL(corpus_format_name(CORPUS_JSONL), "jsonl");
}

/* A 10 MB line in each format. */
static void test_long_line(void)
{
    size_t n = 10u << 20;
    char *big = malloc(n + 64);
    memcpy(big, "sentence\tlabel\n", 15);
    memset(big + 15, 'w', n);
    memcpy(big + 15 + n, "\t1\nshort\t0\n", 12);
    CorpusSpec s = {.path = write_tmp("big.tsv", big, 15 + n + 11)};
    Corpus *c = open_spec(&s, NULL);
    CorpusRecord r;
    char err[512];
    CU_ASSERT_EQUAL_FATAL(corpus_next(c, &r, err, sizeof err), 1);
    CU_ASSERT_EQUAL(strlen(r.text), n);
    CU_ASSERT_EQUAL(r.label, 1);
    want_rec(c, "short", NULL, 0, 1, 3);
    corpus_close(c);

    memcpy(big, "{\"text\": \"", 10);
    memset(big + 10, 'j', n);
    memcpy(big + 10 + n, "\"}\n", 4);
    CorpusSpec j = {.path = write_tmp("big.jsonl", big, 0)};
    c = open_spec(&j, NULL);
    CU_ASSERT_EQUAL_FATAL(corpus_next(c, &r, err, sizeof err), 1);
    CU_ASSERT_EQUAL(strlen(r.text), n);
    corpus_close(c);
    free(big);
}

static void test_sst2_dev(void)
{
    const char *p = test_shared_path("data/sst2/dev.tsv");
    struct stat st;
    if (!p || stat(p, &st) != 0) {
        printf("\n  SKIPPED: data/sst2/dev.tsv is absent\n");
        return;
    }
    CorpusSpec s = {.path = p};
    Corpus *c = open_spec(&s, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CorpusRecord r;
    char err[512];
    long n = 0, pos = 0;
    int k;
    while ((k = corpus_next(c, &r, err, sizeof err)) == 1) {
        if (n == 0) {
            CU_ASSERT_STRING_EQUAL(r.text, "it 's a charming and often affecting journey . ");
        }
        CU_ASSERT(r.label == 0 || r.label == 1);
        CU_ASSERT_EQUAL(r.row, n);
        CU_ASSERT_EQUAL(r.line, n + 2);
        pos += r.label;
        n++;
    }
    CU_ASSERT_EQUAL(k, 0);
    /* counts from the data's SOURCE.md: 872 rows, 444 positive */
    CU_ASSERT_EQUAL(n, 872);
    CU_ASSERT_EQUAL(pos, 444);
    corpus_close(c);
}

/* continuation_field (causal-LM continuations): read in TSV, CSV and JSONL; a missing column, an
 * empty or missing value, a non-string value are errors naming the field; plain text refuses it. */
static void want_cont(Corpus *c, const char *text, const char *cont)
{
    CorpusRecord r = next_ok(c, text);
    CU_ASSERT(r.continuation && strcmp(r.continuation, cont) == 0);
}

static void test_continuation(void)
{
    const char *p = write_tmp("c.tsv", "sentence\tgen\tlabel\nit is\t a good one\t1\nso\t \t0\n", 0);
    CorpusSpec s = {.path = p, .cont_field = "gen"};
    Corpus *c = open_spec(&s, NULL);
    want_cont(c, "it is", " a good one");
    want_err(c, -1, "c.tsv:3: empty continuation in column 'gen'");
    corpus_close(c);
    p = write_tmp("c.csv", "text,gen\n\"a, b\",\" c, d\"\nx,\n", 0);
    CorpusSpec s2 = {.path = p, .cont_field = "gen"};
    c = open_spec(&s2, NULL);
    want_cont(c, "a, b", " c, d");
    want_err(c, -1, "c.csv:3: empty continuation in column 'gen'");
    corpus_close(c);
    p = write_tmp("c.jsonl", "{\"text\": \"a\", \"gen\": \" b\"}\n{\"text\": \"a\"}\n{\"text\": \"a\", \"gen\": 3}\n"
                  "{\"text\": \"a\", \"gen\": \"\"}\n", 0);
    CorpusSpec s3 = {.path = p, .cont_field = "gen", .skip_errors = 1};
    c = open_spec(&s3, NULL);
    want_cont(c, "a", " b");
    want_err(c, 2, "missing field 'gen'");
    want_err(c, 2, "field 'gen' is not a string");
    want_err(c, 2, "empty continuation in field 'gen'");
    want_end(c);
    corpus_close(c);
    CorpusSpec s4 = {.path = write_tmp("c.tsv", "sentence\tlabel\nit\t1\n", 0), .cont_field = "gen"};
    open_spec(&s4, "no column 'gen' (continuation_field)");
    CorpusSpec s5 = {.path = write_tmp("c.txt", "it\n", 0), .cont_field = "gen"};
    open_spec(&s5, "needs a TSV, CSV or JSONL corpus");
}

int main(void)
{
    if (!(tmpdir = test_mkdtemp("corpus")))
        return 2;
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("corpus", NULL, NULL);
    CU_add_test(s, "tsv", test_tsv);
    CU_add_test(s, "tsv_errors", test_tsv_errors);
    CU_add_test(s, "offset_limit", test_offset_limit);
    CU_add_test(s, "csv", test_csv);
    CU_add_test(s, "jsonl", test_jsonl);
    CU_add_test(s, "text", test_text);
    CU_add_test(s, "long_line", test_long_line);
    CU_add_test(s, "sst2_dev", test_sst2_dev);
    CU_add_test(s, "continuation", test_continuation);
    int rc = test_run_registry();
    test_rmtree(tmpdir);
    return rc;
}
