/* spec.deletes for Salesforce (DESIGN.md 8.1). A record is addressed by the
 * Id the snapshot kept from its last successful write; a key without one
 * (synced before Ids were kept) is looked up by the key's external id first,
 * one SOQL query per 200 keys. Delete: sObject Collections DELETE, 200 Ids a
 * call, allOrNone=false, or for a set at the api: auto threshold one Bulk
 * API 2.0 delete job (CSV of one Id column). Clear: Collections PATCH by Id
 * with every mapped field but the key set to null (fields that cannot be
 * null keep theirs), or a Bulk update job by Id with #N/A in those fields. A
 * record that is already gone (ENTITY_IS_DELETED, NOT_FOUND, or no record
 * with the key) counts as done. Deleting by Id is idempotent, so a run killed
 * while a job runs needs no job bookkeeping: the rerun sends the same Ids and
 * the records the first job removed answer ENTITY_IS_DELETED. */
#include "engine/dest/salesforce_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"

#define SF_DEL_BODY_MAX (64u * 1024 * 1024)
#define SF_DEL_URL_MAX (64u * 1024)

/* A row whose record is already gone: the delete or clear is done. */
static bool gone(const struct eng_row_result *r)
{
    return !r->ok && r->code &&
           (!strcmp(r->code, "ENTITY_IS_DELETED") || !strcmp(r->code, "NOT_FOUND") ||
            !strcmp(r->code, "INVALID_CROSS_REFERENCE_KEY"));
}

/* The batch column of the key when it has a destination field, or -1. */
static long key_col(const struct sf_load *L, const struct eng_batch *b)
{
    for (size_t c = 0; c < b->ncols; c++)
        if (b->cols[c].is_key && L->fields[c])
            return (long)c;
    return -1;
}

/* Appends s percent-encoded for a query string. */
static retl_err url_escape(struct retl_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    retl_err rc = RETL_E_OK;
    for (const unsigned char *p = (const unsigned char *)s; *p && !rc; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || strchr("-_.~", *p))
            rc = retl_buf_addc(b, (char)*p);
        else
            rc = retl_buf_printf(b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
    }
    return rc;
}

/* Appends s as a SOQL string literal ('...' with \ and ' escaped). */
static retl_err soql_str(struct retl_buf *b, const char *s)
{
    retl_err rc = retl_buf_addc(b, '\'');
    for (const char *p = s; *p && !rc; p++) {
        if (*p == '\'' || *p == '\\')
            rc = retl_buf_addc(b, '\\');
        if (!rc)
            rc = retl_buf_addc(b, *p);
    }
    return rc ? rc : retl_buf_addc(b, '\'');
}

/* Finds the Ids of rows idx[0..n) by the key field kf: one query. Rows whose
 * key no record holds keep ids[i] NULL. Ownership: ids[i] heap strings. */
