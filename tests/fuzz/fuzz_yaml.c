/* libFuzzer target: the YAML loader must never crash, leak or hang. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *docs = NULL;
    struct retl_errbuf eb = {{0}};
    if (retl_yaml_load((const char *)data, size, &docs, &eb) == RETL_E_OK)
        json_decref(docs);
    return 0;
}
