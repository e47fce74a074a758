/* tokenizer.json pipelines against Hugging Face's references, read from model
 * directories that hold ONLY tokenizer.json:
 *   - tiny-gpt2 / tiny-qwen2 / tiny-llama's tokenizer.json (shared/reference/tokenization
 *     {gpt2,qwen2,llama_spm}_2k.json; for llama, hf_fast_ids where the text holds literal
 *     special tokens), and bert-base-uncased / roberta-base written as tokenizer.json by
 *     tests/tools/write_tokenizer_json.py (the converters' format) from shared/data/vocab,
 *     against hf_bert_base_uncased.json / hf_roberta_base.json;
 *   - the same Encodings (ids, types, specials, offsets) as the legacy vocab.txt /
 *     vocab.json + merges.txt tokenizers, on every reference text and as pairs;
 *   - each normalizer / pre-tokenizer / added-token / post-processor rule on small
 *     pipelines, with expectations derived by hand from the tokenizers crate's rules
 *     (a WordPiece model whose vocabulary is only [UNK] turns every pre-token into one
 *     [UNK] spanning it, which shows the pieces);
 *   - errors naming the file and the JSON path; the SST-2 speed against the legacy BPE. */
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

static const char *tmpdir;
static Tokenizer *tj_bert, *tj_rob, *tj_gpt2, *tj_qwen, *tj_llama, *leg_bert, *leg_rob;

static const char *mkcase(const char *name) { return test_subdir(tmpdir, name); }

static Tokenizer *load_dir(const char *dir)
{
    char err[1024];
    Tokenizer *t = tokenizer_load(dir, err, sizeof err);
    if (!t)
        fprintf(stderr, "\n%s\n", err);
    return t;
}

/* A directory holding only a copy of shared/reference/models/<m>/tokenizer.json. */
static Tokenizer *json_only_copy(const char *m)
{
    char src[1100], cmd[2600];
    snprintf(src, sizeof src, "%s/%s/tokenizer.json", test_shared_path("reference/models"), m);
    const char *d = mkcase(m);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/tokenizer.json'", src, d);
    if (system(cmd))
        return NULL;
    return load_dir(d);
}

static Tokenizer *json_written(const char *kind)
{
    char cmd[3000];
    const char *src = getenv("ATTRUN_SRC") ? getenv("ATTRUN_SRC") : ".";
    const char *voc = test_shared_path("data/vocab");
    char vdir[1024];
    snprintf(vdir, sizeof vdir, "%s", voc);
    const char *d = mkcase(kind);
    if (!strcmp(kind, "bert"))
        snprintf(cmd, sizeof cmd, "python3 '%s/tests/tools/write_tokenizer_json.py' bert '%s/bert-base-uncased-vocab.txt' '%s'",
                 src, vdir, d);
    else
        snprintf(cmd, sizeof cmd,
                 "python3 '%s/tests/tools/write_tokenizer_json.py' roberta '%s/roberta-base-vocab.json' "
                 "'%s/roberta-base-merges.txt' '%s'", src, vdir, vdir, d);
    if (system(cmd))
        return NULL;
    return load_dir(d);
}

/* ---- references ---- */

/* Compares every reference text's ids (alt_key: preferred where present). */
static void check_reference(Tokenizer *t, const char *rel, const char *key, const char *alt_key, int max_length)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_TRUE(tokenizer_from_json(t));
    json_error_t je;
    json_t *ref = json_load_file(test_shared_path(rel), JSON_ALLOW_NUL, &je);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
    json_t *items = json_object_get(ref, "items"), *it;
    size_t i, bad = 0, n = json_array_size(items), alt = 0;
    json_array_foreach(items, i, it)
    {
        json_t *jt = json_object_get(it, "text"), *ids = json_object_get(it, key);
        if (alt_key && json_object_get(it, alt_key)) {
            ids = json_object_get(it, alt_key);
            alt++;
        }
        Encoding e;
        int rc = tokenizer_encode_n(t, json_string_value(jt), json_string_length(jt), NULL, 0, max_length, &e);
        int same = rc == 0 && (size_t)e.n == json_array_size(ids);
        for (int k = 0; same && k < e.n; k++)
            same = e.ids[k] == json_integer_value(json_array_get(ids, k));
        if (!same && bad++ < 5) {
            fprintf(stderr, "\nmismatch on item %zu %.80s\n  ours:", i, json_string_value(jt));
            for (int k = 0; k < e.n && k < 40; k++)
                fprintf(stderr, " %d", e.ids[k]);
            char *r = json_dumps(ids, JSON_COMPACT);
            fprintf(stderr, "\n  ref:  %.300s\n", r);
            free(r);
        }
        if (rc == 0)
            encoding_free(&e);
    }
    printf("\n  %s (tokenizer.json only): %zu/%zu texts equal%s", rel, n - bad, n, alt ? " (" : "");
    if (alt)
        printf("%zu of them against %s)", alt, alt_key);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(n >= 300);
    json_decref(ref);
}

