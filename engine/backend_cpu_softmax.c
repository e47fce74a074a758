/* Softmax over a head's outputs, for OUT_PROB (F = softmax(logits)[target]). */
#include "engine/backend_cpu.h"
#include <math.h>

/* z (n) -> p (n). The sum is kept in double: with the MLM head n = V ≈ 30k terms. */
void softmax_forward(float *p, const float *z, int n)
{
    float mx = z[0];
    for (int i = 1; i < n; i++)
        mx = z[i] > mx ? z[i] : mx;
    double s = 0;
    for (int i = 0; i < n; i++)
        s += exp((double)z[i] - mx);
    for (int i = 0; i < n; i++)
        p[i] = (float)(exp((double)z[i] - mx) / s);
}
