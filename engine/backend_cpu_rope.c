/* Rotary position embedding on transformers' layout (rotate_half): head vector
 * x = (x1, x2) halves of hs/2, x' = x·cos + rotate_half(x)·sin, rotate_half(x) = (-x2, x1),
 * cos/sin of angle_i = pos · inv_freq_i repeated over both halves. */
#include "engine/backend_cpu.h"
#include <math.h>
#include <stdlib.h>

/* inv_freq (hs/2) in float32 as transformers' _compute_default_rope_parameters
 * (1 / theta^(2i/hs)), then linear (/ factor) or _compute_llama3_parameters. */
static void inv_freq(float *f, const ModelConfig *c)
{
    int half = c->hs / 2;
    for (int i = 0; i < half; i++) {
        float e = (float)(2 * i) / (float)c->hs;
        f[i] = 1.0f / (float)pow((double)c->rope_theta, (double)e);
    }
    if (c->rope_scaling == ROPE_LINEAR)
        for (int i = 0; i < half; i++)
            f[i] = f[i] / c->rope_factor;
    if (c->rope_scaling != ROPE_LLAMA3)
        return;
    float old = (float)c->rope_orig_P, lo = c->rope_low_freq, hi = c->rope_high_freq, fac = c->rope_factor;
    float low_wl = old / lo, high_wl = old / hi;
    for (int i = 0; i < half; i++) {
        float wl = 2.0f * (float)M_PI / f[i];
        float fl = wl > low_wl ? f[i] / fac : f[i];
        float smooth = (old / wl - lo) / (hi - lo);
        float sm = (1.0f - smooth) * fl / fac + smooth * fl;
        int medium = !(wl < high_wl) && !(wl > low_wl);
        f[i] = medium ? sm : fl;
    }
}

void rope_tables(float *cos_t, float *sin_t, const int *pos, int N, const ModelConfig *c)
{
    int half = c->hs / 2;
    float fbuf[512], *f = half <= 512 ? fbuf : malloc((size_t)half * sizeof(float));
    if (!f) /* hs > 1024 and no memory: cannot happen for real models; leave identity */
        half = 0;
    inv_freq(f, c);
    for (int n = 0; n < N; n++)
        for (int i = 0; i < half; i++) {
            float a = (float)pos[n] * f[i]; /* float32 product, as HF's matmul */
            cos_t[(size_t)n * half + i] = (float)cos((double)a);
            sin_t[(size_t)n * half + i] = (float)sin((double)a);
        }
    if (f != fbuf)
        free(f);
}

void rope_forward(float *x, const float *cos_t, const float *sin_t, int N, int nh, int hs)
{
    int half = hs / 2;
    for (int n = 0; n < N; n++) {
        const float *cs = cos_t + (size_t)n * half, *sn = sin_t + (size_t)n * half;
        for (int h = 0; h < nh; h++) {
            float *x1 = x + ((size_t)n * nh + h) * hs, *x2 = x1 + half;
            for (int i = 0; i < half; i++) {
                float a = x1[i], b = x2[i];
                x1[i] = a * cs[i] - b * sn[i];
                x2[i] = b * cs[i] + a * sn[i];
            }
        }
    }
}

/* Transpose of the rotation: (d1, d2) -> (d1·cos + d2·sin, d2·cos - d1·sin). */
void rope_backward(float *dx, const float *cos_t, const float *sin_t, int N, int nh, int hs)
{
    int half = hs / 2;
    for (int n = 0; n < N; n++) {
        const float *cs = cos_t + (size_t)n * half, *sn = sin_t + (size_t)n * half;
        for (int h = 0; h < nh; h++) {
            float *d1 = dx + ((size_t)n * nh + h) * hs, *d2 = d1 + half;
            for (int i = 0; i < half; i++) {
                float a = d1[i], b = d2[i];
                d1[i] = a * cs[i] + b * sn[i];
                d2[i] = b * cs[i] - a * sn[i];
            }
        }
    }
}
