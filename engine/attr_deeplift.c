/* DeepLIFT (Captum LayerDeepLift) and DeepLIFT SHAP (LayerDeepLiftShap: mean over
 * the baseline list, one delta per baseline). Each item is one baseline j: the engine
 * runs the pair (input row, baseline row) in Rescale mode and the attribution is
 * (x − b_j) ⊙ (multiplier-gradient of the input row). Captum runs the model on the
 * concatenated (inputs, baselines) ids, so the baseline row has the baseline ids'
 * position ids (RoBERTa: padding positions). */
#include "engine/attr_internal.h"
#include <stdlib.h>
#include <string.h>

/* The Rescale sites. DL_RESCALE: the head activation and every FFN activation.
 * DL_CAPTUM: only the nonlinearities Captum hooks on the real Hugging Face modules —
 * those that are nn.Module instances of a class in Captum's SUPPORTED_NON_LINEAR
 * (ReLU, ELU, Sigmoid, Tanh, Softmax, ...; not GELU, and nothing functional):
 *  - FFN activation: transformers' ACT2FN gives nn.ReLU / nn.Tanh modules for "relu" /
 *    "tanh", but GELUActivation (not supported) for "gelu"; same for BERT, RoBERTa and
 *    DistilBERT (get_activation).
 *  - head: BertPooler's self.activation = nn.Tanh() is hooked. RobertaClassificationHead
 *    calls torch.tanh (functional); DistilBertForSequenceClassification applies an
 *    nn.ReLU() created inline in forward(), never registered, so never hooked. MLM heads:
 *    BERT's transform and DistilBERT's vocab activation come from ACT2FN (hooked for
 *    relu/tanh); RoBERTa's LM head calls gelu() functionally.
 *  - attention softmax is nn.functional.softmax in all three: never hooked. */
static int act2fn_hooked(Activation a)
{
    return a == ACT_RELU || a == ACT_TANH;
}

unsigned deeplift_rescale_sites(const Model *m, DeepLiftRules rules)
{
    if (rules == DL_RESCALE)
        return RESCALE_HEAD_ACT | RESCALE_FFN_ACT;
    const ModelConfig *c = &m->cfg;
    unsigned sites = act2fn_hooked(c->act) ? RESCALE_FFN_ACT : 0;
    int head;
    if (c->head == HEAD_CLASSIFIER)
        head = c->arch == ARCH_BERT; /* nn.Tanh pooler */
    else
        head = c->arch != ARCH_ROBERTA && act2fn_hooked(c->head_act);
    return sites | (head ? RESCALE_HEAD_ACT : 0);
}

int deeplift_run_chunk(Engine *e, const MethodSpec *s, const Example *ex, int i0, int i1,
                       Partial *p, const char **err)
{
    const Model *m = engine_model(e);
    AttrCtx c;
    int nb = s->kind == M_DEEPLIFTSHAP ? s->nbaselines : 1;
    if (attr_ctx_init(&c, m, s, ex, nb, err))
        return -1;
    long TD = (long)c.T * c.D;
    int R = method_item_block(s, m, c.T); /* pairs per call */
    float *xs = malloc((size_t)2 * R * TD * sizeof(float)), *g = malloc((size_t)2 * R * TD * sizeof(float));
    float *F = malloc((size_t)2 * R * sizeof(float));
    RowMeta rm = {0};
    int rc = -1;
    unsigned sites = deeplift_rescale_sites(m, s->dl_rules);
    if (!xs || !g || !F || rowmeta_init(&rm, ex, 2 * R)) {
        *err = "deeplift: out of memory";
        goto done;
    }
    for (int j0 = i0 / R * R; j0 < i1; j0 += R) {
        int B = nb - j0 < R ? nb - j0 : R;
        for (int r = 0; r < B; r++) {
            int j = j0 + r;
            memcpy(xs + (size_t)(2 * r) * TD, c.x, (size_t)TD * sizeof(float));
            memcpy(xs + (size_t)(2 * r + 1) * TD, c.b + (size_t)j * TD, (size_t)TD * sizeof(float));
            rowmeta_set(&rm, 2 * r, c.pos_in);
            rowmeta_set(&rm, 2 * r + 1, c.bpos + (size_t)j * c.T);
        }
        if (attr_engine_rows(e, s, &rm, 2 * B, xs, F, g, sites, err))
            goto done;
        for (int r = 0; r < B; r++) {
            int j = j0 + r;
            if (j < i0 || j >= i1)
                continue; /* another chunk's baseline */
            const float *b = c.b + (size_t)j * TD, *gr = g + (size_t)(2 * r) * TD;
            double sum = 0.0;
            for (long q = 0; q < TD; q++) {
                double v = ((double)c.x[q] - b[q]) * gr[q];
                sum += v;
                if (fix_add(&p->acc[q], v)) {
                    *err = "deeplift: fixed-point accumulator overflow";
                    goto done;
                }
            }
            p->item[(size_t)j * DL_WIDTH + DL_SUM] = sum;
        }
    }
    rc = 0;
done:
    free(xs);
    free(g);
    free(F);
    rowmeta_free(&rm);
    attr_ctx_free(&c);
    return rc;
}
