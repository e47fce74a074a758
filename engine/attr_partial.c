/* Partial results: exact fixed-point accumulators (int128, 2^-64 resolution) that
 * merge by integer addition, so any chunking of the items gives the same bits. */
#include "engine/attr_internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TWO64 18446744073709551616.0 /* 2^64 */
static const __int128 FIX_MAX = (__int128)1 << 126; /* 2^62 in fixed point */

int fix_add(__int128 *acc, double v)
{
    if (!(fabs(v) < FIX_LIMIT)) /* also catches NaN and inf */
        return -1;
    /* v·2^64 is exact (power of two); rint rounds to the grid, exact for |v| >= 2^-11. */
    __int128 q = (__int128)rint(v * TWO64);
    __int128 s;
    if (__builtin_add_overflow(*acc, q, &s) || s >= FIX_MAX || s <= -FIX_MAX)
        return -1;
    *acc = s;
    return 0;
}

double fix_to_double(__int128 a)
{
    return (double)a / TWO64; /* correctly rounded conversion, then an exact scaling */
}

static Partial *partial_alloc(int T, int D, int n_items, int L, int NH, int item_width, int has_acc)
{
    Partial *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->T = T;
    p->D = D;
    p->n_items = n_items;
    p->L = L;
    p->NH = NH;
    p->item_width = item_width;
    int ok = 1;
    if (has_acc)
        ok &= (p->acc = calloc((size_t)T * D, sizeof(__int128))) != NULL;
    if (L > 0) {
        ok &= (p->acc_hidden = calloc((size_t)L * T * D, sizeof(__int128))) != NULL;
        ok &= (p->acc_attn = calloc((size_t)L * NH * T * T, sizeof(__int128))) != NULL;
    }
    if (item_width > 0)
        ok &= (p->item = calloc((size_t)n_items * item_width, sizeof(double))) != NULL;
    ok &= (p->item_done = calloc((size_t)n_items, 1)) != NULL;
    if (!ok) {
        partial_free(p);
        return NULL;
    }
    return p;
}

Partial *partial_new(const MethodSpec *s, const Model *m, int T)
{
    const ModelConfig *c = &m->cfg;
    const MethodOps *ops = method_ops(s->kind);
    MethodShape sh;
    method_shape(s, &sh);
    if (!ops || T < 1 || sh.items < 1)
        return NULL;
    if (ops->per_layer) /* conductance: per-layer accumulators only */
        return partial_alloc(T, c->D, (int)sh.items, c->L, c->NH, 0, 0);
    return partial_alloc(T, c->D, (int)sh.items, 0, 0, sh.item_width, 1);
}

void partial_free(Partial *p)
{
    if (!p)
        return;
    free(p->acc);
    free(p->acc_hidden);
    free(p->acc_attn);
    free(p->item);
    free(p->item_done);
    free(p);
}

int partial_claim(Partial *p, int i0, int i1)
{
    if (i0 < 0 || i1 > p->n_items || i0 >= i1)
        return -1;
    for (int i = i0; i < i1; i++)
        if (p->item_done[i])
            return -1;
    memset(p->item_done + i0, 1, (size_t)(i1 - i0));
    return 0;
}

static int add_array(__int128 *dst, const __int128 *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        __int128 s;
        if (__builtin_add_overflow(dst[i], src[i], &s) || s >= FIX_MAX || s <= -FIX_MAX)
            return -1;
        dst[i] = s;
    }
    return 0;
}

int partial_merge(Partial *dst, const Partial *src)
{
    if (dst->T != src->T || dst->D != src->D || dst->n_items != src->n_items || dst->L != src->L ||
        dst->NH != src->NH || dst->item_width != src->item_width || !dst->acc != !src->acc)
        return -1;
    for (int i = 0; i < dst->n_items; i++)
        if (dst->item_done[i] && src->item_done[i])
            return -1;
    size_t TD = (size_t)dst->T * dst->D;
    if (dst->acc && add_array(dst->acc, src->acc, TD))
        return -1;
    if (dst->L > 0 && (add_array(dst->acc_hidden, src->acc_hidden, (size_t)dst->L * TD) ||
                       add_array(dst->acc_attn, src->acc_attn,
                                 (size_t)dst->L * dst->NH * dst->T * dst->T)))
        return -1;
    for (int i = 0; i < dst->n_items; i++)
        if (src->item_done[i]) {
            dst->item_done[i] = 1;
            if (dst->item_width)
                memcpy(dst->item + (size_t)i * dst->item_width, src->item + (size_t)i * src->item_width,
                       (size_t)dst->item_width * sizeof(double));
        }
    return 0;
}