static retl_err lookup_chunk(struct sf_load *L, const struct eng_batch *b, const char *kf,
                             const size_t *idx, size_t n, char **ids,
                             struct retl_errbuf *eb)
{
    retl_err rc = RETL_E_OK;
    struct retl_buf q, path;
    struct sf_call call = {0};
    json_t *j = NULL;
    retl_buf_init(&q, SF_DEL_URL_MAX);
    retl_buf_init(&path, SF_DEL_URL_MAX);
    RETL_TRY(
        retl_buf_printf(&q, "SELECT Id, %s FROM %s WHERE %s IN (", kf, L->object, kf));
    for (size_t k = 0; k < n; k++) {
        if (k)
            RETL_TRY(retl_buf_addc(&q, ','));
        RETL_TRY(soql_str(&q, b->rows[idx[k]].key));
    }
    RETL_TRY(retl_buf_addc(&q, ')'));
    RETL_TRY(retl_buf_adds(&path, "/query?q="));
    RETL_TRY(url_escape(&path, retl_buf_str(&q)));
    call.method = "GET";
    call.idempotent = true;
    call.url = sf_data_url(L->conn, retl_buf_str(&path));
    if (!call.url) {
        rc = RETL_E_NOMEM;
        goto out;
    }
    RETL_TRY(sf_reserve_calls(L->conn, 1, eb));
    RETL_TRY(sf_http_one(L->conn, &call, eb));
    if (call.status != 200) {
        rc = sf_call_fail(&call, "looking up records to delete by key", eb);
        goto out;
    }
    j = json_loads(retl_buf_str(&call.resp), 0, NULL);
    size_t i;
    json_t *rec;
    json_array_foreach (json_object_get(j, "records"), i, rec) {
        const char *id = json_string_value(json_object_get(rec, "Id"));
        const char *kv = json_string_value(json_object_get(rec, kf));
        for (size_t k = 0; id && kv && k < n; k++) {
            if (!ids[idx[k]] && !strcasecmp(kv, b->rows[idx[k]].key)) {
                if (!(ids[idx[k]] = strdup(id))) {
                    rc = RETL_E_NOMEM;
                    goto out;
                }
            }
        }
    }
out:
    if (rc == RETL_E_TOO_BIG)
        rc = retl_errf(eb, rc, "salesforce: lookup query too long");
    json_decref(j);
    sf_call_clear(&call);
    retl_buf_free(&q);
    retl_buf_free(&path);
    return rc;
}

/* The record Id of every row: as kept in the snapshot, the key itself when it
 * is the Id (Update mode), else looked up by the key's external id. */
static retl_err resolve_ids(struct sf_load *L, const struct eng_batch *b, char **ids,
                            size_t *lookups, struct retl_errbuf *eb)
{
    retl_err rc = RETL_E_OK;
    long kc = key_col(L, b);
    const char *kf = kc >= 0 ? L->fields[kc]->name : NULL;
    bool key_is_id = kf && !strcasecmp(kf, "Id");
    size_t *need = malloc((b->nrows ? b->nrows : 1) * sizeof *need);
    size_t nn = 0;
    if (!need)
        return RETL_E_NOMEM;
    for (size_t i = 0; i < b->nrows; i++) {
        char id18[19];
        const char *id = b->rows[i].dest_id;
        if (!id && key_is_id && sf_id18(b->rows[i].key, id18))
            id = id18;
        if (id) {
            if (!(ids[i] = strdup(id))) {
                rc = RETL_E_NOMEM;
                goto out;
            }
        } else if (kf && !key_is_id) {
            need[nn++] = i;
        }
    }
    for (size_t k = 0; k < nn && !rc; k += SF_COLLECTION_MAX) {
        size_t m = nn - k < SF_COLLECTION_MAX ? nn - k : SF_COLLECTION_MAX;
        rc = lookup_chunk(L, b, kf, need + k, m, ids, eb);
        (*lookups)++;
    }
out:
    free(need);
    return rc;
}

/* One Collections call per 200 rows of idx: DELETE ?ids=... or PATCH with
 * the fields nulled; results by position. */
