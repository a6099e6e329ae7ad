#!/usr/bin/env bash
# The Helm chart (charts/retl) and the controller's policy flags on a real
# kube-apiserver (tests/cluster, process kubelet), with the real helm built
# from its Go module (build/bin/helm):
#   - helm lint; manifests/ is what the chart renders (one source);
#   - helm template applied with a server-side dry run;
#   - helm install in namespaced mode (watchNamespaces): only Roles in the
#     watched namespaces, proven with `kubectl auth can-i` as the shipped
#     service account; a job outside them is never touched;
#   - --allowed-run-images: a job naming another image is Stalled
#     ImageNotAllowed with an event and no pod; allowed after helm upgrade;
#   - a PostgreSQL job succeeds after install and again after upgrade;
#   - helm uninstall removes the controller and its RBAC, keeps the CRD;
#   - the cluster-wide RBAC grants exactly the calls the controller makes.
set -uo pipefail
cd "${RETL_ROOT:-$(dirname "$0")/../..}"
ROOT=$PWD
HELM=$ROOT/build/bin/helm
# Quiet: helm logs an INFO line for each linked file (crds/, files/) on stderr.
helm_q() { "$HELM" "$@" 2> >(grep -v "found symbolic link" >&2); }
for b in build/bin/retl-cluster build/bin/retl-controller build/bin/retl-engine "$HELM"; do
  if [ ! -x "$b" ]; then
    echo "missing $b (make all test-build)"
    echo "0 passed, 1 failed"
    exit 1
  fi
done
W=$ROOT/build/chart-suite
rm -rf "$W"
mkdir -p "$W/bin"
ln -s "$ROOT/build/bin/retl-engine" "$W/bin/retl-engine"
if [ -x build/san/bin/retl-controller ]; then
  ln -s "$ROOT/build/san/bin/retl-controller" "$W/bin/retl-controller"
else
  ln -s "$ROOT/build/bin/retl-controller" "$W/bin/retl-controller"
fi
# shellcheck source=tests/lib/pg.sh
source tests/lib/pg.sh
down() {
  pg_stop
  "$ROOT/build/bin/retl-cluster" stop --dir "$W/cluster" >/dev/null 2>&1 || true
}
trap down EXIT

# shellcheck source=tests/lib/checks.sh
source "$ROOT/tests/lib/checks.sh"
POLL_INTERVAL=0.3
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SA=system:serviceaccount:retl-system:retl-controller
can() { kubectl auth can-i "$@" --as=$SA 2>/dev/null; }
rj() { kubectl -n "$1" get rj "$2" -o "jsonpath=$3" 2>/dev/null; }
is() { [ "$(rj "$1" "$2" "$3")" = "$4" ]; }

# ---- offline checks ------------------------------------------------------------
check "helm version is v4" bash -c "'$HELM' version --short | grep -q '^v4\.'"
check "helm lint charts/retl" helm_q lint --quiet charts/retl
check "helm lint with every option set" helm_q lint --quiet charts/retl \
  --set 'watchNamespaces={a,b}' --set 'allowedRunImages={x:1,y/*}' --set 'allowedRunServiceAccounts={r,s-*}' \
  --set monitoring.serviceMonitor.enabled=true \
  --set monitoring.prometheusRule.enabled=true --set monitoring.kubeStateMetrics.enabled=true
check "manifests/ is what charts/retl renders (make manifests)" env HELM="$HELM" scripts/manifests.sh check
check "the chart's CRD and monitoring files are the repository's (links, not copies)" \
  bash -c 'cmp -s charts/retl/crds/retl.io_reverseetljobs.yaml crds/retl.io_reverseetljobs.yaml &&
           [ -L charts/retl/crds/retl.io_reverseetljobs.yaml ] && [ -L charts/retl/files/prometheusrule.yaml ]'
