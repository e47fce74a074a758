/* Special tokens: their names (tokenizer_config.json, else the model's
 * defaults), their ids, and finding them where a user wrote them in the text.
 * Like HF's AddedVocabulary they are matched on the raw text before any
 * normalisation (so "[CLS]" is kept whole but "[cls]" is not), leftmost-longest,
 * with optional lstrip/rstrip from tokenizer_config.json's added_tokens_decoder. */
#include "io/tokenizer_internal.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const cfg_key[TOK_NUM_SPECIAL] = {"cls_token", "sep_token", "pad_token", "mask_token",
                                                     "unk_token"};
static const char *const wp_default[TOK_NUM_SPECIAL] = {"[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]"};
static const char *const bpe_default[TOK_NUM_SPECIAL] = {"<s>", "</s>", "<pad>", "<mask>", "<unk>"};

static const char *vocab_file(const Tokenizer *t) { return t->bpe ? "vocab.json" : "vocab.txt"; }

/* Adds (or updates the flags of) a recognised token. */
static int add_special(Tokenizer *t, const char *content, int id, int lstrip, int rstrip)
{
    for (int i = 0; i < t->n_specials; i++)
        if (strcmp(t->specials[i].content, content) == 0) {
            t->specials[i].lstrip |= lstrip;
            t->specials[i].rstrip |= rstrip;
            return 0;
        }
    uint32_t *cp;
    int n = utf8_to_cps(content, strlen(content), &cp);
    if (n <= 0) {
        if (n == 0)
            free(cp);
        return -1;
    }
    t->specials = realloc(t->specials, (t->n_specials + 1) * sizeof *t->specials);
    t->specials[t->n_specials++] = (AddedTok){.content = strdup(content), .cp = cp, .ncp = n, .id = id,
                                              .special = 1, .lstrip = lstrip, .rstrip = rstrip};
    return 0;
}

/* A token setting is a string or an AddedToken object {"content": ...}. */
static const char *token_content(json_t *v)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_object(v) && json_is_string(json_object_get(v, "content")))
        return json_string_value(json_object_get(v, "content"));
    return NULL;
}

int special_setup(Tokenizer *t, const void *config_json, const char *cfg_path, char *err, size_t errlen)
{
    json_t *cfg = (json_t *)config_json;
    /* added_tokens_decoder: {"<id>": {"content", "lstrip", "rstrip", ...}} (newer checkpoints). */
    json_t *atd = cfg ? json_object_get(cfg, "added_tokens_decoder") : NULL;
    if (atd && json_is_object(atd)) {
        const char *key;
        json_t *v;
        json_object_foreach(atd, key, v)
        {
            char *end;
            long id = strtol(key, &end, 10);
            const char *content = token_content(v);
            if (*end || id < 0 || !content || !*content) {
                snprintf(err, errlen, "%s: added_tokens_decoder: entry \"%s\" needs a numeric id and a content",
                         cfg_path, key);
                return -1;
            }
            int have = strmap_get(&t->vocab, content, strlen(content));
            if (have >= 0 && have != id) {
                snprintf(err, errlen, "%s: added_tokens_decoder: '%s' has id %ld but %s gives it id %d", cfg_path,
                         content, id, vocab_file(t), have);
                return -1;
            }
            if (have < 0) {
                if (id < t->vocab_size && t->id_to_tok[id]) {
                    snprintf(err, errlen, "%s: added_tokens_decoder: id %ld of '%s' is '%s' in %s", cfg_path, id,
                             content, t->id_to_tok[id], vocab_file(t));
                    return -1;
                }
                if (id >= t->vocab_size) {
                    t->id_to_tok = realloc(t->id_to_tok, (id + 1) * sizeof(char *));
                    for (long i = t->vocab_size; i <= id; i++)
                        t->id_to_tok[i] = NULL;
                    t->vocab_size = (int)id + 1;
                    if (t->bpe) {
                        t->lead_sp = realloc(t->lead_sp, t->vocab_size);
                        t->trail_sp = realloc(t->trail_sp, t->vocab_size);
                    }
                }
                t->id_to_tok[id] = strdup(content);
                if (t->bpe)
                    t->lead_sp[id] = t->trail_sp[id] = 0;
                strmap_put(&t->vocab, content, strlen(content), (int)id);
            }
            if (add_special(t, content, (int)id, json_is_true(json_object_get(v, "lstrip")),
                            json_is_true(json_object_get(v, "rstrip")))) {
                snprintf(err, errlen, "%s: added token \"%s\" is not valid UTF-8", cfg_path, key);
                return -1;
            }
        }
    }
    for (int k = 0; k < TOK_NUM_SPECIAL; k++) {
        const char *name = t->bpe ? bpe_default[k] : wp_default[k];
        json_t *v = cfg ? json_object_get(cfg, cfg_key[k]) : NULL;
        if (v && !json_is_null(v)) {
            name = token_content(v);
            if (!name || !*name) {
                snprintf(err, errlen, "%s: \"%s\" must be a token string", cfg_path, cfg_key[k]);
                return -1;
            }
        }
        int id = strmap_get(&t->vocab, name, strlen(name));
        if (id < 0) {
            snprintf(err, errlen, "%s/%s: special token %s '%s' is not in the vocabulary", t->dir, vocab_file(t),
                     cfg_key[k], name);
            return -1;
        }
        t->special_id[k] = id;
        if (add_special(t, name, id, 0, 0)) {
            snprintf(err, errlen, "%s: \"%s\" is not valid UTF-8", cfg_path, cfg_key[k]);
            return -1;
        }
    }
    if (t->bpe) { /* RoBERTa's bos/eos are its cls/sep; recognise them too when named apart */
        const char *extra[2] = {"bos_token", "eos_token"};
        for (int k = 0; k < 2; k++) {
            json_t *v = cfg ? json_object_get(cfg, extra[k]) : NULL;
            const char *name = v ? token_content(v) : NULL;
            int id = name ? strmap_get(&t->vocab, name, strlen(name)) : -1;
            if (name && id < 0) {
                snprintf(err, errlen, "%s/%s: special token %s '%s' is not in the vocabulary", t->dir,
                         vocab_file(t), extra[k], name);
                return -1;
            }
            if (name && add_special(t, name, id, 0, 0)) {
                snprintf(err, errlen, "%s: \"%s\" is not valid UTF-8", cfg_path, extra[k]);
                return -1;
            }
        }
    }
    return 0;
}

void special_free(Tokenizer *t)
{
    for (int i = 0; i < t->n_specials; i++) {
        free(t->specials[i].content);
        free(t->specials[i].cp);
    }
    free(t->specials);
    t->specials = NULL;
    t->n_specials = 0;
}
