/* engine/analysis_stats.h: category attention, first/BOS, sink indicator, massive
 * activations, attribution mass per category.
 *
 * Hand-worked cases (arithmetic in the comments), plus random tensors checked against a
 * direct recomputation written here from the definitions (a full sort for the median and
 * the top 3, plain loops for the sums), not against the code under test. */
#include "engine/analysis_stats.h"
#include "engine/attn_stats.h"
#include "tests/testutil.h"
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Double sums of float inputs, rounded to float once: 1e-6 is many ulps of values <= 1. */
#define EPS 1e-6

static unsigned long long rng = 88172645463325252ULL;
static double urand(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (rng >> 11) * (1.0 / 9007199254740992.0);
}

/* random attention rows (softmax of uniform logits) */
static float *rand_probs(int L, int NH, int T)
{
    float *p = malloc(sizeof *p * (size_t)L * NH * T * T);
    for (size_t r = 0; r < (size_t)L * NH * T; r++) {
        double s = 0;
        for (int j = 0; j < T; j++)
            s += p[r * T + j] = (float)exp(4 * urand());
        for (int j = 0; j < T; j++)
            p[r * T + j] = (float)(p[r * T + j] / s);
    }
    return p;
}

static void test_received_hand(void)
{
    /* L=1 NH=1 T=3, categories {0, 1, 0}, K=3:
     * rows (0.5 0.25 0.25) (0 1 0) (0.2 0.2 0.6):
     * cat 0 = (0.75 + 0 + 0.8)/3 = 0.516667, cat 1 = (0.25 + 1 + 0.2)/3 = 0.483333, cat 2 = 0 */
    float p[] = {0.5f, 0.25f, 0.25f, 0, 1, 0, 0.2f, 0.2f, 0.6f};
    int16_t cat[] = {0, 1, 0};
    float out[3];
    CU_ASSERT_EQUAL(analysis_category_received(p, 1, 1, 3, cat, 3, out), 0);
    CU_ASSERT_DOUBLE_EQUAL(out[0], 1.55 / 3, EPS);
    CU_ASSERT_DOUBLE_EQUAL(out[1], 1.45 / 3, EPS);
    CU_ASSERT_EQUAL(out[2], 0.0f);
    int16_t badcat[] = {0, 3, 0};
    CU_ASSERT_EQUAL(analysis_category_received(p, 1, 1, 3, badcat, 3, out), -1);
    CU_ASSERT(strstr(attn_error(), "token 1 has category 3") != NULL);
}

static void test_received_random(void)
{
    enum { L = 2, NH = 3, T = 7, K = 4 };
    float *p = rand_probs(L, NH, T), out[L * NH * K];
    int16_t cat[T] = {3, 0, 1, 1, 0, 2, 3};
    CU_ASSERT_EQUAL(analysis_category_received(p, L, NH, T, cat, K, out), 0);
    for (int l = 0; l < L; l++)
        for (int h = 0; h < NH; h++) {
            double total = 0;
            for (int k = 0; k < K; k++) {
                double s = 0;
                for (int i = 0; i < T; i++)
                    for (int j = 0; j < T; j++)
                        if (cat[j] == k)
                            s += p[(((size_t)l * NH + h) * T + i) * T + j];
                CU_ASSERT_DOUBLE_EQUAL(out[(l * NH + h) * K + k], s / T, EPS);
                total += out[(l * NH + h) * K + k];
            }
            CU_ASSERT_DOUBLE_EQUAL(total, 1.0, 1e-5); /* rows sum to 1: categories partition the keys */
        }
    free(p);
}

