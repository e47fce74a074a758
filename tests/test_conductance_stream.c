/* LayerConductance's attention part, summed in the engine's gradient sink one layer of one
 * micro-batch at a time (engine/attr_conductance.c), on seeded random models:
 *  - the same bits as the full-tensor algorithm it replaced, written out here: each block of G
 *    nodes through the engine with every layer's probs/dprobs taps (L,G,NH,T,T), the interval
 *    across a block boundary from the previous block's last node. Compared are the exact
 *    fixed-point sums of the partial (memcmp), for the whole item range and for chunks that
 *    start inside blocks, with one pass per block and with passes of 2 rows (the intervals
 *    across passes);
 *  - memory at T = 2048 (4 layers, 4 heads): the peak RSS that one chunk adds stays below what
 *    the streamed path needs (each layer's last node, 2·L·H·T²·4 bytes, and one layer's
 *    tensors of a pass) plus half of the taps the old path held besides (2·L·G·H·T²·4 bytes);
 *  - the sink's contract: layers L-1..0 per pass, P rows summing to 1, dF/dP the dprobs taps'
 *    bits; a sink that stops ends engine_run with an error naming it; grad_sink without grad is
 *    an error. */
#include "engine/attribution.h"
#include "engine/attr_internal.h"
#include "engine/engine.h"
#include "tests/testutil.h"
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

typedef struct {
    Example ex;
    int *ids, *special;
} Text;

static void text_init(Text *t, int T, unsigned seed)
{
    memset(t, 0, sizeof *t);
    t->ids = malloc(sizeof(int) * T);
    t->special = calloc(T, sizeof(int));
    srand(seed);
    for (int i = 0; i < T; i++)
        t->ids[i] = 7 + rand() % 100;
    t->ids[0] = 2;
    t->ids[T - 1] = 3;
    t->special[0] = t->special[T - 1] = 1;
    t->ex.index = 3;
    t->ex.T = T;
    t->ex.ids = t->ids;
    t->ex.special = t->special;
    t->ex.target = 1;
    t->ex.mask_id = 5;
    t->ex.unk_id = 6;
}

static void text_free(Text *t)
{
    free(t->ids);
    free(t->special);
}

static int acc_add(__int128 *acc, const float *dy, const float *y0, const float *y1, long n)
{
    for (long q = 0; q < n; q++)
        if (fix_add(&acc[q], dy[q] * ((double)y1[q] - y0[q])))
            return -1;
    return 0;
}

