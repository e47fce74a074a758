/* attrun run, set-up: configuration, the output (refuse, replace or resume), model, tokenizer,
 * engine, examples, the spools' job file and the list of work units (run_internal.h). */
#include "engine/clock.h"
#include "io/checkpoint.h"
#include "io/h5out.h"
#include "io/mpi_agree.h"
#include "runner/run_internal.h"
#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* prepare_output's outcomes besides the exit codes */
enum { OUTPUT_READY = 0, OUTPUT_COMPLETE = 4 };

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Rank 0: decides what to do with an existing output and makes sure it can be written.
 * Returns OUTPUT_READY, OUTPUT_COMPLETE (nothing to do) or an exit code, with msg. */
static int prepare_output(const RunConfig *c, const char *spool, const Args *a, char *msg, size_t n)
{
    struct stat st;
    if (stat(c->out, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(msg, n, "%s: out: %s is a directory; give a file name such as %s/result.h5", c->source, c->out,
                 c->out);
        return EXIT_USAGE;
    }
    int have_out = exists(c->out), have_spool = exists(spool);
    if (a->resume && have_out && !have_spool) {
        int64_t done = 0;
        if (h5out_read_root_int(c->out, "complete", &done) == 0 && done == 1) {
            snprintf(msg, n, "%s is already complete; nothing to resume", c->out);
            return OUTPUT_COMPLETE;
        }
    }
    if ((have_out || have_spool) && !a->resume && !a->overwrite) {
        snprintf(msg, n, "%s already exists%s; use --overwrite to replace it or --resume to continue it", 
                 have_out ? c->out : spool, have_out && have_spool ? " (with spools)" : "");
        return EXIT_USAGE;
    }
    if (a->overwrite) {
        if (have_spool && spool_remove_dir(spool)) {
            snprintf(msg, n, "cannot remove the old spools %s: %s", spool, strerror(errno));
            return EXIT_RUNTIME;
        }
        if (have_out && unlink(c->out)) {
            snprintf(msg, n, "cannot remove the old output %s: %s", c->out, strerror(errno));
            return EXIT_RUNTIME;
        }
    }
    /* the directory must exist and be writable */
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", c->out);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = 0;
    else if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(msg, n, "%s: out: directory %s does not exist (create it first)", c->source, dir);
        return EXIT_USAGE;
    }
    if (access(dir, W_OK | X_OK)) {
        snprintf(msg, n, "%s: out: directory %s is not writable: %s", c->source, dir, strerror(errno));
        return EXIT_USAGE;
    }
    if (!exists(spool) && mkdir(spool, 0777)) {
        snprintf(msg, n, "cannot create the spool directory %s: %s", spool, strerror(errno));
        return EXIT_RUNTIME;
    }
    return OUTPUT_READY;
}

/* Rank 0: the spools must belong to this configuration (results-relevant keys): an existing
 * job file must be the same, a missing one is written. */
