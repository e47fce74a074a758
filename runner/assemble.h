/* Assembly: after every unit is spooled, each rank takes a contiguous range of
 * examples (balanced by tokens), merges each example's partials from the spools
 * (exact integer sums: the same bits for any number of ranks and any chunking),
 * finalizes them, and writes its rows of every dataset into one HDF5 file with
 * collective parallel writes. Rank 0 then adds the strings, the root attributes
 * and sets `complete` = 1.
 *
 * The file is the one the job created at its start (write_root_attrs, complete = 0):
 * it is opened, never truncated. Which datasets it gets, their shapes and how an
 * example fills their rows is declared once in the schema table (runner/schema.h);
 * adding a dataset is a table entry there, nothing here. */
#ifndef ATTRUN_ASSEMBLE_H
#define ATTRUN_ASSEMBLE_H
#include "io/h5out.h"
#include "io/tokenizer.h"
#include "runner/config.h"
#include "runner/job.h"
#include <mpi.h>

typedef struct {
    const RunConfig *cfg;
    const Model *model;
    Engine *eng;
    const Tokenizer *tok;
    const Examples *ex;        /* texts kept on rank 0 */
    const MethodSpec *specs;   /* cfg->n_methods entries */
    const char *spool_dir;
    MPI_Comm comm;
    /* provenance, same on every rank */
    const char *config_yaml, *weights_sha256, *start_time;
} AssembleInput;

typedef struct {
    double seconds;            /* whole assembly (max over ranks) */
    double write_seconds;      /* inside HDF5 create/write/close calls (max over ranks) */
    double bytes;              /* uncompressed bytes written by all ranks */
    long long file_bytes;      /* size of the finished file (rank 0) */
} AssembleStats;

/* Collective. Returns 0, or -1 with err (the same outcome on every rank). */
int assemble(const AssembleInput *in, AssembleStats *st, char *err, size_t errlen);

/* The root attributes written at job start and again at the end (rank 0, serial file).
 * complete: 0 or 1; end_time may be NULL. */
int write_root_attrs(H5Out *h, const AssembleInput *in, int nranks, const char *end_time, int complete,
                     char *err, size_t errlen);
/* Current UTC time as ISO 8601 ("2024-05-01T12:00:00Z"). */
void iso_time_now(char *buf, size_t n);
#endif
