/* Work-unit list (missing items, chunking, longest-first order) and the RMA
 * counters that hand units out (see schedule.h). */
#include "runner/schedule.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double unit_cost(const ModelConfig *mc, const MethodSpec *spec, int T, int items)
{
    if (!spec) /* base unit: one forward */
        return engine_flops(mc, 1, T, 0);
    /* the engine rows of the items (DeepLIFT runs input/baseline pairs) */
    return engine_flops(mc, method_ops(spec->kind)->rows_per_item * items, T, 1);
}

static void push(Schedule *s, long *cap, int e, int m, int i0, int i1, double cost)
{
    if (s->n == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        s->u = realloc(s->u, sizeof(Unit) * *cap);
    }
    Unit *u = &s->u[s->n++];
    u->example = e;
    u->method = m;
    u->i0 = i0;
    u->i1 = i1;
    u->cost = cost;
    s->units_of_example[e]++;
}

static int cmp_unit(const void *a, const void *b)
{
    const Unit *x = a, *y = b;
    if (x->cost != y->cost)
        return x->cost > y->cost ? -1 : 1;
    if (x->example != y->example)
        return x->example < y->example ? -1 : 1;
    if (x->method != y->method)
        return x->method < y->method ? -1 : 1;
    return x->i0 < y->i0 ? -1 : x->i0 > y->i0;
}

typedef struct {
    int e, m, i0, i1;
    double item_cost;
    int block;         /* the engine's item block G: automatic chunks are multiples of it */
} Gap;

/* Appends the missing items [i0, i1) of (e, m), split at the method's segments (adaptive IG's
 * levels: a unit never spans two). */
static void add_gap(Gap **gaps, long *ngap, long *gcap, double *total, const MethodSpec *sp, Gap g)
{
    int i1 = g.i1;
    while (g.i0 < i1) {
        int lo, hi;
        if (sp)
            method_segment(sp, g.i0, &lo, &hi);
        else
            hi = i1;
        g.i1 = hi < i1 ? hi : i1;
        if (*ngap == *gcap)
            *gaps = realloc(*gaps, sizeof(Gap) * (*gcap = *gcap ? *gcap * 2 : 1024));
        (*gaps)[(*ngap)++] = g;
        *total += g.item_cost * (g.i1 - g.i0);
        g.i0 = g.i1;
    }
}

int schedule_build(Schedule *s, const Examples *ex, const Model *model, const MethodSpec *specs,
                   int n_methods, int want_base, const SpoolIndex *done, const int *want, int chunk,
                   int nranks, char *err, size_t errlen)
{
    const ModelConfig *mc = &model->cfg;
    memset(s, 0, sizeof *s);
    s->units_of_example = calloc(ex->n ? ex->n : 1, sizeof(long));
    /* 1. the item ranges still missing, per (example, method) */
    long ngap = 0, gcap = 0;
    Gap *gaps = NULL;
    double total = 0;
    for (long e = 0; e < ex->n; e++) {
        int T = (int)(ex->off[e + 1] - ex->off[e]);
        for (int mi = -1; mi < n_methods; mi++) {
            if (mi < 0 && !want_base)
                continue;
            const MethodSpec *sp = mi < 0 ? NULL : &specs[mi];
            int method = mi < 0 ? SPOOL_BASE : (int)sp->kind;
            int all = mi < 0 ? 1 : method_items(sp);
            int n = mi >= 0 && want && want[(long)mi * ex->n + e] >= 0 ? want[(long)mi * ex->n + e] : all;
            if (n > all)
                n = all;
            double ic = unit_cost(mc, sp, T, 1);
            int G = sp ? method_item_block(sp, model, T) : 1;
            if (G < 1)
                G = 1;
            int covered = 0; /* items [0, covered) handled in order */
            long r = done ? spool_find(done, (int)e, method) : -1;
            for (; r >= 0 && r < done->n && done->r[r].example == e && done->r[r].method == method; r++) {
                const SpoolRecord *q = &done->r[r];
                if (q->i1 > all || q->i0 < 0 || q->i1 <= q->i0) {
                    snprintf(err, errlen, "spool record of example %ld, method %d has items [%d, %d) outside "
                             "[0, %d): the spools belong to another configuration", e, method, q->i0, q->i1, all);
                    free(gaps);
                    return -1;
                }
                if (q->i0 >= n) /* beyond what is needed now (adaptive IG: a later level) */
                    break;
                if (q->i0 > covered)
                    add_gap(&gaps, &ngap, &gcap, &total, sp, (Gap){(int)e, method, covered, q->i0, ic, G});
                if (q->i1 > covered)
                    covered = q->i1;
            }
            if (covered < n)
                add_gap(&gaps, &ngap, &gcap, &total, sp, (Gap){(int)e, method, covered, n, ic, G});
        }
    }
    /* 2. chunks: explicit size, or automatic so one unit cannot straggle when ranks share the job */
    double limit = nranks > 1 ? total / (4.0 * nranks) : INFINITY;
    long cap = 0;
    for (long g = 0; g < ngap; g++) {
        Gap *q = &gaps[g];
        int len = q->i1 - q->i0, step = len;
        if (chunk > 0) {
            step = chunk;
        } else if (q->m != SPOOL_BASE && q->item_cost * len > limit) {
            int k = (int)ceil(q->item_cost * len / limit);
            if (k > len)
                k = len;
            step = (len + k - 1) / k;
            step = (step + q->block - 1) / q->block * q->block; /* whole engine blocks: no item computed twice */
        }
        for (int i = q->i0; i < q->i1; i += step) {
            int j = i + step < q->i1 ? i + step : q->i1;
            push(s, &cap, q->e, q->m, i, j, q->item_cost * (j - i));
        }
    }
    free(gaps);
    s->total_cost = total;
    /* 3. longest first, ties in a fixed order so every rank has the same list */
    if (s->n)
        qsort(s->u, s->n, sizeof(Unit), cmp_unit);
    return 0;
}

