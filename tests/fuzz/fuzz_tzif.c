/* libFuzzer target: TZif time zone images (RFC 8536) and offsets from them. */
#include <stddef.h>
#include <stdint.h>

#include "common/tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct retl_tz *z = NULL;
    struct retl_errbuf eb = {{0}};
    if (retl_tz_parse(data, size, &z, &eb) != RETL_E_OK)
        return 0;
    static const long long probes[] = {
        -4000000000LL, -1, 0, 1700000000LL, 2200000000LL, 4102444800LL, 32503680000LL};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++)
        (void)retl_tz_offset(z, (time_t)probes[i]);
    retl_tz_free(z);
    return 0;
}
