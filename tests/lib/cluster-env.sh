# Source from a suite to use the local control plane (tests/cluster, `make cluster-up`).
#   . tests/lib/cluster-env.sh
#   cluster_up          # starts it unless up (idempotent), exports KUBECONFIG & RETL_* vars
#   cluster_down        # stops it unless RETL_KEEP_CLUSTER=1
#   kwait 60 pod/x -n ns '{.status.phase}' Succeeded   # poll a jsonpath until it equals
# Exports after cluster_up: KUBECONFIG, RETL_APISERVER, RETL_APISERVER_PORT, RETL_NODE,
# RETL_CLUSTER_DIR (logs in $RETL_CLUSTER_DIR/logs/<ns>_<pod>_<container>.log).
# Set RETL_CLUSTER_DIR before sourcing to run an independent cluster in another directory.

cluster_root=${RETL_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

cluster_up() {
  make -s --no-print-directory -C "$cluster_root" cluster-up || return 1
  set -a
  # shellcheck disable=SC1091
  . "${RETL_CLUSTER_DIR:-$cluster_root/build/cluster}/cluster.env"
  set +a
}

cluster_down() {
  [ "${RETL_KEEP_CLUSTER:-0}" = 1 ] && return 0
  make -s --no-print-directory -C "$cluster_root" cluster-down >/dev/null 2>&1 || true
}

# kwait TIMEOUT RESOURCE [kubectl args...] JSONPATH EXPECTED: poll until equal; prints the
# last value seen and returns non-zero on timeout.
kwait() {
  local timeout=$1 res=$2
  shift 2
  local n=$#
  local args=("${@:1:n-2}") jp=${*:n-1:1} want=${*:n:1}
  local deadline=$((SECONDS + timeout)) got=
  while :; do
    got=$(kubectl get "$res" "${args[@]}" -o "jsonpath=$jp" 2>/dev/null)
    [ "$got" = "$want" ] && { echo "$got"; return 0; }
    [ $SECONDS -ge $deadline ] && { echo "$got"; return 1; }
    sleep 0.3
  done
}
