/* One copy of the weights per node: see checkpoint_shared.h.
 *
 * Why the node's rank 0 owns the whole window (the others allocate 0 bytes): the block is
 * then one contiguous mapping with the same layout as checkpoint_load's malloc'ed one, so
 * every tensor sits at the same offset and the other ranks only need MPI_Win_shared_query.
 * Why the ranks convert in parallel: the conversion (and the transposes of GPT-2's Conv1D
 * weights) is most of the load time, and each rank writes a disjoint run of the block.
 * Why the memory is committed up front (MADV_POPULATE_WRITE): Open MPI backs the window
 * with a file in osc_sm_backing_directory (/dev/shm); when that tmpfs is too small the
 * first write to a missing page is a SIGBUS, not an error, so the owner faults every page
 * in while an error can still be returned and agreed on.
 * Every step that can fail on one rank ends in an agreement over the node (mpi_agree), so a
 * failing rank never leaves the others waiting in a collective. */
#include "io/checkpoint_shared.h"
#include "engine/gemm_bf16.h"
#include "io/checkpoint.h"
#include "io/checkpoint_internal.h"
#include "io/errmsg.h"
#include "io/mpi_agree.h"
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; older kernels answer EINVAL and are not checked */
#endif

static int node_rank(const SharedWeights *sw)
{
    int r;
    MPI_Comm_rank(sw->node, &r);
    return r;
}

/* The page-aligned interior of [p, p+n), or n = 0. */
static void page_interior(void *p, size_t n, uintptr_t *lo, size_t *len)
{
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + pg - 1) & ~(pg - 1), b = ((uintptr_t)p + n) & ~(pg - 1);
    *lo = a;
    *len = b > a ? b - a : 0;
}

/* A window of `bytes` owned by the node's rank 0 and mapped by every rank of the node; its
 * base on every rank, or NULL on every rank with the message. *has: the window exists on
 * every rank and must be freed (after a failed allocation on some rank only, the ranks
 * that got one keep it: freeing is collective over a window the others lack). */
static void *node_window(SharedWeights *sw, size_t bytes, MPI_Win *win, int *has, char *err, size_t errlen)
{
    int me = node_rank(sw);
    void *base = NULL;
    char msg[MPI_MAX_ERROR_STRING + 256] = "";
    *has = 0;
    int rc = MPI_Win_allocate_shared(me == 0 ? (MPI_Aint)bytes : 0, 1, MPI_INFO_NULL, sw->node, &base, win);
    int ok = rc == MPI_SUCCESS, all;
    if (!ok) {
        char es[MPI_MAX_ERROR_STRING];
        int len = 0;
        MPI_Error_string(rc, es, &len);
        snprintf(msg, sizeof msg, "MPI_Win_allocate_shared of %.1f MiB failed: %s", bytes / 1048576.0, es);
    }
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, sw->node);
    if (!all) {
        mpi_agree(sw->node, ok, msg, sizeof msg);
        io_fail(err, errlen, "%s", msg);
        return NULL;
    }
    *has = 1;
    MPI_Win_set_errhandler(*win, MPI_ERRORS_RETURN);
    if (me != 0) {
        MPI_Aint size = 0;
        int disp = 0;
        ok = MPI_Win_shared_query(*win, 0, &size, &disp, &base) == MPI_SUCCESS && (size_t)size == bytes;
        if (!ok)
            snprintf(msg, sizeof msg, "MPI_Win_shared_query: the node's window is not the %zu bytes expected", bytes);
    } else {
        uintptr_t lo;
        size_t len;
        page_interior(base, bytes, &lo, &len);
        if (len && madvise((void *)lo, len, MADV_POPULATE_WRITE) != 0 && errno != EINVAL) {
            snprintf(msg, sizeof msg, "cannot commit %.1f MiB of MPI shared memory (%s): Open MPI keeps it in "
                     "osc_sm_backing_directory (/dev/shm by default); is that file system large enough?",
                     bytes / 1048576.0, strerror(errno));
            ok = 0;
        }
    }
    if (mpi_agree(sw->node, ok, msg, sizeof msg)) {
        MPI_Win_free(win);
        *has = 0;
        io_fail(err, errlen, "%s", msg);
        return NULL;
    }
    return base;
}

