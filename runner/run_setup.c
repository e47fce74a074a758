/* attrun run, set-up: configuration, the output (refuse, replace or resume), model, tokenizer,
 * engine, examples, the spools' job file and the list of work units (run_internal.h). */
#include "engine/clock.h"
#include "io/checkpoint.h"
#include "io/h5out.h"
#include "io/mpi_agree.h"
#include "runner/outpath.h"
#include "runner/run_internal.h"
#include "runner/signals.h"
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Rank 0: whether the ranks of a node share one copy of the weights (share_weights). Said
 * when there is something to share or sharing was asked for; a single rank in auto or off
 * mode prints nothing, as before the key existed. */
static void weights_line(const Run *r)
{
    const SharedWeights *sw = &r->sw;
    static const char *const mode[] = {"auto", "on", "off"};
    if (r->nranks == 1 && r->cfg.share_weights != SHARE_ON)
        return;
    double f32 = sw->f32_bytes / 1048576.0, bf = sw->bf16_bytes / 1048576.0;
    if (sw->nodes_shared > 0) {
        fprintf(stderr, "attrun: weights_shared: true (share_weights: %s): one copy per node, %.1f MiB fp32",
                mode[r->cfg.share_weights], f32);
        if (sw->bf16_shared)
            fprintf(stderr, " + %.1f MiB bf16", bf);
        fprintf(stderr, ", shared by up to %d rank%s on each of %d of %d node%s\n", sw->max_node_ranks,
                sw->max_node_ranks != 1 ? "s" : "", sw->nodes_shared, sw->nodes, sw->nodes != 1 ? "s" : "");
    } else {
        fprintf(stderr, "attrun: weights_shared: false (share_weights: %s): each of the %d ranks holds its own "
                "%.1f MiB copy\n", mode[r->cfg.share_weights], r->nranks, f32);
    }
    if (sw->note[0])
        fprintf(stderr, "attrun: note (rank 0's node): %s\n", sw->note);
}

/* Rank 0 prints the agreed message of a failed step; returns the exit code. */
static int fail(const Run *r, int code)
{
    if (r->rank == 0)
        fprintf(stderr, "attrun run: %s\n", r->msg);
    return code;
}

/* 1. configuration (every rank parses the same file), 2. the output: refuse, replace or
 *    resume (rank 0 decides, everyone follows); nothing is written before everything is
 *    loaded, so a failed start leaves nothing behind. */
