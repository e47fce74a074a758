/* attrun bench: engine throughput against the sgemm ceiling of this machine.
 *
 * Builds a BERT-base-shaped random model in memory (V 30522, D 768, NH 12, FF 3072,
 * L 12 unless --layers), measures in the same run what OpenBLAS sgemm reaches on the
 * shapes the engine uses (M = B·T rows against 768/3072-wide weights, the forward's
 * x W^T and the backward's dy W), then times the engine's forward and forward+backward
 * and reports GFLOP/s (engine_flops), % of that ceiling, seconds per 50-step example
 * (IG with 50 nodes = 50 rows forward+backward) and peak RSS. Also times glibc erff
 * against the engine's vectorised erf on one layer's worth of GELU inputs. */
#include "engine/clock.h"
#include "engine/engine.h"
#include "engine/gemm_bf16.h"
#include "engine/family.h"
#include "engine/backend_cpu.h"
#include "runner/commands.h"
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
}

static void usage(void)
{
    fprintf(stderr, "usage: attrun bench [--shape bert|gpt2|qwen2.5-0.5b] [--threads N] [--batch B] [--tokens T] "
                    "[--layers L] [--microbatch TOKENS] [--budget MIB]\n"
                    "                   [--precision fp32|bf16|bf16-attention]"
                    " [--attention blas|blocked|both] [--profile]\n"
                    "  --shape: BERT-base (default), GPT-2 small (12 x 768, 12 heads, FF 3072, V 50257) or\n"
                    "           Qwen2.5-0.5B (24 x 896, 14 heads, 2 KV heads, SwiGLU FF 4864, V 151936, tied)\n"
                    "  --budget: activation MiB per pass above which the backward recomputes each layer's\n"
                    "            forward (engine_set_activation_budget; default 4096, 0 = never)\n"
                    "  --precision: the engine's linear layers in fp32 (default) or bf16 with fp32 accumulation\n"
                    "               (oneDNN; the bf16 GEMM rate is printed next to sgemm whenever the CPU has bf16);\n"
                    "               bf16-attention: the attention's products in bf16 too\n"
                    "  --attention: the attention kernel: per-(row, head) sgemm calls (blas, default) or the\n"
                    "               blocked kernel; both: the engine benchmark once with each, in this order\n"
                    "               (fp32 kernels: not with --precision bf16-attention, which has its own)\n"
                    "  --profile: wall-clock seconds per op class of the forward+backward run\n"
                    "  defaults: threads 2, batch 50, tokens 128, the shape's layers, microbatch 2048 tokens\n");
}

/* The benchmark's model shapes (random weights). */
static int bench_shape(const char *name, ModelConfig *c)
{
    memset(c, 0, sizeof *c);
    c->ln_eps = 1e-5f;
    if (!strcmp(name, "bert")) {
        *c = (ModelConfig){.arch = ARCH_BERT, .head = HEAD_CLASSIFIER, .V = 30522, .P = 512, .TV = 2, .D = 768,
                           .L = 12, .NH = 12, .FF = 3072, .C = 2, .act = ACT_GELU, .head_act = ACT_TANH,
                           .ln_eps = 1e-12f};
    } else if (!strcmp(name, "gpt2")) {
        *c = (ModelConfig){.arch = ARCH_GPT2, .head = HEAD_LM, .V = 50257, .P = 1024, .D = 768, .L = 12, .NH = 12,
                           .FF = 3072, .act = ACT_GELU_TANH, .ln_eps = 1e-5f};
    } else if (!strcmp(name, "qwen2.5-0.5b")) {
        *c = (ModelConfig){.arch = ARCH_LLAMA, .head = HEAD_LM, .V = 151936, .P = 32768, .D = 896, .L = 24,
                           .NH = 14, .NKV = 2, .hs = 64, .FF = 4864, .act = ACT_SILU, .ln_eps = 1e-6f,
                           .qkv_bias = 1, .rope_theta = 1000000.0f};
    } else {
        return -1;
    }
    snprintf(c->model_type, sizeof c->model_type, "%s", name);
    family_describe(c);
    if (c->head == HEAD_LM)
        c->C = c->V;
    return 0;
}

/* Seconds of one sgemm of the engine's kind: trans_w = 1: y (M,OUT) = x (M,IN) W^T
 * (forward), 0: dx (M,IN) = dy (M,OUT) W (backward). Best of `reps`. */
