/* bf16 matrix products with fp32 accumulation through oneDNN's matmul primitive.
 *
 * oneDNN (Debian libdnnl2, 2.6) is opened with dlopen at run time, so a machine
 * without it still runs attrun in fp32; oneDNN picks the kernel for the CPU (AMX on
 * Sapphire Rapids and later, AVX-512 BF16 elsewhere). bf16 is used only where the CPU
 * has native bf16 instructions: on older CPUs oneDNN would emulate it, slower than fp32.
 *
 * Weights are converted to bf16 once (round to nearest even) and cached by address;
 * activations are converted per call; the products accumulate in fp32 and write fp32.
 * The engine reaches it through the "cpu-bf16" backend (backend_cpu_bf16.c).
 * Shapes as in engine/backend_cpu.h: x (N,IN), W (OUT,IN) PyTorch layout. */
#ifndef ATTRUN_GEMM_BF16_H
#define ATTRUN_GEMM_BF16_H
#include <stddef.h>
#include <stdint.h>

/* 1 if bf16 products can run here (oneDNN loaded, CPU with native bf16), else 0.
 * The first call loads oneDNN; the answer never changes afterwards. */
int gemm_bf16_available(void);
/* Why bf16 is unavailable, or the ISA oneDNN dispatches to ("avx512_core_amx",
 * "avx512_core_bf16"). */
const char *gemm_bf16_isa(void);

/* y (N,OUT) = x W^T + b (b (OUT) or NULL). Returns 0 on success, -1 if bf16 is not
 * available or oneDNN failed (the caller then runs fp32). */
int gemm_bf16_xwt(float *y, const float *x, const float *W, const float *b, int N, int IN, int OUT);
/* dx (N,IN) (+)= dy (N,OUT) W (accumulate: +=). Same return as gemm_bf16_xwt. */
int gemm_bf16_dyw(float *dx, const float *dy, const float *W, int N, int IN, int OUT, int accumulate);

/* A batched product on strided operands: for every batch index (nb dims, 0-2),
 * dst (M,N) (+)= alpha · a (M,K) · b (K,N), a and b bf16, fp32 accumulation and dst.
 * Strides in elements, batch dims first, then row and column (any of them may be 1: a
 * transposed operand is a view). Zero-initialise before filling: primitives are cached
 * by the struct's bytes. Same return as gemm_bf16_xwt. */
typedef struct {
    int nb, accum;
    float alpha;
    int bias; /* 0 here; 1: a (1, N) f32 row is added (the linear products' own use) */
    long batch[2], M, K, N;
    long sa[4], sb[4], sd[4];
} Bf16Batched;
int gemm_bf16_batched(const Bf16Batched *s, float *dst, const uint16_t *a, const uint16_t *b);
/* Frees the bf16 copy of the activations kept between calls (the next call allocates again). */
void gemm_bf16_release_scratch(void);
/* gemm_bf16_from_f32 on the engine's threads. */
void gemm_bf16_convert(uint16_t *dst, const float *src, size_t n);

/* Registers bf16 (n elements, gemm_bf16_from_f32 of W) as W's bf16 copy, owned by the
 * caller (one copy per node in MPI shared memory: io/checkpoint_shared.c). Returns 0, or -1
 * when out of memory (W then gets a private copy on first use, as without this call). */
int gemm_bf16_adopt_weights(const float *W, size_t n, const uint16_t *bf);
/* Drops every cached bf16 weight copy (model_free: addresses may be reused); frees the ones
 * made here, not the adopted ones. */
void gemm_bf16_forget_weights(void);

/* fp32 -> bf16, round to nearest even (NaN stays NaN), and back. */
void gemm_bf16_from_f32(uint16_t *dst, const float *src, size_t n);
float gemm_bf16_to_f32(uint16_t v);
#endif
