/* spec.deletes for HubSpot: Delete archives records (batch/archive, inputs
 * [{id}]); Clear sets every mapped property except the key to "" (batch/update).
 * Records are named by the HubSpot id the snapshot kept from the write, or by
 * the key when the key is hs_object_id. A key without a kept id (synced
 * before ids were kept) is looked up by the job's idProperty first (batch/read,
 * 100 keys a call); no record holding it means nothing to delete or clear
 * (done). Only an Insert job, which has no idProperty, fails such a row alone
 * (NO_RECORD_ID, permanent). A record already gone counts as done. Chunks go
 * one after another on client 0: deletes are rare and small.
 *
 * HubSpot emails are case-insensitive, so keys that differ only in case name
 * one record: such keys are looked up once, and rows naming the same record
 * (by kept or found id) send it once; every other row of the group gets the
 * outcome of the group's first row. A duplicate id in one batch would fail
 * the whole call, and a second archive is no second delete. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/json.h"
#include "common/log.h"
#include "engine/dest/hubspot_int.h"

static void ok_row(struct eng_row_result *r)
{
    r->ok = true;
    r->created = false;
}

/* The HubSpot id of a row known without a call, or NULL. */
static const char *row_id(const struct hs_load *L, const struct eng_row *row)
{
    if (row->dest_id && row->dest_id[0])
        return row->dest_id;
    if (L->mode == RETL_MODE_UPDATE && !L->id_property && row->key[0])
        return row->key; /* the key is hs_object_id */
    return NULL;
}

/* A string of row `row`, sorted to find rows sharing it. */
struct slot {
    const char *s;
    size_t row;
};

static int cmp_rows(const struct slot *a, const struct slot *b)
{
    return (a->row > b->row) - (a->row < b->row);
}

static int cmp_exact(const void *x, const void *y)
{
    int c = strcmp(((const struct slot *)x)->s, ((const struct slot *)y)->s);
    return c ? c : cmp_rows(x, y);
}

static int cmp_fold(const void *x, const void *y)
{
    int c = strcasecmp(((const struct slot *)x)->s, ((const struct slot *)y)->s);
    return c ? c : cmp_rows(x, y);
}

/* Sorts v[0..n) and points same[row] of every slot at the first row (in
 * batch order) holding an equal string; that first row keeps same[row] ==
 * row. fold compares ASCII case-insensitively (emails). */
static void group_rows(struct slot *v, size_t n, bool fold, size_t *same)
{
    qsort(v, n, sizeof *v, fold ? cmp_fold : cmp_exact);
    for (size_t k = 0, lead = 0; k < n; k++) {
        if (k && (fold ? strcasecmp(v[k].s, v[lead].s) : strcmp(v[k].s, v[lead].s)))
            lead = k;
        same[v[k].row] = v[lead].row;
    }
}

/* The row whose outcome row i shares (itself when it leads its group). */
static size_t group_lead(const size_t *same, size_t i)
{
    while (same[i] != i)
        i = same[i];
    return i;
}

/* Gives row `to` the outcome of row `from` (strings copied). */
static void copy_result(struct eng_row_result *to, const struct eng_row_result *from)
{
    if (!from->ok) {
        hs_fail(to, from->code, from->message, from->fields);
        to->cls = from->cls;
        return;
    }
    free(to->code);
    free(to->message);
    free(to->fields);
    free(to->dest_id);
    *to = (struct eng_row_result){.ok = true};
}

/* The row among need[0..n) whose key is v (email compared
 * case-insensitively) and that is still unresolved, or -1. */
static long unresolved_row(const struct hs_load *L, const struct eng_batch *b,
                           const char *const *ids, const struct eng_row_result *results,
                           const size_t *need, size_t n, const char *v)
{
    for (size_t k = 0; v && k < n; k++) {
        const char *key = b->rows[need[k]].key;
        if (!ids[need[k]] && !results[need[k]].ok && !results[need[k]].code &&
            (L->email_key ? strcasecmp(key, v) == 0 : strcmp(key, v) == 0))
            return (long)need[k];
    }
    return -1;
}

/* The batch/read body for the keys of rows need[0..n), or NULL when out of
 * memory. A key that is not UTF-8 cannot be held by any HubSpot record: its
 * row is done. *nsent counts the keys sent. Ownership: caller frees. */
