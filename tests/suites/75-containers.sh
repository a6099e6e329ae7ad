#!/usr/bin/env bash
# Real containers (issue 15, DESIGN §8.3): `make cluster-up RUNTIME=containerd`
# (the real kubelet v1.32.13 + kube-proxy over containerd + runc + CNI, the image
# built by `make image` imported), the operator installed as a user would
# (`kubectl apply -k` of manifests/ with the image set to localhost/retl:dev, then
# `helm install` of charts/retl), the controller and every run pod running as
# containers of that image (restricted, read-only root, envFrom Secrets, the
# termination message read back). PostgreSQL, Salesforce (sim) and SQL Server
# (tds-sim through FreeTDS inside the image) jobs, checked with kubectl as a user
# would: status, events, logs. Bad inputs end as clear reasons: a missing Secret,
# an image that is not allowed, an image that cannot be pulled, an OOM kill, the
# deadline. Test servers listen on RETL_HOST_IP, where pods reach the host.
set -uo pipefail
cd "${RETL_ROOT:-$(dirname "$0")/../..}"
ROOT=$PWD
for b in build/bin/retl-cluster build/bin/salesforce-sim build/bin/tds-sim build/bin/helm; do
  if [ ! -x "$b" ]; then
    echo "missing $b (make all test-build)"
    echo "0 passed, 1 failed"
    exit 1
  fi
done
W=$ROOT/build/containers-suite
CL=$W/cluster
rm -rf "$W/work"
mkdir -p "$W/work"
# shellcheck source=tests/lib/pg.sh
source tests/lib/pg.sh
# shellcheck source=tests/e2e/env.sh
E2E_DIR=$W/work source tests/e2e/env.sh
SIM_PID="" TDS_PID=""
down() {
  [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null
  [ -n "$TDS_PID" ] && kill "$TDS_PID" 2>/dev/null
  pg_stop
  [ "${RETL_KEEP_CLUSTER:-}" = 1 ] || RETL_CLUSTER_DIR=$CL make -s --no-print-directory cluster-down >/dev/null 2>&1
}
trap down EXIT

# shellcheck source=tests/lib/checks.sh
source "$ROOT/tests/lib/checks.sh"
POLL_INTERVAL=0.3
NS=ctr
rj() { kubectl -n $NS get rj "$1" -o "jsonpath=$2" 2>/dev/null; }
is() { [ "$(rj "$1" "$2")" = "$3" ]; }
request() { kubectl -n $NS annotate rj "$1" retl.io/run-requested-at="$2" --overwrite >/dev/null; }
manual_pod() { printf '%s-m%s' "$1" "$(printf '%s' "$2" | sha256sum | cut -c1-8)"; }
dump() {
  echo "---- $1"
  kubectl -n $NS get rj "$1" -o yaml 2>&1 | sed -n '/^status:/,$p' | head -40
  kubectl -n $NS get pods -l "retl.io/job=$1" -o wide 2>&1
}
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }

# ---- image, tools and the containerd cluster -----------------------------------
t0=$(date +%s%N)
if ! make -s --no-print-directory image containers-tools cluster-images >"$W/work/build.log" 2>&1; then
  tail -30 "$W/work/build.log"
  echo "$P passed, 1 failed"
  exit 1
fi
t1=$(date +%s%N)
echo "timing: make image containers-tools cluster-images $(secs "$t0" "$t1") s"
if ! RETL_CLUSTER_DIR=$CL make -s --no-print-directory cluster-up RUNTIME=containerd >"$W/work/up.log" 2>&1; then
  cat "$W/work/up.log"
  tail -30 "$CL/cluster.log" "$CL/kubelet.log" 2>/dev/null
  echo "$P passed, 1 failed"
  exit 1
fi
t2=$(date +%s%N)
echo "timing: make cluster-up RUNTIME=containerd $(secs "$t1" "$t2") s"
# shellcheck disable=SC1091
set -a && source "$CL/cluster.env" && set +a
HIP=$RETL_HOST_IP
check "cluster.env: RETL_RUNTIME=containerd, RETL_HOST_IP a host address" \
  test "$RETL_RUNTIME" = containerd -a -n "$HIP" -a "$HIP" != 127.0.0.1
