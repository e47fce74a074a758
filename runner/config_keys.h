/* The job configuration's keys as data: one ConfigKey per key, in the order the resolved
 * configuration is printed and configs/README.md lists them. Parsing (runner/config.c),
 * range checks, defaults (config_init), config_to_yaml, the lists of known keys in error
 * messages and the key table of configs/README.md (`attrun config --keys-markdown`) all
 * read this one table (runner/config_keys.c). */
#ifndef ATTRUN_CONFIG_KEYS_H
#define ATTRUN_CONFIG_KEYS_H
#include "runner/config.h"
#include <stddef.h>
#include <yaml.h>

typedef enum {
    CK_SECTION, /* a map of the keys below it ("ig" holds ig.steps, ig.rule) */
    CK_STR,     /* a non-empty string (char *) */
    CK_INT,     /* int in [ilo, ihi] */
    CK_LONG,    /* long in [ilo, ihi] */
    CK_U64,     /* uint64_t, any non-negative integer */
    CK_DOUBLE,  /* finite double in [dlo, dhi] */
    CK_BOOL,    /* int 0 / 1 */
    CK_WORD,    /* one of words[]; the int (or enum) field gets vals[i] (i when vals is NULL) */
    CK_CUSTOM,  /* parse / print callbacks (methods, baseline, target) */
} ConfigKeyType;

enum {
    CKF_NULLABLE = 1, /* CK_STR: null / ~ / empty plain scalar means "not set" (NULL) */
    CKF_RUNTIME = 2,  /* cannot change results (threads, chunk): left out of the results-only YAML */
    CKF_BARE = 4,     /* CK_SECTION: a plain scalar sets the key `<section>.path` (corpus: data.tsv) */
};

/* Parser state shared by the setters: the document (for line numbers) and the message buffer. */
typedef struct {
    const char *name; /* file name, or "--set" */
    yaml_document_t *doc;
    char *err;
    size_t errlen;
} ConfigCtx;

/* Text being built by config_to_yaml. */
typedef struct {
    char *s;
    size_t n, cap;
} ConfigBuf;

typedef struct ConfigKey {
    const char *key;          /* dotted path: "ig.steps" */
    ConfigKeyType type;
    size_t off;               /* offsetof(RunConfig, field) */
    long ilo, ihi;            /* CK_INT / CK_LONG range (inclusive) */
    double dlo, dhi;          /* CK_DOUBLE range (inclusive) */
    const char *const *words; /* CK_WORD: allowed words, NULL-terminated */
    const int *vals;          /* CK_WORD: the value stored for words[i] (NULL: i) */
    const char *noun;         /* CK_WORD: "unknown NOUN 'x' (list)" instead of "'x' is not one of: list" */
    const char *def;          /* default as a YAML value (as --set takes it); NULL: required or section */
    const char *def_doc;      /* configs/README.md's default column when it says more than `def` */
    const char *missing;      /* required keys: what to give, for "required key is missing (...)" */
    const char *doc;          /* configs/README.md's values column (one line); NULL: no row */
    int flags;                /* CKF_* */
    int (*parse)(ConfigCtx *x, RunConfig *c, const yaml_node_t *n, const char *key);
    void (*print)(ConfigBuf *b, const RunConfig *c);
} ConfigKey;

extern const ConfigKey CONFIG_KEYS[];
extern const int CONFIG_NKEYS;

/* The key with this dotted path, or NULL. */
const ConfigKey *config_key_find(const char *key);
/* "a, b, c": the keys directly under `section` ("" for the top level), in table order. */
void config_key_list(const char *section, char *out, size_t len);

/* Errors: "NAME:LINE: key: what" (or "NAME: key: what" without a node or for --set). Returns -1. */
int config_fail(ConfigCtx *x, const yaml_node_t *node, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The scalar's text, or NULL with "expected a single value" set. */
const char *config_scalar(ConfigCtx *x, const yaml_node_t *n, const char *key);
/* A plain null / ~ / empty scalar. */
int config_is_null(const yaml_node_t *n);
/* A non-empty string into *out (freed first); allow_null: a null scalar sets NULL. */
int config_get_str(ConfigCtx *x, const yaml_node_t *n, const char *key, int allow_null, char **out);

/* Sets one leaf key from a YAML node through its table entry. 0, or -1 with the message in x->err. */
int config_key_set(ConfigCtx *x, RunConfig *c, const ConfigKey *k, const yaml_node_t *n);
/* Appends the key's value as config_to_yaml prints it (no key, no newline). */
void config_key_print(ConfigBuf *b, const RunConfig *c, const ConfigKey *k);

void config_buf_put(ConfigBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A string as a YAML double-quoted scalar that always reads back ("null" for NULL). */
void config_buf_quoted(ConfigBuf *b, const char *s);

/* configs/README.md's key table (markdown, header included), from CONFIG_KEYS. */
char *config_keys_markdown(void);
#endif