void schedule_free(Schedule *s)
{
    free(s->u);
    free(s->units_of_example);
    memset(s, 0, sizeof *s);
}

/* ---- RMA counters ---- */

/* The window's slots: 0 next unit, 1 units done, 2 examples done, 3 cost done (in units
 * of COST_QUANTUM FLOPs, so that an int64 holds any job's total), then from OPEN0 the
 * open units of each example. */
#define OPEN0 4
#define COST_QUANTUM 1e3

int counters_create(Counters *c, MPI_Comm comm, const Schedule *s, long n_examples)
{
    memset(c, 0, sizeof *c);
    MPI_Comm_rank(comm, &c->rank);
    c->n_examples = n_examples;
    MPI_Aint size = c->rank == 0 ? (MPI_Aint)sizeof(int64_t) * (OPEN0 + n_examples) : 0;
    if (MPI_Win_allocate(size, sizeof(int64_t), MPI_INFO_NULL, comm, &c->mem, &c->win) != MPI_SUCCESS)
        return -1;
    if (c->rank == 0) {
        c->mem[0] = 0;
        c->mem[1] = 0;
        int64_t finished = 0;
        for (long e = 0; e < n_examples; e++) {
            c->mem[OPEN0 + e] = s->units_of_example[e];
            finished += s->units_of_example[e] == 0; /* all done before a resume */
        }
        c->mem[2] = finished;
        c->mem[3] = 0;
    }
    MPI_Barrier(comm); /* rank 0's initial values are in place before anyone reads them */
    MPI_Win_lock_all(MPI_MODE_NOCHECK, c->win);
    return 0;
}

void counters_free(Counters *c)
{
    MPI_Win_unlock_all(c->win);
    MPI_Win_free(&c->win);
}

static int64_t fetch_add(Counters *c, MPI_Aint slot, int64_t v)
{
    int64_t old = 0;
    MPI_Fetch_and_op(&v, &old, MPI_INT64_T, 0, slot, MPI_SUM, c->win);
    MPI_Win_flush(0, c->win);
    return old;
}

int64_t counters_next(Counters *c)
{
    return fetch_add(c, 0, 1);
}

/* counters_stop pushes the unit counter past this mark: far beyond any job's unit count, so
 * the counter still says "none left" after every rank's later increments. */
#define STOP_MARK ((int64_t)1 << 40)

void counters_stop(Counters *c, int64_t n_units)
{
    fetch_add(c, 0, n_units + STOP_MARK);
}

int counters_stopped(Counters *c)
{
    int64_t next = 0, zero = 0;
    MPI_Fetch_and_op(&zero, &next, MPI_INT64_T, 0, 0, MPI_NO_OP, c->win);
    MPI_Win_flush(0, c->win);
    return next >= STOP_MARK;
}

void counters_done(Counters *c, const Unit *u)
{
    fetch_add(c, 1, 1);
    fetch_add(c, 3, (int64_t)llround(u->cost / COST_QUANTUM));
    if (fetch_add(c, OPEN0 + u->example, -1) == 1)
        fetch_add(c, 2, 1);
}

void counters_progress(Counters *c, int64_t *units_done, int64_t *examples_done, double *cost_done)
{
    int64_t dummy = 0, cost = 0;
    MPI_Fetch_and_op(&dummy, units_done, MPI_INT64_T, 0, 1, MPI_NO_OP, c->win);
    MPI_Fetch_and_op(&dummy, examples_done, MPI_INT64_T, 0, 2, MPI_NO_OP, c->win);
    MPI_Fetch_and_op(&dummy, &cost, MPI_INT64_T, 0, 3, MPI_NO_OP, c->win);
    MPI_Win_flush(0, c->win);
    if (cost_done)
        *cost_done = (double)cost * COST_QUANTUM;
}