static char *read_body(const struct hs_load *L, const struct eng_batch *b,
                       const size_t *need, size_t n, struct eng_row_result *results,
                       size_t *nsent)
{
    json_t *root = json_object(), *inputs = json_array(), *props = json_array();
    char *out = NULL;
    *nsent = 0;
    if (!root || !inputs || !props) {
        json_decref(inputs);
        json_decref(props);
        goto out;
    }
    if (json_object_set_new(root, "inputs", inputs) ||
        json_object_set_new(root, "properties", props) ||
        json_object_set_new(root, "propertiesWithHistory", json_array()) ||
        json_object_set_new(root, "idProperty", json_string(L->id_property)) ||
        json_array_append_new(props, json_string(L->id_property)))
        goto out;
    for (size_t k = 0; k < n; k++) {
        json_t *in = json_object();
        json_t *id = json_string(b->rows[need[k]].key);
        if (!id) {
            json_decref(in);
            ok_row(&results[need[k]]);
            continue;
        }
        if (!in || json_object_set_new(in, "id", id) || json_array_append_new(inputs, in))
            goto out;
        (*nsent)++;
    }
    out = json_dumps(root, JSON_COMPACT);
out:
    json_decref(root);
    return out;
}

retl_err hs_read_answer(const struct hs_load *L, const struct eng_batch *b,
                        const size_t *need, size_t n, const struct hs_resp *resp,
                        const char **ids, char **owned, struct eng_row_result *results)
{
    if (resp->status != 200 && resp->status != 207) {
        char *t = hs_error_text(resp);
        const char *code = resp->status == 429   ? "RATE_LIMIT"
                           : resp->status >= 500 ? "HTTP_5XX"
                                                 : "LOOKUP_FAILED";
        for (size_t k = 0; k < n; k++)
            if (!results[need[k]].ok)
                hs_fail(&results[need[k]], code, t ? t : "batch/read failed", NULL);
        free(t);
        return RETL_E_OK;
    }
    size_t i;
    json_t *res;
    json_array_foreach (json_object_get(resp->body, "results"), i, res) {
        const char *v = retl_json_str(json_object_get(res, "properties"), L->id_property);
        const char *id = retl_json_str(res, "id");
        long r = unresolved_row(L, b, ids, results, need, n, v);
        if (r < 0 || !id || !*id)
            continue;
        if (!(owned[r] = strdup(id)))
            return RETL_E_NOMEM;
        ids[r] = owned[r];
    }
    /* Keys no record holds (OBJECT_NOT_FOUND): nothing to delete or clear. */
    json_t *err, *v;
    json_array_foreach (json_object_get(resp->body, "errors"), i, err) {
        const char *cat = retl_json_str(err, "category");
        size_t m;
        if (!cat || strcmp(cat, "OBJECT_NOT_FOUND") != 0)
            continue;
        json_array_foreach (json_object_get(json_object_get(err, "context"), "ids"), m,
                            v) {
            long r = unresolved_row(L, b, ids, results, need, n, json_string_value(v));
            if (r >= 0)
                ok_row(&results[r]);
        }
    }
    for (size_t k = 0; k < n; k++)
        if (!ids[need[k]] && !results[need[k]].ok && !results[need[k]].code)
            hs_fail(&results[need[k]], "NO_RESULT",
                    "HubSpot's batch/read by idProperty did not mention this key; it is "
                    "looked up again next run",
                    NULL);
    return RETL_E_OK;
}

/* One batch/read by idProperty for rows need[0..n) (hs_read_answer says what
 * each row gets); 401/403 fails the run. */
static retl_err read_chunk(const struct hs_load *L, const struct eng_batch *b,
                           const size_t *need, size_t n, const char **ids, char **owned,
                           struct eng_row_result *results, struct retl_errbuf *eb)
{
    char *path = NULL;
    struct hs_resp resp = {0};
    retl_err e = RETL_E_OK;
    size_t nsent;
    char *body = read_body(L, b, need, n, results, &nsent);
    if (!body || asprintf(&path, "/crm/v3/objects/%s/batch/read", L->object) < 0) {
        path = NULL;
        e = RETL_E_NOMEM;
        goto out;
    }
    if (!nsent)
        goto out;
    e = hs_call(L->conn, 0, HS_EP_READ, "POST", path, body, true, &resp, eb);
    if (!e && (resp.status == 401 || resp.status == 403))
        e = hs_auth_error(&resp, eb);
    if (!e)
        e = hs_read_answer(L, b, need, n, &resp, ids, owned, results);
out:
    hs_resp_clear(&resp);
    free(body);
    free(path);
    return e;
}

/* Sets ids[i] for every row: kept ids borrowed from the batch, looked-up ids
 * in owned[i] (heap, freed by the caller). Keys that name one record (emails
 * differing in case) are looked up once: the later ones get same[i] pointing
 * at the first and no id. Rows left without an id have a result already
 * (done, or failed) or share another row's. *lookups counts batch/read calls. */
