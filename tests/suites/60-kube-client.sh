#!/usr/bin/env bash
# Kubernetes client machinery (controller/kube) against a real local control
# plane: verbs and Status errors, informers under churn, forced 410s, an API
# server restart mid-watch, leader election between two processes, events,
# clean shutdown. The cluster runs in its own state directory so this suite
# never disturbs a cluster someone else started with `make cluster-up`.
set -uo pipefail
cd "${RETL_ROOT:-$(dirname "$0")/../..}"
DIR=build/kube-cluster
DRIVER=build/test/kube_itest
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
P=0 F=0
pids=()

cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  tests/kube/apiserver2.sh stop "$DIR" >/dev/null 2>&1
  build/bin/retl-cluster stop --dir "$DIR" >/dev/null 2>&1
}
trap cleanup EXIT

pass() { P=$((P + 1)); echo "ok - $1"; }
fail() { F=$((F + 1)); echo "not ok - $1"; }

# Runs one driver subcommand; its ok / not ok lines are the results.
drive() {
  local out rc p f
  out=$(timeout 300 "$DRIVER" "$@" 2>&1); rc=$?
  echo "$out" | grep -v '^[0-9]* passed, [0-9]* failed$'
  p=$(grep -c '^ok - ' <<<"$out"); f=$(grep -c '^not ok - ' <<<"$out")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1; echo "not ok - kube_itest $1 exited $rc"
  fi
  P=$((P + p)) F=$((F + f))
}

newns() { kubectl create namespace "$1" >/dev/null && echo "$1"; }

for f in "$DRIVER" build/bin/retl-cluster; do
  if [ ! -x "$f" ]; then echo "missing $f (make test-build)"; echo "0 passed, 1 failed"; exit 1; fi
done
if ! build/bin/retl-cluster start --dir "$DIR" --bin-dir build/bin; then
  echo "not ok - local control plane did not start"; echo "0 passed, 1 failed"; exit 1
fi
export KUBECONFIG=$PWD/$DIR/kubeconfig
kc2=$(tests/kube/apiserver2.sh start "$DIR") || { echo "not ok - second apiserver"; echo "0 passed, 1 failed"; exit 1; }
kubectl apply -f tests/kube/widgets-crd.yaml >/dev/null &&
  kubectl wait --for=condition=Established crd/widgets.kubetest.retl.io --timeout=60s >/dev/null

echo "# verbs and errors"
drive crud "$(newns kc-crud)"
drive status "$(newns kc-status)"
ns=$(newns kc-auth); kubectl create serviceaccount nobody -n "$ns" >/dev/null
drive auth "$ns" "$(kubectl create token nobody -n "$ns")"
# A kubeconfig naming its CA, certificate and key as files relative to itself.
cat > "$DIR/files.kubeconfig" <<KC
apiVersion: v1
kind: Config
current-context: files
clusters:
- name: local
  cluster: {server: "$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')", certificate-authority: pki/ca.crt}
contexts:
- name: files
  context: {cluster: local, user: admin, namespace: kc-threads}
users:
- name: admin
  user: {client-certificate: pki/admin.crt, client-key: pki/admin.key}
KC
ns=$(newns kc-threads)
KUBECONFIG=$PWD/$DIR/files.kubeconfig drive threads "$ns"

echo "# informers"
drive informer "$(newns kc-informer)" 500
drive gone "$(newns kc-gone)" "tests/kube/etcd-compact.sh $DIR" "$kc2"
drive restart "$(newns kc-restart)" "$kc2" "tests/kube/apiserver2.sh restart $DIR"

echo "# events and shutdown"
drive events "$(newns kc-events)"
drive shutdown "$(newns kc-shutdown)"
ns=$(newns kc-hung)
KUBECONFIG=$kc2 drive shutdown-hung "$ns" "tests/kube/apiserver2.sh pause $DIR" "tests/kube/apiserver2.sh resume $DIR"

