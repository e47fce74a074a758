/* Linear layers on OpenBLAS: every matrix product of the encoder and the heads
 * runs through cblas_sgemm over a whole micro-batch (N = rows × tokens). */
#include "engine/backend_cpu.h"
#include <cblas.h>
#include <string.h>

/* Rows per broadcast item: a few hundred KB of y, so the copies share the pool's threads
 * without one item per row. */
#define BIAS_ROWS 64
typedef struct {
    float *y;
    const float *b;
    int N, OUT;
} BiasArgs;

static void bias_rows_item(void *arg, int blk, int tid)
{
    (void)tid;
    const BiasArgs *a = arg;
    int i0 = blk * BIAS_ROWS, i1 = i0 + BIAS_ROWS < a->N ? i0 + BIAS_ROWS : a->N;
    for (int i = i0; i < i1; i++)
        memcpy(a->y + (size_t)i * a->OUT, a->b, (size_t)a->OUT * sizeof(float));
}

/* x (N,IN), W (OUT,IN), b (OUT) or NULL -> y (N,OUT) = x W^T + b.
 * The bias is broadcast into y first so sgemm adds the product with beta = 1: the sum then
 * happens in OpenBLAS's kernel, in its k-block order (the golden files' bits). The broadcast
 * writes N·OUT floats, as much as the product's output; on one thread it cost ~6 % of the
 * forward's linear time (attrun bench --profile: forward 1.07× the backward's time for the same
 * FLOPs), so it runs on the pool's threads. */
void linear_forward(float *y, const float *x, const float *W, const float *b, int N, int IN, int OUT)
{
    float beta = 0.0f;
    if (b) {
        BiasArgs a = {.y = y, .b = b, .N = N, .OUT = OUT};
        ops_parallel((N + BIAS_ROWS - 1) / BIAS_ROWS, ops_threads(), bias_rows_item, &a);
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
