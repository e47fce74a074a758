/* Decoder-only LMs against the float64 oracle + Captum 0.8 (../shared/reference/captum/
 * decoder_{gpt2,llama,qwen2}.json.gz, models/tiny-{gpt2,llama,qwen2}): next-token logits
 * at the last position, attention probabilities, Saliency, Input×Gradient, IG over the
 * prompt with the token baseline (leading BOS kept) and the zero baseline, and the
 * teacher-forced continuation steps. Ids come from the reference files.
 * Tolerance: max|a − ref| / max|ref| <= 1e-4 per quantity (README: fp32 agrees to ~1e-5).
 * Every measured error is printed. */
#include "engine/attribution.h"
#include "io/checkpoint.h"
#include "tests/testutil.h"
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-4

static double num(const json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }
static int inum(const json_t *o, const char *k) { return (int)json_integer_value(json_object_get(o, k)); }

typedef struct {
    double logits, attn, sal, ixg, ig_tok, ig_zero, fx, fb, delta, cont;
} Errs;

/* Forward of the input ids: logits at the explained position and attentions. */
static void check_forward(Engine *e, const Model *m, const int *ids, int T, int pos, const json_t *res, int argmax,
                          Errs *E)
{
    const ModelConfig *c = &m->cfg;
    float *x = malloc((size_t)T * c->D * sizeof(float)), *lg = malloc((size_t)c->C * sizeof(float));
    float *attn = malloc((size_t)c->L * c->NH * T * T * sizeof(float)), F;
    int *pids = malloc(T * sizeof(int)), tg = inum(res, "target");
    engine_position_ids(m, ids, T, pids);
    CU_ASSERT_EQUAL_FATAL(engine_layer_values(m, AT_WORD_EMB, ids, pids, NULL, T, x), 0);
    EngineBatch in = {.B = 1, .T = T, .layer = AT_WORD_EMB, .x = x, .pos_ids = pids, .target = &tg, .mlm_pos = &pos};
    EngineOutput out = {.F = &F, .logits = lg, .attn = json_object_get(res, "attentions") ? attn : NULL};
    CU_ASSERT_EQUAL_FATAL(engine_run(e, &in, &out), 0);
    E->logits = fmax(E->logits, test_json_rel_err(lg, (size_t)c->C, json_object_get(res, "logits"), 0));
    if (out.attn)
        E->attn = fmax(E->attn,
                       test_json_rel_err(attn, (size_t)c->L * c->NH * T * T, json_object_get(res, "attentions"), 0));
    int arg = 0;
    for (int j = 1; j < c->C; j++)
        arg = lg[j] > lg[arg] ? j : arg;
    if (argmax) /* causal_lm results explain the predicted token */
        CU_ASSERT_EQUAL(arg, tg);
    free(x);
    free(lg);
    free(attn);
    free(pids);
}

/* One method result against the reference; returns the attribution error. */
static double check_method(Engine *e, const Model *m, const int *ids, int T, const json_t *res, int fill, Errs *E)
{
    const char *meth = json_string_value(json_object_get(res, "method"));
    const char *bl = json_string_value(json_object_get(res, "baseline"));
    MethodSpec s;
    /* continuation steps are IG with the token baseline */
    MethodKind k = !strcmp(meth, "ig") || !strcmp(meth, "continuation") ? M_IG : !strcmp(meth, "saliency") ? M_SALIENCY : M_INPUTXGRAD;
    method_spec_default(&s, k);
    s.nbaselines = 1;
    s.baselines[0] = bl && !strcmp(bl, "zero") ? BASE_ZERO : BASE_TOKEN;
    int *special = calloc(T, sizeof(int));
    special[0] = m->cfg.bos_id >= 0 && ids[0] == m->cfg.bos_id; /* a leading BOS is kept */
    Example ex = {.index = 0, .T = T, .ids = ids, .target = inum(res, "target"), .mlm_pos = inum(res, "position"),
                  .special = special, .fill_id = fill};
    if (s.baselines[0] == BASE_TOKEN && k == M_IG) { /* our baseline ids are the reference's */
        int *b = malloc(T * sizeof(int)), same = 1;
        CU_ASSERT_EQUAL(baseline_ids(m, BASE_TOKEN, &ex, b), 1);
        const json_t *rb = json_object_get(res, "baseline_ids");
        for (int t = 0; t < T; t++)
            same &= b[t] == (int)json_integer_value(json_array_get(rb, t));
        CU_ASSERT(same);
        free(b);
    }
    const char *err = NULL;
    AttrResult r;
    memset(&r, 0, sizeof r);
    Partial *p = partial_new(&s, m, T);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int rc = method_run_chunk(e, &s, &ex, 0, method_items(&s), p, &err);
    if (!rc)
        rc = method_finalize(e, &s, &ex, p, &r, &err);
    if (rc)
        printf("    %s failed: %s\n", meth, err ? err : "?");
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    double ea = test_json_rel_err(r.full, (size_t)T * m->cfg.D, json_object_get(res, "attr"), 0);
    /* F values are compared on the scale of the logits (a logit near 0 has no own scale) */
    double fx = num(res, "f_input"), lmax = 0;
    size_t nl;
    double *lg = test_json_flatten(json_object_get(res, "logits"), &nl);
    lmax = test_max_abs_d(lg, nl);
    free(lg);
    E->fx = fmax(E->fx, fabs(r.f_input - fx) / lmax);
    if (k == M_IG) {
        double fb = num(res, "f_baseline"), d = num(res, "delta");
        double scale = fmax(lmax, fabs(fb));
        E->fb = fmax(E->fb, fabs(r.f_baseline - fb) / fmax(scale, 1e-30));
        E->delta = fmax(E->delta, fabs(r.delta[0] - d) / scale);
    }
    attr_result_free(&r);
    partial_free(p);
    free(special);
    return ea;
}

