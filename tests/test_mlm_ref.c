/* Masked-LM heads end to end against an independent float64 reference.
 *
 * The shipped random checkpoints models/tiny-codebert-mlm (RobertaForMaskedLM) and
 * models/tiny-bert-mlm (BertForMaskedLM) are loaded with checkpoint_load, the reference texts
 * are tokenized with tokenizer_encode, and the engine (HEAD_MLM at the first mask) and the IG
 * method are compared with tests/data/mlm_{roberta,bert}.json. Those files were written by
 * scripts/make_tiny_mlm.py: a float64 torch implementation of HF's *ForMaskedLM forward and of
 * Captum's LayerIntegratedGradients, which that script first checks against the transformers +
 * Captum outputs in ../shared (to ~1e-15); its tokenizers are checked against HF's ids there.
 * Nothing here needs ../shared.
 *
 * Checked per text: token ids, special flags, mask position, RoBERTa position ids; the argmax
 * token; logits at the top-10 and at every 997th vocabulary id; F = target logit and
 * F = softmax probability; dF/d(word-embedding output); IG (Gauss-Legendre 50) for the pad and
 * mask baselines: baseline ids, attributions, per-token sums, F(x), F(baseline), delta.
 * Tolerance (preamble): max|a - ref| / max|ref| <= 1e-4 per quantity. Deltas and F values are
 * differences of logits, so their scale is max(|F(x)|, |F(b)|, max|ref delta|). */
#include "engine/attribution.h"
#include "io/checkpoint.h"
#include "io/tokenizer.h"
#include "tests/testutil.h"
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-4

static const char *src_path(const char *rel)
{
    static char buf[4096];
    const char *src = getenv("ATTRUN_SRC");
    snprintf(buf, sizeof buf, "%s/%s", src && *src ? src : ".", rel);
    return buf;
}

static int ji(const json_t *o, const char *k) { return (int)json_integer_value(json_object_get(o, k)); }
static double jd(const json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }

/* Same int array as a JSON array of integers? */
static int same_ints(const int *a, int n, const json_t *ref)
{
    if (json_array_size(ref) != (size_t)n)
        return 0;
    for (int i = 0; i < n; i++)
        if (a[i] != (int)json_integer_value(json_array_get(ref, i)))
            return 0;
    return 1;
}

typedef struct {
    double logits, f, prob, grad, attr, sum, fx, fb, delta;
} Errs;

static void errs_max(Errs *a, const Errs *b)
{
    double *x = (double *)a;
    const double *y = (const double *)b;
    for (size_t i = 0; i < sizeof *a / sizeof(double); i++)
        x[i] = fmax(x[i], y[i]);
}

