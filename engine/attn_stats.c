/* Attention-bias statistics (Clark et al. 2019), attention rollout (Abnar & Zuidema
 * 2020) and rank agreement between attributions and attention. See attn_stats.h for
 * the definitions; sums are accumulated in double because T*T float terms of very
 * different sizes would otherwise lose the small ones. */
#include "engine/attn_stats.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const attn_stat_names[ATTN_NSTAT] = {"cls", "sep", "punct", "self", "prev", "next", "entropy",
                                                 "distance"};

static _Thread_local char attn_err[256];

const char *attn_error(void) { return attn_err; }

int attn_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(attn_err, sizeof attn_err, fmt, ap);
    va_end(ap);
    return -1;
}

static int check_shape(const char *fn, const float *probs, int L, int NH, int T, const float *out)
{
    if (!probs || !out)
        return attn_fail("%s: probs and out must not be NULL", fn);
    if (L <= 0 || NH <= 0 || T <= 0)
        return attn_fail("%s: bad shape L=%d NH=%d T=%d (all must be > 0)", fn, L, NH, T);
    return 0;
}

/* Row tolerance for "is a distribution": float softmax rows sum to 1 within ~T ulp. */
#define DIST_TOL 1e-3

int attn_stats_compute(const float *probs, int L, int NH, int T, const int *is_cls, const int *is_sep,
                       const int *is_punct, float *out)
{
    if (check_shape("attn_stats_compute", probs, L, NH, T, out))
        return -1;
    size_t LH = (size_t)L * NH;
    for (size_t lh = 0; lh < LH; lh++) {
        const float *P = probs + lh * T * T; /* (T,T) */
        double s_cls = 0, s_sep = 0, s_punct = 0, s_self = 0, s_prev = 0, s_next = 0, s_ent = 0, s_dist = 0;
        int is_dist = 1;
        for (int i = 0; i < T; i++) {
            const float *row = P + (size_t)i * T;
            double sum = 0, ent = 0;
            for (int j = 0; j < T; j++) {
                double p = row[j];
                sum += p;
                if (p > 0)
                    ent -= p * log(p);
                else if (p < 0 || p != p)
                    is_dist = 0;
                if (is_cls && is_cls[j])
                    s_cls += p;
                if (is_sep && is_sep[j])
                    s_sep += p;
                if (is_punct && is_punct[j])
                    s_punct += p;
                s_dist += p * abs(i - j);
            }
            if (fabs(sum - 1.0) > DIST_TOL)
                is_dist = 0;
            s_ent += ent;
            s_self += row[i];
            if (i > 0)
                s_prev += row[i - 1];
            if (i + 1 < T)
                s_next += row[i + 1];
        }
        /* out is (ATTN_NSTAT, L, NH): stat s of head lh at s*LH + lh */
        out[ATTN_STAT_CLS * LH + lh] = (float)(s_cls / T);
        out[ATTN_STAT_SEP * LH + lh] = (float)(s_sep / T);
        out[ATTN_STAT_PUNCT * LH + lh] = (float)(s_punct / T);
        out[ATTN_STAT_SELF * LH + lh] = (float)(s_self / T);
        out[ATTN_STAT_PREV * LH + lh] = T > 1 ? (float)(s_prev / (T - 1)) : NAN;
        out[ATTN_STAT_NEXT * LH + lh] = T > 1 ? (float)(s_next / (T - 1)) : NAN;
        out[ATTN_STAT_ENTROPY * LH + lh] = is_dist ? (float)(s_ent / T) : NAN;
        out[ATTN_STAT_DISTANCE * LH + lh] = (float)(s_dist / T);
    }
    return 0;
}

