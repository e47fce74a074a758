/* Counter-based random streams (Random123 Philox4x64-10) for Gradient SHAP and
 * SmoothGrad. A stream is keyed by (seed, example index) and counts over (sample
 * index, stream id, block): every draw is a pure function of where it is used, so
 * the results do not depend on the number of ranks or on how items are chunked. */
#include "engine/attr_internal.h"
#include <Random123/philox.h>
#include <math.h>

void attr_rng_init(AttrRng *r, uint64_t seed, long example, long sample, unsigned stream)
{
    r->key[0] = seed;
    r->key[1] = (uint64_t)example;
    r->ctr[0] = (uint64_t)sample;
    r->ctr[1] = stream;
    r->ctr[2] = 0; /* block counter */
    r->ctr[3] = 0;
    r->avail = 0;
    r->have_spare = 0;
}

uint64_t attr_rng_u64(AttrRng *r)
{
    if (r->avail == 0) {
        philox4x64_ctr_t c = {{r->ctr[0], r->ctr[1], r->ctr[2], r->ctr[3]}};
        philox4x64_key_t k = {{r->key[0], r->key[1]}};
        philox4x64_ctr_t o = philox4x64(c, k);
        for (int i = 0; i < 4; i++)
            r->buf[i] = o.v[i];
        r->ctr[2]++;
        r->avail = 4;
    }
    return r->buf[4 - r->avail--];
}

double attr_rng_uniform(AttrRng *r)
{
    return (double)(attr_rng_u64(r) >> 11) * 0x1.0p-53;
}

double attr_rng_normal(AttrRng *r)
{
    if (r->have_spare) {
        r->have_spare = 0;
        return r->spare;
    }
    double u1 = 1.0 - attr_rng_uniform(r); /* (0,1]: log is finite */
    double u2 = attr_rng_uniform(r);
    double rad = sqrt(-2.0 * log(u1));
    r->spare = rad * sin(2.0 * M_PI * u2);
    r->have_spare = 1;
    return rad * cos(2.0 * M_PI * u2);
}

void attr_draws(const MethodSpec *s, long example, int k, int T, int D, int *bidx, double *alpha,
                double *noise)
{
    AttrRng r;
    attr_rng_init(&r, s->seed, example, k, RNG_STREAM_DRAWS);
    if (bidx) {
        /* floor(u·nb) with u uniform on 53 bits: bias below 2^-50 for nb <= 8. */
        int b = (int)(attr_rng_uniform(&r) * s->nbaselines);
        *bidx = b < s->nbaselines ? b : s->nbaselines - 1;
    } else {
        attr_rng_u64(&r);
    }
    if (alpha)
        *alpha = attr_rng_uniform(&r);
    if (noise) {
        long n = (long)T * D;
        if (s->stdevs > 0.0) {
            attr_rng_init(&r, s->seed, example, k, RNG_STREAM_NOISE);
            for (long i = 0; i < n; i++)
                noise[i] = s->stdevs * attr_rng_normal(&r);
        } else {
            for (long i = 0; i < n; i++)
                noise[i] = 0.0;
        }
    }
}
