/* Attention statistics of analysis_stats.h: per-category received attention, first/BOS,
 * sink indicator, and the norm-weighted attention they can also run on. Double accumulation
 * as in attn_stats.c. */
#include "engine/analysis_stats.h"
#include "engine/attn_stats.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>


static int check(const char *fn, const float *probs, int L, int NH, int T)
{
    if (!probs)
        return attn_fail("%s: probs must not be NULL", fn);
    if (L <= 0 || NH <= 0 || T <= 0)
        return attn_fail("%s: bad shape L=%d NH=%d T=%d (all must be > 0)", fn, L, NH, T);
    return 0;
}

int analysis_category_received(const float *probs, int L, int NH, int T, const int16_t *cat, int K, float *out)
{
    if (check("analysis_category_received", probs, L, NH, T))
        return -1;
    if (!cat || !out || K <= 0)
        return attn_fail("analysis_category_received: cat and out must not be NULL, K=%d > 0", K);
    for (int j = 0; j < T; j++)
        if (cat[j] < 0 || cat[j] >= K)
            return attn_fail("analysis_category_received: token %d has category %d outside [0, %d)", j, cat[j], K);
    double *acc = malloc(sizeof *acc * (size_t)K);
    if (!acc)
        return attn_fail("analysis_category_received: out of memory");
    for (size_t lh = 0; lh < (size_t)L * NH; lh++) {
        const float *P = probs + lh * T * T;
        memset(acc, 0, sizeof *acc * (size_t)K);
        for (int i = 0; i < T; i++)
            for (int j = 0; j < T; j++)
                acc[cat[j]] += P[(size_t)i * T + j];
        for (int k = 0; k < K; k++)
            out[lh * K + k] = (float)(acc[k] / T);
    }
    free(acc);
    return 0;
}

/* (1/(T-from)) sum_{i >= from} P[i, key] of one head. */
static double column_mean(const float *P, int T, int key, int from)
{
    double s = 0;
    for (int i = from; i < T; i++)
        s += P[(size_t)i * T + key];
    return s / (T - from);
}

int analysis_first_bos(const float *probs, int L, int NH, int T, int bos_pos, float *first, float *bos)
{
    if (check("analysis_first_bos", probs, L, NH, T))
        return -1;
    if (bos_pos >= T)
        return attn_fail("analysis_first_bos: bos_pos %d >= T = %d", bos_pos, T);
    for (size_t lh = 0; lh < (size_t)L * NH; lh++) {
        const float *P = probs + lh * T * T;
        if (first)
            first[lh] = (float)column_mean(P, T, 0, 0);
        if (bos)
            bos[lh] = bos_pos < 0 ? NAN : (float)column_mean(P, T, bos_pos, 0);
    }
    return 0;
}

int analysis_sink(const float *probs, int L, int NH, int T, int k, double epsilon, float *alpha, float *sink)
{
    if (check("analysis_sink", probs, L, NH, T))
        return -1;
    if (k < 0 || k >= T || !sink)
        return attn_fail("analysis_sink: key %d outside [0, T = %d) or sink NULL", k, T);
    for (size_t lh = 0; lh < (size_t)L * NH; lh++) {
        double a = column_mean(probs + lh * T * T, T, k, k);
        if (alpha)
            alpha[lh] = (float)a;
        sink[lh] = isnan(a) ? NAN : a > epsilon ? 1.0f : 0.0f;
    }
    return 0;
}

int analysis_norm_weighted(const float *probs, const float *vnorm, int L, int NH, int T, float *out)
{
    if (check("analysis_norm_weighted", probs, L, NH, T))
        return -1;
    if (!vnorm || !out)
        return attn_fail("analysis_norm_weighted: vnorm and out must not be NULL");
    for (size_t lh = 0; lh < (size_t)L * NH; lh++) {
        const float *n = vnorm + lh * T;
        for (int i = 0; i < T; i++) {
            const float *p = probs + (lh * T + i) * T;
            float *o = out + (lh * T + i) * T;
            double s = 0;
            for (int j = 0; j < T; j++)
                s += (double)p[j] * n[j];
            for (int j = 0; j < T; j++)
                o[j] = s > 0 ? (float)((double)p[j] * n[j] / s) : NAN;
        }
    }
    return 0;
}
