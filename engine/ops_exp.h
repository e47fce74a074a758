/* The engine's float exp as an inline function, for the hot loops that call it per element
 * (backend_cpu_act.c's activations and ops_exp_array, the attention softmax): a call per
 * element would stop those loops from vectorising. One definition, so every caller gets
 * the same bits. Accuracy and range as ops_expf (backend_cpu.h). */
#ifndef ATTRUN_OPS_EXP_H
#define ATTRUN_OPS_EXP_H
#include <math.h>
#include <stdint.h>
#include <string.h>

/* exp(x) = 2^n · exp(r), n = round(x / ln2), r = x - n·ln2 in [-ln2/2, ln2/2] (Cody-Waite:
 * ln2 split in a 16-bit head, so n·LN2_HI is exact, and a tail). exp(r) by its Taylor
 * polynomial to r^7: truncation r^8/8! ≤ 5e-9 relative, below half an ulp. */
static inline float exp_inline(float x)
{
    const float LOG2E = 1.44269504088896341f, LN2_HI = 0.693145751953125f,
                LN2_LO = 1.42860676533018704e-06f;
    float xc = x > 88.0f ? 88.0f : x;
    xc = xc < -87.3f ? -87.3f : xc;
    float n = floorf(xc * LOG2E + 0.5f);
    float r = (xc - n * LN2_HI) - n * LN2_LO;
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23; /* 2^n, n in [-126, 127] */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float y = p * scale;
    return x < -87.3f ? 0.0f : y;
}
#endif
