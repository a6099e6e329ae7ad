#!/usr/bin/env bash
# salesforce-sim: its Go unit tests, then the real jsforce client (conformance test)
# against a freshly started sim on a free loopback port.
set -uo pipefail
cd "${RETL_ROOT:-$(dirname "$0")/../..}"
root=$(pwd)
sim_dir=tests/fakes/salesforce-sim
conf_dir=tests/fakes/conformance
sim=build/bin/salesforce-sim
P=0 F=0
work=$(mktemp -d)
sim_pid=
cleanup() {
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  [ -n "${extra_pid:-}" ] && kill "$extra_pid" 2>/dev/null && wait "$extra_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# 1. Go unit tests (each top-level test and subtest is one case).
echo "--- go test ($sim_dir)"
go_out=$(cd "$sim_dir" && GOFLAGS=-buildvcs=false go test -count=1 -v ./... 2>&1); go_rc=$?
echo "$go_out" | grep -E '^\s*--- (PASS|FAIL)|^(ok|FAIL|panic)' || true
gp=$(grep -cE '^\s*--- PASS' <<<"$go_out")
gf=$(grep -cE '^\s*--- FAIL' <<<"$go_out")
if [ "$go_rc" -ne 0 ]; then
  echo "$go_out" | grep -vE '^\s*--- PASS|^=== (RUN|PAUSE|CONT)' | tail -n 80
  [ "$gf" -eq 0 ] && gf=1
fi
echo "go unit tests: $gp passed, $gf failed"
P=$((P + gp)) F=$((F + gf))

# 2. jsforce conformance against a fresh sim.
echo "--- jsforce conformance"
if [ ! -x "$sim" ]; then
  echo "missing $sim (make test-build builds it)"
  F=$((F + 1))
elif [ ! -d "$conf_dir/node_modules/jsforce" ]; then
  echo "missing $conf_dir/node_modules (make deps runs npm ci)"
  F=$((F + 1))
else
  openssl genrsa -out "$work/jwt.key" 2048 2>/dev/null
  openssl rsa -in "$work/jwt.key" -pubout -out "$work/jwt.pub" 2>/dev/null
  openssl genrsa -out "$work/other.key" 2048 2>/dev/null
  "$sim" --listen 127.0.0.1:0 --schema "$conf_dir/schema.json" --jwt-public-key "$work/jwt.pub" \
    --username loader@example.com --password 'pw-and-token' >"$work/url" 2>"$work/sim.log" &
  sim_pid=$!
  for _ in $(seq 1 100); do [ -s "$work/url" ] && break; sleep 0.05; done
  url=$(head -n 1 "$work/url")
  if [ -z "$url" ]; then
    echo "sim did not start:"; cat "$work/sim.log"
    F=$((F + 1))
  else
    echo "sim at $url"
    tap=$(cd "$conf_dir" && SIM_URL="$url" SIM_USER=loader@example.com SIM_PASSWORD='pw-and-token' \
      SIM_JWT_KEY="$work/jwt.key" SIM_JWT_OTHER_KEY="$work/other.key" \
      timeout 300 node --test --test-reporter=tap conformance.test.js 2>&1); node_rc=$?
    echo "$tap" | grep -vE '^\s*(duration_ms|type:|\.\.\.|---)' 
    cp=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' <<<"$tap" | tail -n 1)
    cf=$(sed -nE 's/^# fail ([0-9]+)$/\1/p' <<<"$tap" | tail -n 1)
    cp=${cp:-0} cf=${cf:-0}
    if [ "$node_rc" -ne 0 ] && [ "$cf" -eq 0 ]; then echo "node exited $node_rc"; cf=1; fi
    echo "jsforce conformance: $cp passed, $cf failed"
    P=$((P + cp)) F=$((F + cf))
    if [ "$cf" -gt 0 ]; then echo "--- sim log"; tail -n 50 "$work/sim.log"; fi
  fi
fi

# 3. The binary itself: URL on stdout, --state across restarts, TLS verification.
echo "--- binary checks"
bp=0 bf=0
check() { # name, command...
  local name=$1; shift
  if "$@"; then echo "ok - $name"; bp=$((bp + 1)); else echo "not ok - $name"; bf=$((bf + 1)); fi
}
extra_pid=
start_sim() { # outfile, args...
  local out=$1; shift
  "$sim" "$@" >"$out" 2>>"$work/extra.log" &
  extra_pid=$!
  for _ in $(seq 1 100); do [ -s "$out" ] && return 0; sleep 0.05; done
  return 1
}
stop_sim() { # signal
  [ -n "$extra_pid" ] && kill "-$1" "$extra_pid" 2>/dev/null && wait "$extra_pid" 2>/dev/null
  extra_pid=
}
api() { # url path [curl args...]
  local u=$1 p=$2; shift 2
  curl -sS -H 'Authorization: Bearer sim-token' "$@" "$u/services/data/v59.0/$p"
}
count_named() { # url name -> prints totalSize
  api "$1" "query?q=SELECT+COUNT()+FROM+Account+WHERE+Name+=+%27$2%27" | sed -nE 's/.*"totalSize":([0-9]+).*/\1/p'
}
if [ -x "$sim" ]; then
  state="$work/state"
  start_sim "$work/u1" --listen 127.0.0.1:0 --state "$state" --access-token sim-token
  u=$(head -n 1 "$work/u1")
  check "prints http://127.0.0.1:PORT when ready" grep -qE '^http://127\.0\.0\.1:[0-9]+$' "$work/u1"
  api "$u" sobjects/Account -H 'Content-Type: application/json' -d '{"Name":"Persisted"}' >/dev/null
  stop_sim TERM
  start_sim "$work/u2" --listen 127.0.0.1:0 --state "$state" --access-token sim-token
  u=$(head -n 1 "$work/u2")
  check "--state keeps records across SIGTERM restart" [ "$(count_named "$u" Persisted)" = 1 ]
  api "$u" sobjects/Account -H 'Content-Type: application/json' -d '{"Name":"Flushed"}' >/dev/null
  sleep 0.6
  stop_sim KILL
  start_sim "$work/u3" --listen 127.0.0.1:0 --state "$state" --access-token sim-token
  u=$(head -n 1 "$work/u3")
  check "--state is flushed without a clean shutdown (SIGKILL)" [ "$(count_named "$u" Flushed)" = 1 ]
  check "state.json written atomically (no temp files left)" [ -z "$(find "$state" -name '.state-*')" ]
  stop_sim TERM
  start_sim "$work/u4" --listen 127.0.0.1:0 --tls-self-signed "$work/tls"
  u=$(head -n 1 "$work/u4")
  check "--tls-self-signed serves https" grep -qE '^https://127\.0\.0\.1:[0-9]+$' "$work/u4"
  check "TLS verifies against the generated ca.pem" curl -sSf --cacert "$work/tls/ca.pem" -o /dev/null "$u/services/data/"
  check "TLS fails without the CA" bash -c "! curl -sSf -o /dev/null '$u/services/data/' 2>/dev/null"
  stop_sim TERM
else
  echo "not ok - $sim missing"; bf=$((bf + 1))
fi
echo "binary checks: $bp passed, $bf failed"
P=$((P + bp)) F=$((F + bf))

echo "$P passed, $F failed"
[ "$F" -eq 0 ]