static void run_family(const char *model_rel, const char *json_rel, const char *tag)
{
    char err[1024];
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", src_path(model_rel));
    Model *m = checkpoint_load(dir, err, sizeof err);
    if (!m)
        printf("    checkpoint_load(%s): %s\n", dir, err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(m->cfg.head, HEAD_MLM);
    CU_ASSERT_EQUAL(m->cfg.C, m->cfg.V);
    Tokenizer *tok = tokenizer_load(dir, err, sizeof err);
    if (!tok)
        printf("    tokenizer_load(%s): %s\n", dir, err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(tok);
    Engine *e = engine_create(m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    json_t *doc = test_load_json(src_path(json_rel));
    const json_t *results = json_object_get(doc, "results");
    CU_ASSERT_FATAL(json_array_size(results) > 0);
    const int V = m->cfg.V, D = m->cfg.D;
    const int mask_id = tokenizer_special_id(tok, TOK_MASK), unk_id = tokenizer_special_id(tok, TOK_UNK);
    Errs all = {0};
    int n_ig = 0;
    double delta_rel[2] = {0, 0}; /* max |delta| / |F(x)| of our IG: pad baseline, mask baseline */

    for (size_t i = 0; i < json_array_size(results); i++) {
        const json_t *res = json_array_get(results, i);
        const char *text = json_string_value(json_object_get(res, "text"));
        Encoding enc;
        CU_ASSERT_EQUAL_FATAL(tokenizer_encode(tok, text, NULL, 0, &enc), 0);
        const int T = enc.n;
        /* tokenization: ids, special flags, first mask position, position ids */
        int ok_ids = same_ints(enc.ids, T, json_object_get(res, "ids"));
        int ok_sp = same_ints(enc.special, T, json_object_get(res, "special"));
        CU_ASSERT(ok_ids);
        CU_ASSERT(ok_sp);
        if (!ok_ids || !ok_sp) {
            printf("    %s: tokens of \"%s\" differ from the reference (ids %s, special flags %s)\n", tag, text,
                   ok_ids ? "equal" : "differ", ok_sp ? "equal" : "differ");
            encoding_free(&enc);
            continue;
        }
        int mpos = -1;
        for (int t = 0; t < T && mpos < 0; t++)
            if (enc.ids[t] == mask_id)
                mpos = t;
        CU_ASSERT_EQUAL(mpos, ji(res, "mask_pos"));
        int *pos = malloc(T * sizeof(int));
        engine_position_ids(m, enc.ids, T, pos);
        CU_ASSERT(same_ints(pos, T, json_object_get(res, "position_ids")));

        /* one engine row: logits over the vocabulary, F = target logit, dF/dx */
        const int target = ji(res, "target");
        float *x = malloc((size_t)T * D * sizeof(float)), *grad = malloc((size_t)T * D * sizeof(float));
        float *logits = malloc((size_t)V * sizeof(float));
        float F = 0, P = 0;
        CU_ASSERT_EQUAL_FATAL(engine_layer_values(m, AT_WORD_EMB, enc.ids, pos, NULL, T, x), 0);
        EngineBatch in = {.B = 1, .T = T, .layer = AT_WORD_EMB, .x = x, .pos_ids = pos, .target = &target,
                          .mlm_pos = &mpos, .output = OUT_LOGIT};
        EngineOutput out = {.F = &F, .logits = logits, .grad = grad};
        int rc = engine_run(e, &in, &out);
        if (rc)
            printf("    engine_run: %s\n", engine_error(e));
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        int arg = 0;
        for (int v = 1; v < V; v++)
            if (logits[v] > logits[arg])
                arg = v;
        CU_ASSERT_EQUAL(arg, target);
        Errs one = {0};
        /* logits at the reference's top-10 and sampled ids, one scale: the largest |logit| listed */
        const json_t *ids_lists[2] = {json_object_get(res, "top_ids"), json_object_get(res, "sample_ids")};
        const json_t *val_lists[2] = {json_object_get(res, "top_logits"), json_object_get(res, "sample_logits")};
        double scale = 0;
        for (int k = 0; k < 2; k++)
            for (size_t j = 0; j < json_array_size(val_lists[k]); j++)
                scale = fmax(scale, fabs(json_number_value(json_array_get(val_lists[k], j))));
        for (int k = 0; k < 2; k++)
            for (size_t j = 0; j < json_array_size(ids_lists[k]); j++) {
                int id = (int)json_integer_value(json_array_get(ids_lists[k], j));
                double ref = json_number_value(json_array_get(val_lists[k], j));
                CU_ASSERT_FATAL(id >= 0 && id < V);
                one.logits = fmax(one.logits, fabs(logits[id] - ref) / scale);
            }
        const double fx = jd(res, "f_input");
        one.f = fabs(F - fx) / fabs(fx);
        one.grad = test_json_rel_err(grad, (size_t)T * D, json_object_get(res, "grad"), 0);
        /* F = softmax probability of the target at the mask */
        in.output = OUT_PROB;
        out = (EngineOutput){.F = &P};
        CU_ASSERT_EQUAL_FATAL(engine_run(e, &in, &out), 0);
        const double pref = exp(fx - jd(res, "logsumexp"));
        one.prob = fabs(P - pref) / pref;

        /* Integrated Gradients through the methods API, one spec per baseline */
        const json_t *igs = json_object_get(res, "ig");
        for (size_t b = 0; b < json_array_size(igs); b++) {
            const json_t *ig = json_array_get(igs, b);
            const char *bname = json_string_value(json_object_get(ig, "baseline"));
            MethodSpec s;
            method_spec_default(&s, M_IG);
            s.nbaselines = 1;
            s.baselines[0] = (BaselineKind)baseline_from_name(bname);
            CU_ASSERT_FATAL(baseline_from_name(bname) >= 0);
            Example ex = {.index = (long)i, .T = T, .ids = enc.ids, .type_ids = NULL, .target = target,
                          .mlm_pos = mpos, .special = enc.special, .mask_id = mask_id, .unk_id = unk_id};
            int *bids = malloc(T * sizeof(int));
            CU_ASSERT_EQUAL(baseline_ids(m, s.baselines[0], &ex, bids), 1);
            int ok_b = same_ints(bids, T, json_object_get(ig, "baseline_ids"));
            CU_ASSERT(ok_b);
            if (!ok_b)
                printf("    %s: %s baseline ids of \"%s\" differ from the reference\n", tag, bname, text);
            free(bids);
            const char *merr = NULL;
            Partial *p = partial_new(&s, m, T);
            CU_ASSERT_PTR_NOT_NULL_FATAL(p);
            AttrResult r;
            rc = method_run_chunk(e, &s, &ex, 0, method_items(&s), p, &merr);
            if (!rc)
                rc = method_finalize(e, &s, &ex, p, &r, &merr);
            partial_free(p);
            if (rc)
                printf("    %s: ig (%s) failed: %s\n", tag, bname, merr ? merr : "?");
            CU_ASSERT_EQUAL_FATAL(rc, 0);
            const double fb = jd(ig, "f_baseline"), dref = jd(ig, "delta");
            const double fscale = fmax(fmax(fabs(fx), fabs(fb)), fabs(dref));
            Errs g = {0};
            g.attr = test_json_rel_err(r.full, (size_t)T * D, json_object_get(ig, "attr"), 0);
            g.sum = test_json_rel_err(r.token_sum, (size_t)T, json_object_get(ig, "attr_sum"), 0);
            g.fx = fabs(r.f_input - fx) / fscale;
            g.fb = fabs(r.f_baseline - fb) / fscale;
            CU_ASSERT_EQUAL_FATAL(r.n_delta, 1);
            g.delta = fabs(r.delta[0] - dref) / fscale;
            errs_max(&one, &g);
            double dr = fabs(r.delta[0]) / fabs(r.f_input);
            delta_rel[s.baselines[0] == BASE_PAD ? 0 : 1] = fmax(delta_rel[s.baselines[0] == BASE_PAD ? 0 : 1], dr);
            attr_result_free(&r);
            n_ig++;
        }
        errs_max(&all, &one);
        free(x);
        free(grad);
        free(logits);
        free(pos);
        encoding_free(&enc);
    }
    printf("  [%s] %zu texts, %d IG runs; max rel err: logits %.2e  F %.2e  prob %.2e  grad %.2e  "
           "ig attr %.2e  attr_sum %.2e  F(x) %.2e  F(b) %.2e  delta %.2e\n",
           tag, json_array_size(results), n_ig, all.logits, all.f, all.prob, all.grad, all.attr, all.sum, all.fx,
           all.fb, all.delta);
    /* RoBERTa: the pad baseline moves position ids (pads sit at padding_idx), so Captum's delta is
     * large there and ~0 with the mask baseline (docs/models.md); BERT keeps positions either way. */
    printf("  [%s] IG |delta| / |F(x)|: pad baseline up to %.3g, mask baseline up to %.3g\n", tag, delta_rel[0],
           delta_rel[1]);
    CU_ASSERT(n_ig == 2 * (int)json_array_size(results));
    const double *ev = (const double *)&all;
    for (size_t k = 0; k < sizeof all / sizeof(double); k++)
        CU_ASSERT(ev[k] <= TOL);
    json_decref(doc);
    engine_free(e);
    tokenizer_free(tok);
    model_free(m);
}

static void test_roberta_mlm(void)
{
    run_family("models/tiny-codebert-mlm", "tests/data/mlm_roberta.json", "tiny-codebert-mlm");
}

static void test_bert_mlm(void)
{
    run_family("models/tiny-bert-mlm", "tests/data/mlm_bert.json", "tiny-bert-mlm");
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite su = CU_add_suite("mlm_ref", NULL, NULL);
    CU_add_test(su, "RobertaForMaskedLM (tiny-codebert-mlm) vs float64 reference", test_roberta_mlm);
    CU_add_test(su, "BertForMaskedLM (tiny-bert-mlm) vs float64 reference", test_bert_mlm);
    return test_run_registry();
}