static void test_gpt2(void) { check_reference(tj_gpt2, "reference/tokenization/gpt2_2k.json", "ids", NULL, 0); }
static void test_qwen2(void) { check_reference(tj_qwen, "reference/tokenization/qwen2_2k.json", "ids", NULL, 0); }
static void test_llama(void)
{
    check_reference(tj_llama, "reference/tokenization/llama_spm_2k.json", "ids", "hf_fast_ids", 0);
}
static void test_bert(void)
{
    check_reference(tj_bert, "reference/tokenization/hf_bert_base_uncased.json", "fast", NULL, 512);
}
static void test_roberta(void) { check_reference(tj_rob, "reference/tokenization/hf_roberta_base.json", "ids", NULL, 0); }

/* Same Encodings as the legacy tokenizers: every reference text alone and paired with the next. */
static void same_as_legacy(Tokenizer *a, Tokenizer *b, const char *rel)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    json_t *ref = json_load_file(test_shared_path(rel), JSON_ALLOW_NUL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
    json_t *items = json_object_get(ref, "items");
    size_t n = json_array_size(items), bad = 0, cmp = 0;
    for (size_t i = 0; i < n; i++)
        for (int pair = 0; pair < 2; pair++) {
            json_t *x = json_object_get(json_array_get(items, i), "text");
            json_t *y = json_object_get(json_array_get(items, (i + 1) % n), "text");
            Encoding e1, e2;
            int max_length = pair ? 48 : 0; /* pairs also exercise longest-first truncation */
            int r1 = tokenizer_encode_n(a, json_string_value(x), json_string_length(x), pair ? json_string_value(y) : NULL,
                                        json_string_length(y), max_length, &e1);
            int r2 = tokenizer_encode_n(b, json_string_value(x), json_string_length(x), pair ? json_string_value(y) : NULL,
                                        json_string_length(y), max_length, &e2);
            int same = r1 == 0 && r2 == 0 && e1.n == e2.n && e1.truncated == e2.truncated;
            for (int k = 0; same && k < e1.n; k++)
                same = e1.ids[k] == e2.ids[k] && e1.type_ids[k] == e2.type_ids[k] && e1.special[k] == e2.special[k] &&
                       e1.offsets[k][0] == e2.offsets[k][0] && e1.offsets[k][1] == e2.offsets[k][1];
            if (!same && bad++ < 3) {
                fprintf(stderr, "\n%s item %zu pair %d differs:", rel, i, pair);
                for (int k = 0; k < e1.n && k < e2.n && k < 30; k++)
                    fprintf(stderr, " %d(%d,%d)/%d(%d,%d)", e1.ids[k], e1.offsets[k][0], e1.offsets[k][1], e2.ids[k],
                            e2.offsets[k][0], e2.offsets[k][1]);
            }
            cmp++;
            if (!r1)
                encoding_free(&e1);
            if (!r2)
                encoding_free(&e2);
        }
    printf("\n  %s: %zu/%zu encodings (ids, types, specials, offsets) equal to the legacy tokenizer", rel, cmp - bad,
           cmp);
    CU_ASSERT_EQUAL(bad, 0);
    json_decref(ref);
}

static void test_bert_legacy(void)
{
    same_as_legacy(tj_bert, leg_bert, "reference/tokenization/hf_bert_base_uncased.json");
}
static void test_roberta_legacy(void)
{
    same_as_legacy(tj_rob, leg_rob, "reference/tokenization/hf_roberta_base.json");
}

/* ---- small pipelines ---- */

/* tokenizer.json with a WordPiece model knowing only [UNK] (+ extra vocab entries). */
static Tokenizer *mini(const char *name, const char *normalizer, const char *pre, const char *extra_model,
                       const char *added, const char *post, const char *config)
{
    char buf[8192];
    snprintf(buf, sizeof buf,
             "{\"version\":\"1.0\",\"added_tokens\":[%s],\"normalizer\":%s,\"pre_tokenizer\":%s,"
             "\"post_processor\":%s,\"model\":%s}",
             added ? added : "", normalizer ? normalizer : "null", pre ? pre : "null", post ? post : "null",
             extra_model ? extra_model
                         : "{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"max_input_chars_per_word\":1000,"
                           "\"vocab\":{\"[UNK]\":0}}");
    const char *d = mkcase(name);
    test_write_file(d, "tokenizer.json", buf);
    if (config)
        test_write_file(d, "tokenizer_config.json", config);
    return load_dir(d);
}

/* "id:s-e id:s-e ..." of an encoding. */
static void spans(Tokenizer *t, const char *text, const char *pair, char *out, size_t n)
{
    Encoding e;
    out[0] = 0;
    if (tokenizer_encode(t, text, pair, 0, &e)) {
        snprintf(out, n, "(invalid)");
        return;
    }
    size_t w = 0;
    for (int k = 0; k < e.n && w + 40 < n; k++)
        w += (size_t)snprintf(out + w, n - w, "%s%d:%d-%d%s", k ? " " : "", e.ids[k], e.offsets[k][0],
                              e.offsets[k][1], e.type_ids[k] ? "/1" : "");
    encoding_free(&e);
}

