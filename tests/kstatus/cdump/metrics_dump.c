/* Prints the controller's /metrics exposition with one series of every
 * pre-defined family, so tests can check names and labels against what the
 * registry really renders (tests/kstatus, PrometheusRule checks). */
#include <stdio.h>

#include "common/buf.h"
#include "controller/metrics.h"

int main(void)
{
    if (ctl_metrics_init())
        return 1;
    ctl_metrics_controller_register("reverseetljob");
    ctl_metrics_reconcile_done("reverseetljob", "success", 0.01);
    ctl_metrics_workqueue_add("reverseetljob");
    ctl_metrics_workqueue_depth("reverseetljob", 0);
    ctl_metrics_workqueue_queue_duration("reverseetljob", 0.001);
    ctl_metrics_workqueue_work_duration("reverseetljob", 0.01);
    ctl_metrics_workqueue_retry("reverseetljob");
    ctl_metrics_leader("retl-controller-leader", true);
    ctl_metrics_rest_request(200, "GET", "127.0.0.1:6443");
    ctl_metrics_run_finished("sales-ops", "account-scores", "Succeeded", 118, 2, 3.1,
                             1795525205);
    ctl_metrics_rows_failing("sales-ops", "account-scores", 2);
    struct retl_buf b;
    retl_buf_init(&b, CTL_METRICS_MAX_RENDER);
    retl_err e = ctl_metrics_render(ctl_metrics_default(), &b);
    if (!e)
        fputs(retl_buf_str(&b), stdout);
    retl_buf_free(&b);
    ctl_metrics_shutdown();
    return e ? 1 : 0;
}
