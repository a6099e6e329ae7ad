#include "common/env.h"

#include <stdlib.h>

#include "common/log.h"

long long retl_env_num(const char *name, long long def, long long lo, long long hi)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*end || n < lo || n > hi) {
        RETL_LOG_WARN("ignoring a setting out of range", RF_S("name", name),
                      RF_S("value", v), RF_I("min", lo), RF_I("max", hi));
        return def;
    }
    return n;
}
