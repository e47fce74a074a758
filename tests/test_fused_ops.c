/* Fused element-wise ops of the CPU backend against the unfused sequence they replace, bit for bit
 * (they are the same float operations in the same order; the golden files depend on it):
 * add_layernorm_forward(y, ..., x, r) == cpu_add(x, r) then layernorm_forward(y, ..., x), for odd
 * and BERT-sized rows, row counts that leave partial blocks of the pool, 1 and 2 threads. */
#include "engine/backend_cpu.h"
#include "tests/testutil.h"
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xFFFF) / 65536.0f * 4.0f - 2.0f;
}

static void test_add_layernorm(void)
{
    int shapes[][2] = {{1, 1}, {3, 7}, {65, 33}, {130, 768}, {200, 129}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int threads = 1; threads <= 2; threads++) {
            int N = shapes[s][0], D = shapes[s][1];
            size_t n = (size_t)N * D;
            float *x0 = malloc(n * 4), *x1 = malloc(n * 4), *r = malloc(n * 4), *g = malloc(D * 4), *b = malloc(D * 4);
            float *y0 = malloc(n * 4), *y1 = malloc(n * 4), *h0 = malloc(n * 4), *h1 = malloc(n * 4);
            float *s0 = malloc(N * 4), *s1 = malloc(N * 4);
            unsigned seed = 7 + N + D;
            for (size_t i = 0; i < n; i++)
                x0[i] = x1[i] = frand(&seed) * (i % 5 ? 1.0f : 300.0f), r[i] = frand(&seed);
            for (int j = 0; j < D; j++)
                g[j] = frand(&seed), b[j] = frand(&seed);
            ops_set_threads(threads);
            cpu_add(x0, r, (long)n);
            layernorm_forward(y0, h0, s0, x0, g, b, 1e-12f, N, D);
            add_layernorm_forward(y1, h1, s1, x1, r, g, b, 1e-12f, N, D);
            CU_ASSERT(memcmp(x0, x1, n * 4) == 0);
            CU_ASSERT(memcmp(y0, y1, n * 4) == 0);
            CU_ASSERT(memcmp(h0, h1, n * 4) == 0);
            CU_ASSERT(memcmp(s0, s1, (size_t)N * 4) == 0);
            free(x0), free(x1), free(r), free(g), free(b), free(y0), free(y1), free(h0), free(h1), free(s0), free(s1);
        }
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("fused_ops", NULL, NULL);
    CU_add_test(s, "residual add + LayerNorm == add, then LayerNorm (bits)", test_add_layernorm);
    return test_run_registry();
}
