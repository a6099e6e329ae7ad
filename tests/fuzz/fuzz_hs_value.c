/* libFuzzer target: HubSpot's properties answer (GET /crm/v3/properties,
 * JSON after the first line) parsed, then the first line converted for
 * every property it declares, as every engine type. The answer comes from
 * the network and the value from the warehouse: any input gives a converted
 * string or a reason, never both and never neither. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dest/hubspot_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl)
        return 0;
    size_t vl = (size_t)(nl - data);
    char *value = malloc(vl + 1);
    if (!value)
        return 0;
    memcpy(value, data, vl);
    value[vl] = '\0';
    json_t *body = json_loadb((const char *)nl + 1, size - vl - 1, 0, NULL);
    struct hs_props props = {0};
    struct retl_errbuf eb = {{0}};
    if (body && hs_props_parse(body, &props, &eb) == RETL_E_OK) {
        for (size_t i = 0; i < props.n; i++)
            for (int t = ENG_T_TEXT; t <= ENG_T_BYTES; t++) {
                const char *why = NULL;
                char *out = hs_value(&props.v[i], (enum eng_type)t, value, &why);
                if (!out == !why)
                    abort();
                free(out);
            }
        hs_props_free(&props);
    }
    json_decref(body);
    free(value);
    return 0;
}
