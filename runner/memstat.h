/* What this process holds in memory, from Linux's /proc/self (for the run summary and the
 * memory tests). RSS counts every resident page the process maps, so a page shared by N
 * ranks (the node's shared weights, io/checkpoint_shared.h; the libraries) is in the RSS of
 * each of them; PSS (proportional set size, /proc/self/smaps_rollup) splits a shared page
 * between its N sharers, so the sum of the ranks' PSS is what the job holds on the node. */
#ifndef ATTRUN_MEMSTAT_H
#define ATTRUN_MEMSTAT_H

typedef struct {
    double pss, rss, peak_rss; /* bytes; -1 where /proc does not say (not Linux, no smaps_rollup) */
} MemStat;

void memstat_self(MemStat *ms);
#endif
