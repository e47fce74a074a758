/* mpi_agree: see mpi_agree.h. */
#include "io/mpi_agree.h"
#include <limits.h>
#include <stdio.h>

int mpi_agree(MPI_Comm comm, int ok, char *msg, size_t msglen)
{
    int rank, first;
    MPI_Comm_rank(comm, &rank);
    int mine = ok ? INT_MAX : rank;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
    if (first == INT_MAX)
        return 0;
    char buf[MPI_AGREE_MSG] = "";
    if (rank == first && msg)
        snprintf(buf, sizeof buf, "%s", msg);
    MPI_Bcast(buf, sizeof buf, MPI_CHAR, first, comm);
    if (msg && msglen)
        snprintf(msg, msglen, "%s", buf);
    return -1;
}