check "the node runs the real kubelet v1.32.13 over containerd" \
  test "$(kubectl get node retl-node -o jsonpath='{.status.nodeInfo.kubeletVersion} {.status.nodeInfo.containerRuntimeVersion}' | cut -d: -f1)" = "v1.32.13 containerd"
check "the image is in containerd (imported, not pulled)" \
  bash -c "kubectl get node retl-node -o jsonpath='{.status.images[*].names}' | grep -q 'localhost/retl:dev'"

# ---- servers on RETL_HOST_IP ---------------------------------------------------------
pg_start "listen_addresses=127.0.0.1,$HIP" || { echo "$P passed, 1 failed"; exit 1; }
echo "host all all 10.244.0.0/16 scram-sha-256" >>"$PG_DIR/data/pg_hba.conf"
pg_sql -c "SELECT pg_reload_conf()" >/dev/null
pg_sql -c "CREATE DATABASE src_mssql" >/dev/null
pg_sql -c "CREATE SCHEMA analytics; CREATE SCHEMA crm;
CREATE TABLE analytics.accounts (id int PRIMARY KEY, name text NOT NULL, score numeric(8,2), tier text);
INSERT INTO analytics.accounts SELECT i, 'Account ' || i, i * 1.5, CASE WHEN i % 3 = 0 THEN 'gold' ELSE 'silver' END
  FROM generate_series(1, 30) i;
CREATE TABLE crm.tiers (customer_id int PRIMARY KEY, tier text);
CREATE TABLE crm.items (id int PRIMARY KEY, name text);" >/dev/null
pg_sql -d src_mssql -c "CREATE TABLE items (id int PRIMARY KEY, name text);
INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 12) i;" >/dev/null
PGH="postgresql://postgres@$HIP:$PGPORT/postgres"

e2e_sim_schema >"$W/work/sim-schema.json"
build/bin/salesforce-sim --schema "$W/work/sim-schema.json" --listen "$HIP:0" \
  >"$W/work/sim.url" 2>"$W/work/sim.log" &
SIM_PID=$!
MSSQL_PW="Tds;pw-$RANDOM$RANDOM"
build/bin/tds-sim -pg "postgresql://postgres:$PGPASSWORD@127.0.0.1:$PGPORT/src_mssql" -user retl \
  -password "$MSSQL_PW" -listen "$HIP:0" -addr-file "$W/work/tds.addr" 2>"$W/work/tds-sim.log" &
TDS_PID=$!
poll 10 test -s "$W/work/sim.url" -a -s "$W/work/tds.addr"
SIM_URL=$(head -n 1 "$W/work/sim.url")
export SIM_URL
TDS_PORT=$(cut -d: -f2 <"$W/work/tds.addr")
check "salesforce-sim and tds-sim listen on RETL_HOST_IP" \
  test "${SIM_URL#http://}" != "$SIM_URL" -a "$(cut -d: -f1 <"$W/work/tds.addr")" = "$HIP"

# ---- install: kubectl apply -k, image set to localhost/retl:dev ------------------------
OV=$W/work/overlay
mkdir -p "$OV"
cat >"$OV/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="$OV" "$ROOT/manifests")
images:
  - {name: ghcr.io/retl/retl, newName: localhost/retl, newTag: dev}
patches:
  - target: {kind: Deployment, name: retl-controller}
    patch: |-
      - op: replace
        path: /spec/template/spec/containers/0/args
        value: [--leader-elect, --metrics-bind-address=:8080, --health-probe-bind-address=:8081,
                --engine-image=localhost/retl:dev, --allowed-run-images=localhost/retl:not-there,
                --log-format=logfmt]
EOF
t0=$(date +%s%N)
if kubectl apply -k "$OV" >"$W/work/apply.log" 2>&1 &&
  kubectl wait --for=condition=Established crd/reverseetljobs.retl.io --timeout=30s >/dev/null &&
  kubectl -n retl-system rollout status deploy/retl-controller --timeout=180s >/dev/null; then
  pass "kubectl apply -k: the 2-replica controller Deployment rolls out as containers ($(secs "$t0" "$(date +%s%N)") s)"
else
  fail "controller deployment"
  cat "$W/work/apply.log"
  kubectl -n retl-system get pods -o wide
  kubectl -n retl-system describe pods | tail -30
