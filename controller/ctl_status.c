#include "controller/ctl_status.h"

#include <string.h>

#include "common/json.h"
#include "common/summary.h"
#include "common/timestamp.h"

json_t *ctl_cond_get(const json_t *status, const char *type)
{
    json_t *conds = json_object_get(status, "conditions");
    size_t i;
    json_t *c;
    json_array_foreach (conds, i, c) {
        const char *t = json_string_value(json_object_get(c, "type"));
        if (t && strcmp(t, type) == 0)
            return c;
    }
    return NULL;
}

const char *ctl_cond_status(const json_t *status, const char *type)
{
    return json_string_value(json_object_get(ctl_cond_get(status, type), "status"));
}

const char *ctl_cond_reason(const json_t *status, const char *type)
{
    return json_string_value(json_object_get(ctl_cond_get(status, type), "reason"));
}

static int cond_rank(const char *type)
{
    static const char *const order[] = {CTL_COND_READY, CTL_COND_RECONCILING,
                                        CTL_COND_STALLED, CTL_COND_LAST_RUN};
    for (int i = 0; i < 4; i++)
        if (type && strcmp(type, order[i]) == 0)
            return i;
    return 4;
}

void ctl_cond_set(json_t *status, const char *type, const char *cond_status,
                  const char *reason, const char *message, long long generation,
                  time_t now)
{
    json_t *conds = json_object_get(status, "conditions");
    if (!json_is_array(conds)) {
        conds = json_array();
        json_object_set_new(status, "conditions", conds);
    }
    char ts[RETL_TIME_LEN];
    json_t *c = ctl_cond_get(status, type);
    const char *old = json_string_value(json_object_get(c, "status"));
    const char *ltt = json_string_value(json_object_get(c, "lastTransitionTime"));
    json_t *nc = json_pack("{s:s, s:s, s:I, s:s, s:s}", "type", type, "status",
                           cond_status, "observedGeneration", (json_int_t)generation,
                           "reason", reason && *reason ? reason : "Unknown", "message",
                           message ? message : "");
    if (old && ltt && strcmp(old, cond_status) == 0)
        json_object_set_new(nc, "lastTransitionTime", json_string(ltt));
    else
        json_object_set_new(nc, "lastTransitionTime",
                            json_string(retl_time_fmt(now, ts, sizeof ts)));
    if (c) {
        json_object_update(c, nc);
        json_decref(nc);
        return;
    }
    size_t i, at = json_array_size(conds);
    json_t *e;
    json_array_foreach (conds, i, e) {
        if (cond_rank(json_string_value(json_object_get(e, "type"))) > cond_rank(type)) {
            at = i;
            break;
        }
    }
    json_array_insert_new(conds, at, nc);
}

json_t *ctl_run_entry(const struct ctl_run_ref *ref, const struct ctl_outcome *o)
{
    char ts[RETL_TIME_LEN];
    json_t *e = json_pack("{s:I, s:s, s:s}", "run", (json_int_t)ref->run, "pod",
                          ref->pod ? ref->pod : "", "trigger",
                          ref->trigger ? ref->trigger : "Manual");
    if (ref->scheduled)
        json_object_set_new(e, "scheduledTime",
                            json_string(retl_time_fmt(ref->scheduled, ts, sizeof ts)));
    if (o->started)
        json_object_set_new(e, "startTime",
                            json_string(retl_time_fmt(o->started, ts, sizeof ts)));
    json_object_set_new(e, "completionTime",
                        json_string(retl_time_fmt(o->finished, ts, sizeof ts)));
    json_object_set_new(e, "result", json_string(o->result));
    if (o->reason[0])
        json_object_set_new(e, "reason", json_string(o->reason));
    if (o->exit_code >= 0)
        json_object_set_new(e, "exitCode", json_integer(o->exit_code));

    json_t *rows = json_object();
    json_t *srows = json_object_get(o->summary, RETL_SUM_ROWS);
    for (const char *const *k = retl_summary_row_keys; *k; k++) {
        json_t *v = json_object_get(srows, *k);
        json_object_set_new(rows, *k,
                            json_integer(json_is_integer(v) ? json_integer_value(v) : 0));
    }
    json_object_set_new(e, "rows", rows);
    json_t *d = json_object_get(o->summary, RETL_SUM_DURATION);
    double dur = json_is_number(d) ? json_number_value(d)
                 : (o->started && o->finished >= o->started)
                     ? (double)(o->finished - o->started)
                     : 0.0;
    json_object_set_new(e, "durationSeconds", json_real(dur));
    json_object_set_new(e, "message", json_string(o->message));
    return e;
}

