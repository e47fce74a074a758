/* attrun run, after the compute loop: the ranks agree on the outcome (error, signal, done),
 * assemble the spools into the HDF5 file, print the summary, and tear down (run_internal.h). */
#include "engine/clock.h"
#include "io/h5out.h"
#include "io/mpi_agree.h"
#include "runner/lock.h"
#include "runner/memstat.h"
#include "runner/outpath.h"
#include "runner/run_internal.h"
#include "runner/signals.h"
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The ranks' memory at the end (runner/memstat.h): the sum of PSS is what the job holds (a
 * page shared by the ranks of a node, the shared weights, counted once); the sums of RSS
 * and of peak RSS count such a page once per rank that maps it. */
static void memory_line(const double *all, int stride, int nranks)
{
    double sum[3] = {0, 0, 0};
    for (int k = 0; k < nranks; k++)
        for (int j = 0; j < 3; j++)
            sum[j] = sum[j] < 0 || all[stride * k + 4 + j] < 0 ? -1 : sum[j] + all[stride * k + 4 + j];
    if (sum[0] < 0 || sum[1] < 0)
        return; /* no /proc/self/smaps_rollup (Linux < 4.14) */
    fprintf(stderr, "\nattrun: memory_sum_over_ranks: pss %.1f MiB, rss %.1f MiB, peak_rss %.1f MiB (PSS counts "
            "a page shared by ranks once, RSS once per rank); pss per rank:", sum[0] / 1048576, sum[1] / 1048576,
            sum[2] / 1048576);
    for (int k = 0; k < nranks && k < 16; k++)
        fprintf(stderr, " %.1f", all[stride * k + 4] / 1048576);
    if (nranks > 16)
        fprintf(stderr, " ...");
}

