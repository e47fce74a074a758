/* Continuations: the config checks and the tokenization of one prompt/continuation row (see
 * continuation.h). */
#include "runner/continuation.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int continuation_check_config(const RunConfig *c, const ModelConfig *mc, char *err, size_t errlen)
{
    const char *f = c->corpus.continuation_field;
    if (!f)
        return 0;
    if (mc->head != HEAD_LM) {
        snprintf(err, errlen, "%s: corpus.continuation_field ('%s') needs a causal-LM model (GPT2LMHeadModel, "
                 "*ForCausalLM); %s is %s", c->source, f, c->model,
                 mc->head == HEAD_SCORE ? "a sequence-classification model" : mc->head == HEAD_MLM
                 ? "a masked-LM model" : "an encoder classifier");
        return -2;
    }
    if (c->corpus.pair_field) {
        snprintf(err, errlen, "%s: corpus.continuation_field and corpus.pair_field cannot be combined (a "
                 "continuation continues the one text)", c->source);
        return -2;
    }
    if (c->target != TARGET_PREDICTED) {
        snprintf(err, errlen, "%s: target: with corpus.continuation_field each continuation token is the target "
                 "of its own unit; remove the target key (or set it to predicted)", c->source);
        return -2;
    }
    return 0;
}

char *continuation_text(const char *prompt, const char *cont)
{
    size_t a = strlen(prompt), b = strlen(cont);
    char *s = malloc(a + b + 1);
    if (s) {
        memcpy(s, prompt, a);
        memcpy(s + a, cont, b + 1);
    }
    return s;
}

/* Tokens before the specials the tokenizer appends (an EOS: special, no characters of the text). */
static int before_added_tail(const Encoding *e)
{
    int n = e->n;
    while (n > 0 && e->special[n - 1] && e->offsets[n - 1][0] == 0 && e->offsets[n - 1][1] == 0)
        n--;
    return n;
}

const char *continuation_encode(const Tokenizer *tok, const char *prompt, const char *cont, int max_length,
                                Encoding *full, int *prompt_len, int *end)
{
    /* The prompt alone, untruncated: how many of the joint text's tokens are the prompt's. */
    Encoding pe;
    if (tokenizer_encode(tok, prompt, NULL, 0, &pe))
        return "text is not valid UTF-8";
    char *joint = continuation_text(prompt, cont);
    if (!joint) {
        encoding_free(&pe);
        return "out of memory";
    }
    int rc = tokenizer_encode(tok, joint, NULL, max_length, full);
    free(joint);
    if (rc) {
        encoding_free(&pe);
        return "continuation is not valid UTF-8";
    }
    int P = before_added_tail(&pe), E = before_added_tail(full);
    const char *why = NULL;
    if (P < 1)
        why = "the prompt has no tokens";
    else if (P > full->n)
        why = "the prompt alone is longer than corpus.max_length: no continuation token fits";
    else {
        for (int t = 0; t < P && !why; t++)
            if (pe.ids[t] != full->ids[t])
                why = "the prompt's tokens change when the continuation is appended (a token spans the "
                      "boundary between prompt and continuation); end the prompt where a token ends";
    }
    if (!why && E <= P)
        why = full->truncated ? "no continuation token fits in corpus.max_length"
                              : "the continuation has no tokens";
    encoding_free(&pe);
    if (why) {
        encoding_free(full);
        return why;
    }
    *prompt_len = P;
    *end = E;
    return NULL;
}