static json_t *obj_child(json_t *parent, const char *key)
{
    json_t *c = json_object_get(parent, key);
    if (!json_is_object(c)) {
        c = json_object();
        json_object_set_new(parent, key, c);
    }
    return c;
}

static void counter_add(json_t *obj, const char *key, long long v)
{
    json_t *c = json_object_get(obj, key);
    long long cur = json_is_integer(c) ? json_integer_value(c) : 0;
    json_object_set_new(obj, key, json_integer(cur + v));
}

static long long row(const json_t *entry, const char *key)
{
    return json_integer_value(json_object_get(json_object_get(entry, "rows"), key));
}

void ctl_status_record(json_t *status, const json_t *entry, const struct ctl_outcome *o,
                       int history_limit)
{
    json_object_set_new(status, "lastRun", json_deep_copy(entry));

    json_t *hist = json_object_get(status, "history");
    json_t *nh = json_array();
    if (history_limit > 0)
        json_array_append_new(nh, json_deep_copy(entry));
    size_t i;
    json_t *h;
    json_array_foreach (hist, i, h) {
        if ((int)json_array_size(nh) >= history_limit)
            break;
        json_array_append(nh, h);
    }
    json_object_set_new(status, "history", nh);

    const char *res = o->result;
    json_t *tot = obj_child(status, "totals");
    counter_add(tot, "runs", 1);
    counter_add(tot, "succeeded", !strcmp(res, retl_result_name(RETL_RESULT_SUCCEEDED)));
    counter_add(tot, "failed", !strcmp(res, retl_result_name(RETL_RESULT_FAILED)));
    counter_add(tot, "thresholdExceeded",
                !strcmp(res, retl_result_name(RETL_RESULT_THRESHOLD)));
    counter_add(tot, "rowsSynced",
                row(entry, "inserted") + row(entry, "updated") + row(entry, "deleted"));
    counter_add(tot, "rowErrors", row(entry, "failed"));

    json_t *err = obj_child(status, "errors");
    if (o->summary) {
        json_t *fr = json_object_get(o->summary, "failingRows");
        long long failing =
            json_is_integer(fr) ? json_integer_value(fr) : row(entry, "failed");
        json_object_set_new(err, "failingRows", json_integer(failing));
        json_t *fp = json_object_get(o->summary, RETL_SUM_FAILING_PERMANENT);
        if (json_is_integer(fp))
            json_object_set_new(err, "failingRowsPermanent",
                                json_integer(json_integer_value(fp)));
        else
            json_object_del(err, "failingRowsPermanent");
        const char *tbl = json_string_value(json_object_get(o->summary, "errorsTable"));
        if (tbl)
            json_object_set_new(err, "table", json_string(tbl));
        if (strcmp(res, retl_result_name(RETL_RESULT_SUCCEEDED)) != 0 || failing > 0)
            json_object_set_new(err, "lastMessage", json_string(o->message));
        else
            json_object_del(err, "lastMessage");
        json_t *di = json_object_get(o->summary, "destinationInfo");
        if (json_is_object(di))
            json_object_set_new(status, "destinationInfo", json_deep_copy(di));
    } else {
        if (!json_object_get(err, "failingRows"))
            json_object_set_new(err, "failingRows", json_integer(0));
        json_object_set_new(err, "lastMessage", json_string(o->message));
    }

    if (!strcmp(res, retl_result_name(RETL_RESULT_SUCCEEDED))) {
        char ts[RETL_TIME_LEN];
        json_object_set_new(status, "lastSuccessfulTime",
                            json_string(retl_time_fmt(o->finished, ts, sizeof ts)));
    }
    long long active = 0;
    if (retl_json_int(status, "active.run", &active) &&
        active == json_integer_value(json_object_get(entry, "run")))
        json_object_del(status, "active");
}

long long ctl_status_max_run(const json_t *status)
{
    long long m = 0, v;
    if (retl_json_int(status, "lastRun.run", &v) && v > m)
        m = v;
    if (retl_json_int(status, "active.run", &v) && v > m)
        m = v;
    if (retl_json_int(status, "totals.runs", &v) && v > m)
        m = v;
    size_t i;
    json_t *h;
    json_array_foreach (json_object_get(status, "history"), i, h) {
        if (retl_json_int(h, "run", &v) && v > m)
            m = v;
    }
    return m;
}
