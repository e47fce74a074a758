/* tokenizer.json -> TjPipeline (io/tokjson.h) and the Tokenizer's vocabulary,
 * merges and added tokens. Every malformed or unsupported value is refused with
 * the file and the JSON path of the value, e.g.
 *   DIR/tokenizer.json: pre_tokenizer.pretokenizers[1].pattern.Regex: invalid regex: ...
 * Defaults are the tokenizers crate's serde defaults. */
#include "io/tokjson.h"
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *file;
    char *err;
    size_t errlen;
} Ctx;

static int fail(Ctx *c, const char *path, const char *fmt, ...)
{
    char msg[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(c->err, c->errlen, "%s: %s: %s", c->file, path, msg);
    return -1;
}

/* path + "." + key, or path + "[i]" */
static void sub(char *out, size_t n, const char *path, const char *key) { snprintf(out, n, "%.400s%s%.150s", path, *path ? "." : "", key); }
static void idx(char *out, size_t n, const char *path, size_t i) { snprintf(out, n, "%.400s[%zu]", path, i); }

/* Optional boolean (absent / null: dflt). Returns -1 with an error. */
static int get_bool(Ctx *c, json_t *o, const char *path, const char *key, int dflt, int *out)
{
    json_t *v = json_object_get(o, key);
    *out = dflt;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v)) {
        char p[600];
        sub(p, sizeof p, path, key);
        return fail(c, p, "expected true or false");
    }
    *out = json_is_true(v);
    return 0;
}

static int get_int(Ctx *c, json_t *o, const char *path, const char *key, int dflt, int lo, int hi, int *out)
{
    json_t *v = json_object_get(o, key);
    *out = dflt;
    if (!v || json_is_null(v))
        return 0;
    char p[600];
    sub(p, sizeof p, path, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return fail(c, p, "expected an integer in [%d, %d]", lo, hi);
    *out = (int)json_integer_value(v);
    return 0;
}

/* Optional string (absent / null: NULL). */
static int get_str(Ctx *c, json_t *o, const char *path, const char *key, const char **out)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        char p[600];
        sub(p, sizeof p, path, key);
        return fail(c, p, "expected a string");
    }
    *out = json_string_value(v);
    return 0;
}

static int req_str(Ctx *c, json_t *o, const char *path, const char *key, const char **out)
{
    if (get_str(c, o, path, key, out))
        return -1;
    if (!*out) {
        char p[600];
        sub(p, sizeof p, path, key);
        return fail(c, p, "missing (expected a string)");
    }
    return 0;
}

static int to_cps(Ctx *c, const char *s, const char *path, uint32_t **cp, int *n)
{
    *n = utf8_to_cps(s, strlen(s), cp);
    if (*n < 0)
        return fail(c, path, "not valid UTF-8");
    return 0;
}

/* {"String": s} or {"Regex": r} */
static int get_pattern(Ctx *c, json_t *o, const char *path, const char *key, TjRegex **re)
{
    char p[600], q[640];
    sub(p, sizeof p, path, key);
    json_t *v = json_object_get(o, key);
    if (!json_is_object(v))
        return fail(c, p, "missing (expected {\"String\": ...} or {\"Regex\": ...})");
    json_t *s = json_object_get(v, "String"), *r = json_object_get(v, "Regex");
    if ((!s) == (!r) || !json_is_string(s ? s : r))
        return fail(c, p, "expected {\"String\": \"...\"} or {\"Regex\": \"...\"}");
    sub(q, sizeof q, p, s ? "String" : "Regex");
    if (strlen(json_string_value(s ? s : r)) != json_string_length(s ? s : r))
        return fail(c, q, "holds a NUL character");
    char e[400];
    *re = tjre_compile(json_string_value(s ? s : r), s != NULL, e, sizeof e);
    if (!*re)
        return fail(c, q, "%s", e);
    return 0;
}

static const char *type_of(Ctx *c, json_t *o, const char *path)
{
    if (!json_is_object(o)) {
        fail(c, path, "expected an object with a \"type\"");
        return NULL;
    }
    const char *ty;
    if (req_str(c, o, path, "type", &ty))
        return NULL;
    return ty;
}

/* ---- Sequence (of normalizers, pre-tokenizers, post-processors) ---- */

/* Parses element e (at path) of a Sequence into `into`. */
typedef int (*SeqItem)(Ctx *c, json_t *e, const char *path, void *into);

/* The array o[key] of a Sequence, each element (path key[i]) parsed by item: with size 0 into
 * `into` itself (the post-processors, which all apply to the one pipeline); else into its own
 * zeroed element of a new array *subs of `size` bytes each, counted in *nsub before it is parsed
 * (so that the free functions release a half-parsed Sequence too; *subs is set on failure too). */
static int parse_seq(Ctx *c, json_t *o, const char *path, const char *key, SeqItem item, void *into, size_t size,
                     void **subs, int *nsub)
{
    char p[600];
    json_t *a = json_object_get(o, key);
    sub(p, sizeof p, path, key);
    if (!json_is_array(a))
        return fail(c, p, "missing (expected an array)");
    if (size)
        *subs = calloc(json_array_size(a) + 1, size);
    for (size_t i = 0; i < json_array_size(a); i++) {
        char q[640];
        idx(q, sizeof q, p, i);
        if (size) {
            into = (char *)*subs + i * size;
            ++*nsub;
        }
        if (item(c, json_array_get(a, i), q, into))
            return -1;
    }
    return 0;
}

