/* The one wall clock of attrun: monotonic seconds, for durations only (progress, ETA,
 * profiles, the summary). Header-only so the engine's per-op profile costs a call-free read. */
#ifndef ATTRUN_CLOCK_H
#define ATTRUN_CLOCK_H
#include <time.h>

static inline double clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
#endif
