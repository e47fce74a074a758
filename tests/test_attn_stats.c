/* Attention statistics, rollout, rank agreement (engine/attn_stats.h) and ERASER
 * faithfulness (engine/faithfulness.h).
 *
 * Every expected value is worked out by hand from the definition (comments show the
 * arithmetic) or, for faithfulness, from separate B = 1 engine_run calls on masked
 * inputs built here, independently of faithfulness.c's own row construction. */
#include "engine/attn_stats.h"
#include "engine/faithfulness.h"
#include "tests/testutil.h"
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Statistics are double sums of float inputs rounded to float: 1e-6 is many ulps. */
#define EPS 1e-6

/* probs (L,NH,T,T) for L layers × NH heads all following pattern(i, j). */
static float *fill(int L, int NH, int T, double (*pattern)(int i, int j, int T))
{
    float *p = malloc((size_t)L * NH * T * T * sizeof(float));
    for (int lh = 0; lh < L * NH; lh++)
        for (int i = 0; i < T; i++)
            for (int j = 0; j < T; j++)
                p[((size_t)lh * T + i) * T + j] = (float)pattern(i, j, T);
    return p;
}

static double pat_cls(int i, int j, int T) { return j == 0; }
static double pat_uniform(int i, int j, int T) { return 1.0 / T; }
static double pat_diag(int i, int j, int T) { return i == j; }
/* every row on its previous token; row 0 (which has none) on itself */
static double pat_prev(int i, int j, int T) { return i == 0 ? j == 0 : j == i - 1; }
/* every row on its next token; the last row on itself */
static double pat_next(int i, int j, int T) { return i == T - 1 ? j == T - 1 : j == i + 1; }

#define STAT(out, s, l, h, L, NH) (out)[((size_t)(s) * (L) + (l)) * (NH) + (h)]

/* Checks stat s equals v in every (layer, head). */
static void all_heads(const float *out, int s, int L, int NH, double v)
{
    for (int l = 0; l < L; l++)
        for (int h = 0; h < NH; h++) {
            double got = STAT(out, s, l, h, L, NH);
            if (!(fabs(got - v) <= EPS))
                printf("\n   %s l%d h%d: got %.9g want %.9g", attn_stat_names[s], l, h, got, v);
            CU_ASSERT(fabs(got - v) <= EPS);
        }
}

enum { L = 2, NH = 3, T = 5 };
/* tokens: [CLS] a , b [SEP] */
static const int IS_CLS[T] = {1, 0, 0, 0, 0}, IS_SEP[T] = {0, 0, 0, 0, 1}, IS_PUNCT[T] = {0, 0, 1, 0, 0};

static void test_names(void)
{
    const char *want[ATTN_NSTAT] = {"cls", "sep", "punct", "self", "prev", "next", "entropy", "distance"};
    for (int s = 0; s < ATTN_NSTAT; s++)
        CU_ASSERT_STRING_EQUAL(attn_stat_names[s], want[s]);
}

static void test_all_on_cls(void)
{
    float *p = fill(L, NH, T, pat_cls), out[ATTN_NSTAT * L * NH];
    CU_ASSERT_EQUAL_FATAL(attn_stats_compute(p, L, NH, T, IS_CLS, IS_SEP, IS_PUNCT, out), 0);
    all_heads(out, ATTN_STAT_CLS, L, NH, 1.0);
    all_heads(out, ATTN_STAT_SEP, L, NH, 0.0);
    all_heads(out, ATTN_STAT_PUNCT, L, NH, 0.0);
    all_heads(out, ATTN_STAT_SELF, L, NH, 1.0 / T);       /* only row 0 sits on its diagonal */
    all_heads(out, ATTN_STAT_PREV, L, NH, 1.0 / (T - 1)); /* of rows 1..4, only row 1 (j = 0 = i-1) */
    all_heads(out, ATTN_STAT_NEXT, L, NH, 0.0);
    all_heads(out, ATTN_STAT_ENTROPY, L, NH, 0.0);
    all_heads(out, ATTN_STAT_DISTANCE, L, NH, (T - 1) / 2.0); /* mean of |i - 0| = mean i = 2 */
    free(p);
}

static void test_uniform(void)
{
    float *p = fill(L, NH, T, pat_uniform), out[ATTN_NSTAT * L * NH];
    CU_ASSERT_EQUAL_FATAL(attn_stats_compute(p, L, NH, T, IS_CLS, IS_SEP, IS_PUNCT, out), 0);
    all_heads(out, ATTN_STAT_CLS, L, NH, 0.2);
    all_heads(out, ATTN_STAT_SEP, L, NH, 0.2);
    all_heads(out, ATTN_STAT_PUNCT, L, NH, 0.2);
    all_heads(out, ATTN_STAT_SELF, L, NH, 0.2);
    all_heads(out, ATTN_STAT_PREV, L, NH, 0.2);
    all_heads(out, ATTN_STAT_NEXT, L, NH, 0.2);
    all_heads(out, ATTN_STAT_ENTROPY, L, NH, log(5.0));
    /* sum_i sum_j |i-j| over 5x5 = 2*(1*4 + 2*3 + 3*2 + 4*1) = 40; times 1/5, mean over 5 rows */
    all_heads(out, ATTN_STAT_DISTANCE, L, NH, 40.0 / 25.0);
    /* no flags at all: NULL means "no such token" */
    CU_ASSERT_EQUAL_FATAL(attn_stats_compute(p, L, NH, T, NULL, NULL, NULL, out), 0);
    all_heads(out, ATTN_STAT_CLS, L, NH, 0.0);
    all_heads(out, ATTN_STAT_PUNCT, L, NH, 0.0);
    free(p);
}

