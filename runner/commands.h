/* Sub-commands of the attrun executable; each lives in its own file. */
#ifndef ATTRUN_COMMANDS_H
#define ATTRUN_COMMANDS_H
int cmd_run(int argc, char **argv);       /* runner/cmd_run.c: attrun run CONFIG.yaml ... */
int cmd_tokenize(int argc, char **argv);  /* runner/cmd_tokenize.c: JSONL in, JSONL out */
int cmd_bench(int argc, char **argv);
int cmd_config(int argc, char **argv);    /* runner/cmd_config.c: check and print a job configuration */     /* runner/cmd_bench.c: engine GFLOP/s vs sgemm ceiling */
#endif