static int *ids_of(const json_t *res, int *T)
{
    const json_t *a = json_object_get(res, "ids");
    *T = (int)json_array_size(a);
    int *ids = malloc(*T * sizeof(int));
    for (int t = 0; t < *T; t++)
        ids[t] = (int)json_integer_value(json_array_get(a, t));
    return ids;
}

static void run_family(const char *model_rel, const char *json_rel)
{
    test_require_shared(json_rel);
    char err[512];
    Model *m = checkpoint_load(test_shared_path(model_rel), err, sizeof err);
    if (!m)
        printf("    checkpoint_load: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->cfg.head, HEAD_LM);
    Engine *e = engine_create(m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    json_t *root = test_load_json(test_shared_path(json_rel));
    int fill = inum(json_object_get(root, "params"), "baseline_fill_id");
    Errs E = {0};
    const json_t *list = json_object_get(root, "causal_lm");
    size_t i;
    const json_t *res;
    json_array_foreach(list, i, res)
    {
        int T, *ids = ids_of(res, &T);
        const char *meth = json_string_value(json_object_get(res, "method"));
        const char *bl = json_string_value(json_object_get(res, "baseline"));
        check_forward(e, m, ids, T, inum(res, "position"), res, 1, &E);
        double ea = check_method(e, m, ids, T, res, fill, &E);
        double *slot = !strcmp(meth, "saliency") ? &E.sal : !strcmp(meth, "input_x_gradient") ? &E.ixg
                       : bl && !strcmp(bl, "zero")  ? &E.ig_zero : &E.ig_tok;
        *slot = fmax(*slot, ea);
        free(ids);
    }
    /* Continuations: step j runs on ids[:p] and explains ids[p] at position p-1. */
    const json_t *conts = json_object_get(root, "continuation"), *cont;
    size_t ci;
    json_array_foreach(conts, ci, cont)
    {
        int Tall, *ids = ids_of(cont, &Tall);
        const json_t *steps = json_object_get(cont, "steps"), *st;
        size_t j;
        json_array_foreach(steps, j, st)
        {
            int p = inum(st, "prefix_len");
            CU_ASSERT_EQUAL(inum(st, "target"), ids[p]);
            CU_ASSERT_EQUAL(inum(st, "position"), p - 1);
            check_forward(e, m, ids, p, p - 1, st, 0, &E);
            E.cont = fmax(E.cont, check_method(e, m, ids, p, st, fill, &E));
        }
        free(ids);
    }
    printf("\n  [%s] max rel err: logits %.2e attn %.2e saliency %.2e ixg %.2e ig_token %.2e ig_zero %.2e "
           "F(x) %.2e F(b) %.2e delta %.2e continuation-ig %.2e\n",
           model_rel, E.logits, E.attn, E.sal, E.ixg, E.ig_tok, E.ig_zero, E.fx, E.fb, E.delta, E.cont);
    CU_ASSERT(E.logits <= TOL && E.attn <= TOL && E.sal <= TOL && E.ixg <= TOL && E.ig_tok <= TOL);
    CU_ASSERT(E.ig_zero <= TOL && E.fx <= TOL && E.fb <= TOL && E.delta <= TOL && E.cont <= TOL);
    json_decref(root);
    engine_free(e);
    model_free(m);
}

static void test_gpt2(void) { run_family("reference/models/tiny-gpt2", "reference/captum/decoder_gpt2.json.gz"); }
static void test_llama(void) { run_family("reference/models/tiny-llama", "reference/captum/decoder_llama.json.gz"); }
static void test_qwen2(void) { run_family("reference/models/tiny-qwen2", "reference/captum/decoder_qwen2.json.gz"); }

int main(void)
{
    test_require_shared("reference/captum/decoder_gpt2.json.gz");
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite su = CU_add_suite("decoder_ref", NULL, NULL);
    CU_add_test(su, "GPT2LMHeadModel (tiny-gpt2) vs float64 reference", test_gpt2);
    CU_add_test(su, "LlamaForCausalLM (tiny-llama, GQA, untied) vs float64 reference", test_llama);
    CU_add_test(su, "Qwen2ForCausalLM (tiny-qwen2, q/k/v bias, tied, BF16) vs float64 reference", test_qwen2);
    return test_run_registry();
}
