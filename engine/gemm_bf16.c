/* bf16 products through oneDNN's matmul primitive, oneDNN opened with dlopen.
 *
 * Why dlopen and not a link: a machine without libdnnl2 must still run attrun (in fp32),
 * and oneDNN's 40 MB are only paged in when someone asks for bf16.
 * Why the matmul primitive: oneDNN 2.6 has no public bf16 GEMM C call (dnnl_sgemm and the
 * int8 ones only); its matmul with bf16 src/weights and an f32 dst accumulates in fp32
 * and dispatches to brgemm kernels on AMX / AVX-512 BF16.
 * Both directions use one plain bf16 copy of W (OUT,IN): the forward reads it as the
 * (IN,OUT) weights of x W^T through transposed strides, the backward as the (OUT,IN)
 * weights of dy W. Primitives are cached per shape (the last micro-batch of a run has
 * its own N). Single-threaded use, like the rest of the engine. */
#include "engine/gemm_bf16.h"
#include "engine/backend_cpu.h"
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef ATTRUN_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>

/* ---- the oneDNN entry points used, resolved by dlsym ---- */
#define DNNL_FNS(X)                                                                                         \
    X(dnnl_status_t, dnnl_engine_create, (dnnl_engine_t *, dnnl_engine_kind_t, size_t))                      \
    X(dnnl_status_t, dnnl_stream_create, (dnnl_stream_t *, dnnl_engine_t, unsigned))                         \
    X(dnnl_status_t, dnnl_stream_wait, (dnnl_stream_t))                                                      \
    X(dnnl_cpu_isa_t, dnnl_get_effective_cpu_isa, (void))                                                    \
    X(dnnl_status_t, dnnl_memory_desc_init_by_strides,                                                       \
      (dnnl_memory_desc_t *, int, const dnnl_dims_t, dnnl_data_type_t, const dnnl_dims_t))                   \
    X(dnnl_status_t, dnnl_matmul_desc_init, (dnnl_matmul_desc_t *, const dnnl_memory_desc_t *,              \
                                             const dnnl_memory_desc_t *, const dnnl_memory_desc_t *,         \
                                             const dnnl_memory_desc_t *))                                    \
    X(dnnl_status_t, dnnl_primitive_attr_create, (dnnl_primitive_attr_t *))                                  \
    X(dnnl_status_t, dnnl_primitive_attr_destroy, (dnnl_primitive_attr_t))                                   \
    X(dnnl_status_t, dnnl_primitive_attr_set_post_ops, (dnnl_primitive_attr_t, const_dnnl_post_ops_t))       \
    X(dnnl_status_t, dnnl_post_ops_create, (dnnl_post_ops_t *))                                              \
    X(dnnl_status_t, dnnl_post_ops_destroy, (dnnl_post_ops_t))                                               \
    X(dnnl_status_t, dnnl_post_ops_append_sum, (dnnl_post_ops_t, float))                                     \
    X(dnnl_status_t, dnnl_primitive_attr_set_output_scales, (dnnl_primitive_attr_t, dnnl_dim_t, int,         \
                                                             const float *))                                 \
    X(dnnl_status_t, dnnl_primitive_desc_create, (dnnl_primitive_desc_t *, const_dnnl_op_desc_t,            \
                                                  const_dnnl_primitive_attr_t, dnnl_engine_t,                \
                                                  const_dnnl_primitive_desc_t))                              \
    X(dnnl_status_t, dnnl_primitive_desc_destroy, (dnnl_primitive_desc_t))                                   \
    X(dnnl_status_t, dnnl_primitive_create, (dnnl_primitive_t *, const_dnnl_primitive_desc_t))               \
    X(dnnl_status_t, dnnl_primitive_destroy, (dnnl_primitive_t))                                             \
    X(dnnl_status_t, dnnl_memory_destroy, (dnnl_memory_t))                                                   \
    X(dnnl_status_t, dnnl_primitive_execute, (const_dnnl_primitive_t, dnnl_stream_t, int,                   \
                                              const dnnl_exec_arg_t *))                                      \
    X(dnnl_status_t, dnnl_memory_create, (dnnl_memory_t *, const dnnl_memory_desc_t *, dnnl_engine_t, void *)) \
    X(dnnl_status_t, dnnl_memory_set_data_handle, (dnnl_memory_t, void *))