static void test_diag_and_shifted(void)
{
    float out[ATTN_NSTAT * L * NH];
    float *p = fill(L, NH, T, pat_diag);
    CU_ASSERT_EQUAL_FATAL(attn_stats_compute(p, L, NH, T, IS_CLS, IS_SEP, IS_PUNCT, out), 0);
    all_heads(out, ATTN_STAT_SELF, L, NH, 1.0);
    all_heads(out, ATTN_STAT_PREV, L, NH, 0.0);
    all_heads(out, ATTN_STAT_NEXT, L, NH, 0.0);
    all_heads(out, ATTN_STAT_CLS, L, NH, 0.2); /* row 0 only */
    all_heads(out, ATTN_STAT_ENTROPY, L, NH, 0.0);
    all_heads(out, ATTN_STAT_DISTANCE, L, NH, 0.0);
    free(p);

    p = fill(L, NH, T, pat_prev);
    CU_ASSERT_EQUAL_FATAL(attn_stats_compute(p, L, NH, T, IS_CLS, IS_SEP, IS_PUNCT, out), 0);
    all_heads(out, ATTN_STAT_PREV, L, NH, 1.0); /* row 0 has no previous token and does not count */
    all_heads(out, ATTN_STAT_NEXT, L, NH, 0.0);
    all_heads(out, ATTN_STAT_SELF, L, NH, 0.2);
    all_heads(out, ATTN_STAT_DISTANCE, L, NH, 4.0 / 5.0); /* rows 1..4 at distance 1 */
    all_heads(out, ATTN_STAT_CLS, L, NH, 2.0 / 5.0);      /* rows 0 and 1 */
    all_heads(out, ATTN_STAT_PUNCT, L, NH, 1.0 / 5.0);    /* row 3 -> column 2 */
    all_heads(out, ATTN_STAT_SEP, L, NH, 0.0);
    free(p);

    p = fill(L, NH, T, pat_next);
    CU_ASSERT_EQUAL_FATAL(attn_stats_compute(p, L, NH, T, IS_CLS, IS_SEP, IS_PUNCT, out), 0);
    all_heads(out, ATTN_STAT_NEXT, L, NH, 1.0);
    all_heads(out, ATTN_STAT_PREV, L, NH, 0.0);
    all_heads(out, ATTN_STAT_SEP, L, NH, 2.0 / 5.0); /* rows 3 and 4 */
    all_heads(out, ATTN_STAT_CLS, L, NH, 0.0);
    free(p);
}

/* Heads with different patterns land at out[s][l][h]. */
static void test_layout(void)
{
    double (*pats[L * NH])(int, int, int) = {pat_cls, pat_uniform, pat_diag, pat_prev, pat_next, pat_cls};
    float *p = malloc((size_t)L * NH * T * T * sizeof(float)), out[ATTN_NSTAT * L * NH];
    for (int lh = 0; lh < L * NH; lh++)
        for (int i = 0; i < T; i++)
            for (int j = 0; j < T; j++)
                p[((size_t)lh * T + i) * T + j] = (float)pats[lh](i, j, T);
    CU_ASSERT_EQUAL_FATAL(attn_stats_compute(p, L, NH, T, IS_CLS, IS_SEP, IS_PUNCT, out), 0);
    double want_self[L * NH] = {0.2, 0.2, 1.0, 0.2, 0.2, 0.2};
    double want_prev[L * NH] = {0.25, 0.2, 0.0, 1.0, 0.0, 0.25};
    double want_ent[L * NH] = {0, log(5.0), 0, 0, 0, 0};
    for (int l = 0; l < L; l++)
        for (int h = 0; h < NH; h++) {
            CU_ASSERT(fabs(STAT(out, ATTN_STAT_SELF, l, h, L, NH) - want_self[l * NH + h]) <= EPS);
            CU_ASSERT(fabs(STAT(out, ATTN_STAT_PREV, l, h, L, NH) - want_prev[l * NH + h]) <= EPS);
            CU_ASSERT(fabs(STAT(out, ATTN_STAT_ENTROPY, l, h, L, NH) - want_ent[l * NH + h]) <= EPS);
        }
    free(p);
}

/* A conductance-like tensor (signed, rows not summing to 1): mass sums still apply,
 * entropy is NaN. */
static void test_conductance_like(void)
{
    enum { T3 = 3 };
    float c[T3 * T3] = {0.5f, -0.25f, 2.0f, /* row 0 */
                        -1.0f, 0.0f, 0.75f, /* row 1 */
                        0.25f, 0.5f, -0.5f};
    int cls[T3] = {1, 0, 0}, sep[T3] = {0, 0, 1};
    float out[ATTN_NSTAT];
    CU_ASSERT_EQUAL_FATAL(attn_stats_compute(c, 1, 1, T3, cls, sep, NULL, out), 0);
    CU_ASSERT(fabs(out[ATTN_STAT_CLS] - (0.5 - 1.0 + 0.25) / 3) <= EPS);
    CU_ASSERT(fabs(out[ATTN_STAT_SEP] - (2.0 + 0.75 - 0.5) / 3) <= EPS);
    CU_ASSERT(fabs(out[ATTN_STAT_SELF] - (0.5 + 0.0 - 0.5) / 3) <= EPS);
    CU_ASSERT(fabs(out[ATTN_STAT_PREV] - (-1.0 + 0.5) / 2) <= EPS);  /* (1,0), (2,1) */
    CU_ASSERT(fabs(out[ATTN_STAT_NEXT] - (-0.25 + 0.75) / 2) <= EPS); /* (0,1), (1,2) */
    /* distance: row 0: -0.25*1 + 2*2 = 3.75; row 1: -1 + 0.75 = -0.25; row 2: 0.25*2 + 0.5 = 1 */
    CU_ASSERT(fabs(out[ATTN_STAT_DISTANCE] - (3.75 - 0.25 + 1.0) / 3) <= EPS);
    CU_ASSERT(isnan(out[ATTN_STAT_ENTROPY]));
    /* non-negative rows that do not sum to 1 are not distributions either */
    float d[4] = {0.5f, 0.25f, 0.5f, 0.5f};
    CU_ASSERT_EQUAL_FATAL(attn_stats_compute(d, 1, 1, 2, NULL, NULL, NULL, out), 0);
    CU_ASSERT(isnan(out[ATTN_STAT_ENTROPY]));
}

