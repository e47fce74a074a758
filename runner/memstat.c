/* memstat_self: see memstat.h. */
#include "runner/memstat.h"
#include <stdio.h>
#include <string.h>

/* The value in kB of the line "<key> <n> kB" of a /proc file, in bytes; -1 if absent. */
static double proc_kb(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    size_t kl = strlen(key);
    double v = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl)) {
            double kb;
            if (sscanf(line + kl, "%lf", &kb) == 1)
                v = kb * 1024;
            break;
        }
    fclose(f);
    return v;
}

void memstat_self(MemStat *ms)
{
    ms->pss = proc_kb("/proc/self/smaps_rollup", "Pss:");
    ms->rss = proc_kb("/proc/self/status", "VmRSS:");
    ms->peak_rss = proc_kb("/proc/self/status", "VmHWM:");
}