static double time_gemm(int M, int IN, int OUT, int trans_w, const float *a, const float *w, float *c, int reps)
{
    double best = INFINITY;
    for (int r = 0; r < reps; r++) {
        double t0 = clock_now();
        if (trans_w)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, OUT, IN, 1.0f, a, IN, w, IN, 0.0f, c, OUT);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, IN, OUT, 1.0f, a, OUT, w, IN, 0.0f, c, IN);
        double t = clock_now() - t0;
        best = t < best ? t : best;
    }
    return best;
}

/* The same product in bf16 through gemm_bf16 (activations converted per call, weights
 * once: the warm-up call converts them). Best of `reps`; INFINITY if bf16 failed. */
static double time_gemm_bf16(int M, int IN, int OUT, int trans_w, const float *a, const float *w, float *c, int reps)
{
    double best = INFINITY;
    for (int r = 0; r <= reps; r++) {
        double t0 = clock_now();
        int rc = trans_w ? gemm_bf16_xwt(c, a, w, NULL, M, IN, OUT) : gemm_bf16_dyw(c, a, w, M, IN, OUT, 0);
        double t = clock_now() - t0;
        if (rc)
            return INFINITY;
        if (r > 0) /* r = 0 converts the weights */
            best = t < best ? t : best;
    }
    return best;
}

/* bf16 against fp32 on the benchmark's random model: the first rows (up to 4) of the
 * batch through a fresh fp32 engine; prints max |bf16 - fp32| / max |fp32| of the output F
 * and of the gradient's token sums (sum over D, what attributions report). */
static void bf16_error(const Model *m, const EngineBatch *in, const float *F16, const float *g16, int mb,
                       const char *precision)
{
    int B = in->B < 4 ? in->B : 4, T = in->T, D = m->cfg.D;
    float *F = malloc((size_t)B * sizeof *F), *g = malloc((size_t)B * T * D * sizeof *g);
    engine_set_precision("fp32");
    Engine *e = engine_create(m);
    EngineBatch sub = *in;
    sub.B = B;
    EngineOutput o = {.F = F, .grad = g};
    if (F && g && e) {
        engine_set_microbatch_tokens(e, mb);
        if (engine_run(e, &sub, &o) == 0) {
            double dF = 0, mF = 0, dS = 0, mS = 0;
            for (int b = 0; b < B; b++) {
                dF = fmax(dF, fabs((double)F16[b] - F[b]));
                mF = fmax(mF, fabs((double)F[b]));
                for (int t = 0; t < T; t++) {
                    double s16 = 0, s32 = 0;
                    for (int d = 0; d < D; d++) {
                        s16 += g16[((size_t)b * T + t) * D + d];
                        s32 += g[((size_t)b * T + t) * D + d];
                    }
                    dS = fmax(dS, fabs(s16 - s32));
                    mS = fmax(mS, fabs(s32));
                }
            }
            printf("  bf16 vs fp32 on this random model (%d rows): output rel err %.2e, gradient token sums "
                   "rel err %.2e (max |x - ref| / max |ref|)\n", B, dF / mF, dS / mS);
        }
    }
    engine_free(e);
    engine_set_precision(precision);
    free(F);
    free(g);
}

static int parse_int(const char *opt, const char *v, int *out)
{
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || x <= 0 || x > 1 << 20) {
        fprintf(stderr, "attrun bench: %s needs a positive integer, got '%s'\n", opt, v ? v : "");
        return -1;
    }
    *out = (int)x;
    return 0;
}

/* What the command line asks for, with the defaults of a BERT-base run on two cores. */
typedef struct {
    int threads, B, T, L, mb, profile, budget, attention_given;
    const char *shape, *precision, *attention;
} BenchOpts;

