/* RMSNorm over the last dimension, as transformers' LlamaRMSNorm (Mistral and Qwen2 use
 * the same module): the variance mean(x²) is taken in float32 or wider (here double, in
 * LANES fixed partial sums as in backend_cpu_layernorm.c), y = g · (x · rsqrt(var + eps)). */
#pragma GCC optimize("O3", "no-trapping-math")
#include "engine/backend_cpu.h"
#include <math.h>

#define LANES 8
#define RMS_BLOCK 64

static HOT void rmsnorm_forward_rows(float *y, float *xhat, float *rstd, const float *x, const float *g, float eps,
                                     int N, int D)
{
    for (int i = 0; i < N; i++) {
        const float *xi = x + (size_t)i * D;
        float *yi = y + (size_t)i * D, *hi = xhat + (size_t)i * D;
        double acc[LANES] = {0};
        int j = 0;
        for (; j + LANES <= D; j += LANES)
            for (int l = 0; l < LANES; l++)
                acc[l] += (double)xi[j + l] * xi[j + l];
        for (int l = 0; j < D; j++, l++)
            acc[l] += (double)xi[j] * xi[j];
        double s = 0;
        for (int l = 0; l < LANES; l++)
            s += acc[l];
        float rs = (float)(1.0 / sqrt(s / D + (double)eps));
        rstd[i] = rs;
        for (j = 0; j < D; j++) {
            float h = xi[j] * rs;
            hi[j] = h;
            yi[j] = g[j] * h;
        }
    }
}

/* y = g·xhat, xhat = x·r, r = (mean(x²)+eps)^-1/2: dx = r·(g·dy) - xhat · r · mean(g·dy·xhat). */
static HOT void rmsnorm_backward_rows(float *dx, const float *dy, const float *xhat, const float *rstd,
                                      const float *g, int N, int D)
{
    for (int i = 0; i < N; i++) {
        const float *dyi = dy + (size_t)i * D, *hi = xhat + (size_t)i * D;
        float *dxi = dx + (size_t)i * D;
        double acc[LANES] = {0};
        int j = 0;
        for (; j + LANES <= D; j += LANES)
            for (int l = 0; l < LANES; l++)
                acc[l] += (double)g[j + l] * dyi[j + l] * hi[j + l];
        for (int l = 0; j < D; j++, l++)
            acc[l] += (double)g[j] * dyi[j] * hi[j];
        double s = 0;
        for (int l = 0; l < LANES; l++)
            s += acc[l];
        float m = (float)(s / D), rs = rstd[i];
        for (j = 0; j < D; j++)
            dxi[j] = rs * (g[j] * dyi[j] - hi[j] * m);
    }
}

typedef struct {
    float *y, *xhat, *rstd;
    const float *x, *g, *xh, *dy, *rs;
    float eps;
    int N, D;
} RmsArgs;

static void rms_forward_item(void *arg, int blk, int tid)
{
    const RmsArgs *a = arg;
    size_t i0 = (size_t)blk * RMS_BLOCK, D = (size_t)a->D;
    int n = a->N - (int)i0 < RMS_BLOCK ? a->N - (int)i0 : RMS_BLOCK;
    (void)tid;
    rmsnorm_forward_rows(a->y + i0 * D, a->xhat + i0 * D, a->rstd + i0, a->x + i0 * D, a->g, a->eps, n, a->D);
}

void rmsnorm_forward(float *y, float *xhat, float *rstd, const float *x, const float *g, float eps, int N, int D)
{
    RmsArgs a = {.y = y, .xhat = xhat, .rstd = rstd, .x = x, .g = g, .eps = eps, .N = N, .D = D};
    ops_parallel((N + RMS_BLOCK - 1) / RMS_BLOCK, ops_threads(), rms_forward_item, &a);
}

static void rms_backward_item(void *arg, int blk, int tid)
{
    const RmsArgs *a = arg;
    size_t i0 = (size_t)blk * RMS_BLOCK, D = (size_t)a->D;
    int n = a->N - (int)i0 < RMS_BLOCK ? a->N - (int)i0 : RMS_BLOCK;
    (void)tid;
    rmsnorm_backward_rows(a->y + i0 * D, a->dy + i0 * D, a->xh + i0 * D, a->rs + i0, a->g, n, a->D);
}

void rmsnorm_backward(float *dx, const float *dy, const float *xhat, const float *rstd, const float *g, int N,
                      int D)
{
    RmsArgs a = {.y = dx, .dy = dy, .xh = xhat, .rs = rstd, .g = g, .N = N, .D = D};
    ops_parallel((N + RMS_BLOCK - 1) / RMS_BLOCK, ops_threads(), rms_backward_item, &a);
}