static void expect_spans(Tokenizer *t, const char *text, const char *pair, const char *want)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    char got[4096];
    spans(t, text, pair, got, sizeof got);
    if (strcmp(got, want)) {
        fprintf(stderr, "\n'%s': got  %s\n%*swant %s\n", text, got, (int)strlen(text) + 4, "", want);
        CU_FAIL("spans");
    }
}

static void test_split_behaviours(void)
{
    const char *beh[5] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    /* "a--b-c" split on "-": matches at 1, 2, 4 */
    const char *want[5] = {"0:0-1 0:3-4 0:5-6", "0:0-1 0:1-2 0:2-3 0:3-4 0:4-5 0:5-6", "0:0-2 0:2-3 0:3-5 0:5-6",
                           "0:0-1 0:1-2 0:2-4 0:4-6", "0:0-1 0:1-3 0:3-4 0:4-5 0:5-6"};
    for (int k = 0; k < 5; k++) {
        char pre[300], name[32];
        snprintf(pre, sizeof pre, "{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"%s\",\"invert\":false}",
                 beh[k]);
        snprintf(name, sizeof name, "split%d", k);
        Tokenizer *t = mini(name, NULL, pre, NULL, NULL, NULL, NULL);
        expect_spans(t, "a--b-c", NULL, want[k]);
        tokenizer_free(t);
    }
    /* invert: the matches are the pieces; Removed drops the rest */
    Tokenizer *t = mini("invert", NULL,
                        "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\p{L}+\"},\"behavior\":\"Removed\",\"invert\":true}",
                        NULL, NULL, NULL, NULL);
    expect_spans(t, "ab, c\xc3\xa9!", NULL, "0:0-2 0:4-6");
    tokenizer_free(t);
    /* Oniguruma \s is White_Space: NEL (U+0085) splits like a space; lookahead \s+(?!\S) */
    t = mini("ws_regex", NULL,
             "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Removed\"}",
             NULL, NULL, NULL, NULL);
    expect_spans(t, "a\xc2\x85" "b  c", NULL, "0:0-1 0:2-3 0:5-6");
    tokenizer_free(t);
}

static void test_pretokenizers(void)
{
    Tokenizer *t = mini("digits", NULL, "{\"type\":\"Digits\",\"individual_digits\":false}", NULL, NULL, NULL, NULL);
    expect_spans(t, "ab12c3", NULL, "0:0-2 0:2-4 0:4-5 0:5-6");
    tokenizer_free(t);
    t = mini("digits1", NULL, "{\"type\":\"Digits\",\"individual_digits\":true}", NULL, NULL, NULL, NULL);
    expect_spans(t, "ab12", NULL, "0:0-2 0:2-3 0:3-4");
    tokenizer_free(t);
    t = mini("punct", NULL, "{\"type\":\"Punctuation\",\"behavior\":\"Isolated\"}", NULL, NULL, NULL, NULL);
    expect_spans(t, "hi!? x", NULL, "0:0-2 0:2-3 0:3-4 0:4-6");
    tokenizer_free(t);
    t = mini("ws", NULL, "{\"type\":\"Whitespace\"}", NULL, NULL, NULL, NULL);
    expect_spans(t, "it's  ok", NULL, "0:0-2 0:2-3 0:3-4 0:6-8");
    tokenizer_free(t);
    t = mini("wss", NULL, "{\"type\":\"WhitespaceSplit\"}", NULL, NULL, NULL, NULL);
    expect_spans(t, " it's  ok ", NULL, "0:1-5 0:7-9");
    tokenizer_free(t);
    t = mini("bertpre", NULL, "{\"type\":\"BertPreTokenizer\"}", NULL, NULL, NULL, NULL);
    expect_spans(t, "a,b  c", NULL, "0:0-1 0:1-2 0:2-3 0:5-6");
    tokenizer_free(t);
    /* Metaspace: spaces become the replacement, the piece starts a new word (MergedWithNext);
     * prepend_scheme always adds one in front; the prepended character spans the first one */
    t = mini("meta", NULL, "{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"always\",\"split\":true}",
             NULL, NULL, NULL, NULL);
    expect_spans(t, "ab cd", NULL, "0:0-2 0:2-5");
    tokenizer_free(t);
    /* first: only the piece at offset 0 gets the prefix. With [X] an added token, "ab" (offset 3) gets none,
     * visible with a vocabulary holding the whole words */
    const char *meta_model = "{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[UNK]\":0,"
                             "\"\xe2\x96\x81" "ab\":1,\"ab\":2,\"[X]\":3}}";
    const char *addx = "{\"id\":3,\"content\":\"[X]\",\"special\":true,\"normalized\":false}";
    t = mini("metafirst", NULL, "{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"first\"}",
             meta_model, addx, NULL, NULL);
    expect_spans(t, "ab[X]ab", NULL, "1:0-2 3:2-5 2:5-7");
    tokenizer_free(t);
    t = mini("metanever", NULL, "{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"never\"}",
             meta_model, addx, NULL, NULL);
    expect_spans(t, "ab[X]ab", NULL, "2:0-2 3:2-5 2:5-7");
    tokenizer_free(t);
    /* Sequence: whitespace split, then digits */
    t = mini("preseq", NULL,
             "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"WhitespaceSplit\"},{\"type\":\"Digits\"}]}", NULL,
             NULL, NULL, NULL);
    expect_spans(t, "a1 22b", NULL, "0:0-1 0:1-2 0:3-5 0:5-6");
    tokenizer_free(t);
}

