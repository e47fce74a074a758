/* Norms of the transformed value vectors (Kobayashi et al. 2020, "Attention is not only a
 * weight"): for query head h of a layer, f_h(x_j) = (x_j W_V^g + b_V^g) W_O^h, the key token's
 * value vector of the KV head g that h reads (GQA: g = h / (NH/NKV); g = h without GQA) pushed
 * through h's slice of the output projection (columns h·hs .. h·hs+hs-1 of o_w, which is
 * (D, NH·hs)). The output bias is left out: it is added once after the sum over heads and
 * tokens and belongs to no token. The attention output of h at query i is sum_j p_ij f_h(x_j),
 * so ||p_ij f_h(x_j)|| = p_ij ||f_h(x_j)|| is how much key j moves it.
 *
 * ||v W||^2 = v G v^T with G_h = W_O^h (W_O^h)^T (hs × hs): one small Gram matrix per head and
 * layer (computed once per engine, from the fp32 weights), then hs^2 work per token and head
 * instead of hs·D. Everything in double; v is the engine's own value projection of the pass. */
#include "engine/engine_internal.h"
#include <math.h>
#include <stdlib.h>

double *value_norm_gram(const ModelConfig *c, const LayerParams *p)
{
    int NH = c->NH, hs = c->hs, D = c->D;
    size_t QD = (size_t)NH * hs;
    double *G = calloc((size_t)NH * hs * hs, sizeof *G);
    if (!G)
        return NULL;
    for (int h = 0; h < NH; h++) {
        double *Gh = G + (size_t)h * hs * hs;
        for (int d = 0; d < D; d++) {
            const float *w = p->o_w + (size_t)d * QD + (size_t)h * hs; /* row d of o_w, head h's columns */
            for (int a = 0; a < hs; a++) {
                double wa = w[a];
                for (int b = a; b < hs; b++)
                    Gh[(size_t)a * hs + b] += wa * w[b];
            }
        }
        for (int a = 0; a < hs; a++) /* symmetric: mirror the upper triangle */
            for (int b = 0; b < a; b++)
                Gh[(size_t)a * hs + b] = Gh[(size_t)b * hs + a];
    }
    return G;
}

void value_norms(const ModelConfig *c, const double *G, const float *v, int Bm, int T, float *out, size_t b_stride)
{
    int NH = c->NH, hs = c->hs, group = c->NH / c->NKV;
    size_t KD = (size_t)c->NKV * hs;
    for (int b = 0; b < Bm; b++)
        for (int h = 0; h < NH; h++) {
            const double *Gh = G + (size_t)h * hs * hs;
            float *o = out + (size_t)b * b_stride + (size_t)h * T;
            for (int t = 0; t < T; t++) {
                const float *vv = v + ((size_t)b * T + t) * KD + (size_t)(h / group) * hs;
                double s = 0;
                for (int a = 0; a < hs; a++) {
                    double r = 0;
                    for (int k = 0; k < hs; k++)
                        r += Gh[(size_t)a * hs + k] * vv[k];
                    s += r * vv[a];
                }
                o[t] = (float)sqrt(s > 0 ? s : 0); /* G is PSD: a negative s is rounding of a 0 norm */
            }
        }
}