static retl_err resolve_ids(const struct hs_load *L, const struct eng_batch *b,
                            const char **ids, char **owned, size_t *same,
                            struct eng_row_result *results, size_t *lookups,
                            struct retl_errbuf *eb)
{
    size_t need[HS_BATCH_MAX], n = 0, nv = 0;
    retl_err e = RETL_E_OK;
    struct slot *v = calloc(b->nrows ? b->nrows : 1, sizeof *v);
    if (!v)
        return RETL_E_NOMEM;
    for (size_t i = 0; i < b->nrows; i++) {
        same[i] = i;
        ids[i] = row_id(L, &b->rows[i]);
        if (ids[i])
            continue;
        if (!L->id_property || !b->rows[i].key[0]) {
            hs_fail(&results[i], "NO_RECORD_ID",
                    "retl kept no HubSpot id for this key and the job has no idProperty "
                    "to find it by; delete or clear it in HubSpot by hand",
                    NULL);
            results[i].cls = ENG_FAIL_PERMANENT;
            continue;
        }
        v[nv++] = (struct slot){b->rows[i].key, i};
    }
    group_rows(v, nv, L->email_key, same);
    for (size_t i = 0; i < b->nrows && !e; i++) {
        if (ids[i] || results[i].code || same[i] != i)
            continue;
        need[n++] = i;
        if (n == HS_BATCH_MAX) {
            e = read_chunk(L, b, need, n, ids, owned, results, eb);
            (*lookups)++;
            n = 0;
        }
    }
    if (!e && n) {
        e = read_chunk(L, b, need, n, ids, owned, results, eb);
        (*lookups)++;
    }
    free(v);
    return e;
}

/* Rows naming the same record id: the later ones point same[i] at the first
 * and lose their id, so each record is sent once. */
static retl_err group_ids(const struct eng_batch *b, const char **ids, size_t *same)
{
    size_t nv = 0;
    struct slot *v = calloc(b->nrows ? b->nrows : 1, sizeof *v);
    if (!v)
        return RETL_E_NOMEM;
    for (size_t i = 0; i < b->nrows; i++)
        if (ids[i] && same[i] == i)
            v[nv++] = (struct slot){ids[i], i};
    group_rows(v, nv, false, same);
    for (size_t k = 0; k < nv; k++)
        if (same[v[k].row] != v[k].row)
            ids[v[k].row] = NULL;
    free(v);
    return RETL_E_OK;
}

/* Body of one chunk; rows without an id are failed and left out. */
static char *del_body(const struct hs_load *L, const struct eng_batch *b,
                      const char *const *ids, size_t from, size_t to, size_t *nsent)
{
    bool clear = b->op == ENG_OP_CLEAR;
    json_t *root = json_object();
    json_t *inputs = json_array();
    char *out = NULL;
    *nsent = 0;
    if (!root || !inputs || json_object_set_new(root, "inputs", inputs)) {
        json_decref(root);
        return NULL;
    }
    for (size_t i = from; i < to; i++) {
        const char *id = ids[i];
        if (!id)
            continue; /* done or failed while resolving */
        json_t *in = json_object();
        if (!in || json_object_set_new(in, "id", json_string(id)))
            goto out;
        if (clear) {
            char trace[32];
            snprintf(trace, sizeof trace, "%zu", i);
            json_t *props = json_object();
            json_object_set_new(in, "properties", props);
            json_object_set_new(in, "objectWriteTraceId", json_string(trace));
            for (size_t j = 0; j < b->ncols; j++)
                if (L->props[j] && !b->cols[j].is_key)
                    json_object_set_new(props, L->props[j]->name, json_string(""));
        }
        if (json_array_append_new(inputs, in))
            goto out;
        (*nsent)++;
    }
    out = json_dumps(root, JSON_COMPACT);
out:
    json_decref(root);
    return out;
}

/* A failed call: every row sent gets HubSpot's words. */
static void fail_sent(const struct hs_resp *resp, size_t from, size_t to,
                      struct eng_row_result *results)
{
    char *fields = NULL;
    char *code = hs_call_code(resp, &fields);
    char *text = hs_error_text(resp);
    for (size_t i = from; i < to; i++)
        if (!results[i].code && !results[i].ok)
            hs_fail(&results[i], code, text, fields);
    free(text);
    free(code);
    free(fields);
}

/* Clear answers: results by trace id are done; OBJECT_NOT_FOUND means the
 * record is gone (done); other errors fail the rows they name. */
