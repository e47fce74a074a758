/* Tokenizers against Hugging Face's own outputs (shared/reference/tokenization:
 * BertTokenizerFast on 2735 texts, RobertaTokenizerFast on 891), plus offsets,
 * pairs, truncation and loading errors checked against hand-derived values. */
#include "io/corpus.h"
#include "io/tokenizer.h"
#include "tests/testutil.h"
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static Tokenizer *bert, *roberta;
static const char *tmpdir;

static Tokenizer *load_model(const char *rel)
{
    char err[512];
    Tokenizer *t = tokenizer_load(test_shared_path(rel), err, sizeof err);
    if (!t)
        fprintf(stderr, "%s\n", err);
    return t;
}

/* Compares every reference text's ids; prints the first few differences. */
static void check_reference(Tokenizer *t, const char *rel, const char *ids_key)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    /* (testutil's loader rejects \u0000; one BERT text holds a NUL) */
    json_error_t je;
    json_t *ref = json_load_file(test_shared_path(rel), JSON_ALLOW_NUL, &je);
    if (!ref)
        fprintf(stderr, "%s:%d: %s\n", rel, je.line, je.text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
    json_t *items = json_object_get(ref, "items");
    size_t i, bad = 0, n = json_array_size(items);
    json_t *it;
    json_array_foreach(items, i, it)
    {
        /* A C string cannot hold NUL; BERT's cleaner deletes NUL, so the test drops it too. */
        json_t *jt = json_object_get(it, "text");
        size_t tl = json_string_length(jt), w = 0;
        char *text = malloc(tl + 1);
        for (size_t k = 0; k < tl; k++)
            if (json_string_value(jt)[k])
                text[w++] = json_string_value(jt)[k];
        text[w] = 0;
        json_t *ids = json_object_get(it, ids_key);
        Encoding e;
        int rc = tokenizer_encode(t, text, NULL, 512, &e);
        int same = rc == 0 && (size_t)e.n == json_array_size(ids);
        for (int k = 0; same && k < e.n; k++)
            same = e.ids[k] == json_integer_value(json_array_get(ids, k));
        if (!same && bad++ < 5) {
            fprintf(stderr, "\nmismatch on item %zu %s\n  ours:", i, text);
            for (int k = 0; k < e.n; k++)
                fprintf(stderr, " %d", e.ids[k]);
            char *r = json_dumps(ids, JSON_COMPACT);
            fprintf(stderr, "\n  ref:  %s\n", r);
            free(r);
        }
        if (rc == 0)
            encoding_free(&e);
        free(text);
    }
    printf("\n  %s: %zu/%zu texts equal\n", rel, n - bad, n);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(n > 800);
    json_decref(ref);
}

static void test_bert_reference(void)
{
    check_reference(bert, "reference/tokenization/hf_bert_base_uncased.json", "fast");
}

static void test_roberta_reference(void)
{
    check_reference(roberta, "reference/tokenization/hf_roberta_base.json", "ids");
}

/* Expected tokens and offsets written out by hand from the text. */
static void expect(Tokenizer *t, const char *text, const char *pair, int max_length, int n, const char *const *toks,
                   const int (*off)[2], const int *types)
{
    Encoding e;
    CU_ASSERT_EQUAL_FATAL(tokenizer_encode(t, text, pair, max_length, &e), 0);
    CU_ASSERT_EQUAL(e.n, n);
    for (int k = 0; k < n && k < e.n; k++) {
        const char *s = tokenizer_id_to_token(t, e.ids[k]);
        if (strcmp(s, toks[k]) || e.offsets[k][0] != off[k][0] || e.offsets[k][1] != off[k][1] ||
            (types && e.type_ids[k] != types[k])) {
            fprintf(stderr, "\n'%s' token %d: got %s (%d,%d) type %d, want %s (%d,%d)\n", text, k, s,
                    e.offsets[k][0], e.offsets[k][1], e.type_ids[k], toks[k], off[k][0], off[k][1]);
            CU_FAIL("token/offset mismatch");
        }
    }
    encoding_free(&e);
}

