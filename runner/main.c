/* attrun: distributed attribution job runner. Dispatches to sub-commands. */
#include "runner/commands.h"
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "attrun %s (%s): attributions for BERT-family models, as an MPI batch job\n"
            "\n"
            "usage: attrun COMMAND [options]\n"
            "\n"
            "commands:\n"
            "  run CONFIG.yaml [--set key=value ...] [--resume] [--overwrite] [--quiet]\n"
            "                   run an attribution job (under mpirun/srun or alone)\n"
            "  config CONFIG.yaml [--set key=value ...]\n"
            "                   check a job configuration and print it resolved (no model loaded)\n"
            "  tokenize --model DIR [--max-length N]\n"
            "                   JSONL {\"text\": ...} on stdin -> ids, tokens, offsets on stdout\n"
            "  bench [--threads N] [--batch B] [--tokens T]\n"
            "                   engine GFLOP/s on a BERT-base-shaped model vs the sgemm ceiling\n"
            "\n"
            "  attrun COMMAND --help   options of one command\n"
            "  attrun --version\n",
            ATTRUN_VERSION, ATTRUN_GIT);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("attrun %s (git %s)\n", ATTRUN_VERSION, ATTRUN_GIT);
        return 0;
    }
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "config"))
        return cmd_config(argc - 1, argv + 1);
    if (!strcmp(cmd, "tokenize"))
        return cmd_tokenize(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench"))
        return cmd_bench(argc - 1, argv + 1);
    fprintf(stderr, "attrun: unknown command '%s' (see attrun --help)\n", cmd);
    return 2;
}