/* ---- normalizers ---- */

/* into: a Normalizer (void *: a SeqItem, for the Sequence's elements). */
static int parse_normalizer(Ctx *c, json_t *o, const char *path, void *into)
{
    Normalizer *nm = into;
    memset(nm, 0, sizeof *nm);
    const char *ty = type_of(c, o, path);
    if (!ty)
        return -1;
    char p[600];
    if (!strcmp(ty, "BertNormalizer")) {
        nm->kind = NM_BERT;
        json_t *sa = json_object_get(o, "strip_accents");
        nm->strip_accents = -1;
        if (sa && !json_is_null(sa)) {
            if (!json_is_boolean(sa))
                return sub(p, sizeof p, path, "strip_accents"), fail(c, p, "expected true, false or null");
            nm->strip_accents = json_is_true(sa);
        }
        return get_bool(c, o, path, "clean_text", 1, &nm->clean_text) ||
                       get_bool(c, o, path, "handle_chinese_chars", 1, &nm->chinese) ||
                       get_bool(c, o, path, "lowercase", 1, &nm->lowercase)
                   ? -1
                   : 0;
    }
    static const char *forms[] = {"NFC", "NFD", "NFKC", "NFKD"};
    for (int k = 0; k < 4; k++)
        if (!strcmp(ty, forms[k])) {
            nm->kind = NM_NFC + k;
            return 0;
        }
    if (!strcmp(ty, "Lowercase")) {
        nm->kind = NM_LOWER;
        return 0;
    }
    if (!strcmp(ty, "StripAccents")) {
        nm->kind = NM_STRIP_ACCENTS;
        return 0;
    }
    if (!strcmp(ty, "Strip")) {
        nm->kind = NM_STRIP;
        return get_bool(c, o, path, "strip_left", 1, &nm->left) || get_bool(c, o, path, "strip_right", 1, &nm->right)
                   ? -1
                   : 0;
    }
    if (!strcmp(ty, "Prepend") || !strcmp(ty, "Replace")) {
        const char *key = ty[0] == 'P' ? "prepend" : "content", *s;
        nm->kind = ty[0] == 'P' ? NM_PREPEND : NM_REPLACE;
        sub(p, sizeof p, path, key);
        if (req_str(c, o, path, key, &s) || to_cps(c, s, p, &nm->str, &nm->nstr))
            return -1;
        return nm->kind == NM_REPLACE ? get_pattern(c, o, path, "pattern", &nm->pat) : 0;
    }
    if (!strcmp(ty, "Sequence")) {
        nm->kind = NM_SEQ;
        void *subs = NULL;
        int rc = parse_seq(c, o, path, "normalizers", parse_normalizer, NULL, sizeof *nm->sub, &subs, &nm->nsub);
        nm->sub = subs;
        return rc;
    }
    sub(p, sizeof p, path, "type");
    return fail(c, p, "unsupported normalizer '%s' (supported: BertNormalizer, NFC, NFD, NFKC, NFKD, Lowercase, "
                      "StripAccents, Strip, Prepend, Replace, Sequence)", ty);
}

/* ---- pre-tokenizers ---- */

static int parse_behavior(Ctx *c, json_t *o, const char *path, int dflt, int *out)
{
    const char *b;
    *out = dflt;
    if (get_str(c, o, path, "behavior", &b))
        return -1;
    if (!b)
        return 0;
    static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    for (int k = 0; k < 5; k++)
        if (!strcmp(b, names[k])) {
            *out = k;
            return 0;
        }
    char p[600];
    sub(p, sizeof p, path, "behavior");
    return fail(c, p, "unknown behavior '%s' (Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)", b);
}

