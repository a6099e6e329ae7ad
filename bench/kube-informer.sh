#!/usr/bin/env bash
# Informer over 10,000 custom resources (the Widget CRD of tests/kube): memory
# per object, initial sync time, and event-to-handler latency for 1,000
# updates, against `kubectl get --watch -o json` on the same stream as the
# peer. Target: RSS under 30 MiB at 10,000 objects. Runs its own local control
# plane in build/kube-bench-cluster. N and UPDATES may be overridden.
set -uo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
UPDATES=${UPDATES:-1000}
DIR=build/kube-bench-cluster
BIN=build/bench/kube_itest
make -s --no-print-directory "$BIN" build/bin/retl-cluster || exit 1
cleanup() { build/bin/retl-cluster stop --dir "$DIR" >/dev/null 2>&1; }
trap cleanup EXIT
build/bin/retl-cluster start --dir "$DIR" --bin-dir build/bin >/dev/null || exit 1
export KUBECONFIG=$PWD/$DIR/kubeconfig
kubectl apply -f tests/kube/widgets-crd.yaml >/dev/null
kubectl wait --for=condition=Established crd/widgets.kubetest.retl.io --timeout=60s >/dev/null
kubectl create namespace bench >/dev/null
"$BIN" bench-create bench "$N" || exit 1
echo "# informer: retl (C, release build) then kubectl as the peer"
retl=$(timeout 600 "$BIN" bench-informer bench "$N" "$UPDATES") || exit 1
echo "$retl"
peer=$(timeout 600 "$BIN" bench-peer bench "$N" "$UPDATES") || exit 1
echo "$peer"
get() { grep "^$1 " <<<"$2" | grep -oE "(^| )$3=[^ ]+" | head -1 | cut -d= -f2; }
r_sync=$(get retl "$retl" sync_s) k_sync=$(get kubectl "$peer" sync_s)
r_rss=$(get retl "$retl" rss_kib) k_rss=$(get kubectl "$peer" rss_kib)
r_obj=$(get retl "$retl" per_object_bytes)
r_p50=$(get retl "$retl" p50_ms) k_p50=$(get kubectl "$peer" p50_ms)
r_p99=$(get retl "$retl" p99_ms) k_p99=$(get kubectl "$peer" p99_ms)
awk -v rs="$r_sync" -v ks="$k_sync" -v rr="$r_rss" -v kr="$k_rss" -v ro="$r_obj" \
    -v r50="$r_p50" -v k50="$k_p50" -v r99="$r_p99" -v k99="$k_p99" -v n="$N" 'BEGIN {
  printf "objects: %d\n", n
  printf "initial sync: retl %.2f s, kubectl %.2f s (kubectl/retl %.2fx)\n", rs, ks, ks/rs
  printf "RSS after sync: retl %.1f MiB (%.0f B/object over baseline), kubectl %.1f MiB (kubectl/retl %.2fx)\n", rr/1024, ro, kr/1024, kr/rr
  printf "update latency p50: retl %.2f ms, kubectl %.2f ms; p99: retl %.2f ms, kubectl %.2f ms\n", r50, k50, r99, k99
  if (rr/1024 < 30) print "target RSS < 30 MiB at " n " objects: met"; else print "target RSS < 30 MiB at " n " objects: MISSED"
}'
