/* The one place that knows which backends exist. */
#include "engine/backend.h"
#include <string.h>

const Backend *backend_select(const char *name)
{
    if (!name || !strcmp(name, "cpu"))
        return &backend_cpu;
    return NULL;
}