/* into: a PreTok (void *: a SeqItem, as parse_normalizer). */
static int parse_pretok(Ctx *c, json_t *o, const char *path, void *into)
{
    PreTok *pt = into;
    memset(pt, 0, sizeof *pt);
    const char *ty = type_of(c, o, path);
    if (!ty)
        return -1;
    char p[600];
    if (!strcmp(ty, "BertPreTokenizer")) {
        pt->kind = PT_BERT;
        return 0;
    }
    if (!strcmp(ty, "ByteLevel")) {
        pt->kind = PT_BYTELEVEL;
        return get_bool(c, o, path, "add_prefix_space", 1, &pt->add_prefix_space) ||
                       get_bool(c, o, path, "use_regex", 1, &pt->use_regex)
                   ? -1
                   : 0;
    }
    if (!strcmp(ty, "Split")) {
        pt->kind = PT_SPLIT;
        if (get_pattern(c, o, path, "pattern", &pt->re) || get_bool(c, o, path, "invert", 0, &pt->invert))
            return -1;
        if (!json_object_get(o, "behavior"))
            return sub(p, sizeof p, path, "behavior"), fail(c, p, "missing");
        return parse_behavior(c, o, path, SB_REMOVED, &pt->behavior);
    }
    if (!strcmp(ty, "Metaspace")) {
        pt->kind = PT_METASPACE;
        const char *r, *ps;
        if (get_str(c, o, path, "replacement", &r) || get_str(c, o, path, "prepend_scheme", &ps) ||
            get_bool(c, o, path, "split", 1, &pt->split))
            return -1;
        pt->repl = 0x2581;
        if (r) {
            uint32_t *cp;
            int n;
            sub(p, sizeof p, path, "replacement");
            if (to_cps(c, r, p, &cp, &n))
                return -1;
            if (n != 1) {
                free(cp);
                return fail(c, p, "expected one character");
            }
            pt->repl = cp[0];
            free(cp);
        }
        pt->prepend_scheme = PS_ALWAYS;
        if (ps) {
            if (!strcmp(ps, "always"))
                pt->prepend_scheme = PS_ALWAYS;
            else if (!strcmp(ps, "never"))
                pt->prepend_scheme = PS_NEVER;
            else if (!strcmp(ps, "first"))
                pt->prepend_scheme = PS_FIRST;
            else
                return sub(p, sizeof p, path, "prepend_scheme"), fail(c, p, "expected always, never or first");
        } else { /* older files: add_prefix_space */
            int aps;
            if (get_bool(c, o, path, "add_prefix_space", 1, &aps))
                return -1;
            pt->prepend_scheme = aps ? PS_ALWAYS : PS_NEVER;
        }
        return 0;
    }
    if (!strcmp(ty, "Digits")) {
        pt->kind = PT_DIGITS;
        return get_bool(c, o, path, "individual_digits", 0, &pt->individual);
    }
    if (!strcmp(ty, "Punctuation")) {
        pt->kind = PT_PUNCT;
        return parse_behavior(c, o, path, SB_ISOLATED, &pt->behavior);
    }
    if (!strcmp(ty, "Whitespace")) { /* the crate's Whitespace: keep \w+|[^\w\s]+ */
        char e[300];
        pt->kind = PT_WHITESPACE;
        pt->behavior = SB_REMOVED;
        pt->invert = 1;
        pt->re = tjre_compile("\\w+|[^\\w\\s]+", 0, e, sizeof e);
        return pt->re ? 0 : fail(c, path, "%s", e);
    }
    if (!strcmp(ty, "WhitespaceSplit")) {
        pt->kind = PT_WSSPLIT;
        return 0;
    }
    if (!strcmp(ty, "Sequence")) {
        pt->kind = PT_SEQ;
        void *subs = NULL;
        int rc = parse_seq(c, o, path, "pretokenizers", parse_pretok, NULL, sizeof *pt->sub, &subs, &pt->nsub);
        pt->sub = subs;
        return rc;
    }
    sub(p, sizeof p, path, "type");
    return fail(c, p, "unsupported pre-tokenizer '%s' (supported: BertPreTokenizer, ByteLevel, Split, Metaspace, "
                      "Digits, Punctuation, Whitespace, WhitespaceSplit, Sequence)", ty);
}

/* ---- vocabulary and model ---- */

/* Id of a token of the model's vocabulary or of the added tokens (kept apart: the
 * model never produces an added-only token, as in HF), -1 when absent. */
static int any_id(const Tokenizer *t, const char *s)
{
    int id = strmap_get(&t->vocab, s, strlen(s));
    return id >= 0 ? id : strmap_get(&t->cont, s, strlen(s));
}

static int add_token(Tokenizer *t, const char *s, int id, int added_only)
{
    if (id >= t->vocab_size) {
        t->id_to_tok = realloc(t->id_to_tok, ((size_t)id + 1) * sizeof(char *));
        for (int i = t->vocab_size; i <= id; i++)
            t->id_to_tok[i] = NULL;
        t->vocab_size = id + 1;
    }
    t->id_to_tok[id] = strdup(s);
    strmap_put(added_only ? &t->cont : &t->vocab, s, strlen(s), id);
    return 0;
}

static int parse_vocab(Ctx *c, Tokenizer *t, json_t *v)
{
    if (!json_is_object(v) || json_object_size(v) == 0)
        return fail(c, "model.vocab", "expected a non-empty object {token: id}");
    strmap_init(&t->vocab, (uint32_t)json_object_size(v) + 64);
    const char *key;
    json_t *val;
    int maxid = -1;
    json_object_foreach(v, key, val)
    {
        json_int_t id = json_is_integer(val) ? json_integer_value(val) : -1;
        if (id < 0 || id > 100000000)
            return fail(c, "model.vocab", "token '%.80s' needs an integer id in [0, 100000000]", key);
        if (id > maxid)
            maxid = (int)id;
    }
    t->vocab_size = maxid + 1;
    t->id_to_tok = calloc((size_t)t->vocab_size, sizeof(char *));
    json_object_foreach(v, key, val)
    {
        int id = (int)json_integer_value(val);
        uint32_t *cp;
        int n = utf8_to_cps(key, strlen(key), &cp);
        if (n < 0)
            return fail(c, "model.vocab", "a token is not valid UTF-8");
        free(cp);
        if (t->id_to_tok[id])
            return fail(c, "model.vocab", "id %d is used by both '%.80s' and '%.80s'", id, t->id_to_tok[id], key);
        add_token(t, key, id, 0);
        int len = (int)strlen(key);
        if (len > t->tj->max_tok_bytes)
            t->tj->max_tok_bytes = len;
    }
    return 0;
}

