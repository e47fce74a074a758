/* One collective outcome for a step every rank took: did all succeed, and if not, what went
 * wrong (the message of the lowest failing rank, so it is printed once and is the same on
 * every rank whatever the order the ranks failed in). */
#ifndef ATTRUN_MPI_AGREE_H
#define ATTRUN_MPI_AGREE_H
#include <mpi.h>
#include <stddef.h>

/* Longest message carried from the failing rank to the others (longer ones are cut). */
#define MPI_AGREE_MSG 8192

/* Collective over comm. ok: this rank's outcome. Returns 0 when every rank was ok; otherwise
 * -1 on every rank with msg (when set) replaced by the lowest failing rank's msg. */
int mpi_agree(MPI_Comm comm, int ok, char *msg, size_t msglen);
#endif
