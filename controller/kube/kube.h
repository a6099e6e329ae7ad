/* The Kubernetes client machinery of retl-controller, in one include:
 *
 *   kube_config.h    where the API server is and how to authenticate
 *   kube_client.h    thread-safe REST client: get/list/create/update/patch/
 *                    apply/delete, status subresource, watch, Status errors
 *   kube_status.h    metav1.Status -> retl_err mapping
 *   kube_watch.h     incremental, bounded watch-stream parser
 *   kube_informer.h  list+watch cache with add/update/delete handlers
 *   kube_queue.h     client-go style rate-limited work queue
 *   kube_leader.h    Lease-based leader election
 *   kube_events.h    events.k8s.io/v1 recorder with series and spam filter
 *
 * Shutdown order for a clean exit within 10 s: kube_leader_stop (releases
 * the Lease), kube_informer_stop (each < ~1 s), kube_queue_shutdown_drain
 * (bounded by the caller's timeout), join the workers, kube_events_free
 * (<= 2 s), kube_client_free. */
#ifndef RETL_KUBE_H
#define RETL_KUBE_H

#include "kube_client.h"
#include "kube_config.h"
#include "kube_events.h"
#include "kube_informer.h"
#include "kube_leader.h"
#include "kube_queue.h"
#include "kube_status.h"
#include "kube_watch.h"

#endif