#define DECLARE_FN(ret, name, args) static ret(*p_##name) args;
DNNL_FNS(DECLARE_FN)
static void (*p_omp_set_num_threads)(int);

static int g_state;             /* 0 not tried, 1 available, -1 unavailable */
static char g_isa[96] = "not probed";
static dnnl_engine_t g_eng;
static dnnl_stream_t g_stream;
static int g_omp_threads;

/* Loads oneDNN and checks the CPU; sets g_state and g_isa. */
static void load_dnnl(void)
{
    g_state = -1;
    /* libgomp's idle threads spin for ~ms after each parallel region (GOMP_SPINCOUNT) on the
     * cores OpenBLAS and the engine's pool need next (see ops_pool.c): let them sleep. */
    setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
    void *h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(g_isa, sizeof g_isa, "oneDNN not found (libdnnl.so.2: Debian libdnnl2)");
        return;
    }
#define LOAD_FN(ret, name, args)                                                                  \
    if (!(p_##name = (ret(*) args)dlsym(h, #name))) {                                            \
        snprintf(g_isa, sizeof g_isa, "oneDNN lacks %s", #name);                                  \
        return;                                                                                   \
    }
    DNNL_FNS(LOAD_FN)
    p_omp_set_num_threads = (void (*)(int))dlsym(h, "omp_set_num_threads");
    dnnl_cpu_isa_t isa = p_dnnl_get_effective_cpu_isa();
    /* ISA values are bit sets: AMX contains the AVX-512 BF16 bits. */
    if ((isa & dnnl_cpu_isa_avx512_core_bf16) != dnnl_cpu_isa_avx512_core_bf16) {
        snprintf(g_isa, sizeof g_isa, "CPU without native bf16 (oneDNN ISA 0x%x)", (unsigned)isa);
        return;
    }
    if (p_dnnl_engine_create(&g_eng, dnnl_cpu, 0) != dnnl_success ||
        p_dnnl_stream_create(&g_stream, g_eng, dnnl_stream_default_flags) != dnnl_success) {
        snprintf(g_isa, sizeof g_isa, "oneDNN CPU engine could not be created");
        return;
    }
    int amx = (isa & dnnl_cpu_isa_avx512_core_amx) == dnnl_cpu_isa_avx512_core_amx;
    snprintf(g_isa, sizeof g_isa, "%s", amx ? "avx512_core_amx" : "avx512_core_bf16");
    g_state = 1;
}

int gemm_bf16_available(void)
{
    if (!g_state)
        load_dnnl();
    return g_state == 1;
}
#else
int gemm_bf16_available(void) { return 0; }
#endif

const char *gemm_bf16_isa(void)
{
#ifdef ATTRUN_HAVE_DNNL
    gemm_bf16_available();
    return g_isa;
#else
    return "built without oneDNN headers (Debian libdnnl-dev)";
#endif
}

/* ---- conversions ---- */
/* Round to nearest even on the upper 16 bits; a NaN keeps a set quiet bit so it stays NaN.
 * Branch-free (a select, not an if) and compiled at O3 so that the loop below vectorises:
 * with the NaN test as a branch it ran one element per iteration and was ~20 % of a bf16
 * forward+backward (perf, attrun bench --precision bf16). Same bits either way. The
 * AVX-512 BF16 instruction (vcvtneps2bf16) is not used: it flushes subnormals to zero. */
#pragma GCC push_options
#pragma GCC optimize("O3")
static inline uint16_t f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t nan = (u >> 16) | 0x40u;
    uint32_t rne = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? nan : rne);
}

HOT void gemm_bf16_from_f32(uint16_t *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = f32_to_bf16(src[i]);
}
#pragma GCC pop_options