static int parse_merges(Ctx *c, Tokenizer *t, json_t *m)
{
    TjPipeline *p = t->tj;
    if (!m || json_is_null(m))
        m = json_array();
    else
        json_incref(m);
    int rc = 0;
    if (!json_is_array(m)) {
        json_decref(m);
        return fail(c, "model.merges", "expected an array of \"a b\" strings or [a, b] pairs");
    }
    size_t pl = p->cont_prefix ? strlen(p->cont_prefix) : 0;
    char *joined = NULL;
    size_t jcap = 0;
    for (size_t i = 0; i < json_array_size(m) && !rc; i++) {
        json_t *e = json_array_get(m, i);
        char path[64];
        idx(path, sizeof path, "model.merges", i);
        const char *a, *b;
        size_t la, lb;
        if (json_is_string(e)) {
            const char *s = json_string_value(e), *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                rc = fail(c, path, "'%.80s' is not two tokens separated by one space", s);
                break;
            }
            a = s, la = (size_t)(sp - s), b = sp + 1, lb = strlen(sp + 1);
        } else if (json_is_array(e) && json_array_size(e) == 2 && json_is_string(json_array_get(e, 0)) &&
                   json_is_string(json_array_get(e, 1))) {
            a = json_string_value(json_array_get(e, 0)), la = strlen(a);
            b = json_string_value(json_array_get(e, 1)), lb = strlen(b);
        } else {
            rc = fail(c, path, "expected \"a b\" or [\"a\", \"b\"]");
            break;
        }
        int ia = strmap_get(&t->vocab, a, la), ib = strmap_get(&t->vocab, b, lb);
        size_t skip = pl && lb >= pl && !strncmp(b, p->cont_prefix, pl) ? pl : 0;
        if (la + lb + 1 > jcap)
            joined = realloc(joined, jcap = la + lb + 64);
        memcpy(joined, a, la);
        memcpy(joined + la, b + skip, lb - skip);
        joined[la + lb - skip] = 0;
        int iab = strmap_get(&t->vocab, joined, la + lb - skip);
        if (ia < 0 || ib < 0 || iab < 0) {
            char miss[200];
            snprintf(miss, sizeof miss, "%.*s", (int)(ia < 0 ? la : ib < 0 ? lb : la + lb - skip),
                     ia < 0 ? a : ib < 0 ? b : joined);
            rc = fail(c, path, "merge uses a token missing from model.vocab ('%.80s')", miss);
            break;
        }
        bpe_merges_put(&t->merges, (uint64_t)(uint32_t)ia << 32 | (uint32_t)ib, (uint32_t)i, iab);
    }
    free(joined);
    json_decref(m);
    if (!rc && !t->merges.cap) /* an empty table still needs a slot array for lookups */
        bpe_merges_put(&t->merges, UINT64_MAX - 1, 0, -1);
    return rc;
}

static int parse_model(Ctx *c, Tokenizer *t, json_t *m)
{
    TjPipeline *p = t->tj;
    const char *ty = type_of(c, m, "model");
    if (!ty)
        return -1;
    if (!strcmp(ty, "Unigram") || !strcmp(ty, "WordLevel"))
        return fail(c, "model.type", "the %s model is not supported (attrun reads BPE and WordPiece)", ty);
    int wp = !strcmp(ty, "WordPiece");
    if (!wp && strcmp(ty, "BPE"))
        return fail(c, "model.type", "unknown model '%s' (supported: BPE, WordPiece)", ty);
    p->wordpiece = wp;
    t->bpe = !wp;
    if (parse_vocab(c, t, json_object_get(m, "vocab")))
        return -1;
    const char *unk;
    if (get_str(c, m, "model", "unk_token", &unk))
        return -1;
    p->unk_id = -1;
    if (unk) {
        p->unk_id = strmap_get(&t->vocab, unk, strlen(unk));
        if (p->unk_id < 0)
            return fail(c, "model.unk_token", "'%.80s' is not in model.vocab", unk);
    }
    if (wp) {
        const char *pre;
        if (!unk)
            return fail(c, "model.unk_token", "missing (WordPiece needs an unk token)");
        if (get_str(c, m, "model", "continuing_subword_prefix", &pre) ||
            get_int(c, m, "model", "max_input_chars_per_word", 100, 0, 1 << 30, &p->max_input_chars))
            return -1;
        p->wp_prefix = strdup(pre ? pre : "##");
        return 0;
    }
    json_t *d = json_object_get(m, "dropout");
    if (d && !json_is_null(d) && !(json_is_number(d) && json_number_value(d) == 0))
        return fail(c, "model.dropout", "BPE dropout is random; only null is supported");
    const char *pre, *suf;
    if (get_str(c, m, "model", "continuing_subword_prefix", &pre) ||
        get_str(c, m, "model", "end_of_word_suffix", &suf) || get_bool(c, m, "model", "fuse_unk", 0, &p->fuse_unk) ||
        get_bool(c, m, "model", "byte_fallback", 0, &p->byte_fallback) ||
        get_bool(c, m, "model", "ignore_merges", 0, &p->ignore_merges))
        return -1;
    p->cont_prefix = pre && *pre ? strdup(pre) : NULL;
    p->eow_suffix = suf && *suf ? strdup(suf) : NULL;
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        p->byte_fb_id[b] = strmap_get(&t->vocab, name, strlen(name));
    }
    return parse_merges(c, t, json_object_get(m, "merges"));
}

