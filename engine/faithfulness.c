/* ERASER comprehensiveness / sufficiency / AOPC of per-token scores (faithfulness.h).
 * One example = one engine_run of 7 rows: the original input and, for each k, the input
 * without its top-k tokens and the input with only its top-k tokens (non-specials). */
#include "engine/faithfulness.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const int faith_k_percent[FAITH_NK] = {10, 20, 50};

static _Thread_local char faith_err[512];

const char *faithfulness_error(void) { return faith_err; }

static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(faith_err, sizeof faith_err, fmt, ap);
    va_end(ap);
    return -1;
}

int faithfulness_top(const float *scores, const int *excluded, int T, int count, int *sel)
{
    /* Selection by repeated arg-max: T is at most a few hundred tokens and count <= T/2+1,
     * and scanning left to right with a strict '>' gives ties to the lower position. */
    for (int t = 0; t < T; t++) {
        sel[t] = 0;
        if (!excluded[t] && !isfinite(scores[t]))
            return -1;
    }
    int chosen = 0;
    for (; chosen < count; chosen++) {
        int best = -1;
        for (int t = 0; t < T; t++)
            if (!excluded[t] && !sel[t] && (best < 0 || scores[t] > scores[best]))
                best = t;
        if (best < 0)
            break;
        sel[best] = 1;
    }
    return chosen;
}

/* Rows 1..FAITH_NK of rid (copies of the input ids, T each): the top k% of the n
 * non-excluded tokens replaced by pad_id; rows FAITH_NK+1..2·FAITH_NK: all the others. */
static void replace_tokens(const float *scores, const int *excl, int n, int T, int pad_id, int *sel, int *rid)
{
    for (int q = 0; q < FAITH_NK; q++) {
        int count = (faith_k_percent[q] * n + 99) / 100; /* ceil in integers: 0.1*30 is not 3 in floats */
        if (count < 1)
            count = 1;
        faithfulness_top(scores, excl, T, count, sel);
        int *comp = rid + (size_t)(1 + q) * T, *suff = rid + (size_t)(1 + FAITH_NK + q) * T;
        for (int t = 0; t < T; t++) {
            if (excl[t])
                continue;
            if (sel[t])
                comp[t] = pad_id;
            else
                suff[t] = pad_id;
        }
    }
}

int faithfulness_compute(Engine *e, const int *ids, const int *type_ids, const int *special, int T, int target,
                         int mlm_pos, OutputKind output, const float *scores, int pad_id, float out[8])
{
    if (!e || !ids || !special || !scores || !out)
        return fail("faithfulness_compute: engine, ids, special, scores and out must not be NULL");
    const Model *m = engine_model(e);
    const ModelConfig *c = &m->cfg;
    if (T <= 0 || T > c->P)
        return fail("faithfulness_compute: T=%d out of range 1..%d (max positions)", T, c->P);
    if (pad_id < 0 || pad_id >= c->V)
        return fail("faithfulness_compute: pad_id %d out of range 0..%d", pad_id, c->V - 1);
    int is_mlm = c->head == HEAD_MLM;
    if (c->head != HEAD_CLASSIFIER && (mlm_pos < 0 || mlm_pos >= T))
        return fail("faithfulness_compute: mlm_pos %d out of range 0..%d", mlm_pos, T - 1);

    enum { R = 1 + 2 * FAITH_NK }; /* rows: original, comp_k (3), suff_k (3) */
    size_t D = (size_t)c->D, RT = (size_t)R * T;
    /* One block: excluded, sel (T); ids, pos, type (R,T); target, mlm_pos, F (R); x (R,T,D). */
    size_t n_int = 2 * (size_t)T + 3 * RT + 2 * R;
    size_t bytes = n_int * sizeof(int) + (R + RT * D) * sizeof(float); /* int and float: both 4-aligned */
    int *excl = malloc(bytes);
    if (!excl)
        return fail("faithfulness_compute: out of memory (%zu bytes for T=%d)", bytes, T);
    int *sel = excl + T, *rid = sel + T, *rpos = rid + RT, *rtype = rpos + RT, *rtgt = rtype + RT,
        *rmlm = rtgt + R;
    float *F = (float *)(rmlm + R), *x = F + R;
    int rc = -1, n = 0;

    for (int t = 0; t < T; t++) {
        excl[t] = special[t] != 0 || (is_mlm && t == mlm_pos);
        n += !excl[t];
        if (!excl[t] && !isfinite(scores[t])) {
            fail("faithfulness_compute: scores[%d] is not finite (%g)", t, (double)scores[t]);
            goto done;
        }
    }
    if (n == 0) {
        fail("faithfulness_compute: no non-special token among T=%d (nothing to remove)", T);
        goto done;
    }
    /* original positions for every row: replacing a token never moves the others */
    engine_position_ids(m, ids, T, rpos);
    for (int r = 0; r < R; r++) {
        memcpy(rid + (size_t)r * T, ids, (size_t)T * sizeof(int));
        if (r > 0)
            memcpy(rpos + (size_t)r * T, rpos, (size_t)T * sizeof(int));
        for (int t = 0; t < T; t++)
            rtype[(size_t)r * T + t] = type_ids ? type_ids[t] : 0;
        rtgt[r] = target;
        rmlm[r] = c->head == HEAD_CLASSIFIER ? 0 : mlm_pos; /* the head's position, as in EngineBatch */
    }
    replace_tokens(scores, excl, n, T, pad_id, sel, rid);
    /* A decoder score head pools at the last token that is not pad_token_id of the ids it is
     * given (transformers): tokens replaced by the pad id at the end move it. */
    if (c->head == HEAD_SCORE && c->pad_id >= 0)
        for (int r = 1; r < R; r++) {
            const int *ri = rid + (size_t)r * T;
            int p = T - 1;
            while (p >= 0 && ri[p] == c->pad_id)
                p--;
            rmlm[r] = p >= 0 ? p : 0;
        }
    for (int r = 0; r < R; r++)
        if (engine_layer_values(m, AT_WORD_EMB, rid + (size_t)r * T, rpos + (size_t)r * T,
                                rtype + (size_t)r * T, T, x + (size_t)r * T * D)) {
            fail("faithfulness_compute: token id out of range 0..%d in ids", c->V - 1);
            goto done;
        }
    EngineBatch in = {.B = R, .T = T, .layer = AT_WORD_EMB, .x = x, .pos_ids = rpos, .type_ids = rtype,
                      .mask = NULL, .target = rtgt, .mlm_pos = rmlm, .output = output, .rescale = 0};
    EngineOutput eo = {.F = F};
    if (engine_run(e, &in, &eo)) {
        fail("faithfulness_compute: engine_run failed: %s", engine_error(e));
        goto done;
    }
    double ac = 0, as = 0;
    for (int q = 0; q < FAITH_NK; q++) {
        out[FAITH_COMP_10 + q] = F[0] - F[1 + q];
        out[FAITH_SUFF_10 + q] = F[0] - F[1 + FAITH_NK + q];
        ac += out[FAITH_COMP_10 + q];
        as += out[FAITH_SUFF_10 + q];
    }
    out[FAITH_AOPC_COMP] = (float)(ac / FAITH_NK);
    out[FAITH_AOPC_SUFF] = (float)(as / FAITH_NK);
    rc = 0;
done:
    free(excl);
    return rc;
}
