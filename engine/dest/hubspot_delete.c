/* spec.deletes for HubSpot: Delete archives records (batch/archive, inputs
 * [{id}]); Clear sets every mapped property except the key to "" (batch/update).
 * Records are named by the HubSpot id the snapshot kept from the write, or by
 * the key when the key is hs_object_id; a row with neither fails alone
 * (NO_RECORD_ID, permanent). A record already gone counts as done. Chunks go
 * one after another on client 0: deletes are rare and small. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "engine/dest/hubspot_int.h"

/* The HubSpot id of row i, or NULL. */
static const char *row_id(const struct hs_load *L, const struct eng_row *row)
{
    if (row->dest_id && row->dest_id[0])
        return row->dest_id;
    if (L->mode == RETL_MODE_UPDATE && !L->id_property && row->key[0])
        return row->key; /* the key is hs_object_id */
    return NULL;
}

static void ok_row(struct eng_row_result *r)
{
    r->ok = true;
    r->created = false;
}

/* Body of one chunk; rows without an id are failed and left out. */
static char *del_body(const struct hs_load *L, const struct eng_batch *b, size_t from,
                      size_t to, struct eng_row_result *results, size_t *nsent)
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
        const char *id = row_id(L, &b->rows[i]);
        if (!id) {
            hs_fail(&results[i], "NO_RECORD_ID",
                    "retl kept no HubSpot id for this key (it was never written by this "
                    "job); delete or clear it in HubSpot by hand",
                    NULL);
            results[i].cls = ENG_FAIL_PERMANENT;
            continue;
        }
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
    char *text = hs_error_text(resp);
    char code[32];
    const char *cat = resp->body ? retl_json_str(resp->body, "category") : NULL;
    if (resp->status == 429)
        snprintf(code, sizeof code, "RATE_LIMIT");
    else if (resp->status >= 500)
        snprintf(code, sizeof code, "HTTP_5XX");
    else if (cat)
        snprintf(code, sizeof code, "%.31s", cat);
    else
        snprintf(code, sizeof code, "HTTP_%ld", resp->status);
    for (size_t i = from; i < to; i++)
        if (!results[i].code && !results[i].ok)
            hs_fail(&results[i], code, text, NULL);
    free(text);
}

/* Clear answers: results by trace id are done; OBJECT_NOT_FOUND means the
 * record is gone (done); other errors fail the rows they name. */
static void clear_results(const struct eng_batch *b, size_t from, size_t to,
                          const struct hs_resp *resp, struct eng_row_result *results)
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
                const char *rid =
                    b->rows[i].dest_id ? b->rows[i].dest_id : b->rows[i].key;
                if (results[i].ok || results[i].code || strcmp(rid, id) != 0)
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
    retl_err e = RETL_E_OK;
    if (asprintf(&path, "/crm/v3/objects/%s/batch/%s", L->object,
                 clear ? "update" : "archive") < 0)
        return RETL_E_NOMEM;
    for (size_t from = 0; from < b->nrows && !e; from += HS_BATCH_MAX) {
        size_t to = from + HS_BATCH_MAX < b->nrows ? from + HS_BATCH_MAX : b->nrows;
        size_t nsent = 0;
        char *body = del_body(L, b, from, to, results, &nsent);
        if (!body) {
            e = retl_errf(eb, RETL_E_NOMEM, "hubspot: cannot build a batch body");
            break;
        }
        if (nsent) {
            struct hs_resp resp = {0};
            e = hs_call(L->conn, 0, clear ? HS_EP_UPDATE : HS_EP_ARCHIVE, "POST", path,
                        body, true, &resp, eb);
            if (!e && (resp.status == 401 || resp.status == 403)) {
                char *t = hs_error_text(&resp);
                e = retl_errf(eb, RETL_E_AUTH,
                              "HubSpot refused the access token (%s); check the secret's "
                              "accessToken and the private app's scopes",
                              t ? t : "");
                free(t);
            } else if (!e && !clear && resp.status >= 200 && resp.status < 300) {
                /* Archive answers 204 for ids archived and ids already gone. */
                for (size_t i = from; i < to; i++)
                    if (!results[i].code)
                        ok_row(&results[i]);
            } else if (!e && clear && (resp.status == 200 || resp.status == 207)) {
                clear_results(b, from, to, &resp, results);
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
    free(path);
    return e;
}
