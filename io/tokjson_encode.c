/* Encoding with a tokenizer.json pipeline: added tokens matched as HF's
 * AddedVocabulary matches them (io/added_match.c; non-normalized ones on the raw
 * text, normalized ones on the normalized text),
 * normalizer and pre-tokenizer per remaining piece, the model per pre-token,
 * then offset trimming (ByteLevel / RobertaProcessing trim_offsets), truncation
 * (longest-first for pairs, the added specials excluded from the budget) and the
 * post-processor's framing. */
#include "io/tokjson.h"
#include <stdlib.h>
#include <string.h>

typedef struct {
    const Tokenizer *t;
    TokList *out;
    TjScratch *w;
} ModelCtx;

static void model_piece(const NStr *piece, void *ctx)
{
    ModelCtx *m = ctx;
    tjmodel_encode(m->t, piece, m->out, &m->w);
}

/* Normalized text piece -> pre-tokens -> model tokens. */
static void encode_text(const Tokenizer *t, NStr *s, TokList *out)
{
    const TjPipeline *p = t->tj;
    if (s->n == 0)
        return;
    if (p->pre && p->pre->kind == PT_BYTELEVEL && p->pre->use_regex) {
        ModelCtx m = {t, out, NULL};
        pretok_bytelevel_each(p->pre, s, model_piece, &m);
        tjscratch_free(m.w);
        return;
    }
    NList l = {0};
    *nl_add(&l) = *s;
    memset(s, 0, sizeof *s);
    if (p->pre)
        pretok_apply(p->pre, &l);
    TjScratch *w = NULL;
    for (int i = 0; i < l.n; i++)
        tjmodel_encode(t, &l.v[i], out, &w);
    tjscratch_free(w);
    nl_free(&l);
}

static void push_added(const TjPipeline *p, int k, int s, int e, TokList *out)
{
    toklist_push(out, p->added[k].id, s, e, p->added[k].special);
}

/* A raw-text piece cp[a..b): normalize, split out the normalized added tokens, encode. */
static void encode_raw(const Tokenizer *t, const uint32_t *cp, int a, int b, TokList *out)
{
    const TjPipeline *p = t->tj;
    if (b <= a)
        return;
    NStr s;
    ns_from_cps(&s, cp, a, b);
    if (p->norm)
        normalizer_apply(p->norm, &s);
    if (!p->any_normalized_added) {
        encode_text(t, &s, out);
        ns_free(&s);
        return;
    }
    int (*m)[3];
    int nm = added_find(p->added, p->nadded, p->added_first[1], 1, s.c, s.n, &m), pos = 0;
    for (int k = 0; k <= nm; k++) {
        int end = k < nm ? m[k][0] : s.n;
        if (end > pos) {
            NStr piece = {0};
            for (int i = pos; i < end; i++)
                ns_push(&piece, s.c[i], s.al[i][0], s.al[i][1]);
            encode_text(t, &piece, out);
            ns_free(&piece);
        }
        if (k < nm) {
            push_added(p, m[k][2], s.al[m[k][0]][0], s.al[m[k][1] - 1][1], out);
            pos = m[k][1];
        }
    }
    free(m);
    ns_free(&s);
}

static void encode_segment(const Tokenizer *t, const uint32_t *cp, int n, TokList *out)
{
    const TjPipeline *p = t->tj;
    int (*m)[3];
    int nm = added_find(p->added, p->nadded, p->added_first[0], 0, cp, n, &m), pos = 0;
    for (int k = 0; k <= nm; k++) {
        int end = k < nm ? m[k][0] : n;
        encode_raw(t, cp, pos, end, out);
        if (k < nm) {
            push_added(p, m[k][2], m[k][0], m[k][1], out);
            pos = m[k][1];
        }
    }
    free(m);
}

/* ---- offsets trimming (tokenizers' ByteLevel::process_offsets) ------------------------- */

static int space_like(uint32_t c) { return c == 0x120 || uc_is_whitespace(c); }