float gemm_bf16_to_f32(uint16_t v)
{
    uint32_t u = (uint32_t)v << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---- bf16 weight copies, by address of the fp32 tensor ---- */
typedef struct {
    const float *w;
    size_t n;
    uint16_t *bf;
    int adopted;   /* owned by the caller of gemm_bf16_adopt_weights */
} WCopy;
static WCopy *g_w;
static int g_nw, g_capw;

void gemm_bf16_forget_weights(void)
{
    for (int i = 0; i < g_nw; i++)
        if (!g_w[i].adopted)
            free(g_w[i].bf);
    free(g_w);
    g_w = NULL;
    g_nw = g_capw = 0;
}

static int wcopy_grow(void)
{
    if (g_nw < g_capw)
        return 0;
    int cap = g_capw ? 2 * g_capw : 64;
    WCopy *nw = realloc(g_w, (size_t)cap * sizeof *nw);
    if (!nw)
        return -1;
    g_w = nw;
    g_capw = cap;
    return 0;
}

int gemm_bf16_adopt_weights(const float *W, size_t n, const uint16_t *bf)
{
    if (wcopy_grow() != 0)
        return -1;
    g_w[g_nw++] = (WCopy){W, n, (uint16_t *)bf, 1};
    return 0;
}

/* The bf16 copy of W (n elements), made on first use. A model has a few dozen weight
 * matrices, so a linear scan costs nothing next to the product. NULL: out of memory. */
static const uint16_t *weights_bf16(const float *W, size_t n)
{
    for (int i = 0; i < g_nw; i++)
        if (g_w[i].w == W && g_w[i].n == n)
            return g_w[i].bf;
    if (wcopy_grow() != 0)
        return NULL;
    uint16_t *bf = malloc(n * sizeof *bf);
    if (!bf)
        return NULL;
    gemm_bf16_from_f32(bf, W, n);
    g_w[g_nw++] = (WCopy){W, n, bf, 0};
    return bf;
}

/* Activation conversion on the engine's threads: for a K = 3072 product it is ~15 % of
 * the AMX product's time when run on one thread. */
typedef struct {
    uint16_t *dst;
    const float *src;
    size_t n;
} ConvJob;
#define CONV_BLOCK ((size_t)1 << 16)

static void conv_task(void *ctx, int item, int tid)
{
    const ConvJob *j = ctx;
    size_t lo = (size_t)item * CONV_BLOCK, len = j->n - lo < CONV_BLOCK ? j->n - lo : CONV_BLOCK;
    gemm_bf16_from_f32(j->dst + lo, j->src + lo, len);
}

void gemm_bf16_convert(uint16_t *dst, const float *src, size_t n)
{
    ConvJob j = {dst, src, n};
    ops_parallel((int)((n + CONV_BLOCK - 1) / CONV_BLOCK), ops_threads(), conv_task, &j);
}

/* The activations of one call in bf16 (one buffer, grown as needed). */
static uint16_t *g_act;
static size_t g_act_cap;

static uint16_t *act_bf16(const float *x, size_t n)
{
    if (n > g_act_cap) {
        uint16_t *nb = realloc(g_act, n * sizeof *nb);
        if (!nb)
            return NULL;
        g_act = nb;
        g_act_cap = n;
    }
    gemm_bf16_convert(g_act, x, n);
    return g_act;
}

void gemm_bf16_release_scratch(void)
{
    free(g_act);
    g_act = NULL;
    g_act_cap = 0;
}

#ifdef ATTRUN_HAVE_DNNL
/* ---- matmul primitives per shape, one cache for the linear and the batched products ---- */
typedef struct {
    Bf16Batched s;
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, bias, d;
} Prim;
#define NPRIM 96
static Prim g_prim[NPRIM];
static int g_nprim, g_next_evict;

/* The (batch..., rows, cols) descriptor of one operand of s, strides st. */
static void md_batched(dnnl_memory_desc_t *md, const Bf16Batched *s, long rows, long cols, const long *st,
                       dnnl_data_type_t dt)
{
    dnnl_dims_t dims, strides;
    int nd = s->nb + 2;
    for (int i = 0; i < s->nb; i++)
        dims[i] = s->batch[i];
    dims[nd - 2] = rows;
    dims[nd - 1] = cols;
    for (int i = 0; i < nd; i++)
        strides[i] = st[i];
    p_dnnl_memory_desc_init_by_strides(md, nd, dims, dt, strides);
}

/* Creates the primitive of p->s and its memory objects (data handles set per call):
 * dst = alpha · a · b [+ bias (1, N) f32 row] [+ dst (accum)]. */
static int prim_create(Prim *p)
{
    const Bf16Batched *s = &p->s;
    dnnl_memory_desc_t a, b, bias, d;
    md_batched(&a, s, s->M, s->K, s->sa, dnnl_bf16);
    md_batched(&b, s, s->K, s->N, s->sb, dnnl_bf16);
    md_batched(&d, s, s->M, s->N, s->sd, dnnl_f32);
    long bias_st[4] = {0};
    for (int i = 0; i < s->nb + 2; i++)
        bias_st[i] = i == s->nb + 1 ? 1 : s->N; /* a dense row, batch dims broadcast (size 1) */
    Bf16Batched one = *s;
    for (int i = 0; i < s->nb; i++)
        one.batch[i] = 1;
    md_batched(&bias, &one, 1, s->N, bias_st, dnnl_f32);
    dnnl_matmul_desc_t desc;
    if (p_dnnl_matmul_desc_init(&desc, &a, &b, s->bias ? &bias : NULL, &d) != dnnl_success)
        return -1;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    p_dnnl_primitive_attr_create(&attr);
    if (s->alpha != 1.0f)
        p_dnnl_primitive_attr_set_output_scales(attr, 1, 0, &s->alpha);
    if (s->accum) {
        p_dnnl_post_ops_create(&po);
        p_dnnl_post_ops_append_sum(po, 1.0f);
        p_dnnl_primitive_attr_set_post_ops(attr, po);
    }
    dnnl_primitive_desc_t pd;
    dnnl_status_t st = p_dnnl_primitive_desc_create(&pd, &desc, attr, g_eng, NULL);
    if (po)
        p_dnnl_post_ops_destroy(po);
    p_dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return -1;
    st = p_dnnl_primitive_create(&p->prim, pd);
    p_dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success)
        return -1;
    if (p_dnnl_memory_create(&p->a, &a, g_eng, DNNL_MEMORY_NONE) != dnnl_success ||
        p_dnnl_memory_create(&p->b, &b, g_eng, DNNL_MEMORY_NONE) != dnnl_success ||
        p_dnnl_memory_create(&p->bias, &bias, g_eng, DNNL_MEMORY_NONE) != dnnl_success ||
        p_dnnl_memory_create(&p->d, &d, g_eng, DNNL_MEMORY_NONE) != dnnl_success)
        return -1;
    return 0;
}

