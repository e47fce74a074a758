/* The HDF5 result file (schema: docs/hdf5-schema.md). The only place that calls
 * HDF5. Two ways to open a file:
 *   parallel (MPI-IO, every rank of `comm` calls every function marked
 *     "collective" with the same arguments except the row ranges and buffers):
 *     datasets are created with their final sizes, chunked and deflate-compressed,
 *     and each rank writes its own contiguous rows with a collective write (HDF5
 *     1.10 writes filtered datasets in parallel only collectively);
 *   serial (one process): attributes, variable-length strings, the `complete` flag.
 * A dataset is addressed by its path ("/attributions/ig/token_sum"); missing
 * groups are created. Adding a dataset to the schema is one h5out_dataset call
 * plus h5out_write_rows calls. Memory and file types are the same (little-endian,
 * as on x86-64/aarch64), so no type conversion breaks collective I/O; float16
 * data is passed as IEEE half bits (h5out_f32_to_f16). Errors: -1 / NULL with a
 * message naming the file and dataset in err; the collective functions return the same
 * value on every rank (a write can fail on one rank only), with the message of the lowest
 * failing rank. */
#ifndef ATTRUN_H5OUT_H
#define ATTRUN_H5OUT_H
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { H5O_F32 = 0, H5O_F16, H5O_I32, H5O_I64, H5O_I16, H5O_I8 } H5OutType;

typedef struct H5Out H5Out;

/* Collective over comm: creates (truncates) path for parallel writing. */
H5Out *h5out_create_parallel(const char *path, MPI_Comm comm, char *err, size_t errlen);
/* Collective over comm: opens an existing file (e.g. the one the job created at its start with
 * its root attributes) for parallel writing; nothing in it is truncated. */
H5Out *h5out_open_parallel(const char *path, MPI_Comm comm, char *err, size_t errlen);
/* One process: creates (truncate = 1) or opens for writing (truncate = 0). */
H5Out *h5out_open_serial(const char *path, int truncate, char *err, size_t errlen);
/* Writes everything HDF5 still caches (chunks, metadata) to the file and, for parallel
 * files, agrees on the outcome: collective, every rank returns the same value; on failure
 * every rank gets the message of the lowest failing rank. Returns 0 or -1 (a full disk
 * says "disk full / file too large"). The file stays open and writable either way. */
int h5out_flush(H5Out *h, char *err, size_t errlen);
/* Flushes (h5out_flush) and closes (collective for parallel files); h is freed either way.
 * Returns 0 or -1. When the flush fails the file is NOT closed but abandoned, open, in
 * HDF5 (h5out_abandoned): HDF5 1.10.8 frees a file whose close fails yet keeps its id,
 * and touching that id again segfaults. */
int h5out_close(H5Out *h, char *err, size_t errlen);
/* How many files this process abandoned (see h5out_close). HDF5 closes every open file in
 * its own shutdown (exit() via atexit, and MPI_Finalize via an MPI_COMM_SELF attribute),
 * which for an abandoned file crashes inside HDF5 (H5F__close_cb) whatever we do. So while
 * this is > 0 the process must not shut HDF5 down: the caller (runner/) leaves with
 * _exit() after printing its error, without MPI_Finalize or exit(). */
int h5out_abandoned(void);

/* Collective: a dataset of `rank` (1..4) dimensions; dims[0] are the rows split between
 * ranks. `doc` (may be NULL) is stored as the attribute "description". */
int h5out_dataset(H5Out *h, const char *path, H5OutType type, int rank, const uint64_t *dims,
                  const char *doc, char *err, size_t errlen);
/* Collective: writes rows [row0, row0 + nrows) from buf (nrows × the row size, in the
 * dataset's type). A rank with nothing to write passes nrows = 0 (buf may be NULL). */
int h5out_write_rows(H5Out *h, const char *path, uint64_t row0, uint64_t nrows, const void *buf,
                     char *err, size_t errlen);
/* The handle of a dataset created in h (by h5out_dataset), or -1: h5out_write_rows_at writes
 * through it without looking the path up again. */
int h5out_handle(const H5Out *h, const char *path);
int h5out_write_rows_at(H5Out *h, int dset, uint64_t row0, uint64_t nrows, const void *buf, char *err,
                        size_t errlen);

/* Serial: a 1-D dataset of n variable-length UTF-8 strings (NULL entries are stored as ""). */
int h5out_strings(H5Out *h, const char *path, const char *const *s, uint64_t n, const char *doc,
                  char *err, size_t errlen);
/* Attributes on an object ("/" for the root, or a dataset/group path). In a parallel
 * file these are collective and every rank must pass the same value. */
int h5out_attr_str(H5Out *h, const char *obj, const char *name, const char *value, char *err, size_t errlen);
int h5out_attr_int(H5Out *h, const char *obj, const char *name, int64_t value, char *err, size_t errlen);
int h5out_attr_double(H5Out *h, const char *obj, const char *name, double value, char *err, size_t errlen);
/* A 1-D attribute of n (>= 1) variable-length UTF-8 strings. */
int h5out_attr_str_array(H5Out *h, const char *obj, const char *name, const char *const *values, int n,
                         char *err, size_t errlen);
/* A 1-D int64 attribute of n values (e.g. k_percent = [10, 20, 50]). */
int h5out_attr_int_array(H5Out *h, const char *obj, const char *name, const int64_t *values, int n, char *err,
                         size_t errlen);

/* Reads an int64 root attribute of an existing file (e.g. `complete`); returns 0, or -1
 * when the file or attribute cannot be read. Serial. */
int h5out_read_root_int(const char *path, const char *name, int64_t *value);
/* Reads a string root attribute (e.g. `format`, `config`) as a malloc'ed string; NULL when
 * the file is not HDF5 or has no such string attribute. Serial. */
char *h5out_read_root_str(const char *path, const char *name);

/* IEEE binary16 bits of a float (round to nearest even, overflow to inf, NaN kept). */
uint16_t h5out_f32_to_f16(float f);
#endif
