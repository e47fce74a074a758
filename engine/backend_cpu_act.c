/* Element-wise activations (GELU exact, GELU tanh, ReLU, tanh), their backward,
 * and the DeepLIFT Rescale multiplier; plus the vectorisable exp/erf they use.
 *
 * Why our own exp/erf: the FFN activation touches B·T·FF elements per layer and the
 * attention softmax B·NH·T·T; glibc's expf/erff are scalar calls that the compiler
 * cannot vectorise (attrun bench prints the measured difference). The versions here
 * are branch-free (selects only), so loops over them vectorise; accuracy is float's
 * (≤ 2 ulp, tests/test_engine_fd.c checks them against double exp/erf).
 *
 * The build's -O2 uses GCC's "very cheap" vectoriser cost model, which refuses loops
 * of unknown trip count; these few hot loops ask for O3 and are cloned for AVX2 and
 * AVX-512 (picked at load time), since the project's baseline is x86-64-v2. */
#pragma GCC optimize("O3", "no-trapping-math")
#include "engine/backend_cpu.h"
#include "engine/ops_exp.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

/* erf(x). |x| < 0.75: Maclaurin series x · Σ_{k≤8} c_k x^{2k}, c_k = 2/√π (-1)^k / (k!(2k+1));
 * the first omitted term is < 1e-9 relative. |x| ≥ 0.75: erf = 1 - exp(-x²) · g(t),
 * t = 1/(1+|x|), g(x) = erfc(x)·exp(x²) fitted by weighted least squares (relative error)
 * on [0.75, 4] as a degree-9 polynomial in t - 0.385714293 (fit error 1e-9; float
 * evaluation brings it to ~3e-7 of erfc). Measured over every third float in [-6, 6]:
 * max 1.96 ulp of erf (near |x| = 0.77); exp: max 1.21 ulp on [-87, 88]. Beyond 4,
 * erfc < 1.6e-8 rounds away: erf = ±1 in float. */
static inline float erf_inline(float x)
{
    const float S = 1.12837916709551257f; /* 2/sqrt(pi) */
    float z = x * x;
    float ps = S / 685440;          /* k = 8: 8!·17 */
    ps = ps * z - S / 75600;        /* 7!·15 */
    ps = ps * z + S / 9360;         /* 6!·13 */
    ps = ps * z - S / 1320;         /* 5!·11 */
    ps = ps * z + S / 216;          /* 4!·9 */
    ps = ps * z - S / 42;           /* 3!·7 */
    ps = ps * z + S / 10;           /* 2!·5 */
    ps = ps * z - S / 3;            /* 1!·3 */
    ps = ps * z + (S - 1.0f);
    ps = x + x * ps; /* x exactly, plus a correction of ≤ 13%: less rounding than S·x */
    float a = fabsf(x);
    a = a > 4.0f ? 4.0f : a;
    float t = 1.0f / (1.0f + a) - 0.385714293f;
    float g = -5.336825848e-01f;
    g = g * t + 8.450562358e-01f;
    g = g * t - 3.084502816e-01f;
    g = g * t - 3.306097984e-01f;
    g = g * t + 5.062296391e-01f;
    g = g * t - 1.253100634e-01f;
    g = g * t - 4.358124137e-01f;
    g = g * t + 4.368584156e-01f;
    g = g * t + 1.010429740e+00f;
    g = g * t + 3.070628345e-01f;
    float pl = 1.0f - exp_inline(-a * a) * g;
    pl = x < 0 ? -pl : pl;
    return fabsf(x) < 0.75f ? ps : pl;
}

/* tanh(y) = 1 - 2/(exp(2y)+1): exact limits ±1, absolute error ~1 ulp of 1, which is what
 * GELU-tanh needs (it uses 1 + tanh). The classifier head's tanh uses libm's tanhf. */
static inline float tanh_inline(float y)
{
    return 1.0f - 2.0f / (exp_inline(2.0f * y) + 1.0f);
}

float ops_expf(float x) { return exp_inline(x); }
float ops_erff(float x) { return erf_inline(x); }

HOT void ops_exp_array(float *y, const float *x, long n)
{
    for (long i = 0; i < n; i++)
        y[i] = exp_inline(x[i]);
}

HOT void ops_erf_array(float *y, const float *x, long n)
{
    for (long i = 0; i < n; i++)
        y[i] = erf_inline(x[i]);
}

#define SQRT1_2 0.707106781186547524f
#define INV_SQRT_2PI 0.398942280401432678f
#define GELU_K 0.797884560802865356f /* sqrt(2/pi) */
#define GELU_C 0.044715f

static inline float gelu(float x) { return 0.5f * x * (1.0f + erf_inline(x * SQRT1_2)); }
/* d/dx x·Φ(x) = Φ(x) + x·φ(x) */
static inline float gelu_grad(float x)
{
    return 0.5f * (1.0f + erf_inline(x * SQRT1_2)) + x * INV_SQRT_2PI * exp_inline(-0.5f * x * x);
}
static inline float gelu_tanh(float x)
{
    return 0.5f * x * (1.0f + tanh_inline(GELU_K * (x + GELU_C * x * x * x)));
}
static inline float gelu_tanh_grad(float x)
{
    float th = tanh_inline(GELU_K * (x + GELU_C * x * x * x));
    return 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * GELU_K * (1.0f + 3.0f * GELU_C * x * x);
}
/* ReLU'(0) = 0, as PyTorch's threshold_backward. */
static inline float relu(float x) { return x > 0 ? x : 0.0f; }
static inline float relu_grad(float x) { return x > 0 ? 1.0f : 0.0f; }

