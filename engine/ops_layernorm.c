/* LayerNorm over the last dimension (biased variance, as torch.nn.LayerNorm). */
#include "engine/ops.h"
#include <math.h>

/* x (N,D) -> y (N,D); keeps xhat (N,D) = (x - mean)·rstd and rstd (N) for the backward.
 * Two passes in double per row: the mean is removed before the variance is summed, so
 * no cancellation, and D ≤ a few thousand keeps this cheap next to the GEMMs. */
void layernorm_forward(float *y, float *xhat, float *rstd, const float *x, const float *g,
                       const float *b, float eps, int N, int D)
{
    for (int i = 0; i < N; i++) {
        const float *xi = x + (size_t)i * D;
        float *yi = y + (size_t)i * D, *hi = xhat + (size_t)i * D;
        double s = 0;
        for (int j = 0; j < D; j++)
            s += xi[j];
        double mean = s / D, v = 0;
        for (int j = 0; j < D; j++) {
            double d = xi[j] - mean;
            v += d * d;
        }
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
void layernorm_backward(float *dx, const float *dy, const float *xhat, const float *rstd,
                        const float *g, int N, int D)
{
    for (int i = 0; i < N; i++) {
        const float *dyi = dy + (size_t)i * D, *hi = xhat + (size_t)i * D;
        float *dxi = dx + (size_t)i * D;
        double s1 = 0, s2 = 0;
        for (int j = 0; j < D; j++) {
            double gd = (double)g[j] * dyi[j];
            s1 += gd;
            s2 += gd * hi[j];
        }
        float m1 = (float)(s1 / D), m2 = (float)(s2 / D), rs = rstd[i];
        for (int j = 0; j < D; j++)
            dxi[j] = rs * (g[j] * dyi[j] - m1 - hi[j] * m2);
    }
}