/* Parses the options into *o: 0 to go on, 1 after --help (exit 0), 2 on a usage error (message printed). */
static int parse_bench_args(int argc, char **argv, BenchOpts *o)
{
    *o = (BenchOpts){.threads = 2, .B = 50, .T = 128, .L = 0, .mb = 2048, .profile = 0, .budget = 4096,
                     .shape = "bert", .precision = "fp32", .attention = "blas"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc;
        if (!strcmp(a, "--profile")) {
            o->profile = 1;
            continue;
        }
        if (!strcmp(a, "--shape")) {
            o->shape = v;
            rc = v ? 0 : -1;
            if (!v)
                fprintf(stderr, "attrun bench: --shape needs bert, gpt2 or qwen2.5-0.5b\n");
        } else if (!strcmp(a, "--precision")) {
            o->precision = v;
            rc = v && (!strcmp(v, "fp32") || !strcmp(v, "bf16") || !strcmp(v, "bf16-attention")) ? 0 : -1;
            if (rc)
                fprintf(stderr, "attrun bench: --precision needs fp32, bf16 or bf16-attention, got '%s'\n",
                        v ? v : "");
        } else if (!strcmp(a, "--attention")) {
            o->attention = v;
            o->attention_given = 1;
            rc = v && (!strcmp(v, "blas") || !strcmp(v, "blocked") || !strcmp(v, "both")) ? 0 : -1;
            if (rc)
                fprintf(stderr, "attrun bench: --attention needs blas, blocked or both, got '%s'\n", v ? v : "");
        } else if (!strcmp(a, "--threads"))
            rc = parse_int(a, v, &o->threads);
        else if (!strcmp(a, "--batch"))
            rc = parse_int(a, v, &o->B);
        else if (!strcmp(a, "--tokens"))
            rc = parse_int(a, v, &o->T);
        else if (!strcmp(a, "--layers"))
            rc = parse_int(a, v, &o->L);
        else if (!strcmp(a, "--microbatch"))
            rc = parse_int(a, v, &o->mb);
        else if (!strcmp(a, "--budget")) {
            rc = v && !strcmp(v, "0") ? 0 : parse_int(a, v, &o->budget);
            if (v && !strcmp(v, "0"))
                o->budget = 0;
        }
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 1;
        } else {
            fprintf(stderr, "attrun bench: unknown option '%s'\n", a);
            usage();
            return 2;
        }
        if (rc)
            return 2;
        i++;
    }
    /* bf16-attention's backend has its own attention (batched bf16 products): the fp32 kernel
     * choice would be printed but never run. */
    if (!strcmp(o->precision, "bf16-attention") && o->attention_given) {
        fprintf(stderr, "attrun bench: --attention chooses between the fp32 attention kernels, but --precision "
                        "bf16-attention runs its own (bf16 products); give one of the two\n");
        return 2;
    }
    return 0;
}

/* sgemm ceiling on the engine's shapes, M = one micro-batch of rows (what the engine
 * multiplies at once), weighted like one layer: Q,O (D x QD), K,V (D x KD), the FFN's
 * (2 or 3) D x FF products, each forward (x W^T) and backward (dy W). Returns the rate in
 * GFLOP/s of the products the engine will run (bf16's when --precision bf16). */
static double gemm_ceiling(const ModelConfig *c, int M, const char *precision, int bf16, float *ga, float *gw,
                           float *gc)
{
    int QD = c->NH * c->hs, KD = c->NKV * c->hs;
    int nff = c->ffn_gated ? 2 : 1;
    struct { const char *name; int in, out, trans, count; } shapes[] = {
        {"fwd q/o x W^T  (D <-> NH*hs)", c->D, QD, 1, 2},   {"fwd k/v x W^T  (D -> NKV*hs)", c->D, KD, 1, 2},
        {"fwd ffn x W^T  (D -> FF)", c->D, c->FF, 1, nff},  {"fwd ffn x W^T  (FF -> D)", c->FF, c->D, 1, 1},
        {"bwd q/o dy W   (NH*hs <-> D)", c->D, QD, 0, 2},  {"bwd k/v dy W   (NKV*hs -> D)", c->D, KD, 0, 2},
        {"bwd ffn dy W   (FF -> D)", c->D, c->FF, 0, nff},  {"bwd ffn dy W   (D -> FF)", c->FF, c->D, 0, 1},
    };
    double fl_all = 0, t_all = 0, t_all16 = 0;
    time_gemm(M, c->D, c->D, 1, ga, gw, gc, 1); /* warm up threads and caches */
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        double t = time_gemm(M, shapes[s].in, shapes[s].out, shapes[s].trans, ga, gw, gc, 3);
        double fl = 2.0 * M * shapes[s].in * shapes[s].out;
        double t16 = bf16 ? time_gemm_bf16(M, shapes[s].in, shapes[s].out, shapes[s].trans, ga, gw, gc, 3) : 0;
        printf("  sgemm M=%-5d %-30s %7.1f GFLOP/s", M, shapes[s].name, fl / t * 1e-9);
        if (bf16)
            printf("   bf16 %7.1f GFLOP/s (%.2fx)", fl / t16 * 1e-9, t / t16);
        printf("\n");
        fl_all += shapes[s].count * fl;
        t_all += shapes[s].count * t;
        t_all16 += shapes[s].count * t16;
    }
    gemm_bf16_forget_weights(); /* gw is freed by the caller */
    double ceiling = fl_all / t_all * 1e-9, ceiling16 = bf16 ? fl_all / t_all16 * 1e-9 : 0;
    printf("  sgemm ceiling (layer-weighted mix): %.1f GFLOP/s", ceiling);
    if (bf16)
        printf("; bf16: %.1f GFLOP/s (%.2fx)", ceiling16, ceiling16 / ceiling);
    printf("\n");
    if (strcmp(precision, "fp32"))
        ceiling = ceiling16; /* the engine's rate below is compared with the products it runs */
    return ceiling;
}

