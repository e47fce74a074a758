/* attrun run CONFIG.yaml [--set key=value ...] [--resume] [--overwrite] [--quiet]
 *
 * The MPI job: every rank loads the model and tokenizer, tokenizes the corpus,
 * builds the same list of work units and takes units from a shared RMA counter
 * until none are left, spooling each finished unit durably. Then every rank
 * assembles its contiguous share of the examples into the one HDF5 file.
 *
 * Exit status: 0 done; 1 runtime error; 2 bad usage or configuration;
 * 3 interrupted by SIGTERM/SIGUSR1/SIGINT (spools kept: rerun with --resume). */
#include "io/checkpoint.h"
#include "io/h5out.h"
#include "io/tokenizer.h"
#include "runner/analysis.h"
#include "runner/assemble.h"
#include "runner/commands.h"
#include "runner/config.h"
#include "runner/inputs_digest.h"
#include "runner/job.h"
#include "runner/lock.h"
#include "runner/outpath.h"
#include "runner/schedule.h"
#include "runner/signals.h"
#include "runner/spool.h"
#include <errno.h>
#include <limits.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_INTERRUPTED = 3 };

static void usage(FILE *f)
{
    fprintf(f,
            "usage: attrun run CONFIG.yaml [--set key=value ...] [--resume] [--overwrite] [--quiet]\n"
            "       mpirun -np N attrun run CONFIG.yaml ...     (or srun attrun run ...)\n"
            "\n"
            "Computes the attributions configured in CONFIG.yaml (see configs/README.md) for every\n"
            "example of the corpus and writes one HDF5 file (docs/hdf5-schema.md). Relative paths\n"
            "in the config resolve against the current directory.\n"
            "\n"
            "options:\n"
            "  --set key=value  override a config key, e.g. --set ig.steps=32 --set methods=[ig,saliency]\n"
            "  --resume         continue an interrupted job from its spools (<out>.spool/)\n"
            "  --overwrite      replace an existing output file (and its spools)\n"
            "  --quiet          no progress on stderr\n"
            "  --help           this text\n"
            "\n"
            "exit status: 0 done, 1 runtime error, 2 bad usage or configuration,\n"
            "             3 interrupted by SIGTERM/SIGUSR1/SIGINT (rerun with --resume; to stop an mpirun\n"
            "             job with status 3 send mpirun SIGUSR1: Open MPI's mpirun exits 1 itself on SIGTERM)\n");
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* Every rank learns whether all succeeded; the lowest failing rank's message is printed once. */
static int all_ok(int rank, int ok, const char *msg)
{
    int mine = ok ? INT_MAX : rank, first;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (first == INT_MAX)
        return 1;
    if (rank == first)
        fprintf(stderr, "attrun run: %s\n", msg);
    return 0;
}

static void fmt_dur(double s, char *b, size_t n)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(b, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(b, n, "%ld:%02ld", t / 60, t % 60);
}

typedef struct {
    char resume_cmd[2048];  /* the command line to continue this job */
    const char *config_path;
    char **sets;
    int nsets;
    int resume, overwrite, quiet;
} Args;

static int parse_args(int argc, char **argv, Args *a)
{
    memset(a, 0, sizeof *a);
    a->sets = calloc(argc + 1, sizeof(char *));
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "--help") || !strcmp(s, "-h"))
            return 1;
        if (!strcmp(s, "--version"))
            return 3;
        if (!strcmp(s, "--resume"))
            a->resume = 1;
        else if (!strcmp(s, "--overwrite"))
            a->overwrite = 1;
        else if (!strcmp(s, "--quiet") || !strcmp(s, "-q"))
            a->quiet = 1;
        else if (!strcmp(s, "--set")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "attrun run: --set needs key=value\n");
                return 2;
            }
            a->sets[a->nsets++] = argv[++i];
        } else if (!strncmp(s, "--set=", 6))
            a->sets[a->nsets++] = (char *)s + 6;
        else if (s[0] == '-' && s[1]) {
            fprintf(stderr, "attrun run: unknown option '%s' (see attrun run --help)\n", s);
            return 2;
        } else if (!a->config_path)
            a->config_path = s;
        else {
            fprintf(stderr, "attrun run: more than one config file ('%s' and '%s')\n", a->config_path, s);
            return 2;
        }
    }
    if (a->resume && a->overwrite) {
        fprintf(stderr, "attrun run: --resume and --overwrite exclude each other\n");
        return 2;
    }
    if (!a->config_path) {
        fprintf(stderr, "attrun run: missing CONFIG.yaml (see attrun run --help)\n");
        return 2;
    }
    /* the same job, resumed: config and --set options as given (quoted), plus --resume */
    snprintf(a->resume_cmd, sizeof a->resume_cmd, "attrun run '%s'", a->config_path);
    for (int i = 0; i < a->nsets; i++)
        snprintf(a->resume_cmd + strlen(a->resume_cmd), sizeof a->resume_cmd - strlen(a->resume_cmd),
                 " --set '%s'", a->sets[i]);
    snprintf(a->resume_cmd + strlen(a->resume_cmd), sizeof a->resume_cmd - strlen(a->resume_cmd), " --resume");
    return 0;
}

