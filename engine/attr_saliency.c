/* Saliency (the signed gradient; per-token Σ|g| and ‖g‖₂) and Input×Gradient
 * (x ⊙ ∇F(x)): one item, one row at the input. */
#include "engine/attr_internal.h"
#include <string.h>

static void one_item_shape(const MethodSpec *s, MethodShape *sh)
{
    sh->items = sh->nodes = 1;
}

static int saliency_block(AttrChunk *ch, int k0, int B, const char **err)
{
    const AttrCtx *c = &ch->c;
    long TD = ch->TD;
    memcpy(ch->xs, c->x, (size_t)TD * sizeof(float));
    if (attr_engine_rows(ch->e, ch->s, &ch->rm, 1, ch->xs, ch->F, ch->g, 0, err))
        return -1;
    int times_input = ch->s->kind == M_INPUTXGRAD;
    for (long i = 0; i < TD; i++) {
        double v = times_input ? (double)c->x[i] * ch->g[i] : (double)ch->g[i];
        if (fix_add(&ch->p->acc[i], v)) {
            *err = "saliency: fixed-point accumulator overflow";
            return -1;
        }
    }
    return 0;
}

/* Saliency's per-token sum is of |g| (Captum Saliency abs=True); Input×Gradient's is signed. */
static int saliency_finalize(const AttrFinal *f, AttrResult *r, const char **err)
{
    attr_final_mean(f, 1.0);
    attr_final_tokens(f, r, f->s->kind == M_SALIENCY);
    return 0;
}

const MethodOps attr_saliency_ops = {
    .kind = M_SALIENCY, .name = "saliency", .rows_per_item = 1, .score_l2 = 1,
    .shape = one_item_shape, .row_floats = attr_row_floats_2td,
    .block = saliency_block, .finalize = saliency_finalize,
};

const MethodOps attr_inputxgrad_ops = {
    .kind = M_INPUTXGRAD, .name = "inputxgrad", .rows_per_item = 1,
    .shape = one_item_shape, .row_floats = attr_row_floats_2td,
    .block = saliency_block, .finalize = saliency_finalize,
};