static void clear_results(const struct eng_batch *b, const char *const *ids, size_t from,
                          size_t to, const struct hs_resp *resp,
                          struct eng_row_result *results)
{
    size_t k, m;
    json_t *res, *err, *v;
    json_array_foreach (json_object_get(resp->body, "results"), k, res) {
        const char *t = retl_json_str(res, "objectWriteTraceId");
        char *end;
        long long i = t ? strtoll(t, &end, 10) : -1;
        if (t && !*end && i >= (long long)from && i < (long long)to)
            ok_row(&results[i]);
    }
    json_array_foreach (json_object_get(resp->body, "errors"), k, err) {
        const char *cat = retl_json_str(err, "category");
        bool gone = cat && strcmp(cat, "OBJECT_NOT_FOUND") == 0;
        const json_t *ctx = json_object_get(err, "context");
        json_array_foreach (json_object_get(ctx, "ids"), m, v) {
            const char *id = json_string_value(v);
            for (size_t i = from; i < to && id; i++) {
                if (!ids[i] || results[i].ok || results[i].code ||
                    strcmp(ids[i], id) != 0)
                    continue;
                if (gone)
                    ok_row(&results[i]);
                else
                    hs_fail(&results[i], cat ? cat : "ERROR",
                            retl_json_str(err, "message"), NULL);
            }
        }
        json_array_foreach (json_object_get(ctx, "objectWriteTraceId"), m, v) {
            const char *t = json_string_value(v);
            char *end;
            long long i = t ? strtoll(t, &end, 10) : -1;
            if (t && !*end && i >= (long long)from && i < (long long)to &&
                !results[i].ok && !results[i].code)
                hs_fail(&results[i], cat ? cat : "ERROR", retl_json_str(err, "message"),
                        NULL);
        }
    }
    for (size_t i = from; i < to; i++)
        if (!results[i].ok && !results[i].code)
            hs_fail(&results[i], "NO_RESULT",
                    "HubSpot's answer did not mention this record; it is sent again next "
                    "run",
                    NULL);
}

retl_err hs_delete_batch(const struct hs_load *L, const struct eng_batch *b,
                         struct eng_row_result *results, struct retl_errbuf *eb)
{
    bool clear = b->op == ENG_OP_CLEAR;
    char *path = NULL;
    size_t lookups = 0;
    retl_err e = RETL_E_OK;
    const char **ids = calloc(b->nrows ? b->nrows : 1, sizeof *ids);
    char **owned = calloc(b->nrows ? b->nrows : 1, sizeof *owned);
    size_t *same = calloc(b->nrows ? b->nrows : 1, sizeof *same);
    if (!ids || !owned || !same ||
        asprintf(&path, "/crm/v3/objects/%s/batch/%s", L->object,
                 clear ? "update" : "archive") < 0) {
        path = NULL;
        e = RETL_E_NOMEM;
        goto out;
    }
    if ((e = resolve_ids(L, b, ids, owned, same, results, &lookups, eb)) ||
        (e = group_ids(b, ids, same)))
        goto out;
    for (size_t from = 0; from < b->nrows && !e; from += HS_BATCH_MAX) {
        size_t to = from + HS_BATCH_MAX < b->nrows ? from + HS_BATCH_MAX : b->nrows;
        size_t nsent = 0;
        char *body = del_body(L, b, ids, from, to, &nsent);
        if (!body) {
            e = retl_errf(eb, RETL_E_NOMEM, "hubspot: cannot build a batch body");
            break;
        }
        if (nsent) {
            struct hs_resp resp = {0};
            e = hs_call(L->conn, 0, clear ? HS_EP_UPDATE : HS_EP_ARCHIVE, "POST", path,
                        body, true, &resp, eb);
            if (!e && (resp.status == 401 || resp.status == 403)) {
                e = hs_auth_error(&resp, eb);
            } else if (!e && !clear && resp.status >= 200 && resp.status < 300) {
                /* Archive answers 204 for ids archived and ids already gone. */
                for (size_t i = from; i < to; i++)
                    if (!results[i].code)
                        ok_row(&results[i]);
            } else if (!e && clear && (resp.status == 200 || resp.status == 207)) {
                clear_results(b, ids, from, to, &resp, results);
            } else if (!e && clear && resp.status == 404) {
                /* Every record of the chunk is gone. */
                for (size_t i = from; i < to; i++)
                    if (!results[i].code)
                        ok_row(&results[i]);
            } else if (!e) {
                fail_sent(&resp, from, to, results);
            }
            hs_resp_clear(&resp);
        }
        free(body);
    }
    for (size_t i = 0; i < b->nrows && !e; i++)
        if (same[i] != i)
            copy_result(&results[i], &results[group_lead(same, i)]);
    if (lookups)
        RETL_LOG_INFO("hubspot keys without a kept id looked up by idProperty",
                      RF_S("idProperty", L->id_property), RF_I("calls", lookups));
out:
    for (size_t i = 0; owned && i < b->nrows; i++)
        free(owned[i]);
    free(owned);
    free(same);
    free(ids);
    free(path);
    return e;
}
