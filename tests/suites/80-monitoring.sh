#!/usr/bin/env bash
# Monitoring contract (issue 8):
#  1. the Argo CD health.lua against its health_test.yaml cases (lua5.4);
#  2. the Go tests in tests/kstatus: kstatus (sigs.k8s.io/cli-utils) on the status
#     fixtures, the fixtures against the CRD, the kube-state-metrics config against
#     the CRD and the fixtures, the PrometheusRule (rulefmt + PromQL) against the
#     metrics that exist (KSM names and the controller's registry as rendered by
#     build/test/retl-metrics-dump).
# Counts every test case (Go subtests as leaves); ends with `N passed, M failed`.
set -uo pipefail
cd "${RETL_ROOT:-$(dirname "$0")/../..}"
ROOT=$(pwd)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ARGO_DIR=manifests/monitoring/argocd/retl.io/ReverseEtlJob
KSTATUS_TEST=build/test/kstatus.test
YAML2JSON=build/test/retl-yaml2json
METRICS_DUMP=build/test/retl-metrics-dump
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
P=0 F=0 S=0

fail() { echo "FAIL: $*"; F=$((F + 1)); }

for bin in "$KSTATUS_TEST" "$YAML2JSON" "$METRICS_DUMP"; do
  [ -x "$bin" ] || fail "$bin is not built (make test-build)"
done

# 1. Argo CD health check.
echo "--- Argo CD health.lua ($ARGO_DIR)"
if ! command -v lua5.4 >/dev/null; then
  fail "lua5.4 is not installed (deps/apt.txt)"
elif [ -x "$YAML2JSON" ]; then
  inputs=$(cd "$ARGO_DIR" && ls testdata/*.yaml)
  if (cd "$ARGO_DIR" && "$ROOT/$YAML2JSON" -C . -o "$tmp/argocd" health_test.yaml $inputs); then
    out=$(lua5.4 tests/kstatus/argocd_health_runner.lua "$ARGO_DIR/health.lua" "$tmp/argocd" 2>&1)
    rc=$?
    sed 's/^/  /' <<<"$out"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' <<<"$out" | tail -n 1)
    p=$(sed -E 's/^([0-9]+) passed.*/\1/' <<<"${line:-0 passed}")
    f=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"${line:-x 0 failed}")
    P=$((P + p)) F=$((F + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then fail "health.lua runner exited $rc"; fi
    # Every fixture is a health.lua case too.
    for fx in $inputs; do
      grep -q "inputPath: $fx\$" "$ARGO_DIR/health_test.yaml" || fail "$fx has no health_test.yaml case"
    done
  else
    fail "converting the health tests to JSON"
  fi
fi

# 2. Go tests (kstatus, KSM, PrometheusRule, CRD).
echo "--- tests/kstatus (kstatus, kube-state-metrics config, PrometheusRule, CRD)"
if [ -x "$METRICS_DUMP" ] && [ -x "$KSTATUS_TEST" ]; then
  if "$METRICS_DUMP" >"$tmp/metrics.txt"; then
    out=$(cd tests/kstatus && RETL_ROOT="$ROOT" RETL_METRICS_EXPOSITION="$tmp/metrics.txt" \
      timeout 300 "$ROOT/$KSTATUS_TEST" -test.v -test.count=1 2>&1)
    rc=$?
    sed 's/^/  /' <<<"$out"
    read -r p f s < <(awk '
      /^ *--- (PASS|FAIL|SKIP): / { name = $3; if (!(name in res)) order[n++] = name; res[name] = $2 }
      END {
        for (i = 0; i < n; i++) {
          nm = order[i]; leaf = 1
          for (j = 0; j < n; j++) if (index(order[j], nm "/") == 1) { leaf = 0; break }
          if (!leaf) continue
          if (res[nm] == "PASS:") p++; else if (res[nm] == "FAIL:") f++; else s++
        }
        print p + 0, f + 0, s + 0
      }' <<<"$out")
    P=$((P + p)) F=$((F + f)) S=$((S + s))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then fail "kstatus tests exited $rc"; fi
    [ "$p" -gt 0 ] || fail "kstatus tests ran nothing"
  else
    fail "$METRICS_DUMP could not render the controller's metrics"
  fi
fi

if [ "$S" -gt 0 ]; then echo "$P passed, $F failed, $S skipped"; else echo "$P passed, $F failed"; fi
[ "$F" -eq 0 ]