static void test_bert_offsets(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(bert);
    const char *t1[] = {"[CLS]", "hello", ",", "my", "dog", "is", "cute", "[SEP]"};
    const int o1[][2] = {{0, 0}, {0, 5}, {5, 6}, {7, 9}, {10, 13}, {14, 16}, {17, 21}, {0, 0}};
    expect(bert, "Hello, my dog is cute", NULL, 0, 8, t1, o1, NULL);
    /* the BERT README's example split; accents are stripped but offsets keep the original span */
    const char *t2[] = {"[CLS]", "una", "##ffa", "##ble", "cafe", "[SEP]"};
    const int o2[][2] = {{0, 0}, {0, 3}, {3, 6}, {6, 9}, {10, 14}, {0, 0}};
    expect(bert, "unaffable Caf\xc3\xa9", NULL, 0, 6, t2, o2, NULL);
    /* e + U+0301 (2 code points) -> "e", spanning only the e (HF drops a removed mark's alignment);
     * CJK gets its own words; specials kept whole, lowercase ones not */
    const char *t3[] = {"[CLS]", "e", "[MASK]", "\xe5\x8c\x97", "[", "cl", "##s", "]", "[SEP]"};
    const int o3[][2] = {{0, 0}, {0, 1}, {2, 8}, {8, 9}, {9, 10}, {10, 12}, {12, 13}, {13, 14}, {0, 0}};
    expect(bert, "e\xcc\x81[MASK]\xe5\x8c\x97[cls]", NULL, 0, 9, t3, o3, NULL);
    /* control characters vanish; the 120-letter word is one [UNK] */
    char longw[160] = "\x01";
    memset(longw + 1, 'a', 120);
    strcpy(longw + 121, " ok");
    const char *t4[] = {"[CLS]", "[UNK]", "ok", "[SEP]"};
    const int o4[][2] = {{0, 0}, {1, 121}, {122, 124}, {0, 0}};
    expect(bert, longw, NULL, 0, 4, t4, o4, NULL);
}

static void test_bert_pair_truncation(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(bert);
    const char *t1[] = {"[CLS]", "hello", "world", "[SEP]", "my", "dog", "[SEP]"};
    const int o1[][2] = {{0, 0}, {0, 5}, {6, 11}, {0, 0}, {0, 2}, {3, 6}, {0, 0}};
    const int ty1[] = {0, 0, 0, 0, 1, 1, 1};
    expect(bert, "hello world", "my dog", 0, 7, t1, o1, ty1);
    /* budget 6-3 = 3: both are 2 long, so longest-first gives 1 + 2 */
    const char *t2[] = {"[CLS]", "hello", "[SEP]", "my", "dog", "[SEP]"};
    const int ty2[] = {0, 0, 0, 1, 1, 1};
    const int o2[][2] = {{0, 0}, {0, 5}, {0, 0}, {0, 2}, {3, 6}, {0, 0}};
    expect(bert, "hello world", "my dog", 6, 6, t2, o2, ty2);
    /* a 1-token first segment keeps its token; the pair takes the rest */
    const char *t3[] = {"[CLS]", "hi", "[SEP]", "a", "b", "c", "[SEP]"};
    const int o3[][2] = {{0, 0}, {0, 2}, {0, 0}, {0, 1}, {2, 3}, {4, 5}, {0, 0}};
    expect(bert, "hi", "a b c d e", 7, 7, t3, o3, NULL);
    Encoding e;
    CU_ASSERT_EQUAL(tokenizer_encode(bert, "a b c d e f", NULL, 5, &e), 0);
    CU_ASSERT_EQUAL(e.n, 5);
    CU_ASSERT_EQUAL(e.truncated, 1);
    CU_ASSERT_EQUAL(e.ids[4], 102);
    encoding_free(&e);
    CU_ASSERT_EQUAL(tokenizer_encode(bert, "a b", NULL, 5, &e), 0);
    CU_ASSERT_EQUAL(e.truncated, 0);
    CU_ASSERT_EQUAL(e.special[0], 1);
    CU_ASSERT_EQUAL(e.special[1], 0);
    encoding_free(&e);
    CU_ASSERT_EQUAL(tokenizer_encode(bert, "bad \xff utf8", NULL, 0, &e), -1);
    CU_ASSERT_EQUAL(tokenizer_encode(bert, "ok", "\xc0\x80", 0, &e), -1); /* overlong NUL */
}

