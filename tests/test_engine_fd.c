/* The engine's backward against central finite differences of its own forward, on
 * small random models (D 16, L 2, NH 2, FF 32) of each family, head, activation and
 * output kind (logit, prob, logprob), with padding; plus logprob's forward, the conductance
 * taps, DeepLIFT Rescale mode, micro-batch invariance, input validation and the vectorised
 * exp/erf.
 *
 * Finite-difference tolerance: F is computed in float, so each F carries a rounding
 * noise of ~1e-7·|F| (times the depth of the network, ~1e-6 absolute here); a central
 * difference with step h divides that by 2h (h = 1e-2: ~5e-5 absolute) and adds a
 * truncation error h²/6·F''' (~1e-5 with the weights of scale 0.3 used here). Gradients
 * are O(0.1..1), so a correct backward lands around 1e-4 of max|grad|; a wrong term
 * (missed residual, transposed product, wrong mask) is O(1) off. We require 2e-3. */
#include "engine/engine.h"
#include "engine/backend_cpu.h"
#include "tests/testutil.h"
#include <CUnit/Basic.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FD_TOL 2e-3
#define FD_STEP 1e-2

static ModelConfig small_cfg(ModelArch arch, ModelHead head, Activation act)
{
    ModelConfig c;
    memset(&c, 0, sizeof c);
    c.arch = arch;
    c.head = head;
    c.V = 40;
    c.P = 24;
    c.TV = arch == ARCH_BERT ? 2 : 1;
    c.D = 16;
    c.L = 2;
    c.NH = 2;
    c.FF = 32;
    c.C = head == HEAD_MLM ? c.V : 3;
    c.act = act;
    c.head_act = head == HEAD_MLM ? ACT_GELU : arch == ARCH_DISTILBERT ? ACT_RELU : ACT_TANH;
    c.ln_eps = 1e-5f;
    c.pad_id = arch == ARCH_ROBERTA ? 1 : 0;
    c.position_offset = arch == ARCH_ROBERTA ? 2 : 0;
    snprintf(c.model_type, sizeof c.model_type, "%s",
             arch == ARCH_BERT ? "bert" : arch == ARCH_ROBERTA ? "roberta" : "distilbert");
    return c;
}

/* A batch of B rows × T tokens with its own storage: row 1 (when B > 1) ends in two
 * padding tokens (pad id, mask 0), type ids alternate on BERT. */
typedef struct {
    EngineBatch in;
    int *ids, *pos, *type, *mask, *target, *mlm_pos;
    float *x;
} TestBatch;

static uint64_t rng_state = 12345;
static unsigned rnd(unsigned n)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)(rng_state >> 33) % n;
}
static float rndf(void) { return (float)rnd(1u << 20) / (float)(1u << 20) * 2.0f - 1.0f; }

static void batch_make(TestBatch *tb, const Model *m, int B, int T, AttrLayer layer, OutputKind output)
{
    const ModelConfig *c = &m->cfg;
    size_t BT = (size_t)B * T;
    memset(tb, 0, sizeof *tb);
    tb->ids = malloc(BT * sizeof(int));
    tb->pos = malloc(BT * sizeof(int));
    tb->type = malloc(BT * sizeof(int));
    tb->mask = malloc(BT * sizeof(int));
    tb->target = malloc((size_t)B * sizeof(int));
    tb->mlm_pos = malloc((size_t)B * sizeof(int));
    tb->x = malloc(BT * c->D * sizeof(float));
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            size_t i = (size_t)b * T + t;
            int padded = b == 1 && t >= T - 2;
            tb->ids[i] = padded ? c->pad_id : 3 + (int)rnd((unsigned)c->V - 3);
            tb->mask[i] = !padded;
            tb->type[i] = c->arch == ARCH_BERT ? (t >= T / 2) : 0;
        }
        engine_position_ids(m, tb->ids + (size_t)b * T, T, tb->pos + (size_t)b * T);
        tb->target[b] = (int)rnd((unsigned)c->C);
        tb->mlm_pos[b] = 1 + (int)rnd((unsigned)(T - 3));
        int rc = engine_layer_values(m, layer, tb->ids + (size_t)b * T, tb->pos + (size_t)b * T,
                                     tb->type + (size_t)b * T, T, tb->x + (size_t)b * T * c->D);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
    }
    /* Off the embedding rows a little, so rows are not all of one lookup table. */
    for (size_t i = 0; i < BT * c->D; i++)
        tb->x[i] += 0.05f * rndf();
    EngineBatch *in = &tb->in;
    in->B = B;
    in->T = T;
    in->layer = layer;
    in->x = tb->x;
    in->pos_ids = tb->pos;
    in->type_ids = tb->type;
    in->mask = tb->mask;
    in->target = tb->target;
    in->mlm_pos = tb->mlm_pos;
    in->output = output;
}

static void batch_free(TestBatch *tb)
{
    free(tb->ids);
    free(tb->pos);
    free(tb->type);
    free(tb->mask);
    free(tb->target);
    free(tb->mlm_pos);
    free(tb->x);
}

/* max |grad - FD| / max |grad| over every element of every row. */
static double fd_rel_err(Engine *e, TestBatch *tb, double *gmax_out)
{
    const EngineBatch *in = &tb->in;
    int B = in->B, T = in->T, D = engine_model(e)->cfg.D;
    size_t n = (size_t)B * T * D;
    float *grad = malloc(n * sizeof(float)), *F = malloc((size_t)B * sizeof(float));
    float *Fp = malloc((size_t)B * sizeof(float)), *Fm = malloc((size_t)B * sizeof(float));
    EngineOutput out = {.F = F, .grad = grad};
    CU_ASSERT_EQUAL_FATAL(engine_run(e, in, &out), 0);
    double gmax = 0, err = 0;
    for (size_t i = 0; i < n; i++)
        gmax = fmax(gmax, fabs(grad[i]));
    EngineOutput o2 = {0};
    for (size_t i = 0; i < n; i++) {
        int b = (int)(i / ((size_t)T * D));
        float x0 = tb->x[i];
        /* Two steps: a ReLU kink within h spoils the larger, float noise the smaller;
         * a correct gradient matches at least one, a wrong one neither. */
        double e_i = INFINITY;
        for (int k = 0; k < 2; k++) {
            float h = (float)(k == 0 ? FD_STEP : FD_STEP / 10);
            float xp = x0 + h, xm = x0 - h;
            tb->x[i] = xp;
            o2.F = Fp;
            CU_ASSERT_EQUAL_FATAL(engine_run(e, in, &o2), 0);
            tb->x[i] = xm;
            o2.F = Fm;
            CU_ASSERT_EQUAL_FATAL(engine_run(e, in, &o2), 0);
            tb->x[i] = x0;
            double fd = ((double)Fp[b] - Fm[b]) / ((double)xp - xm);
            e_i = fmin(e_i, fabs(fd - grad[i]));
        }
        err = fmax(err, e_i);
    }
    free(grad);
    free(F);
    free(Fp);
    free(Fm);
    *gmax_out = gmax;
    return err / gmax;
}