echo "# leader election: two processes"
ns=$(newns kc-leader)
logA=$(mktemp) logB=$(mktemp)
"$DRIVER" leader "$ns" retl-lease cand-a >"$logA" 2>&1 & pidA=$!
"$DRIVER" leader "$ns" retl-lease cand-b >"$logB" 2>&1 & pidB=$!
pids+=("$pidA" "$pidB")
leader=""
for _ in $(seq 1 200); do
  a=$(grep -c '^LEADING' "$logA"); b=$(grep -c '^LEADING' "$logB")
  [ $((a + b)) -gt 0 ] && break
  sleep 0.1
done
sleep 5 # long enough for a second winner to show up, were there one
a=$(grep -c '^LEADING' "$logA"); b=$(grep -c '^LEADING' "$logB")
if [ $((a + b)) -eq 1 ]; then pass "exactly one of two candidates leads"; else fail "exactly one of two candidates leads (a=$a b=$b)"; fi
if [ "$a" -eq 1 ]; then leader=cand-a lpid=$pidA other=cand-b opid=$pidB olog=$logB; else leader=cand-b lpid=$pidB other=cand-a opid=$pidA olog=$logA; fi
holder=$(kubectl get lease retl-lease -n "$ns" -o jsonpath='{.spec.holderIdentity}')
if [ "$holder" = "$leader" ]; then pass "lease holderIdentity names the leader"; else fail "lease holderIdentity names the leader ($holder vs $leader)"; fi
kill -9 "$lpid"; t0=$(date +%s.%N)
took=""
for _ in $(seq 1 300); do
  if grep -q '^LEADING' "$olog"; then took=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}'); break; fi
  sleep 0.1
done
if [ -n "$took" ] && awk -v t="$took" 'BEGIN{exit !(t < 20)}'; then
  pass "failover after killing the leader in ${took}s (< 20 s)"
else
  fail "failover after killing the leader within 20 s (took ${took:-never})"
fi
holder=$(kubectl get lease retl-lease -n "$ns" -o jsonpath='{.spec.holderIdentity}')
if [ "$holder" = "$other" ]; then pass "lease moved to the survivor"; else fail "lease moved to the survivor ($holder)"; fi
# Graceful stop releases the lease so a newcomer need not wait for expiry.
logC=$(mktemp)
"$DRIVER" leader "$ns" retl-lease cand-c >"$logC" 2>&1 & pidC=$!
pids+=("$pidC")
sleep 1
kill -TERM "$opid"; t0=$(date +%s.%N)
wait "$opid" 2>/dev/null
if grep -q '^RELEASED' "$olog"; then pass "leader releases the lease on SIGTERM"; else fail "leader releases the lease on SIGTERM"; fi
took=""
for _ in $(seq 1 150); do
  if grep -q '^LEADING' "$logC"; then took=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}'); break; fi
  sleep 0.1
done
if [ -n "$took" ] && awk -v t="$took" 'BEGIN{exit !(t < 6)}'; then
  pass "a standby takes a released lease at once (${took}s)"
else
  fail "a standby takes a released lease at once (took ${took:-never})"
fi
kill -TERM "$pidC"; wait "$pidC" 2>/dev/null
# Losing the lease (another holder keeps renewing it) ends the process.
logD=$(mktemp)
"$DRIVER" leader "$ns" lost-lease cand-d >"$logD" 2>&1 & pidD=$!
pids+=("$pidD")
for _ in $(seq 1 100); do grep -q '^LEADING' "$logD" && break; sleep 0.1; done
t0=$(date +%s)
for i in $(seq 1 25); do
  kill -0 "$pidD" 2>/dev/null || break
  kubectl patch lease lost-lease -n "$ns" --type merge \
    -p "{\"spec\":{\"holderIdentity\":\"intruder\",\"renewTime\":\"$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)\"}}" >/dev/null
  sleep 1
done
wait "$pidD"; rc=$?
took=$(( $(date +%s) - t0 ))
if grep -q '^LOST' "$logD" && [ "$rc" -eq 3 ] && [ "$took" -le 15 ]; then
  pass "a leader that loses its lease stops leading and exits (${took}s)"
else
  fail "a leader that loses its lease stops leading and exits (rc $rc, ${took}s)"
fi
rm -f "$logA" "$logB" "$logC" "$logD"

echo "$P passed, $F failed"
[ "$F" -eq 0 ]
