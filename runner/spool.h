/* Spool files: each rank appends every finished work unit to its own file
 * <out>.spool/rank<r>-<pid>.bin as a record (header + payload). Every record is
 * flushed to the kernel at once (write(2)), so a killed process (kill -9, OOM, a
 * signal) loses at most the unit in flight; fsync(2) runs at most once per
 * SPOOL_SYNC_SECONDS and at close, so a crash of the whole node loses at most
 * that much work. (fsync per record cost ~9 ms each here: with small models it
 * was most of the run time and serialised the ranks on the disk.) A record whose
 * payload is cut short (the process died while writing) is ignored. The spools
 * are the checkpoint that --resume continues from, and the input of assembly.
 *
 * Record: SpoolHeader (40 bytes, little-endian) then `bytes` of payload:
 * a packed Partial (partial_pack) for method units, a packed BaseResult for
 * base units (method = SPOOL_BASE). Payloads of SPOOL_PACK_MIN bytes or more are stored
 * compactly when that is smaller (codec SPOOL_SHUFFLE_DEFLATE): the bytes regrouped by
 * their position in 16-byte lanes (a partial's exact int128 sums carry mostly sign bytes
 * in their high half, floats their exponents in one plane), then deflated; the stored
 * payload is the raw size (uint64) and the deflate stream. Lossless: readers get the
 * packed bytes back exactly. */
#ifndef ATTRUN_SPOOL_H
#define ATTRUN_SPOOL_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SPOOL_MAGIC 0x32505341u /* "ASP2" (ASP1 records had no codec and are not read) */
#define SPOOL_RAW 0
#define SPOOL_SHUFFLE_DEFLATE 1
#define SPOOL_PACK_MIN 1024
#define SPOOL_BASE (-1)

typedef struct {
    uint32_t magic;
    int32_t example;  /* job example number (0..N-1, corpus order) */
    int32_t method;   /* MethodKind, or SPOOL_BASE */
    int32_t i0, i1;   /* items [i0, i1) */
    uint32_t crc;     /* CRC-32 (zlib) of the stored payload */
    uint64_t bytes;   /* stored payload size */
    uint32_t hcrc;    /* CRC-32 of the header with hcrc = 0 */
    uint32_t codec;   /* SPOOL_RAW or SPOOL_SHUFFLE_DEFLATE */
} SpoolHeader;

#define SPOOL_SYNC_SECONDS 1.0

typedef struct {
    FILE *f;
    char *path;         /* malloc'ed: user paths have no fixed limit here */
    uint64_t bytes;            /* on disk, headers included */
    uint64_t raw_bytes;        /* payloads before packing */
    double last_sync;   /* monotonic seconds of the last fsync */
} SpoolWriter;

/* Creates <dir>/rank<r>-<pid>.bin. Returns 0 or -1 with err. */
int spool_open(SpoolWriter *w, const char *dir, int rank, char *err, size_t errlen);
/* Appends one record: written through to the kernel (fflush), fsync'ed when the last
 * fsync is SPOOL_SYNC_SECONDS old. */
int spool_append(SpoolWriter *w, int example, int method, int i0, int i1, const void *payload, uint64_t bytes,
                 char *err, size_t errlen);
/* fsync + close. Returns 0 or -1 with err. */
int spool_close(SpoolWriter *w, char *err, size_t errlen);

typedef struct {
    int file;         /* index into SpoolIndex.files */
    int64_t offset;   /* of the stored payload */
    int example, method, i0, i1;
    uint64_t bytes;   /* the payload's size as packed by its writer (what spool_read returns) */
    uint64_t stored;  /* its size on disk */
    uint32_t crc, codec;
} SpoolRecord;

typedef struct {
    int nfiles;
    char **files;
    FILE **fp;        /* opened lazily by spool_read */
    long n;
    SpoolRecord *r;   /* sorted by (example, method, i0); overlapping duplicates dropped */
} SpoolIndex;

/* The one reader of spools (resume and assembly both use it): reads every record of every
 * rank*.bin in dir (a missing dir is an empty index) and checks each header CRC and payload
 * CRC; a record that fails either is dropped (and so recomputed by --resume, or reported
 * missing by assembly), as is everything after a bad header in that file (the torn tail of
 * a killed writer). Of records whose items overlap for one (example, method) the widest is
 * kept, ties broken by content (CRC, size), never by file name: units are deterministic, so
 * valid copies are equal. Returns 0 or -1. */
int spool_scan(const char *dir, SpoolIndex *idx, char *err, size_t errlen);
/* First record index of (example, method) in the sorted index, or -1. */
long spool_find(const SpoolIndex *idx, int example, int method);
/* Reads and CRC-checks one payload and unpacks it (malloc'ed, r->bytes long). NULL with err
 * on failure. */
void *spool_read(SpoolIndex *idx, const SpoolRecord *r, char *err, size_t errlen);
void spool_index_free(SpoolIndex *idx);
/* Whether a directory entry is one attrun writes in a spool directory: rank*.bin, job.yaml,
 * inputs.txt, lock, reserve, and their *.tmp (atomic writes). */
int spool_own_name(const char *name);
/* Removes attrun's own files of the spool directory and then the directory. Anything else
 * in it is left alone, and then the directory stays: returns -1 with err naming it. With
 * keep_lock the lock file stays (a job replacing its own spools keeps holding it) and so
 * does the directory. A missing dir is not an error. */
int spool_remove_dir(const char *dir, int keep_lock, char *err, size_t errlen);
/* Writes dir/name atomically: dir/name.tmp, fsync, rename. 0 or -1 with err. */
int spool_write_file(const char *dir, const char *name, const char *text, char *err, size_t errlen);
/* Reads dir/name (malloc'ed, NUL-terminated); NULL when missing or unreadable. */
char *spool_read_file(const char *dir, const char *name);
#endif
