/* Destinations: where delta rows are loaded. Each backend is one file
 * (engine/dest/<name>.c) exporting one `const struct eng_dest_ops`; the engine
 * finds it by spec.destination.type through eng_dest_find. Sources and
 * destinations meet only through the engine's run state machine.
 *
 * Values travel as canonical text: NULL is a NULL pointer; numbers in full
 * precision; booleans "true"/"false"; dates "YYYY-MM-DD"; timestamps ISO 8601
 * ("YYYY-MM-DD HH:MM:SS[.ffffff]" without zone for TIMESTAMP, with "+00:00"
 * style offset for TIMESTAMPTZ); json/arrays as JSON text; bytea as base64. */
#ifndef ENG_DEST_H
#define ENG_DEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/spec.h"
#include "engine/secrets.h"

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

struct eng_dest_ops {
    const char *type; /* spec.destination.type, e.g. "salesforce" */

    /* Connects and authenticates. Ownership: *ctx is freed by close. */
    retl_err (*open)(const struct retl_job *job, const struct eng_secrets *sec,
                     void **ctx, struct retl_errbuf *eb);
    /* Validates before any write (fields exist and are writable for the mode,
     * required fields mapped, the key is usable). Adds what users should see
     * to info (an object; e.g. "externalIdFields", "requiredFields"). A
     * problem fails the run before anything is loaded. */
    retl_err (*prepare)(void *ctx, const struct eng_col *cols, size_t ncols, json_t *info,
                        struct retl_errbuf *eb);
    /* Told the size of the whole delta before loading, so a backend can pick
     * its API (e.g. REST vs Bulk). Returns the batch size the engine should
     * use (0 = the job's batchSize). May be NULL. */
    size_t (*plan)(void *ctx, size_t delta_rows);
    /* Loads one batch. Returns OK when the destination answered for every row
     * (each row ok or rejected with a reason in results[i]); an error return
     * means the batch's outcome is unknown and the run fails (nothing of the
     * batch is committed to state; the next run sends it again). */
    retl_err (*load)(void *ctx, const struct eng_batch *b, struct eng_row_result *results,
                     struct retl_errbuf *eb);
    /* Adds backend figures to the run summary object (API calls, limits).
     * May be NULL. */
    void (*summary)(void *ctx, json_t *summary);
    void (*close)(void *ctx);
};

/* The backend for type, or NULL. */
const struct eng_dest_ops *eng_dest_find(const char *type);

#endif