/* SiLU x·σ(x) (Llama's hidden_act), σ through the vectorisable exp. */
static inline float sigmoid(float x) { return 1.0f / (1.0f + exp_inline(-x)); }
static inline float silu(float x) { return x * sigmoid(x); }
static inline float silu_grad(float x)
{
    float s = sigmoid(x);
    return s * (1.0f + x * (1.0f - s));
}

static float act_grad_scalar(float x, Activation a)
{
    switch (a) {
    case ACT_GELU: return gelu_grad(x);
    case ACT_GELU_TANH: return gelu_tanh_grad(x);
    case ACT_RELU: return relu_grad(x);
    case ACT_TANH: { float t = tanhf(x); return 1.0f - t * t; }
    case ACT_SILU: return silu_grad(x);
    }
    return 1.0f;
}

static HOT void act_forward_range(float *y, const float *x, long n, Activation a)
{
    switch (a) {
    case ACT_GELU:
        for (long i = 0; i < n; i++)
            y[i] = gelu(x[i]);
        return;
    case ACT_GELU_TANH:
        for (long i = 0; i < n; i++)
            y[i] = gelu_tanh(x[i]);
        return;
    case ACT_RELU:
        for (long i = 0; i < n; i++)
            y[i] = relu(x[i]);
        return;
    case ACT_TANH:
        for (long i = 0; i < n; i++)
            y[i] = tanhf(x[i]);
        return;
    case ACT_SILU:
        for (long i = 0; i < n; i++)
            y[i] = silu(x[i]);
        return;
    }
}

static HOT void act_backward_range(float *dx, const float *dy, const float *x, long n, Activation a)
{
    switch (a) {
    case ACT_GELU:
        for (long i = 0; i < n; i++)
            dx[i] = dy[i] * gelu_grad(x[i]);
        return;
    case ACT_GELU_TANH:
        for (long i = 0; i < n; i++)
            dx[i] = dy[i] * gelu_tanh_grad(x[i]);
        return;
    case ACT_RELU:
        for (long i = 0; i < n; i++)
            dx[i] = dy[i] * relu_grad(x[i]);
        return;
    case ACT_TANH:
        for (long i = 0; i < n; i++)
            dx[i] = dy[i] * act_grad_scalar(x[i], ACT_TANH);
        return;
    case ACT_SILU:
        for (long i = 0; i < n; i++)
            dx[i] = dy[i] * silu_grad(x[i]);
        return;
    }
}

/* Element ranges of ACT_BLOCK are shared among ops_threads() threads (element-wise: the
 * result is the same for any split). */
#define ACT_BLOCK 65536L
typedef struct {
    float *y;
    const float *x, *dy;
    long n;
    Activation a;
} ActArgs;

static void act_forward_item(void *arg, int blk, int tid)
{
    const ActArgs *a = arg;
    long lo = blk * ACT_BLOCK, len = a->n - lo < ACT_BLOCK ? a->n - lo : ACT_BLOCK;
    act_forward_range(a->y + lo, a->x + lo, len, a->a);
}

void act_forward(float *y, const float *x, long n, Activation a)
{
    ActArgs g = {.y = y, .x = x, .n = n, .a = a};
    ops_parallel((int)((n + ACT_BLOCK - 1) / ACT_BLOCK), ops_threads(), act_forward_item, &g);
}

static void act_backward_item(void *arg, int blk, int tid)
{
    const ActArgs *a = arg;
    long lo = blk * ACT_BLOCK, len = a->n - lo < ACT_BLOCK ? a->n - lo : ACT_BLOCK;
    act_backward_range(a->y + lo, a->dy + lo, a->x + lo, len, a->a);
}

void act_backward(float *dx, const float *dy, const float *x, long n, Activation a)
{
    ActArgs g = {.y = dx, .dy = dy, .x = x, .n = n, .a = a};
    ops_parallel((int)((n + ACT_BLOCK - 1) / ACT_BLOCK), ops_threads(), act_backward_item, &g);
}

/* The Rescale rule's f in double: the secant (f(x)-f(r))/(x-r) of float inputs is then
 * accurate even for |x-r| down to 1e-10, where a float difference would be all rounding
 * (e.g. an input and a baseline row whose pre-activations agree to the last bits). */
static double act_double(double x, Activation a)
{
    switch (a) {
    case ACT_GELU: return 0.5 * x * (1.0 + erf(x * M_SQRT1_2));
    case ACT_GELU_TANH: return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    case ACT_RELU: return x > 0 ? x : 0.0;
    case ACT_TANH: return tanh(x);
    case ACT_SILU: return x / (1.0 + exp(-x));
    }
    return x;
}

/* Rescale: m = (f(x)-f(r))/(x-r), f'(x) where |x-r| < 1e-10 (Captum's threshold). Not hot:
 * DeepLIFT runs one (input, baseline) pair per example and baseline. */
void act_backward_rescale(float *dx_in, float *dx_ref, const float *dy_in, const float *dy_ref,
                          const float *x, const float *r, long n, Activation a)
{
    for (long i = 0; i < n; i++) {
        double d = (double)x[i] - r[i];
        float m = fabs(d) < 1e-10 ? act_grad_scalar(x[i], a)
                                  : (float)((act_double(x[i], a) - act_double(r[i], a)) / d);
        dx_in[i] = dy_in[i] * m;
        dx_ref[i] = dy_ref[i] * m;
    }
}
