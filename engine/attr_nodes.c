/* Integration nodes and weights exactly as Captum 0.8 builds them
 * (captum/attr/_utils/approximation_methods.py):
 *  - Gauss-Legendre: numpy.polynomial.legendre.leggauss(n) mapped to [0,1]:
 *    alpha = 0.5·(1 + x), weight = 0.5·w, in double;
 *  - Riemann rules: alphas = torch.linspace(a, b, n) in float32 (default dtype),
 *    weights 1/n (trapezoid: the two ends halved, so they sum to (n-1)/n).
 * Captum multiplies the gradients by torch.tensor(step_sizes).float(): the weights
 * are applied rounded to float32, so we return them rounded the same way. */
#include "engine/attr_internal.h"
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Legendre P_n and its derivative at x (long double: the roots come out to the last
 * bit of a double, like numpy's eigenvalue + Newton polish). */
static void legendre(int n, long double x, long double *p, long double *dp)
{
    long double p0 = 1.0L, p1 = x;
    if (n == 0) {
        *p = 1.0L;
        *dp = 0.0L;
        return;
    }
    for (int k = 2; k <= n; k++) {
        long double p2 = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k;
        p0 = p1;
        p1 = p2;
    }
    *p = p1;
    *dp = n * (x * p1 - p0) / (x * x - 1.0L);
}

static void gauss_legendre(int n, double *alpha, double *weight)
{
    /* Roots come in ± pairs; compute the negative half (ascending) and mirror it,
     * which is numpy's symmetrisation too. */
    for (int i = 0; i < (n + 1) / 2; i++) {
        long double x = -cosl(M_PI * (i + 0.75L) / (n + 0.5L)), p, dp;
        for (int it = 0; it < 100; it++) {
            legendre(n, x, &p, &dp);
            long double dx = p / dp;
            x -= dx;
            if (fabsl(dx) < 1e-19L)
                break;
        }
        legendre(n, x, &p, &dp);
        long double w = 2.0L / ((1.0L - x * x) * dp * dp);
        if (n % 2 == 1 && i == n / 2)
            x = 0.0L;
        double xd = (double)x;
        alpha[i] = 0.5 * (1.0 + xd);
        alpha[n - 1 - i] = 0.5 * (1.0 - xd);
        weight[i] = weight[n - 1 - i] = (double)(float)(0.5 * (double)w);
    }
}

/* torch.linspace(start, end, n) for float32 on CPU (ATen's linspace_kernel, AVX2 build):
 * the scalar path computes start + step·i for the first half and end - step·(n-1-i) for
 * the second, each as one fused multiply-add (the kernel file is built with FMA); the
 * vectorised path (blocks of 2×8 while 16 remain) computes that for the first lane and
 * adds lane·step without fusing. Checked bit-exact against torch 1.13 for n = 2..199 and
 * all four Riemann ranges, and against the reference ig_alphas. */
__attribute__((optimize("fp-contract=off")))
static void torch_linspace_f32(double start_d, double end_d, int n, double *out)
{
    float start = (float)start_d, end = (float)end_d;
    if (n == 1) {
        out[0] = start;
        return;
    }
    float step = (end - start) / (float)(n - 1);
    int half = n / 2, i = 0;
    for (; i + 16 <= n; i += 16)
        for (int v = i; v < i + 16; v += 8) {
            float base = v < half ? fmaf(step, (float)v, start) : fmaf(-step, (float)(n - 1 - v), end);
            for (int l = 0; l < 8; l++) {
                volatile float lane = (float)l * step;
                out[v + l] = (float)(base + lane);
            }
        }
    for (; i < n; i++)
        out[i] = i < half ? fmaf(step, (float)i, start) : fmaf(-step, (float)(n - 1 - i), end);
}

/* Gauss-Legendre nodes cost O(n^2) (Newton on the three-term recurrence: 0.8 s for n = 8000), and every
 * work unit of an example asks for the same ones, so the last few (n -> nodes) are cached. The cache is
 * shared by threads calling the methods concurrently, hence the mutex. */
#define GL_CACHE 4
static struct { int n; double *alpha, *weight; } gl_cache[GL_CACHE];
static int gl_next;
static pthread_mutex_t gl_lock = PTHREAD_MUTEX_INITIALIZER;

static void gauss_legendre_cached(int n, double *alpha, double *weight)
{
    size_t bytes = (size_t)n * sizeof(double);
    pthread_mutex_lock(&gl_lock);
    for (int i = 0; i < GL_CACHE; i++)
        if (gl_cache[i].n == n) {
            memcpy(alpha, gl_cache[i].alpha, bytes);
            memcpy(weight, gl_cache[i].weight, bytes);
            pthread_mutex_unlock(&gl_lock);
            return;
        }
    pthread_mutex_unlock(&gl_lock);
    gauss_legendre(n, alpha, weight);
    double *a = malloc(bytes), *w = malloc(bytes);
    if (!a || !w) { /* caching is only an optimisation */
        free(a);
        free(w);
        return;
    }
    memcpy(a, alpha, bytes);
    memcpy(w, weight, bytes);
    pthread_mutex_lock(&gl_lock);
    int slot = gl_next;
    gl_next = (gl_next + 1) % GL_CACHE;
    free(gl_cache[slot].alpha);
    free(gl_cache[slot].weight);
    gl_cache[slot].n = n;
    gl_cache[slot].alpha = a;
    gl_cache[slot].weight = w;
    pthread_mutex_unlock(&gl_lock);
}

void ig_nodes(IgRule rule, int n, double *alpha, double *weight)
{
    if (n < 1)
        return;
    if (rule == RULE_GAUSSLEGENDRE) {
        gauss_legendre_cached(n, alpha, weight);
        return;
    }
    double dn = (double)n;
    switch (rule) {
    case RULE_RIEMANN_LEFT: torch_linspace_f32(0.0, 1.0 - 1.0 / dn, n, alpha); break;
    case RULE_RIEMANN_RIGHT: torch_linspace_f32(1.0 / dn, 1.0, n, alpha); break;
    case RULE_RIEMANN_MIDDLE: torch_linspace_f32(1.0 / (2.0 * dn), 1.0 - 1.0 / (2.0 * dn), n, alpha); break;
    default: torch_linspace_f32(0.0, 1.0, n, alpha); break;
    }
    for (int i = 0; i < n; i++)
        weight[i] = (double)(float)(1.0 / dn);
    if (rule == RULE_RIEMANN_TRAPEZOID) {
        weight[0] = (double)(float)(1.0 / dn / 2.0);
        weight[n - 1] = (double)(float)(1.0 / dn / 2.0);
    }
}