static void test_roberta_offsets(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(roberta);
    const char *t1[] = {"<s>", "Hello", "\xc4\xa0world", "</s>"};
    const int o1[][2] = {{0, 0}, {0, 5}, {6, 11}, {0, 0}};
    expect(roberta, "Hello world", NULL, 0, 4, t1, o1, NULL);
    /* trim_offsets: a token that is only spaces gets an empty span after them */
    const char *t2[] = {"<s>", "\xc4\xa0", "\xc4\xa0two", "\xc4\xa0", "\xc4\xa0spaces", "\xc4\xa0", "\xc4\xa0", "</s>"};
    const int o2[][2] = {{0, 0}, {1, 1}, {2, 5}, {6, 6}, {7, 13}, {14, 14}, {15, 15}, {0, 0}};
    expect(roberta, "  two  spaces  ", NULL, 0, 8, t2, o2, NULL);
    /* specials written in the text; <mask> here does not swallow the space (as the reference) */
    const char *t3[] = {"<s>", "a", "<mask>", "\xc4\xa0", "<mask>", "</s>"};
    const int o3[][2] = {{0, 0}, {0, 1}, {1, 7}, {8, 8}, {8, 14}, {0, 0}};
    expect(roberta, "a<mask> <mask>", NULL, 0, 6, t3, o3, NULL);
    /* a 4-byte emoji split into byte-level pieces: each piece spans the whole code point */
    Encoding e;
    CU_ASSERT_EQUAL_FATAL(tokenizer_encode(roberta, "\xf0\x9f\x98\x80", NULL, 0, &e), 0);
    CU_ASSERT(e.n >= 3);
    for (int k = 1; k < e.n - 1; k++) {
        CU_ASSERT_EQUAL(e.offsets[k][0], 0);
        CU_ASSERT_EQUAL(e.offsets[k][1], 1);
    }
    encoding_free(&e);
    /* pair: <s> A </s></s> B </s>, one token type */
    const char *t4[] = {"<s>", "hi", "</s>", "</s>", "yo", "</s>"};
    const int o4[][2] = {{0, 0}, {0, 2}, {0, 0}, {0, 0}, {0, 2}, {0, 0}};
    const int ty4[] = {0, 0, 0, 0, 0, 0};
    expect(roberta, "hi", "yo", 0, 6, t4, o4, ty4);
}

