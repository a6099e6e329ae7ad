#!/usr/bin/env bash
# The controller through control-plane faults on a real kube-apiserver + etcd:
#   - the apiserver crashes and comes back, with etcd's history compacted
#     meanwhile: every watch breaks and resuming from the old resourceVersion
#     gets 410 Gone; the controller relists and keeps working (same process);
#   - the apiserver is away longer than the lease's renew deadline while a run
#     pod finishes: the leader gives up its leadership and exits (as client-go
#     controllers do: it can no longer prove it leads), its restart takes the
#     lease back and records the run once, with every row.
# (SIGKILL of the leader mid-run with failover is in suite 70.)
set -uo pipefail
cd "${RETL_ROOT:-$(dirname "$0")/../..}"
# shellcheck source=tests/lib/e2e-suite.sh
source tests/lib/e2e-suite.sh
e2e_suite_start e2e-faults kubectl-retl
NS=faults
ctl_logs() { kubectl -n retl-system logs deploy/retl-controller 2>/dev/null; }
ctl_pid() {
  grep -l retl-controller /proc/[0-9]*/cmdline 2>/dev/null | while read -r f; do
    p=${f#/proc/}
    p=${p%/cmdline}
    grep -q "$E2E_DIR" "/proc/$p/environ" 2>/dev/null && echo "$p"
  done | head -1
}
# restart_apiserver USR1|USR2: the supervisor kills the apiserver (USR1) or
# stops it gracefully (USR2, ~10 s), compacts etcd, starts it again; returns
# once it serves (its log says so).
restart_apiserver() {
  local sup n
  sup=$(sed -n 's/^RETL_SUPERVISOR_PID=//p' "$E2E_DIR/cluster/cluster.env")
  n=$(grep -c "kube-apiserver restarted" "$E2E_DIR/cluster/cluster.log")
  kill "-$1" "$sup" || return 1
  poll 90 bash -c "[ \$(grep -c 'kube-apiserver restarted' '$E2E_DIR/cluster/cluster.log') -gt $n ]"
}

e2e_cluster_up || e2e_suite_abort
e2e_pg_up || e2e_suite_abort
sql "CREATE SCHEMA analytics; CREATE SCHEMA crm;
CREATE TABLE analytics.items (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO analytics.items SELECT i, 'item ' || i FROM generate_series(1, 40) i;
CREATE TABLE crm.quick (id int PRIMARY KEY, name text);
CREATE TABLE crm.slow (id int PRIMARY KEY, name text);" >/dev/null || e2e_suite_abort
e2e_suite_controller 1 "controller deployed from manifests/"
e2e_suite_namespace
map="[{source: name, destination: name}]"
pgjob quick "SELECT id, name FROM analytics.items" quick "$map" | kubectl apply -f - >/dev/null
kubectl retl run quick --wait --timeout 60s -n $NS >/dev/null 2>&1
check "before the faults: a run succeeds" is quick '{.status.lastRun.run}/{.status.lastRun.result}' 1/Succeeded
PID=$(ctl_pid)
check "the controller process is found (pid ${PID:-?})" test -n "$PID"

# ---- the apiserver crashes, etcd compacted meanwhile -------------------------
check "apiserver killed and restarted with etcd compacted" restart_apiserver USR1
check "the controller relisted after 410 Gone (its log says the resourceVersion expired)" \
  poll 60 bash -c "kubectl -n retl-system logs deploy/retl-controller 2>/dev/null | grep -q 'resourceVersion expired; relisting'"
check "the controller process survived (same pid, not restarted)" test "$(ctl_pid)" = "$PID"
sql "UPDATE analytics.items SET name = name || '!' WHERE id <= 5" >/dev/null
out=$(kubectl retl run quick --wait --timeout 60s -n $NS 2>&1)
echo "$out" | sed 's/^/    /'
check "after the restart: a requested run starts and is recorded (5 rows updated)" \
  test "$(rj quick '{.status.lastRun.run}/{.status.lastRun.result}/{.status.lastRun.rows.updated}')" = 2/Succeeded/5
pgjob fresh "SELECT id, name FROM analytics.items WHERE id <= 3" quick "$map" | kubectl apply -f - >/dev/null
check "after the restart: a job created now is seen (Ready)" \
  kubectl -n $NS wait --for=condition=Ready rj/fresh --timeout=30s

# ---- the apiserver is away for longer when a run pod finishes ---------------
pgjob slow "SELECT i.id, i.name FROM analytics.items i CROSS JOIN pg_sleep(3)" slow "$map" | kubectl apply -f - >/dev/null
kubectl annotate rj slow -n $NS retl.io/run-requested-at="$(date -Is)-f1" --overwrite >/dev/null
check "slow run started" poll 20 is slow '{.status.active.run}' 1
check "apiserver stopped (graceful, ~10 s) and restarted while the run pod works" restart_apiserver USR2
check "the leader gave up its lease and exited instead of acting without it" \
  bash -c "grep -q 'leader election lost; exiting' '$E2E_DIR'/cluster/logs/retl-system_retl-controller-*_controller.log"
check "the run is recorded after the outage: Succeeded with 40 rows" \
  poll 90 is slow '{.status.lastRun.run}/{.status.lastRun.result}/{.status.lastRun.rows.inserted}' 1/Succeeded/40
sleep 2
check "recorded exactly once (totals.runs 1, one history entry), no second run" \
  test "$(rj slow '{.status.totals.runs}/{.status.history[*].run}')/$(kubectl -n $NS get pods -l retl.io/job=slow -o name | wc -l)" = "1/1/1"
check "the rows are in the destination" test "$(sql 'SELECT count(*) FROM crm.slow')" = 40
check "the controller came back (the kubelet restarted it) and leads again" \
  poll 60 bash -c "[ -n \"\$(kubectl -n retl-system get lease retl-controller-leader -o jsonpath='{.spec.holderIdentity}')\" ]"
check "Ready=True after the outage" kubectl -n $NS wait --for=condition=Ready rj/slow --timeout=30s

if [ "$F" -gt 0 ]; then
  ctl_logs >"$E2E_DIR/controller.log"
  echo "(controller log in $E2E_DIR/controller.log; cluster log in $E2E_DIR/cluster/cluster.log)"
fi
echo "$P passed, $F failed"
[ "$F" -eq 0 ]
