/* LayerNorm over the last dimension (biased variance, as torch.nn.LayerNorm).
 *
 * Why lanes: the row sums are kept in double, and a plain `s += x[j]` loop is a serial
 * chain the compiler may not reorder (no -ffast-math), so it runs one element per add
 * latency. Each sum here is split into LANES fixed partial sums (element j goes to lane
 * j % LANES) that are added in lane order at the end: a fixed order per row (whatever the
 * number of rows in a pass), and the lanes vectorise. Like backend_cpu_act.c, the file asks for
 * O3 and AVX2/AVX-512 clones since the project's baseline is x86-64-v2. */
#pragma GCC optimize("O3", "no-trapping-math")
#include "engine/backend_cpu.h"
#include <math.h>

#define LANES 8

/* Σ_j x[j] with the lane split above. */
static inline double sum_lanes(const float *x, int D)
{
    double acc[LANES] = {0};
    int j = 0;
    for (; j + LANES <= D; j += LANES)
        for (int l = 0; l < LANES; l++)
            acc[l] += x[j + l];
    for (int l = 0; j < D; j++, l++)
        acc[l] += x[j];
    double s = 0;
    for (int l = 0; l < LANES; l++)
        s += acc[l];
    return s;
}

/* Σ_j (x[j] - mean)² with the lane split above. */
static inline double sumsq_lanes(const float *x, double mean, int D)
{
    double acc[LANES] = {0};
    int j = 0;
    for (; j + LANES <= D; j += LANES)
        for (int l = 0; l < LANES; l++) {
            double d = x[j + l] - mean;
            acc[l] += d * d;
        }
    for (int l = 0; j < D; j++, l++) {
        double d = x[j] - mean;
        acc[l] += d * d;
    }
    double s = 0;
    for (int l = 0; l < LANES; l++)
        s += acc[l];
    return s;
}

/* x (N,D) -> y (N,D); keeps xhat (N,D) = (x - mean)·rstd and rstd (N) for the backward.
 * Two passes in double per row: the mean is removed before the variance is summed, so
 * no cancellation, and D ≤ a few thousand keeps this cheap next to the GEMMs. */
static HOT void layernorm_forward_rows(float *y, float *xhat, float *rstd, const float *x, const float *g,
                                       const float *b, float eps, int N, int D)
{
    for (int i = 0; i < N; i++) {
        const float *xi = x + (size_t)i * D;
        float *yi = y + (size_t)i * D, *hi = xhat + (size_t)i * D;
        double mean = sum_lanes(xi, D) / D;
        double v = sumsq_lanes(xi, mean, D);
        float rs = (float)(1.0 / sqrt(v / D + (double)eps));
        float mf = (float)mean;
        rstd[i] = rs;
        for (int j = 0; j < D; j++) {
            float h = (xi[j] - mf) * rs;
            hi[j] = h;
            yi[j] = h * g[j] + b[j];
        }
    }
}

/* dy (N,D) -> dx (N,D) = rstd · (g·dy - mean_j(g·dy) - xhat · mean_j(g·dy·xhat)). */
static HOT void layernorm_backward_rows(float *dx, const float *dy, const float *xhat, const float *rstd,
                                        const float *g, int N, int D)
{
    for (int i = 0; i < N; i++) {
        const float *dyi = dy + (size_t)i * D, *hi = xhat + (size_t)i * D;
        float *dxi = dx + (size_t)i * D;
        double a1[LANES] = {0}, a2[LANES] = {0};
        int j = 0;
        for (; j + LANES <= D; j += LANES)
            for (int l = 0; l < LANES; l++) {
                double gd = (double)g[j + l] * dyi[j + l];
                a1[l] += gd;
                a2[l] += gd * hi[j + l];
            }
        for (int l = 0; j < D; j++, l++) {
            double gd = (double)g[j] * dyi[j];
            a1[l] += gd;
            a2[l] += gd * hi[j];
        }
        double s1 = 0, s2 = 0;
        for (int l = 0; l < LANES; l++) {
            s1 += a1[l];
            s2 += a2[l];
        }
        float m1 = (float)(s1 / D), m2 = (float)(s2 / D), rs = rstd[i];
        for (int j = 0; j < D; j++)
            dxi[j] = rs * (g[j] * dyi[j] - m1 - hi[j] * m2);
    }
}