fi
CPOD=$(kubectl -n retl-system get pods -l app.kubernetes.io/component=controller -o jsonpath='{.items[0].metadata.name}')
check "controller pods are containerd containers of localhost/retl:dev, Ready (probes on the pod IP)" \
  test "$(kubectl -n retl-system get pod "$CPOD" -o jsonpath='{.status.containerStatuses[0].image} {.status.containerStatuses[0].ready} {.status.containerStatuses[0].containerID}' | cut -d: -f1-2)" = "localhost/retl:dev true containerd"
check "the controller reaches the apiserver through the kubernetes Service (leader elected)" \
  poll 60 bash -c "kubectl -n retl-system get lease retl-controller-leader -o jsonpath='{.spec.holderIdentity}' | grep -q ."
check "kubectl logs of the controller shows its start" \
  bash -c "kubectl -n retl-system logs $CPOD | grep -q 'caches synced'"

kubectl create namespace $NS >/dev/null
kubectl -n $NS create secret generic warehouse --from-literal=url="$PGH" --from-literal=password="$PGPASSWORD" >/dev/null
kubectl -n $NS create secret generic crm --from-literal=url="$PGH" --from-literal=password="$PGPASSWORD" >/dev/null
kubectl -n $NS create secret generic salesforce --from-literal=loginUrl="$SIM_URL" \
  --from-literal=clientId=retl-ctr --from-literal=clientSecret=ctr-secret-value >/dev/null
kubectl -n $NS create secret generic mssql \
  --from-literal=connectionString="Server=$HIP;Port=$TDS_PORT;Database=shop;UID=retl" \
  --from-literal=password="$MSSQL_PW" >/dev/null

# job NAME SRC_TYPE SRC_SECRET QUERY DEST_TYPE DEST_SECRET OBJECT KEYSRC KEYDST MAPPINGS [RUNTEMPLATE]
job() {
  cat <<EOF
apiVersion: retl.io/v1alpha1
kind: ReverseEtlJob
metadata: {name: $1, namespace: $NS}
spec:
  source: {type: $2, secretRef: {name: $3}, query: "$4"}
  destination: {type: $5, secretRef: {name: $6}, object: $7}
  mode: Upsert
  key: {source: $8, destination: $9}
  mappings: ${10}
  runTemplate: {activeDeadlineSeconds: 300${11:+, ${11}}}
EOF
}
# run NAME REQUEST: request a run and wait for its result; prints request-to-done.
run() {
  local t0 t1
  t0=$(date +%s%N)
  request "$1" "$2"
  if poll "${3:-120}" bash -c "[ \"\$(kubectl -n $NS get rj $1 -o jsonpath='{.status.lastHandledRunRequest}/{.status.lastRun.result}')\" != '$2/' ] && [ -n \"\$(kubectl -n $NS get rj $1 -o jsonpath='{.status.lastRun.result}')\" ] && [ -z \"\$(kubectl -n $NS get rj $1 -o jsonpath='{.status.active.pod}')\" ]"; then
    t1=$(date +%s%N)
    echo "$(secs "$t0" "$t1")"
  else
    echo "timeout"
  fi
}

# ---- PostgreSQL -> PostgreSQL --------------------------------------------------------
job pg postgres warehouse "SELECT id, tier FROM analytics.accounts" postgres crm crm.tiers id customer_id \
  "[{source: tier, destination: tier}]" | kubectl apply -f - >/dev/null
T_PG=$(run pg r1)
echo "timing: request-to-done of a PostgreSQL run in a real container: $T_PG s"
check "PostgreSQL job: Succeeded in a container" is pg '{.status.lastRun.result}' Succeeded || dump pg
check "... 30 rows upserted through the pod network to RETL_HOST_IP" test "$(pg_sql -c 'SELECT count(*) FROM crm.tiers')" = 30
PGPOD=$(manual_pod pg r1)
check "run pod: restricted securityContext, read-only root, non-root 65532, no API token" \
  test "$(kubectl -n $NS get pod "$PGPOD" -o jsonpath='{.spec.containers[0].securityContext.readOnlyRootFilesystem} {.spec.containers[0].securityContext.allowPrivilegeEscalation} {.spec.containers[0].securityContext.capabilities.drop[0]} {.spec.securityContext.runAsUser} {.spec.automountServiceAccountToken} {.spec.containers[0].image}')" = "true false ALL 65532 false localhost/retl:dev"
