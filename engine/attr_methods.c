/* The method table: one MethodOps entry per method (attribution.h), each defined in its
 * method's file next to its chunk and finalize steps. Adding a method = one MethodKind,
 * one file with its entry, one line here (and its config words in runner/config.c). */
#include "engine/attr_internal.h"
#include <string.h>

static const MethodOps *const METHODS[M_NUM_METHODS] = {
    [M_IG] = &attr_ig_ops,
    [M_GRADSHAP] = &attr_gradshap_ops,
    [M_DEEPLIFT] = &attr_deeplift_ops,
    [M_DEEPLIFTSHAP] = &attr_deepliftshap_ops,
    [M_SALIENCY] = &attr_saliency_ops,
    [M_INPUTXGRAD] = &attr_inputxgrad_ops,
    [M_SMOOTHGRAD] = &attr_smoothgrad_ops,
    [M_CONDUCTANCE] = &attr_conductance_ops,
};

const MethodOps *method_ops(MethodKind k)
{
    return (unsigned)k < M_NUM_METHODS ? METHODS[k] : NULL;
}

void method_shape(const MethodSpec *s, MethodShape *sh)
{
    memset(sh, 0, sizeof *sh);
    const MethodOps *ops = method_ops(s->kind);
    if (ops)
        ops->shape(s, sh);
}

void method_segment(const MethodSpec *s, int item, int *lo, int *hi)
{
    const MethodOps *ops = method_ops(s->kind);
    if (ops && ops->segment) {
        ops->segment(s, item, lo, hi);
        return;
    }
    *lo = 0;
    *hi = (int)method_items(s);
}

int64_t method_items(const MethodSpec *s)
{
    MethodShape sh;
    method_shape(s, &sh);
    return sh.items;
}

long attr_row_floats_2td(const Model *m, int T)
{
    return 2L * T * m->cfg.D;
}

long attr_row_floats_4td(const Model *m, int T)
{
    return 4L * T * m->cfg.D;
}
