/* Interim: replaced by the real command in this same file. */
#include "runner/commands.h"
#include <stdio.h>
int cmd_bench(int argc, char **argv)
{
    (void)argc; (void)argv;
    fprintf(stderr, "attrun bench: not built yet\n");
    return 2;
}
