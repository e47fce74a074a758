/* The output of `attrun run` and its spool directory <out>.spool: what may be replaced or
 * resumed, and claiming it for this job. Rank 0 calls these; the caller broadcasts the
 * outcome. The rules (docs/reliability.md, "Output-path safety"):
 *   - out must not be one of the job's inputs (the corpus, the config file, any file of the
 *     model directory), compared by device and inode, so links and other spellings of the
 *     same file are caught;
 *   - an existing out is replaced (--overwrite) or continued (--resume) only when it is an
 *     attrun result (root attribute format = "attrun/...") or its spool says attrun made
 *     it (job.yaml), and the spool directory holds nothing but attrun's own files;
 *   - paths too long for the spool files are refused before anything is written, as are
 *     paths that name a directory or lie in a missing or read-only directory. */
#ifndef ATTRUN_OUTPATH_H
#define ATTRUN_OUTPATH_H
#include "runner/config.h"
#include "runner/inputs_digest.h"
#include <stddef.h>

enum { OUT_GO = 0, OUT_COMPLETE = 4 };

/* Before anything is loaded, read-only. Returns OUT_GO, OUT_COMPLETE (--resume of a complete
 * result of the same configuration and weights: nothing to do, message in msg), or an exit
 * status (2) with msg. yaml_res: config_to_yaml(c, 1). */
int out_precheck(const RunConfig *c, const char *config_path, const char *spool, int resume, int overwrite,
                 const char *yaml_res, char *msg, size_t n);
/* After loading: creates the spool directory, takes the job lock (runner/lock.h), refuses
 * (without --resume/--overwrite) an output another job wrote while this one was loading,
 * and, with --overwrite, removes the old spools and output. Returns 0 (*lockfd set: -1 when the file
 * system cannot lock, warning printed) or an exit status with msg. */
int out_claim(const RunConfig *c, const char *config_path, const char *spool, int resume, int overwrite,
              int *lockfd, char *msg, size_t n);
/* Rank 0, after out_claim: binds the spools to the job. The results-relevant configuration
 * (job.yaml) and the inputs' digests (inputs.txt, runner/inputs_digest.h) are stored when
 * the spool is new, atomically (temp + rename: a full disk never leaves a torn file), and
 * compared when it is resumed: any difference refuses the resume (exit 2) naming what
 * changed, before anything is computed. Spools with records but without these files are
 * refused too (they cannot be checked). Returns 0 or an exit status with msg. */
int out_bind_spool(const char *spool, const char *yaml_res, const char *inputs, const InputsDigest *d,
                   const RunConfig *c, char *msg, size_t n);
/* Whether another process holds out open with HDF5 file locking (an h5py reader): 0 when
 * not, -1 with a message saying how to avoid it. */
int out_not_held(const char *out, char *msg, size_t n);
/* "<out>.spool", malloc'ed. */
char *out_spool_path(const char *out);
#endif