static void test_single_token_and_errors(void)
{
    float one = 1.0f, out[ATTN_NSTAT];
    int cls = 1;
    CU_ASSERT_EQUAL_FATAL(attn_stats_compute(&one, 1, 1, 1, &cls, NULL, NULL, out), 0);
    CU_ASSERT(fabs(out[ATTN_STAT_CLS] - 1) <= EPS);
    CU_ASSERT(fabs(out[ATTN_STAT_SELF] - 1) <= EPS);
    CU_ASSERT(isnan(out[ATTN_STAT_PREV]));
    CU_ASSERT(isnan(out[ATTN_STAT_NEXT]));
    CU_ASSERT(fabs(out[ATTN_STAT_ENTROPY]) <= EPS);
    CU_ASSERT_EQUAL(attn_stats_compute(&one, 1, 1, 0, NULL, NULL, NULL, out), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(attn_error(), "attn_stats_compute"));
    CU_ASSERT_PTR_NOT_NULL(strstr(attn_error(), "T=0"));
    CU_ASSERT_EQUAL(attn_stats_compute(NULL, 1, 1, 1, NULL, NULL, NULL, out), -1);
    CU_ASSERT_EQUAL(attn_rollout(&one, 0, 1, 1, out), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(attn_error(), "attn_rollout"));
}

static void test_punct_tokens(void)
{
    const char *yes[] = {",", ".", "...", "##.", "\xC4\xA0!", "\"", "-", "##", "?!"};
    const char *no[] = {"[CLS]", "[SEP]", "<s>", "</s>", "a", "##a", "\xC4\xA0", "", "1", "a,", "\xE2\x80\xA6"};
    for (size_t k = 0; k < sizeof yes / sizeof *yes; k++)
        CU_ASSERT_EQUAL(attn_token_is_punct(yes[k]), 1);
    for (size_t k = 0; k < sizeof no / sizeof *no; k++)
        CU_ASSERT_EQUAL(attn_token_is_punct(no[k]), 0);
    CU_ASSERT_EQUAL(attn_token_is_punct(NULL), 0);
}

/* ---------- rollout ---------- */

static void test_rollout_identity(void)
{
    float *p = fill(3, 2, 6, pat_diag), r[6];
    CU_ASSERT_EQUAL_FATAL(attn_rollout(p, 3, 2, 6, r), 0);
    for (int j = 0; j < 6; j++)
        CU_ASSERT(fabs(r[j] - (j == 0)) <= EPS);
    free(p);
}

static void test_rollout_hand(void)
{
    float r[2];
    /* uniform 2x2: Â = 0.5*[[.5,.5],[.5,.5]] + 0.5*I = [[.75,.25],[.25,.75]] */
    float *p = fill(2, 1, 2, pat_uniform);
    CU_ASSERT_EQUAL_FATAL(attn_rollout(p, 1, 1, 2, r), 0);
    CU_ASSERT(fabs(r[0] - 0.75) <= EPS && fabs(r[1] - 0.25) <= EPS);
    /* two layers: row 0 of Â·Â = [.75*.75 + .25*.25, .75*.25 + .25*.75] = [.625, .375] */
    CU_ASSERT_EQUAL_FATAL(attn_rollout(p, 2, 1, 2, r), 0);
    CU_ASSERT(fabs(r[0] - 0.625) <= EPS && fabs(r[1] - 0.375) <= EPS);
    free(p);

    /* order: layer 1 (first) A1 = [[0,1],[0,1]], layer 2 A2 = [[1,0],[1,0]].
     * Â1 = [[.5,.5],[0,1]], Â2 = [[1,0],[.5,.5]]; R = Â2 Â1, row 0 = [1,0] Â1 = [.5,.5]
     * (the wrong order Â1 Â2 would give [.75,.25]). */
    float two[2 * 4] = {0, 1, 0, 1, /* layer 1 */ 1, 0, 1, 0 /* layer 2 */};
    CU_ASSERT_EQUAL_FATAL(attn_rollout(two, 2, 1, 2, r), 0);
    CU_ASSERT(fabs(r[0] - 0.5) <= EPS && fabs(r[1] - 0.5) <= EPS);

    /* heads are averaged before adding I: heads [[1,0],[1,0]] and [[0,1],[0,1]] give A uniform */
    float heads[2 * 4] = {1, 0, 1, 0, 0, 1, 0, 1};
    CU_ASSERT_EQUAL_FATAL(attn_rollout(heads, 1, 2, 2, r), 0);
    CU_ASSERT(fabs(r[0] - 0.75) <= EPS && fabs(r[1] - 0.25) <= EPS);
}

