/* Work units and their dynamic hand-out.
 *
 * A unit is (example, method, items [i0, i1)) or the example's "base" forward
 * (method = SPOOL_BASE). Every rank builds the same list from the same inputs:
 * the items still missing from the spools (all of them on a fresh run), split
 * into chunks (config `chunk`, or automatically so that no unit costs more than
 * 1/(4·ranks) of the whole job when several ranks share it; automatic chunks are
 * whole multiples of the engine's item block, method_item_block), and ordered
 * longest-first by estimated cost (items × FLOPs of a pass over T tokens).
 *
 * Units are handed out with an MPI-3 RMA counter at rank 0 (MPI_Fetch_and_op),
 * so every rank computes and none is a dedicated dispatcher. The same window
 * holds progress counters: units done, examples done, the estimated cost done
 * (what the progress rate and ETA are based on) and per example the number of
 * its units still open. */
#ifndef ATTRUN_SCHEDULE_H
#define ATTRUN_SCHEDULE_H
#include "engine/attribution.h"
#include "runner/job.h"
#include "runner/spool.h"
#include <mpi.h>

typedef struct {
    int example;
    int method;          /* MethodKind or SPOOL_BASE */
    int i0, i1;
    double cost;         /* estimated FLOPs */
} Unit;

typedef struct {
    long n;
    Unit *u;
    double total_cost;
    long *units_of_example;  /* (N) units in the list per example */
} Schedule;

/* Builds the list. specs[i] belongs to methods[i]. done: spool index of finished units
 * (NULL on a fresh run). want: NULL, or (n_methods × N) the items [0, want) of method i and
 * example e wanted now (want[i·N + e]; < 0: all; adaptive IG's rounds, runner/ig_auto.h).
 * chunk: items per unit (0 = auto). Units never cross a method's segment (method_segment). */
int schedule_build(Schedule *s, const Examples *ex, const Model *model, const MethodSpec *specs,
                   int n_methods, int want_base, const SpoolIndex *done, const int *want, int chunk,
                   int nranks, char *err, size_t errlen);
void schedule_free(Schedule *s);
/* Estimated FLOPs of a unit (also used for the achieved-GFLOP/s report). */
double unit_cost(const ModelConfig *mc, const MethodSpec *spec, int T, int items);

/* ---- the RMA counters ---- */
typedef struct {
    MPI_Win win;
    int64_t *mem;        /* rank 0: [next, units_done, examples_done, cost_done, open units of example 0..N-1] */
    long n_examples;
    int rank;
} Counters;

/* Collective. */
int counters_create(Counters *c, MPI_Comm comm, const Schedule *s, long n_examples);
void counters_free(Counters *c);  /* collective */
/* The next unit index to compute (>= s->n: none left). */
int64_t counters_next(Counters *c);
/* Makes every later counters_next return "none left" (stop after a signal or an error). */
void counters_stop(Counters *c, int64_t n_units);
/* Whether some rank called counters_stop (reads the unit counter without taking a unit). */
int counters_stopped(Counters *c);
/* Marks unit u finished (its example's open count, and its estimated cost). */
void counters_done(Counters *c, const Unit *u);
/* Reads the progress counters (any rank; a remote read). cost_done: the finished
 * units' estimated FLOPs (Unit.cost), summed; may be NULL. */
void counters_progress(Counters *c, int64_t *units_done, int64_t *examples_done, double *cost_done);
#endif