/* ---- added tokens ---- */

static int parse_added(Ctx *c, Tokenizer *t, json_t *a)
{
    TjPipeline *p = t->tj;
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return fail(c, "added_tokens", "expected an array");
    p->added = calloc(json_array_size(a) + 1, sizeof *p->added);
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *o = json_array_get(a, i);
        char path[64], q[96];
        idx(path, sizeof path, "added_tokens", i);
        if (!json_is_object(o))
            return fail(c, path, "expected an object {id, content, ...}");
        const char *content;
        int id;
        AddedTok *at = &p->added[p->nadded];
        if (req_str(c, o, path, "content", &content) || get_int(c, o, path, "id", -1, 0, 100000000, &id) ||
            get_bool(c, o, path, "special", 0, &at->special) || get_bool(c, o, path, "lstrip", 0, &at->lstrip) ||
            get_bool(c, o, path, "rstrip", 0, &at->rstrip) ||
            get_bool(c, o, path, "single_word", 0, &at->single_word) ||
            get_bool(c, o, path, "normalized", !at->special, &at->normalized))
            return -1;
        sub(q, sizeof q, path, "id");
        if (id < 0)
            return fail(c, q, "missing");
        sub(q, sizeof q, path, "content");
        if (!*content)
            return fail(c, q, "empty");
        int have = any_id(t, content);
        if (have >= 0 && have != id)
            return fail(c, q, "'%.80s' has id %d already, not %d", content, have, id);
        if (have < 0) {
            if (id < t->vocab_size && t->id_to_tok[id])
                return fail(c, q, "id %d of '%.80s' is '%.80s' in model.vocab", id, content, t->id_to_tok[id]);
            add_token(t, content, id, 1);
        }
        uint32_t *cp;
        int n;
        if (to_cps(c, content, q, &cp, &n))
            return -1;
        if (at->normalized && p->norm) { /* matched on normalized text: store the normalized form */
            NStr s;
            ns_from_cps(&s, cp, 0, n);
            normalizer_apply(p->norm, &s);
            free(cp);
            cp = malloc(((size_t)s.n + 1) * sizeof *cp);
            memcpy(cp, s.c, (size_t)s.n * sizeof *cp);
            n = s.n;
            ns_free(&s);
            if (n == 0) {
                free(cp);
                continue; /* normalizes to nothing: never matched */
            }
        }
        at->cp = cp;
        at->ncp = n;
        at->id = id;
        p->any_normalized_added |= at->normalized;
        p->added_first[at->normalized ? 1 : 0] |= 1ull << (cp[0] & 63);
        p->nadded++;
    }
    return 0;
}

/* ---- post-processors ---- */

/* ["token", id] */
static int parse_pair_tok(Ctx *c, Tokenizer *t, json_t *o, const char *path, const char *key, int *id)
{
    char p[600];
    sub(p, sizeof p, path, key);
    json_t *v = json_object_get(o, key);
    if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_string(json_array_get(v, 0)) ||
        !json_is_integer(json_array_get(v, 1)))
        return fail(c, p, "expected [\"token\", id]");
    *id = (int)json_integer_value(json_array_get(v, 1));
    if (*id < 0 || *id >= t->vocab_size || !t->id_to_tok[*id])
        return fail(c, p, "id %d is not in the vocabulary", *id);
    return 0;
}

static int parse_template(Ctx *c, json_t *o, const char *path, const char *key, TplPiece **out, int *n)
{
    char p[600];
    sub(p, sizeof p, path, key);
    json_t *a = json_object_get(o, key), *st = json_object_get(o, "special_tokens");
    if (!json_is_array(a))
        return fail(c, p, "missing (expected an array of {\"SpecialToken\"} / {\"Sequence\"})");
    *out = calloc(json_array_size(a) + 1, sizeof **out);
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *e = json_array_get(a, i), *sp = json_object_get(e, "SpecialToken"), *sq = json_object_get(e, "Sequence");
        char q[640], r[700];
        idx(q, sizeof q, p, i);
        TplPiece *tp = &(*out)[*n];
        json_t *body = sp ? sp : sq;
        sub(r, sizeof r, q, sp ? "SpecialToken" : "Sequence");
        if (!json_is_object(body))
            return fail(c, q, "expected {\"SpecialToken\": {...}} or {\"Sequence\": {...}}");
        const char *name;
        if (req_str(c, body, r, "id", &name) || get_int(c, body, r, "type_id", 0, 0, 1 << 20, &tp->type_id))
            return -1;
        (*n)++;
        if (sq) {
            if (strcmp(name, "A") && strcmp(name, "B")) {
                char s2[740];
                sub(s2, sizeof s2, r, "id");
                return fail(c, s2, "expected \"A\" or \"B\"");
            }
            tp->seq = name[0] == 'A' ? 1 : 2;
            continue;
        }
        json_t *def = json_is_object(st) ? json_object_get(st, name) : NULL, *ids = json_object_get(def, "ids");
        char s2[700];
        snprintf(s2, sizeof s2, "%s%sspecial_tokens", path, *path ? "." : "");
        if (!json_is_array(ids))
            return fail(c, s2, "'%.80s' is used by the template but not defined with its \"ids\"", name);
        tp->ids = calloc(json_array_size(ids) + 1, sizeof *tp->ids);
        for (size_t k = 0; k < json_array_size(ids); k++) {
            json_t *x = json_array_get(ids, k);
            if (!json_is_integer(x) || json_integer_value(x) < 0)
                return fail(c, s2, "'%.80s': ids must be non-negative integers", name);
            tp->ids[tp->nids++] = (int)json_integer_value(x);
        }
    }
    /* The tokenizers crate clones a sequence each time a template names it, but its truncation
     * budget counts only the special tokens, so a repeated $A would overrun max_length; a single
     * template naming $B panics there; its builder refuses a pair template without both. */
    int pair = !strcmp(key, "pair"), uses[3] = {0, 0, 0};
    for (int i = 0; i < *n; i++)
        uses[(*out)[i].seq]++;
    for (int s = 1; s <= 2; s++)
        if (uses[s] > 1)
            return fail(c, p, "uses sequence $%c %d times (attrun supports each sequence at most once)", 'A' + s - 1,
                        uses[s]);
    if (!pair && uses[2])
        return fail(c, p, "names sequence $B, which a single-sequence template cannot use");
    if (pair && (!uses[1] || !uses[2]))
        return fail(c, p, "must use both sequences ($A and $B)");
    return 0;
}

