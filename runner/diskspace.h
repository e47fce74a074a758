/* Disk space for the result, claimed before the collective HDF5 phase.
 *
 * Why: when a write fails inside HDF5's own collective calls (the final H5Fflush of a
 * parallel file: the metadata cache's sync point, the truncate), one rank leaves the call
 * with an error while the others wait in a different MPI collective inside HDF5 - both
 * ranks hang (seen on a tmpfs of 3716-3732 KiB). attrun cannot agree on an outcome inside
 * HDF5, so it makes that failure not happen: before the parallel file is created, rank 0
 * allocates (posix_fallocate) a reserve file of the result's size bound in the spool
 * directory, next to the output on the same file system. When the space is not there, the
 * job stops with a clear error while everything is still safe (spools kept, --resume). The
 * reserve is removed just before H5Fcreate, so the result gets exactly that space. Only
 * another process filling the disk in the moment between the two could still strike;
 * on file systems without fallocate the free space (statvfs) is checked instead. */
#ifndef ATTRUN_DISKSPACE_H
#define ATTRUN_DISKSPACE_H
#include <stddef.h>

/* Bound of the HDF5 file's peak size for `raw` bytes of dataset data in `ndatasets`
 * datasets (strings are added by the caller to raw). */
double diskspace_bound(double raw, int ndatasets);
/* Rank 0: reserves `bytes` in spool_dir/reserve. 0, or -1 with err (disk full: how much was
 * needed and how much is free). */
int diskspace_reserve(const char *spool_dir, double bytes, char *err, size_t errlen);
/* Rank 0: frees the reserve (before creating the result). */
void diskspace_release(const char *spool_dir);
#endif