/* The attention sums of items [i0, i1) as the whole-tensor code made them, into acc (L,NH,T,T). */
static int reference_attn(Engine *e, const MethodSpec *s, const Example *ex, int i0, int i1, __int128 *acc)
{
    const Model *m = engine_model(e);
    int T = ex->T, D = m->cfg.D, L = m->cfg.L, nodes = s->steps + 1, rc = -1;
    int G = method_item_block(s, m, T);
    long TD = (long)T * D, HTT = (long)m->cfg.NH * T * T;
    AttrCtx c;
    RowMeta rm;
    const char *err = NULL;
    if (attr_ctx_init(&c, m, s, ex, 1, &err))
        return -1;
    if (rowmeta_init(&rm, ex, 2 * G))
        return -1;
    for (int r = 0; r < 2 * G; r++)
        rowmeta_set(&rm, r, c.pos_in);
    double *alpha = malloc(nodes * sizeof(double)), *w = malloc(nodes * sizeof(double));
    float *xs = malloc(G * TD * sizeof(float)), *g = malloc(G * TD * sizeof(float)), *F = malloc(G * sizeof(float));
    float *P = malloc(L * G * HTT * sizeof(float)), *DP = malloc(L * G * HTT * sizeof(float));
    float *pp = malloc(L * HTT * sizeof(float)), *pdp = malloc(L * HTT * sizeof(float));
    if (!alpha || !w || !xs || !g || !F || !P || !DP || !pp || !pdp)
        goto done;
    ig_nodes(RULE_GAUSSLEGENDRE, nodes, alpha, w);
    int have_prev = 0;
    for (int a = i0 / G * G; a < i1 + 1; a += G) {
        int B = nodes - a < G ? nodes - a : G;
        for (int r = 0; r < B; r++)
            for (long q = 0; q < TD; q++)
                xs[r * TD + q] = (float)(c.b[q] + alpha[a + r] * ((double)c.x[q] - c.b[q]));
        EngineBatch in = {.B = B, .T = T, .layer = s->layer, .x = xs, .pos_ids = rm.pos, .type_ids = rm.type,
                          .target = rm.target, .mlm_pos = rm.mlm, .output = s->output};
        EngineOutput out = {.F = F, .grad = g, .probs = P, .dprobs = DP};
        if (engine_run(e, &in, &out))
            goto done;
        for (int l = 0; l < L; l++) {
            const float *Pl = P + (size_t)l * B * HTT, *DPl = DP + (size_t)l * B * HTT;
            __int128 *al = acc + (size_t)l * HTT;
            if (have_prev && a - 1 >= i0 && a - 1 < i1 && acc_add(al, pdp + l * HTT, pp + l * HTT, Pl, HTT))
                goto done;
            for (int r = 0; r + 1 < B; r++)
                if (a + r >= i0 && a + r < i1 && acc_add(al, DPl + r * HTT, Pl + r * HTT, Pl + (r + 1) * HTT, HTT))
                    goto done;
            memcpy(pp + l * HTT, Pl + (B - 1) * HTT, HTT * sizeof(float));
            memcpy(pdp + l * HTT, DPl + (B - 1) * HTT, HTT * sizeof(float));
        }
        have_prev = 1;
    }
    rc = 0;
done:
    free(alpha);
    free(w);
    free(xs);
    free(g);
    free(F);
    free(P);
    free(DP);
    free(pp);
    free(pdp);
    rowmeta_free(&rm);
    attr_ctx_free(&c);
    return rc;
}

