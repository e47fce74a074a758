/* DeepLIFT (Captum LayerDeepLift) and DeepLIFT SHAP (LayerDeepLiftShap: mean over
 * the baseline list, one delta per baseline). Each item is one baseline j: the engine
 * runs the pair (input row, baseline row) in Rescale mode and the attribution is
 * (x − b_j) ⊙ (multiplier-gradient of the input row). Captum runs the model on the
 * concatenated (inputs, baselines) ids, so the baseline row has the baseline ids'
 * position ids (RoBERTa: padding positions). */
#include "engine/attr_internal.h"
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
 *  - attention softmax is nn.functional.softmax in all three: never hooked.
 *  - decoders: GPT2MLP.act and LlamaMLP.act_fn (Mistral, Qwen2 alike) come from ACT2FN:
 *    NewGELUActivation for gelu_new and nn.SiLU for silu are not in the list (hooked only for
 *    relu/tanh); their attention softmax is functional and their heads (final norm + lm_head or
 *    score, no activation) have nothing to hook. So on the usual decoders rules: captum is the
 *    plain gradient: (x − b) ⊙ ∇F(x) (tests/test_run_decoder_deeplift.sh).
 *  - output: prob / logprob: the softmax (log-softmax) over the head's logits is the explained
 *    scalar's own function, applied to each row of the pair at its own logits (plain gradient, no
 *    Rescale), as Captum does with a forward that ends in functional softmax / log_softmax;
 *    under both rules. */
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

static void deeplift_shape(const MethodSpec *s, MethodShape *sh)
{
    sh->items = sh->nodes = sh->baselines = sh->deltas = 1;
    sh->item_width = DL_WIDTH;
}

static void deepliftshap_shape(const MethodSpec *s, MethodShape *sh)
{
    sh->items = sh->nodes = sh->baselines = sh->deltas = s->nbaselines;
    sh->item_width = DL_WIDTH;
}

/* Item j: the pair (input, baseline j), each row at its own positions, in Rescale mode. */
static int deeplift_block(AttrChunk *ch, int j0, int B, const char **err)
{
    const AttrCtx *c = &ch->c;
    long TD = ch->TD;
    for (int r = 0; r < B; r++) {
        int j = j0 + r;
        memcpy(ch->xs + (size_t)(2 * r) * TD, c->x, (size_t)TD * sizeof(float));
        memcpy(ch->xs + (size_t)(2 * r + 1) * TD, c->b + (size_t)j * TD, (size_t)TD * sizeof(float));
        rowmeta_set(&ch->rm, 2 * r, c->pos_in);
        rowmeta_set_baseline(&ch->rm, 2 * r + 1, c, j);
    }
    unsigned sites = deeplift_rescale_sites(ch->m, ch->s->dl_rules);
    if (attr_engine_rows(ch->e, ch->s, &ch->rm, 2 * B, ch->xs, ch->F, ch->g, sites, err))
        return -1;
    for (int r = 0; r < B; r++) {
        int j = j0 + r;
        if (!attr_chunk_owns(ch, j))
            continue; /* another chunk's baseline */
        const float *b = c->b + (size_t)j * TD, *gr = ch->g + (size_t)(2 * r) * TD;
        double sum = 0.0;
        for (long q = 0; q < TD; q++) {
            double v = ((double)c->x[q] - b[q]) * gr[q];
            sum += v;
            if (fix_add(&ch->p->acc[q], v)) {
                *err = "deeplift: fixed-point accumulator overflow";
                return -1;
            }
        }
        ch->p->item[(size_t)j * DL_WIDTH + DL_SUM] = sum;
    }
    return 0;
}

/* mean over the baselines (one for DeepLIFT); delta_j = Σ attribution_j − (F(x) − F(b_j)) */
static int deeplift_finalize(const AttrFinal *f, AttrResult *r, const char **err)
{
    attr_final_mean(f, f->nb);
    attr_final_tokens(f, r, 0);
    for (int j = 0; j < r->n_delta; j++)
        r->delta[j] = (float)(f->p->item[(size_t)j * DL_WIDTH + DL_SUM] - ((double)f->F[0] - f->F[1 + j]));
    return 0;
}

const MethodOps attr_deeplift_ops = {
    .kind = M_DEEPLIFT, .name = "deeplift", .rows_per_item = 2,
    .shape = deeplift_shape, .row_floats = attr_row_floats_2td,
    .block = deeplift_block, .finalize = deeplift_finalize,
};

const MethodOps attr_deepliftshap_ops = {
    .kind = M_DEEPLIFTSHAP, .name = "deepliftshap", .rows_per_item = 2,
    .shape = deepliftshap_shape, .row_floats = attr_row_floats_2td,
    .block = deeplift_block, .finalize = deeplift_finalize,
};
