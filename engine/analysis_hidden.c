/* Massive activations (Sun et al. 2024) and attribution mass per category (analysis_stats.h). */
#include "engine/analysis_stats.h"
#include "engine/attn_stats.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The k-th smallest of v[0..n) (0-based), by quickselect: v is reordered. O(n) expected,
 * against O(n log n) for a sort of T*D values per layer. */
static float select_kth(float *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        float a = v[lo], b = v[lo + (hi - lo) / 2], c = v[hi];
        float pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b)); /* median of 3 */
        size_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                float t = v[i];
                v[i] = v[j], v[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return v[k];
    }
    return v[k];
}

/* The top 3 |h| of one layer (T*D values) with ties to the lower flat index t*D + d. */
static void top3(const float *h, size_t n, float *val, long *idx)
{
    for (int q = 0; q < 3; q++)
        val[q] = -1, idx[q] = -1;
    for (size_t x = 0; x < n; x++) {
        float a = fabsf(h[x]);
        int q = 3;
        while (q > 0 && a > val[q - 1]) /* strict: an equal value stays behind the earlier one */
            q--;
        if (q == 3)
            continue;
        for (int r = 2; r > q; r--)
            val[r] = val[r - 1], idx[r] = idx[r - 1];
        val[q] = a, idx[q] = (long)x;
    }
}

int analysis_massive(const float *hidden, int L, int T, int D, float *top_values, int32_t *top_pos,
                     int32_t *top_dim, float *median)
{
    if (!hidden || !top_values || !top_pos || !top_dim || !median || L <= 0 || T <= 0 || D <= 0)
        return attn_fail("analysis_massive: bad arguments (L=%d T=%d D=%d, NULL array?)", L, T, D);
    size_t n = (size_t)T * D;
    float *buf = malloc(sizeof *buf * n);
    if (!buf)
        return attn_fail("analysis_massive: out of memory (T=%d D=%d)", T, D);
    for (int l = 0; l < L; l++) {
        const float *h = hidden + (size_t)l * n;
        float val[3];
        long idx[3];
        top3(h, n, val, idx);
        for (int q = 0; q < 3; q++) {
            top_values[l * 3 + q] = idx[q] < 0 ? NAN : val[q];
            top_pos[l * 3 + q] = idx[q] < 0 ? -1 : (int32_t)(idx[q] / D);
            top_dim[l * 3 + q] = idx[q] < 0 ? -1 : (int32_t)(idx[q] % D);
        }
        for (size_t x = 0; x < n; x++)
            buf[x] = fabsf(h[x]);
        double m = select_kth(buf, n, n / 2);
        if (n % 2 == 0) { /* the lower middle value is the largest of the lower half */
            float lo = buf[0];
            for (size_t x = 1; x < n / 2; x++)
                lo = buf[x] > lo ? buf[x] : lo;
            m = 0.5 * ((double)lo + m);
        }
        median[l] = (float)m;
    }
    free(buf);
    return 0;
}

int analysis_category_mass(const float *scores, const int16_t *cat, int T, int K, float *mass, int32_t *count)
{
    if (!scores || !cat || !mass || T < 0 || K <= 0)
        return attn_fail("analysis_category_mass: bad arguments (T=%d K=%d, NULL array?)", T, K);
    double *acc = calloc((size_t)K, sizeof *acc), total = 0;
    if (!acc)
        return attn_fail("analysis_category_mass: out of memory");
    if (count)
        memset(count, 0, sizeof *count * (size_t)K);
    for (int t = 0; t < T; t++) {
        if (cat[t] < 0 || cat[t] >= K) {
            free(acc);
            return attn_fail("analysis_category_mass: token %d has category %d outside [0, %d)", t, cat[t], K);
        }
        acc[cat[t]] += fabs((double)scores[t]);
        total += fabs((double)scores[t]);
        if (count)
            count[cat[t]]++;
    }
    for (int k = 0; k < K; k++)
        mass[k] = total > 0 && isfinite(total) ? (float)(acc[k] / total) : NAN;
    free(acc);
    return 0;
}