/* into: the Tokenizer (void *: a SeqItem, as parse_normalizer; a Sequence's processors all
 * apply to the one pipeline). */
static int parse_post(Ctx *c, json_t *o, const char *path, void *into)
{
    Tokenizer *t = into;
    TjPipeline *p = t->tj;
    const char *ty = type_of(c, o, path);
    if (!ty)
        return -1;
    if (!strcmp(ty, "ByteLevel") || !strcmp(ty, "RobertaProcessing")) {
        int trim, aps;
        if (get_bool(c, o, path, "trim_offsets", 1, &trim) || get_bool(c, o, path, "add_prefix_space", 1, &aps))
            return -1;
        if (trim) {
            p->trim_offsets = 1;
            p->trim_add_prefix_space = aps;
        }
        if (ty[0] == 'B')
            return 0;
        p->pp_kind = PP_ROBERTA;
        return parse_pair_tok(c, t, o, path, "cls", &p->cls_id) || parse_pair_tok(c, t, o, path, "sep", &p->sep_id);
    }
    if (!strcmp(ty, "BertProcessing")) {
        p->pp_kind = PP_BERT;
        return parse_pair_tok(c, t, o, path, "cls", &p->cls_id) || parse_pair_tok(c, t, o, path, "sep", &p->sep_id);
    }
    if (!strcmp(ty, "TemplateProcessing")) {
        for (int i = 0; i < p->nsingle; i++)
            free(p->single[i].ids);
        for (int i = 0; i < p->npair; i++)
            free(p->pair[i].ids);
        free(p->single);
        free(p->pair);
        p->single = p->pair = NULL;
        p->nsingle = p->npair = 0;
        p->pp_kind = PP_TEMPLATE;
        return parse_template(c, o, path, "single", &p->single, &p->nsingle) ||
               parse_template(c, o, path, "pair", &p->pair, &p->npair);
    }
    if (!strcmp(ty, "Sequence"))
        return parse_seq(c, o, path, "processors", parse_post, t, 0, NULL, NULL);
    char q[600];
    sub(q, sizeof q, path, "type");
    return fail(c, q, "unsupported post-processor '%s' (supported: TemplateProcessing, BertProcessing, "
                      "RobertaProcessing, ByteLevel, Sequence)", ty);
}

/* ---- the file ---- */

int tokjson_load(Tokenizer *t, const char *path, char *err, size_t errlen)
{
    Ctx c = {path, err, errlen};
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        snprintf(err, errlen, "%s:%d:%d: invalid JSON: %s", path, je.line, je.column, je.text);
        return -1;
    }
    TjPipeline *p = t->tj = calloc(1, sizeof *p);
    strmap_init(&t->cont, 64); /* added tokens outside model.vocab */
    snprintf(p->path, sizeof p->path, "%s", path);
    int rc = -1;
    json_t *v;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "%s: expected a JSON object (a tokenizers Tokenizer)", path);
        goto done;
    }
    if (!json_is_object(json_object_get(root, "model"))) {
        fail(&c, "model", "missing (expected an object)");
        goto done;
    }
    v = json_object_get(root, "normalizer");
    if (v && !json_is_null(v)) {
        p->norm = calloc(1, sizeof *p->norm);
        if (parse_normalizer(&c, v, "normalizer", p->norm))
            goto done;
    }
    v = json_object_get(root, "pre_tokenizer");
    if (v && !json_is_null(v)) {
        p->pre = calloc(1, sizeof *p->pre);
        if (parse_pretok(&c, v, "pre_tokenizer", p->pre))
            goto done;
    }
    if (parse_model(&c, t, json_object_get(root, "model")) || parse_added(&c, t, json_object_get(root, "added_tokens")))
        goto done;
    v = json_object_get(root, "post_processor");
    if (v && !json_is_null(v) && parse_post(&c, v, "post_processor", t))
        goto done;
    for (int i = 0; i < p->nsingle; i++)
        for (int k = 0; k < p->single[i].nids; k++)
            if (p->single[i].ids[k] >= t->vocab_size || !t->id_to_tok[p->single[i].ids[k]]) {
                fail(&c, "post_processor.special_tokens", "id %d is not in the vocabulary", p->single[i].ids[k]);
                goto done;
            }
    for (int i = 0; i < p->npair; i++)
        for (int k = 0; k < p->pair[i].nids; k++)
            if (p->pair[i].ids[k] >= t->vocab_size || !t->id_to_tok[p->pair[i].ids[k]]) {
                fail(&c, "post_processor.special_tokens", "id %d is not in the vocabulary", p->pair[i].ids[k]);
                goto done;
            }
    v = json_object_get(root, "truncation");
    if (v && !json_is_null(v)) {
        if (!json_is_object(v)) {
            fail(&c, "truncation", "expected an object or null");
            goto done;
        }
        if (get_int(&c, v, "truncation", "max_length", 0, 0, 1 << 30, &p->truncation_max))
            goto done;
    }
    if (p->trim_offsets)
        tokjson_space_tables(t);
    t->cache = calloc(1, sizeof *t->cache);
    strmap_init(&t->cache->map, 1 << 14);
    pthread_mutex_init(&t->cache->lock, NULL);
    rc = 0;
