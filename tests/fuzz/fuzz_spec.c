/* libFuzzer target: YAML manifests through the ReverseEtlJob parser. Every
 * input either parses or yields problems; never a crash or a leak. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/spec.h"
#include "common/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *docs = NULL;
    struct retl_errbuf eb = {{0}};
    if (retl_yaml_load((const char *)data, size, &docs, &eb) != RETL_E_OK)
        return 0;
    size_t i;
    json_t *d;
    json_array_foreach (docs, i, d) {
        struct retl_job *j = NULL;
        struct retl_problems p = {0};
        if (retl_job_parse(d, &j, &p) == RETL_E_OK)
            retl_job_free(j);
        free(retl_problems_join(&p));
        retl_problems_free(&p);
    }
    json_decref(docs);
    return 0;
}