int attn_token_is_punct(const char *text)
{
    if (!text)
        return 0;
    const unsigned char *s = (const unsigned char *)text;
    if (s[0] == '#' && s[1] == '#' && s[2])
        s += 2; /* WordPiece continuation "##," (but "##" alone is punctuation) */
    else if (s[0] == 0xC4 && s[1] == 0xA0)
        s += 2; /* byte-level BPE space marker U+0120 "Ġ" */
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!(*s < 128 && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", *s)))
            return 0;
    return 1;
}

int attn_rollout(const float *probs, int L, int NH, int T, float *out)
{
    return attn_rollout_from(probs, L, NH, T, 0, out);
}

int attn_rollout_begin(AttnRollout *ro, int L, int NH, int T, int q)
{
    memset(ro, 0, sizeof *ro);
    if (L <= 0 || NH <= 0 || T <= 0)
        return attn_fail("attn_rollout: bad shape L=%d NH=%d T=%d (all must be > 0)", L, NH, T);
    if (q < 0 || q >= T)
        return attn_fail("attn_rollout: query position %d out of range [0, %d)", q, T);
    /* one scratch block: r, the next r, one row of Â */
    if (!(ro->r = malloc(3 * (size_t)T * sizeof(double))))
        return attn_fail("attn_rollout: out of memory (T=%d)", T);
    ro->rn = ro->r + T;
    ro->row = ro->rn + T;
    ro->L = L, ro->NH = NH, ro->T = T, ro->q = q, ro->l = L - 1;
    return 0;
}

void attn_rollout_free(AttnRollout *ro)
{
    free(ro->r);
    ro->r = ro->rn = ro->row = NULL;
}

/* r^T = e_q^T Â_L Â_{L-1} ... Â_1, the layers from the last one down. Row i of Â_l is made,
 * checked and used at once (rn += r[i]·Â_l[i,:], rows in order: the order a whole-matrix
 * product would add them in), so no T×T matrix is kept. */
int attn_rollout_layer(AttnRollout *ro, const float *probs)
{
    int T = ro->T, NH = ro->NH, l = ro->l, last = l == ro->L - 1;
    if (!probs || !ro->r)
        return attn_fail("attn_rollout: probs must not be NULL (and begin must have succeeded)");
    if (l < 0)
        return attn_fail("attn_rollout: more than L = %d layers", ro->L);
    double *row = ro->row, *r = ro->r, *rn = ro->rn;
    for (int j = 0; !last && j < T; j++)
        rn[j] = 0;
    for (int i = 0; i < T; i++) {
        for (int j = 0; j < T; j++)
            row[j] = 0;
        for (int h = 0; h < NH; h++) {
            const float *P = probs + ((size_t)h * T + i) * T;
            for (int j = 0; j < T; j++)
                row[j] += P[j];
        }
        double sum = 0;
        for (int j = 0; j < T; j++) {
            row[j] = row[j] / NH + (i == j);
            sum += row[j];
        }
        if (!(sum > 0))
            return attn_fail("attn_rollout: row %d of layer %d: mean attention + I sums to %g (not > 0)", i, l, sum);
        for (int j = 0; j < T; j++)
            row[j] /= sum;
        if (last) {
            if (i == ro->q)
                memcpy(r, row, (size_t)T * sizeof(double)); /* row q of Â_L */
            continue;
        }
        for (int j = 0; j < T; j++)
            rn[j] += r[i] * row[j];
    }
    if (!last)
        memcpy(r, rn, (size_t)T * sizeof(double));
    ro->l--;
    return 0;
}

int attn_rollout_end(AttnRollout *ro, float *out)
{
    int rc = 0;
    if (!out || !ro->r)
        rc = attn_fail("attn_rollout: out must not be NULL (and begin must have succeeded)");
    else if (ro->l >= 0)
        rc = attn_fail("attn_rollout: %d of L = %d layers came", ro->L - 1 - ro->l, ro->L);
    else
        for (int j = 0; j < ro->T; j++)
            out[j] = (float)ro->r[j];
    attn_rollout_free(ro);
    return rc;
}

int attn_rollout_from(const float *probs, int L, int NH, int T, int q, float *out)
{
    if (check_shape("attn_rollout", probs, L, NH, T, out))
        return -1;
    AttnRollout ro;
    if (attn_rollout_begin(&ro, L, NH, T, q))
        return -1;
    for (int l = L - 1; l >= 0; l--)
        if (attn_rollout_layer(&ro, probs + (size_t)l * NH * T * T)) {
            attn_rollout_free(&ro);
            return -1;
        }
    return attn_rollout_end(&ro, out);
}

int attn_row_attention(const float *probs, int L, int NH, int T, int q, float *out)
{
    if (check_shape("attn_row_attention", probs, L, NH, T, out))
        return -1;
    if (q < 0 || q >= T)
        return attn_fail("attn_row_attention: query row %d out of range [0, %d)", q, T);
    for (int j = 0; j < T; j++) {
        double s = 0;
        for (int h = 0; h < NH; h++)
            s += probs[(((size_t)(L - 1) * NH + h) * T + q) * T + j]; /* row q of head h, last layer */
        out[j] = (float)(s / NH);
    }
    return 0;
}

int attn_cls_attention(const float *probs, int L, int NH, int T, float *out)
{
    return attn_row_attention(probs, L, NH, T, 0, out);
}

/* ---------- ranks ---------- */

typedef struct {
    double v;
    int i;
} Ranked;

/* Descending value, then ascending position: top-k order, deterministic under ties. */
static int cmp_desc(const void *pa, const void *pb)
{
    const Ranked *a = pa, *b = pb;
    if (a->v != b->v)
        return a->v > b->v ? -1 : 1;
    return a->i - b->i;
}

/* Gathers the kept positions of x into r (n entries); -1 on a non-finite value. */
static int gather(const char *fn, const char *name, const float *x, const int *exclude, int T, Ranked *r, int *n)
{
    *n = 0;
    for (int t = 0; t < T; t++) {
        if (exclude && exclude[t])
            continue;
        if (!isfinite(x[t]))
            return attn_fail("%s: %s[%d] is not finite (%g)", fn, name, t, (double)x[t]);
        r[*n].v = x[t];
        r[*n].i = *n;
        (*n)++;
    }
    return 0;
}

/* Average ranks (1..n, ties share their mean rank) of r[0..n) into rank[orig index]. */
static void average_ranks(Ranked *r, int n, double *rank)
{
    qsort(r, (size_t)n, sizeof *r, cmp_desc);
    for (int a = 0; a < n;) {
        int b = a;
        while (b + 1 < n && r[b + 1].v == r[a].v)
            b++;
        double mean = 0.5 * (a + b) + 1.0;
        for (int k = a; k <= b; k++)
            rank[r[k].i] = mean;
        a = b + 1;
    }
}

int attn_spearman(const float *a, const float *b, const int *exclude, int T, float *rho)
{
    if (!a || !b || !rho || T <= 0)
        return attn_fail("attn_spearman: bad arguments (a, b, rho must be non-NULL, T=%d > 0)", T);
    /* one scratch block: Ranked (T), ranks of a (T), ranks of b (T) */
    Ranked *r = malloc((size_t)T * (sizeof(Ranked) + 2 * sizeof(double)));
    if (!r)
        return attn_fail("attn_spearman: out of memory (T=%d)", T);
    double *ra = (double *)(r + T), *rb = ra + T;
    int n, rc = 0;
    if (gather("attn_spearman", "a", a, exclude, T, r, &n) == 0) {
        average_ranks(r, n, ra);
        if (gather("attn_spearman", "b", b, exclude, T, r, &n) == 0)
            average_ranks(r, n, rb);
        else
            rc = -1;
    } else
        rc = -1;
    if (rc == 0) {
        /* Pearson correlation of the ranks (both means are (n+1)/2, ties included) */
        double mean = 0.5 * (n + 1), sab = 0, saa = 0, sbb = 0;
        for (int k = 0; k < n; k++) {
            sab += (ra[k] - mean) * (rb[k] - mean);
            saa += (ra[k] - mean) * (ra[k] - mean);
            sbb += (rb[k] - mean) * (rb[k] - mean);
        }
        *rho = (n >= 2 && saa > 0 && sbb > 0) ? (float)(sab / sqrt(saa * sbb)) : NAN;
    }
    free(r);
    return rc;
}

/* Positions (in kept order 0..n) of the k largest values into sel (n flags). */
static void top_k(Ranked *r, int n, int k, unsigned char *sel)
{
    qsort(r, (size_t)n, sizeof *r, cmp_desc);
    memset(sel, 0, (size_t)n);
    for (int q = 0; q < k; q++)
        sel[r[q].i] = 1;
}

int attn_topk_overlap(const float *a, const float *b, const int *exclude, int T, int k, float *overlap)
{
    if (!a || !b || !overlap || T <= 0 || k <= 0)
        return attn_fail("attn_topk_overlap: bad arguments (a, b, overlap non-NULL, T=%d > 0, k=%d > 0)", T, k);
    Ranked *r = malloc((size_t)T * (sizeof(Ranked) + 2));
    if (!r)
        return attn_fail("attn_topk_overlap: out of memory (T=%d)", T);
    unsigned char *sa = (unsigned char *)(r + T), *sb = sa + T;
    int n, rc = -1;
    if (gather("attn_topk_overlap", "a", a, exclude, T, r, &n) == 0) {
        int kk = k < n ? k : n;
        top_k(r, n, kk, sa);
        if (gather("attn_topk_overlap", "b", b, exclude, T, r, &n) == 0) {
            top_k(r, n, kk, sb);
            int both = 0;
            for (int q = 0; q < n; q++)
                both += sa[q] && sb[q];
            *overlap = n > 0 ? (float)both / kk : NAN;
            rc = 0;
        }
    }
    free(r);
    return rc;
}

int attn_agreement(const float *scores, const float *rollout, const float *cls_attn, const int *special, int T,
                   float out[4])
{
    if (!out)
        return attn_fail("attn_agreement: out must not be NULL");
    if (attn_spearman(scores, rollout, special, T, &out[0]) ||
        attn_topk_overlap(scores, rollout, special, T, ATTN_AGREE_TOPK, &out[1]) ||
        attn_spearman(scores, cls_attn, special, T, &out[2]) ||
        attn_topk_overlap(scores, cls_attn, special, T, ATTN_AGREE_TOPK, &out[3]))
        return -1;
    return 0;
}
