/* One copy of the weights per node (share_weights: auto | on | off).
 *
 * The ranks of one node (MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)) map one POSIX
 * shared-memory object holding the converted F32 weights: the node's rank 0 creates and
 * reserves it (shm_open + posix_fallocate in /dev/shm), the others map it, the ranks convert
 * disjoint runs of the block in parallel, agree (io/mpi_agree.h), the object's name is
 * removed at once (the mappings stay; nothing is left in /dev/shm) and from then on every
 * rank only reads it (mprotect). With precision bf16 the bf16 copies of the linear layers'
 * weights (engine/gemm_bf16.h) are made once per node the same way and adopted by every
 * rank. Activations and all other scratch stay private to each rank.
 *
 * Why not MPI_Win_allocate_shared: Open MPI 4.1's osc/sm, when its backing file cannot be
 * created or grown, fails on the node's rank 0 while the others wait in its internal
 * broadcast for ever (and a tmpfs too small for the window is a SIGBUS on first touch, not an
 * error). Here every step returns an error that the node's ranks agree on, so a failure is
 * a message (share_weights: on) or a fallback to private copies (auto), never a hang.
 *
 * Linux counts a shared page in the RSS of every process that touched it: measure what a
 * job holds with the PSS of /proc/<pid>/smaps_rollup (a shared page split between its
 * sharers), as the run summary does (docs/performance.md). */
#ifndef ATTRUN_CHECKPOINT_SHARED_H
#define ATTRUN_CHECKPOINT_SHARED_H
#include "engine/model.h"
#include <mpi.h>
#include <stddef.h>

/* auto: share when a node has more than one rank (falling back to private copies, with a
 * note, when the shared memory cannot be had); on: always through shared memory, and fail when it
 * cannot be had; off: every rank its own copy (checkpoint_load). */
typedef enum { SHARE_AUTO = 0, SHARE_ON, SHARE_OFF } ShareMode;

typedef struct {
    int shared;           /* 1: the F32 weights are in the node's shared memory (same on all its ranks) */
    int bf16_shared;      /* 1: the bf16 copies too */
    int node_ranks;       /* ranks on this rank's node */
    int nodes;            /* nodes of the job (node communicators) */
    int max_node_ranks;   /* most ranks on one node */
    int nodes_shared;     /* nodes whose ranks share one copy */
    size_t f32_bytes, bf16_bytes; /* one copy */
    char note[512];       /* auto: why the weights are not shared, or "" */
    MPI_Comm node;
    void *f32_map, *bf16_map; /* this rank's mappings of the node's objects, or NULL */
    size_t f32_len, bf16_len;
} SharedWeights;

/* Loads the checkpoint at dir on every rank of comm. Collective over comm (the node
 * agreement inside it: every rank of a node returns a model, or NULL with the message of
 * the node's lowest failing rank). sw is filled for the log and for checkpoint_shared_free. */
Model *checkpoint_load_shared(const char *dir, MPI_Comm comm, ShareMode mode, SharedWeights *sw, char *err,
                              size_t errlen);
/* With precision bf16, after every rank loaded m: the bf16 copies of the linear weights
 * once per node (when the F32 weights are shared). Collective over the node; returns 0 on
 * every rank of the node, or -1 (mode on: the shared memory could not be had) with a message.
 * In mode auto a failure leaves each rank its lazily made private copies (sw->note). */
int checkpoint_share_bf16(const Model *m, SharedWeights *sw, ShareMode mode, char *err, size_t errlen);
/* After model_free: unmaps the shared weights, frees the node communicator. Does nothing on
 * a zeroed sw (checkpoint_load_shared never called). */
void checkpoint_shared_free(SharedWeights *sw);
#endif