done:
    json_decref(root);
    return rc;
}

void tokjson_free(TjPipeline *p)
{
    if (!p)
        return;
    normalizer_free(p->norm);
    pretok_free(p->pre);
    free(p->cont_prefix);
    free(p->eow_suffix);
    free(p->wp_prefix);
    for (int i = 0; i < p->nadded; i++)
        free(p->added[i].cp);
    free(p->added);
    for (int i = 0; i < p->nsingle; i++)
        free(p->single[i].ids);
    for (int i = 0; i < p->npair; i++)
        free(p->pair[i].ids);
    free(p->single);
    free(p->pair);
    free(p);
}

/* transformers' update_post_processor (Llama-family fast tokenizers): the template
 * becomes [bos] $A [eos] (pair: [bos] $A [eos] [bos]:1 $B:1 [eos]:1). */
int tokjson_set_bos_eos(Tokenizer *t, int add_bos, int add_eos, char *err, size_t errlen)
{
    TjPipeline *p = t->tj;
    int bos = t->special_id[TOK_BOS], eos = t->special_id[TOK_EOS];
    if ((add_bos && bos < 0) || (add_eos && eos < 0)) {
        snprintf(err, errlen, "%s/tokenizer_config.json: add_%s_token is true but there is no %s_token", t->dir,
                 add_bos && bos < 0 ? "bos" : "eos", add_bos && bos < 0 ? "bos" : "eos");
        return -1;
    }
    for (int i = 0; i < p->nsingle; i++)
        free(p->single[i].ids);
    for (int i = 0; i < p->npair; i++)
        free(p->pair[i].ids);
    free(p->single);
    free(p->pair);
    p->single = calloc(3, sizeof *p->single);
    p->pair = calloc(6, sizeof *p->pair);
    p->nsingle = p->npair = 0;
    for (int seg = 0; seg < 2; seg++)
        for (int pass = 0; pass < 2; pass++) {
            TplPiece *v = pass ? p->pair : p->single;
            int *n = pass ? &p->npair : &p->nsingle;
            if (seg == 1 && !pass)
                continue;
            if (add_bos) {
                v[*n] = (TplPiece){0, malloc(sizeof(int)), 1, seg};
                v[(*n)++].ids[0] = bos;
            }
            v[(*n)++] = (TplPiece){seg + 1, NULL, 0, seg};
            if (add_eos) {
                v[*n] = (TplPiece){0, malloc(sizeof(int)), 1, seg};
                v[(*n)++].ids[0] = eos;
            }
        }
    p->pp_kind = PP_TEMPLATE;
    return 0;
}

/* ---- tokenizer_config.json on top of tokenizer.json ---- */

static const char *cfg_token(json_t *cfg, const char *key)
{
    json_t *v = cfg ? json_object_get(cfg, key) : NULL;
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_object(v) && json_is_string(json_object_get(v, "content")))
        return json_string_value(json_object_get(v, "content"));
    return NULL;
}

static int added_named(const Tokenizer *t, const char *const *names)
{
    for (; *names; names++) {
        int id = any_id(t, *names);
        if (id >= 0)
            return id;
    }
    return -1;
}

/* Special-token ids: tokenizer_config.json's names when given, else what the
 * pipeline implies (model unk, the processor's cls/sep, the template's first and
 * last specials as bos/eos) and the usual names of pad/mask. */