/* Row-stochastic random attention: the rollout row is a distribution. */
static void test_rollout_sums_to_one(void)
{
    enum { RL = 3, RH = 4, RT = 9 };
    float *p = malloc(sizeof(float) * RL * RH * RT * RT), r[RT];
    srand(7);
    for (int row = 0; row < RL * RH * RT; row++) {
        double s = 0;
        for (int j = 0; j < RT; j++)
            s += p[row * RT + j] = (float)(rand() + 1.0);
        for (int j = 0; j < RT; j++)
            p[row * RT + j] = (float)(p[row * RT + j] / s);
    }
    CU_ASSERT_EQUAL_FATAL(attn_rollout(p, RL, RH, RT, r), 0);
    double s = 0;
    for (int j = 0; j < RT; j++) {
        CU_ASSERT(r[j] > 0);
        s += r[j];
    }
    CU_ASSERT(fabs(s - 1) <= 1e-5);
    free(p);
    /* a row of A + I summing to 0 cannot be normalised */
    float bad[4] = {-1, 0, 0, 1};
    CU_ASSERT_EQUAL(attn_rollout(bad, 1, 1, 2, r), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(attn_error(), "row 0"));
}

/* The layer-at-a-time rollout (what the run feeds from the engine's reverse sink) against the
 * whole matrix product R = Â_L ... Â_1 made first-layer-first in double here (another order of
 * the sums: 1e-12), from a middle query of causal random attention; it is attn_rollout_from's
 * bits; and it refuses too few or too many layers. */
static void test_rollout_layers(void)
{
    enum { RL = 3, RH = 2, RT = 7, Q = 4 };
    size_t tt = (size_t)RT * RT;
    float *p = malloc(sizeof(float) * RL * RH * tt), r[RT], w[RT];
    srand(11);
    for (int row = 0; row < RL * RH * RT; row++) {
        int i = row % RT;
        double s = 0;
        for (int j = 0; j < RT; j++)
            s += p[row * RT + j] = j <= i ? (float)(rand() + 1.0) : 0.0f;
        for (int j = 0; j < RT; j++)
            p[row * RT + j] = (float)(p[row * RT + j] / s);
    }
    double M[RT][RT], A[RT][RT], N[RT][RT];
    for (int l = 0; l < RL; l++) {
        for (int i = 0; i < RT; i++) {
            double sum = 0;
            for (int j = 0; j < RT; j++) {
                double a = 0;
                for (int h = 0; h < RH; h++)
                    a += p[((size_t)l * RH + h) * tt + (size_t)i * RT + j];
                sum += A[i][j] = a / RH + (i == j);
            }
            for (int j = 0; j < RT; j++)
                A[i][j] /= sum;
        }
        for (int i = 0; i < RT; i++)
            for (int j = 0; j < RT; j++) {
                double v = 0;
                for (int k = 0; k < RT; k++)
                    v += A[i][k] * (l ? M[k][j] : k == j);
                N[i][j] = v;
            }
        memcpy(M, N, sizeof M);
    }
    AttnRollout ro;
    CU_ASSERT_EQUAL_FATAL(attn_rollout_begin(&ro, RL, RH, RT, Q), 0);
    for (int l = RL - 1; l >= 0; l--)
        CU_ASSERT_EQUAL_FATAL(attn_rollout_layer(&ro, p + (size_t)l * RH * tt), 0);
    CU_ASSERT_EQUAL_FATAL(attn_rollout_end(&ro, r), 0);
    CU_ASSERT_EQUAL_FATAL(attn_rollout_from(p, RL, RH, RT, Q, w), 0);
    CU_ASSERT(memcmp(r, w, sizeof r) == 0);
    for (int j = 0; j < RT; j++) {
        CU_ASSERT(fabs(r[j] - M[Q][j]) <= 1e-6 * fabs(M[Q][j]) + 1e-12);
        if (j > Q)
            CU_ASSERT_EQUAL(r[j], 0.0f); /* causal: nothing flows from later tokens */
    }
    /* too few layers, too many, a query outside [0, T) */
    CU_ASSERT_EQUAL_FATAL(attn_rollout_begin(&ro, RL, RH, RT, Q), 0);
    CU_ASSERT_EQUAL(attn_rollout_layer(&ro, p), 0);
    CU_ASSERT_EQUAL(attn_rollout_end(&ro, r), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(attn_error(), "1 of L = 3 layers"));
    CU_ASSERT_EQUAL_FATAL(attn_rollout_begin(&ro, 1, RH, RT, Q), 0);
    CU_ASSERT_EQUAL(attn_rollout_layer(&ro, p), 0);
    CU_ASSERT_EQUAL(attn_rollout_layer(&ro, p), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(attn_error(), "more than L = 1 layers"));
    attn_rollout_free(&ro);
    CU_ASSERT_EQUAL(attn_rollout_begin(&ro, RL, RH, RT, RT), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(attn_error(), "query position 7"));
    free(p);
}

static void test_cls_attention(void)
{
    /* L=2, NH=2, T=2: only the last layer's row 0 matters */
    float p[2 * 2 * 4] = {9, 9, 9, 9, 9, 9, 9, 9, /* layer 0: ignored */
                          0.2f, 0.8f, 7, 7,       /* layer 1 head 0 */
                          0.6f, 0.4f, 7, 7};      /* layer 1 head 1 */
    float r[2];
    CU_ASSERT_EQUAL_FATAL(attn_cls_attention(p, 2, 2, 2, r), 0);
    CU_ASSERT(fabs(r[0] - 0.4) <= EPS && fabs(r[1] - 0.6) <= EPS);
}

/* ---------- rank agreement ---------- */

