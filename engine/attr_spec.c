/* Method specs: names, Captum's defaults and validation (the methods' counts are in
 * the method table, attr_methods.c). */
#include "engine/attr_internal.h"
#include <string.h>

static const char *const RULE_NAMES[] = {"gausslegendre", "riemann_left", "riemann_right",
                                         "riemann_middle", "riemann_trapezoid"};
static const char *const BASELINE_NAMES[] = {"pad", "mask", "unk", "pad_all", "zero", "token"};
#define NRULES ((int)(sizeof RULE_NAMES / sizeof *RULE_NAMES))
#define NBASES ((int)(sizeof BASELINE_NAMES / sizeof *BASELINE_NAMES))

/* Defaults follow Captum 0.8's signatures where the header does not fix them:
 * IG/LayerConductance n_steps 50 with gausslegendre; NoiseTunnel nt_samples 5 and
 * stdevs 1.0 (SmoothGrad); GradientShap stdevs 0.0 (its sample count, 20, is ours). */
void method_spec_default(MethodSpec *s, MethodKind kind)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->layer = AT_WORD_EMB;
    s->output = OUT_LOGIT;
    s->steps = 50;
    s->rule = RULE_GAUSSLEGENDRE;
    s->tolerance = 1e-4;
    s->max_steps = 512;
    s->samples = kind == M_SMOOTHGRAD ? 5 : 20;
    s->stdevs = kind == M_SMOOTHGRAD ? 1.0 : 0.0;
    s->seed = 0;
    s->dl_rules = DL_RESCALE;
    s->smooth_base = M_SALIENCY;
    s->nbaselines = 1;
    s->baselines[0] = BASE_PAD;
    s->block_tokens = 1024;
}

const char *method_name(MethodKind k)
{
    const MethodOps *ops = method_ops(k);
    return ops ? ops->name : "?";
}

int method_from_name(const char *name)
{
    for (int i = 0; name && i < M_NUM_METHODS; i++)
        if (!strcmp(name, method_ops(i)->name))
            return i;
    return -1;
}

const char *rule_name(IgRule r)
{
    return (int)r >= 0 && (int)r < NRULES ? RULE_NAMES[r] : "?";
}

int rule_from_name(const char *name)
{
    for (int i = 0; name && i < NRULES; i++)
        if (!strcmp(name, RULE_NAMES[i]))
            return i;
    return -1;
}

const char *baseline_name(BaselineKind b)
{
    return (int)b >= 0 && (int)b < NBASES ? BASELINE_NAMES[b] : "?";
}

int baseline_from_name(const char *name)
{
    for (int i = 0; name && i < NBASES; i++)
        if (!strcmp(name, BASELINE_NAMES[i]))
            return i;
    return -1;
}

int method_spec_check(const MethodSpec *s, const char **err)
{
    const char *e = NULL;
    MethodShape sh;
    method_shape(s, &sh);
    if ((unsigned)s->kind >= M_NUM_METHODS)
        e = "method spec: unknown method";
    else if (s->layer != AT_WORD_EMB && s->layer != AT_EMBEDDINGS)
        e = "method spec: unknown layer";
    else if (s->output != OUT_LOGIT && s->output != OUT_PROB && s->output != OUT_LOGPROB)
        e = "method spec: unknown output";
    else if ((int)s->rule < 0 || (int)s->rule >= NRULES)
        e = "method spec: unknown integration rule";
    else if (s->block_tokens < 1 || s->block_tokens > METHOD_MAX_BLOCK_TOKENS)
        e = "method spec: block_tokens must be in 1..16777216";
    else if (sh.uses_steps && s->steps == IG_STEPS_AUTO && s->kind != M_IG)
        e = "method spec: adaptive steps (auto) apply to integrated gradients only";
    else if (sh.uses_steps && s->steps == IG_STEPS_AUTO && s->rule != RULE_GAUSSLEGENDRE)
        e = "method spec: adaptive steps (auto) need the gausslegendre rule";
    else if (sh.uses_steps && s->steps == IG_STEPS_AUTO &&
             (s->max_steps <= IG_AUTO_FIRST || s->max_steps > METHOD_MAX_STEPS))
        e = "method spec: adaptive steps: max_steps must be in 17..100000";
    else if (sh.uses_steps && s->steps == IG_STEPS_AUTO &&
             !(s->tolerance >= IG_AUTO_MIN_TOLERANCE && s->tolerance <= METHOD_MAX_TOLERANCE))
        e = "method spec: adaptive steps: tolerance must be in [1e-6, 1]";
    else if (sh.uses_steps && s->steps != IG_STEPS_AUTO &&
             (s->steps < 1 || s->steps > METHOD_MAX_STEPS || (s->rule != RULE_GAUSSLEGENDRE && s->steps < 2)))
        e = "method spec: steps must be in 1..100000 (2.. for the Riemann rules, as Captum asserts)";
    else if (sh.uses_samples && (s->samples < 1 || s->samples > METHOD_MAX_SAMPLES))
        e = "method spec: samples must be in 1..1000000";
    else if (!(s->stdevs >= 0.0) || s->stdevs > METHOD_MAX_STDEVS)
        e = "method spec: stdevs must be a finite number >= 0";
    else if (s->kind == M_SMOOTHGRAD && s->smooth_base != M_SALIENCY && s->smooth_base != M_IG)
        e = "method spec: smoothgrad works over saliency or ig only";
    else if (s->kind == M_SMOOTHGRAD && s->smooth_base == M_IG && method_items(s) > METHOD_MAX_ITEMS)
        e = "method spec: smoothgrad over ig: samples x steps too large";
    else if (s->dl_rules != DL_RESCALE && s->dl_rules != DL_CAPTUM)
        e = "method spec: unknown deeplift rules";
    else if (s->nbaselines < 1 || s->nbaselines > MAX_BASELINES)
        e = "method spec: nbaselines must be in 1..8";
    else
        for (int i = 0; i < s->nbaselines; i++)
            if ((int)s->baselines[i] < 0 || (int)s->baselines[i] >= NBASES)
                e = "method spec: unknown baseline kind";
    if (e && err)
        *err = e;
    return e ? -1 : 0;
}