check "run pod: credentials only through envFrom Secrets (none in env values)" \
  bash -c "! kubectl -n $NS get pod $PGPOD -o json | grep -qF '$PGPASSWORD' && kubectl -n $NS get pod $PGPOD -o jsonpath='{.spec.containers[0].envFrom[*].secretRef.name}' | grep -q 'warehouse crm'"
check "the termination message the engine wrote on the read-only root is read back (run summary)" \
  bash -c "kubectl -n $NS get pod $PGPOD -o jsonpath='{.status.containerStatuses[0].state.terminated.message}' | jq -e '.result == \"Succeeded\"' >/dev/null"
check "status.lastRun.rows come from it (30 changed on a first run)" is pg '{.status.lastRun.rows.changed}' 30
check "kubectl logs of the run pod shows the engine's log" \
  bash -c "kubectl -n $NS logs $PGPOD | grep -q '\"msg\"'"
pod_events() { kubectl -n $NS get events --field-selector involvedObject.name="$1" -o jsonpath='{.items[*].reason}' | tr ' ' '\n'; }
check "events: Scheduled, and the real kubelet's Pulled, Created, Started for the run pod" \
  bash -c "$(declare -f pod_events); NS=$NS; r=\$(pod_events $PGPOD); for x in Scheduled Pulled Created Started; do grep -qx \$x <<<\"\$r\" || { echo \"missing \$x in: \$r\"; exit 1; }; done"
check "events: RunStarted and RunSucceeded on the job" \
  bash -c "kubectl -n $NS get events --field-selector involvedObject.name=pg -o jsonpath='{.items[*].reason}' | grep -q RunStarted && kubectl -n $NS get events --field-selector involvedObject.name=pg -o jsonpath='{.items[*].reason}' | grep -q RunSucceeded"

# ---- PostgreSQL -> Salesforce (sim) ---------------------------------------------------
job sf postgres warehouse "SELECT id, name, score FROM analytics.accounts" salesforce salesforce Account id \
  External_Id__c "[{source: name, destination: Name}, {source: score, destination: Score__c}]" | kubectl apply -f - >/dev/null
T_SF=$(run sf r1)
check "Salesforce job: Succeeded in a container ($T_SF s)" is sf '{.status.lastRun.result}' Succeeded || dump sf
check "... 30 Accounts in salesforce-sim" \
  test "$(sim_soql "SELECT COUNT() FROM Account WHERE External_Id__c != null" | jq -r .totalSize)" = 30

# ---- SQL Server (tds-sim through FreeTDS in the image) -> PostgreSQL ------------------
job mssql sqlserver mssql "SELECT id, name FROM items" postgres crm crm.items id id \
  "[{source: name, destination: name}]" | kubectl apply -f - >/dev/null
T_MS=$(run mssql r1)
check "SQL Server job: Succeeded through the image's FreeTDS ($T_MS s)" is mssql '{.status.lastRun.result}' Succeeded || dump mssql
check "... 12 rows copied" test "$(pg_sql -c 'SELECT count(*) FROM crm.items')" = 12

# ---- bad input --------------------------------------------------------------------------
job nosecret postgres no-such-secret "SELECT id, tier FROM analytics.accounts" postgres crm crm.tiers id customer_id \
  "[{source: tier, destination: tier}]" | kubectl apply -f - >/dev/null
job evil postgres warehouse "SELECT id, tier FROM analytics.accounts" postgres crm crm.tiers id customer_id \
  "[{source: tier, destination: tier}]" "image: busybox:latest" | kubectl apply -f - >/dev/null
job nopull postgres warehouse "SELECT id, tier FROM analytics.accounts" postgres crm crm.tiers id customer_id \
  "[{source: tier, destination: tier}]" "image: localhost/retl:not-there" | kubectl apply -f - >/dev/null
job slow postgres warehouse "SELECT id, tier FROM analytics.accounts, pg_sleep(60)" postgres crm crm.tiers id customer_id \
  "[{source: tier, destination: tier}]" | sed 's/activeDeadlineSeconds: 300/activeDeadlineSeconds: 5/' | kubectl apply -f - >/dev/null