static void test_first_bos_sink(void)
{
    /* T=3, two heads. head 0: column 0 = (1, 0.5, 0.1) -> first = 1.6/3 = 0.5333, alpha_0 the same
     * (k = 0: all queries); head 1: column 0 = (0.2, 0.2, 0.2) -> 0.2.
     * column 1 of head 0 = (0, 0.5, 0.3): alpha_1 = mean over i >= 1 = 0.4 */
    float p[] = {1, 0, 0, 0.5f, 0.5f, 0, 0.1f, 0.3f, 0.6f, /* head 0 */
                 0.2f, 0.8f, 0, 0.2f, 0.4f, 0.4f, 0.2f, 0.3f, 0.5f};
    float first[2], bos[2], alpha[2], sink[2];
    CU_ASSERT_EQUAL(analysis_first_bos(p, 1, 2, 3, 0, first, bos), 0);
    CU_ASSERT_DOUBLE_EQUAL(first[0], 1.6 / 3, EPS);
    CU_ASSERT_DOUBLE_EQUAL(first[1], 0.2, EPS);
    CU_ASSERT(bos[0] == first[0] && bos[1] == first[1]);
    CU_ASSERT_EQUAL(analysis_first_bos(p, 1, 2, 3, -1, first, bos), 0);
    CU_ASSERT(isnan(bos[0]) && isnan(bos[1]) && fabs(first[0] - 1.6 / 3) < EPS);
    CU_ASSERT_EQUAL(analysis_first_bos(p, 1, 2, 3, 2, NULL, bos), 0); /* BOS at 2: (0, 0, 0.6)/3 */
    CU_ASSERT_DOUBLE_EQUAL(bos[0], 0.2, EPS);
    CU_ASSERT_EQUAL(analysis_sink(p, 1, 2, 3, 0, 0.3, alpha, sink), 0);
    CU_ASSERT_DOUBLE_EQUAL(alpha[0], 1.6 / 3, EPS);
    CU_ASSERT(sink[0] == 1.0f && sink[1] == 0.0f);
    CU_ASSERT_EQUAL(analysis_sink(p, 1, 2, 3, 0, 0.6, NULL, sink), 0);
    CU_ASSERT(sink[0] == 0.0f && sink[1] == 0.0f);
    CU_ASSERT_EQUAL(analysis_sink(p, 1, 2, 3, 1, 0.3, alpha, sink), 0);
    CU_ASSERT_DOUBLE_EQUAL(alpha[0], 0.4, EPS);
    CU_ASSERT(sink[0] == 1.0f);
    float half[] = {0.5f, 0.5f, 0.5f, 0.5f}; /* alpha = 0.5 exactly: not above 0.5 */
    CU_ASSERT_EQUAL(analysis_sink(half, 1, 1, 2, 0, 0.5, alpha, sink), 0);
    CU_ASSERT(alpha[0] == 0.5f && sink[0] == 0.0f);
    float nan[] = {NAN, 0, 0, 1};
    CU_ASSERT_EQUAL(analysis_sink(nan, 1, 1, 2, 0, 0.3, NULL, sink), 0);
    CU_ASSERT(isnan(sink[0]));
    CU_ASSERT_EQUAL(analysis_sink(p, 1, 2, 3, 3, 0.3, NULL, sink), -1);
    CU_ASSERT_EQUAL(analysis_first_bos(p, 1, 2, 3, 3, first, bos), -1);
    CU_ASSERT_EQUAL(analysis_first_bos(NULL, 1, 2, 3, 0, first, bos), -1);
}

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void test_massive_hand(void)
{
    /* L=1, T=2, D=3: h = (1, -7, 2 | 7, 0.5, -3): |h| = 1 7 2 7 0.5 3.
     * top: 7 at (0,1) (lower position first), 7 at (1,0), 3 at (1,2);
     * sorted |h| 0.5 1 2 3 7 7: median = (2 + 3)/2 = 2.5 */
    float h[] = {1, -7, 2, 7, 0.5f, -3}, v[3], med;
    int32_t pos[3], dim[3];
    CU_ASSERT_EQUAL(analysis_massive(h, 1, 2, 3, v, pos, dim, &med), 0);
    CU_ASSERT(v[0] == 7 && pos[0] == 0 && dim[0] == 1);
    CU_ASSERT(v[1] == 7 && pos[1] == 1 && dim[1] == 0);
    CU_ASSERT(v[2] == 3 && pos[2] == 1 && dim[2] == 2);
    CU_ASSERT_EQUAL(med, 2.5f);
    /* odd count T=1 D=3: |h| = 4 1 9 -> median 4; T*D = 2 < 3: third place NaN, -1 */
    float g[] = {-4, 1, 9};
    CU_ASSERT_EQUAL(analysis_massive(g, 1, 1, 3, v, pos, dim, &med), 0);
    CU_ASSERT(med == 4 && v[0] == 9 && dim[0] == 2 && v[2] == 1 && dim[2] == 1);
    CU_ASSERT_EQUAL(analysis_massive(g, 1, 1, 2, v, pos, dim, &med), 0);
    CU_ASSERT(med == 2.5f && v[0] == 4 && v[1] == 1 && isnan(v[2]) && pos[2] == -1 && dim[2] == -1);
    CU_ASSERT_EQUAL(analysis_massive(g, 1, 0, 2, v, pos, dim, &med), -1);
}

