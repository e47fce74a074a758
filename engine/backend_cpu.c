/* The CPU backend: OpenBLAS for the matrix products, the engine's own thread pool
 * (backend_cpu_pool.c) for attention pairs, norms and activations. */
#include "engine/backend_cpu.h"
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

void cpu_add(float *y, const float *x, long n)
{
    for (long i = 0; i < n; i++)
        y[i] += x[i];
}

void cpu_mul(float *y, const float *x, long n)
{
    for (long i = 0; i < n; i++)
        y[i] *= x[i];
}

static void cpu_set_threads(int threads)
{
    ops_set_threads(threads);
    openblas_set_num_threads(threads > 0 ? threads : 1);
}

static void *cpu_alloc(size_t bytes) { return malloc(bytes); }
static void cpu_free(void *p) { free(p); }

const Backend backend_cpu = {
    .name = "cpu",
    .set_threads = cpu_set_threads,
    .scratch_threads = ops_threads,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .linear_forward = linear_forward,
    .linear_backward = linear_backward,
    .attention_forward = attention_forward,
    .attention_backward = attention_backward,
    .layernorm_forward = layernorm_forward,
    .layernorm_backward = layernorm_backward,
    .add_layernorm_forward = add_layernorm_forward,
    .rmsnorm_forward = rmsnorm_forward,
    .rmsnorm_backward = rmsnorm_backward,
    .act_forward = act_forward,
    .act_backward = act_backward,
    .act_backward_rescale = act_backward_rescale,
    .rope_tables = rope_tables,
    .rope_forward = rope_forward,
    .rope_backward = rope_backward,
    .softmax_forward = softmax_forward,
    .add = cpu_add,
    .mul = cpu_mul,
};
