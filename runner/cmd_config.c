/* attrun config CONFIG.yaml [--set key=value ...]: reads and checks a job configuration as
 * `attrun run` does (same parser, same checks, same messages) and prints it resolved, every
 * key with its value, without loading a model or touching any file.
 * attrun config --keys-markdown: the key table of configs/README.md, from the key table
 * (runner/config_keys.c). */
#include "runner/commands.h"
#include "runner/config.h"
#include "runner/config_keys.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: attrun config CONFIG.yaml [--set key=value ...]\n"
               "       attrun config --keys-markdown\n"
               "\n"
               "Reads and checks a job configuration exactly as `attrun run` does and prints it\n"
               "resolved (every key, defaults filled in) as YAML on stdout. Loads no model and\n"
               "writes no file: a quick check of a configuration before a batch job.\n"
               "\n"
               "  --set key=value    override one key (as for attrun run; the value is YAML)\n"
               "  --keys-markdown    print the key table of configs/README.md (key, default, values)\n"
               "  -h, --help         this help\n"
               "\n"
               "Exit status: 0 when the configuration is valid, 2 otherwise (the message names the\n"
               "file, the line and the key).\n");
}

int cmd_config(int argc, char **argv)
{
    const char *path = NULL;
    char **sets = calloc((size_t)argc + 1, sizeof *sets);
    int nsets = 0, rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            usage(stdout);
            rc = 0;
            goto out;
        }
        if (!strcmp(s, "--keys-markdown")) {
            char *md = config_keys_markdown();
            fputs(md, stdout);
            free(md);
            rc = 0;
            goto out;
        }
        if (!strcmp(s, "--set")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "attrun config: --set needs key=value\n");
                goto out;
            }
            sets[nsets++] = argv[++i];
        } else if (!strncmp(s, "--set=", 6)) {
            sets[nsets++] = (char *)s + 6;
        } else if (s[0] == '-' && s[1]) {
            fprintf(stderr, "attrun config: unknown option '%s' (see attrun config --help)\n", s);
            goto out;
        } else if (!path) {
            path = s;
        } else {
            fprintf(stderr, "attrun config: more than one config file ('%s' and '%s')\n", path, s);
            goto out;
        }
    }
    if (!path) {
        fprintf(stderr, "attrun config: missing CONFIG.yaml (see attrun config --help)\n");
        goto out;
    }
    RunConfig c;
    char msg[4096] = "";
    if (config_load(&c, path, sets, nsets, msg, sizeof msg)) {
        fprintf(stderr, "attrun config: %s\n", msg);
    } else {
        if (config_warnings(&c, msg, sizeof msg))
            fprintf(stderr, "attrun config: warning: %s\n", msg);
        char *y = config_to_yaml(&c, 0);
        fputs(y, stdout);
        free(y);
        rc = 0;
    }
    config_free(&c);
out:
    free(sets);
    return rc;
}
