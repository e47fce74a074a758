/* attrun run, the units of each round (run_internal.h): one round for fixed methods; adaptive IG
 * (runner/ig_auto.h) adds rounds while some example needs a finer rule. */
#include "io/mpi_agree.h"
#include "runner/run_internal.h"
#include "runner/signals.h"
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int has_auto(const Run *r)
{
    for (int i = 0; i < r->cfg.n_methods; i++)
        if (ig_auto_method(&r->cfg, r->specs, i))
            return 1;
    return 0;
}

/* Rank 0: where adaptive IG stands. */
static void report_plan(const Run *r)
{
    const IgAutoPlan *p = &r->plan;
    if (r->rank != 0)
        return;
    if (!r->a.quiet && p->pending > 0 && p->finished + p->pending > 0)
        fprintf(stderr, "attrun: adaptive IG, round %d: %ld %s need a finer rule, %ld finished\n",
                r->rounds + 1, p->pending, examples_noun(&r->ex), p->finished);
    if (p->pending > 0)
        return;
    if (!r->a.quiet && p->finished > 0)
        fprintf(stderr, "attrun: adaptive IG: %ld %s, %.1f gradient evaluations per %s on average "
                "(ig.tolerance %g)\n", p->finished, examples_noun(&r->ex), p->steps / p->finished,
                r->ex.cont_example ? "continuation token" : "example", r->cfg.ig.tolerance);
    if (p->unconverged > 0)
        fprintf(stderr, "attrun run: warning: adaptive IG: %ld of %ld %s did not reach ig.tolerance = %g "
                "within ig.max_steps = %d (/attributions/ig/converged = 0 for them)\n", p->unconverged,
                p->finished, examples_noun(&r->ex), r->cfg.ig.tolerance, r->cfg.ig.max_steps);
}

int run_units(Run *r, int scan)
{
    SpoolIndex idx;
    memset(&idx, 0, sizeof idx);
    int ok = !scan || spool_scan(r->spool, &idx, r->msg, sizeof r->msg) == 0;
    if (mpi_agree(MPI_COMM_WORLD, ok, r->msg, sizeof r->msg)) {
        spool_index_free(&idx);
        return -1;
    }
    int *limit = NULL;
    if (has_auto(r)) {
        limit = malloc(sizeof(int) * (size_t)(r->cfg.n_methods * r->ex.n > 0 ? r->cfg.n_methods * r->ex.n : 1));
        if (!limit)
            snprintf(r->msg, sizeof r->msg, "adaptive IG: out of memory");
        if (mpi_agree(MPI_COMM_WORLD, limit != NULL, r->msg, sizeof r->msg) ||
            ig_auto_plan(&r->ain, &idx, limit, &r->plan, r->msg, sizeof r->msg)) { /* both agreed */
            free(limit);
            spool_index_free(&idx);
            return -1;
        }
        report_plan(r);
    }
    ok = schedule_build(&r->sched, &r->ex, r->model, r->specs, r->cfg.n_methods, 1,
                        scan ? &idx : NULL, limit, r->cfg.chunk, r->nranks, r->msg, sizeof r->msg) == 0;
    free(limit);
    spool_index_free(&idx);
    r->spooled_before += r->w.bytes;
    if (ok)
        ok = spool_open(&r->w, r->spool, r->rank, r->msg, sizeof r->msg) == 0;
    if (mpi_agree(MPI_COMM_WORLD, ok, r->msg, sizeof r->msg)) {
        char ignored[256]; /* the agreed message is the one to print */
        spool_close(&r->w, ignored, sizeof ignored);
        return -1;
    }
    r->rounds++;
    return 0;
}

int run_next_round(Run *r)
{
    if (!has_auto(r) || r->plan.pending == 0)
        return 0;
    int stop = r->failed || signals_pending() != 0, any = 0;
    MPI_Allreduce(&stop, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (any)
        return 0;
    schedule_free(&r->sched);
    if (run_units(r, 1)) {
        r->failed = 1;
        return 0;
    }
    if (r->sched.n > 0)
        return 1;
    char ignored[256]; /* nothing left to compute: the empty spool file of this round is closed */
    if (spool_close(&r->w, ignored, sizeof ignored))
        r->failed = 1, snprintf(r->msg, sizeof r->msg, "%s", ignored);
    return 0;
}
