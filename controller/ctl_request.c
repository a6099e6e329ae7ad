#include "controller/ctl_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "controller/ctl_runpod.h"

const struct ctl_request ctl_requests[CTL_N_REQUESTS] = {
    {CTL_ANN_REQUEST, "lastHandledRunRequest", "Manual", NULL, "run"},
    {"retl.io/resync-requested-at", "lastHandledResyncRequest", "Resync", "RETL_RESYNC",
     "resync"},
    {"retl.io/reset-requested-at", "lastHandledResetRequest", "Reset", "RETL_RESET",
     "reset"},
    {"retl.io/retry-requested-at", "lastHandledRetryRequest", "Retry",
     "RETL_RETRY_FAILED", "retry"},
};

const struct ctl_request *ctl_request_by_verb(const char *verb)
{
    for (size_t i = 0; verb && i < CTL_N_REQUESTS; i++)
        if (!strcmp(ctl_requests[i].verb, verb))
            return &ctl_requests[i];
    return NULL;
}

const struct ctl_request *ctl_request_pending(const json_t *rj, const json_t *status,
                                              const char **value)
{
    const json_t *ann = retl_json_path(rj, "metadata.annotations");
    for (size_t i = 0; i < CTL_N_REQUESTS; i++) {
        const struct ctl_request *rq = &ctl_requests[i];
        const char *v = json_string_value(json_object_get(ann, rq->annotation));
        const char *h = json_string_value(json_object_get(status, rq->status_field));
        if (v && *v && (!h || strcmp(v, h) != 0)) {
            *value = v;
            return rq;
        }
    }
    return NULL;
}

bool ctl_request_pod_name(const struct ctl_request *rq, const char *job,
                          const char *value, char *buf, size_t n)
{
    if (rq == &ctl_requests[0]) {
        ctl_pod_name_manual(job, value, buf, n);
        return true;
    }
    char *k = NULL;
    if (asprintf(&k, "%s:%s", rq->verb, value) < 0)
        return false;
    ctl_pod_name_manual(job, k, buf, n);
    free(k);
    return true;
}
