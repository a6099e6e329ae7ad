/* Destinations: where delta rows are loaded. Each backend is one file
 * (engine/dest/<name>.c) exporting one `const struct eng_dest_ops`; the engine
 * finds it by spec.destination.type through eng_dest_find. Sources and
 * destinations meet only through the engine's run state machine; rows and
 * values are the engine's (engine/base/row.h). */
#ifndef ENG_DEST_H
#define ENG_DEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/spec.h"
#include "engine/base/row.h"
#include "engine/base/secrets.h"

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
     * batch is committed to state; the next run sends it again).
     *
     * Writes: a successful row sets created and, when the destination has
     * record ids, dest_id (kept in the snapshot; later deletes use it).
     * b->op ENG_OP_DELETE / ENG_OP_CLEAR (only when the backend sets
     * can_delete / can_clear): remove, or null every non-key column of, the
     * record of each row, by rows[i].dest_id when known, else by the key
     * (key column of b->cols). A record that is already gone counts as done
     * (ok): ENTITY_IS_DELETED, NOT_FOUND, no row matched. The engine counts
     * deletes and clears itself; created is ignored. Failures go to errors
     * with operation "delete" / "clear" and are tried again next run. */
    retl_err (*load)(void *ctx, const struct eng_batch *b, struct eng_row_result *results,
                     struct retl_errbuf *eb);
    /* Which ops of spec.deletes load accepts; a job asking for another one
     * fails before anything is loaded. */
    bool can_delete;
    bool can_clear;
    /* Whether load resolves eng_col.lookup_object / lookup_field: the column's
     * value names the parent by its unique field, the destination writes the
     * reference; a row whose parent does not exist fails alone, transient
     * (LOOKUP_NOT_FOUND or the destination's own code). */
    bool can_lookup;
    /* Whether load sets dest_id on the rows it writes: a source may then save
     * a batch's new keys with their ids at commit rather than write them
     * before the load and add the ids after. */
    bool record_ids;
    /* Adds backend figures to the run summary object (API calls, limits).
     * May be NULL. */
    void (*summary)(void *ctx, json_t *summary);
    void (*close)(void *ctx);
};

/* The backend for type, or NULL. */
const struct eng_dest_ops *eng_dest_find(const char *type);

/* Registers a backend: its file ends with ENG_DEST_REGISTER(eng_dest_<name>).
 * The pointer lands in the retl_dests section, which eng_dest_find walks, so
 * a new backend is a new file (the engine links libengine whole). */
#define ENG_DEST_REGISTER(ops)                                                           \
    static const struct eng_dest_ops *const eng_dest_reg_##ops                           \
        __attribute__((used, section("retl_dests"), aligned(sizeof(void *)))) = &(ops)

#endif
