/* Fuzzes the YAML job configuration of `attrun run` (runner/config.c).
 * Input: YAML text, optionally followed by NUL-separated `--set key=value`
 * assignments (at most 4). Checked beyond "no crash, no leak": every refusal is
 * a non-empty message naming the source ("fuzz.yaml:LINE: key: ..." or "--set ...");
 * an accepted configuration prints (config_to_yaml) as YAML that parses back to
 * the same configuration (the printed form is what --resume compares). */
#include "fuzz_util.h"
#include "runner/config.h"

static void roundtrip(const RunConfig *c, int results_only)
{
    char *y = config_to_yaml(c, results_only);
    RunConfig d;
    char err[1024] = "";
    config_init(&d);
    if (config_parse_string(&d, y, strlen(y), "printed.yaml", err, sizeof err) != 0) {
        fprintf(stderr, "fuzz: printed configuration does not parse back: %s\n---\n%s---\n", err, y);
        abort();
    }
    char *y2 = config_to_yaml(&d, results_only);
    if (strcmp(y, y2) != 0) {
        fprintf(stderr, "fuzz: printed configuration changes when read back:\n---\n%s---\n%s---\n", y, y2);
        abort();
    }
    free(y2);
    free(y);
    config_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *rest;
    size_t nrest, n = fuzz_split(data, size, &rest, &nrest);
    RunConfig c;
    char err[1024] = "";
    config_init(&c);
    if (config_parse_string(&c, (const char *)data, n, "fuzz.yaml", err, sizeof err) != 0) {
        fuzz_check_err(err, "fuzz.yaml");
        config_free(&c);
        return 0;
    }
    for (int k = 0; k < 4 && rest; k++) {
        const uint8_t *next;
        size_t nnext, m = fuzz_split(rest, nrest, &next, &nnext);
        char *a = fuzz_strndup(rest, m);
        err[0] = 0;
        int rc = config_set(&c, a, err, sizeof err);
        free(a);
        if (rc != 0) {
            fuzz_check_err(err, "--set");
            config_free(&c);
            return 0;
        }
        rest = next;
        nrest = nnext;
    }
    if (config_check(&c, err, sizeof err) == 0) {
        for (int i = 0; i < c.n_methods; i++) {
            MethodSpec s;
            config_method_spec(&c, c.methods[i], &s);
        }
        roundtrip(&c, 0);
        roundtrip(&c, 1);
    } else {
        fuzz_check_err(err, NULL);
    }
    config_free(&c);
    return 0;
}