static void test_spearman(void)
{
    float a[6] = {0.1f, 0.5f, -2, 3, 0.7f, 1}, rev[6], rho;
    for (int t = 0; t < 6; t++)
        rev[t] = -a[t];
    CU_ASSERT_EQUAL_FATAL(attn_spearman(a, a, NULL, 6, &rho), 0);
    CU_ASSERT(fabs(rho - 1) <= EPS);
    CU_ASSERT_EQUAL_FATAL(attn_spearman(a, rev, NULL, 6, &rho), 0);
    CU_ASSERT(fabs(rho + 1) <= EPS);
    /* monotone transforms do not matter */
    float cube[6];
    for (int t = 0; t < 6; t++)
        cube[t] = a[t] * a[t] * a[t] + 5;
    CU_ASSERT_EQUAL_FATAL(attn_spearman(a, cube, NULL, 6, &rho), 0);
    CU_ASSERT(fabs(rho - 1) <= EPS);
    /* ties: ranks of [1,2,2,3] are [1,2.5,2.5,4], of [1,2,3,4] are [1,2,3,4]; centred
     * [-1.5,0,0,1.5] and [-1.5,-.5,.5,1.5]: rho = 4.5 / sqrt(4.5 * 5) = 0.9486833 */
    float t1[4] = {1, 2, 2, 3}, t2[4] = {1, 2, 3, 4};
    CU_ASSERT_EQUAL_FATAL(attn_spearman(t1, t2, NULL, 4, &rho), 0);
    CU_ASSERT(fabs(rho - 4.5 / sqrt(22.5)) <= EPS);
    /* excluded positions are ignored on both sides */
    float e1[5] = {100, 1, 2, 3, -100}, e2[5] = {-5, 1, 2, 3, 50};
    int ex[5] = {1, 0, 0, 0, 1};
    CU_ASSERT_EQUAL_FATAL(attn_spearman(e1, e2, ex, 5, &rho), 0);
    CU_ASSERT(fabs(rho - 1) <= EPS);
    CU_ASSERT_EQUAL_FATAL(attn_spearman(e1, e2, NULL, 5, &rho), 0);
    CU_ASSERT(rho < 0.5);
    /* undefined: a constant side, or fewer than 2 positions */
    float c[4] = {2, 2, 2, 2};
    CU_ASSERT_EQUAL_FATAL(attn_spearman(c, t2, NULL, 4, &rho), 0);
    CU_ASSERT(isnan(rho));
    int ex1[4] = {1, 1, 0, 1};
    CU_ASSERT_EQUAL_FATAL(attn_spearman(t1, t2, ex1, 4, &rho), 0);
    CU_ASSERT(isnan(rho));
    /* non-finite input is an error naming the position */
    float bad[4] = {1, NAN, 2, 3};
    CU_ASSERT_EQUAL(attn_spearman(t2, bad, NULL, 4, &rho), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(attn_error(), "b[1]"));
}

static void test_topk(void)
{
    float a[10] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, rev[10], ov;
    for (int t = 0; t < 10; t++)
        rev[t] = -a[t];
    CU_ASSERT_EQUAL_FATAL(attn_topk_overlap(a, a, NULL, 10, 5, &ov), 0);
    CU_ASSERT(fabs(ov - 1) <= EPS);
    CU_ASSERT_EQUAL_FATAL(attn_topk_overlap(a, rev, NULL, 10, 5, &ov), 0);
    CU_ASSERT(fabs(ov) <= EPS);
    /* top-5 of b = {0,1,2,8,9}: shares 0,1,2 with a's {0..4} */
    float b[10] = {9, 8, 7, 0, 0, 0, 0, 0, 6, 6};
    CU_ASSERT_EQUAL_FATAL(attn_topk_overlap(a, b, NULL, 10, 5, &ov), 0);
    CU_ASSERT(fabs(ov - 0.6) <= EPS);
    /* k clipped to T: all 3 in both */
    CU_ASSERT_EQUAL_FATAL(attn_topk_overlap(a, rev, NULL, 3, 5, &ov), 0);
    CU_ASSERT(fabs(ov - 1) <= EPS);
    /* exclusion: the large specials do not count; kept a = [8..1] -> top {1..5},
     * kept b: positions 1..5 get the largest values once 0 and 9 are excluded */
    float c[10] = {100, 5, 5, 5, 5, 5, 1, 1, 1, 100};
    int ex[10] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    CU_ASSERT_EQUAL_FATAL(attn_topk_overlap(a, c, ex, 10, 5, &ov), 0);
    CU_ASSERT(fabs(ov - 1) <= EPS);
    CU_ASSERT_EQUAL_FATAL(attn_topk_overlap(a, c, NULL, 10, 5, &ov), 0);
    CU_ASSERT(fabs(ov - 0.8) <= EPS); /* c's top-5 {0,9,1,2,3} vs {0..4} */
    /* ties go to the lower position: top-5 of all-equal = {0..4}; of d = {5,0,1,2,3} */
    float eq[6] = {1, 1, 1, 1, 1, 1}, d[6] = {0, 0, 0, 0, 0, 1};
    CU_ASSERT_EQUAL_FATAL(attn_topk_overlap(eq, d, NULL, 6, 5, &ov), 0);
    CU_ASSERT(fabs(ov - 0.8) <= EPS);
    int all[3] = {1, 1, 1};
    CU_ASSERT_EQUAL_FATAL(attn_topk_overlap(a, a, all, 3, 5, &ov), 0);
    CU_ASSERT(isnan(ov));
    CU_ASSERT_EQUAL(attn_topk_overlap(a, a, NULL, 3, 0, &ov), -1);
}

static void test_agreement(void)
{
    /* [CLS] x1..x6 [SEP]; scores agree with rollout in order, disagree with cls attention */
    float s[8] = {50, 6, 5, 4, 3, 2, 1, -50};
    float roll[8] = {0.9f, 0.06f, 0.05f, 0.04f, 0.03f, 0.02f, 0.01f, 0.0f};
    float cls[8] = {0.5f, 0.01f, 0.02f, 0.03f, 0.04f, 0.05f, 0.06f, 0.3f};
    int sp[8] = {1, 0, 0, 0, 0, 0, 0, 1};
    float out[4];
    CU_ASSERT_EQUAL_FATAL(attn_agreement(s, roll, cls, sp, 8, out), 0);
    CU_ASSERT(fabs(out[0] - 1) <= EPS);
    CU_ASSERT(fabs(out[1] - 1) <= EPS);
    CU_ASSERT(fabs(out[2] + 1) <= EPS);
    CU_ASSERT(fabs(out[3] - 0.8) <= EPS); /* top-5 of the kept 6: {1..5} vs {2..6} share 4 */
}