/* Serialised layout (native byte order: ranks of one job share the architecture):
 * "ATPART01", int32 T, D, n_items, L, NH, item_width, has_acc, then acc (T·D int128),
 * acc_hidden (L·T·D), acc_attn (L·NH·T·T), item (n_items·item_width doubles), item_done. */
#define PMAGIC "ATPART01"
enum { PHDR = 8 + 7 * 4 };

static size_t sizes(int T, int D, int n, int L, int NH, int iw, int has_acc, size_t *a, size_t *h,
                    size_t *t, size_t *it)
{
    *a = has_acc ? (size_t)T * D * sizeof(__int128) : 0;
    *h = (size_t)L * T * D * sizeof(__int128);
    *t = (size_t)L * NH * T * T * sizeof(__int128);
    *it = (size_t)n * iw * sizeof(double);
    return PHDR + *a + *h + *t + *it + (size_t)n;
}

size_t partial_bytes(const Partial *p)
{
    size_t a, h, t, it;
    return sizes(p->T, p->D, p->n_items, p->L, p->NH, p->item_width, p->acc != NULL, &a, &h, &t, &it);
}

void partial_pack(const Partial *p, void *buf)
{
    size_t a, h, t, it;
    sizes(p->T, p->D, p->n_items, p->L, p->NH, p->item_width, p->acc != NULL, &a, &h, &t, &it);
    char *b = buf;
    int32_t hdr[7] = {p->T, p->D, p->n_items, p->L, p->NH, p->item_width, p->acc != NULL};
    memcpy(b, PMAGIC, 8);
    memcpy(b + 8, hdr, sizeof hdr);
    b += PHDR;
    if (a) memcpy(b, p->acc, a);
    b += a;
    if (h) memcpy(b, p->acc_hidden, h);
    b += h;
    if (t) memcpy(b, p->acc_attn, t);
    b += t;
    if (it) memcpy(b, p->item, it);
    b += it;
    memcpy(b, p->item_done, (size_t)p->n_items);
}

Partial *partial_unpack(const void *buf, size_t n)
{
    const char *b = buf;
    int32_t hdr[7];
    if (!buf || n < PHDR || memcmp(b, PMAGIC, 8))
        return NULL;
    memcpy(hdr, b + 8, sizeof hdr);
    int T = hdr[0], D = hdr[1], ni = hdr[2], L = hdr[3], NH = hdr[4], iw = hdr[5], has_acc = hdr[6];
    if (T < 1 || D < 1 || ni < 1 || L < 0 || NH < 0 || iw < 0 || iw > 64 || (has_acc != 0 && has_acc != 1) ||
        (L > 0 && NH < 1) || T > (1 << 20) || D > (1 << 20) || L > 4096 || NH > 4096)
        return NULL;
    size_t a, h, t, it;
    if (sizes(T, D, ni, L, NH, iw, has_acc, &a, &h, &t, &it) != n)
        return NULL;
    Partial *p = partial_alloc(T, D, ni, L, NH, iw, has_acc);
    if (!p)
        return NULL;
    b += PHDR;
    if (a) memcpy(p->acc, b, a);
    b += a;
    if (h) memcpy(p->acc_hidden, b, h);
    b += h;
    if (t) memcpy(p->acc_attn, b, t);
    b += t;
    if (it) memcpy(p->item, b, it);
    b += it;
    memcpy(p->item_done, b, (size_t)ni);
    for (int i = 0; i < ni; i++)
        if (p->item_done[i] > 1) {
            partial_free(p);
            return NULL;
        }
    return p;
}