# Rendered YAML as one JSON document per line (no cluster needed).
y2j() { python3 -c 'import sys, yaml, json; [print(json.dumps(d)) for d in yaml.safe_load_all(sys.stdin) if d]'; }
NSMODE=$(helm_q template retl charts/retl -n retl-system --set 'watchNamespaces={team-a,team-c}' | y2j)
check "namespaced mode renders no ClusterRole and a Role + RoleBinding per watched namespace" \
  test "$(jq -rs '[.[] | select(.kind == "ClusterRole" or .kind == "ClusterRoleBinding")] | length' <<<"$NSMODE")/$(jq -rs '[.[] | select(.kind == "Role" and .metadata.name == "retl-controller") | .metadata.namespace] | sort | join(",")' <<<"$NSMODE")/$(jq -rs '[.[] | select(.kind == "RoleBinding" and .metadata.name == "retl-controller") | .metadata.namespace] | sort | join(",")' <<<"$NSMODE")" = "0/team-a,team-c/team-a,team-c"
check "namespaced mode passes --watch-namespaces" \
  bash -c 'jq -rs ".[] | select(.kind == \"Deployment\") | .spec.template.spec.containers[0].args[]" <<<"$1" | grep -qx -- --watch-namespaces=team-a,team-c' _ "$NSMODE"
MON=$(helm_q template retl charts/retl -n mon --set monitoring.serviceMonitor.enabled=true \
  --set monitoring.prometheusRule.enabled=true --set monitoring.kubeStateMetrics.enabled=true 2>/dev/null)
check "monitoring toggles render a ServiceMonitor, the PrometheusRule (alert templates kept) and the KSM ConfigMap" \
  test "$(grep -cE '^kind: (ServiceMonitor|PrometheusRule|ConfigMap)$' <<<"$MON")/$(grep -c 'summary: .*{{ $labels.namespace }}' <<<"$MON")/$(grep -c 'kind: CustomResourceStateMetrics' <<<"$MON")" = "3/$(grep -c 'summary: .*{{ $labels.namespace }}' manifests/monitoring/prometheusrule.yaml)/1"

# ---- cluster -------------------------------------------------------------------
"$ROOT/build/bin/retl-cluster" start --dir "$W/cluster" --bin-dir "$W/bin" >"$W/cluster-start.log" 2>&1 || {
  cat "$W/cluster-start.log"
  echo "$P passed, 1 failed"
  exit 1
}
export KUBECONFIG=$W/cluster/kubeconfig
pg_start || { echo "$P passed, 1 failed"; exit 1; }
pg_sql -c "CREATE TABLE src (id int PRIMARY KEY, tier text); INSERT INTO src SELECT i, 't' || i FROM generate_series(1, 20) i;
           CREATE TABLE dst (customer_id int PRIMARY KEY, tier text);" >/dev/null

kubectl create namespace retl-system >/dev/null
check "helm template --include-crds passes a server-side dry run" \
  bash -c "'$HELM' template retl charts/retl -n retl-system --include-crds | kubectl apply --dry-run=server -f - >'$W/dry-run.log' 2>&1"

for ns in team-a team-b; do
  kubectl create namespace $ns >/dev/null
  kubectl -n $ns create secret generic pg --from-literal=url="$PG_URL" --from-literal=password="$PGPASSWORD" >/dev/null
done
MPORT=$(free_port) HPORT=$(free_port)
if helm_q install retl charts/retl -n retl-system --wait --timeout 120s \
  --set replicas=1 --set metricsPort="$MPORT" --set healthPort="$HPORT" --set logFormat=logfmt \
  --set 'watchNamespaces={team-a}' --set 'allowedRunServiceAccounts={retl-run-*}' >"$W/install.log" 2>&1; then
  pass "helm install (namespaced: team-a) rolls out the controller"
else
  fail "helm install"
  grep -v 'found symbolic link' "$W/install.log"
  kubectl -n retl-system get pods
  tail -20 "$W"/cluster/logs/retl-system_* 2>/dev/null
fi

# ---- namespaced RBAC, proven as the service account ----------------------------
check "SA may list/create/delete pods and read their logs in team-a" \
  test "$(can list pods -n team-a)$(can create pods -n team-a)$(can delete pods -n team-a)$(can get pods --subresource=log -n team-a)" = yesyesyesyes
