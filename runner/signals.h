/* SIGTERM, SIGINT and SIGUSR1 for `attrun run`, honoured from the first line of the job.
 *
 * Two phases. During set-up (config parsing, model and corpus loading) attrun has written
 * nothing yet, so a signal ends the process at once with exit status 3 (a one-line message,
 * async-signal-safe): a long parse or load never outlives a scheduler's SIGTERM. Once
 * signals_defer() is called (just before the first file is created) a signal only sets a
 * flag that the compute loop polls, so every finished unit is spooled and the job stops at
 * a unit boundary, also with exit status 3.
 *
 * Under mpirun: Open MPI 4.1's mpirun forwards SIGUSR1 to the ranks and then exits with
 * their status (3), but on SIGTERM/SIGINT it kills the ranks itself and always exits 1
 * (hard-coded; it refuses to forward SIGTERM). srun returns the ranks' 3 for SIGTERM. */
#ifndef ATTRUN_SIGNALS_H
#define ATTRUN_SIGNALS_H
/* Installs the handlers in immediate-exit mode. */
void signals_install(void);
/* From now on a signal sets the flag only. */
void signals_defer(void);
/* The signal received since signals_defer (0 when none). */
int signals_pending(void);
#endif