static int special_ids(Tokenizer *t, json_t *cfg, const char *cfgp, char *err, size_t errlen)
{
    static const char *keys[TOK_NUM_SPECIAL_ALL] = {"cls_token", "sep_token", "pad_token", "mask_token",
                                                    "unk_token", "bos_token", "eos_token"};
    TjPipeline *p = t->tj;
    int first = -1, last = -1;
    if (p->pp_kind == PP_TEMPLATE && p->nsingle) {
        if (!p->single[0].seq && p->single[0].nids)
            first = p->single[0].ids[0];
        const TplPiece *z = &p->single[p->nsingle - 1];
        if (!z->seq && z->nids)
            last = z->ids[z->nids - 1];
    }
    static const char *pads[] = {"[PAD]", "<pad>", NULL}, *masks[] = {"[MASK]", "<mask>", NULL};
    int guess[TOK_NUM_SPECIAL_ALL] = {
        p->pp_kind == PP_BERT || p->pp_kind == PP_ROBERTA ? p->cls_id : first,
        p->pp_kind == PP_BERT || p->pp_kind == PP_ROBERTA ? p->sep_id : last,
        added_named(t, pads), added_named(t, masks), p->unk_id,
        p->pp_kind == PP_ROBERTA ? p->cls_id : first, p->pp_kind == PP_ROBERTA ? p->sep_id : last};
    for (int k = 0; k < TOK_NUM_SPECIAL_ALL; k++) {
        json_t *v = cfg ? json_object_get(cfg, keys[k]) : NULL;
        const char *name = cfg_token(cfg, keys[k]);
        t->special_id[k] = guess[k];
        if (v && json_is_null(v)) {
            t->special_id[k] = -1; /* explicitly none */
            continue;
        }
        if (!name)
            continue;
        int id = any_id(t, name);
        if (id < 0) {
            snprintf(err, errlen, "%s: %s '%s' is not in the vocabulary of %s", cfgp, keys[k], name, p->path);
            return -1;
        }
        t->special_id[k] = id;
    }
    return 0;
}

int tokjson_config(Tokenizer *t, void *config_json, const char *cfgp, char *err, size_t errlen)
{
    json_t *cfg = config_json;
    TjPipeline *p = t->tj;
    /* transformers turns the backend's own "truncation" off unless asked: no limit by default */
    t->model_max_length = 0;
    json_t *mml = cfg ? json_object_get(cfg, "model_max_length") : NULL;
    if (mml && !json_is_null(mml)) {
        if (!json_is_number(mml) || json_number_value(mml) < 1) {
            snprintf(err, errlen, "%s: \"model_max_length\" must be a positive number", cfgp);
            return -1;
        }
        /* HF writes 1e30 (VERY_LARGE_INTEGER) when a model has no limit */
        t->model_max_length = json_number_value(mml) < 1e9 ? (int)json_number_value(mml) : 0;
    }
    /* BertTokenizerFast rebuilds its BertNormalizer when the config's options differ */
    if (p->norm && p->norm->kind == NM_BERT && cfg) {
        static const char *keys[3] = {"do_lower_case", "strip_accents", "tokenize_chinese_chars"};
        int *dst[3] = {&p->norm->lowercase, &p->norm->strip_accents, &p->norm->chinese};
        for (int k = 0; k < 3; k++) {
            json_t *v = json_object_get(cfg, keys[k]);
            if (v && json_is_boolean(v))
                *dst[k] = json_is_true(v);
            else if (v && !json_is_null(v)) {
                snprintf(err, errlen, "%s: \"%s\" must be true or false", cfgp, keys[k]);
                return -1;
            }
        }
    }
    if (special_ids(t, cfg, cfgp, err, errlen))
        return -1;
    /* add_prefix_space: GPT2TokenizerFast / RobertaTokenizerFast (and Bart's) rebuild their
     * ByteLevel pre-tokenizer (and Roberta's processor) when the config says otherwise */
    const char *klass = cfg_token(cfg, "tokenizer_class");
    json_t *aps = cfg ? json_object_get(cfg, "add_prefix_space") : NULL;
    if (klass && json_is_boolean(aps) && p->pre && p->pre->kind == PT_BYTELEVEL &&
        (!strncmp(klass, "GPT2Tokenizer", 13) || !strncmp(klass, "RobertaTokenizer", 16) ||
         !strncmp(klass, "BartTokenizer", 13))) {
        p->pre->add_prefix_space = json_is_true(aps);
        if (p->pp_kind == PP_ROBERTA)
            p->trim_add_prefix_space = json_is_true(aps);
    }
    /* add_bos_token / add_eos_token: the Llama-family fast tokenizers rewrite their template */
    const char *cls = cfg_token(cfg, "tokenizer_class");
    static const char *llama_like[] = {"LlamaTokenizer", "CodeLlamaTokenizer", "GemmaTokenizer", NULL};
    int llama = 0;
    for (int k = 0; cls && llama_like[k]; k++)
        llama |= !strncmp(cls, llama_like[k], strlen(llama_like[k]));
    json_t *ab = cfg ? json_object_get(cfg, "add_bos_token") : NULL, *ae = cfg ? json_object_get(cfg, "add_eos_token") : NULL;
    if ((ab && !json_is_boolean(ab) && !json_is_null(ab)) || (ae && !json_is_boolean(ae) && !json_is_null(ae))) {
        snprintf(err, errlen, "%s: \"add_bos_token\" / \"add_eos_token\" must be true or false", cfgp);
        return -1;
    }
    if (llama && (json_is_boolean(ab) || json_is_boolean(ae))) {
        /* LlamaTokenizerFast's defaults: add_bos_token true, add_eos_token false */
        int add_bos = ab && json_is_boolean(ab) ? json_is_true(ab) : 1;
        int add_eos = ae && json_is_boolean(ae) ? json_is_true(ae) : 0;
        if (tokjson_set_bos_eos(t, add_bos, add_eos, err, errlen))
            return -1;
    }
    return 0;
}
