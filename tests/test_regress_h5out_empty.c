/* Regression (found by tests/test_bad_inputs.sh, "header only, no rows" case: a corpus
 * with a header and no data rows makes `attrun run` fail at assembly with
 * "out.h5: /examples/index: write failed"): a dataset with no elements (0 rows, or
 * rows of width 0) in a parallel result file must accept its (empty) collective
 * write. HDF5 1.10 refuses any H5Dwrite to a zero-sized dataset in an MPI-IO file,
 * even with an empty selection, so h5out_write_rows has to skip the call there (every
 * rank sees the same dims, so all ranks skip it together). Rows beyond the dataset
 * must still be refused. */
#include "io/h5out.h"
#include "tests/testutil.h"
#include <CUnit/CUnit.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[256];

static void test_empty_datasets(void)
{
    char err[512] = "";
    H5Out *h = h5out_create_parallel(path, MPI_COMM_WORLD, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    uint64_t d1[1] = {0}, d2[2] = {0, 4}, d3[2] = {3, 0};
    CU_ASSERT_EQUAL(h5out_dataset(h, "/examples/index", H5O_I64, 1, d1, "ids", err, sizeof err), 0);
    CU_ASSERT_EQUAL(h5out_write_rows(h, "/examples/index", 0, 0, NULL, err, sizeof err), 0);
    if (err[0])
        fprintf(stderr, "\n  1-D, 0 rows: %s\n", err);
    err[0] = 0;
    CU_ASSERT_EQUAL(h5out_dataset(h, "/a/rows0", H5O_F32, 2, d2, NULL, err, sizeof err), 0);
    CU_ASSERT_EQUAL(h5out_write_rows(h, "/a/rows0", 0, 0, NULL, err, sizeof err), 0);
    if (err[0])
        fprintf(stderr, "  2-D, 0 rows: %s\n", err);
    err[0] = 0;
    CU_ASSERT_EQUAL(h5out_dataset(h, "/a/cols0", H5O_F32, 2, d3, NULL, err, sizeof err), 0);
    CU_ASSERT_EQUAL(h5out_write_rows(h, "/a/cols0", 0, 3, NULL, err, sizeof err), 0);
    if (err[0])
        fprintf(stderr, "  2-D, 0 columns: %s\n", err);
    err[0] = 0;
    /* still refused: rows that do not exist */
    CU_ASSERT_EQUAL(h5out_write_rows(h, "/examples/index", 0, 1, NULL, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/examples/index"));
    CU_ASSERT_EQUAL(h5out_close(h, err, sizeof err), 0);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    snprintf(path, sizeof path, "/tmp/attrun-regress-empty-%d.h5", (int)getpid());
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("regress_h5out_empty", NULL, NULL);
    CU_add_test(s, "zero-sized datasets in a parallel file", test_empty_datasets);
    int rc = test_run_registry();
    unlink(path);
    MPI_Finalize();
    return rc;
}
