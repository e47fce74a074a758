/* The result schema: every dataset of the HDF5 result file (docs/hdf5-schema.md), declared
 * once in runner/schema.c's table with its row kind, type, shape, description, when it is
 * present, and how one example fills its rows.
 *
 * schema_columns() turns the table into the columns of one job (per method, per statistic,
 * ...), each holding its path, shape and the h5out handle it is written through, so that the
 * assembly (runner/assemble.c) creates, fills and writes datasets without knowing any of
 * them and without looking a name up per example. Adding a dataset is one table entry (and
 * its fill callback) in runner/schema.c plus its row in docs/hdf5-schema.md, which
 * tests/test_schema_doc.c checks against the table. */
#ifndef ATTRUN_SCHEMA_H
#define ATTRUN_SCHEMA_H
#include "io/h5out.h"
#include "io/tokenizer.h"
#include "runner/analysis.h"
#include "runner/config.h"
#include "runner/job.h"
#include <stdint.h>

/* What the rows of a dataset are; dims[0] of the dataset is their number. */
typedef enum {
    ROW_EXAMPLE = 0, /* one per example: N */
    ROW_TOKEN,       /* one per token of every example: M (tokens/offsets) */
    ROW_ATTN,        /* one per attention element, L·H·T·T per example (attention/offsets) */
    ROW_OFFSETS,     /* N + 1 offsets, written once by rank 0 */
    ROW_SKIPPED      /* one per skipped corpus row: S */
} RowKind;

/* One example's results after merge and finalize. */
typedef struct {
    BaseResult base;
    AttrResult *res;    /* (n_methods) */
    ExampleAnalysis an; /* agreement, faithfulness, conductance statistics */
} ExResult;

/* The job, as the table's predicates and callbacks see it. */
typedef struct {
    const RunConfig *cfg;
    const ModelConfig *mc;
    const Examples *ex;
    const Tokenizer *tok;
    const int *ndelta; /* (n_methods) deltas per example of each method, agreed between ranks */
    int cond_mi;       /* index of conductance in cfg->methods, or -1 */
} SchemaJob;

/* One example, for the fill callbacks. */
typedef struct {
    const SchemaJob *j;
    long e;            /* example index */
    int T;             /* its tokens */
    const ExResult *o; /* its results */
} SchemaRow;

typedef struct SchemaEntry SchemaEntry;

/* One dataset of one job: an instance of a table entry. */
typedef struct {
    const SchemaEntry *def;
    char path[160];
    int idx;            /* method index (per-method entries), statistic index, else -1 */
    RowKind kind;
    H5OutType type;
    int rank;           /* 1..4 */
    uint64_t inner[3];  /* dims[1], dims[2], dims[3] (0 = absent) */
    size_t width;       /* elements per row */
    const char *doc;
    int serial;         /* written by rank 0 in the serial file (strings), not in the collective rounds */
    int dset;           /* h5out handle, once created */
    unsigned char *buf; /* rows of the current block */
    size_t cap;
} Column;

/* The columns of job j, in creation order (out: room for SCHEMA_MAX_COLUMNS). Returns their number. */
enum { SCHEMA_MAX_COLUMNS = 256 };
int schema_columns(const SchemaJob *j, Column *out);

/* Parallel columns: example r's rows at dst (the column's first row of that example). */
void schema_fill(const Column *c, const SchemaRow *r, void *dst);
/* ROW_OFFSETS columns: all N + 1 values at dst. */
void schema_fill_offsets(const Column *c, const SchemaJob *j, void *dst);
/* Serial columns: creates and writes the whole dataset in h (rank 0). Returns 0 or -1. */
int schema_write_serial(const Column *c, const SchemaJob *j, H5Out *h, char *err, size_t errlen);
/* Attributes a column carries besides its description (k_percent, epsilon, names). Collective. */
int schema_write_attrs(const Column *c, const SchemaJob *j, H5Out *h, char *err, size_t errlen);

/* The table as docs/hdf5-schema.md writes it: for each dataset, its path (`<method>`,
 * `<name>` for the per-method and per-statistic ones) and "type [shape]" (e.g.
 * "float32 [M, D]"). Calls f for every entry in table order. */
void schema_describe(void (*f)(const char *path, const char *type_shape, void *arg), void *arg);

size_t schema_type_size(H5OutType t);
#endif
