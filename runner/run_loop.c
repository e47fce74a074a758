/* attrun run, the compute loop: every rank takes units from the shared RMA counter
 * (runner/schedule.h) until none are left, a signal comes or an error, and appends each
 * finished unit to its spool; rank 0 also prints the progress (run_internal.h). */
#include "engine/clock.h"
#include "runner/analysis.h"
#include "runner/run_internal.h"
#include "runner/signals.h"
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void fmt_dur(double s, char *b, size_t n)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(b, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(b, n, "%ld:%02ld", t / 60, t % 60);
}

/* Computes unit u and appends it to the spool. */
static int run_unit(Engine *eng, const Model *m, const Examples *ex, const RunConfig *cfg, const MethodSpec *specs,
                    const Unit *u, int *tcache, SpoolWriter *w, char *msg, size_t n)
{
    const char *why = NULL;
    void *buf = NULL;
    size_t bytes = 0;
    if (u->method == SPOOL_BASE) {
        BaseResult r;
        /* attention.save: the base forward holds every layer's attention (L·H·T²·4 bytes); the
         * arena a method unit left (one pass of its rows: 1.6 GiB for 16 rows of 512 tokens on a
         * 0.5 B decoder) is not needed meanwhile, so the two are not held at once when both are
         * large (docs/performance.md, Memory). The next method unit re-allocates it (page faults
         * worth about one write of the arena, small against the passes that fill it). */
        int64_t T = ex->off[u->example + 1] - ex->off[u->example];
        if (cfg->attention.save && (int64_t)m->cfg.L * m->cfg.NH * T * T * 4 >= (64 << 20))
            engine_release_arena(eng);
        if (analysis_base_run(cfg, eng, ex, u->example, &r, msg, n))
            return -1;
        tcache[u->example] = r.target;
        bytes = base_bytes(&r);
        buf = malloc(bytes);
        base_pack(&r, buf);
        base_free(&r);
    } else {
        const MethodSpec *sp = NULL;
        for (int i = 0; i < cfg->n_methods; i++)
            if ((int)specs[i].kind == u->method)
                sp = &specs[i];
        Example x;
        examples_view(ex, u->example, &x);
        if (x.target < 0) {
            if (tcache[u->example] < 0 && resolve_target(eng, ex, u->example, &tcache[u->example], &why)) {
                snprintf(msg, n, "example %d (corpus row %ld), predicted target: %s", u->example,
                         ex->row[u->example], why ? why : "failed");
                return -1;
            }
            x.target = tcache[u->example];
        }
        Partial *p = partial_new(sp, m, x.T);
        if (!p || method_run_chunk(eng, sp, &x, u->i0, u->i1, p, &why)) {
            snprintf(msg, n, "example %d (corpus row %ld), %s items [%d, %d): %s", u->example, ex->row[u->example],
                     config_method_name(sp->kind), u->i0, u->i1, why ? why : "out of memory");
            if (p)
                partial_free(p);
            return -1;
        }
        bytes = partial_bytes(p);
        buf = malloc(bytes);
        partial_pack(p, buf);
        partial_free(p);
    }
    int rc = spool_append(w, u->example, u->method, u->i0, u->i1, buf, bytes, msg, n);
    free(buf);
    return rc;
}

/* The progress line. Rate and ETA come from the finished units weighted by their estimated
 * cost (Unit.cost, the scheduler's longest-first key), not from assembled examples: an example
 * counts as done only when its last unit is, and longest-first order finishes the first
 * examples late, so an examples-based rate read 0 for most of a job. "examples/s" is the
 * cost-weighted rate in examples' worth of work per second. With continuations the examples
 * are continuation tokens (one row each) and the line says so (`noun`, examples_noun()). */
static void progress(int quiet, Counters *ctr, const Schedule *s, long n_ex, long ex_before, double t0,
                     const char *noun)
{
    if (quiet)
        return;
    int64_t ud, ed;
    double cd;
    counters_progress(ctr, &ud, &ed, &cd);
    double total = s->total_cost; /* = the sum of the units' costs */
    double frac = total > 0 ? cd / total : (s->n ? (double)ud / s->n : 1); /* share of the work done */
    if (frac > 1)
        frac = 1;
    if (ud >= s->n)
        frac = 1;
    double el = clock_now() - t0, rate = el > 0 ? frac * (n_ex - ex_before) / el : 0;
    char eta[32] = "?";
    if (frac >= 1)
        snprintf(eta, sizeof eta, "0:00");
    else if (frac > 0)
        fmt_dur(el * (1 - frac) / frac, eta, sizeof eta);
    fprintf(stderr, "attrun: units %lld/%ld  work %.1f%%  %s %lld/%ld  %.2f %s/s  ETA %s\n",
            (long long)ud, s->n, 100 * frac, noun, (long long)ed, n_ex, rate, noun, eta);
}

/* Rank 0, its own units done: keeps reporting while the others finish their last units. */
static void report_until_done(Run *r, Counters *ctr, int64_t ex_before, double t_work, double *last_print)
{
    for (;;) {
        int64_t ud, ed;
        counters_progress(ctr, &ud, &ed, NULL);
        if (ud >= r->sched.n || signals_pending() || counters_stopped(ctr))
            break;
        usleep(50000);
        if (clock_now() - *last_print >= r->a.progress_every) {
            *last_print = clock_now();
            progress(r->a.quiet, ctr, &r->sched, r->ex.n, ex_before, t_work, examples_noun(&r->ex));
        }
    }
}

void run_loop(Run *r)
{
    const Schedule *s = &r->sched;
    Counters ctr;
    counters_create(&ctr, MPI_COMM_WORLD, s, r->ex.n);
    int64_t ex_before = 0, tmp;
    if (r->rank == 0)
        counters_progress(&ctr, &tmp, &ex_before, NULL);

    int *tcache = malloc(sizeof(int) * (r->ex.n ? r->ex.n : 1)); /* predicted targets, per example */
    for (long i = 0; i < r->ex.n; i++)
        tcache[i] = -1;
    double t_work = clock_now(), last_print = t_work;
    for (;;) {
        if (signals_pending()) {
            counters_stop(&ctr, s->n);
            break;
        }
        int64_t i = counters_next(&ctr);
        if (i >= s->n)
            break;
        const Unit *u = &s->u[i];
        double t = clock_now();
        if (run_unit(r->eng, r->model, &r->ex, &r->cfg, r->specs, u, tcache, &r->w, r->msg, sizeof r->msg)) {
            r->failed = 1;
            counters_stop(&ctr, s->n);
            break;
        }
        r->ws.busy += clock_now() - t;
        r->ws.flops += u->cost;
        r->ws.units++;
        counters_done(&ctr, u);
        if (r->rank == 0 && clock_now() - last_print >= r->a.progress_every) {
            last_print = clock_now();
            progress(r->a.quiet, &ctr, s, r->ex.n, ex_before, t_work, examples_noun(&r->ex));
        }
    }
    if (r->rank == 0 && !r->failed)
        report_until_done(r, &ctr, ex_before, t_work, &last_print);
    if (spool_close(&r->w, r->msg, sizeof r->msg) && !r->failed) {
        r->failed = 1;
        counters_stop(&ctr, s->n);
    }
    free(tcache);
    if (r->rank == 0)
        progress(r->a.quiet, &ctr, s, r->ex.n, ex_before, t_work, examples_noun(&r->ex));
    MPI_Barrier(MPI_COMM_WORLD);
    r->work_s += clock_now() - t_work; /* summed over adaptive IG's rounds */
    counters_free(&ctr);
}