static void test_normalizers(void)
{
    /* Lowercase + Strip + Replace(regex) in a Sequence: visible in the vocabulary hits */
    const char *model = "{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[UNK]\":0,\"ab_cd\":1,\"fi\":2,"
                        "\"e\":3,\"\xc3\xa9\":4}}";
    Tokenizer *t = mini("normseq",
                        "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Strip\",\"strip_left\":true,"
                        "\"strip_right\":true},{\"type\":\"Lowercase\"},{\"type\":\"Replace\",\"pattern\":"
                        "{\"Regex\":\"\\\\s+\"},\"content\":\"_\"}]}",
                        NULL, model, NULL, NULL, NULL);
    expect_spans(t, "  AB \t CD ", NULL, "1:2-9");
    tokenizer_free(t);
    /* NFKC: the ligature U+FB01 becomes "fi" (both spanning it) */
    t = mini("nfkc", "{\"type\":\"NFKC\"}", NULL, model, NULL, NULL, NULL);
    expect_spans(t, "\xef\xac\x81", NULL, "2:0-1");
    tokenizer_free(t);
    /* NFC composes e + U+0301 into U+00E9, which keeps the e's range; NFD + StripAccents gives e */
    t = mini("nfc", "{\"type\":\"NFC\"}", NULL, model, NULL, NULL, NULL);
    expect_spans(t, "e\xcc\x81", NULL, "4:0-1");
    tokenizer_free(t);
    t = mini("nfd", "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFD\"},{\"type\":\"StripAccents\"}]}", NULL,
             model, NULL, NULL, NULL);
    expect_spans(t, "\xc3\xa9", NULL, "3:0-1");
    tokenizer_free(t);
    /* Prepend only before a non-empty piece */
    t = mini("prepend", "{\"type\":\"Prepend\",\"prepend\":\"e\"}", NULL,
             "{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[UNK]\":0,\"e\":1,\"##x\":2}}", NULL, NULL, NULL);
    expect_spans(t, "x", NULL, "1:0-1 2:0-1");
    expect_spans(t, "", NULL, "");
    tokenizer_free(t);
}

static void test_added_tokens(void)
{
    const char *added = "{\"id\":1,\"content\":\"<m>\",\"special\":true,\"lstrip\":true,\"rstrip\":true,\"normalized\":false},"
                        "{\"id\":2,\"content\":\"hey\",\"special\":false,\"single_word\":true,\"normalized\":true}";
    Tokenizer *t = mini("added", "{\"type\":\"Lowercase\"}", "{\"type\":\"WhitespaceSplit\"}", NULL, added, NULL, NULL);
    /* lstrip/rstrip swallow the spaces around <m>; "hey" is matched after lower-casing, but
     * not inside "heyo" (single_word) */
    expect_spans(t, "a  <m>  HEY heyo", NULL, "0:0-1 1:1-8 2:8-11 0:12-16");
    /* a non-normalized token is matched on the raw text only */
    expect_spans(t, "<M>", NULL, "0:0-3");
    CU_ASSERT_EQUAL(tokenizer_token_to_id(t, "hey"), 2);
    Encoding e;
    CU_ASSERT_EQUAL(tokenizer_encode(t, "<m>hey", NULL, 0, &e), 0);
    CU_ASSERT(e.n == 2 && e.special[0] == 1 && e.special[1] == 0);
    encoding_free(&e);
    tokenizer_free(t);
}

static void test_post_processors(void)
{
    const char *model = "{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[UNK]\":0,\"<s>\":1,\"</s>\":2}}";
    const char *tpl = "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},"
                      "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"pair\":[{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
                      "{\"SpecialToken\":{\"id\":\"</s>\",\"type_id\":1}},{\"Sequence\":{\"id\":\"B\",\"type_id\":1}}],"
                      "\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[1],\"tokens\":[\"<s>\"]},"
                      "\"</s>\":{\"id\":\"</s>\",\"ids\":[2],\"tokens\":[\"</s>\"]}}}";
    Tokenizer *t = mini("tpl", NULL, "{\"type\":\"WhitespaceSplit\"}", model, NULL, tpl, NULL);
    expect_spans(t, "a b", NULL, "1:0-0 0:0-1 0:2-3");
    expect_spans(t, "a", "b c", "0:0-1 2:0-0/1 0:0-1/1 0:2-3/1");
    CU_ASSERT_EQUAL(tokenizer_num_added(t, 0), 1);
    CU_ASSERT_EQUAL(tokenizer_special_id(t, TOK_BOS), 1);
    tokenizer_free(t);
    /* add_bos_token / add_eos_token of a Llama tokenizer_config.json rewrite the template */
    t = mini("bos_eos", NULL, "{\"type\":\"WhitespaceSplit\"}", model, NULL, tpl,
             "{\"tokenizer_class\":\"LlamaTokenizer\",\"bos_token\":\"<s>\",\"eos_token\":\"</s>\","
             "\"add_bos_token\":false,\"add_eos_token\":true,\"model_max_length\":4}");
    expect_spans(t, "a", "b", "0:0-1 2:0-0 0:0-1/1 2:0-0/1");
    Encoding e;
    CU_ASSERT_EQUAL(tokenizer_encode(t, "a b c d", NULL, 0, &e), 0); /* model_max_length 4: 3 + </s> */
    CU_ASSERT(e.n == 4 && e.truncated == 1 && e.ids[3] == 2);
    encoding_free(&e);
    tokenizer_free(t);
    /* BertProcessing: [CLS] A [SEP] B [SEP], B and its [SEP] of type 1 */
    t = mini("bertproc", NULL, "{\"type\":\"WhitespaceSplit\"}", model, NULL,
             "{\"type\":\"BertProcessing\",\"sep\":[\"</s>\",2],\"cls\":[\"<s>\",1]}", NULL);
    expect_spans(t, "a", "b", "1:0-0 0:0-1 2:0-0 0:0-1/1 2:0-0/1");
    CU_ASSERT_EQUAL(tokenizer_special_id(t, TOK_CLS), 1);
    CU_ASSERT_EQUAL(tokenizer_special_id(t, TOK_SEP), 2);
    tokenizer_free(t);
}