static void test_accessors(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(bert);
    CU_ASSERT_PTR_NOT_NULL_FATAL(roberta);
    CU_ASSERT_EQUAL(tokenizer_vocab_size(bert), 30522);
    CU_ASSERT_EQUAL(tokenizer_vocab_size(roberta), 50265);
    CU_ASSERT_EQUAL(tokenizer_model_max_length(bert), 512);
    CU_ASSERT_FALSE(tokenizer_is_bpe(bert));
    CU_ASSERT_TRUE(tokenizer_is_bpe(roberta));
    const int bert_ids[TOK_NUM_SPECIAL] = {101, 102, 0, 103, 100}, rob_ids[TOK_NUM_SPECIAL] = {0, 2, 1, 50264, 3};
    for (int k = 0; k < TOK_NUM_SPECIAL; k++) {
        CU_ASSERT_EQUAL(tokenizer_special_id(bert, (SpecialToken)k), bert_ids[k]);
        CU_ASSERT_EQUAL(tokenizer_special_id(roberta, (SpecialToken)k), rob_ids[k]);
    }
    /* bos/eos: none for BERT; RoBERTa's <s> / </s> */
    CU_ASSERT_EQUAL(tokenizer_special_id(bert, TOK_BOS), -1);
    CU_ASSERT_EQUAL(tokenizer_special_id(bert, TOK_EOS), -1);
    CU_ASSERT_EQUAL(tokenizer_special_id(roberta, TOK_BOS), 0);
    CU_ASSERT_EQUAL(tokenizer_special_id(roberta, TOK_EOS), 2);
    CU_ASSERT_EQUAL(tokenizer_special_id(roberta, TOK_NUM_SPECIAL_ALL), -1);
    CU_ASSERT_EQUAL(tokenizer_num_added(bert, 0), 2);
    CU_ASSERT_EQUAL(tokenizer_num_added(roberta, 1), 4);
    CU_ASSERT_FALSE(tokenizer_from_json(bert));
    CU_ASSERT_EQUAL(tokenizer_token_to_id(bert, "[MASK]"), 103);
    CU_ASSERT_EQUAL(tokenizer_token_to_id(bert, "no-such-token"), -1);
    CU_ASSERT_STRING_EQUAL(tokenizer_id_to_token(bert, 7592), "hello");
    CU_ASSERT_PTR_NULL(tokenizer_id_to_token(bert, 30522));
    CU_ASSERT_PTR_NULL(tokenizer_id_to_token(bert, -1));
    CU_ASSERT_STRING_EQUAL(tokenizer_id_to_token(roberta, 50264), "<mask>");
}

/* Long inputs stay linear: a 4 MB text and a 1 MB word without spaces. */
static void test_long_inputs(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(bert);
    CU_ASSERT_PTR_NOT_NULL_FATAL(roberta);
    size_t n = 4 << 20;
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        s[i] = "the cat. "[i % 9];
    s[n] = 0;
    clock_t c0 = clock();
    Encoding e;
    CU_ASSERT_EQUAL(tokenizer_encode(bert, s, NULL, 0, &e), 0);
    CU_ASSERT_EQUAL(e.n, 512);
    CU_ASSERT_EQUAL(e.truncated, 1);
    encoding_free(&e);
    CU_ASSERT_EQUAL(tokenizer_encode(roberta, s, NULL, 0, &e), 0);
    CU_ASSERT_EQUAL(e.n, 512);
    encoding_free(&e);
    memset(s, 'x', 1 << 20);
    s[1 << 20] = 0;
    CU_ASSERT_EQUAL(tokenizer_encode(roberta, s, NULL, 100, &e), 0);
    CU_ASSERT_EQUAL(e.n, 100);
    encoding_free(&e);
    CU_ASSERT_EQUAL(tokenizer_encode(bert, s, NULL, 0, &e), 0);
    CU_ASSERT_EQUAL(e.n, 3); /* one word over 100 chars: [UNK] */
    encoding_free(&e);
    double sec = (double)(clock() - c0) / CLOCKS_PER_SEC;
    printf("\n  long inputs: %.2f s\n", sec);
    CU_ASSERT(sec < 20);
    free(s);
}

/* ---- loading errors: small tokenizer dirs written here ---- */

static const char *mkcase(const char *name) { return test_subdir(tmpdir, name); }

static void expect_load_error(const char *dir, const char *want)
{
    char err[512] = "";
    Tokenizer *t = tokenizer_load(dir, err, sizeof err);
    CU_ASSERT_PTR_NULL(t);
    if (t)
        tokenizer_free(t);
    if (!strstr(err, want)) {
        fprintf(stderr, "\nerror '%s' lacks '%s'\n", err, want);
        CU_FAIL("error message");
    }
}

static const char *mini_vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n##s\n,\n";
static const char *mini_bpe_vocab =
    "{\"<s>\":0,\"<pad>\":1,\"</s>\":2,\"<unk>\":3,\"<mask>\":4,\"h\":5,\"i\":6,\"hi\":7}";

