/* attrun run CONFIG.yaml [--set key=value ...] [--resume] [--overwrite] [--quiet] [--progress-every S]
 *
 * The MPI job: every rank loads the model and tokenizer, tokenizes the corpus,
 * builds the same list of work units and takes units from a shared RMA counter
 * until none are left, spooling each finished unit durably. Then every rank
 * assembles its contiguous share of the examples into the one HDF5 file.
 *
 * This file holds the arguments, the signals and the driver; the steps are in
 * run_setup.c, run_loop.c and run_finish.c (run_internal.h).
 *
 * Exit status: 0 done; 1 runtime error; 2 bad usage or configuration;
 * 3 interrupted by SIGTERM/SIGUSR1/SIGINT (spools kept: rerun with --resume). */
#include "engine/clock.h"
#include "runner/commands.h"
#include "runner/run_internal.h"
#include "runner/signals.h"
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: attrun run CONFIG.yaml [--set key=value ...] [--resume] [--overwrite] [--quiet]\n"
            "                  [--progress-every S]\n"
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
            "  --quiet          no progress on stderr (the progress line: units and share of the estimated\n"
            "                   work done, rate in examples' worth of work per second, ETA; with\n"
            "                   corpus.continuation_field the examples are continuation tokens)\n"
            "  --progress-every S  print the progress line every S seconds (default 2)\n"
            "  --help           this text\n"
            "\n"
            "exit status: 0 done, 1 runtime error, 2 bad usage or configuration,\n"
            "             3 interrupted by SIGTERM/SIGUSR1/SIGINT (rerun with --resume; to stop an mpirun\n"
            "             job with status 3 send mpirun SIGUSR1: Open MPI's mpirun exits 1 itself on SIGTERM)\n");
}

static int parse_args(int argc, char **argv, Args *a)
{
    memset(a, 0, sizeof *a);
    a->progress_every = 2.0;
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
        else if (!strcmp(s, "--progress-every")) {
            char *end = NULL;
            a->progress_every = i + 1 < argc ? strtod(argv[i + 1], &end) : 0;
            if (i + 1 >= argc || end == argv[i + 1] || *end || !(a->progress_every > 0)) {
                fprintf(stderr, "attrun run: --progress-every needs a number of seconds > 0\n");
                return 2;
            }
            i++;
        }
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

int cmd_run(int argc, char **argv)
{
    static Run r; /* zero: what teardown frees is NULL until set-up makes it */
    int pa = parse_args(argc, argv, &r.a);
    if (pa == 1) {
        usage(stdout);
        free(r.a.sets);
        return EXIT_OK;
    }
    if (pa == 3) {
        printf("attrun %s (git %s)\n", ATTRUN_VERSION, ATTRUN_GIT);
        free(r.a.sets);
        return EXIT_OK;
    }
    if (pa) {
        free(r.a.sets);
        return EXIT_USAGE;
    }
    r.t_start = clock_now();
    MPI_Init(NULL, NULL);
    MPI_Comm_rank(MPI_COMM_WORLD, &r.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &r.nranks);
    signals_install(); /* from here a signal ends the set-up at once (exit 3) */
    r.lockfd = -1;
    iso_time_now(r.start_iso, sizeof r.start_iso);

    int code = run_setup(&r);
    if (code == RUN_NOTHING_TO_DO)
        return run_teardown(&r, EXIT_OK);
    if (code != EXIT_OK)
        return run_teardown(&r, code);
    run_loop(&r);
    while (run_next_round(&r)) /* adaptive IG: the levels its examples still need */
        run_loop(&r);
    return run_teardown(&r, run_finish(&r));
}