/* Every rank only reads the weights from now on: say so to the MMU (a stray write is a
 * crash, not a silent change of every rank's model). */
static void make_read_only(void *p, size_t n)
{
    uintptr_t lo;
    size_t len;
    page_interior(p, n, &lo, &len);
    if (len)
        mprotect((void *)lo, len, PROT_READ); /* best effort: the weights are const either way */
}

/* The F32 block in the node's window: place, convert this rank's part, agree. */
static Model *load_into_window(CkptPlan *p, const char *dir, SharedWeights *sw, char *err, size_t errlen)
{
    int me = node_rank(sw), nr = sw->node_ranks;
    /* the ranks must agree on the block before sharing it (the weights' SHA-256 is compared
     * later, over all ranks, by inputs_agree) */
    unsigned long long mine = p->total, lead = p->total;
    MPI_Bcast(&lead, 1, MPI_UNSIGNED_LONG_LONG, 0, sw->node);
    int ok = mine == lead;
    if (!ok)
        io_fail(err, errlen, "%s: the ranks of one node see different weights (%llu against %llu F32 values)", dir,
                mine, lead);
    if (mpi_agree(sw->node, ok, err, errlen))
        return ckpt_plan_end(p, 0);
    size_t bytes = (p->total ? p->total : 1) * sizeof(float);
    float *base = node_window(sw, bytes, &sw->win, &sw->has_win, err, errlen);
    if (!base)
        return NULL; /* the plan stays open: the caller falls back or fails */
    MPI_Win_lock_all(MPI_MODE_NOCHECK, sw->win);
    ckpt_plan_place(p, base);
    ok = ckpt_plan_read(p, base, me, nr, err, errlen) == 0;
    MPI_Win_sync(sw->win); /* this rank's writes, before the agreement's barrier */
    int bad = mpi_agree(sw->node, ok, err, errlen);
    MPI_Win_sync(sw->win); /* the others' writes, after it */
    MPI_Win_unlock_all(sw->win);
    if (bad) {
        ckpt_plan_end(p, 0); /* storage is NULL: the window is not the model's to free */
        MPI_Win_free(&sw->win);
        sw->has_win = 0;
        return NULL;
    }
    make_read_only(base, bytes);
    p->m->storage_bytes = p->total * sizeof(float);
    sw->shared = 1;
    sw->f32_bytes = p->total * sizeof(float);
    return ckpt_plan_end(p, 1);
}

/* Each rank its own block (checkpoint_load, from the open plan). */
static Model *load_private(CkptPlan *p, const char *dir, SharedWeights *sw, char *err, size_t errlen)
{
    float *all = malloc((p->total ? p->total : 1) * sizeof(float));
    if (!all) {
        io_fail(err, errlen, "%s: out of memory for %zu weights", dir, p->total);
        return ckpt_plan_end(p, 0);
    }
    p->m->storage = all;
    p->m->storage_bytes = p->total * sizeof(float);
    sw->f32_bytes = p->m->storage_bytes;
    ckpt_plan_place(p, all);
    return ckpt_plan_end(p, ckpt_plan_read(p, all, 0, 1, err, errlen) == 0);
}