/* ---------- faithfulness ---------- */

static ModelConfig tiny_cfg(ModelHead head)
{
    ModelConfig c = {0};
    c.arch = ARCH_BERT;
    c.head = head;
    c.V = 40, c.P = 32, c.TV = 2, c.D = 16, c.L = 2, c.NH = 2, c.FF = 32, c.C = head == HEAD_MLM ? 40 : 3;
    c.act = ACT_GELU;
    c.head_act = head == HEAD_MLM ? ACT_GELU : ACT_TANH;
    c.ln_eps = 1e-12f;
    c.pad_id = 0;
    strcpy(c.model_type, "bert");
    return c;
}

/* F of one input built by hand: B = 1, original positions, mask all 1. */
static float direct_F(Engine *e, const Model *m, const int *ids, const int *pos, const int *type, int n, int target,
                      int mlm_pos, OutputKind out)
{
    float *x = malloc(sizeof(float) * n * m->cfg.D), F = NAN;
    CU_ASSERT_EQUAL_FATAL(engine_layer_values(m, AT_WORD_EMB, ids, pos, type, n, x), 0);
    EngineBatch in = {.B = 1, .T = n, .layer = AT_WORD_EMB, .x = x, .pos_ids = pos, .type_ids = type,
                      .target = &target, .mlm_pos = &mlm_pos, .output = out};
    EngineOutput eo = {.F = &F};
    CU_ASSERT_EQUAL_FATAL(engine_run(e, &in, &eo), 0);
    free(x);
    return F;
}

enum { FT = 12 };
/* [CLS] w1..w10 [SEP]; non-special scores rank: pos3 .9, pos7 .8, pos5 .5, pos10 .4, pos1 .3, ...
 * n = 10 -> counts 1, 2, 5: top sets {3}, {3,7}, {3,7,5,10,1}. Specials carry NaN: never read. */
static const int F_IDS[FT] = {2, 11, 25, 7, 33, 14, 19, 5, 28, 9, 37, 3};
static const int F_TYPE[FT] = {0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1};
static const int F_SPECIAL[FT] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
static const int F_TOP[3][5] = {{3}, {3, 7}, {3, 7, 5, 10, 1}};
static const int F_COUNT[3] = {1, 2, 5};

static double faith_check(const Model *m, Engine *e, const float *scores, const int *special, const int top[3][5],
                          const int *count, int target, int mlm_pos, OutputKind kind)
{
    int pos[FT], ids[FT];
    for (int t = 0; t < FT; t++)
        pos[t] = t; /* BERT positions */
    float out[FAITH_NOUT];
    CU_ASSERT_EQUAL_FATAL(faithfulness_compute(e, F_IDS, F_TYPE, special, FT, target, mlm_pos, kind, scores,
                                               m->cfg.pad_id, out), 0);
    double F0 = direct_F(e, m, F_IDS, pos, F_TYPE, FT, target, mlm_pos, kind), want[FAITH_NOUT] = {0};
    for (int q = 0; q < 3; q++) {
        int in_top[FT] = {0};
        for (int k = 0; k < count[q]; k++)
            in_top[top[q][k]] = 1;
        /* comprehensiveness: the top tokens become [PAD] */
        for (int t = 0; t < FT; t++)
            ids[t] = in_top[t] ? m->cfg.pad_id : F_IDS[t];
        want[FAITH_COMP_10 + q] = F0 - direct_F(e, m, ids, pos, F_TYPE, FT, target, mlm_pos, kind);
        /* sufficiency: every other non-special token becomes [PAD] */
        for (int t = 0; t < FT; t++)
            ids[t] = (special[t] || in_top[t] || t == mlm_pos) ? F_IDS[t] : m->cfg.pad_id;
        want[FAITH_SUFF_10 + q] = F0 - direct_F(e, m, ids, pos, F_TYPE, FT, target, mlm_pos, kind);
    }
    want[FAITH_AOPC_COMP] = (want[0] + want[1] + want[2]) / 3;
    want[FAITH_AOPC_SUFF] = (want[3] + want[4] + want[5]) / 3;
    double err = 0, scale = fabs(F0);
    for (int k = 0; k < FAITH_NOUT; k++) {
        err = fmax(err, fabs(out[k] - want[k]));
        scale = fmax(scale, fabs(want[k]));
    }
    printf("\n   F(x) %.5f comp %.5f %.5f %.5f suff %.5f %.5f %.5f  max err %.2e (scale %.3f)", F0, out[0], out[1],
           out[2], out[3], out[4], out[5], err, scale);
    CU_ASSERT(scale > 1e-3); /* a flat model would make the comparison empty */
    return err / scale;
}

/* Same rows in one 7-row batch as in 1-row batches: only summation order may differ. */
#define FAITH_TOL 1e-5

