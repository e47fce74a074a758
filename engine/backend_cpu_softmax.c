/* Softmax over a head's outputs, for OUT_PROB (F = softmax(logits)[target]) and OUT_LOGPROB
 * (F = log softmax(logits)[target] = z_t - logsumexp(z)). */
#include "engine/backend_cpu.h"
#include <math.h>

/* z (n) -> p (n); returns log Σ_i exp(z_i), max-subtracted. The sum is kept in double: with
 * the vocabulary heads n = V ≈ 30k-152k terms. The log-probability is taken from this sum,
 * not as log(p_t), which underflows to -inf for p_t < 1e-38 and loses digits well before. */
double softmax_forward(float *p, const float *z, int n)
{
    float mx = z[0];
    for (int i = 1; i < n; i++)
        mx = z[i] > mx ? z[i] : mx;
    double s = 0;
    for (int i = 0; i < n; i++)
        s += exp((double)z[i] - mx);
    for (int i = 0; i < n; i++)
        p[i] = (float)(exp((double)z[i] - mx) / s);
    return mx + log(s);
}
