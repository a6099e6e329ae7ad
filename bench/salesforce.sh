#!/usr/bin/env bash
# Salesforce loading benchmark: retl-engine syncs N changed rows (default
# 100000) from PostgreSQL into salesforce-sim over Bulk API 2.0 and over sObject
# Collections; in the same run jsforce (the peer) loads the same rows into the
# same sim with bulk2.loadAndWaitForResults. Reports seconds, rows/s, API calls
# (from the sim's admin stats) and the ratios.
#
# retl's time is end to end (snapshot of the query, delta against the state
# table, login, describe, load, state commit); jsforce's is login + load +
# results with the CSV already written, which favours the peer.
set -uo pipefail
cd "$(dirname "$0")/.."
N=${RETL_BENCH_ROWS:-100000}
ENGINE=build/bin/retl-engine
SIM=build/bin/salesforce-sim
for b in "$ENGINE" "$SIM"; do
  [ -x "$b" ] || { echo "missing $b (make all test-build)"; exit 1; }
done
[ -d tests/fakes/conformance/node_modules/jsforce ] || { echo "jsforce missing (make deps)"; exit 1; }
# shellcheck source=tests/lib/pg.sh
source tests/lib/pg.sh
W=$(mktemp -d /tmp/retl-bench-sf.XXXXXX)
SIM_PID=
cleanup() {
  [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null
  wait 2>/dev/null
  pg_stop
  [ -n "${RETL_BENCH_KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT
cp "$ENGINE" "$W/retl-engine" && ENGINE=$W/retl-engine

pg_start >/dev/null || exit 1
cat >"$W/schema.json" <<'EOF'
{"objects": {"Account": {"fields": [
  {"name": "External_Id__c", "type": "string", "length": 64, "externalId": true, "unique": true},
  {"name": "Score__c", "type": "double", "precision": 8, "scale": 2},
  {"name": "Last_Seen__c", "type": "datetime"},
  {"name": "Active__c", "type": "boolean"},
  {"name": "Signup__c", "type": "date"}
]}}}
EOF
"$SIM" --schema "$W/schema.json" >"$W/sim.url" 2>"$W/sim.log" &
SIM_PID=$!
for _ in $(seq 200); do [ -s "$W/sim.url" ] && break; sleep 0.05; done
S=$(head -n 1 "$W/sim.url")
[ -n "$S" ] || { cat "$W/sim.log"; exit 1; }
used() { curl -s "$S/__admin/stats" | jq -r .apiUsage.used; }
reqs() { curl -s "$S/__admin/stats" | jq -c .requests; }
# calls BEFORE: the requests since the stats snapshot BEFORE, by endpoint. The
# sim counts every /services/data call as API usage and token requests not,
# as Salesforce does; both clients are counted from the same stats.
calls() {
  jq -rn --argjson a "$1" --argjson b "$(reqs)" '$b | to_entries
    | map(select(.value > ($a[.key] // 0)) | "\(.key) \(.value - ($a[.key] // 0))")
    | "  calls: " + join(", ") + " (oauth2/token is not API usage)"'
}

pg_sql -c "CREATE SCHEMA src;
CREATE TABLE src.accts (id text PRIMARY KEY, name text, score numeric(10,2), seen timestamptz, active boolean, signup date);
INSERT INTO src.accts SELECT 'A-' || g, 'Account ' || g, (g % 90000) / 10.0,
  timestamptz '2024-05-01 12:00:00+02' + g * interval '1 minute', g % 2 = 0, date '2024-01-01' + g % 3000
  FROM generate_series(1, $N) g;" >/dev/null

cat >"$W/secrets.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata: {name: wh, namespace: bench}
stringData: {url: "$PG_URL", password: "$PGPASSWORD"}
---
apiVersion: v1
kind: Secret
metadata: {name: sf, namespace: bench}
stringData: {loginUrl: "$S", clientId: 3MVG9.bench, clientSecret: bench-secret}
EOF
job() { # NAME API
  cat >"$W/$1.yaml" <<EOF
apiVersion: retl.io/v1alpha1
kind: ReverseEtlJob
metadata: {name: $1, namespace: bench}
spec:
  source: {type: postgres, secretRef: {name: wh}, query: "SELECT id, name, score, seen, active, signup FROM src.accts"}
  destination: {type: salesforce, secretRef: {name: sf}, object: Account, api: $2}
  mode: Upsert
  key: {source: id, destination: External_Id__c}
  mappings:
    - {source: name, destination: Name}
    - {source: score, destination: Score__c}
    - {source: seen, destination: Last_Seen__c}
    - {source: active, destination: Active__c}
    - {source: signup, destination: Signup__c}
EOF
}
job bench-sf auto

# run LABEL [ENV...]: one engine run; sets SECS, CALLS, SUMMARY.
run() {
  local label=$1
  shift
  local u0 t0 t1 rc
  u0=$(used) R0=$(reqs)
  t0=$(date +%s.%N)
  env RETL_LOG_LEVEL=warn "$@" "$ENGINE" run -f "$W/bench-sf.yaml" -f "$W/secrets.yaml" >"$W/$label.out" 2>"$W/$label.err"
  rc=$?
  t1=$(date +%s.%N)
  SUMMARY=$(tail -n 1 "$W/$label.out")
  SECS=$(echo "$t1 - $t0" | bc -l)
  CALLS=$(($(used) - u0))
  if [ "$rc" != 0 ]; then
    echo "$label: engine exited $rc: $SUMMARY"
    tail -n 5 "$W/$label.err"
    exit 1
  fi
}
change() { pg_sql -c "UPDATE src.accts SET score = score + 1, name = name || '.'" >/dev/null; }
fmt() { printf '%-42s %7.2f s %7.0f rows/s %4s API calls  %s\n' "$1" "$2" "$(echo "$N / $2" | bc -l)" "$3" "$4"; }

REPEAT=${RETL_BENCH_REPEAT:-3}
# shellcheck source=lib/measure.sh
source bench/lib/measure.sh
# phases LABEL: where a Bulk run's time went, from the engine's log.
phases() {
  jq -rs '
    def t: .ts[11:23] | split(":") | (.[0]|tonumber)*3600 + (.[1]|tonumber)*60 + (.[2]|tonumber);
    (map(select(.msg=="run started"))[0]|t) as $a
    | (map(select(.msg=="delta computed"))[0]|t) as $d
    | (map(select(.msg=="salesforce bulk job created"))[0]|t) as $c
    | (map(select(.msg=="salesforce bulk job finished"))[0]|t) as $f
    | (map(select(.msg=="salesforce batch loaded"))[0]|t) as $l
    | (map(select(.msg=="run finished"))[0]|t) as $e
    | "  phases: login+describe+snapshot+diff \($d-$a|.*100|round/100) s, fetch+CSV+create \($c-$d|.*100|round/100) s, upload+process+polls \($f-$c|.*100|round/100) s, results \($l-$f|.*100|round/100) s, state commit \($e-$l|.*100|round/100) s"
  ' "$W/$1.err" 2>/dev/null
}

# load_phase LABEL: seconds from the delta being known to the batch's results
# applied (delta fetch, CSV, the Bulk job, results): the part jsforce does.
load_phase() {
  jq -rs 'def t: .ts[11:23] | split(":") | (.[0]|tonumber)*3600 + (.[1]|tonumber)*60 + (.[2]|tonumber);
    (map(select(.msg=="salesforce batch loaded"))[0]|t) - (map(select(.msg=="delta computed"))[0]|t)' "$W/$1.err"
}

echo "rows: $N (Account upsert by External_Id__c, 6 columns); $REPEAT rounds, medians reported"
run initial RETL_SF_BULK_THRESHOLD=2000 RETL_LOG_LEVEL=info
fmt "retl initial load (auto -> bulk)" "$SECS" "$CALLS" "$(jq -c '{api,bulkJobs,rows:.rows.inserted}' <<<"$SUMMARY")"
# A first sync's state commit also writes every new key's record Id.
phases initial

RB_S=() RL_S=() RB_C=() JS_S=() JS_C=() RR_S=() RR_C=()
for r in $(seq "$REPEAT"); do
  change
  run bulk$r RETL_SF_BULK_THRESHOLD=2000 RETL_LOG_LEVEL=info
  [ "$(jq -r .rows.updated <<<"$SUMMARY")" = "$N" ] || { echo "bulk run did not update $N rows"; exit 1; }
  RB_S+=("$SECS") RB_C+=("$CALLS")
  fmt "[$r] retl changed rows, Bulk API 2.0" "$SECS" "$CALLS" "$(jq -c '{api,bulkJobs}' <<<"$SUMMARY")"
  phases bulk$r
  calls "$R0"
  RL_S+=("$(load_phase bulk$r)")

  # The peer loads exactly the rows retl just loaded, formatted as Salesforce
  # expects (UTC datetimes), from a CSV written beforehand.
  pg_sql -c "\\copy (SELECT id AS \"External_Id__c\", name AS \"Name\", score AS \"Score__c\", to_char(seen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS \"Last_Seen__c\", CASE WHEN active THEN 'true' ELSE 'false' END AS \"Active__c\", signup AS \"Signup__c\" FROM src.accts) TO '$W/rows.csv' WITH (FORMAT csv, HEADER)"
  u0=$(used) R0=$(reqs)
  JS=$(node bench/salesforce-jsforce.js "$S" "$W/rows.csv" Account External_Id__c) || { echo "jsforce failed"; exit 1; }
  c=$(($(used) - u0))
  s=$(jq -r .seconds <<<"$JS")
  [ "$(jq -r .processed <<<"$JS")" = "$N" ] && [ "$(jq -r .failed <<<"$JS")" = 0 ] || { echo "jsforce: $JS"; exit 1; }
  JS_S+=("$s") JS_C+=("$c")
  fmt "[$r] jsforce bulk2.loadAndWaitForResults" "$s" "$c" "$(jq -c '{processed,failed}' <<<"$JS")"
  calls "$R0"

  change
  run rest$r RETL_SF_BULK_THRESHOLD=100000000
  [ "$(jq -r .rows.updated <<<"$SUMMARY")" = "$N" ] || { echo "collections run did not update $N rows"; exit 1; }
  RR_S+=("$SECS") RR_C+=("$CALLS")
  fmt "[$r] retl changed rows, Collections" "$SECS" "$CALLS" "$(jq -c '{api}' <<<"$SUMMARY")"
done

rb=$(median "${RB_S[@]}") rbc=$(median "${RB_C[@]}")
js=$(median "${JS_S[@]}") jsc=$(median "${JS_C[@]}")
rr=$(median "${RR_S[@]}") rrc=$(median "${RR_C[@]}")
echo
echo "medians over $REPEAT rounds ($N changed rows each):"
fmt "retl Bulk API 2.0" "$rb" "$rbc" ""
fmt "jsforce bulk2" "$js" "$jsc" ""
fmt "retl Collections" "$rr" "$rrc" ""
rl=$(median "${RL_S[@]}")
printf 'speed ratio retl bulk / jsforce bulk2:        %.2fx end to end (>1 = retl faster)\n' "$(echo "$js / $rb" | bc -l)"
printf '                                              %.2fx load phase only (retl %.2f s: delta fetch, CSV, job, results)\n' "$(echo "$js / $rl" | bc -l)" "$rl"
printf 'API call ratio retl bulk / jsforce bulk2:     %s / %s\n' "$rbc" "$jsc"
printf 'speed ratio retl collections / jsforce bulk2: %.2fx\n' "$(echo "$js / $rr" | bc -l)"
if (($(echo "$rb <= $js" | bc -l))) && [ "$rbc" -le "$jsc" ]; then
  echo "target met end to end: retl Bulk at least as fast as jsforce with no more API calls"
elif (($(echo "$rl <= $js" | bc -l))) && [ "$rbc" -le "$jsc" ]; then
  echo "target met for the load phase only (end to end adds the warehouse snapshot, diff and state commit)"
else
  echo "target missed"
fi