/* 8. the summary (rank 0): wall time, throughput, assembly, each rank's busy share. */
static void summary(const Run *r, const AssembleStats *ast)
{
    /* after the loop and the assembly, the engine's arena still held. Every rank measures while
     * every rank still maps the shared weights: without the barrier a rank done early could
     * tear down first, and rank 0's PSS would then count the pages they shared in full. */
    MemStat ms;
    MPI_Barrier(MPI_COMM_WORLD);
    memstat_self(&ms);
    enum { NS = 7 };
    double busy[NS] = {r->ws.busy, r->ws.flops, (double)r->ws.units, (double)(r->spooled_before + r->w.bytes), ms.pss, ms.rss,
                       ms.peak_rss};
    double *all = r->rank == 0 ? malloc(sizeof(double) * NS * r->nranks) : NULL;
    MPI_Gather(busy, NS, MPI_DOUBLE, all, NS, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (r->rank == 0 && !r->a.quiet) {
        double flops = 0, spooled = 0, work_s = r->work_s;
        for (int k = 0; k < r->nranks; k++) {
            flops += all[NS * k + 1];
            spooled += all[NS * k + 3];
        }
        double wall = clock_now() - r->t_start;
        long n = r->ex.n;
        const char *noun = examples_noun(&r->ex);
        fprintf(stderr, "attrun: done in %.2f s: %ld %s, %.2f %s/s; compute %.2f s at %.2f GFLOP/s "
                "(estimated), assembly %.2f s (HDF5 %.2f s, %.1f MB, %.1f MB/s; file %.1f MB)\n", wall, n, noun,
                wall > 0 ? n / wall : 0, noun, work_s, work_s > 0 ? flops / work_s * 1e-9 : 0, ast->seconds,
                ast->write_seconds, ast->bytes / 1e6,
                ast->write_seconds > 0 ? ast->bytes / 1e6 / ast->write_seconds : 0, ast->file_bytes / 1e6);
        fprintf(stderr, "attrun: busy share per rank:");
        for (int k = 0; k < r->nranks; k++)
            fprintf(stderr, " %d:%.0f%% (%.0f units)", k, work_s > 0 ? 100 * all[NS * k] / work_s : 0,
                    all[NS * k + 2]);
        memory_line(all, NS, r->nranks);
        /* this run's spool writes (a resumed run adds to what earlier runs spooled) */
        fprintf(stderr, "\nattrun: spooled %.1f MB (%.1f x the result file)\nattrun: wrote %s\n", spooled / 1e6,
                ast->file_bytes > 0 ? spooled / ast->file_bytes : 0, r->cfg.out);
    }
    free(all);
}

int run_finish(Run *r)
{
    int stopped = signals_pending() != 0, any_stopped;
    MPI_Allreduce(&stopped, &any_stopped, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (mpi_agree(MPI_COMM_WORLD, !r->failed, r->msg, sizeof r->msg)) {
        if (r->rank == 0)
            fprintf(stderr, "attrun run: %s\nattrun run: finished units are kept in %s; after fixing the cause, "
                    "continue with (under mpirun/srun as before): %s\n", r->msg, r->spool, r->a.resume_cmd);
        return EXIT_RUNTIME;
    }
    if (any_stopped) {
        if (r->rank == 0)
            fprintf(stderr, "attrun run: interrupted by a signal; finished units are kept in %s and %s is "
                    "incomplete (complete = 0). Continue with (under mpirun/srun as before, any number of "
                    "ranks): %s\n", r->spool, r->cfg.out, r->a.resume_cmd);
        return EXIT_INTERRUPTED;
    }

    /* 7. assembly into the HDF5 file (not while a reader holds it open: HDF5's lock) */
    AssembleStats ast;
    int ok = r->rank != 0 || out_not_held(r->cfg.out, r->msg, sizeof r->msg) == 0;
    if (mpi_agree(MPI_COMM_WORLD, ok, r->msg, sizeof r->msg)) {
        if (r->rank == 0)
            fprintf(stderr, "attrun run: %s\n", r->msg);
        return EXIT_RUNTIME;
    }
    if (assemble(&r->ain, &ast, r->msg, sizeof r->msg)) {
        char held[2048];
        int is_held = r->rank == 0 && out_not_held(r->cfg.out, held, sizeof held) != 0; /* a reader came meanwhile */
        if (r->rank == 0)
            fprintf(stderr, "attrun run: assembly failed: %s\n%s%s(spools kept in %s; rerun with: %s)\n", r->msg,
                    is_held ? held : "", is_held ? "\n" : "", r->spool, r->a.resume_cmd);
        return EXIT_RUNTIME;
    }
    if (r->rank == 0 && spool_remove_dir(r->spool, 0, r->msg, sizeof r->msg))
        fprintf(stderr, "attrun run: warning: %s\n", r->msg);
    if (r->rank == 0) {
        spool_unlock(r->lockfd, r->spool); /* the lock file is gone with the directory; release */
        r->lockfd = -1;
    }
    summary(r, &ast);
    return EXIT_OK;
}

int run_teardown(Run *r, int code)
{
    schedule_free(&r->sched);
    if (r->eng)
        engine_free(r->eng);
    if (r->tok)
        tokenizer_free(r->tok);
    if (r->model)
        model_free(r->model);
    checkpoint_shared_free(&r->sw); /* collective over the node, like the load */
    examples_free(&r->ex);
    free(r->yaml);
    free(r->yaml_res);
    free(r->spool);
    config_free(&r->cfg);
    free(r->a.sets);
    /* A result file HDF5 could not flush (disk full) is left open in HDF5 (io/h5out.h), and
     * HDF5's shutdown inside MPI_Finalize (or exit) would crash on it (HDF5 1.10.8: exit
     * status 139 instead of 1). Every rank then leaves with _exit, the error already
     * printed: Open MPI's mpirun reports the ranks' status 1, as does a run without it
     * (MPI_Abort would print a page about aborting). All ranks reach this point together,
     * so they agree first (a serial file is rank 0's alone). */
    int mine = h5out_abandoned() > 0, any = 0;
    MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (any) {
        if (code == EXIT_OK)
            code = EXIT_RUNTIME;
        fflush(stdout);
        fflush(stderr);
        _exit(code);
    }
    MPI_Finalize();
    return code;
}