/* Destroys a slot's primitive and memory objects (NULL ones are skipped). */
static void prim_release(Prim *p)
{
    if (p->prim)
        p_dnnl_primitive_destroy(p->prim);
    dnnl_memory_t mem[4] = {p->a, p->b, p->bias, p->d};
    for (int i = 0; i < 4; i++)
        if (mem[i])
            p_dnnl_memory_destroy(mem[i]);
}

/* The cached primitive for this shape (compared as bytes: callers zero-initialise the struct),
 * created on first use; when the cache is full the oldest slot is destroyed and reused. */
static Prim *prim_get(const Bf16Batched *s)
{
    for (int i = 0; i < g_nprim; i++)
        if (!memcmp(&g_prim[i].s, s, sizeof *s))
            return &g_prim[i];
    int slot = g_nprim < NPRIM ? g_nprim++ : (g_next_evict++ % NPRIM);
    Prim *p = &g_prim[slot];
    prim_release(p);
    memset(p, 0, sizeof *p);
    p->s = *s;
    if (prim_create(p) != 0) {
        p->s.M = -1; /* never matches: a later call retries */
        return NULL;
    }
    return p;
}

/* oneDNN's OpenMP threads follow the engine's thread count. */
static void omp_threads_sync(void)
{
    int threads = ops_threads();
    if (p_omp_set_num_threads && threads != g_omp_threads) {
        p_omp_set_num_threads(threads);
        g_omp_threads = threads;
    }
}