/* Decoder families: a small random GPT-2 (learned positions, LayerNorm) or Llama-family model
 * (RMSNorm, RoPE, SwiGLU) with a causal-LM or score head; nkv < NH is GQA, hs != D/NH a
 * separate head_dim; qkv_bias Qwen2's biases; window Mistral's sliding window. */
typedef struct {
    ModelArch arch;
    ModelHead head;
    Activation act;
    int nkv, hs, qkv_bias, untied, window;
    RopeScaling rope;
} DecCase;

static ModelConfig dec_cfg(const DecCase *d)
{
    ModelConfig c;
    memset(&c, 0, sizeof c);
    c.arch = d->arch;
    c.head = d->head;
    c.V = 40;
    c.P = 24;
    c.D = 16;
    c.L = 2;
    c.NH = 2;
    c.NKV = d->nkv;
    c.hs = d->hs;
    c.FF = 24;
    c.C = d->head == HEAD_LM ? c.V : 3;
    c.act = d->act;
    c.ln_eps = 1e-5f;
    c.pad_id = 0;
    c.qkv_bias = d->qkv_bias;
    c.untied = d->untied;
    c.window = d->window;
    c.rope_scaling = d->rope;
    c.rope_theta = 10000.0f;
    c.rope_factor = 8.0f;
    c.rope_low_freq = 1.0f;
    c.rope_high_freq = 4.0f;
    c.rope_orig_P = 8;
    snprintf(c.model_type, sizeof c.model_type, "%s", d->arch == ARCH_GPT2 ? "gpt2" : "llama");
    return c;
}

/* A small random model: an encoder (small_cfg of arch, head, act) or, with dec set, a decoder
 * (dec_cfg of *dec), with model_random's weights of scale 0.3 from seed. */
typedef struct {
    const char *name;
    ModelArch arch;
    ModelHead head;
    Activation act;
    const DecCase *dec;
    unsigned long long seed;
} ModelSpec;

static Model *spec_model(const ModelSpec *sp)
{
    ModelConfig c = sp->dec ? dec_cfg(sp->dec) : small_cfg(sp->arch, sp->head, sp->act);
    return model_random(&c, sp->seed, 0.3f);
}