/* Leading / trailing 'Ġ' or whitespace characters of every token, for trim_offsets. */
void tokjson_space_tables(Tokenizer *t)
{
    free(t->lead_sp);
    free(t->trail_sp);
    t->lead_sp = calloc((size_t)t->vocab_size + 1, 1);
    t->trail_sp = calloc((size_t)t->vocab_size + 1, 1);
    for (int i = 0; i < t->vocab_size; i++) {
        uint32_t *cp;
        const char *s = t->id_to_tok[i];
        int n = s ? utf8_to_cps(s, strlen(s), &cp) : -1, l = 0, r = 0;
        if (n < 0)
            continue;
        while (l < n && space_like(cp[l]))
            l++;
        while (r < n && space_like(cp[n - 1 - r]))
            r++;
        free(cp);
        t->lead_sp[i] = (unsigned char)(l > 255 ? 255 : l);
        t->trail_sp[i] = (unsigned char)(r > 255 ? 255 : r);
    }
}

static void trim_offsets(const Tokenizer *t, TokList *l)
{
    const TjPipeline *p = t->tj;
    for (int i = 0; i < l->n; i++) {
        int id = l->ids[i], *o = l->off[i];
        int lead = id >= 0 && id < t->vocab_size ? t->lead_sp[id] : 0;
        int trail = id >= 0 && id < t->vocab_size ? t->trail_sp[id] : 0;
        if (lead) {
            int is_first = i == 0 || o[0] == 0;
            if (is_first && p->trim_add_prefix_space && lead == 1)
                lead = 0;
            o[0] = o[0] + lead < o[1] ? o[0] + lead : o[1];
        }
        if (trail && o[1] >= trail)
            o[1] = o[1] - trail > o[0] ? o[1] - trail : o[0];
    }
}

/* ---- framing --------------------------------------------------------------------------- */

static int tpl_added(const TplPiece *v, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!v[i].seq)
            k += v[i].nids;
    return k;
}

int tokenizer_num_added(const Tokenizer *t, int pair)
{
    if (!t->tj)
        return pair ? (t->bpe ? 4 : 3) : 2;
    const TjPipeline *p = t->tj;
    switch (p->pp_kind) {
    case PP_TEMPLATE:
        return pair ? tpl_added(p->pair, p->npair) : tpl_added(p->single, p->nsingle);
    case PP_BERT:
        return pair ? 3 : 2;
    case PP_ROBERTA:
        return pair ? 4 : 2;
    default:
        return 0;
    }
}

static void frame(const TjPipeline *p, const TokList *a, int k1, const TokList *b, int k2, int has_pair,
                  Encoding *out)
{
    switch (p->pp_kind) {
    case PP_TEMPLATE: {
        const TplPiece *v = has_pair ? p->pair : p->single;
        int nv = has_pair ? p->npair : p->nsingle;
        for (int i = 0; i < nv; i++) {
            if (v[i].seq == 1)
                encoding_put_list(out, a, k1, v[i].type_id);
            else if (v[i].seq == 2)
                encoding_put_list(out, b, k2, v[i].type_id);
            else
                for (int j = 0; j < v[i].nids; j++)
                    encoding_put(out, v[i].ids[j], v[i].type_id, 1, 0, 0);
        }
        break;
    }
    case PP_BERT:
    case PP_ROBERTA: {
        int rob = p->pp_kind == PP_ROBERTA, ty = rob ? 0 : 1;
        encoding_put(out, p->cls_id, 0, 1, 0, 0);
        encoding_put_list(out, a, k1, 0);
        encoding_put(out, p->sep_id, 0, 1, 0, 0);
        if (has_pair) {
            if (rob)
                encoding_put(out, p->sep_id, 0, 1, 0, 0);
            encoding_put_list(out, b, k2, ty);
            encoding_put(out, p->sep_id, ty, 1, 0, 0);
        }
        break;
    }
    default:
        encoding_put_list(out, a, k1, 0);
        if (has_pair)
            encoding_put_list(out, b, k2, 1);
    }
}

int tokjson_encode(const Tokenizer *t, const uint32_t *cp1, int n1, const uint32_t *cp2, int n2, int has_pair,
                   int max_length, Encoding *out)
{
    const TjPipeline *p = t->tj;
    TokList a = {0}, b = {0};
    encode_segment(t, cp1, n1, &a);
    if (has_pair)
        encode_segment(t, cp2, n2, &b);
    if (p->trim_offsets) {
        trim_offsets(t, &a);
        trim_offsets(t, &b);
    }
    int added = tokenizer_num_added(t, has_pair);
    int k1 = a.n, k2 = b.n;
    if (tok_truncate(t, max_length, added, has_pair, &k1, &k2))
        out->truncated = 1;
    encoding_alloc(out, k1 + k2 + added + 1);
    frame(p, &a, k1, &b, k2, has_pair, out);
    toklist_free(&a);
    toklist_free(&b);
    return 0;
}
