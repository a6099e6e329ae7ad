#!/usr/bin/env bash
# hubspot-sim: its Go unit tests, then the official @hubspot/api-client
# (conformance test) against a freshly started sim, then the binary's flags.
set -uo pipefail
cd "${RETL_ROOT:-$(dirname "$0")/../..}"
sim_dir=tests/fakes/hubspot-sim
conf_dir=tests/fakes/hubspot-conformance
sim=build/bin/hubspot-sim
P=0 F=0
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
start_sim() { # outfile, args...
  local out=$1; shift
  "$sim" "$@" >"$out" 2>>"$work/sim.log" &
  pids+=($!)
  for _ in $(seq 1 100); do [ -s "$out" ] && return 0; sleep 0.05; done
  return 1
}
stop_last() { # signal
  local p=${pids[-1]}
  kill "-$1" "$p" 2>/dev/null; wait "$p" 2>/dev/null
  unset 'pids[-1]'
}

echo "--- go test ($sim_dir)"
go_out=$(cd "$sim_dir" && GOFLAGS=-buildvcs=false go test -count=1 -v ./... 2>&1); go_rc=$?
gp=$(grep -cE '^\s*--- PASS' <<<"$go_out")
gf=$(grep -cE '^\s*--- FAIL' <<<"$go_out")
echo "$go_out" | grep -E '^\s*--- (PASS|FAIL)|^(ok|FAIL|panic)' || true
if [ "$go_rc" -ne 0 ]; then echo "$go_out" | tail -n 40; [ "$gf" -eq 0 ] && gf=1; fi
echo "go unit tests: $gp passed, $gf failed"
P=$((P + gp)) F=$((F + gf))

echo "--- @hubspot/api-client conformance"
if [ ! -x "$sim" ]; then
  echo "missing $sim (make test-build builds it)"; F=$((F + 1))
elif [ ! -d "$conf_dir/node_modules/@hubspot/api-client" ]; then
  echo "missing $conf_dir/node_modules (make deps runs npm ci)"; F=$((F + 1))
else
  start_sim "$work/url" --listen 127.0.0.1:0 --access-token pat-na1-conformance --schema "$conf_dir/schema.json"
  url=$(head -n 1 "$work/url")
  echo "sim at $url (client $(node -p "require('./$conf_dir/node_modules/@hubspot/api-client/package.json').version"))"
  tap=$(cd "$conf_dir" && SIM_URL="$url" SIM_TOKEN=pat-na1-conformance \
    timeout 300 node --test --test-reporter=tap conformance.test.js 2>&1); node_rc=$?
  echo "$tap" | grep -E '^(not )?ok |^# '
  cp=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' <<<"$tap" | tail -n 1)
  cf=$(sed -nE 's/^# fail ([0-9]+)$/\1/p' <<<"$tap" | tail -n 1)
  cp=${cp:-0} cf=${cf:-0}
  if [ "$node_rc" -ne 0 ] && [ "$cf" -eq 0 ]; then echo "$tap" | tail -n 30; echo "node exited $node_rc"; cf=1; fi
  if [ "$cf" -gt 0 ]; then echo "$tap" | grep -A30 '^not ok' | head -n 80; echo "--- sim log"; tail -n 30 "$work/sim.log"; fi
  echo "@hubspot/api-client conformance: $cp passed, $cf failed"
  P=$((P + cp)) F=$((F + cf))
  stop_last TERM
fi

echo "--- binary checks"
bp=0 bf=0
check() { local name=$1; shift; if "$@"; then echo "ok - $name"; bp=$((bp + 1)); else echo "not ok - $name"; bf=$((bf + 1)); fi; }
api() { curl -sS -H 'Authorization: Bearer pat-t' -H 'Content-Type: application/json' "$@"; }
if [ -x "$sim" ]; then
  start_sim "$work/u1" --listen 127.0.0.1:0 --state "$work/state" --access-token pat-t
  u=$(head -n 1 "$work/u1")
  check "prints http://127.0.0.1:PORT as the only stdout line" \
    bash -c "[ \$(wc -l <'$work/u1') = 1 ] && grep -qE '^http://127\.0\.0\.1:[0-9]+$' '$work/u1'"
  api -d '{"inputs":[{"id":"kept@example.com","idProperty":"email","properties":{"firstname":"Kept"}}]}' \
    "$u/crm/v3/objects/contacts/batch/upsert" >/dev/null
  stop_last TERM
  start_sim "$work/u2" --listen 127.0.0.1:0 --state "$work/state" --access-token pat-t
  u=$(head -n 1 "$work/u2")
  check "--state keeps records across a restart" \
    bash -c "curl -sS -H 'Authorization: Bearer pat-t' '$u/crm/v3/objects/contacts/kept@example.com?idProperty=email&properties=firstname' | grep -q '\"firstname\":\"Kept\"'"
  rd='{"idProperty":"email","properties":["email"],"inputs":[{"id":"KEPT@Example.com"}'
  check "batch/read by email matches case-insensitively (HubSpot emails are)" \
    bash -c "curl -sS -H 'Authorization: Bearer pat-t' -H 'Content-Type: application/json' -d '$rd]}' '$u/crm/v3/objects/contacts/batch/read' | jq -e '.results[0].properties.email == \"kept@example.com\"' >/dev/null"
  check "batch/read by email: two ids differing only in case are duplicate ids (400 VALIDATION_ERROR)" \
    bash -c "curl -sS -H 'Authorization: Bearer pat-t' -H 'Content-Type: application/json' -d '$rd,{\"id\":\"kept@example.com\"}]}' '$u/crm/v3/objects/contacts/batch/read' | jq -e '.category == \"VALIDATION_ERROR\" and (.message | startswith(\"Duplicate IDs\"))' >/dev/null"
  check "--access-token: another token is refused with 401" \
    bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer pat-other' '$u/crm/v3/objects/contacts') = 401 ]"
  stop_last TERM
  start_sim "$work/u3" --listen 127.0.0.1:0 --rate-limit 3 --access-token pat-t
  u=$(head -n 1 "$work/u3")
  codes=$(for _ in 1 2 3 4 5; do curl -s -o /dev/null -w '%{http_code} ' -H 'Authorization: Bearer pat-t' "$u/crm/v3/objects/contacts"; done)
  check "--rate-limit 3: the 4th and 5th call in 10 s get 429 ($codes)" [ "$codes" = "200 200 200 429 429 " ]
  check "search is exempt from the ten-secondly limit" \
    bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer pat-t' -H 'Content-Type: application/json' -d '{}' '$u/crm/v3/objects/contacts/search') = 200 ]"
  stop_last TERM
  start_sim "$work/u4" --listen 127.0.0.1:0 --tls-self-signed "$work/tls"
  u=$(head -n 1 "$work/u4")
  check "--tls-self-signed serves https verified by ca.pem" \
    curl -sSf --cacert "$work/tls/ca.pem" -o /dev/null -H 'Authorization: Bearer pat-x' "$u/crm/v3/properties/contacts"
  check "TLS fails without the CA" bash -c "! curl -sSf -o /dev/null '$u/crm/v3/properties/contacts' 2>/dev/null"
  stop_last TERM
else
  echo "not ok - $sim missing"; bf=$((bf + 1))
fi
echo "binary checks: $bp passed, $bf failed"
P=$((P + bp)) F=$((F + bf))

echo "$P passed, $F failed"
[ "$F" -eq 0 ]