/* RoBERTa derives position ids from the input ids: the pad token gets position padding_idx,
 * so a pad/pad_all baseline has other position ids than the input and Captum's delta
 * (which evaluates F(baseline) with the baseline's own positions) is large although the
 * attributions are right (docs/models.md). Writes the warning into msg; 0 when none applies. */
static int position_warning(const RunConfig *c, const Model *m, char *msg, size_t n)
{
    if (m->cfg.arch != ARCH_ROBERTA)
        return 0;
    for (int i = 0; i < c->n_methods; i++) {
        MethodKind k = c->methods[i];
        /* methods with a baseline: all of them (gradshap, deepliftshap) or the first */
        int first = k == M_IG || k == M_DEEPLIFT || k == M_CONDUCTANCE ||
                    (k == M_SMOOTHGRAD && c->smoothgrad.base == M_IG);
        int nb = k == M_GRADSHAP || k == M_DEEPLIFTSHAP ? c->nbaselines : first;
        for (int b = 0; b < nb; b++)
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

typedef struct {
    double busy, flops;
    long units;
} WorkStats;

/* Computes unit u and appends it to the spool. */
static int run_unit(Engine *eng, const Model *m, const Examples *ex, const RunConfig *cfg, const MethodSpec *specs,
                    const Unit *u, int *tcache, SpoolWriter *w, char *msg, size_t n)
{
    const char *why = NULL;
    void *buf = NULL;
    size_t bytes = 0;
    if (u->method == SPOOL_BASE) {
        BaseResult r;
        if (base_run(eng, ex, u->example, analysis_wants_attention(cfg), analysis_wants_hidden(cfg), &r, &why)) {
            snprintf(msg, n, "example %d (corpus row %ld), forward: %s", u->example, ex->row[u->example],
                     why ? why : "failed");
            return -1;
        }
        if (analysis_base(cfg, &m->cfg, ex, u->example, &r, msg, n)) {
            base_free(&r);
            return -1;
        }
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

static void progress(int quiet, Counters *ctr, const Schedule *s, long n_ex, long ex_before, double t0, int final)
{
    if (quiet)
        return;
    int64_t ud, ed;
    counters_progress(ctr, &ud, &ed);
    double el = now() - t0, rate = el > 0 ? (ed - ex_before) / el : 0;
    char eta[32] = "?";
    if (ud > 0 && ud < s->n)
        fmt_dur(el * (s->n - ud) / ud, eta, sizeof eta);
    else if (ud >= s->n)
        snprintf(eta, sizeof eta, "0:00");
    fprintf(stderr, "attrun: units %lld/%ld  examples %lld/%ld  %.2f examples/s  ETA %s%s\n", (long long)ud, s->n,
            (long long)ed, n_ex, rate, eta, final ? "" : "");
}

int cmd_run(int argc, char **argv)
{
    Args a;
    int pa = parse_args(argc, argv, &a);
    if (pa == 1) {
        usage(stdout);
        free(a.sets);
        return EXIT_OK;
    }
    if (pa == 3) {
        printf("attrun %s (git %s)\n", ATTRUN_VERSION, ATTRUN_GIT);
        free(a.sets);
        return EXIT_OK;
    }
    if (pa) {
        free(a.sets);
        return EXIT_USAGE;
    }
    double t_start = now();
    MPI_Init(NULL, NULL);
    int rank, nranks;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    signals_install(); /* from here a signal ends the set-up at once (exit 3) */

    int code = EXIT_OK;
    char msg[8192] = "";
    RunConfig cfg;
    Model *model = NULL;
    Tokenizer *tok = NULL;
    Engine *eng = NULL;
    Examples ex;
    memset(&ex, 0, sizeof ex);
    char *yaml = NULL, *yaml_res = NULL, *spool = NULL, start_iso[64];
    InputsDigest dig;
    memset(&dig, 0, sizeof dig);
    int lockfd = -1;
    iso_time_now(start_iso, sizeof start_iso);

    /* 1. configuration (every rank parses the same file) */
    int ok = config_load(&cfg, a.config_path, a.sets, a.nsets, msg, sizeof msg) == 0;
    if (!all_ok(rank, ok, msg)) {
        code = EXIT_USAGE;
        goto done;
    }
    if (rank == 0 && config_warnings(&cfg, msg, sizeof msg))
        fprintf(stderr, "attrun run: warning: %s\n", msg);
    yaml = config_to_yaml(&cfg, 0);
    yaml_res = config_to_yaml(&cfg, 1);
    spool = out_spool_path(cfg.out);

    /* 2. the output: refuse, replace or resume (rank 0 decides, everyone follows); nothing is
     *    written before everything is loaded, so a failed start leaves nothing behind */
    int prep = 0;
    if (rank == 0)
        prep = out_precheck(&cfg, a.config_path, spool, a.resume, a.overwrite, yaml_res, msg, sizeof msg);
    MPI_Bcast(&prep, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (prep == OUT_COMPLETE) {
        if (rank == 0)
            fprintf(stderr, "attrun run: %s\n", msg);
        goto done;
    }
    if (prep) {
        if (rank == 0)
            fprintf(stderr, "attrun run: %s\n", msg);
        code = prep;
        goto done;
    }

    /* 3. model, tokenizer, engine, examples (every rank) */
    if (!all_ok(rank, corpus_shareable(cfg.corpus.path, nranks, msg, sizeof msg) == 0, msg)) {
        code = EXIT_USAGE;
        goto done;
    }
    model = checkpoint_load(cfg.model, msg, sizeof msg);
    ok = model != NULL;
    if (ok) {
        tok = tokenizer_load(cfg.model, msg, sizeof msg);
        ok = tok != NULL;
    }
    if (ok) /* every rank: the ranks must agree on it (step 3b) */
        ok = checkpoint_weights_sha256(cfg.model, dig.weights, msg, sizeof msg) == 0;
    if (ok && engine_set_precision(cfg.precision ? "bf16" : "fp32")) {
        snprintf(msg, sizeof msg, "precision: bf16 is unavailable here: %s", engine_bf16_status());
        ok = 0;
    }
    if (ok) {
        engine_set_threads(cfg.threads);
        eng = engine_create(model);
        if (!eng) {
            snprintf(msg, sizeof msg, "%s: cannot create the engine (out of memory?)", cfg.model);
            ok = 0;
        }
    }
    if (!all_ok(rank, ok, msg)) {
        code = EXIT_RUNTIME;
        goto done;
    }
    double t_tok = now();
    int lr = examples_load(&ex, &cfg, model, tok, rank == 0, msg, sizeof msg);
    int cfg_err = lr == -2, any_cfg_err;
    MPI_Allreduce(&cfg_err, &any_cfg_err, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (!all_ok(rank, lr == 0, msg)) {
        code = any_cfg_err ? EXIT_USAGE : EXIT_RUNTIME;
        goto done;
    }
    if (ex.n == 0 && ex.nskipped > 0) { /* every row skipped: nothing to explain is an error */
        if (rank == 0) {
            fprintf(stderr, "attrun run: every one of the %ld corpus rows was skipped (corpus.on_error: skip); "
                    "the first reasons:\n", ex.nskipped);
            for (long i = 0; i < ex.nskipped && i < 5; i++)
                fprintf(stderr, "  %s\n", ex.skip_reason[i]);
        }
        code = EXIT_RUNTIME;
        goto done;
    }
    /* 3b. every rank read the same inputs (a pipe, or node-local copies that differ, would
     *     otherwise give each rank its own example list and hang or mix the results) */
    ok = inputs_digest(cfg.model, &ex, &dig, msg, sizeof msg) == 0;
    if (!all_ok(rank, ok, msg) || !inputs_agree(&dig, MPI_COMM_WORLD, msg, sizeof msg)) {
        if (rank == 0 && ok)
            fprintf(stderr, "attrun run: %s\n", msg);
        code = EXIT_RUNTIME;
        goto done;
    }
    t_tok = now() - t_tok;
    if (rank == 0 && position_warning(&cfg, model, msg, sizeof msg))
        fprintf(stderr, "attrun run: %s\n", msg);
    MethodSpec specs[M_NUM_METHODS];
    for (int i = 0; i < cfg.n_methods; i++)
        config_method_spec(&cfg, cfg.methods[i], &specs[i]);

    AssembleInput ain = {&cfg, model, eng, tok, &ex, specs, spool, MPI_COMM_WORLD, yaml, dig.weights, start_iso};
    /* 4. claim the output (lock, --overwrite), bind the spools to this job's configuration and
     *    inputs, and an incomplete result file so the job is visible (rank 0). From here on a
     *    signal stops the job at a unit boundary. */
    signals_defer();
    int claim = 0;
    if (rank == 0) {
        claim = out_claim(&cfg, a.config_path, spool, a.overwrite, &lockfd, msg, sizeof msg);
        if (!claim) {
            char *inputs = inputs_text(&dig);
            claim = out_bind_spool(spool, yaml_res, inputs, &dig, &cfg, msg, sizeof msg);
            free(inputs);
        }
    }
    MPI_Bcast(&claim, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (claim) {
        if (rank == 0)
            fprintf(stderr, "attrun run: %s\n", msg);
        code = claim;
        goto done;
    }
    ok = 1;
    if (rank == 0) {
        ok = out_not_held(cfg.out, msg, sizeof msg) == 0;
        if (ok) {
            H5Out *h = h5out_open_serial(cfg.out, 1, msg, sizeof msg);
            ok = h && write_root_attrs(h, &ain, nranks, NULL, 0, msg, sizeof msg) == 0;
            if (h && h5out_close(h, msg, sizeof msg))
                ok = 0;
        }
    }
    if (!all_ok(rank, ok, msg)) {
        code = EXIT_RUNTIME;
        goto done;
    }
    if (rank == 0 && !a.quiet)
        fprintf(stderr, "attrun: %d rank%s, %ld examples (%ld tokens, %ld skipped, %d truncated), %d method%s, "
                "tokenized in %.2f s\n", nranks, nranks > 1 ? "s" : "", ex.n, examples_tokens(&ex), ex.nskipped,
                ex.n_truncated, cfg.n_methods, cfg.n_methods != 1 ? "s" : "", t_tok);

    /* 5. work units: what the spools do not hold yet */
    SpoolIndex done_idx;
    memset(&done_idx, 0, sizeof done_idx);
    ok = !a.resume || spool_scan(spool, &done_idx, msg, sizeof msg) == 0;
    Schedule sched;
    memset(&sched, 0, sizeof sched);
    if (ok)
        ok = schedule_build(&sched, &ex, model, specs, cfg.n_methods, 1, a.resume ? &done_idx : NULL,
                            cfg.chunk, nranks, msg, sizeof msg) == 0;
    spool_index_free(&done_idx);
    SpoolWriter w = {0};
    if (ok)
        ok = spool_open(&w, spool, rank, msg, sizeof msg) == 0;
    if (!all_ok(rank, ok, msg)) {
        code = EXIT_RUNTIME;
        schedule_free(&sched);
        spool_close(&w, msg, sizeof msg);
        goto done;
    }
    if (rank == 0 && !a.quiet && a.resume)
        fprintf(stderr, "attrun: resuming: %ld units left\n", sched.n);
    Counters ctr;
    counters_create(&ctr, MPI_COMM_WORLD, &sched, ex.n);
    int64_t ex_before = 0, tmp;
    if (rank == 0)
        counters_progress(&ctr, &tmp, &ex_before);

    /* 6. compute: take units until none are left, a signal comes, or an error */
    int *tcache = malloc(sizeof(int) * (ex.n ? ex.n : 1));
    for (long i = 0; i < ex.n; i++)
        tcache[i] = -1;
    WorkStats ws = {0};
    double t_work = now(), last_print = t_work;
    int failed = 0;
    for (;;) {
        if (signals_pending()) {
            counters_stop(&ctr, sched.n);
            break;
        }
        int64_t i = counters_next(&ctr);
        if (i >= sched.n)
            break;
        const Unit *u = &sched.u[i];
        double t = now();
        if (run_unit(eng, model, &ex, &cfg, specs, u, tcache, &w, msg, sizeof msg)) {
            failed = 1;
            counters_stop(&ctr, sched.n);
            break;
        }
        ws.busy += now() - t;
        ws.flops += u->cost;
        ws.units++;
        counters_done(&ctr, u->example);
        if (rank == 0 && now() - last_print >= 2.0) {
            last_print = now();
            progress(a.quiet, &ctr, &sched, ex.n, ex_before, t_work, 0);
        }
    }
    /* rank 0 keeps reporting while the others finish their last units */
    if (rank == 0 && !failed) {
        for (;;) {
            int64_t ud, ed;
            counters_progress(&ctr, &ud, &ed);
            if (ud >= sched.n || signals_pending())
                break;
            int64_t next, zero = 0;
            MPI_Fetch_and_op(&zero, &next, MPI_INT64_T, 0, 0, MPI_NO_OP, ctr.win);
            MPI_Win_flush(0, ctr.win);
            if (next >= ((int64_t)1 << 40)) /* someone stopped */
                break;
            usleep(50000);
            if (now() - last_print >= 2.0) {
                last_print = now();
                progress(a.quiet, &ctr, &sched, ex.n, ex_before, t_work, 0);
            }
        }
    }
    if (spool_close(&w, msg, sizeof msg) && !failed) {
        failed = 1;
        counters_stop(&ctr, sched.n);
    }
    free(tcache);
    if (rank == 0)
        progress(a.quiet, &ctr, &sched, ex.n, ex_before, t_work, 1);
    MPI_Barrier(MPI_COMM_WORLD);
    double work_s = now() - t_work;
    counters_free(&ctr);
    int stopped = signals_pending() != 0, any_stopped;
    MPI_Allreduce(&stopped, &any_stopped, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (!all_ok(rank, !failed, msg)) {
        if (rank == 0)
            fprintf(stderr, "attrun run: finished units are kept in %s; after fixing the cause, continue with "
                    "(under mpirun/srun as before): %s\n", spool, a.resume_cmd);
        code = EXIT_RUNTIME;
        schedule_free(&sched);
        goto done;
    }
    if (any_stopped) {
        if (rank == 0)
            fprintf(stderr, "attrun run: interrupted by a signal; finished units are kept in %s and %s is "
                    "incomplete (complete = 0). Continue with (under mpirun/srun as before, any number of "
                    "ranks): %s\n", spool, cfg.out, a.resume_cmd);
        code = EXIT_INTERRUPTED;
        schedule_free(&sched);
        goto done;
    }

    /* 7. assembly into the HDF5 file (not while a reader holds it open: HDF5's lock) */
    AssembleStats ast;
    ok = rank != 0 || out_not_held(cfg.out, msg, sizeof msg) == 0;
    if (!all_ok(rank, ok, msg)) {
        code = EXIT_RUNTIME;
        schedule_free(&sched);
        goto done;
    }
    ok = assemble(&ain, &ast, msg, sizeof msg) == 0;
    if (!ok) {
        char held[2048];
        int is_held = rank == 0 && out_not_held(cfg.out, held, sizeof held) != 0; /* a reader came meanwhile */
        if (rank == 0)
            fprintf(stderr, "attrun run: assembly failed: %s\n%s%s(spools kept in %s; rerun with: %s)\n", msg,
                    is_held ? held : "", is_held ? "\n" : "", spool, a.resume_cmd);
        code = EXIT_RUNTIME;
        schedule_free(&sched);
        goto done;
    }
    if (rank == 0 && spool_remove_dir(spool, 0, msg, sizeof msg))
        fprintf(stderr, "attrun run: warning: %s\n", msg);
    if (rank == 0) {
        spool_unlock(lockfd, spool); /* the lock file is gone with the directory; release */
        lockfd = -1;
    }

    /* 8. summary */
    double busy[4] = {ws.busy, ws.flops, (double)ws.units, (double)w.bytes};
    double *all = rank == 0 ? malloc(sizeof(double) * 4 * nranks) : NULL;
    MPI_Gather(busy, 4, MPI_DOUBLE, all, 4, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (rank == 0 && !a.quiet) {
        double flops = 0, spooled = 0;
        for (int r = 0; r < nranks; r++) {
            flops += all[4 * r + 1];
            spooled += all[4 * r + 3];
        }
        double wall = now() - t_start;
        fprintf(stderr, "attrun: done in %.2f s: %ld examples, %.2f examples/s; compute %.2f s at %.2f GFLOP/s "
                "(estimated), assembly %.2f s (HDF5 %.2f s, %.1f MB, %.1f MB/s; file %.1f MB)\n", wall, ex.n,
                wall > 0 ? ex.n / wall : 0, work_s, work_s > 0 ? flops / work_s * 1e-9 : 0, ast.seconds,
                ast.write_seconds, ast.bytes / 1e6, ast.write_seconds > 0 ? ast.bytes / 1e6 / ast.write_seconds : 0,
                ast.file_bytes / 1e6);
        fprintf(stderr, "attrun: busy share per rank:");
        for (int r = 0; r < nranks; r++)
            fprintf(stderr, " %d:%.0f%% (%.0f units)", r, work_s > 0 ? 100 * all[4 * r] / work_s : 0,
                    all[4 * r + 2]);
        /* this run's spool writes (a resumed run adds to what earlier runs spooled) */
        fprintf(stderr, "\nattrun: spooled %.1f MB (%.1f x the result file)\nattrun: wrote %s\n", spooled / 1e6,
                ast.file_bytes > 0 ? spooled / ast.file_bytes : 0, cfg.out);
    }
    free(all);
    schedule_free(&sched);

done:
    if (eng)
        engine_free(eng);
    if (tok)
        tokenizer_free(tok);
    if (model)
        model_free(model);
    examples_free(&ex);
    free(yaml);
    free(yaml_res);
    free(spool);
    config_free(&cfg);
    free(a.sets);
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
