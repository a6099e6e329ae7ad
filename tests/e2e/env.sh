# shellcheck shell=bash
# Shared by tests/suites/70-e2e.sh and scripts/demo.sh: a private local control
# plane, PostgreSQL, salesforce-sim, and the controller deployed from
# manifests/ (kubectl apply -k) so it runs in the cluster as the shipped
# service account with exactly the shipped RBAC (the local kubelet runs the
# Deployment's pods as local processes with a projected service account token).
#
#   E2E_DIR=...; source tests/e2e/env.sh
#   e2e_cluster_up        # exports KUBECONFIG
#   e2e_pg_up             # tests/lib/pg.sh: PG_URL, PGPASSWORD, ...
#   e2e_sim_up            # SIM_URL
#   e2e_controller_up N   # N replicas with --leader-elect
#   e2e_down              # stops everything started here
# E2E_BIN_DIR (default build/bin) is what pods find on their PATH.
# E2E_RUNTIME=containerd (make demo RUNTIME=containerd): the real kubelet over
# containerd with localhost/retl:dev (make image containers-tools cluster-images
# first); servers listen on E2E_HOST_IP, where pods reach the host, and the
# controller runs the image.
E2E_RUNTIME=${E2E_RUNTIME:-process}
E2E_HOST_IP=127.0.0.1

