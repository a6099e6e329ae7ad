/* The engine's row vocabulary, shared by sources, destinations and the run
 * state machine: value types, the columns and rows of a batch, and what
 * happened to each row.
 *
 * Values travel as canonical text: NULL is a NULL pointer; numbers in full
 * precision; booleans "true"/"false"; dates "YYYY-MM-DD"; timestamps ISO 8601
 * ("YYYY-MM-DD HH:MM:SS[.ffffff]" without zone for TIMESTAMP, with "+00:00"
 * style offset for TIMESTAMPTZ); json/arrays as JSON text; bytea as base64. */
#ifndef ENG_ROW_H
#define ENG_ROW_H

#include <stdbool.h>
#include <stddef.h>

enum eng_type {
    ENG_T_TEXT,
    ENG_T_INT,
    ENG_T_NUMERIC, /* exact decimal, or floating point */
    ENG_T_BOOL,
    ENG_T_DATE,
    ENG_T_TIMESTAMP,   /* without time zone */
    ENG_T_TIMESTAMPTZ, /* with an offset */
    ENG_T_JSON,        /* json, jsonb, arrays */
    ENG_T_BYTES,       /* base64 */
};

/* One column of what is loaded: the destination field and the source type. */
struct eng_col {
    const char *source;      /* source column */
    const char *destination; /* destination field */
    enum eng_type type;
    bool is_key; /* the job key (key.source -> key.destination) */
    /* mappings[].nulls Skip: a NULL never overwrites the destination's value
     * (left out of an update; a new record gets no value for it). */
    bool skip_nulls;
    /* mappings[].lookup: the value is the parent's unique field lookup_field
     * on lookup_object; the destination writes a reference to that parent
     * (NULL when the column is not a lookup). */
    const char *lookup_object;
    const char *lookup_field;
};

/* What a row asks of the destination. DELETE and CLEAR (spec.deletes) are
 * for keys the job synced that left the query: DELETE removes the record,
 * CLEAR sets every non-key column of the batch to null. Their values are all
 * NULL but the key's; dest_id is the record id the destination returned when
 * the key was last written (NULL when unknown: the destination finds the
 * record by the key, or fails the row). */
enum eng_op { ENG_OP_INSERT, ENG_OP_UPDATE, ENG_OP_UPSERT, ENG_OP_DELETE, ENG_OP_CLEAR };

struct eng_row {
    const char *key;         /* the key value as text (never NULL) */
    const char *const *vals; /* ncols values; NULL = SQL NULL */
    enum eng_op op;
    const char *dest_id; /* DELETE / CLEAR: the destination's record id, or NULL */
};

struct eng_batch {
    const struct eng_col *cols;
    size_t ncols;
    const struct eng_row *rows;
    size_t nrows;
    /* A hint: no key of the batch was ever synced (none in the state), so
     * the destination most likely holds none of them either. */
    bool new_keys;
    long long run; /* the run number (e.g. for a receiver's idempotency) */
    /* Every row of a batch has the same kind of op: writes (INSERT, UPDATE,
     * UPSERT as the job's mode says), or all ENG_OP_DELETE, or all
     * ENG_OP_CLEAR. The engine splits what the source hands it. */
    enum eng_op op;
};

/* Whether a failed row can succeed by itself later. Transient failures
 * (locks, limits, 5xx, timeouts, a parent that does not exist yet) are
 * retried every run; permanent ones (validation, NOT_FOUND, INVALID_ID,
 * DUPLICATE_VALUE, ...) only when the source row changes or a retry is
 * requested. A destination leaves ENG_FAIL_BY_CODE and the engine classifies
 * the code with eng_fail_classify, or decides itself. */
enum eng_fail_class { ENG_FAIL_BY_CODE, ENG_FAIL_TRANSIENT, ENG_FAIL_PERMANENT };

/* The class of a destination error code: Salesforce status codes and
 * PostgreSQL SQLSTATEs by table (engine/base/failure.c); unknown codes are
 * transient (retrying is the safe side). Never ENG_FAIL_BY_CODE. */
enum eng_fail_class eng_fail_classify(const char *code);
/* "transient" | "permanent" */
const char *eng_fail_class_name(enum eng_fail_class c);

/* What happened to one row of a batch. The destination fills one per row, in
 * the batch's order. Strings are owned by the result array and released by
 * eng_results_clear. */
struct eng_row_result {
    bool ok;
    bool created;            /* ok: inserted (true) or updated (false) */
    char *dest_id;           /* ok: the destination's id, when it has one */
    char *code;              /* !ok: e.g. "REQUIRED_FIELD_MISSING", "23505" */
    char *message;           /* !ok: the destination's message */
    char *fields;            /* !ok: comma-separated fields involved, or NULL */
    enum eng_fail_class cls; /* !ok: see eng_fail_class */
};

void eng_results_clear(struct eng_row_result *r, size_t n);

#endif