static void test_load_errors(void)
{
    char err[512];
    expect_load_error("/nonexistent/tok", "/nonexistent/tok");
    const char *d = mkcase("empty");
    expect_load_error(d, "no tokenizer files");

    d = mkcase("dup");
    test_write_file(d, "vocab.txt", "[PAD]\n[UNK]\nhello\nhello\n");
    expect_load_error(d, "vocab.txt:4: duplicate token 'hello'");

    d = mkcase("badcfg");
    test_write_file(d, "vocab.txt", mini_vocab);
    test_write_file(d, "tokenizer_config.json", "{\"do_lower_case\": true,,}");
    expect_load_error(d, "tokenizer_config.json:1:");

    d = mkcase("nomask");
    test_write_file(d, "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n");
    expect_load_error(d, "mask_token '[MASK]' is not in the vocabulary");

    d = mkcase("nomerges");
    test_write_file(d, "vocab.json", mini_bpe_vocab);
    expect_load_error(d, "merges.txt: missing");

    /* a BPE vocabulary must hold all 256 byte symbols */
    d = mkcase("nobytes");
    test_write_file(d, "vocab.json", mini_bpe_vocab);
    test_write_file(d, "merges.txt", "#version: 0.2\nh i\n");
    expect_load_error(d, "byte-level symbol");

    /* full byte alphabet, then broken merges */
    json_t *v = json_loads(mini_bpe_vocab, 0, NULL);
    int id = 8;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        static int extra = 0;
        unsigned c = printable ? (unsigned)b : 256u + (unsigned)extra++;
        char u[4] = {0};
        if (c < 0x80)
            u[0] = (char)c;
        else {
            u[0] = (char)(0xC0 | (c >> 6));
            u[1] = (char)(0x80 | (c & 0x3F));
        }
        if (!json_object_get(v, u))
            json_object_set_new(v, u, json_integer(id++));
    }
    char *vs = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    d = mkcase("badmerge");
    test_write_file(d, "vocab.json", vs);
    test_write_file(d, "merges.txt", "#version: 0.2\nh i\nhi\n");
    expect_load_error(d, "merges.txt:3: malformed merge line");
    d = mkcase("oovmerge");
    test_write_file(d, "vocab.json", vs);
    test_write_file(d, "merges.txt", "#version: 0.2\nh i\ni h\n");
    expect_load_error(d, "merges.txt:3: merge 'i h' uses a token missing from vocab.json ('ih')");
    d = mkcase("dupjson");
    test_write_file(d, "vocab.json", "{\"a\": 1, \"a\": 2}");
    test_write_file(d, "merges.txt", "a a\n");
    expect_load_error(d, "vocab.json:1:");

    /* and the good one loads and merges "hi" */
    d = mkcase("goodbpe");
    test_write_file(d, "vocab.json", vs);
    test_write_file(d, "merges.txt", "#version: 0.2\nh i\n");
    free(vs);
    Tokenizer *t = tokenizer_load(d, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    Encoding e;
    CU_ASSERT_EQUAL(tokenizer_encode(t, "hih", NULL, 0, &e), 0);
    CU_ASSERT_EQUAL(e.n, 4);
    CU_ASSERT_EQUAL(e.ids[1], 7);
    CU_ASSERT_EQUAL(e.ids[2], 5);
    encoding_free(&e);
    tokenizer_free(t);

    /* added_tokens_decoder with lstrip (as real roberta-base configs have for <mask>):
     * the space before <mask> joins the match, as HF's AddedVocabulary does */
    d = mkcase("lstrip");
    char src[1200], dst[1200];
    const char *files[2] = {"vocab.json", "merges.txt"};
    for (int k = 0; k < 2; k++) {
        snprintf(src, sizeof src, "%s/%s", test_shared_path("reference/models/tiny-roberta"), files[k]);
        snprintf(dst, sizeof dst, "%s/%s", d, files[k]);
        CU_ASSERT_EQUAL(symlink(src, dst), 0);
    }
    test_write_file(d, "tokenizer_config.json",
                    "{\"added_tokens_decoder\": {\"50264\": {\"content\": \"<mask>\", \"lstrip\": true, "
                    "\"rstrip\": false, \"special\": true}}}");
    Tokenizer *ls = tokenizer_load(d, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ls);
    const char *t5[] = {"<s>", "a", "<mask>", "\xc4\xa0" "b", "</s>"};
    const int o5[][2] = {{0, 0}, {0, 1}, {1, 9}, {10, 11}, {0, 0}};
    expect(ls, "a  <mask> b", NULL, 0, 5, t5, o5, NULL);
    tokenizer_free(ls);

    /* a cased WordPiece model from tokenizer_config.json */
    d = mkcase("cased");
    test_write_file(d, "vocab.txt", mini_vocab);
    test_write_file(d, "tokenizer_config.json", "{\"do_lower_case\": false, \"model_max_length\": 16}");
    t = tokenizer_load(d, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(tokenizer_model_max_length(t), 16);
    CU_ASSERT_EQUAL(tokenizer_encode(t, "hellos, Hello", NULL, 0, &e), 0);
    const int want[] = {2, 5, 6, 7, 1, 3};
    CU_ASSERT_EQUAL(e.n, 6);
    for (int k = 0; k < 6 && k < e.n; k++)
        CU_ASSERT_EQUAL(e.ids[k], want[k]);
    encoding_free(&e);
    tokenizer_free(t);
}

/* Speed on the 67,349 SST-2 training sentences (read with the TSV corpus reader). */
static void test_sst2_speed(void)
{
    size_t n;
    char **texts = test_sst2_train(&n, "speed");
    if (!texts)
        return;
    CU_ASSERT_PTR_NOT_NULL_FATAL(bert);
    CU_ASSERT_EQUAL(n, 67349);
    Tokenizer *models[2] = {bert, roberta};
    for (int m = 0; m < 2; m++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        long toks = 0, bad = 0;
        for (size_t i = 0; i < n; i++) {
            Encoding e;
            if (tokenizer_encode(models[m], texts[i], NULL, 0, &e)) {
                bad++;
                continue;
            }
            toks += e.n;
            encoding_free(&e);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double sec = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
        printf("\n  %s: %zu sentences, %ld tokens in %.3f s (%.0f sentences/s)\n", m ? "BPE" : "WordPiece", n,
               toks, sec, n / sec);
        CU_ASSERT_EQUAL(bad, 0);
        CU_ASSERT(toks > 2 * (long)n);
    }
    test_free_texts(texts, n);
}

int main(void)
{
    test_require_shared("reference/tokenization/hf_bert_base_uncased.json");
    test_require_shared("reference/models/tiny-roberta/merges.txt");
    if (!(tmpdir = test_mkdtemp("tok")))
        return 2;
    bert = load_model("reference/models/tiny-bert");
    roberta = load_model("reference/models/tiny-roberta");
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("tokenizer", NULL, NULL);
    CU_add_test(s, "bert_reference_2735", test_bert_reference);
    CU_add_test(s, "roberta_reference_891", test_roberta_reference);
    CU_add_test(s, "bert_offsets", test_bert_offsets);
    CU_add_test(s, "bert_pair_truncation", test_bert_pair_truncation);
    CU_add_test(s, "roberta_offsets", test_roberta_offsets);
    CU_add_test(s, "accessors", test_accessors);
    CU_add_test(s, "long_inputs", test_long_inputs);
    CU_add_test(s, "load_errors", test_load_errors);
    CU_add_test(s, "sst2_speed", test_sst2_speed);
    int rc = test_run_registry();
    tokenizer_free(bert);
    tokenizer_free(roberta);
    test_rmtree(tmpdir);
    return rc;
}
