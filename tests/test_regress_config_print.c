/* Regression (found by tests/fuzz/fuzz_yaml_config): config_to_yaml must print a
 * configuration as YAML that reads back to the same configuration (the printed form
 * is the spool's job.yaml that --resume checks). put_q in runner/config.c escapes
 * only bytes < 0x20, so a string holding DEL (written "\x7f" in a double-quoted
 * YAML scalar), a C1 control such as U+0080, or U+FFFE is printed raw, and libyaml
 * refuses to read such characters unescaped ("control characters are not allowed").
 * Minimal fuzzer input: model: m / corpus: c / out: "\x7f". */
#include "runner/config.h"
#include "tests/testutil.h"
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void roundtrip(const char *out_scalar)
{
    char yaml[256], err[512] = "";
    snprintf(yaml, sizeof yaml, "model: m\ncorpus: c.tsv\nout: %s\n", out_scalar);
    RunConfig c, d;
    config_init(&c);
    CU_ASSERT_EQUAL_FATAL(config_parse_string(&c, yaml, strlen(yaml), "job.yaml", err, sizeof err), 0);
    char *y = config_to_yaml(&c, 0);
    config_init(&d);
    int rc = config_parse_string(&d, y, strlen(y), "printed.yaml", err, sizeof err);
    if (rc)
        fprintf(stderr, "\n  out: %s -> printed YAML does not parse: %s\n", out_scalar, err);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc == 0) {
        CU_ASSERT_STRING_EQUAL(d.out, c.out);
        char *y2 = config_to_yaml(&d, 0);
        CU_ASSERT_STRING_EQUAL(y2, y);
        free(y2);
    }
    free(y);
    config_free(&c);
    config_free(&d);
}

static void test_del(void) { roundtrip("\"a\\x7fb.h5\""); }
static void test_c1(void) { roundtrip("\"a\\x80b.h5\""); }
static void test_nonchar(void) { roundtrip("\"a\\uFFFEb.h5\""); }
/* controls below 0x20 already work: kept so a fix does not break them */
static void test_tab_newline(void) { roundtrip("\"a\\tb\\nc.h5\""); }

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("regress_config_print", NULL, NULL);
    CU_add_test(s, "DEL prints as an escape", test_del);
    CU_add_test(s, "C1 control U+0080 prints as an escape", test_c1);
    CU_add_test(s, "U+FFFE prints as an escape", test_nonchar);
    CU_add_test(s, "tab and newline round-trip", test_tab_newline);
    return test_run_registry();
}