/* fn(name, model) on each of the n models, each freed afterwards. */
static void on_models(void (*fn)(const char *, Model *), const ModelSpec *sp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        Model *m = spec_model(&sp[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(m);
        fn(sp[i].name, m);
        model_free(m);
    }
}

/* One finite-difference case: the model, the attribution layer and the output kind. */
typedef struct {
    ModelSpec m;
    AttrLayer layer;
    OutputKind output;
} FdCase;

static void fd_case(const FdCase *k)
{
    Model *m = spec_model(&k->m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    Engine *e = engine_create(m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    TestBatch tb;
    batch_make(&tb, m, 2, 7, k->layer, k->output);
    double gmax, err = fd_rel_err(e, &tb, &gmax);
    int ok = gmax > 1e-4 && err <= FD_TOL; /* a vanishing gradient would make the check empty */
    printf("\n  %-44s max|grad| %.3e  FD rel err %.2e%s", k->m.name, gmax, err, ok ? "" : "  FAILED");
    CU_ASSERT(gmax > 1e-4);
    CU_ASSERT(err <= FD_TOL);
    batch_free(&tb);
    engine_free(e);
    model_free(m);
}

static const DecCase GPT2_LM = {ARCH_GPT2, HEAD_LM, ACT_GELU_TANH, 0, 0, 0, 0, 0, ROPE_DEFAULT},
                     GPT2_SCORE = {ARCH_GPT2, HEAD_SCORE, ACT_GELU_TANH, 0, 0, 0, 0, 0, ROPE_DEFAULT},
                     LLAMA_GQA = {ARCH_LLAMA, HEAD_LM, ACT_SILU, 1, 12, 0, 1, 0, ROPE_DEFAULT},
                     QWEN2_BIAS = {ARCH_LLAMA, HEAD_LM, ACT_SILU, 1, 0, 1, 0, 0, ROPE_LINEAR},
                     MISTRAL_WINDOW = {ARCH_LLAMA, HEAD_LM, ACT_SILU, 2, 0, 0, 1, 3, ROPE_DEFAULT},
                     LLAMA_SCORE = {ARCH_LLAMA, HEAD_SCORE, ACT_SILU, 1, 0, 0, 0, 0, ROPE_LLAMA3},
                     QWEN2_GQA = {ARCH_LLAMA, HEAD_LM, ACT_SILU, 1, 12, 1, 0, 0, ROPE_DEFAULT},
                     LLAMA_SCORE_LINEAR = {ARCH_LLAMA, HEAD_SCORE, ACT_SILU, 1, 0, 0, 0, 0, ROPE_LINEAR};

static const FdCase FD_CASES[] = {
    {{"bert cls gelu logit word_emb", ARCH_BERT, HEAD_CLASSIFIER, ACT_GELU, NULL, 1}, AT_WORD_EMB, OUT_LOGIT},
    {{"bert cls gelu_tanh prob word_emb", ARCH_BERT, HEAD_CLASSIFIER, ACT_GELU_TANH, NULL, 2}, AT_WORD_EMB, OUT_PROB},
    {{"bert cls gelu prob embeddings", ARCH_BERT, HEAD_CLASSIFIER, ACT_GELU, NULL, 3}, AT_EMBEDDINGS, OUT_PROB},
    {{"roberta cls gelu logit word_emb", ARCH_ROBERTA, HEAD_CLASSIFIER, ACT_GELU, NULL, 4}, AT_WORD_EMB, OUT_LOGIT},
    {{"distilbert cls relu prob word_emb", ARCH_DISTILBERT, HEAD_CLASSIFIER, ACT_RELU, NULL, 5}, AT_WORD_EMB, OUT_PROB},
    {{"bert mlm gelu logit word_emb", ARCH_BERT, HEAD_MLM, ACT_GELU, NULL, 6}, AT_WORD_EMB, OUT_LOGIT},
    {{"roberta mlm gelu_tanh prob word_emb", ARCH_ROBERTA, HEAD_MLM, ACT_GELU_TANH, NULL, 7}, AT_WORD_EMB, OUT_PROB},
    {{"distilbert mlm relu logit embeddings", ARCH_DISTILBERT, HEAD_MLM, ACT_RELU, NULL, 8}, AT_EMBEDDINGS, OUT_LOGIT},
    {{"gpt2 lm gelu_new logit word_emb", 0, 0, 0, &GPT2_LM, 31}, AT_WORD_EMB, OUT_LOGIT},
    {{"gpt2 score prob embeddings", 0, 0, 0, &GPT2_SCORE, 32}, AT_EMBEDDINGS, OUT_PROB},
    {{"llama lm GQA head_dim 12 untied logit", 0, 0, 0, &LLAMA_GQA, 33}, AT_WORD_EMB, OUT_LOGIT},
    {{"qwen2-like lm qkv bias tied linear-rope prob", 0, 0, 0, &QWEN2_BIAS, 34}, AT_WORD_EMB, OUT_PROB},
    {{"mistral-like lm sliding window 3 logit", 0, 0, 0, &MISTRAL_WINDOW, 35}, AT_WORD_EMB, OUT_LOGIT},
    {{"llama score llama3-rope GQA logit", 0, 0, 0, &LLAMA_SCORE, 36}, AT_WORD_EMB, OUT_LOGIT},
    {{"bert cls gelu logprob word_emb", ARCH_BERT, HEAD_CLASSIFIER, ACT_GELU, NULL, 21}, AT_WORD_EMB, OUT_LOGPROB},
    {{"roberta cls gelu_tanh logprob embeddings", ARCH_ROBERTA, HEAD_CLASSIFIER, ACT_GELU_TANH, NULL, 22},
     AT_EMBEDDINGS, OUT_LOGPROB},
    {{"distilbert mlm relu logprob word_emb", ARCH_DISTILBERT, HEAD_MLM, ACT_RELU, NULL, 23}, AT_WORD_EMB, OUT_LOGPROB},
    {{"gpt2 lm gelu_new logprob embeddings", 0, 0, 0, &GPT2_LM, 37}, AT_EMBEDDINGS, OUT_LOGPROB},
    {{"qwen2-like lm GQA head_dim 12 tied logprob", 0, 0, 0, &QWEN2_GQA, 38}, AT_WORD_EMB, OUT_LOGPROB},
    {{"llama score GQA logprob", 0, 0, 0, &LLAMA_SCORE_LINEAR, 39}, AT_WORD_EMB, OUT_LOGPROB},
};

/* Encoders (BERT, RoBERTa, DistilBERT; classifier and MLM heads) and decoders (GPT-2, Llama with
 * GQA and head_dim, Qwen2's biases, Mistral's window, score heads, RoPE scalings), each output kind. */
static void test_fd_cases(void)
{
    for (size_t i = 0; i < sizeof FD_CASES / sizeof *FD_CASES; i++)
        fd_case(&FD_CASES[i]);
}

/* OUT_LOGPROB's forward. (1) On each head (padding in row 1), F(logprob) = log F(prob) of the
 * same rows and = z_t − logsumexp(z) of the logits the run returns, computed here in double,
 * both to 1e-6; the logits are the same bits as the logit run's. (2) The softmax's logsumexp
 * on logits 3000 apart, where every probability but the largest underflows to 0 and log p
 * would be −inf: log p stays finite and exact. */
static void logprob_case(const char *name, Model *m)
{
    const ModelConfig *c = &m->cfg;
    int B = 2, T = 7, C = c->C;
    TestBatch tb;
    batch_make(&tb, m, B, T, AT_WORD_EMB, OUT_LOGIT);
    Engine *e = engine_create(m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    float F[3][2], *lg[3];
    for (int k = 0; k < 3; k++) {
        lg[k] = malloc((size_t)B * C * sizeof(float));
        tb.in.output = k == 0 ? OUT_LOGIT : k == 1 ? OUT_PROB : OUT_LOGPROB;
        EngineOutput out = {.F = F[k], .logits = lg[k]};
        CU_ASSERT_EQUAL_FATAL(engine_run(e, &tb.in, &out), 0);
    }
    double e_prob = 0, e_lse = 0;
    for (int b = 0; b < B; b++) {
        const float *z = lg[2] + (size_t)b * C;
        double mx = z[0], s = 0;
        for (int j = 1; j < C; j++)
            mx = fmax(mx, z[j]);
        for (int j = 0; j < C; j++)
            s += exp((double)z[j] - mx);
        double want = (double)z[tb.target[b]] - mx - log(s);
        e_lse = fmax(e_lse, fabs(F[2][b] - want));
        e_prob = fmax(e_prob, fabs(F[2][b] - log((double)F[1][b])));
        CU_ASSERT(F[2][b] < 0.0f);
        CU_ASSERT_EQUAL(F[0][b], z[tb.target[b]]);
    }
    printf("\n  %-28s logprob vs log(prob) %.1e, vs z_t - logsumexp(z) %.1e", name, e_prob, e_lse);
    CU_ASSERT(e_prob <= 1e-6);
    CU_ASSERT(e_lse <= 1e-6);
    for (int k = 1; k < 3; k++)
        CU_ASSERT_EQUAL(memcmp(lg[0], lg[k], (size_t)B * C * sizeof(float)), 0);
    for (int k = 0; k < 3; k++)
        free(lg[k]);
    batch_free(&tb);
    engine_free(e);
}

static void test_logprob_forward(void)
{
    static const DecCase gpt2 = {ARCH_GPT2, HEAD_LM, ACT_GELU_TANH, 0, 0, 0, 0, 0, ROPE_DEFAULT},
                         llama = {ARCH_LLAMA, HEAD_SCORE, ACT_SILU, 1, 0, 1, 0, 0, ROPE_DEFAULT};
    static const ModelSpec models[] = {
        {"bert classifier", ARCH_BERT, HEAD_CLASSIFIER, ACT_GELU, NULL, 61},
        {"roberta mlm", ARCH_ROBERTA, HEAD_MLM, ACT_GELU, NULL, 62},
        {"gpt2 causal lm", 0, 0, 0, &gpt2, 63},
        {"llama score", 0, 0, 0, &llama, 64},
    };
    on_models(logprob_case, models, sizeof models / sizeof *models);

    float z[4] = {-1000.0f, 2000.0f, 0.5f, 2000.0f}, p[4];
    double lse = softmax_forward(p, z, 4);
    CU_ASSERT_EQUAL(p[0], 0.0f);
    CU_ASSERT_EQUAL(p[2], 0.0f);
    CU_ASSERT_DOUBLE_EQUAL(lse, 2000.0 + log(2.0), 1e-9);
    CU_ASSERT_DOUBLE_EQUAL((double)z[0] - lse, -3000.0 - log(2.0), 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(p[1], 0.5, 1e-7);
}

/* Forward semantics the FD checks cannot see: the causal + sliding-window mask (P[q][k] = 0
 * unless q - window < k <= q, rows sum to 1), and linear RoPE scaling: factor 2 at positions
 * 0, 2, 4, ... is exactly the default RoPE at 0, 1, 2, ... (inv_freq/2 · 2p = inv_freq · p in
 * float32, both products exact scalings by 2), so F and the attention agree bit for bit. */
static void test_decoder_masks_and_rope_scaling(void)
{
    DecCase d = {ARCH_LLAMA, HEAD_LM, ACT_SILU, 1, 0, 0, 0, 3, ROPE_DEFAULT};
    ModelConfig c = dec_cfg(&d);
    Model *m = model_random(&c, 41, 0.3f);
    Engine *e = engine_create(m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    int T = 8, L = c.L, NH = c.NH;
    TestBatch tb;
    batch_make(&tb, m, 1, T, AT_WORD_EMB, OUT_LOGIT);
    float F, *attn = malloc((size_t)L * NH * T * T * sizeof(float));
    EngineOutput out = {.F = &F, .attn = attn};
    CU_ASSERT_EQUAL_FATAL(engine_run(e, &tb.in, &out), 0);
    int bad = 0;
    for (int lh = 0; lh < L * NH; lh++)
        for (int q = 0; q < T; q++) {
            double sum = 0;
            for (int k = 0; k < T; k++) {
                float p = attn[((size_t)lh * T + q) * T + k];
                sum += p;
                bad += (k > q || k <= q - 3) ? p != 0.0f : !(p > 0.0f);
            }
            bad += fabs(sum - 1.0) > 1e-5;
        }
    CU_ASSERT_EQUAL(bad, 0);
    engine_free(e);
    model_free(m);

    /* linear factor 2 at even positions == default at their halves */
    d.window = 0;
    float Fs[2], *att2 = malloc((size_t)L * NH * T * T * sizeof(float));
    for (int k = 0; k < 2; k++) {
        d.rope = k ? ROPE_LINEAR : ROPE_DEFAULT;
        c = dec_cfg(&d);
        c.rope_factor = 2.0f;
        m = model_random(&c, 42, 0.3f);
        e = engine_create(m);
        for (int t = 0; t < T; t++)
            tb.pos[t] = k ? 2 * t : t;
        EngineOutput o = {.F = &Fs[k], .attn = k ? att2 : attn};
        CU_ASSERT_EQUAL_FATAL(engine_run(e, &tb.in, &o), 0);
        engine_free(e);
        model_free(m);
    }
    CU_ASSERT_EQUAL(Fs[0], Fs[1]);
    CU_ASSERT_EQUAL(memcmp(attn, att2, (size_t)L * NH * T * T * sizeof(float)), 0);
    free(attn);
    free(att2);
    batch_free(&tb);
}

/* Recompute mode (activation budget exceeded): the backward re-runs each layer's forward;
 * F, the gradient and every tap must be the same bits as with all layers kept; and after
 * engine_release_arena the next run allocates again and gives the same bits. */
static void recompute_case(const char *name, Model *m)
{
    const ModelConfig *c = &m->cfg;
    int B = 2, T = 7, L = c->L, NH = c->NH, D = c->D;
    TestBatch tb;
    batch_make(&tb, m, B, T, AT_WORD_EMB, OUT_PROB);
    size_t nh = (size_t)L * B * T * D, np = (size_t)L * B * NH * T * T, ng = (size_t)B * T * D;
    float *buf[2][6];
    for (int k = 0; k < 2; k++) {
        Engine *e = engine_create(m);
        engine_set_activation_budget(e, k ? 1 : 0);
        float **o = buf[k];
        o[0] = malloc(B * sizeof(float));
        o[1] = malloc(ng * sizeof(float));
        o[2] = malloc(nh * sizeof(float));
        o[3] = malloc(nh * sizeof(float));
        o[4] = malloc(np * sizeof(float));
        o[5] = malloc(np * sizeof(float));
        EngineOutput out = {.F = o[0], .grad = o[1], .hidden = o[2], .dhidden = o[3], .probs = o[4], .dprobs = o[5]};
        CU_ASSERT_EQUAL_FATAL(engine_run(e, &tb.in, &out), 0);
        engine_free(e);
    }
    size_t n[6] = {(size_t)B, ng, nh, nh, np, np};
    int same = 1;
    for (int i = 0; i < 6; i++) {
        same &= memcmp(buf[0][i], buf[1][i], n[i] * sizeof(float)) == 0;
        free(buf[0][i]);
        free(buf[1][i]);
    }
    printf("\n  recompute == keep-all (%s): %s", name, same ? "bitwise" : "DIFFERENT");
    CU_ASSERT(same);
    /* engine_release_arena between two runs: the second allocates again, same bits */
    Engine *e = engine_create(m);
    float F2[2][2], *g2[2];
    for (int k = 0; k < 2; k++) {
        g2[k] = malloc(ng * sizeof(float));
        EngineOutput out = {.F = F2[k], .grad = g2[k]};
        CU_ASSERT_EQUAL_FATAL(engine_run(e, &tb.in, &out), 0);
        engine_release_arena(e);
    }
    CU_ASSERT(memcmp(F2[0], F2[1], sizeof F2[0]) == 0 && memcmp(g2[0], g2[1], ng * sizeof(float)) == 0);
    free(g2[0]);
    free(g2[1]);
    engine_free(e);
    batch_free(&tb);
}

static void test_recompute_mode(void)
{
    static const DecCase llama = {ARCH_LLAMA, HEAD_LM, ACT_SILU, 1, 12, 1, 1, 0, ROPE_DEFAULT},
                         gpt2 = {ARCH_GPT2, HEAD_SCORE, ACT_GELU_TANH, 0, 0, 0, 0, 0, ROPE_DEFAULT};
    static const ModelSpec models[] = {
        {"bert classifier", ARCH_BERT, HEAD_CLASSIFIER, ACT_GELU, NULL, 51},
        {"llama GQA lm", 0, 0, 0, &llama, 52},
        {"gpt2 score", 0, 0, 0, &gpt2, 53},
    };
    on_models(recompute_case, models, sizeof models / sizeof *models);
}

/* Attention sinks: what they receive equals out->attn bit for bit, for every row of every
 * micro-batch; attn_sink sees layers 0..L-1 and then attn_sink_rev L-1..0 per micro-batch; a
 * forward-only pass (which re-runs the layers for attn_sink_rev) and a pass with the backward
 * (kept or recomputing) give F and the gradient of a run without sinks, bit for bit; a sink that
 * fails stops engine_run with an error that says so. */
typedef struct {
    int L, NH, T, B, n_calls, fail_at;
    float *fwd, *rev; /* (B,L,NH,T,T) */
    int calls[64][4]; /* rev?, layer, b0, Bm */
} SinkLog;

static int sink_copy(SinkLog *s, float *dst, int rev, int layer, int b0, int Bm, const float *probs)
{
    size_t tt = (size_t)s->NH * s->T * s->T;
    if (s->n_calls < 64) {
        int *c = s->calls[s->n_calls];
        c[0] = rev, c[1] = layer, c[2] = b0, c[3] = Bm;
    }
    if (s->n_calls++ == s->fail_at)
        return 1;
    for (int b = 0; b < Bm; b++)
        memcpy(dst + ((size_t)(b0 + b) * s->L + layer) * tt, probs + (size_t)b * tt, tt * sizeof(float));
    return 0;
}
static int sink_fwd(void *ctx, int layer, int b0, int Bm, const float *probs)
{
    SinkLog *s = ctx;
    return sink_copy(s, s->fwd, 0, layer, b0, Bm, probs);
}
static int sink_rev(void *ctx, int layer, int b0, int Bm, const float *probs)
{
    SinkLog *s = ctx;
    return sink_copy(s, s->rev, 1, layer, b0, Bm, probs);
}

static void sinks_case(const char *name, Model *m)
{
    const ModelConfig *c = &m->cfg;
    int B = 3, T = 7, L = c->L, NH = c->NH, D = c->D;
    TestBatch tb;
    batch_make(&tb, m, B, T, AT_WORD_EMB, OUT_LOGIT);
    size_t np = (size_t)B * L * NH * T * T, ng = (size_t)B * T * D;
    float *attn = malloc(np * sizeof(float)), *g0 = malloc(ng * sizeof(float)), *g1 = malloc(ng * sizeof(float));
    SinkLog lg = {.L = L, .NH = NH, .T = T, .B = B, .fail_at = -1};
    lg.fwd = malloc(np * sizeof(float));
    lg.rev = malloc(np * sizeof(float));
    for (int mode = 0; mode < 3; mode++) { /* forward only; backward keeping every layer; recomputing */
        Engine *e = engine_create(m);
        engine_set_microbatch_tokens(e, 2 * T); /* passes of rows {0, 1} and {2} */
        engine_set_activation_budget(e, mode == 2 ? 1 : 0);
        float F0[3], F1[3];
        EngineOutput ref = {.F = F0, .attn = attn, .grad = mode ? g0 : NULL};
        CU_ASSERT_EQUAL_FATAL(engine_run(e, &tb.in, &ref), 0);
        memset(lg.fwd, 0xff, np * sizeof(float));
        memset(lg.rev, 0xff, np * sizeof(float));
        lg.n_calls = 0;
        EngineOutput out = {.F = F1, .grad = mode ? g1 : NULL, .attn_sink = sink_fwd, .attn_sink_rev = sink_rev,
                            .attn_ctx = &lg};
        CU_ASSERT_EQUAL_FATAL(engine_run(e, &tb.in, &out), 0);
        int same = !memcmp(lg.fwd, attn, np * sizeof(float)) && !memcmp(lg.rev, attn, np * sizeof(float)) &&
                   !memcmp(F0, F1, sizeof F0) && (!mode || !memcmp(g0, g1, ng * sizeof(float)));
        int order = lg.n_calls == 2 * 2 * L;
        for (int k = 0; order && k < lg.n_calls; k++) {
            int pass = k / (2 * L), i = k % (2 * L), rev = i >= L;
            int *cl = lg.calls[k];
            order &= cl[0] == rev && cl[1] == (rev ? 2 * L - 1 - i : i) && cl[2] == 2 * pass && cl[3] == (pass ? 1 : 2);
        }
        printf("\n  attention sinks (%s, %s): %s, call order %s", name,
               mode == 0 ? "forward only" : mode == 1 ? "backward" : "recomputing backward",
               same ? "bitwise out->attn, F, grad" : "DIFFERENT", order ? "ok" : "WRONG");
        CU_ASSERT(same);
        CU_ASSERT(order);
        lg.fail_at = 2 * L - 1; /* the first pass's last reverse call */
        lg.n_calls = 0;
        CU_ASSERT_EQUAL(engine_run(e, &tb.in, &out), -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(engine_error(e), "reverse attention sink stopped at layer 0"));
        lg.fail_at = 0;
        lg.n_calls = 0;
        CU_ASSERT_EQUAL(engine_run(e, &tb.in, &out), -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(engine_error(e), "attention sink stopped at layer 0"));
        lg.fail_at = -1;
        engine_free(e);
    }
    free(lg.fwd);
    free(lg.rev);
    free(attn);
    free(g0);
    free(g1);
    batch_free(&tb);
}

static void test_attn_sinks(void)
{
    static const DecCase llama = {ARCH_LLAMA, HEAD_LM, ACT_SILU, 1, 12, 1, 1, 0, ROPE_DEFAULT};
    static const ModelSpec models[] = {
        {"bert classifier, padding", ARCH_BERT, HEAD_CLASSIFIER, ACT_GELU, NULL, 61},
        {"llama GQA lm", 0, 0, 0, &llama, 62},
    };
    on_models(sinks_case, models, sizeof models / sizeof *models);
}

/* RoBERTa position ids: pad_id + 1 + running count of non-pad tokens; pads at pad_id. */
static void test_position_ids(void)
{
    ModelConfig c = small_cfg(ARCH_ROBERTA, HEAD_CLASSIFIER, ACT_GELU);
    Model *m = model_random(&c, 9, 0.1f);
    int ids[6] = {0, 7, 1, 9, 2, 1}, pos[6];
    engine_position_ids(m, ids, 6, pos);
    int want[6] = {2, 3, 1, 4, 5, 1};
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(pos[i], want[i]);
    model_free(m);
    c = small_cfg(ARCH_BERT, HEAD_CLASSIFIER, ACT_GELU);
    m = model_random(&c, 9, 0.1f);
    engine_position_ids(m, ids, 6, pos);
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(pos[i], i);
    model_free(m);
}

/* Conductance taps. dhidden: every path from x to F runs through each layer's output,
 * so to first order ΔF = Σ dhidden_l · Δhidden_l for every l. The perturbation (1e-3 per
 * element, random signs) is taken both ways (central), so the second-order remainder
 * cancels and what is left (third order, float noise ~1e-7) is ~1e-3 of ΔF; we allow 1e-2.
 * hidden of the last layer and probs must equal the attention output `attn`. */
static void test_taps(void)
{
    ModelConfig c = small_cfg(ARCH_BERT, HEAD_CLASSIFIER, ACT_GELU);
    Model *m = model_random(&c, 10, 0.3f);
    Engine *e = engine_create(m);
    int B = 2, T = 7, D = c.D, L = c.L, NH = c.NH;
    TestBatch tb;
    batch_make(&tb, m, B, T, AT_WORD_EMB, OUT_LOGIT);
    size_t nh = (size_t)L * B * T * D, np = (size_t)L * B * NH * T * T;
    float F0[2], F1[2], *grad = malloc((size_t)B * T * D * sizeof(float));
    float *h0 = malloc(nh * sizeof(float)), *dh0 = malloc(nh * sizeof(float)), *h1 = malloc(nh * sizeof(float));
    float *probs = malloc(np * sizeof(float)), *dprobs = malloc(np * sizeof(float)), *attn = malloc(np * sizeof(float));
    EngineOutput out = {.F = F0, .grad = grad, .hidden = h0, .dhidden = dh0, .probs = probs, .dprobs = dprobs,
                        .attn = attn};
    CU_ASSERT_EQUAL_FATAL(engine_run(e, &tb.in, &out), 0);
    float Fm1[2], *hm = malloc(nh * sizeof(float)), *dir = malloc((size_t)B * T * D * sizeof(float));
    float *x0 = malloc((size_t)B * T * D * sizeof(float));
    memcpy(x0, tb.x, (size_t)B * T * D * sizeof(float));
    for (size_t i = 0; i < (size_t)B * T * D; i++)
        dir[i] = rnd(2) ? 1e-3f : -1e-3f;
    for (size_t i = 0; i < (size_t)B * T * D; i++)
        tb.x[i] = x0[i] + dir[i];
    EngineOutput o1 = {.F = F1, .hidden = h1};
    CU_ASSERT_EQUAL_FATAL(engine_run(e, &tb.in, &o1), 0);
    for (size_t i = 0; i < (size_t)B * T * D; i++)
        tb.x[i] = x0[i] - dir[i];
    EngineOutput om = {.F = Fm1, .hidden = hm};
    CU_ASSERT_EQUAL_FATAL(engine_run(e, &tb.in, &om), 0);
    memcpy(tb.x, x0, (size_t)B * T * D * sizeof(float));
    for (int b = 0; b < B; b++) {
        double dF = (double)F1[b] - Fm1[b];
        for (int l = 0; l < L; l++) {
            double s = 0;
            size_t off = ((size_t)l * B + b) * T * D;
            for (size_t i = 0; i < (size_t)T * D; i++)
                s += (double)dh0[off + i] * ((double)h1[off + i] - hm[off + i]);
            printf("\n  row %d layer %d: dF %.6e  sum dhidden*dhidden %.6e", b, l, dF, s);
            CU_ASSERT(fabs(s - dF) <= 1e-2 * fabs(dF) + 1e-6);
        }
    }
    free(hm);
    free(dir);
    free(x0);
    /* probs (L,B,NH,T,T) vs attn (B,L,NH,T,T); padded keys get probability 0; dprobs of
     * padded keys are finite and the tap is not all zero. */
    double dpmax = 0;
    for (int l = 0; l < L; l++)
        for (int b = 0; b < B; b++)
            for (size_t i = 0; i < (size_t)NH * T * T; i++) {
                float p = probs[((size_t)l * B + b) * NH * T * T + i];
                CU_ASSERT_EQUAL(p, attn[((size_t)b * L + l) * NH * T * T + i]);
                int key = (int)(i % T);
                if (!tb.mask[(size_t)b * T + key])
                    CU_ASSERT_EQUAL(p, 0.0f);
                dpmax = fmax(dpmax, fabs(dprobs[((size_t)l * B + b) * NH * T * T + i]));
            }
    CU_ASSERT(dpmax > 0 && isfinite(dpmax));
    batch_free(&tb);
    free(grad);
    free(h0);
    free(dh0);
    free(h1);
    free(probs);
    free(dprobs);
    free(attn);
    engine_free(e);
    model_free(m);
}

/* Same results whether rows run one per pass or all together (micro-batching), for
 * every output and tap. GEMMs of other shapes may round differently: 1e-5 relative. */
static void test_microbatch_invariance(void)
{
    ModelConfig c = small_cfg(ARCH_ROBERTA, HEAD_MLM, ACT_GELU);
    Model *m = model_random(&c, 11, 0.3f);
    int B = 4, T = 6, D = c.D, L = c.L, NH = c.NH, C = c.C;
    TestBatch tb;
    batch_make(&tb, m, B, T, AT_WORD_EMB, OUT_PROB);
    size_t ng = (size_t)B * T * D, nh = (size_t)L * ng, np = (size_t)L * B * NH * T * T, nl = (size_t)B * C;
    size_t total = B + nl + ng + 2 * nh + 3 * np;
    float *r[2];
    for (int k = 0; k < 2; k++) {
        Engine *e = engine_create(m);
        engine_set_microbatch_tokens(e, k == 0 ? 1 : 4096); /* 1 token => one row per pass */
        float *p = r[k] = calloc(total, sizeof(float));
        EngineOutput out = {.F = p, .logits = p + B, .grad = p + B + nl, .hidden = p + B + nl + ng,
                            .dhidden = p + B + nl + ng + nh, .probs = p + B + nl + ng + 2 * nh,
                            .dprobs = p + B + nl + ng + 2 * nh + np, .attn = p + B + nl + ng + 2 * nh + 2 * np};
        CU_ASSERT_EQUAL_FATAL(engine_run(e, &tb.in, &out), 0);
        engine_free(e);
    }
    double mx = 0, err = 0;
    for (size_t i = 0; i < total; i++) {
        mx = fmax(mx, fabs(r[1][i]));
        err = fmax(err, fabs((double)r[0][i] - r[1][i]));
    }
    printf("\n  microbatch 1 row vs 4 rows: max diff %.2e (max value %.2e)", err, mx);
    CU_ASSERT(err <= 1e-5 * mx);
    free(r[0]);
    free(r[1]);
    batch_free(&tb);
    model_free(m);
}

/* DeepLIFT Rescale. (1) Pairs (x, x): every multiplier falls back to f'(x), so both rows
 * get the plain gradient of x. (2) Pairs (x, r) and (r, x) give swapped gradients (the
 * multiplier is symmetric), and they differ from the plain gradient. (3) Pair rows stay
 * together with a one-row micro-batch. */
static void test_rescale(void)
{
    ModelConfig c = small_cfg(ARCH_BERT, HEAD_CLASSIFIER, ACT_GELU);
    Model *m = model_random(&c, 12, 0.3f);
    Engine *e = engine_create(m);
    int T = 6, D = c.D;
    size_t n = (size_t)T * D;
    TestBatch tb;
    batch_make(&tb, m, 2, T, AT_WORD_EMB, OUT_LOGIT);
    for (int i = 0; i < T; i++) { /* unpadded rows, one target */
        tb.mask[T + i] = 1;
        tb.type[T + i] = tb.type[i];
        tb.pos[T + i] = tb.pos[i];
    }
    tb.target[1] = tb.target[0];
    float F[2], *g = malloc(2 * n * sizeof(float)), *g2 = malloc(2 * n * sizeof(float));
    float *xin = malloc(n * sizeof(float)), *xref = malloc(n * sizeof(float)), *plain = malloc(n * sizeof(float));
    memcpy(xin, tb.x, n * sizeof(float));
    memcpy(xref, tb.x + n, n * sizeof(float));
    EngineOutput out = {.F = F, .grad = g};
    /* plain gradient of x: rows (x, x) without rescale */
    memcpy(tb.x + n, xin, n * sizeof(float));
    CU_ASSERT_EQUAL_FATAL(engine_run(e, &tb.in, &out), 0);
    memcpy(plain, g, n * sizeof(float));
    tb.in.rescale = RESCALE_HEAD_ACT | RESCALE_FFN_ACT;
    CU_ASSERT_EQUAL_FATAL(engine_run(e, &tb.in, &out), 0);
    /* Not bitwise: the plain path may run an FMA-contracted vector clone of the same formula. */
    double same = 0, pm = 0;
    for (size_t i = 0; i < n; i++) {
        same = fmax(same, fmax(fabs((double)g[i] - plain[i]), fabs((double)g[n + i] - plain[i])));
        pm = fmax(pm, fabs(plain[i]));
    }
    printf("\n  rescale with r == x vs plain gradient: max diff %.2e (max|grad| %.2e)", same, pm);
    CU_ASSERT(same <= 1e-5 * pm);
    /* (x, r) then (r, x) */
    memcpy(tb.x + n, xref, n * sizeof(float));
    CU_ASSERT_EQUAL_FATAL(engine_run(e, &tb.in, &out), 0);
    memcpy(tb.x, xref, n * sizeof(float));
    memcpy(tb.x + n, xin, n * sizeof(float));
    engine_set_microbatch_tokens(e, 1);
    EngineOutput o2 = {.F = F, .grad = g2};
    CU_ASSERT_EQUAL_FATAL(engine_run(e, &tb.in, &o2), 0);
    double dmax = 0, gm = 0, swap = 0;
    for (size_t i = 0; i < n; i++) {
        swap = fmax(swap, fabs((double)g[i] - g2[n + i]));
        swap = fmax(swap, fabs((double)g[n + i] - g2[i]));
        dmax = fmax(dmax, fabs((double)g[i] - plain[i]));
        gm = fmax(gm, fabs(plain[i]));
    }
    printf("\n  rescale: swap diff %.2e, rescale vs plain %.2e (max|grad| %.2e)", swap, dmax, gm);
    CU_ASSERT(swap <= 1e-5 * gm);
    CU_ASSERT(dmax > 1e-3 * gm);
    batch_free(&tb);
    free(g);
    free(g2);
    free(xin);
    free(xref);
    free(plain);
    engine_free(e);
    model_free(m);
}

/* The Rescale multiplier itself, against (f(x)-f(r))/(x-r) in double (f'(x) where r == x). */
static void test_rescale_multiplier(void)
{
    enum { n = 64 };
    float x[n], r[n], dy[n], d0[n], d1[n];
    Activation acts[3] = {ACT_GELU, ACT_RELU, ACT_TANH};
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < n; i++) {
            x[i] = 3 * rndf();
            r[i] = i % 8 == 0 ? x[i] : 3 * rndf();
            dy[i] = 1.0f;
        }
        act_backward_rescale(d0, d1, dy, dy, x, r, n, acts[k]);
        for (int i = 0; i < n; i++) {
            double xd = x[i], rd = r[i], fx, fr, fp;
            switch (acts[k]) {
            case ACT_GELU:
                fx = 0.5 * xd * (1 + erf(xd / sqrt(2)));
                fr = 0.5 * rd * (1 + erf(rd / sqrt(2)));
                fp = 0.5 * (1 + erf(xd / sqrt(2))) + xd * exp(-0.5 * xd * xd) / sqrt(2 * M_PI);
                break;
            case ACT_RELU:
                fx = xd > 0 ? xd : 0;
                fr = rd > 0 ? rd : 0;
                fp = xd > 0;
                break;
            default:
                fx = tanh(xd);
                fr = tanh(rd);
                fp = 1 - tanh(xd) * tanh(xd);
            }
            double want = x[i] == r[i] ? fp : (fx - fr) / (xd - rd);
            CU_ASSERT(fabs(d0[i] - want) <= 1e-6 * fmax(1, fabs(want))); /* secant in double */
            CU_ASSERT_EQUAL(d0[i], d1[i]);
        }
    }
}

/* Vectorised exp and erf against double exp()/erf(), in ulps of the float result.
 * Bound stated in ops.h: 2 ulp (measured: erf 1.96, exp 1.21 over every third float). */
static void test_exp_erf_accuracy(void)
{
    /* The array versions are what the engine runs (possibly an AVX clone with FMA); the
     * scalar ones are checked on the same points. */
    enum { n = 2000000 };
    float *xe = malloc(n * sizeof(float)), *xx = malloc(n * sizeof(float));
    float *ye = malloc(n * sizeof(float)), *yx = malloc(n * sizeof(float));
    for (int i = 0; i < n; i++) {
        xe[i] = -6.0f + 12.0f * (float)i / n;
        xx[i] = -87.0f + 175.0f * (float)i / n;
    }
    ops_erf_array(ye, xe, n);
    ops_exp_array(yx, xx, n);
    double worst_erf = 0, worst_exp = 0;
    for (int i = 0; i < n; i++) {
        double ref = erf((double)xe[i]);
        float fr = (float)fabs(ref);
        if (fr >= 1e-30f) {
            double ulp = (double)nextafterf(fr, 2.0f) - fr;
            worst_erf = fmax(worst_erf, fabs(ye[i] - ref) / ulp);
            worst_erf = fmax(worst_erf, fabs(ops_erff(xe[i]) - ref) / ulp);
        }
        double re = exp((double)xx[i]);
        float fe = (float)re;
        double ulp = (double)nextafterf(fe, INFINITY) - fe;
        worst_exp = fmax(worst_exp, fabs(yx[i] - re) / ulp);
        worst_exp = fmax(worst_exp, fabs(ops_expf(xx[i]) - re) / ulp);
    }
    CU_ASSERT_EQUAL(ops_expf(-100.0f), 0.0f);
    CU_ASSERT_EQUAL(ops_erff(10.0f), 1.0f);
    CU_ASSERT_EQUAL(ops_erff(-10.0f), -1.0f);
    CU_ASSERT_EQUAL(ops_erff(0.0f), 0.0f);
    printf("\n  erf max %.3f ulp, exp max %.3f ulp", worst_erf, worst_exp);
    CU_ASSERT(worst_erf <= 2.0);
    CU_ASSERT(worst_exp <= 2.0);
    free(xe);
    free(xx);
    free(ye);
    free(yx);
}

/* Bad input: -1 and a message naming what is wrong; never a crash. */
static void test_errors(void)
{
    ModelConfig c = small_cfg(ARCH_BERT, HEAD_CLASSIFIER, ACT_GELU);
    Model *m = model_random(&c, 13, 0.3f);
    Engine *e = engine_create(m);
    TestBatch tb;
    batch_make(&tb, m, 2, 5, AT_WORD_EMB, OUT_LOGIT);
    float F[2], g[2 * 5 * 16], dh[2 * 2 * 5 * 16];
    EngineOutput out = {.F = F};
    struct { const char *what; const char *expect; } cases[] = {
        {"T0", "T = 0"}, {"TP", "max_position_embeddings"}, {"pos", "position id 24"},
        {"type", "token type id 2"}, {"target", "target 3"}, {"odd", "odd"}, {"dh", "dhidden"},
        {"mask", "mask value 2"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        EngineBatch in = tb.in;
        EngineOutput o = out;
        int save_pos = tb.pos[3], save_type = tb.type[4], save_tg = tb.target[1], save_mask = tb.mask[2];
        if (!strcmp(cases[k].what, "T0"))
            in.T = 0;
        else if (!strcmp(cases[k].what, "TP"))
            in.T = 25;
        else if (!strcmp(cases[k].what, "pos"))
            tb.pos[3] = 24;
        else if (!strcmp(cases[k].what, "type"))
            tb.type[4] = 2;
        else if (!strcmp(cases[k].what, "target"))
            tb.target[1] = 3;
        else if (!strcmp(cases[k].what, "odd")) {
            in.B = 1;
            in.rescale = RESCALE_FFN_ACT;
        } else if (!strcmp(cases[k].what, "dh"))
            o.dhidden = dh;
        else if (!strcmp(cases[k].what, "mask"))
            tb.mask[2] = 2;
        int rc = engine_run(e, &in, &o);
        CU_ASSERT_EQUAL(rc, -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(engine_error(e), cases[k].expect));
        printf("\n  %-6s -> %s", cases[k].what, engine_error(e));
        tb.pos[3] = save_pos;
        tb.type[4] = save_type;
        tb.target[1] = save_tg;
        tb.mask[2] = save_mask;
    }
    out.grad = g;
    CU_ASSERT_EQUAL(engine_run(e, &tb.in, &out), 0);
    CU_ASSERT_STRING_EQUAL(engine_error(e), "");
    int ids[3] = {2, 40, 3}, pos[3] = {0, 1, 2};
    float x[3 * 16];
    CU_ASSERT_EQUAL(engine_layer_values(m, AT_WORD_EMB, ids, pos, NULL, 3, x), -1);
    ids[1] = 39;
    CU_ASSERT_EQUAL(engine_layer_values(m, AT_WORD_EMB, ids, pos, NULL, 3, x), 0);
    batch_free(&tb);
    engine_free(e);
    model_free(m);
}

/* FLOP count: 2·multiply-adds of the GEMMs, checked on a hand-counted shape. */
static void test_flops(void)
{
    ModelConfig c = small_cfg(ARCH_BERT, HEAD_CLASSIFIER, ACT_GELU);
    /* B 2, T 7, N 14, D 16, FF 32, L 2, C 3: per layer linear 2(4·14·256 + 2·14·16·32) = 57344,
     * attention 2·2·2·49·16 = 6272; head 2·2(256 + 48) = 1216. */
    double fwd = 2 * (57344 + 6272) + 1216.0;
    CU_ASSERT_DOUBLE_EQUAL(engine_flops(&c, 2, 7, 0), fwd, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(engine_flops(&c, 2, 7, 1), fwd + 2 * (57344 + 2 * 6272) + 1216.0, 1e-6);
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("engine_fd", NULL, NULL);
    CU_add_test(s, "FD gradients: encoders and decoders, every output kind", test_fd_cases);
    CU_add_test(s, "logprob = log(prob) = z_t - logsumexp(z), stable", test_logprob_forward);
    CU_add_test(s, "decoder causal/sliding-window mask, linear RoPE scaling", test_decoder_masks_and_rope_scaling);
    CU_add_test(s, "recompute mode is bitwise the keep-all mode", test_recompute_mode);
    CU_add_test(s, "attention sinks: bits, order, recompute, errors", test_attn_sinks);
    CU_add_test(s, "position ids", test_position_ids);
    CU_add_test(s, "conductance taps", test_taps);
    CU_add_test(s, "micro-batch invariance", test_microbatch_invariance);
    CU_add_test(s, "DeepLIFT rescale", test_rescale);
    CU_add_test(s, "rescale multiplier", test_rescale_multiplier);
    CU_add_test(s, "exp/erf accuracy", test_exp_erf_accuracy);
    CU_add_test(s, "input errors", test_errors);
    CU_add_test(s, "flops", test_flops);
    return test_run_registry();
}