static retl_err send(struct sf_load *L, const struct eng_batch *b, bool clear, char **ids,
                     const size_t *idx, size_t n, struct eng_row_result *results,
                     struct retl_errbuf *eb)
{
    retl_err rc = RETL_E_OK;
    size_t ncalls = (n + SF_COLLECTION_MAX - 1) / SF_COLLECTION_MAX;
    struct sf_call *calls = calloc(ncalls ? ncalls : 1, sizeof *calls);
    struct retl_buf *bodies = calloc(ncalls ? ncalls : 1, sizeof *bodies);
    if (!calls || !bodies) {
        rc = RETL_E_NOMEM;
        goto out;
    }
    for (size_t c = 0; c < ncalls && !rc; c++) {
        size_t from = c * SF_COLLECTION_MAX;
        size_t m = n - from < SF_COLLECTION_MAX ? n - from : SF_COLLECTION_MAX;
        struct retl_buf *p = &bodies[c];
        retl_buf_init(p, clear ? SF_DEL_BODY_MAX : SF_DEL_URL_MAX);
        if (clear) {
            RETL_TRY(retl_buf_adds(p, "{\"allOrNone\":false,\"records\":["));
            for (size_t k = 0; k < m; k++) {
                RETL_TRY(retl_buf_adds(p, k ? ",{\"attributes\":{\"type\":"
                                            : "{\"attributes\":{\"type\":"));
                RETL_TRY(sf_json_str(p, L->object, strlen(L->object)));
                RETL_TRY(retl_buf_adds(p, "},\"Id\":"));
                const char *id = ids[idx[from + k]];
                RETL_TRY(sf_json_str(p, id, strlen(id)));
                for (size_t col = 0; col < b->ncols; col++) {
                    /* A field that cannot be null (Name, a required
                     * custom field) keeps its value. */
                    if (!L->fields[col] || b->cols[col].is_key ||
                        !L->fields[col]->nillable)
                        continue;
                    RETL_TRY(retl_buf_addc(p, ','));
                    RETL_TRY(sf_json_str(p, L->fields[col]->name,
                                         strlen(L->fields[col]->name)));
                    RETL_TRY(retl_buf_adds(p, ":null"));
                }
                RETL_TRY(retl_buf_addc(p, '}'));
            }
            RETL_TRY(retl_buf_adds(p, "]}"));
            calls[c].method = "PATCH";
            calls[c].url = sf_data_url(L->conn, "/composite/sobjects");
            calls[c].body = p->data;
            calls[c].body_len = p->len;
        } else {
            RETL_TRY(retl_buf_adds(p, "/composite/sobjects?allOrNone=false&ids="));
            for (size_t k = 0; k < m; k++) {
                if (k)
                    RETL_TRY(retl_buf_adds(p, "%2C"));
                RETL_TRY(url_escape(p, ids[idx[from + k]]));
            }
            calls[c].method = "DELETE";
            calls[c].url = sf_data_url(L->conn, retl_buf_str(p));
        }
        calls[c].idempotent = true;
        if (!calls[c].url)
            rc = RETL_E_NOMEM;
    }
    if (rc)
        goto out;
    RETL_TRY(sf_reserve_calls(L->conn, (long long)ncalls, eb));
    RETL_TRY(sf_http_run(L->conn, calls, ncalls, eb));
    for (size_t c = 0; c < ncalls && !rc; c++) {
        size_t from = c * SF_COLLECTION_MAX;
        size_t m = n - from < SF_COLLECTION_MAX ? n - from : SF_COLLECTION_MAX;
        rc = sf_rest_parse_results(L, calls[c].status, retl_buf_str(&calls[c].resp),
                                   idx + from, m, results, eb);
    }
out:
    if (rc == RETL_E_TOO_BIG)
        rc = retl_errf(eb, rc, "salesforce: delete request too large");
    for (size_t c = 0; calls && c < ncalls; c++) {
        sf_call_clear(&calls[c]);
        if (bodies)
            retl_buf_free(&bodies[c]);
    }
    free(calls);
    free(bodies);
    return rc;
}

/* The rows idx[0..n) by their Ids ids[idx[k]] through the Bulk machinery:
 * a batch of its own whose key column is Id (and, to clear, the nillable
 * mapped fields, all NULL: #N/A), loaded as Update by Id or as a delete job;
 * results matched by the Id column the result sets echo. */
