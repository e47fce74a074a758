/* The one place that knows which backends exist. */
#include "engine/backend.h"
#include "engine/backend_cpu.h"
#include "engine/engine.h"
#include <string.h>

static const Backend *g_default; /* engine_set_precision(); NULL: the CPU backend */

const Backend *backend_select(const char *name)
{
    if (!name)
        return g_default ? g_default : &backend_cpu;
    if (!strcmp(name, "cpu"))
        return &backend_cpu;
    if (!strcmp(name, "cpu-bf16"))
        return backend_cpu_bf16();
    if (!strcmp(name, "cpu-bf16-attention"))
        return backend_cpu_bf16_attention();
    return NULL;
}

/* precision is the default backend of engines created afterwards: fp32 the CPU backend,
 * bf16 its bf16-product variant, bf16-attention that with bf16 attention products. */
int engine_set_precision(const char *precision)
{
    if (!strcmp(precision, "fp32")) {
        g_default = &backend_cpu;
        return 0;
    }
    if (!strcmp(precision, "bf16") && backend_cpu_bf16()) {
        g_default = backend_cpu_bf16();
        return 0;
    }
    if (!strcmp(precision, "bf16-attention") && backend_cpu_bf16_attention()) {
        g_default = backend_cpu_bf16_attention();
        return 0;
    }
    return -1;
}

int engine_set_attention_kernel(const char *name)
{
    if (strcmp(name, "blas") && strcmp(name, "blocked"))
        return -1;
    attention_kernel_set(!strcmp(name, "blocked"));
    return 0;
}

const char *engine_attention_kernel(void) { return attention_kernel_get() ? "blocked" : "blas"; }

const char *engine_precision(void)
{
    const Backend *be = backend_select(NULL);
    return be == &backend_cpu ? "fp32" : be == backend_cpu_bf16() ? "bf16" : "bf16-attention";
}
