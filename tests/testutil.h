/* Shared helpers for attrun's CUnit tests: locating ../shared, loading the
 * Captum reference JSON files (plain or .gz), and comparing arrays with a
 * tolerance relative to the largest reference magnitude. */
#ifndef ATTRUN_TESTUTIL_H
#define ATTRUN_TESTUTIL_H
#include <jansson.h>
#include <stddef.h>

#define TEST_SKIP_CODE 77

/* Directory of ../shared (env ATTRUN_SHARED), or NULL when it does not exist. */
const char *test_shared_dir(void);
/* "<shared>/<rel>" in a static buffer; NULL when shared is absent. */
const char *test_shared_path(const char *rel);
/* Prints "SKIPPED: <why>" and exits 77 when ../shared/<rel> is absent. */
void test_require_shared(const char *rel);

/* Loads a JSON file; a name ending in .gz is gunzipped. Aborts the test on error. */
json_t *test_load_json(const char *path);
/* Flattens a nested JSON array of numbers into a malloc'ed double array. */
double *test_json_flatten(const json_t *arr, size_t *n);

/* max |a[i] - ref[i]| / max(max|ref|, floor). */
double test_rel_err_f(const float *a, const double *ref, size_t n, double floor);
double test_max_abs_d(const double *ref, size_t n);

/* Runs the CUnit registry in basic mode; returns the process exit code
 * (0 when every test passed, 1 otherwise). */
int test_run_registry(void);
#endif