/* Rows are shared among ops_threads() threads in blocks of LN_BLOCK (a row's arithmetic is
 * the same on any thread). */
#define LN_BLOCK 64
typedef struct {
    float *y, *xhat, *rstd, *xsum;
    const float *x, *g, *b, *xh, *r;
    const float *dy, *rs;
    float eps;
    int N, D;
} LnArgs;

static void ln_forward_item(void *arg, int blk, int tid)
{
    const LnArgs *a = arg;
    size_t i0 = (size_t)blk * LN_BLOCK, D = (size_t)a->D;
    int n = a->N - (int)i0 < LN_BLOCK ? a->N - (int)i0 : LN_BLOCK;
    layernorm_forward_rows(a->y + i0 * D, a->xhat + i0 * D, a->rstd + i0, a->x + i0 * D, a->g, a->b, a->eps, n,
                           a->D);
}

void layernorm_forward(float *y, float *xhat, float *rstd, const float *x, const float *g,
                       const float *b, float eps, int N, int D)
{
    LnArgs a = {.y = y, .xhat = xhat, .rstd = rstd, .x = x, .g = g, .b = b, .eps = eps, .N = N, .D = D};
    ops_parallel((N + LN_BLOCK - 1) / LN_BLOCK, ops_threads(), ln_forward_item, &a);
}

/* The residual add of a block of rows, then their norm: row by row, so the sum is still in cache
 * when the norm reads it (three passes). The add is cpu_add's (one float add per element). */
static HOT void add_rows(float *x, const float *r, size_t n)
{
    for (size_t j = 0; j < n; j++)
        x[j] += r[j];
}

static void add_ln_forward_item(void *arg, int blk, int tid)
{
    const LnArgs *a = arg;
    size_t i0 = (size_t)blk * LN_BLOCK, D = (size_t)a->D;
    int n = a->N - (int)i0 < LN_BLOCK ? a->N - (int)i0 : LN_BLOCK;
    for (int i = 0; i < n; i++) {
        size_t o = (i0 + i) * D;
        add_rows(a->xsum + o, a->r + o, D);
        layernorm_forward_rows(a->y + o, a->xhat + o, a->rstd + i0 + i, a->xsum + o, a->g, a->b, a->eps, 1, a->D);
    }
}

void add_layernorm_forward(float *y, float *xhat, float *rstd, float *x, const float *r, const float *g,
                           const float *b, float eps, int N, int D)
{
    LnArgs a = {.y = y, .xhat = xhat, .rstd = rstd, .xsum = x, .r = r, .g = g, .b = b, .eps = eps, .N = N, .D = D};
    ops_parallel((N + LN_BLOCK - 1) / LN_BLOCK, ops_threads(), add_ln_forward_item, &a);
}

static void ln_backward_item(void *arg, int blk, int tid)
{
    const LnArgs *a = arg;
    size_t i0 = (size_t)blk * LN_BLOCK, D = (size_t)a->D;
    int n = a->N - (int)i0 < LN_BLOCK ? a->N - (int)i0 : LN_BLOCK;
    layernorm_backward_rows(a->y + i0 * D, a->dy + i0 * D, a->xh + i0 * D, a->rs + i0, a->g, n, a->D);
}

void layernorm_backward(float *dx, const float *dy, const float *xhat, const float *rstd,
                        const float *g, int N, int D)
{
    LnArgs a = {.y = dx, .dy = dy, .xh = xhat, .rs = rstd, .g = g, .N = N, .D = D};
    ops_parallel((N + LN_BLOCK - 1) / LN_BLOCK, ops_threads(), ln_backward_item, &a);
}
