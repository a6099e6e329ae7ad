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
};

enum eng_op { ENG_OP_INSERT, ENG_OP_UPDATE, ENG_OP_UPSERT };

struct eng_row {
    const char *key;         /* the key value as text (never NULL) */
    const char *const *vals; /* ncols values; NULL = SQL NULL */
    enum eng_op op;
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
};

/* What happened to one row of a batch. The destination fills one per row, in
 * the batch's order. Strings are owned by the result array and released by
 * eng_results_clear. */
struct eng_row_result {
    bool ok;
    bool created;  /* ok: inserted (true) or updated (false) */
    char *dest_id; /* ok: the destination's id, when it has one */
    char *code;    /* !ok: e.g. "REQUIRED_FIELD_MISSING", "23505" */
    char *message; /* !ok: the destination's message */
    char *fields;  /* !ok: comma-separated fields involved, or NULL */
};

void eng_results_clear(struct eng_row_result *r, size_t n);

#endif
