/* attrun run, shared by its parts: cmd_run.c (arguments, signals, the driver), run_setup.c
 * (configuration, output, model, examples, work units), run_loop.c (the compute loop) and
 * run_finish.c (outcome, assembly, summary, teardown). Private to those files. */
#ifndef ATTRUN_RUN_INTERNAL_H
#define ATTRUN_RUN_INTERNAL_H
#include "engine/attribution.h"
#include "io/checkpoint_shared.h"
#include "io/tokenizer.h"
#include "runner/assemble.h"
#include "runner/config.h"
#include "runner/inputs_digest.h"
#include "runner/ig_auto.h"
#include "runner/job.h"
#include "runner/schedule.h"
#include "runner/spool.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_INTERRUPTED = 3 };

typedef struct {
    char resume_cmd[2048];  /* the command line to continue this job */
    const char *config_path;
    char **sets;
    int nsets;
    int resume, overwrite, quiet;
    double progress_every;  /* seconds between progress lines on rank 0 */
} Args;

typedef struct {
    double busy, flops;
    long units;
} WorkStats;

/* Everything one run holds, from set-up to teardown (each part fills its share). */
typedef struct {
    Args a;
    int rank, nranks;
    double t_start;            /* before MPI_Init: the summary's wall time */
    char msg[8192];            /* the current error or warning */
    /* set-up */
    RunConfig cfg;
    Model *model;
    SharedWeights sw;          /* the node's shared copy of the weights (share_weights) */
    Tokenizer *tok;
    Engine *eng;
    Examples ex;
    char *yaml, *yaml_res;     /* config_to_yaml(cfg, 0) and (cfg, 1): the results-relevant keys */
    char *spool;               /* <out>.spool (out_spool_path) */
    char start_iso[64];
    InputsDigest dig;          /* weights, model files and examples every rank read */
    int lockfd;                /* rank 0: the output's lock (runner/lock.h), -1 when not held */
    double t_tok;              /* tokenization seconds */
    MethodSpec specs[M_NUM_METHODS];
    AssembleInput ain;
    Schedule sched;
    SpoolWriter w;
    /* adaptive IG (runner/ig_auto.h): the last plan, the rounds run */
    IgAutoPlan plan;
    int rounds;
    uint64_t spooled_before;   /* spool bytes of this run's earlier rounds (each reopens the writer) */
    /* compute loop */
    WorkStats ws;
    double work_s;             /* the loop's wall time, until every rank is through */
    int failed;                /* this rank hit an error (msg) */
} Run;

/* Exit code of run_setup when the output is already complete: nothing to do (exit 0). */
#define RUN_NOTHING_TO_DO (-1)

/* Set-up, steps 1-5: returns EXIT_OK to go on, RUN_NOTHING_TO_DO, or an exit code (message
 * printed). Collective. */
int run_setup(Run *r);
/* The compute loop (step 6): takes units until none are left, a signal comes or an error. */
void run_loop(Run *r);
/* The units of a round (run_rounds.c): the spools scanned (scan: 1; a fresh job's are empty),
 * adaptive IG planned, the schedule built, this rank's spool opened. 0, or -1 with the agreed
 * message in r->msg. Collective. */
int run_units(Run *r, int scan);
/* After a round of run_loop: when adaptive IG needs more levels (and no rank failed or got a
 * signal), the next round's units; returns 1 then, else 0 (r->failed set on an error). */
int run_next_round(Run *r);
/* After the loop: agrees on the outcome, assembles the HDF5 file, prints the summary.
 * Returns the exit code. Collective. */
int run_finish(Run *r);
/* Frees what set-up made and leaves MPI. Returns the exit code (may turn 0 into 1). */
int run_teardown(Run *r, int code);
#endif