/* BPE details: SentencePiece-style byte fallback (each <0xNN> spans its whole character),
 * fuse_unk, ignore_merges, merges written as pairs and as strings. */
static void test_bpe_options(void)
{
    const char *v = "\"vocab\":{\"<unk>\":0,\"a\":1,\"b\":2,\"ab\":3,\"<0xC3>\":4,\"<0xA9>\":5,\"abab\":6,\"ba\":7}";
    char m[1024];
    snprintf(m, sizeof m, "{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"byte_fallback\":true,%s,\"merges\":[[\"a\",\"b\"]]}", v);
    Tokenizer *t = mini("bytefb", NULL, NULL, m, NULL, NULL, NULL);
    expect_spans(t, "ab\xc3\xa9" "b", NULL, "3:0-2 4:2-3 5:2-3 2:3-4");
    tokenizer_free(t);
    snprintf(m, sizeof m, "{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"fuse_unk\":true,%s,\"merges\":[\"a b\"]}", v);
    t = mini("fuseunk", NULL, NULL, m, NULL, NULL, NULL);
    expect_spans(t, "xyab", NULL, "0:0-2 3:2-4");
    tokenizer_free(t);
    snprintf(m, sizeof m, "{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"fuse_unk\":false,%s,\"merges\":[\"a b\"]}", v);
    t = mini("nofuse", NULL, NULL, m, NULL, NULL, NULL);
    expect_spans(t, "xyab", NULL, "0:0-1 0:1-2 3:2-4");
    tokenizer_free(t);
    /* "abab" is in the vocabulary but the merges alone give ab + ab */
    snprintf(m, sizeof m, "{\"type\":\"BPE\",\"ignore_merges\":%%s,%s,\"merges\":[\"a b\"]}", v);
    char m2[1100];
    snprintf(m2, sizeof m2, m, "false");
    t = mini("merges_on", NULL, NULL, m2, NULL, NULL, NULL);
    expect_spans(t, "abab", NULL, "3:0-2 3:2-4");
    tokenizer_free(t);
    snprintf(m2, sizeof m2, m, "true");
    t = mini("merges_off", NULL, NULL, m2, NULL, NULL, NULL);
    expect_spans(t, "abab", NULL, "6:0-4");
    tokenizer_free(t);
    /* merge rank order: "b a" before "a b" */
    snprintf(m, sizeof m, "{\"type\":\"BPE\",%s,\"merges\":[\"b a\",\"a b\"]}", v);
    t = mini("rank", NULL, NULL, m, NULL, NULL, NULL);
    expect_spans(t, "aba", NULL, "1:0-1 7:1-3");
    tokenizer_free(t);
}

/* Special-token ids from the shared dirs (with their tokenizer_config.json) and a byte-level
 * token inside a character spanning that character. */
