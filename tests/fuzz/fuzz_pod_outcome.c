/* libFuzzer target: a run pod as the watch delivers it (its status and the
 * engine summary in the termination message are written by whatever ran in
 * the pod) read into a run outcome and recorded into a job status twice.
 * Whatever the pod says, the status must stay what the CRD accepts: a known
 * result, a reason and message that are valid UTF-8 strings, bounded
 * history, and JSON that serialises. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/summary.h"
#include "controller/ctl_runpod.h"
#include "controller/ctl_status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_entry(const json_t *e, const struct ctl_outcome *o)
{
    const char *res = json_string_value(json_object_get(e, "result"));
    enum retl_result r;
    if (!res || !retl_result_parse(res, &r))
        abort();
    if (!json_is_string(json_object_get(e, "message")))
        abort();
    if (o->reason[0] && !json_is_string(json_object_get(e, "reason")))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *pod = json_loadb((const char *)data, size, 0, NULL);
    if (!json_is_object(pod)) {
        json_decref(pod);
        return 0;
    }
    struct ctl_outcome o;
    enum ctl_pod_phase ph = ctl_pod_observe(pod, 1700000000, &o);
    if (ph != CTL_POD_WAITING) {
        struct ctl_run_ref ref = {
            .run = ctl_pod_run(pod), .pod = "p", .trigger = "Manual"};
        json_t *entry = ctl_run_entry(&ref, &o);
        if (!entry)
            abort();
        check_entry(entry, &o);
        json_t *status = json_object();
        ctl_status_record(status, entry, &o, 2);
        ctl_status_record(status, entry, &o, 2);
        if (json_array_size(json_object_get(status, "history")) != 2)
            abort();
        char *s = json_dumps(status, 0);
        if (!s)
            abort();
        free(s);
        json_decref(status);
        json_decref(entry);
        ctl_outcome_free(&o);
    }
    json_decref(pod);
    return 0;
}