/* Runs the product s on these operands (bias: the (1, N) row when s->bias). */
static int prim_run(const Bf16Batched *s, float *dst, const uint16_t *a, const uint16_t *b, const float *bias)
{
    if (!gemm_bf16_available() || s->nb < 0 || s->nb > 2 || s->M <= 0 || s->K <= 0 || s->N <= 0)
        return -1;
    omp_threads_sync();
    Prim *p = prim_get(s);
    if (!p)
        return -1;
    p_dnnl_memory_set_data_handle(p->a, (void *)a);
    p_dnnl_memory_set_data_handle(p->b, (void *)b);
    p_dnnl_memory_set_data_handle(p->d, dst);
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, p->a}, {DNNL_ARG_WEIGHTS, p->b}, {DNNL_ARG_DST, p->d}};
    int nargs = 3;
    if (s->bias) {
        p_dnnl_memory_set_data_handle(p->bias, (void *)bias);
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, p->bias};
    }
    if (p_dnnl_primitive_execute(p->prim, g_stream, nargs, args) != dnnl_success)
        return -1;
    return p_dnnl_stream_wait(g_stream) == dnnl_success ? 0 : -1;
}

/* dst (M,Nn) (+)= bf16(src) (M,K) · wei (K,Nn) [+ bias]. trans: wei is W (Nn,K) read transposed
 * (forward); else W (K,Nn) as is (backward). */
static int matmul(float *dst, const float *src, const float *W, const float *bias, int M, int K, int Nn,
                  int trans, int accum)
{
    if (!gemm_bf16_available() || M <= 0 || K <= 0 || Nn <= 0)
        return -1;
    Bf16Batched s;
    memset(&s, 0, sizeof s);
    s.accum = accum;
    s.bias = bias != NULL;
    s.alpha = 1.0f;
    s.M = M, s.K = K, s.N = Nn;
    s.sa[0] = K, s.sa[1] = 1;
    s.sb[0] = trans ? 1 : Nn, s.sb[1] = trans ? K : 1;
    s.sd[0] = Nn, s.sd[1] = 1;
    omp_threads_sync(); /* before the conversions: they run on the engine's threads too */
    const uint16_t *wb = weights_bf16(W, (size_t)K * Nn);
    uint16_t *sb = act_bf16(src, (size_t)M * K);
    if (!wb || !sb)
        return -1;
    return prim_run(&s, dst, sb, wb, bias);
}

int gemm_bf16_batched(const Bf16Batched *s, float *dst, const uint16_t *a, const uint16_t *b)
{
    if (s->bias)
        return -1; /* no bias row is given here */
    return prim_run(s, dst, a, b, NULL);
}
#else
int gemm_bf16_batched(const Bf16Batched *s, float *dst, const uint16_t *a, const uint16_t *b)
{
    (void)s, (void)dst, (void)a, (void)b;
    return -1;
}

static int matmul(float *dst, const float *src, const float *W, const float *bias, int M, int K, int Nn,
                  int trans, int accum)
{
    (void)weights_bf16;
    (void)act_bf16;
    return -1;
}
#endif

int gemm_bf16_xwt(float *y, const float *x, const float *W, const float *b, int N, int IN, int OUT)
{
    return matmul(y, x, W, b, N, IN, OUT, 1, 0);
}

int gemm_bf16_dyw(float *dx, const float *dy, const float *W, int N, int IN, int OUT, int accumulate)
{
    return matmul(dx, dy, W, NULL, N, OUT, IN, 0, accumulate);
}