static int check_job_file(const char *spool, const char *yaml, char *msg, size_t n)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/job.yaml", spool);
    FILE *f = fopen(path, "rb");
    if (f) {
        char *old = calloc(1, strlen(yaml) + 2);
        size_t k = fread(old, 1, strlen(yaml) + 1, f);
        fclose(f);
        int same = k == strlen(yaml) && !memcmp(old, yaml, k);
        free(old);
        if (!same) {
            snprintf(msg, n, "%s holds the spools of a different configuration (see %s); resume with the same "
                     "settings or start again with --overwrite", spool, path);
            return -1;
        }
        return 0;
    }
    f = fopen(path, "wb");
    if (!f || fputs(yaml, f) < 0 || fclose(f)) {
        snprintf(msg, n, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* RoBERTa derives position ids from the input ids: the pad token gets position padding_idx,
 * so a pad/pad_all baseline has other position ids than the input and Captum's delta
 * (which evaluates F(baseline) with the baseline's own positions) is large although the
 * attributions are right (docs/models.md). Writes the warning into msg; 0 when none applies. */
static int position_warning(const RunConfig *c, const Model *m, const MethodSpec *specs, char *msg, size_t n)
{
    if (m->cfg.arch != ARCH_ROBERTA)
        return 0;
    for (int i = 0; i < c->n_methods; i++) {
        MethodKind k = specs[i].kind;
        MethodShape sh; /* the baselines it uses: none, the first, or all */
        method_shape(&specs[i], &sh);
        for (int b = 0; b < sh.baselines; b++)
            if (c->baselines[b] == BASE_PAD || c->baselines[b] == BASE_PAD_ALL) {
                snprintf(msg, n, "warning: %s is a RoBERTa model and %s uses the '%s' baseline: the pad token gets "
                         "position padding_idx, so the baseline's position ids differ from the input's and "
                         "Captum-equal convergence deltas will be large (the attributions are still Captum's). "
                         "Use baseline: mask or baseline: unk to keep the positions (docs/models.md)",
                         c->model, config_method_name(k), baseline_name(c->baselines[b]));
                return 1;
            }
    }
    return 0;
}

/* 1. configuration (every rank parses the same file), 2. the output (rank 0 decides). */
static int setup_config_and_output(Run *r)
{
    int ok = config_load(&r->cfg, r->a.config_path, r->a.sets, r->a.nsets, r->msg, sizeof r->msg) == 0;
    if (mpi_agree(MPI_COMM_WORLD, ok, r->msg, sizeof r->msg)) {
        if (r->rank == 0)
            fprintf(stderr, "attrun run: %s\n", r->msg);
        return EXIT_USAGE;
    }
    r->yaml = config_to_yaml(&r->cfg, 0);
    r->yaml_res = config_to_yaml(&r->cfg, 1);
    snprintf(r->spool, sizeof r->spool, "%s.spool", r->cfg.out);

    int prep = OUTPUT_READY;
    if (r->rank == 0)
        prep = prepare_output(&r->cfg, r->spool, &r->a, r->msg, sizeof r->msg);
    MPI_Bcast(&prep, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (prep != OUTPUT_READY && r->rank == 0)
        fprintf(stderr, "attrun run: %s\n", r->msg);
    return prep == OUTPUT_COMPLETE ? RUN_NOTHING_TO_DO : prep;
}

/* 3. model, tokenizer, engine, examples (every rank). */
static int setup_model_and_examples(Run *r)
{
    char *msg = r->msg;
    size_t n = sizeof r->msg;
    r->model = checkpoint_load(r->cfg.model, msg, n);
    int ok = r->model != NULL;
    if (ok) {
        r->tok = tokenizer_load(r->cfg.model, msg, n);
        ok = r->tok != NULL;
    }
    if (ok && r->rank == 0)
        ok = checkpoint_weights_sha256(r->cfg.model, r->sha, msg, n) == 0;
    if (ok) {
        engine_set_threads(r->cfg.threads);
        r->eng = engine_create(r->model);
        if (!r->eng) {
            snprintf(msg, n, "%s: cannot create the engine (out of memory?)", r->cfg.model);
            ok = 0;
        }
    }
    if (mpi_agree(MPI_COMM_WORLD, ok, msg, n))
        return EXIT_RUNTIME;
    double t_tok = clock_now();
    ok = examples_load(&r->ex, &r->cfg, r->model, r->tok, r->rank == 0, msg, n) == 0;
    if (mpi_agree(MPI_COMM_WORLD, ok, msg, n))
        return EXIT_RUNTIME;
    r->t_tok = clock_now() - t_tok;
    for (int i = 0; i < r->cfg.n_methods; i++)
        config_method_spec(&r->cfg, r->cfg.methods[i], &r->specs[i]);
    if (r->rank == 0 && position_warning(&r->cfg, r->model, r->specs, msg, n))
        fprintf(stderr, "attrun run: %s\n", msg);
    return EXIT_OK;
}

/* 4. the spools' job file, and an incomplete result file so the job is visible (rank 0). */
static int setup_job_file(Run *r)
{
    r->ain = (AssembleInput){&r->cfg, r->model, r->eng, r->tok, &r->ex, r->specs, r->spool, MPI_COMM_WORLD,
                             r->yaml, r->sha, r->start_iso};
    int ok = 1;
    if (r->rank == 0) {
        ok = check_job_file(r->spool, r->yaml_res, r->msg, sizeof r->msg) == 0;
        if (ok) {
            H5Out *h = h5out_open_serial(r->cfg.out, 1, r->msg, sizeof r->msg);
            ok = h && write_root_attrs(h, &r->ain, r->nranks, NULL, 0, r->msg, sizeof r->msg) == 0;
            if (h && h5out_close(h, r->msg, sizeof r->msg))
                ok = 0;
        }
    }
    if (mpi_agree(MPI_COMM_WORLD, ok, r->msg, sizeof r->msg))
        return EXIT_RUNTIME;
    const Examples *ex = &r->ex;
    if (r->rank == 0 && !r->a.quiet)
        fprintf(stderr, "attrun: %d rank%s, %ld examples (%ld tokens, %ld skipped, %d truncated), %d method%s, "
                "tokenized in %.2f s\n", r->nranks, r->nranks > 1 ? "s" : "", ex->n, examples_tokens(ex),
                ex->nskipped, ex->n_truncated, r->cfg.n_methods, r->cfg.n_methods > 1 ? "s" : "", r->t_tok);
    return EXIT_OK;
}

/* 5. work units: what the spools do not hold yet; this rank's spool file. */
static int setup_units(Run *r)
{
    SpoolIndex done_idx;
    memset(&done_idx, 0, sizeof done_idx);
    int ok = !r->a.resume || spool_scan(r->spool, 1, &done_idx, r->msg, sizeof r->msg) == 0;
    if (ok)
        ok = schedule_build(&r->sched, &r->ex, r->model, r->specs, r->cfg.n_methods, 1,
                            r->a.resume ? &done_idx : NULL, r->cfg.chunk, r->nranks, r->msg, sizeof r->msg) == 0;
    spool_index_free(&done_idx);
    if (ok)
        ok = spool_open(&r->w, r->spool, r->rank, r->msg, sizeof r->msg) == 0;
    if (mpi_agree(MPI_COMM_WORLD, ok, r->msg, sizeof r->msg)) {
        char ignored[256]; /* the agreed message is the one to print */
        spool_close(&r->w, ignored, sizeof ignored);
        return EXIT_RUNTIME;
    }
    if (r->rank == 0 && !r->a.quiet && r->a.resume)
        fprintf(stderr, "attrun: resuming: %ld units left\n", r->sched.n);
    return EXIT_OK;
}

int run_setup(Run *r)
{
    int code = setup_config_and_output(r);
    if (code == EXIT_OK)
        code = setup_model_and_examples(r);
    if (code == EXIT_OK)
        code = setup_job_file(r);
    if (code == EXIT_OK)
        code = setup_units(r);
    /* the runtime failures' message: once, from rank 0, as agreed */
    if (code == EXIT_RUNTIME && r->rank == 0)
        fprintf(stderr, "attrun run: %s\n", r->msg);
    return code;
}
