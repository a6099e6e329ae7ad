# The shared start of the end-to-end suites on the local control plane
# (70-e2e, 75-orchestration, 76-e2e-deletes, 77-e2e-faults). Source it from
# the repository root, then:
#   e2e_suite_start DIR BIN...  fails the suite unless every BIN (under
#       build/bin) is built; prepares build/DIR as E2E_DIR with the binaries
#       pods find on the local kubelet's PATH (the ASan+UBSan controller when
#       it is built: SAN_CTL=1), kubectl-retl on PATH, tests/e2e/env.sh and
#       tests/lib/checks.sh loaded, everything stopped on exit.
#   e2e_suite_abort             the suite's closing line for a failed start.
#   rj JOB JSONPATH / is JOB JSONPATH VALUE / kr ARGS... (kubectl retl; sets
#       OUT and RC) / sql SQL, for the jobs of namespace $NS.
#   pgjob, and retl_job / sf_job of tests/lib/jobs.sh: job manifests.
# shellcheck shell=bash
# shellcheck source=tests/lib/jobs.sh
source "${BASH_SOURCE[0]%/*}/jobs.sh"

e2e_suite_abort() {
  echo "${P:-0} passed, $((${F:-0} + 1)) failed"
  exit 1
}

e2e_suite_start() {
  local dir=$1 b
  shift
  ROOT=$PWD
  for b in retl-cluster retl-controller retl-engine "$@"; do
    if [ ! -x "build/bin/$b" ]; then
      echo "missing build/bin/$b (make all test-build)"
      e2e_suite_abort
    fi
  done
  command -v kubectl >/dev/null && command -v jq >/dev/null || {
    echo "kubectl and jq are needed"
    e2e_suite_abort
  }
  export E2E_DIR=$ROOT/build/$dir
  rm -rf "$E2E_DIR"
  export E2E_BIN_DIR=$E2E_DIR/bin
  mkdir -p "$E2E_BIN_DIR"
  ln -s "$ROOT/build/bin/retl-engine" "$E2E_BIN_DIR/retl-engine"
  SAN_CTL=0
  if [ -x build/san/bin/retl-controller ]; then
    ln -s "$ROOT/build/san/bin/retl-controller" "$E2E_BIN_DIR/retl-controller"
    SAN_CTL=1
  else
    ln -s "$ROOT/build/bin/retl-controller" "$E2E_BIN_DIR/retl-controller"
  fi
  # kubectl finds the plugin on PATH, as a user's would after installing it.
  export PATH=$ROOT/build/bin:$PATH
  # shellcheck source=tests/e2e/env.sh
  source tests/e2e/env.sh
  trap 'e2e_down' EXIT
  # shellcheck source=tests/lib/checks.sh
  source "$ROOT/tests/lib/checks.sh"
}

rj() { kubectl -n "$NS" get rj "$1" -o "jsonpath=$2" 2>/dev/null; }
is() { [ "$(rj "$1" "$2")" = "$3" ]; }
sql() { pg_sql -c "$1"; }
kr() {
  OUT=$(kubectl retl "$@" 2>&1)
  RC=$?
}

# e2e_suite_controller REPLICAS CHECK: the controller deployed from
# manifests/ (a passed check named CHECK), or the suite ends.
e2e_suite_controller() {
  if e2e_controller_up "$1"; then pass "$2"; else
    fail "controller deployment"
    echo "$P passed, $F failed"
    exit 1
  fi
}

# e2e_suite_namespace: creates $NS with the Secrets the suites' jobs name:
# warehouse and crm (the PostgreSQL server) and, when salesforce-sim runs,
# salesforce.
e2e_suite_namespace() {
  kubectl create namespace "$NS" >/dev/null
  {
    cat <<YAML
apiVersion: v1
kind: Secret
metadata: {name: warehouse, namespace: $NS}
stringData: {url: "$PG_URL", password: "$PGPASSWORD"}
---
apiVersion: v1
kind: Secret
metadata: {name: crm, namespace: $NS}
stringData: {url: "$PG_URL", password: "$PGPASSWORD"}
YAML
    [ -n "${SIM_URL:-}" ] && cat <<YAML
---
apiVersion: v1
kind: Secret
metadata: {name: salesforce, namespace: $NS}
stringData: {loginUrl: "$SIM_URL", clientId: retl-e2e, clientSecret: e2e-secret-value}
YAML
  } | kubectl apply -f - >/dev/null
}

# pgjob NAME QUERY TABLE MAPPINGS [EXTRA]: the manifest of an Upsert job by
# id from the warehouse into PostgreSQL table crm.TABLE; EXTRA: more fields
# of spec.
pgjob() {
  retl_job "$1" "$NS" warehouse "$2" postgres crm "object: crm.$3" Upsert id:id "$4" "${5:-}"
}