/* GELU's erf: glibc erff (scalar calls) vs the engine's vectorised erf, over ne elements of ga/gc. */
static void erf_speed(float *ga, float *gc, long ne)
{
    for (long i = 0; i < ne; i++)
        ga[i] = (float)((i * 2654435761u) % 8000) * 1e-3f - 4.0f;
    double t0 = clock_now();
    for (long i = 0; i < ne; i++)
        gc[i] = erff(ga[i]);
    double t_glibc = clock_now() - t0;
    t0 = clock_now();
    ops_erf_array(gc, ga, ne);
    double t_vec = clock_now() - t0;
    printf("  erf over %ld elements (one layer's FFN of a micro-batch): glibc erff %.2f ns/elt, "
           "vectorised %.2f ns/elt\n", ne, t_glibc / ne * 1e9, t_vec / ne * 1e9);
}

/* The attention core alone on one micro-batch (rows x T, the shape's heads), the kernels
 * alternating, best of 5 each (wall clock, the engine's threads): what the blocked kernel
 * gains or loses against the per-(row, head) sgemm calls, and, where the CPU has bf16, the
 * bf16 products of precision bf16-attention, measured side by side. */
static void attention_speed(const ModelConfig *c, int rows, int T, int bf16)
{
    int NKV = c->NKV > 0 ? c->NKV : c->NH, QD = c->NH * c->hs, KD = NKV * c->hs;
    size_t nq = (size_t)rows * T * QD, nk = (size_t)rows * T * KD, np = (size_t)rows * c->NH * T * T;
    float *q = malloc(nq * 4), *dctx = malloc(nq * 4), *ctx = malloc(nq * 4), *dq = malloc(nq * 4);
    float *k = malloc(nk * 4), *v = malloc(nk * 4), *dk = malloc(nk * 4), *dv = malloc(nk * 4);
    float *P = malloc(np * 4), *dP = malloc((size_t)ops_threads() * T * T * 4);
    if (q && dctx && ctx && dq && k && v && dk && dv && P && dP) {
        for (size_t i = 0; i < nq; i++)
            q[i] = dctx[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
        for (size_t i = 0; i < nk; i++)
            k[i] = v[i] = (float)((i * 40503u) % 1000) * 1e-3f - 0.5f;
        AttnShape sh = {.NH = c->NH, .NKV = NKV, .hs = c->hs, .causal = c->causal, .window = c->window};
        double best[3][2] = {{INFINITY, INFINITY}, {INFINITY, INFINITY}, {INFINITY, INFINITY}};
        int saved = attention_kernel_get(), nkern = bf16 ? 3 : 2;
        for (int r = 0; r < 5; r++)
            for (int kern = 0; kern < nkern; kern++) {
                attention_kernel_set(kern == 1);
                double t0 = clock_now(), t1, t2;
                if (kern < 2) {
                    attention_forward(ctx, P, q, k, v, NULL, &sh, rows, T);
                    t1 = clock_now();
                    attention_backward(dq, dk, dv, dP, NULL, dctx, q, k, v, P, &sh, rows, T);
                } else {
                    attention_forward_bf16(ctx, P, q, k, v, NULL, &sh, rows, T);
                    t1 = clock_now();
                    attention_backward_bf16(dq, dk, dv, dP, NULL, dctx, q, k, v, P, &sh, rows, T);
                }
                t2 = clock_now();
                best[kern][0] = fmin(best[kern][0], t1 - t0);
                best[kern][1] = fmin(best[kern][1], t2 - t1);
            }
        attention_kernel_set(saved);
        double fl = 4.0 * rows * (double)T * T * QD; /* forward: QK^T and PV; backward twice that */
        static const char *const names[3] = {"blas", "blocked", "bf16"};
        for (int kern = 0; kern < nkern; kern++)
            printf("  attention %-7s rows %d x T %d: forward %6.2f ms %6.1f GFLOP/s, backward %6.2f ms %6.1f GFLOP/s\n",
                   names[kern], rows, T, best[kern][0] * 1e3, fl / best[kern][0] * 1e-9,
                   best[kern][1] * 1e3, 2 * fl / best[kern][1] * 1e-9);
    }
    free(q), free(dctx), free(ctx), free(dq), free(k), free(v), free(dk), free(dv), free(P), free(dP);
}

/* The kernels alone on one micro-batch: the sgemm ceiling (into *ceiling) and erf. 1 when out of memory. */
static int bench_kernels(const ModelConfig *c, const BenchOpts *o, int bf16, double *ceiling)
{
    int rows = o->mb / o->T < 1 ? 1 : o->mb / o->T;
    rows = rows > o->B ? o->B : rows;
    int QD = c->NH * c->hs;
    int M = rows * o->T, W = c->FF > QD ? c->FF : QD;
    float *ga = malloc((size_t)M * W * sizeof(float)), *gw = malloc((size_t)W * c->D * sizeof(float));
    float *gc = malloc((size_t)M * W * sizeof(float));
    if (!ga || !gw || !gc) {
        fprintf(stderr, "attrun bench: out of memory for the sgemm buffers\n");
        return 1;
    }
    for (size_t i = 0; i < (size_t)M * W; i++)
        ga[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
    for (size_t i = 0; i < (size_t)W * c->D; i++)
        gw[i] = (float)((i * 40503u) % 1000) * 1e-3f - 0.5f;
    *ceiling = gemm_ceiling(c, M, o->precision, bf16, ga, gw, gc);
    erf_speed(ga, gc, (long)M * c->FF);
    attention_speed(c, rows, o->T, bf16);
    free(ga);
    free(gw);
    free(gc);
    return 0;
}

/* Prints the wall-clock share of each profiled op in the forward+backward run of t_fb seconds. */
static void print_profile(double t_fb)
{
    double acc = 0;
    printf("  profile of the forward+backward run (wall-clock):\n");
    for (int k = 0; k < PROF_N; k++) {
        acc += ops_prof_s[k];
        printf("    %-16s %7.3f s  %5.1f%%\n", ops_prof_name[k], ops_prof_s[k], 100.0 * ops_prof_s[k] / t_fb);
    }
    printf("    %-16s %7.3f s  %5.1f%%\n", "other", t_fb - acc, 100.0 * (t_fb - acc) / t_fb);
}

/* The whole engine on a random model: one forward and one forward+backward batch of B x T tokens,
 * rated against the kernels' ceiling. 1 on an engine error or when out of memory. */
static int bench_engine(const ModelConfig *cfg, const BenchOpts *o, double ceiling)
{
    ModelConfig c = *cfg;
    int B = o->B, T = o->T;
    Model *m = model_random(&c, 1, 0.05f);
    Engine *e = m ? engine_create(m) : NULL;
    size_t BT = (size_t)B * T;
    int *ids = malloc(BT * sizeof(int)), *pos = malloc(BT * sizeof(int)), *target = calloc((size_t)B, sizeof(int));
    int *hpos = malloc((size_t)B * sizeof(int)); /* the head's position: the last token (causal LM) */
    float *x = malloc(BT * c.D * sizeof(float)), *grad = malloc(BT * c.D * sizeof(float));
    float *F = malloc((size_t)B * sizeof(float));
    if (!e || !ids || !pos || !target || !hpos || !x || !grad || !F) {
        fprintf(stderr, "attrun bench: out of memory for the model or batch\n");
        return 1;
    }
    engine_set_microbatch_tokens(e, o->mb);
    engine_set_activation_budget(e, (size_t)o->budget << 20);
    for (int b = 0; b < B; b++) {
        hpos[b] = T - 1;
        for (int t = 0; t < T; t++)
            ids[(size_t)b * T + t] = 1000 + (b * 131 + t * 17) % 20000;
        engine_position_ids(m, ids + (size_t)b * T, T, pos + (size_t)b * T);
        engine_layer_values(m, AT_WORD_EMB, ids + (size_t)b * T, pos + (size_t)b * T, NULL, T,
                            x + (size_t)b * T * c.D);
    }
    EngineBatch in = {.B = B, .T = T, .layer = AT_WORD_EMB, .x = x, .pos_ids = pos, .target = target,
                      .mlm_pos = hpos, .output = OUT_LOGIT};
    EngineOutput fwd = {.F = F}, fb = {.F = F, .grad = grad};
    /* Warm-up: the engine's activation arena is allocated at its first forward+backward and
     * reused by every later call, as in a job's thousands of calls; timing the first call
     * timed the kernel zeroing its fresh pages (first touch), which landed on the forward's
     * ops (at T 32, B 50 one micro-batch: forward linear layers 1.6x slower than backward). */
    double t0 = clock_now();
    if (engine_run(e, &in, &fb)) {
        fprintf(stderr, "attrun bench: %s\n", engine_error(e));
        return 1;
    }
    printf("  warm-up forward+backward (first touch of the activation arena): %.3f s\n", clock_now() - t0);
    t0 = clock_now();
    if (engine_run(e, &in, &fwd)) {
        fprintf(stderr, "attrun bench: %s\n", engine_error(e));
        return 1;
    }
    double t_f = clock_now() - t0;
    memset(ops_prof_s, 0, sizeof ops_prof_s);
    ops_prof_on = o->profile;
    t0 = clock_now();
    if (engine_run(e, &in, &fb)) {
        fprintf(stderr, "attrun bench: %s\n", engine_error(e));
        return 1;
    }
    double t_fb = clock_now() - t0;
    ops_prof_on = 0;
    double fl_f = engine_flops(&c, B, T, 0), fl_fb = engine_flops(&c, B, T, 1);
    printf("  forward:          %7.3f s  %7.1f GFLOP/s  %5.1f%% of ceiling\n", t_f, fl_f / t_f * 1e-9,
           100.0 * fl_f / t_f * 1e-9 / ceiling);
    printf("  forward+backward: %7.3f s  %7.1f GFLOP/s  %5.1f%% of ceiling\n", t_fb, fl_fb / t_fb * 1e-9,
           100.0 * fl_fb / t_fb * 1e-9 / ceiling);
    if (o->profile)
        print_profile(t_fb);
    printf("  seconds per 50-step example (T %d): %.3f\n", T, t_fb * 50.0 / B);
    if (strcmp(o->precision, "fp32"))
        bf16_error(m, &in, F, grad, o->mb, o->precision);
    printf("  peak RSS: %.0f MiB (model %.0f MiB)\n", peak_rss_mib(), (double)m->storage_bytes / (1 << 20));
    free(ids);
    free(pos);
    free(target);
    free(hpos);
    free(x);
    free(grad);
    free(F);
    engine_free(e);
    model_free(m);
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    BenchOpts o;
    int prc = parse_bench_args(argc, argv, &o);
    if (prc)
        return prc == 1 ? 0 : 2;
    ModelConfig c;
    if (bench_shape(o.shape, &c)) {
        fprintf(stderr, "attrun bench: unknown --shape '%s' (bert, gpt2, qwen2.5-0.5b)\n", o.shape);
        return 2;
    }
    if (o.L > 0)
        c.L = o.L;
    if (o.T > c.P) {
        fprintf(stderr, "attrun bench: --tokens %d exceeds max positions %d\n", o.T, c.P);
        return 2;
    }
    engine_set_threads(o.threads);
    if (engine_set_precision(o.precision)) {
        fprintf(stderr, "attrun bench: precision %s is unavailable here: %s\n", o.precision, engine_bf16_status());
        return 1;
    }
    int bf16 = gemm_bf16_available();
    printf("attrun bench: precision %s; bf16 products: %s\n", o.precision, engine_bf16_status());
    printf("attrun bench: %s shape (D %d, L %d, NH %d, NKV %d, hs %d, FF %d%s, V %d), B %d, T %d, %d threads, "
           "microbatch %d tokens\n", o.shape, c.D, c.L, c.NH, c.NKV, c.hs, c.FF, c.ffn_gated ? " gated" : "", c.V,
           o.B, o.T, o.threads, o.mb);
    double ceiling;
    if (bench_kernels(&c, &o, bf16, &ceiling))
        return 1;
    int both = !strcmp(o.attention, "both"), rc = 0;
    for (int pass = 0; pass < (both ? 2 : 1) && !rc; pass++) {
        const char *kern = both ? (pass ? "blocked" : "blas") : o.attention;
        engine_set_attention_kernel(kern);
        printf("  attention kernel: %s\n", strcmp(o.precision, "bf16-attention") ? kern : "bf16 products");
        rc = bench_engine(&c, &o, ceiling);
    }
    return rc;
}
