/* libFuzzer target: cron expressions and the next-run search in a few time
 * zones (the first byte picks the zone, the next four the start time). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const zones[] = {
        "UTC",          "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
        "Asia/Kolkata", "Nope/Zone"};
    if (size < 5)
        return 0;
    const char *tz = zones[data[0] % (sizeof zones / sizeof zones[0])];
    uint32_t t = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 |
                 (uint32_t)data[3] << 8 | data[4];
    char *expr = malloc(size - 4);
    if (!expr)
        return 0;
    memcpy(expr, data + 5, size - 5);
    expr[size - 5] = '\0';
    struct retl_cron c;
    struct retl_errbuf eb = {{0}};
    if (retl_cron_parse(expr, &c, &eb) == RETL_E_OK) {
        time_t n = retl_cron_next(&c, tz, (time_t)t);
        if (n != (time_t)-1 && n <= (time_t)t)
            abort(); /* the next run is always later */
    }
    free(expr);
    return 0;
}
