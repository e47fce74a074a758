#include "tests/testutil.h"
#include "engine/engine.h"
#include "io/corpus.h"
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

const char *test_shared_dir(void)
{
    static char dir[4096];
    const char *env = getenv("ATTRUN_SHARED");
    snprintf(dir, sizeof dir, "%s", env && *env ? env : "../shared");
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return NULL;
    return dir;
}

const char *test_shared_path(const char *rel)
{
    static char path[8192];
    const char *dir = test_shared_dir();
    if (!dir)
        return NULL;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return path;
}

void test_require_shared(const char *rel)
{
    const char *p = test_shared_path(rel);
    struct stat st;
    if (!p || stat(p, &st) != 0) {
        printf("SKIPPED: ../shared/%s is absent (reference data not available here)\n", rel);
        exit(TEST_SKIP_CODE);
    }
}

json_t *test_load_json(const char *path)
{
    gzFile f = gzopen(path, "rb"); /* reads plain files too */
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    int n;
    while ((n = gzread(f, buf + len, (unsigned)(cap - len))) > 0) {
        len += (size_t)n;
        if (len == cap)
            buf = realloc(buf, cap *= 2);
    }
    gzclose(f);
    json_error_t err;
    json_t *j = json_loadb(buf, len, 0, &err);
    free(buf);
    if (!j) {
        fprintf(stderr, "%s:%d: %s\n", path, err.line, err.text);
        exit(2);
    }
    return j;
}

static void flatten_into(const json_t *v, double **out, size_t *n, size_t *cap)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) flatten_into(e, out, n, cap);
        return;
    }
    if (*n == *cap)
        *out = realloc(*out, (*cap = *cap ? *cap * 2 : 256) * sizeof **out);
    (*out)[(*n)++] = json_number_value(v);
}

double *test_json_flatten(const json_t *arr, size_t *n)
{
    double *out = NULL;
    size_t cap = 0;
    *n = 0;
    flatten_into(arr, &out, n, &cap);
    return out;
}

double test_max_abs_d(const double *ref, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(ref[i]));
    return m;
}

double test_rel_err_f(const float *a, const double *ref, size_t n, double floor)
{
    double scale = fmax(test_max_abs_d(ref, n), floor), e = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (!(d <= e)) /* NaN-propagating */
            e = isnan(d) ? INFINITY : d;
    }
    return e / scale;
}

int test_run_registry(void)
{
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}

/* ATTRUN_TEST_PRECISION=bf16 runs a test program's engines in bf16: how docs/performance.md
 * measures what bf16 costs against the references (the programs' fp32 tolerances then fail:
 * read the errors they print). Unset: fp32, as always. */
__attribute__((constructor)) static void test_precision_from_env(void)
{
    const char *p = getenv("ATTRUN_TEST_PRECISION");
    if (p && engine_set_precision(p)) {
        fprintf(stderr, "ATTRUN_TEST_PRECISION=%s: unavailable (%s)\n", p, engine_bf16_status());
        exit(77);
    }
    /* ATTRUN_TEST_ATTENTION=blocked: the same programs on the blocked attention kernel (issue 17:
     * every reference test must pass at its fp32 tolerance on it too). */
    const char *k = getenv("ATTRUN_TEST_ATTENTION");
    if (k && engine_set_attention_kernel(k)) {
        fprintf(stderr, "ATTRUN_TEST_ATTENTION=%s: not a kernel (blas, blocked)\n", k);
        exit(2);
    }
}

float test_frand(unsigned long long *state)
{
    unsigned long long x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    double u = (double)((x * 2685821657736338717ull) >> 11) / 9007199254740992.0;
    return (float)(2.0 * u - 1.0);
}

float *test_randv(size_t n, float scale, unsigned long long *state)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; v && i < n; i++)
        v[i] = scale * test_frand(state);
    return v;
}

Model *test_random_classifier(ModelArch arch, unsigned long long seed, float scale)
{
    return test_random_classifier_sized(arch, 40, 2, seed, scale);
}

Model *test_random_classifier_sized(ModelArch arch, int P, int L, unsigned long long seed, float scale)
{
    ModelConfig c;
    memset(&c, 0, sizeof c);
    c.arch = arch;
    c.head = HEAD_CLASSIFIER;
    c.V = 120;
    c.P = P;
    c.TV = arch == ARCH_ROBERTA ? 1 : 2;
    c.D = 32;
    c.L = L;
    c.NH = 4;
    c.FF = 64;
    c.C = 3;
    c.act = ACT_GELU;
    c.head_act = ACT_TANH;
    c.ln_eps = 1e-12f;
    c.pad_id = arch == ARCH_ROBERTA ? 1 : 0;
    c.position_offset = arch == ARCH_ROBERTA ? 2 : 0;
    snprintf(c.model_type, sizeof c.model_type, "%s", arch == ARCH_ROBERTA ? "roberta" : "bert");
    return model_random(&c, seed, scale);
}

void test_fill_ids(int *ids, int n)
{
    for (int t = 0; t < n; t++)
        ids[t] = 7 + (t * 37) % 100;
}

Example test_example(long index, int T, const int *ids, const int *special)
{
    Example ex;
    memset(&ex, 0, sizeof ex);
    ex.index = index;
    ex.T = T;
    ex.ids = ids;
    ex.special = special;
    ex.target = 1;
    ex.mask_id = 5;
    ex.unk_id = 6;
    return ex;
}

const char *test_mkdtemp(const char *name)
{
    static char dir[256];
    snprintf(dir, sizeof dir, "/tmp/attrun_%s_XXXXXX", name);
    return mkdtemp(dir);
}

void test_rmtree(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

const char *test_subdir(const char *parent, const char *name)
{
    static char d[512];
    snprintf(d, sizeof d, "%s/%s", parent, name);
    mkdir(d, 0700);
    return d;
}

void test_write_file(const char *dir, const char *name, const char *content)
{
    char p[1100];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    fputs(content, f);
    fclose(f);
}

char **test_sst2_train(size_t *n, const char *what)
{
    const char *path = test_shared_path("data/sst2/train.tsv");
    struct stat st;
    *n = 0;
    if (!path || stat(path, &st) != 0) {
        printf("\n  (train.tsv absent: %s not measured)\n", what);
        return NULL;
    }
    char err[512];
    CorpusSpec cs = {.path = path};
    Corpus *c = corpus_open(&cs, err, sizeof err);
    if (!c) {
        CU_FAIL(err);
        return NULL;
    }
    size_t cap = 1 << 16;
    char **texts = malloc(cap * sizeof *texts);
    CorpusRecord r;
    while (corpus_next(c, &r, err, sizeof err) == 1) {
        if (*n == cap)
            texts = realloc(texts, (cap *= 2) * sizeof *texts);
        texts[(*n)++] = strdup(r.text);
    }
    corpus_close(c);
    return texts;
}

void test_free_texts(char **texts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
}

double test_json_rel_err(const float *a, size_t n, const json_t *ref, double floor)
{
    size_t m;
    double *r = test_json_flatten(ref, &m);
    double e = m == n ? test_rel_err_f(a, r, n, floor) : 1e9;
    if (m != n)
        printf("    size mismatch: %zu values vs %zu in the reference\n", n, m);
    free(r);
    return e;
}
