/* The chunk runner every method shares (attr_internal.h): the example's context, the
 * block buffers and row metadata, the walk over the fixed item blocks, and the clean-up;
 * the method's MethodOps begin/block/end fill in what its rows are and what it keeps. */
#include "engine/attr_internal.h"
#include <stdlib.h>
#include <string.h>

int method_item_block(const MethodSpec *s, const Model *m, int T)
{
    const MethodOps *ops = method_ops(s->kind);
    if (!ops)
        return 1;
    MethodShape sh;
    method_shape(s, &sh);
    long per_row = ops->row_floats(m, T), rows_tok = s->block_tokens / (T > 0 ? T : 1);
    int per_item = ops->rows_per_item;
    long g = rows_tok / per_item, gm = attr_rows_per_call(per_row) / per_item;
    if (gm < g)
        g = gm;
    if (g > sh.nodes)
        g = sh.nodes;
    return g < 1 ? 1 : (int)g;
}

int attr_chunk_run(Engine *e, const MethodSpec *s, const Example *ex, int i0, int i1, const void *arg,
                   Partial *p, const char **err)
{
    const MethodOps *ops = method_ops(s->kind);
    AttrChunk ch = {.e = e, .m = engine_model(e), .s = s, .ex = ex, .p = p, .i0 = i0, .i1 = i1, .arg = arg};
    method_shape(s, &ch.sh);
    if (attr_ctx_init(&ch.c, ch.m, s, ex, ch.sh.baselines, err))
        return -1;
    ch.T = ch.c.T;
    ch.D = ch.c.D;
    ch.TD = (long)ch.T * ch.D;
    ch.G = method_item_block(s, ch.m, ch.T);
    size_t rows = (size_t)ops->rows_per_item * ch.G;
    ch.xs = malloc(rows * ch.TD * sizeof(float));
    ch.g = malloc(rows * ch.TD * sizeof(float));
    ch.F = malloc(2 * rows * sizeof(float));
    int rc = -1;
    if (!ch.xs || !ch.g || !ch.F || rowmeta_init(&ch.rm, ex, 2 * (int)rows)) {
        *err = "method_run_chunk: out of memory";
        goto done;
    }
    for (size_t r = 0; r < 2 * rows; r++)
        rowmeta_set(&ch.rm, (int)r, ch.c.pos_in);
    if (ops->begin && ops->begin(&ch, err))
        goto done;
    /* the blocks overlapping [i0, i1), counted from the start of the chunk's segment (one
     * segment of all nodes but for adaptive IG's levels); conductance's item k needs nodes k
     * and k + 1 */
    int nodes = (int)ch.sh.nodes, last = i1 + (nodes - (int)ch.sh.items); /* a checked spec's fit an int */
    int seg0 = 0, seg1 = nodes;
    if (ops->segment)
        ops->segment(s, i0, &seg0, &seg1);
    for (int k0 = seg0 + (i0 - seg0) / ch.G * ch.G; k0 < last; k0 += ch.G) {
        int B = seg1 - k0 < ch.G ? seg1 - k0 : ch.G;
        if (ops->block(&ch, k0, B, err))
            goto done;
    }
    rc = 0;
done:
    if (ops->end)
        ops->end(&ch);
    free(ch.xs);
    free(ch.g);
    free(ch.F);
    rowmeta_free(&ch.rm);
    attr_ctx_free(&ch.c);
    return rc;
}

int method_run_chunk(Engine *e, const MethodSpec *s, const Example *ex, int i0, int i1,
                     Partial *p, const char **err)
{
    if (method_spec_check(s, err))
        return -1;
    if (!p || !ex || p->T != ex->T || p->n_items != method_items(s) ||
        method_ops(s->kind)->per_layer != (p->L > 0)) {
        *err = "method_run_chunk: partial does not match the method or the example";
        return -1;
    }
    int seg0, seg1;
    method_segment(s, i0, &seg0, &seg1);
    if (i0 >= 0 && i0 < p->n_items && i1 <= p->n_items && i1 > seg1) {
        *err = "method_run_chunk: the items cross a segment's end (adaptive IG: a level's)";
        return -1;
    }
    if (partial_claim(p, i0, i1)) {
        *err = "method_run_chunk: items out of range or already computed in this partial";
        return -1;
    }
    return attr_chunk_run(e, s, ex, i0, i1, NULL, p, err);
}
