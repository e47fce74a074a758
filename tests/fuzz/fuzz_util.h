/* Helpers shared by the libFuzzer harnesses: a private scratch directory (on
 * /dev/shm when it exists, so the per-input file writes stay in memory) and
 * whole-file writes. Parsers under test read files by path, so each input is
 * written out and the path handed over. Any failure here is a harness bug:
 * abort so that libFuzzer reports it instead of silently testing nothing. */
#ifndef ATTRUN_FUZZ_UTIL_H
#define ATTRUN_FUZZ_UTIL_H
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_dir_buf[256];

static inline void fuzz_rmdir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir_buf);
    if (fuzz_dir_buf[0] && system(cmd) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", fuzz_dir_buf);
}

/* The scratch directory, created on first use and removed at exit. */
static inline const char *fuzz_dir(void)
{
    if (!fuzz_dir_buf[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(fuzz_dir_buf, sizeof fuzz_dir_buf, "%s/attrun-fuzz-XXXXXX", base);
        if (!mkdtemp(fuzz_dir_buf)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(fuzz_rmdir);
    }
    return fuzz_dir_buf;
}

/* "<scratch>/<name>" in buf. */
static inline const char *fuzz_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", fuzz_dir(), name);
    return buf;
}

/* Writes n bytes to <scratch>/<name> (replacing it); returns the path in buf. */
static inline const char *fuzz_write(char *buf, size_t len, const char *name, const uint8_t *data, size_t n)
{
    fuzz_path(buf, len, name);
    FILE *f = fopen(buf, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        perror(buf);
        abort();
    }
    return buf;
}

static inline void fuzz_unlink(const char *name)
{
    char p[512];
    unlink(fuzz_path(p, sizeof p, name));
}

/* Splits data at the first NUL byte: returns the length of the first part and sets
 * *rest / *nrest to what follows the NUL (NULL / 0 when there is no NUL). */
static inline size_t fuzz_split(const uint8_t *data, size_t n, const uint8_t **rest, size_t *nrest)
{
    const uint8_t *z = memchr(data, 0, n);
    if (!z) {
        *rest = NULL;
        *nrest = 0;
        return n;
    }
    *rest = z + 1;
    *nrest = n - (size_t)(z - data) - 1;
    return (size_t)(z - data);
}

/* A NUL-terminated malloc'ed copy. */
static inline char *fuzz_strndup(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, data, n);
    s[n] = 0;
    return s;
}

/* Error messages must be non-empty NUL-terminated strings that name something. */
static inline void fuzz_check_err(const char *err, const char *must_contain)
{
    if (!err[0] || memchr(err, 0, 1024) == NULL) {
        fprintf(stderr, "fuzz: empty or unterminated error message\n");
        abort();
    }
    if (must_contain && !strstr(err, must_contain)) {
        fprintf(stderr, "fuzz: error message \"%s\" does not name \"%s\"\n", err, must_contain);
        abort();
    }
}
#endif