check "SA may do none of that in team-b or cluster-wide" \
  test "$(can list pods -n team-b)$(can delete pods -n team-b)$(can get pods --subresource=log -n team-b)$(can list pods -A)$(can list reverseetljobs.retl.io -A)$(can list reverseetljobs.retl.io -n team-b)" = nononononono
check "SA may not read Secrets anywhere (not even team-a)" \
  test "$(can get secrets -n team-a)$(can list secrets -A)" = nono
check "SA may not update jobs or patch pods (only the calls the controller makes)" \
  test "$(can update reverseetljobs.retl.io -n team-a)$(can patch pods -n team-a)$(can update pods -n team-a)$(can get reverseetljobs.retl.io --subresource=status -n team-a)" = nononono
check "SA's rules in team-b are only the self-review ones every account has" \
  test "$(kubectl auth can-i --list -n team-b --as=$SA --no-headers 2>/dev/null | awk '$1 ~ /\./ || $1 !~ /^\[/ {print $1}' | grep -vE '^(selfsubject(access|rules)reviews|selfsubjectreviews)\.' | grep -v '^\[' | wc -l)" = 0
check "leader election Lease only in retl-system" \
  test "$(can update leases.coordination.k8s.io -n retl-system)$(can update leases.coordination.k8s.io -n team-a)" = yesno

# ---- jobs --------------------------------------------------------------------------
job() { # NS NAME [IMAGE] [SERVICE_ACCOUNT]
  cat <<YAML
apiVersion: retl.io/v1alpha1
kind: ReverseEtlJob
metadata: {name: $2, namespace: $1}
spec:
  source: {type: postgres, secretRef: {name: pg}, query: "SELECT id, tier FROM src"}
  destination: {type: postgres, secretRef: {name: pg}, object: public.dst}
  mode: Upsert
  key: {source: id, destination: customer_id}
  mappings: [{source: tier, destination: tier}]
  runTemplate: {activeDeadlineSeconds: 120${3:+, image: "$3"}${4:+, serviceAccountName: "$4"}}
YAML
}
request() { kubectl -n "$1" annotate rj "$2" retl.io/run-requested-at="$3" --overwrite >/dev/null; }
job team-a tiers | kubectl apply -f - >/dev/null
job team-a evil busybox:latest | kubectl apply -f - >/dev/null
job team-b outside | kubectl apply -f - >/dev/null
job team-a spy "" warehouse-admin | kubectl apply -f - >/dev/null
t0=$(date +%s%N)
request team-a tiers r1
request team-a evil r1
check "a PostgreSQL job in a watched namespace succeeds" \
  poll 90 is team-a tiers '{.status.lastRun.result}' Succeeded
echo "timing: request-to-done of a PostgreSQL run with the process kubelet: $(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }') s"
check "... and wrote its rows" test "$(pg_sql -c 'SELECT count(*) FROM dst')" = 20
check "runTemplate.image busybox:latest: Stalled=True ImageNotAllowed, Ready=False" \
  poll 30 is team-a evil '{.status.conditions[?(@.type=="Stalled")].status}/{.status.conditions[?(@.type=="Stalled")].reason}/{.status.conditions[?(@.type=="Ready")].status}' True/ImageNotAllowed/False
check "... the message names the image and the flag" \
  bash -c "kubectl -n team-a get rj evil -o jsonpath='{.status.conditions[?(@.type==\"Stalled\")].message}' | grep -q 'busybox:latest is not allowed.*--allowed-run-images'"
check "... a Warning event ImageNotAllowed" \
  poll 15 bash -c "kubectl -n team-a get events --field-selector reason=ImageNotAllowed -o name | grep -q ."
check "... and no pod was created for it" \
  test "$(kubectl -n team-a get pods -l retl.io/job=evil -o name | wc -l)" = 0
check "the Deployment passes --allowed-run-service-accounts" \
  bash -c "kubectl -n retl-system get deploy retl-controller -o jsonpath='{.spec.template.spec.containers[0].args}' | grep -q -- '--allowed-run-service-accounts=retl-run-\*'"