static int setup_config_and_output(Run *r)
{
    int ok = config_load(&r->cfg, r->a.config_path, r->a.sets, r->a.nsets, r->msg, sizeof r->msg) == 0;
    if (mpi_agree(MPI_COMM_WORLD, ok, r->msg, sizeof r->msg))
        return fail(r, EXIT_USAGE);
    if (r->rank == 0 && config_warnings(&r->cfg, r->msg, sizeof r->msg))
        fprintf(stderr, "attrun run: warning: %s\n", r->msg);
    r->yaml = config_to_yaml(&r->cfg, 0);
    r->yaml_res = config_to_yaml(&r->cfg, 1);
    r->spool = out_spool_path(r->cfg.out);

    int prep = 0;
    if (r->rank == 0)
        prep = out_precheck(&r->cfg, r->a.config_path, r->spool, r->a.resume, r->a.overwrite, r->yaml_res, r->msg,
                            sizeof r->msg);
    MPI_Bcast(&prep, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (prep == OUT_COMPLETE) {
        fail(r, EXIT_OK);
        return RUN_NOTHING_TO_DO;
    }
    return prep ? fail(r, prep) : EXIT_OK;
}

/* 3. model, tokenizer, engine, examples (every rank), and 3b. the ranks read the same inputs. */
static int setup_model_and_examples(Run *r)
{
    char *msg = r->msg;
    size_t n = sizeof r->msg;
    if (mpi_agree(MPI_COMM_WORLD, corpus_shareable(r->cfg.corpus.path, r->nranks, msg, n) == 0, msg, n))
        return fail(r, EXIT_USAGE);
    r->model = checkpoint_load_shared(r->cfg.model, MPI_COMM_WORLD, (ShareMode)r->cfg.share_weights, &r->sw, msg, n);
    int ok = r->model != NULL;
    if (ok) {
        r->tok = tokenizer_load(r->cfg.model, msg, n);
        ok = r->tok != NULL;
    }
    if (ok) /* every rank: the ranks must agree on it (3b) */
        ok = checkpoint_weights_sha256(r->cfg.model, r->dig.weights, msg, n) == 0;
    if (ok && engine_set_precision(config_precision_name(r->cfg.precision))) {
        snprintf(msg, n, "precision: %s is unavailable here: %s", config_precision_name(r->cfg.precision),
                 engine_bf16_status());
        ok = 0;
    }
    if (ok) {
        engine_set_threads(r->cfg.threads);
        r->eng = engine_create(r->model);
        if (r->eng) {
            engine_set_activation_budget(r->eng, (size_t)r->cfg.activation_mib << 20);
            /* an item block must be one engine pass (attribution.h); 2048: the engine's default,
             * which the other calls (base forward, F(x) and F(baselines)) keep */
            engine_set_microbatch_tokens(r->eng, r->cfg.microbatch_tokens > 2048 ? r->cfg.microbatch_tokens : 2048);
        }
        if (!r->eng) {
            snprintf(msg, n, "%s: cannot create the engine (out of memory?)", r->cfg.model);
            ok = 0;
        }
    }
    if (mpi_agree(MPI_COMM_WORLD, ok, msg, n))
        return fail(r, EXIT_RUNTIME);
    /* every rank loaded the model: the bf16 copies of its linear weights once per node */
    ok = !r->cfg.precision || checkpoint_share_bf16(r->model, &r->sw, (ShareMode)r->cfg.share_weights, msg, n) == 0;
    if (mpi_agree(MPI_COMM_WORLD, ok, msg, n))
        return fail(r, EXIT_RUNTIME);
    double t_tok = clock_now();
    int lr = examples_load(&r->ex, &r->cfg, r->model, r->tok, r->rank == 0, msg, n);
    int cfg_err = lr == -2, any_cfg_err;
    MPI_Allreduce(&cfg_err, &any_cfg_err, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (mpi_agree(MPI_COMM_WORLD, lr == 0, msg, n))
        return fail(r, any_cfg_err ? EXIT_USAGE : EXIT_RUNTIME);
    const Examples *ex = &r->ex;
    if (ex->n == 0 && ex->nskipped > 0) { /* every row skipped: nothing to explain is an error */
        if (r->rank == 0) {
            fprintf(stderr, "attrun run: every one of the %ld corpus rows was skipped (corpus.on_error: skip or "
                    "corpus.on_long: skip); the first reasons:\n", ex->nskipped);
            for (long i = 0; i < ex->nskipped && i < 5; i++)
                fprintf(stderr, "  %s\n", ex->skip_reason[i]);
        }
        return EXIT_RUNTIME;
    }
    /* 3b. every rank read the same inputs (a pipe, or node-local copies that differ, would
     *     otherwise give each rank its own example list and hang or mix the results) */
    ok = inputs_digest(r->cfg.model, ex, &r->dig, msg, n) == 0;
    if (mpi_agree(MPI_COMM_WORLD, ok, msg, n) || !inputs_agree(&r->dig, MPI_COMM_WORLD, msg, n))
        return fail(r, EXIT_RUNTIME);
    r->t_tok = clock_now() - t_tok;
    for (int i = 0; i < r->cfg.n_methods; i++)
        config_method_spec(&r->cfg, r->cfg.methods[i], &r->specs[i]);
    if (r->rank == 0 && position_warning(&r->cfg, r->model, r->specs, msg, n))
        fprintf(stderr, "attrun run: %s\n", msg);
    /* bf16 products make successive rules differ by ~1e-4 of max |a| at any number of nodes */
    if (r->rank == 0 && r->cfg.precision && r->cfg.ig.steps == IG_STEPS_AUTO && r->cfg.ig.tolerance < 1e-3)
        for (int i = 0; i < r->cfg.n_methods; i++)
            if (r->cfg.methods[i] == M_IG)
                fprintf(stderr, "attrun run: warning: ig.steps: auto with precision: bf16 and ig.tolerance %g: the "
                        "bf16 products alone make two rules differ by about 1e-4 of the largest attribution, so "
                        "most examples will run to ig.max_steps unconverged; use ig.tolerance >= 1e-3 with bf16 "
                        "(docs/performance.md)\n", r->cfg.ig.tolerance);
    return EXIT_OK;
}

/* 4. claim the output (lock, --overwrite), bind the spools to this job's configuration and
 *    inputs, and an incomplete result file so the job is visible (rank 0). From here on a
 *    signal stops the job at a unit boundary. */
static int setup_claim_output(Run *r)
{
    r->ain = (AssembleInput){&r->cfg, r->model, r->eng, r->tok, &r->ex, r->specs, r->spool, MPI_COMM_WORLD,
                             r->yaml, r->dig.weights, r->start_iso};
    signals_defer();
    int claim = 0;
    if (r->rank == 0) {
        claim = out_claim(&r->cfg, r->a.config_path, r->spool, r->a.resume, r->a.overwrite, &r->lockfd, r->msg,
                          sizeof r->msg);
        if (!claim) {
            char *inputs = inputs_text(&r->dig);
            claim = out_bind_spool(r->spool, r->yaml_res, inputs, &r->dig, &r->cfg, r->msg, sizeof r->msg);
            free(inputs);
        }
    }
    MPI_Bcast(&claim, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (claim)
        return fail(r, claim);
    int ok = 1;
    if (r->rank == 0) {
        ok = out_not_held(r->cfg.out, r->msg, sizeof r->msg) == 0;
        if (ok) {
            H5Out *h = h5out_open_serial(r->cfg.out, 1, r->msg, sizeof r->msg);
            ok = h && write_root_attrs(h, &r->ain, r->nranks, NULL, 0, r->msg, sizeof r->msg) == 0;
            if (h && h5out_close(h, r->msg, sizeof r->msg))
                ok = 0;
        }
    }
    if (mpi_agree(MPI_COMM_WORLD, ok, r->msg, sizeof r->msg))
        return fail(r, EXIT_RUNTIME);
    const Examples *ex = &r->ex;
    if (r->rank == 0 && !r->a.quiet && ex->cont_example) /* each example is one continuation token */
        fprintf(stderr, "attrun: %d rank%s, %ld continuation tokens (rows) of %ld prompt/continuation pair%s "
                "(%ld prefix tokens, %ld corpus rows skipped, %d truncated), %d method%s, tokenized in %.2f s\n",
                r->nranks, r->nranks > 1 ? "s" : "", ex->n, ex->n_cont, ex->n_cont != 1 ? "s" : "",
                examples_tokens(ex), ex->nskipped, ex->n_truncated, r->cfg.n_methods,
                r->cfg.n_methods != 1 ? "s" : "", r->t_tok);
    else if (r->rank == 0 && !r->a.quiet)
        fprintf(stderr, "attrun: %d rank%s, %ld examples (%ld tokens, %ld skipped, %d truncated), %d method%s, "
                "tokenized in %.2f s\n", r->nranks, r->nranks > 1 ? "s" : "", ex->n, examples_tokens(ex),
                ex->nskipped, ex->n_truncated, r->cfg.n_methods, r->cfg.n_methods != 1 ? "s" : "", r->t_tok);
    if (r->rank == 0 && !r->a.quiet)
        weights_line(r);
    return EXIT_OK;
}

/* 5. work units: what the spools do not hold yet; this rank's spool file (run_rounds.c). */
static int setup_units(Run *r)
{
    if (run_units(r, r->a.resume))
        return fail(r, EXIT_RUNTIME);
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
        code = setup_claim_output(r);
    if (code == EXIT_OK)
        code = setup_units(r);
    return code;
}
