/* One copy of the weights per node: see checkpoint_shared.h.
 *
 * Why the node's rank 0 creates one object for the whole block: it is then one contiguous
 * mapping with the same layout as checkpoint_load's malloc'ed block, so every tensor sits at
 * the same offset on every rank.
 * Why the ranks convert in parallel: the conversion (and the transposes of GPT-2's Conv1D
 * weights) is most of the load time, and each rank writes a disjoint run of the block.
 * Why posix_fallocate: a tmpfs object grown by ftruncate alone gets its pages on first
 * touch, and when /dev/shm is too small that touch is a SIGBUS; fallocate reserves them
 * while an error can still be returned and agreed on.
 * Every step that can fail on one rank ends in an agreement over the node (mpi_agree), so a
 * failing rank never leaves the others waiting in a collective. */
#include "io/checkpoint_shared.h"
#include "engine/gemm_bf16.h"
#include "io/checkpoint.h"
#include "io/checkpoint_internal.h"
#include "io/errmsg.h"
#include "io/mpi_agree.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static int node_rank(const SharedWeights *sw)
{
    int r;
    MPI_Comm_rank(sw->node, &r);
    return r;
}

/* One shared-memory object of `bytes`, created by the node's rank 0 and mapped (read-write,
 * for the conversion) by every rank of the node: its address on every rank, or NULL on every
 * rank with the message. Its name is gone from /dev/shm when this returns; the mapping is
 * *map / *len, for checkpoint_shared_free. */
static void *node_region(SharedWeights *sw, size_t bytes, void **map, size_t *len, char *err, size_t errlen)
{
    static unsigned serial;
    int me = node_rank(sw), ok = 1, fd = -1;
    char name[64] = "", msg[1024] = "";
    void *base = MAP_FAILED;
    if (me == 0) {
        struct rlimit rl; /* beyond RLIMIT_FSIZE, fallocate raises SIGXFSZ instead of failing */
        snprintf(name, sizeof name, "/attrun-weights.%ld.%u", (long)getpid(), serial++);
        if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && bytes > rl.rlim_cur) {
            snprintf(msg, sizeof msg, "%.1f MiB of shared memory exceed the file-size limit (ulimit -f)",
                     bytes / 1048576.0);
            ok = 0;
            name[0] = 0;
        } else if ((fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600)) < 0) {
            snprintf(msg, sizeof msg, "cannot create the shared-memory object /dev/shm%s: %s", name, strerror(errno));
            ok = 0;
            name[0] = 0;
        } else {
            int e = posix_fallocate(fd, 0, (off_t)bytes);
            if (e) {
                snprintf(msg, sizeof msg, "cannot reserve %.1f MiB of shared memory in /dev/shm: %s (is /dev/shm "
                         "large enough? share_weights: off gives each rank its own copy)", bytes / 1048576.0,
                         strerror(e));
                ok = 0;
            } else if ((base = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
                snprintf(msg, sizeof msg, "cannot map %.1f MiB of shared memory: %s", bytes / 1048576.0,
                         strerror(errno));
                ok = 0;
            }
        }
    }
    int lead_ok = ok;
    MPI_Bcast(&lead_ok, 1, MPI_INT, 0, sw->node);
    MPI_Bcast(name, sizeof name, MPI_CHAR, 0, sw->node);
    if (me != 0 && lead_ok) {
        struct stat sb;
        if ((fd = shm_open(name, O_RDWR, 0)) < 0 || fstat(fd, &sb) != 0 || (size_t)sb.st_size != bytes ||
            (base = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
            snprintf(msg, sizeof msg, "cannot map the node's shared-memory object /dev/shm%s: %s", name,
                     fd < 0 ? strerror(errno) : "wrong size or mmap failed");
            ok = 0;
        }
    }
    if (fd >= 0)
        close(fd);
    int bad = mpi_agree(sw->node, ok && lead_ok, msg, sizeof msg);
    if (me == 0 && name[0])
        shm_unlink(name); /* every rank mapped it or gave up: the name is no longer needed */
    if (bad) {
        if (base != MAP_FAILED)
            munmap(base, bytes);
        io_fail(err, errlen, "%s", msg);
        return NULL;
    }
    *map = base;
    *len = bytes;
    return base;
}

/* The writes of every rank of the node into the shared block, seen by all: the agreement's
 * collective orders them; the fences say so to the compiler and the CPU. */
static int agree_written(SharedWeights *sw, int ok, char *err, size_t errlen)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    int bad = mpi_agree(sw->node, ok, err, errlen);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return bad;
}

/* Every rank only reads the weights from now on: say so to the MMU (a stray write is a
 * crash, not a silent change of every rank's model). */
static void make_read_only(void *p, size_t n)
{
    mprotect(p, n, PROT_READ); /* p: an mmap'ed block, page-aligned. Best effort: the weights are const anyway */
}

/* The F32 block in the node's shared memory: place, convert this rank's part, agree. */
static Model *load_into_shared(CkptPlan *p, const char *dir, SharedWeights *sw, char *err, size_t errlen)
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
    float *base = node_region(sw, bytes, &sw->f32_map, &sw->f32_len, err, errlen);
    if (!base)
        return NULL; /* the plan stays open: the caller falls back or fails */
    ckpt_plan_place(p, base);
    ok = ckpt_plan_read(p, base, me, nr, err, errlen) == 0;
    if (agree_written(sw, ok, err, errlen)) {
        ckpt_plan_end(p, 0); /* storage is NULL: the shared block is not the model's to free */
        munmap(sw->f32_map, sw->f32_len);
        sw->f32_map = NULL;
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
        m = load_into_shared(&p, dir, sw, err, errlen);
        if (!m && p.m) { /* no shared memory (the plan is still open) */
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
        base = node_region(sw, bytes, &sw->bf16_map, &sw->bf16_len, err, errlen);
    }
    ok = base != NULL;
    if (ok) {
        int me = node_rank(sw), nr = sw->node_ranks;
        for (int i = 0; i < nw; i++)
            if (ckpt_part_of(off[i], lw[i].n, total, nr) == me)
                gemm_bf16_from_f32(base + off[i], lw[i].W, lw[i].n);
        agree_written(sw, 1, NULL, 0); /* cannot fail: the barrier */
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
    if (sw->bf16_map)
        munmap(sw->bf16_map, sw->bf16_len);
    if (sw->f32_map)
        munmap(sw->f32_map, sw->f32_len);
    sw->bf16_map = sw->f32_map = NULL;
    if (sw->node_ranks > 0 && sw->node != MPI_COMM_NULL) /* node_ranks 0: never split (a zeroed struct) */
        MPI_Comm_free(&sw->node);
    sw->node_ranks = 0;
}
