/* The CPU backend: OpenBLAS for the matrix products, the engine's own thread pool
 * (backend_cpu_pool.c) for attention pairs, norms and activations. */
#include "engine/backend_cpu.h"
#include <cblas.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

/* Element-wise y op= x in blocks of EW_BLOCK on the pool's threads: the decoders' residual adds
 * and SwiGLU products touch B·T·D and B·T·FF floats per layer, and on one thread they were ~4 %
 * of a Qwen2.5-0.5B-shaped forward+backward (bench --profile, "other"). One float op per element
 * wherever it runs, so the same bits. */
#define EW_BLOCK 16384
typedef struct {
    float *y;
    const float *x;
    long n;
} EwArgs;

static void add_item(void *arg, int blk, int tid)
{
    (void)tid;
    const EwArgs *a = arg;
    long i0 = (long)blk * EW_BLOCK, i1 = i0 + EW_BLOCK < a->n ? i0 + EW_BLOCK : a->n;
    for (long i = i0; i < i1; i++)
        a->y[i] += a->x[i];
}

static void mul_item(void *arg, int blk, int tid)
{
    (void)tid;
    const EwArgs *a = arg;
    long i0 = (long)blk * EW_BLOCK, i1 = i0 + EW_BLOCK < a->n ? i0 + EW_BLOCK : a->n;
    for (long i = i0; i < i1; i++)
        a->y[i] *= a->x[i];
}

/* (a, b) = (b, b·a): the gated FFN's backward turns up (a) into df and df (b) into df·up. */
static void swap_mul_item(void *arg, int blk, int tid)
{
    (void)tid;
    const EwArgs *e = arg;
    float *a = e->y, *b = (float *)e->x;
    long i0 = (long)blk * EW_BLOCK, i1 = i0 + EW_BLOCK < e->n ? i0 + EW_BLOCK : e->n;
    for (long i = i0; i < i1; i++) {
        float t = a[i];
        a[i] = b[i];
        b[i] *= t;
    }
}

static void elementwise(ops_task_fn fn, float *y, const float *x, long n)
{
    EwArgs a = {.y = y, .x = x, .n = n};
    long blocks = (n + EW_BLOCK - 1) / EW_BLOCK;
    ops_parallel((int)blocks, blocks > 1 ? ops_threads() : 1, fn, &a);
}

void cpu_add(float *y, const float *x, long n) { elementwise(add_item, y, x, n); }

void cpu_mul(float *y, const float *x, long n) { elementwise(mul_item, y, x, n); }

void cpu_swap_mul(float *a, float *b, long n) { elementwise(swap_mul_item, a, b, n); }

/* Why OpenBLAS's workers must not spin: after each threaded product they busy-wait (sched_yield)
 * for 2^28 cycles (~0.1 s) by default before they sleep, and between two products the engine runs
 * its own pool (attention pairs, norms, activations) on the same cores, which then shares them
 * with the spinners. Measured, attrun bench --profile, BERT-base shape, T 128, 2 cores, with
 * OPENBLAS_THREAD_TIMEOUT=4 (16 cycles) against the default in back-to-back runs: attention
 * 1.6-1.7x, norms 1.6x, activations 1.7x faster, the linear layers unchanged, forward+backward
 * 1.14x. OpenBLAS reads that variable only when it loads, so when the user has not set it this
 * sets it, re-reads OpenBLAS's environment and stops its workers; the next threaded product
 * starts them again with the short timeout (OpenBLAS's own path after fork). The functions are
 * OpenBLAS's exported internals, looked up at run time so that another BLAS still works (it
 * then keeps its own waiting policy). */
static void blas_short_spin(void)
{
    static int done;
    if (done++ || getenv("OPENBLAS_THREAD_TIMEOUT"))
        return;
    void (*read_env)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "openblas_read_env");
    int (*shutdown)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "blas_thread_shutdown_");
    if (!read_env || !shutdown)
        return;
    setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0);
    read_env();
    shutdown();
}

static void cpu_set_threads(int threads)
{
    blas_short_spin();
    ops_set_threads(threads);
    openblas_set_num_threads(threads > 0 ? threads : 1);
}

static void *cpu_alloc(size_t bytes) { return malloc(bytes); }
static void cpu_free(void *p) { free(p); }
static void cpu_release_scratch(void) { attention_blocked_release(); }

const Backend backend_cpu = {
    .name = "cpu",
    .set_threads = cpu_set_threads,
    .scratch_threads = ops_threads,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .release_scratch = cpu_release_scratch,
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
    .swap_mul = cpu_swap_mul,
};