# One 150 MB value: libpq holds the whole row, far past the 48Mi limit.
job oom postgres warehouse "SELECT 1 AS id, repeat('x', 150000000) AS tier" postgres crm crm.tiers id customer_id \
  "[{source: tier, destination: tier}]" "resources: {requests: {memory: 48Mi}, limits: {memory: 48Mi}}" | kubectl apply -f - >/dev/null
for j in nosecret evil nopull slow oom; do request $j r1; done
check "missing Secret: Failed, Stalled RunPodConfigError, the kubelet's message names the Secret" \
  poll 60 bash -c "[ \"\$(kubectl -n $NS get rj nosecret -o jsonpath='{.status.lastRun.result}/{.status.conditions[?(@.type==\"Stalled\")].reason}')\" = Failed/RunPodConfigError ] && kubectl -n $NS get rj nosecret -o jsonpath='{.status.lastRun.message}' | grep -q no-such-secret"
check "image not allowed (busybox): Stalled ImageNotAllowed, no pod" \
  poll 30 bash -c "[ \"\$(kubectl -n $NS get rj evil -o jsonpath='{.status.conditions[?(@.type==\"Stalled\")].reason}')\" = ImageNotAllowed ] && [ -z \"\$(kubectl -n $NS get pods -l retl.io/job=evil -o name)\" ]"
check "image that cannot be pulled: Failed with reason ImagePullBackOff naming the image" \
  poll 90 bash -c "[ \"\$(kubectl -n $NS get rj nopull -o jsonpath='{.status.lastRun.result}/{.status.lastRun.reason}')\" = Failed/ImagePullBackOff ] && kubectl -n $NS get rj nopull -o jsonpath='{.status.lastRun.message}' | grep -q 'localhost/retl:not-there'" || dump nopull
check "activeDeadlineSeconds: Failed with reason DeadlineExceeded" \
  poll 90 is slow '{.status.lastRun.result}/{.status.lastRun.reason}' Failed/DeadlineExceeded || dump slow
check "memory limit 48Mi exceeded: Failed with reason OOMKilled" \
  poll 90 is oom '{.status.lastRun.result}/{.status.lastRun.reason}' Failed/OOMKilled || dump oom
echo "info: oom run: $(rj oom '{.status.lastRun.reason}: {.status.lastRun.message}' | cut -c1-200)"
check "each bad input has a Warning event on its job" \
  bash -c "for j in nosecret evil nopull slow oom; do kubectl -n $NS get events --field-selector involvedObject.name=\$j,type=Warning -o name | grep -q . || exit 1; done"

# ---- reinstall with helm ------------------------------------------------------------------
kubectl -n $NS delete rj --all --wait=true --timeout=90s >/dev/null 2>&1
kubectl delete -k "$OV" --wait=true --timeout=120s >"$W/work/delete.log" 2>&1
poll 60 bash -c "! kubectl get ns retl-system >/dev/null 2>&1"
t0=$(date +%s%N)
if build/bin/helm install retl charts/retl -n retl-system --create-namespace --wait --timeout 180s \
  --set image=localhost/retl:dev --set logFormat=logfmt >"$W/work/helm.log" 2>&1; then
  pass "helm install of charts/retl with image=localhost/retl:dev ($(secs "$t0" "$(date +%s%N)") s)"
else
  fail "helm install"
  grep -v 'found symbolic link' "$W/work/helm.log"
fi
job pg postgres warehouse "SELECT id, tier FROM analytics.accounts" postgres crm crm.tiers id customer_id \
  "[{source: tier, destination: tier}]" | kubectl apply -f - >/dev/null
pg_sql -c "UPDATE analytics.accounts SET tier = 'platinum' WHERE id <= 4" >/dev/null
T_PG2=$(run pg r2)
check "after helm install a PostgreSQL job succeeds in a container ($T_PG2 s)" is pg '{.status.lastRun.result}' Succeeded || dump pg
check "... and upserted the change" test "$(pg_sql -c "SELECT count(*) FROM crm.tiers WHERE tier = 'platinum'")" = 4
kubectl -n $NS delete rj --all --wait=true --timeout=60s >/dev/null 2>&1
check "helm uninstall" bash -c "build/bin/helm uninstall retl -n retl-system --wait --timeout 60s >/dev/null 2>&1"

echo "$P passed, $F failed"
[ "$F" -eq 0 ]
