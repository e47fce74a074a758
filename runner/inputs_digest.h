/* What a job's results depend on, as digests: the spools are bound to them, and every rank
 * must hold the same ones.
 *   weights   SHA-256 of the weight files (checkpoint_weights_sha256; the root attribute
 *             weights_sha256 of the result)
 *   model     SHA-256 of config.json and the tokenizer files of the checkpoint directory
 *   examples  SHA-256 of the tokenized example list: per example its corpus row, label,
 *             target, mask position and token ids / type ids / special flags, plus the
 *             tokenizer's special ids. This is exactly what computed units depend on, so an
 *             edit that changes no token (e.g. case in an uncased model) still resumes, and
 *             one that changes any token, inserts or removes a row is caught before compute.
 * The job configuration itself is bound by <out>.spool/job.yaml (cmd_run). */
#ifndef ATTRUN_INPUTS_DIGEST_H
#define ATTRUN_INPUTS_DIGEST_H
#include "runner/job.h"
#include <mpi.h>
#include <stddef.h>

typedef struct {
    char weights[65], model[65], examples[65];
    long n_examples;
} InputsDigest;

/* Model-file and example digests (the weights digest is filled by the caller). 0 or -1. */
int inputs_digest(const char *model_dir, const Examples *ex, InputsDigest *d, char *err, size_t errlen);
/* Collective: every rank compares its digest with rank 0's. Returns 1 when all agree; else
 * 0 on every rank, with a message (printed by the caller) naming the ranks that differ and
 * what differs. */
int inputs_agree(const InputsDigest *d, MPI_Comm comm, char *msg, size_t n);
/* The text stored as <out>.spool/inputs.txt (malloc'ed). */
char *inputs_text(const InputsDigest *d);
/* Compares a stored inputs.txt with the current digest: 0 when equal, else -1 with a
 * message naming what changed since the spools were written. */
int inputs_compare(const char *stored, const InputsDigest *d, const char *model_dir, const char *corpus,
                   char *msg, size_t n);
/* Refuses (-1 with msg) a corpus that is not a regular file (FIFO, /dev/stdin, a device)
 * under more than one rank: each rank reads the corpus itself and would get only part of
 * a stream. */
int corpus_shareable(const char *path, int nranks, char *msg, size_t n);
#endif