/* random layers (with ties and one planted outlier) against a full sort */
static void test_massive_random(void)
{
    enum { L = 3, T = 37, D = 16 };
    size_t n = (size_t)T * D;
    float *h = malloc(sizeof *h * L * n), v[L * 3], med[L];
    int32_t pos[L * 3], dim[L * 3];
    double *s = malloc(sizeof *s * n);
    for (size_t x = 0; x < L * n; x++)
        h[x] = (float)(round(20 * (urand() - 0.5)) / 4); /* many ties */
    h[1 * n + 5 * D + 7] = -300; /* a massive activation at layer 1, position 5, dim 7 */
    CU_ASSERT_EQUAL(analysis_massive(h, L, T, D, v, pos, dim, med), 0);
    CU_ASSERT(v[3] == 300 && pos[3] == 5 && dim[3] == 7);
    for (int l = 0; l < L; l++) {
        for (size_t x = 0; x < n; x++)
            s[x] = fabs(h[l * n + x]);
        qsort(s, n, sizeof *s, cmp_desc);
        double want = 0.5 * (s[n / 2 - 1] + s[n / 2]); /* n even */
        CU_ASSERT_DOUBLE_EQUAL(med[l], want, 1e-7);
        for (int q = 0; q < 3; q++) {
            CU_ASSERT_EQUAL(v[l * 3 + q], (float)s[q]);
            CU_ASSERT_EQUAL(fabsf(h[l * n + (size_t)pos[l * 3 + q] * D + dim[l * 3 + q]]), v[l * 3 + q]);
        }
        /* ties: of equal values, the lower flat index comes first */
        for (int q = 0; q < 2; q++)
            if (v[l * 3 + q] == v[l * 3 + q + 1])
                CU_ASSERT(pos[l * 3 + q] * D + dim[l * 3 + q] < pos[l * 3 + q + 1] * D + dim[l * 3 + q + 1]);
    }
    /* odd counts and all-equal values: the quickselect's edge cases */
    for (int rep = 0; rep < 200; rep++) {
        int t = 1 + (int)(urand() * 9), d = 1 + (int)(urand() * 9);
        size_t m = (size_t)t * d;
        for (size_t x = 0; x < m; x++)
            h[x] = rep % 3 ? (float)(urand() - 0.5) : (float)(int)(3 * urand());
        float mv[3], mm;
        int32_t mp[3], md[3];
        CU_ASSERT_EQUAL_FATAL(analysis_massive(h, 1, t, d, mv, mp, md, &mm), 0);
        for (size_t x = 0; x < m; x++)
            s[x] = fabs(h[x]);
        qsort(s, m, sizeof *s, cmp_desc);
        double want = m % 2 ? s[m / 2] : 0.5 * (s[m / 2 - 1] + s[m / 2]);
        CU_ASSERT_DOUBLE_EQUAL(mm, want, 1e-7);
    }
    free(h);
    free(s);
}

/* Norm-weighted attention, L = NH = 1, T = 3, vnorm = (1, 2, 0):
 * row 0 p = (0.5, 0.25, 0.25) -> 0.5·1, 0.25·2, 0 = (0.5, 0.5, 0) / 1   = (0.5, 0.5, 0);
 * row 1 p = (0.2, 0.4, 0.4)   -> (0.2, 0.8, 0) / 1                     = (0.2, 0.8, 0);
 * row 2 p = (0, 0, 1)         -> (0, 0, 0): every weight on a zero-norm value: NaN row. */