static void test_faithfulness_classifier(void)
{
    ModelConfig c = tiny_cfg(HEAD_CLASSIFIER);
    Model *m = model_random(&c, 21, 0.3f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    Engine *e = engine_create(m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    float scores[FT] = {NAN, 0.3f, -0.2f, 0.9f, 0.1f, 0.5f, -0.7f, 0.8f, 0.0f, 0.2f, 0.4f, NAN};
    CU_ASSERT(faith_check(m, e, scores, F_SPECIAL, F_TOP, F_COUNT, 1, 0, OUT_LOGIT) <= FAITH_TOL);
    CU_ASSERT(faith_check(m, e, scores, F_SPECIAL, F_TOP, F_COUNT, 2, 0, OUT_PROB) <= FAITH_TOL);
    /* ties go to the lower position: all equal -> {1}, {1,2}, {1..5} */
    float flat[FT] = {NAN, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, NAN};
    const int tie_top[3][5] = {{1}, {1, 2}, {1, 2, 3, 4, 5}};
    CU_ASSERT(faith_check(m, e, flat, F_SPECIAL, tie_top, F_COUNT, 0, 0, OUT_LOGIT) <= FAITH_TOL);
    /* n = 3 non-special tokens: counts ceil(.3) = 1, ceil(.6) = 1, ceil(1.5) = 2 */
    int sp3[FT] = {1, 1, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1};
    float s3[FT] = {NAN, NAN, NAN, NAN, 0.1f, NAN, 0.3f, NAN, NAN, 0.2f, NAN, NAN};
    const int top3[3][5] = {{6}, {6}, {6, 9}};
    const int cnt3[3] = {1, 1, 2};
    CU_ASSERT(faith_check(m, e, s3, sp3, top3, cnt3, 1, 0, OUT_LOGIT) <= FAITH_TOL);
    engine_free(e);
    model_free(m);
}

/* Decoders: the head reads the explained position, not token 0 — the causal LM the last position,
 * a score head the last token that is not the pad id *of the row's own ids* (transformers pools
 * on whatever ids it gets, so replacing trailing tokens by the pad id moves it). Expected values
 * from rows built by hand, the top sets by sorting the scores here. */
static int pooled(const int *ids, int T, int pad)
{
    int p = T - 1;
    while (p >= 0 && ids[p] == pad)
        p--;
    return p >= 0 ? p : 0;
}

static void faith_dec_case(ModelHead head, unsigned long long seed)
{
    ModelConfig c = {0};
    c.arch = ARCH_LLAMA;
    c.head = head;
    c.V = 40, c.P = 32, c.D = 16, c.L = 2, c.NH = 2, c.NKV = 1, c.hs = 8, c.FF = 24, c.C = head == HEAD_LM ? 40 : 3;
    c.act = ACT_SILU;
    c.ln_eps = 1e-5f;
    c.rope_theta = 10000.0f;
    c.pad_id = 4; /* also the erase id */
    strcpy(c.model_type, "llama");
    Model *m = model_random(&c, seed, 0.3f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    Engine *e = engine_create(m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    enum { T = 12 };
    const int ids0[T] = {1, 11, 25, 7, 33, 14, 19, 5, 28, 9, 37, 3}, special[T] = {1}; /* BOS */
    const float scores[T] = {NAN, 0.3f, -0.2f, 0.9f, 0.1f, 0.5f, -0.7f, 0.8f, 0.0f, 0.2f, 0.4f, 1.0f};
    int pos[T], type[T] = {0}, order[T], n = 0, target = 2;
    for (int t = 0; t < T; t++)
        pos[t] = t;
    for (int t = 1; t < T; t++) /* non-special positions by decreasing score (distinct scores) */
        order[n++] = t;
    for (int i = 0; i < n; i++)
        for (int k = i + 1; k < n; k++)
            if (scores[order[k]] > scores[order[i]]) {
                int tmp = order[i];
                order[i] = order[k];
                order[k] = tmp;
            }
    int p0 = head == HEAD_LM ? T - 1 : pooled(ids0, T, c.pad_id);
    float out[FAITH_NOUT];
    CU_ASSERT_EQUAL_FATAL(faithfulness_compute(e, ids0, type, special, T, target, p0, OUT_LOGIT, scores, c.pad_id, out), 0);
    double F0 = direct_F(e, m, ids0, pos, type, T, target, p0, OUT_LOGIT), err = 0, scale = fabs(F0);
    const int pct[3] = {10, 20, 50};
    for (int q = 0; q < 3; q++) {
        int cnt = (pct[q] * n + 99) / 100, top[T] = {0}, ids[T];
        for (int i = 0; i < cnt; i++)
            top[order[i]] = 1;
        for (int suff = 0; suff < 2; suff++) {
            for (int t = 0; t < T; t++)
                ids[t] = special[t] || top[t] == suff ? ids0[t] : c.pad_id; /* replaced: top (comp), the rest (suff) */
            int p = head == HEAD_LM ? T - 1 : pooled(ids, T, c.pad_id);
            double want = F0 - direct_F(e, m, ids, pos, type, T, target, p, OUT_LOGIT);
            double got = out[(suff ? FAITH_SUFF_10 : FAITH_COMP_10) + q];
            err = fmax(err, fabs(got - want));
            scale = fmax(scale, fabs(want));
            CU_ASSERT(fabs(want) > 1e-4); /* the replacement changes F: the check is not empty */
        }
    }
    printf("\n   %s: F(x) %.5f comp %.5f %.5f %.5f suff %.5f %.5f %.5f  max err %.2e", head == HEAD_LM ? "lm" : "score",
           F0, out[0], out[1], out[2], out[3], out[4], out[5], err);
    CU_ASSERT(err <= FAITH_TOL * scale);
    engine_free(e);
    model_free(m);
}

static void test_faithfulness_decoder(void)
{
    faith_dec_case(HEAD_LM, 25);    /* the top token is the last one: F is read there all the same */
    faith_dec_case(HEAD_SCORE, 26); /* replacing it by the pad id moves the pooled token to 10 */
}

/* MLM head: the explained position is never replaced, even with the highest score. */
static void test_faithfulness_mlm(void)
{
    ModelConfig c = tiny_cfg(HEAD_MLM);
    Model *m = model_random(&c, 22, 0.3f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    Engine *e = engine_create(m);
    float scores[FT] = {NAN, 0.3f, -0.2f, 0.9f, 0.1f, 0.5f, -0.7f, 0.8f, 0.0f, 0.2f, 0.4f, NAN};
    /* mlm_pos = 3 (score .9) is skipped: n = 9 -> counts 1, 2, 5: {7}, {7,5}, {7,5,10,1,9} */
    const int top[3][5] = {{7}, {7, 5}, {7, 5, 10, 1, 9}};
    CU_ASSERT(faith_check(m, e, scores, F_SPECIAL, top, F_COUNT, 17, 3, OUT_LOGIT) <= FAITH_TOL);
    engine_free(e);
    model_free(m);
}

/* One non-special token: every k keeps exactly it, so sufficiency is F(x) - F(x) = 0 and
 * the three comprehensiveness values are equal (identical rows). */
static void test_faithfulness_single_token(void)
{
    ModelConfig c = tiny_cfg(HEAD_CLASSIFIER);
    Model *m = model_random(&c, 23, 0.3f);
    Engine *e = engine_create(m);
    int sp[FT] = {1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1};
    float s[FT], out[FAITH_NOUT];
    for (int t = 0; t < FT; t++)
        s[t] = (float)t;
    CU_ASSERT_EQUAL_FATAL(faithfulness_compute(e, F_IDS, F_TYPE, sp, FT, 1, 0, OUT_LOGIT, s, 0, out), 0);
    for (int q = 0; q < 3; q++) {
        CU_ASSERT(fabs(out[FAITH_SUFF_10 + q]) <= 1e-5);
        CU_ASSERT(fabs(out[FAITH_COMP_10 + q] - out[FAITH_COMP_10]) <= 1e-5);
    }
    CU_ASSERT(fabs(out[FAITH_COMP_10]) > 1e-6); /* removing the only content token changes F */
    CU_ASSERT(fabs(out[FAITH_AOPC_COMP] - out[FAITH_COMP_10]) <= 1e-5);
    engine_free(e);
    model_free(m);
}

static void test_faithfulness_errors(void)
{
    ModelConfig c = tiny_cfg(HEAD_CLASSIFIER);
    Model *m = model_random(&c, 24, 0.3f);
    Engine *e = engine_create(m);
    int all[FT], ids[FT];
    float s[FT], out[FAITH_NOUT];
    for (int t = 0; t < FT; t++) {
        all[t] = 1;
        s[t] = 1;
        ids[t] = F_IDS[t];
    }
    CU_ASSERT_EQUAL(faithfulness_compute(e, F_IDS, NULL, all, FT, 0, 0, OUT_LOGIT, s, 0, out), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(faithfulness_error(), "no non-special token"));
    s[4] = INFINITY;
    CU_ASSERT_EQUAL(faithfulness_compute(e, F_IDS, NULL, F_SPECIAL, FT, 0, 0, OUT_LOGIT, s, 0, out), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(faithfulness_error(), "scores[4]"));
    s[4] = 1;
    CU_ASSERT_EQUAL(faithfulness_compute(e, F_IDS, NULL, F_SPECIAL, FT, 0, 0, OUT_LOGIT, s, 40, out), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(faithfulness_error(), "pad_id"));
    ids[6] = 40;
    CU_ASSERT_EQUAL(faithfulness_compute(e, ids, NULL, F_SPECIAL, FT, 0, 0, OUT_LOGIT, s, 0, out), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(faithfulness_error(), "token id"));
    CU_ASSERT_EQUAL(faithfulness_compute(e, F_IDS, NULL, F_SPECIAL, FT, 7, 0, OUT_LOGIT, s, 0, out), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(faithfulness_error(), "engine_run"));
    CU_ASSERT_EQUAL(faithfulness_compute(e, F_IDS, NULL, F_SPECIAL, 0, 0, 0, OUT_LOGIT, s, 0, out), -1);
    CU_ASSERT_EQUAL(faithfulness_compute(NULL, F_IDS, NULL, F_SPECIAL, FT, 0, 0, OUT_LOGIT, s, 0, out), -1);
    engine_free(e);
    model_free(m);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("attn_stats", NULL, NULL);
    CU_add_test(s, "stat names", test_names);
    CU_add_test(s, "all mass on [CLS]", test_all_on_cls);
    CU_add_test(s, "uniform rows", test_uniform);
    CU_add_test(s, "diagonal and shifted", test_diag_and_shifted);
    CU_add_test(s, "(stat, layer, head) layout", test_layout);
    CU_add_test(s, "conductance-like tensor", test_conductance_like);
    CU_add_test(s, "T=1 and errors", test_single_token_and_errors);
    CU_add_test(s, "punctuation tokens", test_punct_tokens);
    CU_add_test(s, "rollout of identity", test_rollout_identity);
    CU_add_test(s, "rollout by hand", test_rollout_hand);
    CU_add_test(s, "rollout sums to 1", test_rollout_sums_to_one);
    CU_add_test(s, "rollout layer by layer", test_rollout_layers);
    CU_add_test(s, "last-layer [CLS] attention", test_cls_attention);
    CU_add_test(s, "spearman", test_spearman);
    CU_add_test(s, "top-k overlap", test_topk);
    CU_add_test(s, "agreement", test_agreement);
    CU_pSuite f = CU_add_suite("faithfulness", NULL, NULL);
    CU_add_test(f, "classifier vs hand-built masked inputs", test_faithfulness_classifier);
    CU_add_test(f, "MLM position kept", test_faithfulness_mlm);
    CU_add_test(f, "decoder heads read the explained position", test_faithfulness_decoder);
    CU_add_test(f, "single non-special token", test_faithfulness_single_token);
    CU_add_test(f, "errors", test_faithfulness_errors);
    return test_run_registry();
}