check "runTemplate.serviceAccountName warehouse-admin (not retl-run-*): Stalled=True ServiceAccountNotAllowed, no pod" \
  poll 30 bash -c "[ \"\$(kubectl -n team-a get rj spy -o jsonpath='{.status.conditions[?(@.type==\"Stalled\")].reason}')/\$(kubectl -n team-a get pods -l retl.io/job=spy -o name | wc -l)\" = ServiceAccountNotAllowed/0 ]"
sleep 2
check "a job in an unwatched namespace is not touched (no status, no finalizer)" \
  test "$(rj team-b outside '{.status}{.metadata.finalizers}')" = ""

# ---- upgrade: allow another image; a run succeeds again -------------------------
# New ports: the process kubelet shares the host network, and the surge pod
# must not collide with the old one.
MPORT=$(free_port) HPORT=$(free_port)
if helm_q upgrade retl charts/retl -n retl-system --wait --timeout 120s --reuse-values \
  --set metricsPort="$MPORT" --set healthPort="$HPORT" \
  --set 'allowedRunImages={busybox:*}' >"$W/upgrade.log" 2>&1; then
  pass "helm upgrade (allowedRunImages=busybox:*)"
else
  fail "helm upgrade"
  grep -v 'found symbolic link' "$W/upgrade.log"
fi
check "the upgraded Deployment passes --allowed-run-images" \
  bash -c "kubectl -n retl-system get deploy retl-controller -o jsonpath='{.spec.template.spec.containers[0].args}' | grep -q -- '--allowed-run-images=busybox:\*'"
check "after the upgrade the busybox job is no longer ImageNotAllowed" \
  poll 60 bash -c "[ \"\$(kubectl -n team-a get rj evil -o jsonpath='{.status.conditions[?(@.type==\"Stalled\")].reason}')\" != ImageNotAllowed ]"
pg_sql -c "UPDATE src SET tier = 'gold' WHERE id <= 5" >/dev/null
request team-a tiers r2
check "a run requested after the upgrade succeeds" \
  poll 90 is team-a tiers '{.status.lastRun.result}/{.status.lastRun.run}' Succeeded/2
check "... and upserted the change" test "$(pg_sql -c "SELECT count(*) FROM dst WHERE tier = 'gold'")" = 5

# ---- uninstall -------------------------------------------------------------------
kubectl -n team-a delete rj --all --wait=true --timeout=60s >/dev/null 2>&1
if helm_q uninstall retl -n retl-system --wait --timeout 60s >"$W/uninstall.log" 2>&1; then
  pass "helm uninstall"
else
  fail "helm uninstall"
  cat "$W/uninstall.log"
fi
check "uninstall removed the Deployment, the Roles and the service account" \
  test "$(kubectl -n retl-system get deploy,sa/retl-controller -o name 2>/dev/null | grep -c retl-controller)/$(kubectl -n team-a get role retl-controller -o name 2>/dev/null | wc -l)" = 0/0
check "uninstall kept the CRD (helm never deletes CRDs)" bash -c "kubectl get crd reverseetljobs.retl.io -o name >/dev/null"

# ---- cluster-wide RBAC (the chart's default, = manifests/) -------------------------
helm_q install retl charts/retl -n retl-system --set replicas=0 >"$W/install2.log" 2>&1 ||
  { fail "helm install (cluster-wide)"; cat "$W/install2.log"; }
check "cluster-wide SA: pods, pod logs, jobs in any namespace" \
  test "$(can list pods -A)$(can delete pods -n team-b)$(can get pods --subresource=log -n team-b)$(can patch reverseetljobs.retl.io -n team-b)$(can update reverseetljobs.retl.io --subresource=status -n team-b)" = yesyesyesyesyes
check "cluster-wide SA: no Secrets, no job update/delete, no pod patch/update, no status patch" \
  test "$(can get secrets -A)$(can update reverseetljobs.retl.io -A)$(can delete reverseetljobs.retl.io -A)$(can patch pods -A)$(can update pods -A)$(can patch reverseetljobs.retl.io --subresource=status -A)$(can create pods --subresource=exec -A)" = nonononononono
helm_q uninstall retl -n retl-system >/dev/null 2>&1

echo "$P passed, $F failed"
[ "$F" -eq 0 ]