E2E_ROOT=${E2E_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
E2E_DIR=${E2E_DIR:-$E2E_ROOT/build/e2e}
# shellcheck source=tests/lib/pg.sh
source "$E2E_ROOT/tests/lib/pg.sh"

e2e_cluster_up() {
  mkdir -p "$E2E_DIR"
  local rt=()
  [ "$E2E_RUNTIME" = containerd ] && rt=(--runtime containerd
    --images "$E2E_ROOT/build/containers/retl.oci.tar,$E2E_ROOT/build/containers/pause.oci.tar")
  "$E2E_ROOT/build/bin/retl-cluster" start --dir "$E2E_DIR/cluster" \
    --bin-dir "${E2E_BIN_DIR:-$E2E_ROOT/build/bin}" "${rt[@]}" >"$E2E_DIR/cluster-start.log" 2>&1 || {
    cat "$E2E_DIR/cluster-start.log" >&2
    return 1
  }
  export KUBECONFIG=$E2E_DIR/cluster/kubeconfig
  E2E_HOST_IP=$(sed -n 's/^RETL_HOST_IP=//p' "$E2E_DIR/cluster/cluster.env")
  E2E_HOST_IP=${E2E_HOST_IP:-127.0.0.1}
}

# e2e_pg_up [postgres -c options]: a dead client's query is cancelled within
# half a second, as a run pod that is stopped must not keep its job's lock.
e2e_pg_up() {
  local la=()
  [ "$E2E_HOST_IP" != 127.0.0.1 ] && la=("listen_addresses=127.0.0.1,$E2E_HOST_IP")
  pg_start client_connection_check_interval=500 "${la[@]}" "$@" || return 1
  if [ "$E2E_HOST_IP" != 127.0.0.1 ]; then # pods connect from the CNI bridge
    echo "host all all 10.244.0.0/16 scram-sha-256" >>"$PG_DIR/data/pg_hba.conf"
    pg_sql -c "SELECT pg_reload_conf()" >/dev/null
    PG_URL=${PG_URL/@127.0.0.1:/@$E2E_HOST_IP:}
    export PG_URL
  fi
  {
    echo "PG_DIR=$PG_DIR"
    echo "PG_URL=$PG_URL"
    echo "PGPASSWORD=$PGPASSWORD"
    echo "PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER PGDATABASE=$PGDATABASE"
  } >"$E2E_DIR/pg.env"
}

# Custom fields the sample jobs write.
e2e_sim_schema() {
  cat <<'EOF'
{"objects": {"Account": {"fields": [
  {"name": "External_Id__c", "type": "string", "length": 64, "externalId": true, "unique": true},
  {"name": "Score__c", "type": "double", "precision": 8, "scale": 2},
  {"name": "Tier__c", "type": "string", "length": 32}
]}}}
EOF
}

e2e_sim_up() {
  mkdir -p "$E2E_DIR"
  e2e_sim_schema >"$E2E_DIR/sim-schema.json"
  : >"$E2E_DIR/sim.url"
  "$E2E_ROOT/build/bin/salesforce-sim" --schema "$E2E_DIR/sim-schema.json" --listen "$E2E_HOST_IP:0" \
    --state "$E2E_DIR/sim-state" >"$E2E_DIR/sim.url" 2>"$E2E_DIR/sim.log" &
  echo $! >"$E2E_DIR/sim.pid"
  for _ in $(seq 100); do
    [ -s "$E2E_DIR/sim.url" ] && break
    sleep 0.05
  done
  SIM_URL=$(head -n 1 "$E2E_DIR/sim.url")
  [ -n "$SIM_URL" ] || { cat "$E2E_DIR/sim.log" >&2; return 1; }
  export SIM_URL
}

# sim_soql QUERY: the sim's query answer (JSON).
sim_soql() {
  local tok
  tok=$(curl -s -X POST "$SIM_URL/__admin/token" | jq -r .access_token)
  curl -s -G -H "Authorization: Bearer $tok" --data-urlencode "q=$1" \
    "$SIM_URL/services/data/v62.0/query"
}

# e2e_controller_up REPLICAS: kubectl apply -k of an overlay of manifests/ that
# only adapts what one host needs (several replicas cannot all bind :8080/:8081
# there: /metrics goes to a free port each replica logs, the probe endpoints are
# off and the probes go).
e2e_controller_up() {
  local replicas=${1:-2} ov=$E2E_DIR/overlay rel
  mkdir -p "$ov"
  rel=$(realpath --relative-to="$ov" "$E2E_ROOT/manifests")
  if [ "$E2E_RUNTIME" = containerd ]; then
    # Containers: each replica has its own network, probes stay; only the image.
    cat >"$ov/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $rel
replicas:
  - {name: retl-controller, count: $replicas}
images:
  - {name: ghcr.io/retl/retl, newName: localhost/retl, newTag: dev}
patches:
  - target: {kind: Deployment, name: retl-controller}
    patch: |-
      - op: replace
        path: /spec/template/spec/containers/0/args
        value: [--leader-elect, --metrics-bind-address=:8080, --health-probe-bind-address=:8081,
                --engine-image=localhost/retl:dev, --log-format=logfmt, --log-level=info]
EOF
  else
    cat >"$ov/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $rel
replicas:
  - {name: retl-controller, count: $replicas}
patches:
  - target: {kind: Deployment, name: retl-controller}
    patch: |-
      - op: replace
        path: /spec/template/spec/containers/0/args
        value: [--leader-elect, --metrics-bind-address=127.0.0.1:0, --health-probe-bind-address=0,
                --engine-image=ghcr.io/retl/retl:latest, --log-format=logfmt, --log-level=info]
      - op: remove
        path: /spec/template/spec/containers/0/livenessProbe
      - op: remove
        path: /spec/template/spec/containers/0/readinessProbe
EOF
  fi
  kubectl apply -k "$ov" >"$E2E_DIR/apply.log" 2>&1 || { cat "$E2E_DIR/apply.log" >&2; return 1; }
  kubectl wait --for=condition=Established crd/reverseetljobs.retl.io --timeout=30s >/dev/null &&
    kubectl -n retl-system rollout status deploy/retl-controller --timeout=60s >/dev/null
}

# The pod holding the leader Lease.
e2e_leader_pod() {
  kubectl -n retl-system get lease retl-controller-leader \
    -o jsonpath='{.spec.holderIdentity}' 2>/dev/null | sed 's/_.*//'
}

# The metrics port a controller pod logged at start.
e2e_metrics_port() {
  sed -n 's/.*metricsPort=\([0-9]*\).*/\1/p' "$E2E_DIR"/cluster/logs/retl-system_"$1"_controller.log 2>/dev/null | tail -1
}

e2e_down() {
  if [ -s "$E2E_DIR/sim.pid" ]; then
    kill "$(cat "$E2E_DIR/sim.pid")" 2>/dev/null
    rm -f "$E2E_DIR/sim.pid"
  fi
  if [ -s "$E2E_DIR/pg.env" ]; then
    PG_DIR=$(sed -n 's/^PG_DIR=//p' "$E2E_DIR/pg.env")
    pg_stop
    rm -f "$E2E_DIR/pg.env"
  fi
  "$E2E_ROOT/build/bin/retl-cluster" stop --dir "$E2E_DIR/cluster" >/dev/null 2>&1 || true
}
