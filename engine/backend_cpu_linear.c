/* Linear layers on OpenBLAS: every matrix product of the encoder and the heads
 * runs through cblas_sgemm over a whole micro-batch (N = rows × tokens). */
#include "engine/backend_cpu.h"
#include <cblas.h>
#include <string.h>

/* x (N,IN), W (OUT,IN), b (OUT) or NULL -> y (N,OUT) = x W^T + b.
 * The bias is broadcast into y first so sgemm adds the product with beta = 1. */
void linear_forward(float *y, const float *x, const float *W, const float *b, int N, int IN, int OUT)
{
    float beta = 0.0f;
    if (b) {
        for (int i = 0; i < N; i++)
            memcpy(y + (size_t)i * OUT, b, (size_t)OUT * sizeof(float));
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OUT, IN, 1.0f, x, IN, W, IN, beta, y, OUT);
}

/* dy (N,OUT), W (OUT,IN) -> dx (N,IN) (+)= dy W. */
void linear_backward(float *dx, const float *dy, const float *W, int N, int IN, int OUT, int accumulate)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IN, OUT, 1.0f, dy, OUT, W, IN,
                accumulate ? 1.0f : 0.0f, dx, IN);
}
