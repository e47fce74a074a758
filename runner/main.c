/* attrun: distributed attribution job runner. Dispatches to sub-commands. */
#include "runner/commands.h"
#include <stdio.h>
#include <stdlib.h>
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
    /* Open MPI 4.1's shared-file-pointer component "lockedfile" copies the file name into a
     * fixed buffer when MPI-IO opens a file: an output path of ~241+ characters aborts
     * ("buffer overflow detected") inside H5Fcreate after all the compute. attrun uses no
     * shared file pointers, so that component is excluded for its own runs (read by
     * MPI_Init; a value the user set is kept). */
    setenv("OMPI_MCA_sharedfp", "^lockedfile", 0);
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
