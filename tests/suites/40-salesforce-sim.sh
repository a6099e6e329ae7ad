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
  rm -rf "$work"
}
trap cleanup EXIT

# 1. Go unit tests (each top-level test and subtest is one case).
echo "--- go test ($sim_dir)"
go_out=$(cd "$sim_dir" && GOFLAGS=-buildvcs=false go test -count=1 -v ./... 2>&1); go_rc=$?
echo "$go_out" | grep -E '^\s*--- (PASS|FAIL)|^(ok|FAIL|panic)' || true
gp=$(grep -cE '^\s*--- PASS' <<<"$go_out")
gf=$(grep -cE '^\s*--- FAIL' <<<"$go_out")
if [ "$go_rc" -ne 0 ] && [ "$gf" -eq 0 ]; then echo "$go_out" | tail -n 30; gf=1; fi
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

echo "$P passed, $F failed"
[ "$F" -eq 0 ]