Model *checkpoint_load_shared(const char *dir, MPI_Comm comm, ShareMode mode, SharedWeights *sw, char *err,
                              size_t errlen)
{
    memset(sw, 0, sizeof *sw);
    sw->node = MPI_COMM_NULL;
    int rank;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &sw->node);
    MPI_Comm_set_errhandler(sw->node, MPI_ERRORS_RETURN); /* window errors return to us (node_window) */
    MPI_Comm_size(sw->node, &sw->node_ranks);
    int leader = node_rank(sw) == 0;
    MPI_Allreduce(&leader, &sw->nodes, 1, MPI_INT, MPI_SUM, comm);
    MPI_Allreduce(&sw->node_ranks, &sw->max_node_ranks, 1, MPI_INT, MPI_MAX, comm);

    Model *m = NULL;
    CkptPlan p;
    int try_share = mode == SHARE_ON || (mode == SHARE_AUTO && sw->node_ranks > 1);
    int ok = ckpt_plan_open(&p, dir, err, errlen) == 0;
    if (!try_share) {
        m = ok ? load_private(&p, dir, sw, err, errlen) : ckpt_plan_end(&p, 0);
    } else if (mpi_agree(sw->node, ok, err, errlen)) { /* every rank of the node takes the same path */
        ckpt_plan_end(&p, 0);
    } else {
        m = load_into_window(&p, dir, sw, err, errlen);
        if (!m && p.m) { /* no window (the plan is still open) */
            if (mode == SHARE_ON) {
                char why[1024];
                snprintf(why, sizeof why, "%s", err);
                io_fail(err, errlen, "share_weights: on, but the weights cannot be shared: %s", why);
                ckpt_plan_end(&p, 0);
            } else {
                snprintf(sw->note, sizeof sw->note, "%s", err);
                m = load_private(&p, dir, sw, err, errlen);
            }
        }
    }
    int mine = leader && sw->shared;
    MPI_Allreduce(&mine, &sw->nodes_shared, 1, MPI_INT, MPI_SUM, comm);
    return m;
}

int checkpoint_share_bf16(const Model *m, SharedWeights *sw, ShareMode mode, char *err, size_t errlen)
{
    if (!sw->shared)
        return 0; /* each rank converts its own copies on first use, as always */
    enum { MAXW = 16384 };
    LinearWeight *lw = malloc(MAXW * sizeof *lw);
    size_t *off = malloc(MAXW * sizeof *off);
    int nw = lw && off ? model_linear_weights(m, lw, MAXW) : 0;
    int ok = lw && off && nw <= MAXW;
    if (!ok)
        io_fail(err, errlen, "the bf16 copies of the weights: out of memory (%d matrices)", nw);
    uint16_t *base = NULL;
    size_t total = 0, bytes = 0;
    if (!mpi_agree(sw->node, ok, err, errlen)) {
        for (int i = 0; i < nw; i++) { /* each copy 64-byte aligned, as oneDNN likes its operands */
            off[i] = total;
            total += (lw[i].n + 31) & ~(size_t)31;
        }
        bytes = (total ? total : 1) * sizeof(uint16_t);
        base = node_window(sw, bytes, &sw->win_bf16, &sw->has_win_bf16, err, errlen);
    }
    ok = base != NULL;
    if (ok) {
        int me = node_rank(sw), nr = sw->node_ranks;
        MPI_Win_lock_all(MPI_MODE_NOCHECK, sw->win_bf16);
        for (int i = 0; i < nw; i++)
            if (ckpt_part_of(off[i], lw[i].n, total, nr) == me)
                gemm_bf16_from_f32(base + off[i], lw[i].W, lw[i].n);
        MPI_Win_sync(sw->win_bf16);
        MPI_Barrier(sw->node);
        MPI_Win_sync(sw->win_bf16);
        MPI_Win_unlock_all(sw->win_bf16);
        make_read_only(base, bytes);
        for (int i = 0; i < nw; i++)
            if (gemm_bf16_adopt_weights(lw[i].W, lw[i].n, base + off[i]) != 0)
                break; /* the rest get private copies on first use */
        sw->bf16_shared = 1;
        sw->bf16_bytes = total * sizeof(uint16_t);
    }
    free(off);
    free(lw);
    if (ok)
        return 0;
    if (mode == SHARE_ON) {
        char why[1024];
        snprintf(why, sizeof why, "%s", err);
        return io_fail(err, errlen, "share_weights: on, but the bf16 weights cannot be shared: %s", why);
    }
    snprintf(sw->note, sizeof sw->note, "bf16 copies per rank: %s", err);
    return 0;
}

void checkpoint_shared_free(SharedWeights *sw)
{
    if (sw->has_win_bf16)
        MPI_Win_free(&sw->win_bf16);
    if (sw->has_win)
        MPI_Win_free(&sw->win);
    sw->has_win = sw->has_win_bf16 = 0;
    if (sw->node_ranks > 0 && sw->node != MPI_COMM_NULL) /* node_ranks 0: never split (a zeroed struct) */
        MPI_Comm_free(&sw->node);
    sw->node_ranks = 0;
}
