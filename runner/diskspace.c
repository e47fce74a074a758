/* Space for the result before the collective phase (see diskspace.h). */
#include "runner/diskspace.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

double diskspace_bound(double raw, int ndatasets)
{
    /* Measured with Open MPI 4.1 / HDF5 1.10 on tmpfs sweeps (docs/reliability.md): the file
     * never needed more than its final size, itself about the raw bytes (attention barely
     * compresses). Margin: 2 % for deflate growth and rewritten chunks, 16 KiB per dataset
     * (object header, attributes, chunk index), 1 MiB for the superblock, groups and
     * metadata-cache slack. */
    return raw * 1.02 + 16384.0 * ndatasets + 1048576.0;
}

static char *reserve_path(const char *dir)
{
    size_t n = strlen(dir) + 10;
    char *p = malloc(n);
    snprintf(p, n, "%s/reserve", dir);
    return p;
}

int diskspace_reserve(const char *spool_dir, double bytes, char *err, size_t errlen)
{
    char *path = reserve_path(spool_dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create the disk-space reserve: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    int e = posix_fallocate(fd, 0, (off_t)bytes);
    close(fd);
    if (e == EINVAL || e == EOPNOTSUPP) {
        /* no fallocate here (some NFS): compare with the free space instead */
        unlink(path);
        struct statvfs vs;
        if (statvfs(spool_dir, &vs) == 0 && (double)vs.f_bavail * vs.f_frsize < bytes)
            e = ENOSPC;
        else
            e = 0;
    }
    if (e) {
        unlink(path);
        struct statvfs vs;
        double freeb = statvfs(spool_dir, &vs) == 0 ? (double)vs.f_bavail * vs.f_frsize : -1;
        snprintf(err, errlen, "not enough disk space for the result next to %s: it needs up to %.1f MB, %.1f MB "
                 "are free (%s). Free some space (the spools are kept) and run again with --resume", spool_dir,
                 bytes / 1e6, freeb / 1e6, strerror(e));
        free(path);
        return -1;
    }
    free(path);
    return 0;
}

void diskspace_release(const char *spool_dir)
{
    char *path = reserve_path(spool_dir);
    unlink(path);
    free(path);
}