static retl_err send_bulk(struct sf_load *L, const struct eng_batch *b, bool clear,
                          char **ids, const size_t *idx, size_t n,
                          struct eng_row_result *results, struct retl_errbuf *eb)
{
    retl_err rc = RETL_E_OK;
    char id_name[] = "Id", id_type[] = "id";
    const struct sf_field idf = {.name = id_name, .type = SF_F_ID, .type_name = id_type};
    size_t nc = 1;
    for (size_t c = 0; clear && c < b->ncols; c++)
        nc += L->fields[c] && !b->cols[c].is_key && L->fields[c]->nillable;
    struct eng_col *cols = calloc(nc, sizeof *cols);
    const struct sf_field **fields = calloc(nc, sizeof *fields);
    struct eng_row *rows = calloc(n ? n : 1, sizeof *rows);
    const char **vals = calloc((n ? n : 1) * nc, sizeof *vals);
    struct eng_row_result *res = calloc(n ? n : 1, sizeof *res);
    if (!cols || !fields || !rows || !vals || !res) {
        rc = RETL_E_NOMEM;
        goto out;
    }
    cols[0] = (struct eng_col){.source = "Id", .destination = "Id", .is_key = true};
    fields[0] = &idf;
    for (size_t c = 0, k = 1; clear && c < b->ncols; c++) {
        if (!L->fields[c] || b->cols[c].is_key || !L->fields[c]->nillable)
            continue;
        cols[k] = (struct eng_col){.source = b->cols[c].source,
                                   .destination = b->cols[c].destination,
                                   .type = b->cols[c].type};
        fields[k++] = L->fields[c];
    }
    for (size_t k = 0; k < n; k++) {
        vals[k * nc] = ids[idx[k]];
        rows[k] =
            (struct eng_row){.key = ids[idx[k]], .vals = vals + k * nc, .op = b->op};
    }
    struct eng_batch jb = {
        .cols = cols, .ncols = nc, .rows = rows, .nrows = n, .run = b->run, .op = b->op};
    struct sf_load J = *L;
    J.mode = RETL_MODE_UPDATE;
    J.ext_id = NULL;
    J.fields = fields;
    J.bulk_op = clear ? NULL : "delete";
    J.bulk_jobs = 0;
    rc = sf_bulk_load(&J, &jb, res, eb);
    L->bulk_jobs += J.bulk_jobs;
    L->bulk_ms_per_row = J.bulk_ms_per_row;
    for (size_t k = 0; k < n && !rc; k++) {
        results[idx[k]] = res[k];
        res[k] = (struct eng_row_result){0};
    }
out:
    for (size_t k = 0; res && k < n; k++) {
        free(res[k].dest_id);
        free(res[k].code);
        free(res[k].message);
        free(res[k].fields);
    }
    free(res);
    free(vals);
    free(rows);
    free(fields);
    free(cols);
    return rc;
}

retl_err sf_delete_load(struct sf_load *L, const struct eng_batch *b, bool bulk,
                        struct eng_row_result *results, struct retl_errbuf *eb)
{
    bool clear = b->op == ENG_OP_CLEAR;
    retl_err rc = RETL_E_OK;
    size_t lookups = 0, n = 0;
    char **ids = calloc(b->nrows ? b->nrows : 1, sizeof *ids);
    size_t *idx = malloc((b->nrows ? b->nrows : 1) * sizeof *idx);
    if (!ids || !idx) {
        rc = RETL_E_NOMEM;
        goto out;
    }
    RETL_TRY(resolve_ids(L, b, ids, &lookups, eb));
    for (size_t i = 0; i < b->nrows; i++) {
        if (ids[i])
            idx[n++] = i;
        else if (key_col(L, b) >= 0)
            sf_result_ok(&results[i], NULL, false); /* no record holds the key */
        else
            sf_result_fail(&results[i], "NO_RECORD_ID",
                           "the record's Id is unknown and the job has no key field to "
                           "find it by",
                           NULL);
    }
    if (n && bulk)
        RETL_TRY(send_bulk(L, b, clear, ids, idx, n, results, eb));
    else if (n)
        RETL_TRY(send(L, b, clear, ids, idx, n, results, eb));
    size_t already = 0;
    for (size_t k = 0; k < n; k++) {
        if (gone(&results[idx[k]])) {
            sf_result_ok(&results[idx[k]], NULL, false);
            already++;
        }
    }
    RETL_LOG_INFO(clear ? "salesforce records cleared" : "salesforce records deleted",
                  RF_S("api", bulk ? "bulk" : "rest"), RF_I("rows", b->nrows),
                  RF_I("byId", n), RF_I("alreadyGone", already),
                  RF_I("lookups", lookups));
out:
    for (size_t i = 0; ids && i < b->nrows; i++)
        free(ids[i]);
    free(ids);
    free(idx);
    return rc;
}