static void test_specials_and_spans(void)
{
    char d[1100];
    snprintf(d, sizeof d, "%s", test_shared_path("reference/models/tiny-llama"));
    Tokenizer *t = load_dir(d);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(tokenizer_special_id(t, TOK_BOS), 1);
    CU_ASSERT_EQUAL(tokenizer_special_id(t, TOK_EOS), 2);
    CU_ASSERT_EQUAL(tokenizer_special_id(t, TOK_UNK), 0);
    CU_ASSERT_EQUAL(tokenizer_special_id(t, TOK_PAD), -1);
    CU_ASSERT_EQUAL(tokenizer_model_max_length(t), 0); /* 1e30: no limit */
    CU_ASSERT_EQUAL(tokenizer_num_added(t, 0), 1);
    tokenizer_free(t);
    snprintf(d, sizeof d, "%s", test_shared_path("reference/models/tiny-qwen2"));
    t = load_dir(d);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(tokenizer_special_id(t, TOK_EOS), 2256);
    CU_ASSERT_EQUAL(tokenizer_special_id(t, TOK_PAD), 2256);
    CU_ASSERT_EQUAL(tokenizer_special_id(t, TOK_BOS), -1);
    CU_ASSERT_EQUAL(tokenizer_model_max_length(t), 32768);
    CU_ASSERT_EQUAL(tokenizer_vocab_size(t), 2259);
    CU_ASSERT_STRING_EQUAL(tokenizer_id_to_token(t, 2258), "<|im_end|>");
    CU_ASSERT_EQUAL(tokenizer_num_added(t, 0), 0);
    /* an emoji (4 bytes) the tiny vocabulary cannot merge: every byte-level token spans it */
    Encoding e;
    CU_ASSERT_EQUAL_FATAL(tokenizer_encode(t, "a\xf0\x9f\x98\x80", NULL, 0, &e), 0);
    CU_ASSERT(e.n >= 3);
    for (int k = 1; k < e.n; k++)
        CU_ASSERT(e.offsets[k][0] == 1 && e.offsets[k][1] == 2);
    encoding_free(&e);
    tokenizer_free(t);
    /* Llama: a character outside the vocabulary becomes <0xNN> byte tokens, each spanning it */
    CU_ASSERT_PTR_NOT_NULL_FATAL(tj_llama);
    CU_ASSERT_EQUAL_FATAL(tokenizer_encode(tj_llama, "\xe2\x82\xac", NULL, 0, &e), 0); /* the euro sign */
    int bytes = 0;
    for (int k = 0; k < e.n; k++) {
        const char *s = tokenizer_id_to_token(tj_llama, e.ids[k]);
        if (s && !strncmp(s, "<0x", 3)) {
            bytes++;
            CU_ASSERT(e.offsets[k][0] == 0 && e.offsets[k][1] == 1);
        }
    }
    CU_ASSERT(bytes == 3 || e.n == 3); /* <s> ▁ + 3 bytes, or a merged piece */
    CU_ASSERT_EQUAL(e.ids[0], 1);
    encoding_free(&e);
}

/* add_prefix_space from tokenizer_config.json (RobertaTokenizerFast rebuilds its ByteLevel
 * pre-tokenizer): "Hello world" then encodes as the legacy tokenizer encodes " Hello world",
 * the prefix space belonging to no character of the text (the first token keeps its start, as
 * ByteLevel's trim_offsets with add_prefix_space does). */
static void test_add_prefix_space(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(leg_rob);
    char cmd[3000];
    const char *d = mkcase("roberta_aps");
    snprintf(cmd, sizeof cmd, "cp '%s/roberta/tokenizer.json' '%s/'", tmpdir, d);
    CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
    test_write_file(d, "tokenizer_config.json", "{\"tokenizer_class\": \"RobertaTokenizer\", \"add_prefix_space\": true}");
    Tokenizer *t = load_dir(d);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    const char *texts[] = {"Hello world", "a  b", " x", ""};
    for (int i = 0; i < 4; i++) {
        char spaced[64];
        snprintf(spaced, sizeof spaced, "%s%s", texts[i][0] == ' ' || !texts[i][0] ? "" : " ", texts[i]);
        Encoding e1, e2;
        CU_ASSERT_EQUAL_FATAL(tokenizer_encode(t, texts[i], NULL, 0, &e1), 0);
        CU_ASSERT_EQUAL_FATAL(tokenizer_encode(leg_rob, spaced, NULL, 0, &e2), 0);
        int same = e1.n == e2.n;
        for (int k = 0; same && k < e1.n; k++)
            same = e1.ids[k] == e2.ids[k];
        if (!same)
            fprintf(stderr, "\nadd_prefix_space: '%s' differs from legacy '%s'\n", texts[i], spaced);
        CU_ASSERT_TRUE(same);
        if (i == 0 && e1.n == 4) { /* <s> ĠHello Ġworld </s> */
            CU_ASSERT(e1.offsets[1][0] == 0 && e1.offsets[1][1] == 5);
            CU_ASSERT(e1.offsets[2][0] == 6 && e1.offsets[2][1] == 11);
        }
        encoding_free(&e1);
        encoding_free(&e2);
    }
    tokenizer_free(t);
}

/* Llama-3 / Qwen2-chat style: post_processor Sequence[ByteLevel, TemplateProcessing] on tiny-qwen2's
 * pipeline puts <|im_start|> (2257) in front of exactly the qwen2_2k reference ids. */
