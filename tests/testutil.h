/* Shared helpers for attrun's CUnit tests: locating ../shared, loading the
 * Captum reference JSON files (plain or .gz), and comparing arrays with a
 * tolerance relative to the largest reference magnitude. */
#ifndef ATTRUN_TESTUTIL_H
#define ATTRUN_TESTUTIL_H
#include "engine/attribution.h"
#include <jansson.h>
#include <stddef.h>

#define TEST_SKIP_CODE 77

/* Directory of ../shared (env ATTRUN_SHARED), or NULL when it does not exist. */
const char *test_shared_dir(void);
/* "<shared>/<rel>" in a static buffer; NULL when shared is absent. */
const char *test_shared_path(const char *rel);
/* Prints "SKIPPED: <why>" and exits 77 when ../shared/<rel> is absent. */
void test_require_shared(const char *rel);

/* A new directory /tmp/attrun_<name>_XXXXXX, in a static buffer (one a test program; NULL when
 * it cannot be made); test_rmtree removes a directory and all it holds (a note when it cannot). */
const char *test_mkdtemp(const char *name);
void test_rmtree(const char *dir);
/* "<parent>/<name>", made (0700) if absent, in a static buffer. */
const char *test_subdir(const char *parent, const char *name);
/* Writes <dir>/<name> = content. */
void test_write_file(const char *dir, const char *name, const char *content);
/* The texts of ../shared/data/sst2/train.tsv (67,349 sentences) as the corpus reader gives them,
 * malloc'ed, or NULL (after a note that `what` is not measured) when the file is absent. */
char **test_sst2_train(size_t *n, const char *what);
void test_free_texts(char **texts, size_t n);

/* Loads a JSON file; a name ending in .gz is gunzipped. Aborts the test on error. */
json_t *test_load_json(const char *path);
/* Flattens a nested JSON array of numbers into a malloc'ed double array. */
double *test_json_flatten(const json_t *arr, size_t *n);

/* max |a[i] - ref[i]| / max(max|ref|, floor). */
double test_rel_err_f(const float *a, const double *ref, size_t n, double floor);
/* The same against a JSON array (any nesting); 1e9 (and a note) when the sizes differ. */
double test_json_rel_err(const float *a, size_t n, const json_t *ref, double floor);
double test_max_abs_d(const double *ref, size_t n);

/* The seeded random classifier of the engine tests that need no reference data (test_methods_chunk,
 * test_ig_auto): BERT or RoBERTa (its pad id and position offset), V 120, P 40, D 32, 2 layers of
 * 4 heads, FF 64, 3 classes, GELU with a tanh pooler; model_random's weights of `scale`.
 * NULL on failure. */
Model *test_random_classifier(ModelArch arch, unsigned long long seed, float scale);
/* The same with P positions and L layers (long texts, deeper stacks). */
Model *test_random_classifier_sized(ModelArch arch, int P, int L, unsigned long long seed, float scale);
/* Uniform in [-1, 1) from the xorshift64* generator *state (nonzero); n such values times scale in
 * a malloc'd array (NULL when out of memory). */
float test_frand(unsigned long long *state);
float *test_randv(size_t n, float scale, unsigned long long *state);
/* ids[t] = 7 + (37 t mod 100): varied, and never a pad (0/1), mask (5) or unk (6) id. */
void test_fill_ids(int *ids, int n);
/* An Example of T tokens over ids/special (kept, not copied): target 1, mask id 5, unk id 6. */
Example test_example(long index, int T, const int *ids, const int *special);

/* Runs the CUnit registry in basic mode; returns the process exit code
 * (0 when every test passed, 1 otherwise). */
int test_run_registry(void);
#endif
