/* The spool lock (see lock.h). */
#include "runner/lock.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *lock_path(const char *dir)
{
    size_t n = strlen(dir) + 8;
    char *p = malloc(n);
    snprintf(p, n, "%s/lock", dir);
    return p;
}

int spool_lock(const char *spool_dir, char *err, size_t errlen)
{
    char *path = lock_path(spool_dir);
    /* not O_TRUNC: the holder's line must stay readable until we own the lock */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create the job lock: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    struct flock fl = {0};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_SETLK, &fl)) {
        int e = errno;
        if (e == EACCES || e == EAGAIN) {
            char who[256] = "";
            ssize_t k = pread(fd, who, sizeof who - 1, 0);
            who[k > 0 ? k : 0] = 0;
            who[strcspn(who, "\n")] = 0;
            snprintf(err, errlen, "another attrun job is writing this output (%s holds %s: %s); wait for it to "
                     "end or stop it, then run again", spool_dir, path, who[0] ? who : "holder unknown");
            close(fd);
            free(path);
            return -1;
        }
        snprintf(err, errlen, "warning: %s: this file system cannot lock files (%s); nothing stops a second job "
                 "on the same output", path, strerror(e));
        close(fd);
        free(path);
        return -2;
    }
    /* The previous owner may have removed the file (finished job) between our open and our
     * lock: then we locked an unlinked file. Lock what the path names now. */
    struct stat a, b;
    if (fstat(fd, &a) || stat(path, &b) || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
        close(fd);
        int rc = spool_lock(spool_dir, err, errlen);
        free(path);
        return rc;
    }
    char host[256] = "?", line[512], when[64];
    gethostname(host, sizeof host - 1);
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    int n = snprintf(line, sizeof line, "pid %ld on %s since %s\n", (long)getpid(), host, when);
    if (ftruncate(fd, 0) || pwrite(fd, line, (size_t)n, 0) != n) {
        /* the lock holds anyway; only the description is missing */
    }
    free(path);
    return fd;
}

void spool_unlock(int fd, const char *spool_dir)
{
    if (fd < 0)
        return;
    char *path = lock_path(spool_dir);
    unlink(path); /* while still locked: a waiting job then sees the path gone (spool_lock) */
    close(fd);
    free(path);
}
