/* Adaptive Integrated Gradients (ig.steps: auto) in the job: which levels (Gauss-Legendre rules,
 * engine/attr_ig_auto.c) each example still needs, decided from the spools between rounds.
 *
 * Rounds: the first computes levels 0 and 1 (16 and 32 nodes) of every example; then, per example,
 * ig_auto_decide on the levels the spools hold says whether it is finished (converged, or at
 * ig.max_steps) or needs the next level; the next round's units are those levels, chunked and
 * handed out like any other items. The decision is a function of the example's own spooled sums
 * only, so the rounds, the results and the steps used are the same for any number of ranks, any
 * chunking, and across --resume (which starts by planning from what the spools hold). */
#ifndef ATTRUN_IG_AUTO_H
#define ATTRUN_IG_AUTO_H
#include "runner/assemble.h"
#include "runner/spool.h"

/* Whether method i of the job is adaptive IG. */
int ig_auto_method(const RunConfig *cfg, const MethodSpec *specs, int i);

/* Example e's levels from the spool records of spec sp: lv[l] the merge of level l's records
 * (NULL when none), *have the levels 0..have-1 that are complete. Returns 0 or -1 with err. */
int ig_auto_merge_levels(SpoolIndex *idx, long e, const MethodSpec *sp, const Model *m, int T,
                         Partial **lv, int *have, char *err, size_t errlen);
void ig_auto_free_levels(Partial **lv, const MethodSpec *sp);

typedef struct {
    long pending;      /* examples that need another level */
    long finished;     /* examples finished (converged or at max_steps) */
    long unconverged;  /* of those, at max_steps without reaching the tolerance */
    double steps;      /* gradient evaluations of the finished examples, summed */
} IgAutoPlan;

/* Collective. For every adaptive method i and example e, limit[i·N + e] = the items [0, limit) it
 * needs now (other methods: -1); limit has n_methods × N ints. idx: the spools (every rank's scan
 * of the same directory). Each rank plans a share of the examples; the result is agreed (max). */
int ig_auto_plan(const AssembleInput *in, SpoolIndex *idx, int *limit, IgAutoPlan *plan, char *err,
                 size_t errlen);
#endif
