/* example_forward (attribution.h): the example through the model at its own ids and
 * positions, as the base unit and predicted targets need it. */
#include "engine/attr_internal.h"
#include <stdlib.h>

int example_forward(Engine *e, const Example *ex, int target, float *logits, float *attn, const char **err)
{
    const Model *m = engine_model(e);
    int T = ex->T, D = m->cfg.D;
    int *pos = malloc(sizeof(int) * T);
    float *h = malloc(sizeof(float) * (size_t)T * D);
    if (!pos || !h) {
        free(pos);
        free(h);
        *err = "out of memory";
        return -1;
    }
    engine_position_ids(m, ex->ids, T, pos);
    const int *types = m->type_emb ? ex->type_ids : NULL;
    int rc = 0;
    if (engine_layer_values(m, AT_WORD_EMB, ex->ids, pos, types, T, h)) {
        *err = "token id out of the model's vocabulary";
        rc = -1;
    } else {
        float F;
        EngineBatch in = {.B = 1, .T = T, .layer = AT_WORD_EMB, .x = h, .pos_ids = pos, .type_ids = types,
                          .target = &target, .mlm_pos = &ex->mlm_pos, .output = OUT_LOGIT};
        EngineOutput out = {.F = &F, .logits = logits, .attn = attn};
        if (engine_run(e, &in, &out)) {
            *err = engine_error(e);
            rc = -1;
        }
    }
    free(pos);
    free(h);
    return rc;
}