static void test_same_bits(void)
{
    enum { TT = 200 };
    Model *m = test_random_classifier_sized(ARCH_BERT, 256, 2, 41, 0.3f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    Engine *e = engine_create(m);
    Text t;
    text_init(&t, TT, 5);
    MethodSpec s;
    method_spec_default(&s, M_CONDUCTANCE);
    s.steps = 12;
    int G = method_item_block(&s, m, TT), n = method_items(&s);
    CU_ASSERT(G > 2 && G < s.steps); /* several blocks of several nodes */
    size_t HTT = (size_t)m->cfg.NH * TT * TT, cells = (size_t)m->cfg.L * HTT;
    /* chunks [i0, i1): all; and 0..4, 4..9, 9..12, which begin and end inside blocks */
    int cuts[][2] = {{0, n}, {0, 4}, {4, 9}, {9, n}};
    for (int mb = 0; mb < 2; mb++) {
        engine_set_microbatch_tokens(e, mb ? 2 * TT : 2048); /* one pass per block, or passes of 2 rows */
        int same = 1;
        for (int c = 0; c < 4; c++) {
            Partial *p = partial_new(&s, m, TT);
            __int128 *ref = calloc(cells, sizeof(__int128));
            const char *err = NULL;
            CU_ASSERT_PTR_NOT_NULL_FATAL(p);
            CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
            int rc = method_run_chunk(e, &s, &t.ex, cuts[c][0], cuts[c][1], p, &err);
            CU_ASSERT_EQUAL(rc, 0);
            CU_ASSERT_EQUAL(reference_attn(e, &s, &t.ex, cuts[c][0], cuts[c][1], ref), 0);
            int nz = 0;
            for (size_t q = 0; q < cells && !nz; q++)
                nz = ref[q] != 0;
            CU_ASSERT(nz); /* the comparison is not of two empty sums */
            int eq = rc == 0 && memcmp(p->acc_attn, ref, cells * sizeof(__int128)) == 0;
            CU_ASSERT(eq);
            same &= eq;
            partial_free(p);
            free(ref);
        }
        printf("\n  T %d, G %d, %s: streamed attention conductance vs the (L,G,H,T,T) taps: %s", TT, G,
               mb ? "passes of 2 rows" : "one pass per block", same ? "bitwise" : "DIFFERENT");
    }
    text_free(&t);
    engine_free(e);
    model_free(m);
}

enum { MEM_T = 2048, MEM_L = 4 };

/* The child (this program run again with --memory-child: OpenBLAS's threads do not survive a
 * bare fork): prints the peak RSS in bytes one conductance chunk of all items adds over the
 * touched partial, T = MEM_T, MEM_L layers. */
/* Frees everything memory_child made (the sanitizer build's leak check runs on it too). */
static int memory_child_done(int rc, Partial *p, Engine *e, Model *m, Text *t)
{
    partial_free(p);
    engine_free(e);
    model_free(m);
    text_free(t);
    return rc;
}

static int memory_child(void)
{
    Model *m = test_random_classifier_sized(ARCH_BERT, MEM_T, MEM_L, 43, 0.3f);
    Text t;
    text_init(&t, MEM_T, 9);
    MethodSpec s;
    method_spec_default(&s, M_CONDUCTANCE);
    s.steps = 2;
    Engine *e = m ? engine_create(m) : NULL;
    Partial *p = e ? partial_new(&s, m, MEM_T) : NULL;
    if (!p)
        return memory_child_done(1, p, e, m, &t);
    engine_set_activation_budget(e, 1); /* one layer's tensors per pass, as at long T */
    memset(p->acc_attn, 0, (size_t)MEM_L * m->cfg.NH * MEM_T * MEM_T * sizeof(__int128)); /* resident */
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    const char *err = NULL;
    if (method_run_chunk(e, &s, &t.ex, 0, method_items(&s), p, &err)) {
        fprintf(stderr, "conductance at long T: %s\n", err ? err : "failed");
        return memory_child_done(1, p, e, m, &t);
    }
    getrusage(RUSAGE_SELF, &r1);
    printf("%ld\n", (r1.ru_maxrss - r0.ru_maxrss) * 1024L);
    return memory_child_done(0, p, e, m, &t);
}

static long chunk_peak(void)
{
    char cmd[4200], self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = 0;
    snprintf(cmd, sizeof cmd, "'%s' --memory-child", self);
    FILE *f = popen(cmd, "r");
    long v = -1;
    if (!f)
        return -1;
    if (fscanf(f, "%ld", &v) != 1)
        v = -1;
    return pclose(f) == 0 ? v : -1;
}

static void test_memory_long(void)
{
    enum { TT = MEM_T, LL = MEM_L };
    Model *m = test_random_classifier_sized(ARCH_BERT, TT, LL, 43, 0.3f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    MethodSpec s;
    method_spec_default(&s, M_CONDUCTANCE);
    s.steps = 2;
    int G = method_item_block(&s, m, TT);
    double layer = (double)m->cfg.NH * TT * TT * 4, prev = 2.0 * LL * layer, taps = 2.0 * LL * G * layer;
    long peak = chunk_peak();
    CU_ASSERT(peak > 0);
    printf("\n  T %d, L %d, H %d, G %d: a chunk adds %.0f MiB peak RSS; each layer's last node %.0f MiB, "
           "the old taps %.0f MiB more, one layer's attention %.0f MiB",
           TT, LL, m->cfg.NH, G, peak / 1048576.0, prev / 1048576.0, taps / 1048576.0, layer / 1048576.0);
#ifdef __SANITIZE_ADDRESS__
    /* AddressSanitizer's quarantine and redzones hold freed and extra memory, so RSS says nothing
     * about the algorithm there; the child still runs for the leak and error checks. */
    printf(" (bound not checked under AddressSanitizer)");
#else
    CU_ASSERT(peak > 0 && peak < prev + taps / 2);
#endif
    model_free(m);
}

typedef struct {
    int calls, next_layer, stop_at, rows_ok, NH, T, L;
    const float *P, *DP; /* the taps of the same run */
    int B, same;
} SinkLog;

static int log_sink(void *ctx, int l, int b0, int Bm, const float *P, const float *DP)
{
    SinkLog *g = ctx;
    size_t HTT = (size_t)g->NH * g->T * g->T;
    g->rows_ok &= l == g->next_layer;
    g->next_layer = l ? l - 1 : g->L - 1;
    for (size_t i = 0; i < (size_t)Bm * g->NH * g->T; i++) {
        double sum = 0;
        for (int j = 0; j < g->T; j++)
            sum += P[i * g->T + j];
        g->rows_ok &= sum > 0.999 && sum < 1.001;
    }
    if (g->DP)
        g->same &= !memcmp(DP, g->DP + ((size_t)l * g->B + b0) * HTT, (size_t)Bm * HTT * sizeof(float)) &&
                   !memcmp(P, g->P + ((size_t)l * g->B + b0) * HTT, (size_t)Bm * HTT * sizeof(float));
    return ++g->calls == g->stop_at;
}

static void test_sink_contract(void)
{
    enum { TT = 24, B = 5 };
    Model *m = test_random_classifier_sized(ARCH_BERT, 64, 3, 47, 0.3f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    Engine *e = engine_create(m);
    engine_set_microbatch_tokens(e, 2 * TT); /* passes of 2, 2, 1 rows */
    int L = m->cfg.L, NH = m->cfg.NH, D = m->cfg.D;
    size_t HTT = (size_t)NH * TT * TT;
    float *x = malloc(sizeof(float) * B * TT * D), *g = malloc(sizeof(float) * B * TT * D), F[B];
    float *P = malloc(sizeof(float) * L * B * HTT), *DP = malloc(sizeof(float) * L * B * HTT);
    int pos[B * TT], tgt[B];
    srand(3);
    for (int i = 0; i < B * TT * D; i++)
        x[i] = (float)rand() / RAND_MAX - 0.5f;
    for (int i = 0; i < B * TT; i++)
        pos[i] = i % TT;
    for (int b = 0; b < B; b++)
        tgt[b] = b % 3;
    EngineBatch in = {.B = B, .T = TT, .layer = AT_WORD_EMB, .x = x, .pos_ids = pos, .target = tgt};
    EngineOutput taps = {.F = F, .grad = g, .probs = P, .dprobs = DP};
    CU_ASSERT_EQUAL_FATAL(engine_run(e, &in, &taps), 0);
    SinkLog lg = {.next_layer = L - 1, .rows_ok = 1, .NH = NH, .T = TT, .L = L, .P = P, .DP = DP, .B = B, .same = 1};
    EngineOutput out = {.F = F, .grad = g, .grad_sink = log_sink, .attn_ctx = &lg};
    CU_ASSERT_EQUAL(engine_run(e, &in, &out), 0);
    CU_ASSERT_EQUAL(lg.calls, 3 * L); /* three passes */
    CU_ASSERT(lg.rows_ok);
    CU_ASSERT(lg.same);
    SinkLog st = {.next_layer = L - 1, .rows_ok = 1, .NH = NH, .T = TT, .L = L, .stop_at = 4, .same = 1};
    out.attn_ctx = &st;
    CU_ASSERT_EQUAL(engine_run(e, &in, &out), -1);
    CU_ASSERT(strstr(engine_error(e), "gradient sink stopped at layer") != NULL);
    CU_ASSERT_EQUAL(st.calls, 4);
    out.grad = NULL;
    CU_ASSERT_EQUAL(engine_run(e, &in, &out), -1);
    CU_ASSERT(strstr(engine_error(e), "grad_sink needs out->grad") != NULL);
    free(x);
    free(g);
    free(P);
    free(DP);
    engine_free(e);
    model_free(m);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--memory-child"))
        return memory_child();
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("conductance_stream", NULL, NULL);
    CU_add_test(s, "streamed attention conductance is the full-tensor bits", test_same_bits);
    CU_add_test(s, "the gradient sink's order, values and errors", test_sink_contract);
    CU_add_test(s, "memory at T = 2048 below the taps of every layer", test_memory_long);
    return test_run_registry();
}