static void test_norm_weighted_hand(void)
{
    const float p[9] = {0.5f, 0.25f, 0.25f, 0.2f, 0.4f, 0.4f, 0, 0, 1}, vn[3] = {1, 2, 0};
    const float want[6] = {0.5f, 0.5f, 0, 0.2f, 0.8f, 0};
    float out[9];
    CU_ASSERT_EQUAL_FATAL(analysis_norm_weighted(p, vn, 1, 1, 3, out), 0);
    for (int k = 0; k < 6; k++)
        CU_ASSERT_DOUBLE_EQUAL(out[k], want[k], EPS);
    for (int k = 6; k < 9; k++)
        CU_ASSERT(isnan(out[k]));
    CU_ASSERT_EQUAL(analysis_norm_weighted(p, NULL, 1, 1, 3, out), -1);
    CU_ASSERT_EQUAL(analysis_norm_weighted(p, vn, 1, 1, 0, out), -1);
}

/* Random heads: rows sum to 1 and out/p is proportional to vnorm within each row. */
static void test_norm_weighted_random(void)
{
    int L = 2, NH = 3, T = 7;
    float *p = rand_probs(L, NH, T), *vn = malloc(sizeof *vn * L * NH * T), *out = malloc(sizeof *out * L * NH * T * T);
    for (int k = 0; k < L * NH * T; k++)
        vn[k] = (float)(0.1 + 3 * urand());
    CU_ASSERT_EQUAL_FATAL(analysis_norm_weighted(p, vn, L, NH, T, out), 0);
    for (int lh = 0; lh < L * NH; lh++)
        for (int i = 0; i < T; i++) {
            const float *pi = p + ((size_t)lh * T + i) * T, *oi = out + ((size_t)lh * T + i) * T;
            double s = 0, z = 0;
            for (int j = 0; j < T; j++)
                z += (double)pi[j] * vn[lh * T + j];
            for (int j = 0; j < T; j++) {
                s += oi[j];
                CU_ASSERT_DOUBLE_EQUAL(oi[j], (double)pi[j] * vn[lh * T + j] / z, EPS);
            }
            CU_ASSERT_DOUBLE_EQUAL(s, 1.0, EPS);
        }
    free(p);
    free(vn);
    free(out);
}

static void test_category_mass(void)
{
    /* scores (1, -3, 0.5, 0.5, 0), cat (2, 0, 0, 1, 2), K=4: total |s| = 5;
     * cat 0 = 3.5/5 = 0.7, cat 1 = 0.1, cat 2 = 0.2, cat 3 = 0 (no token) */
    float s[] = {1, -3, 0.5f, 0.5f, 0}, mass[4];
    int16_t cat[] = {2, 0, 0, 1, 2};
    int32_t count[4];
    CU_ASSERT_EQUAL(analysis_category_mass(s, cat, 5, 4, mass, count), 0);
    CU_ASSERT_DOUBLE_EQUAL(mass[0], 0.7, EPS);
    CU_ASSERT_DOUBLE_EQUAL(mass[1], 0.1, EPS);
    CU_ASSERT_DOUBLE_EQUAL(mass[2], 0.2, EPS);
    CU_ASSERT_EQUAL(mass[3], 0.0f);
    CU_ASSERT(count[0] == 2 && count[1] == 1 && count[2] == 2 && count[3] == 0);
    float z[] = {0, 0, 0, 0, 0};
    CU_ASSERT_EQUAL(analysis_category_mass(z, cat, 5, 4, mass, NULL), 0);
    CU_ASSERT(isnan(mass[0]) && isnan(mass[3]));
    int16_t bad[] = {0, 4, 0, 0, 0};
    CU_ASSERT_EQUAL(analysis_category_mass(s, bad, 5, 4, mass, count), -1);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("analysis_stats", NULL, NULL);
    CU_add_test(s, "category attention by hand", test_received_hand);
    CU_add_test(s, "category attention, random", test_received_random);
    CU_add_test(s, "first, BOS, sink", test_first_bos_sink);
    CU_add_test(s, "massive activations by hand", test_massive_hand);
    CU_add_test(s, "massive activations vs sort", test_massive_random);
    CU_add_test(s, "attribution mass per category", test_category_mass);
    CU_add_test(s, "norm-weighted attention by hand", test_norm_weighted_hand);
    CU_add_test(s, "norm-weighted attention, random", test_norm_weighted_random);
    return test_run_registry();
}