static void test_post_sequence(void)
{
    char src[1100];
    snprintf(src, sizeof src, "%s/tiny-qwen2/tokenizer.json", test_shared_path("reference/models"));
    json_t *tj = json_load_file(src, 0, NULL), *ref = json_load_file(test_shared_path("reference/tokenization/qwen2_2k.json"), JSON_ALLOW_NUL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tj);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
    json_t *post = json_loads("{\"type\":\"Sequence\",\"processors\":[{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
                              "\"trim_offsets\":false,\"use_regex\":false},{\"type\":\"TemplateProcessing\",\"single\":"
                              "[{\"SpecialToken\":{\"id\":\"<|im_start|>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\","
                              "\"type_id\":0}}],\"pair\":[{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"Sequence\":"
                              "{\"id\":\"B\",\"type_id\":1}}],\"special_tokens\":{\"<|im_start|>\":{\"id\":\"<|im_start|>\","
                              "\"ids\":[2257],\"tokens\":[\"<|im_start|>\"]}}}]}", 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(post);
    json_object_set_new(tj, "post_processor", post);
    const char *d = mkcase("qwen_seq");
    char dst[1100];
    snprintf(dst, sizeof dst, "%s/tokenizer.json", d);
    CU_ASSERT_EQUAL_FATAL(json_dump_file(tj, dst, 0), 0);
    json_decref(tj);
    Tokenizer *t = load_dir(d);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(tokenizer_num_added(t, 0), 1);
    json_t *items = json_object_get(ref, "items"), *it;
    size_t i, bad = 0;
    json_array_foreach(items, i, it)
    {
        json_t *jt = json_object_get(it, "text"), *ids = json_object_get(it, "ids");
        Encoding e;
        int ok = tokenizer_encode_n(t, json_string_value(jt), json_string_length(jt), NULL, 0, 0, &e) == 0;
        ok = ok && (size_t)e.n == json_array_size(ids) + 1 && e.ids[0] == 2257 && e.special[0] == 1;
        for (int k = 1; ok && k < e.n; k++)
            ok = e.ids[k] == json_integer_value(json_array_get(ids, k - 1));
        bad += !ok;
        encoding_free(&e);
    }
    CU_ASSERT_EQUAL(bad, 0);
    json_decref(ref);
    tokenizer_free(t);
}

/* ---- errors ---- */

static void expect_error(const char *name, const char *json, const char *want)
{
    const char *d = mkcase(name);
    test_write_file(d, "tokenizer.json", json);
    char err[1024] = "";
    Tokenizer *t = tokenizer_load(d, err, sizeof err);
    CU_ASSERT_PTR_NULL(t);
    if (t)
        tokenizer_free(t);
    if (!strstr(err, want) || !strstr(err, "tokenizer.json")) {
        fprintf(stderr, "\nerror '%s' lacks '%s'\n", err, want);
        CU_FAIL("error message");
    }
}

static void test_errors(void)
{
    const char *wp = "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"[UNK]\":0}}";
    char j[2048];
    snprintf(j, sizeof j,
             "{\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"WhitespaceSplit\"},"
             "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\\\\p{L}+\"},\"behavior\":\"Isolated\"}]},%s}", wp);
    expect_error("e_regex", j, "pre_tokenizer.pretokenizers[1].pattern.Regex: invalid regex");
    expect_error("e_unigram", "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",0.0]]}}",
                 "model.type: the Unigram model is not supported");
    snprintf(j, sizeof j, "{\"normalizer\":{\"type\":\"Precompiled\"},%s}", wp);
    expect_error("e_norm", j, "normalizer.type: unsupported normalizer 'Precompiled'");
    expect_error("e_merge", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\"]}}",
                 "model.merges[0]: merge uses a token missing from model.vocab ('ab')");
    expect_error("e_merge2", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[[\"a\"]]}}",
                 "model.merges[0]: expected");
    expect_error("e_syntax", "{\"model\": {,}", "tokenizer.json:1:");
    expect_error("e_nomodel", "{\"normalizer\":null}", "model: missing");
    snprintf(j, sizeof j, "{\"added_tokens\":[{\"id\":0,\"content\":\"x\"}],%s}", wp);
    expect_error("e_added", j, "added_tokens[0].content: id 0 of 'x' is '[UNK]'");
    snprintf(j, sizeof j, "{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a\"},\"behavior\":\"Sideways\"},%s}",
             wp);
    expect_error("e_beh", j, "pre_tokenizer.behavior: unknown behavior 'Sideways'");
    snprintf(j, sizeof j, "{\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":"
                          "{\"id\":\"<s>\"}}],\"pair\":[],\"special_tokens\":{}},%s}", wp);
    expect_error("e_tpl", j, "post_processor.special_tokens: '<s>' is used by the template but not defined");
    /* Templates that name a sequence twice (it would overrun the truncation budget), $B in the
     * single template, or a pair template without $B: refused, as found by fuzz_tokjson. */
#define SEQ(x, t) "{\"Sequence\":{\"id\":\"" x "\",\"type_id\":" #t "}}"
    snprintf(j, sizeof j, "{\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[" SEQ("A", 0) "," SEQ("A", 0)
                          "],\"pair\":[" SEQ("A", 0) "," SEQ("B", 1) "],\"special_tokens\":{}},%s}", wp);
    expect_error("e_tpl_twice", j, "post_processor.single: uses sequence $A 2 times");
    snprintf(j, sizeof j, "{\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[" SEQ("A", 0)
                          "],\"pair\":[" SEQ("A", 0) "," SEQ("B", 1) "," SEQ("B", 1) "],\"special_tokens\":{}},%s}", wp);
    expect_error("e_tpl_twice_b", j, "post_processor.pair: uses sequence $B 2 times");
    snprintf(j, sizeof j, "{\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[" SEQ("B", 0)
                          "],\"pair\":[" SEQ("A", 0) "," SEQ("B", 1) "],\"special_tokens\":{}},%s}", wp);
    expect_error("e_tpl_single_b", j, "post_processor.single: names sequence $B");
    snprintf(j, sizeof j, "{\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[" SEQ("A", 0)
                          "],\"pair\":[" SEQ("A", 0) "],\"special_tokens\":{}},%s}", wp);
    expect_error("e_tpl_pair_a", j, "post_processor.pair: must use both sequences");
#undef SEQ
    expect_error("e_dropout", "{\"model\":{\"type\":\"BPE\",\"dropout\":0.1,\"vocab\":{\"a\":0},\"merges\":[]}}",
                 "model.dropout: BPE dropout is random");
    expect_error("e_unk", "{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[U]\",\"vocab\":{\"a\":0}}}",
                 "model.unk_token: '[U]' is not in model.vocab");
    expect_error("e_bool", "{\"model\":{\"type\":\"BPE\",\"byte_fallback\":1,\"vocab\":{\"a\":0},\"merges\":[]}}",
                 "model.byte_fallback: expected true or false");
}

/* ---- speed ---- */

static double encode_all(Tokenizer *t, char **texts, size_t n, long *toks)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    *toks = 0;
    for (size_t i = 0; i < n; i++) {
        Encoding e;
        if (tokenizer_encode(t, texts[i], NULL, 0, &e) == 0) {
            *toks += e.n;
            encoding_free(&e);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
}

/* The 67,349 SST-2 training sentences through roberta-base's byte-level BPE: tokenizer.json
 * pipeline vs the hand-written legacy path, same process, alternating, best of 3 each. */
static void test_sst2_speed(void)
{
    size_t n;
    char **texts = test_sst2_train(&n, "speed");
    if (!texts)
        return;
    CU_ASSERT_PTR_NOT_NULL_FATAL(tj_rob);
    CU_ASSERT_PTR_NOT_NULL_FATAL(leg_rob);
    CU_ASSERT_EQUAL(n, 67349);
    double best_j = 1e30, best_l = 1e30;
    long tj_toks = 0, leg_toks = 0;
    for (int rep = 0; rep < 3; rep++) {
        double l = encode_all(leg_rob, texts, n, &leg_toks), j = encode_all(tj_rob, texts, n, &tj_toks);
        best_l = l < best_l ? l : best_l;
        best_j = j < best_j ? j : best_j;
    }
    printf("\n  SST-2 train, %zu sentences, one thread: legacy BPE %.3f s, tokenizer.json BPE %.3f s, "
           "ratio %.2f (best of 3, loaded machine)\n", n, best_l, best_j, best_j / best_l);
    CU_ASSERT_EQUAL(tj_toks, leg_toks);
    /* The ratio is a measurement, printed for the record (issue: <= 2x); not asserted, since wall-clock
     * times on a shared CI machine are noise (seen failing at -j2 under load while 1.0-1.3x alone). */
    test_free_texts(texts, n);
}

int main(void)
{
    test_require_shared("reference/tokenization/gpt2_2k.json");
    test_require_shared("data/vocab/roberta-base-merges.txt");
    if (!(tmpdir = test_mkdtemp("tokjson")))
        return 2;
    tj_gpt2 = json_only_copy("tiny-gpt2");
    tj_qwen = json_only_copy("tiny-qwen2");
    tj_llama = json_only_copy("tiny-llama");
    tj_bert = json_written("bert");
    tj_rob = json_written("roberta");
    char d[1100];
    snprintf(d, sizeof d, "%s", test_shared_path("reference/models/tiny-bert"));
    leg_bert = load_dir(d);
    snprintf(d, sizeof d, "%s", test_shared_path("reference/models/tiny-roberta"));
    leg_rob = load_dir(d);
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("tokenizer_json", NULL, NULL);
    CU_add_test(s, "gpt2_2k", test_gpt2);
    CU_add_test(s, "qwen2_2k", test_qwen2);
    CU_add_test(s, "llama_spm_2k", test_llama);
    CU_add_test(s, "bert_base_uncased_2735", test_bert);
    CU_add_test(s, "roberta_base_891", test_roberta);
    CU_add_test(s, "bert_same_as_legacy", test_bert_legacy);
    CU_add_test(s, "roberta_same_as_legacy", test_roberta_legacy);
    CU_add_test(s, "split_behaviours", test_split_behaviours);
    CU_add_test(s, "pretokenizers", test_pretokenizers);
    CU_add_test(s, "normalizers", test_normalizers);
    CU_add_test(s, "added_tokens", test_added_tokens);
    CU_add_test(s, "post_processors", test_post_processors);
    CU_add_test(s, "bpe_options", test_bpe_options);
    CU_add_test(s, "specials_and_spans", test_specials_and_spans);
    CU_add_test(s, "add_prefix_space", test_add_prefix_space);
    CU_add_test(s, "post_sequence", test_post_sequence);
    CU_add_test(s, "errors", test_errors);
    CU_add_test(s, "sst2_speed", test_sst2_speed);
    int rc = test_run_registry();
    Tokenizer *all[] = {tj_gpt2, tj_qwen, tj_llama, tj_bert, tj_rob, leg_bert, leg_rob};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        tokenizer_free(all[i]);
    test_rmtree(tmpdir);
    return rc;
}
