/* One job per output: rank 0 holds a POSIX record lock (fcntl F_SETLK) on <out>.spool/lock
 * for the whole job. The kernel releases it when the process ends however it ends
 * (kill -9, OOM), so a stale lock of a dead job never blocks; on NFS the lock manager does
 * the same for a crashed client node once its lease expires. The file says who holds it
 * ("pid PID on HOST since TIME") so a refused second job can name the first. Where the file
 * system has no locks at all (ENOLCK/ENOSYS/EOPNOTSUPP) the job warns and runs unlocked. */
#ifndef ATTRUN_LOCK_H
#define ATTRUN_LOCK_H
#include <stddef.h>

/* Returns the lock's fd (>= 0), -2 when the file system cannot lock (warning in err), or
 * -1 with err when another live job holds it or the file cannot be made. */
int spool_lock(const char *spool_dir, char *err, size_t errlen);
/* Removes the lock file (the spool is finished) and releases the lock. */
void spool_unlock(int fd, const char *spool_dir);
#endif
