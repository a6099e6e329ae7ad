/* libFuzzer target: a Salesforce describe answer (GET .../sobjects/X/describe)
 * parsed, then a job's columns validated against it, a lookup checked and
 * the info object built. Any input: an error with the describe left empty,
 * or fields that all have a name and a type name and are found again by
 * name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/dest/salesforce_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = malloc(size + 1);
    if (!body)
        return 0;
    memcpy(body, data, size);
    body[size] = '\0';
    struct sf_describe d;
    struct retl_errbuf eb = {{0}};
    if (sf_describe_parse(body, &d, &eb) != RETL_E_OK) {
        if (d.object || d.fields || d.n_fields || !eb.msg[0])
            abort();
        free(body);
        return 0;
    }
    if (!d.object)
        abort();
    for (size_t i = 0; i < d.n_fields; i++) {
        const struct sf_field *f = &d.fields[i];
        const struct sf_field *g = sf_describe_field(&d, f->name);
        if (!f->name || !f->type_name || !g || strcasecmp(g->name, f->name))
            abort();
    }
    const struct eng_col cols[] = {
        {.source = "id", .destination = "External_Id__c", .is_key = true},
        {.source = "name", .destination = "Name"},
        {.source = "acct",
         .destination = "AccountId",
         .lookup_object = "Account",
         .lookup_field = "External_Id__c"},
        {.source = "x", .destination = d.n_fields ? d.fields[0].name : "Id"},
    };
    const size_t nc = sizeof cols / sizeof cols[0];
    const struct sf_field *fields[sizeof cols / sizeof cols[0]];
    struct retl_problems probs = {0};
    sf_validate(&d, NULL, cols, nc, fields, &probs);
    for (size_t i = 0; i < nc; i++)
        if (fields[i] && fields[i] != sf_describe_field(&d, cols[i].destination))
            abort();
    if (fields[2])
        sf_validate_lookup(NULL, &cols[2], fields[2], &d, &probs);
    char *joined = retl_problems_join(&probs);
    free(joined);
    retl_problems_free(&probs);
    json_t *info = json_object();
    sf_describe_info(&d, info);
    if (json_array_size(json_object_get(info, "externalIdFields")) > d.n_fields ||
        json_array_size(json_object_get(info, "requiredFields")) > d.n_fields)
        abort();
    json_decref(info);
    sf_describe_free(&d);
    free(body);
    return 0;
}
