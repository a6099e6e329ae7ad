/* Failure classes of destination error codes (DESIGN.md 8.1). */
#include <stdlib.h>
#include <string.h>

#include "engine/base/row.h"

/* Codes that fail the same way every time the same row is sent: Salesforce
 * data errors (reference/salesforce-api.md 6.1) and the PostgreSQL
 * destination's own NOT_FOUND (Update mode, key missing). */
static const char *const permanent_codes[] = {
    "NOT_FOUND",
    "MALFORMED_ID",
    "INVALID_ID_FIELD",
    "ENTITY_IS_DELETED",
    "DUPLICATE_VALUE",
    "DUPLICATE_EXTERNAL_ID",
    "DUPLICATES_DETECTED",
    "REQUIRED_FIELD_MISSING",
    "MISSING_ARGUMENT",
    "INVALID_FIELD",
    "INVALID_FIELD_FOR_INSERT_UPDATE",
    "INVALID_EMAIL_ADDRESS",
    "STRING_TOO_LONG",
    "FIELD_CUSTOM_VALIDATION_EXCEPTION",
    "FIELD_INTEGRITY_EXCEPTION",
    "INVALID_TYPE_ON_FIELD_IN_RECORD",
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    "NUMBER_OUTSIDE_VALID_RANGE",
    "INVALID_CROSS_REFERENCE_KEY_FOR_ID",
};

static bool is_sqlstate(const char *c)
{
    if (strlen(c) != 5)
        return false;
    for (const char *p = c; *p; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z')))
            return false;
    }
    return true;
}

enum eng_fail_class eng_fail_classify(const char *code)
{
    if (!code || !*code)
        return ENG_FAIL_TRANSIENT;
    for (size_t i = 0; i < sizeof permanent_codes / sizeof permanent_codes[0]; i++) {
        if (strcmp(code, permanent_codes[i]) == 0)
            return ENG_FAIL_PERMANENT;
    }
    if (is_sqlstate(code)) {
        /* 22 data exception and 23 integrity violation are the row's own
         * fault, except 23503 (the referenced row may arrive later, like
         * LOOKUP_NOT_FOUND). Everything else (08 connection, 40 rollback,
         * 53 resources, 57 operator, 42 privileges or schema a person can
         * fix) is retried. */
        if (strncmp(code, "22", 2) == 0 || strncmp(code, "44", 2) == 0)
            return ENG_FAIL_PERMANENT;
        if (strncmp(code, "23", 2) == 0 && strcmp(code, "23503") != 0)
            return ENG_FAIL_PERMANENT;
    }
    return ENG_FAIL_TRANSIENT;
}

const char *eng_fail_class_name(enum eng_fail_class c)
{
    return c == ENG_FAIL_PERMANENT ? "permanent" : "transient";
}
