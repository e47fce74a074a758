/* The checkpoint loader in steps, for io/checkpoint.c's checkpoint_load (one process, one
 * malloc'ed block) and io/checkpoint_shared.c (one block per node in MPI shared memory,
 * the tensors read by the node's ranks in parallel). Private to io/. */
#ifndef ATTRUN_CHECKPOINT_INTERNAL_H
#define ATTRUN_CHECKPOINT_INTERNAL_H
#include "engine/family.h"
#include "io/safetensors.h"
#include <stddef.h>

typedef struct {
    Model *m;              /* config read, layer array allocated, tensors not yet placed */
    SafeTensors st;        /* the weight files, mmap'ed */
    Layout lo;             /* the family's tensors */
    const StTensor **ts;   /* ts[i]: the stored tensor of lo.e[i] (names resolved, shapes checked) */
    size_t total;          /* F32 elements of all entries: the storage block's size */
} CkptPlan;

/* Reads config.json, opens the weight files and resolves and checks every tensor of the
 * layout (nothing converted yet). Returns 0, or -1 with a message (ckpt_plan_end frees). */
int ckpt_plan_open(CkptPlan *p, const char *dir, char *err, size_t errlen);
/* Points every Model field at its place in storage (p->total floats): the same offsets
 * on every process, whether or not it reads the tensor. */
void ckpt_plan_place(CkptPlan *p, float *storage);
/* Converts the entries of part `part` of `nparts` (contiguous runs of the block, about
 * equal in bytes) into storage. Returns 0, or -1 with a message. */
int ckpt_plan_read(const CkptPlan *p, float *storage, int part, int nparts, char *err, size_t errlen);
/* The part (0..nparts-1) of a block of `total` elements that the run [off, off+n) belongs to:
 * the one its middle falls in. */
int ckpt_part_of(size_t off, size_t n, size_t total, int nparts);
/* Closes the files; ok: runs family_finish and returns the model, else frees it (and the
 * storage it owns) and returns NULL. */
Model *ckpt_plan_end(CkptPlan *p, int ok);
#endif
