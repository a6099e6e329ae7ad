#!/usr/bin/env bash
# The Salesforce destination end to end: PostgreSQL -> retl-engine (sanitized)
# -> salesforce-sim, in Insert / Upsert / Update over sObject Collections and
# Bulk API 2.0, with rejected rows, session expiry, API limits, the per-run
# call cap, describe mismatches and OAuth errors.
set -uo pipefail
cd "${RETL_ROOT:-$(dirname "$0")/../..}"
ENGINE=${RETL_ENGINE:-build/san/bin/retl-engine}
SIM=build/bin/salesforce-sim
for b in "$ENGINE" "$SIM"; do
  if [ ! -x "$b" ]; then
    echo "missing $b (make test-build)"
    echo "0 passed, 1 failed"
    exit 1
  fi
done
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# shellcheck source=tests/lib/pg.sh
source tests/lib/pg.sh

W=$(mktemp -d /tmp/retl-sf45.XXXXXX)
# A private copy, so a rebuild of build/ while the suite runs cannot swap the
# binary under it.
for _ in 1 2 3 4 5; do
  cp "$ENGINE" "$W/retl-engine" 2>/dev/null && { "$W/retl-engine" --help >/dev/null 2>&1; [ $? -le 2 ]; } && break
  sleep 2
done
ENGINE=$W/retl-engine
SIM_PIDS=()
cleanup() {
  for p in "${SIM_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  pg_stop
  rm -rf "$W"
}
trap cleanup EXIT

# shellcheck source=tests/lib/checks.sh
source tests/lib/checks.sh
# shellcheck source=tests/lib/jobs.sh
source tests/lib/jobs.sh

# ---- servers ----
pg_start || { echo "0 passed, 1 failed"; exit 1; }
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/key.pem" 2>/dev/null
openssl pkey -in "$W/key.pem" -pubout -out "$W/pub.pem" 2>/dev/null
cat >"$W/schema.json" <<'EOF'
{"objects": {"Account": {"fields": [
  {"name": "External_Id__c", "type": "string", "length": 64, "externalId": true, "unique": true},
  {"name": "Score__c", "type": "double", "precision": 6, "scale": 2},
  {"name": "Last_Seen__c", "type": "datetime"},
  {"name": "Active__c", "type": "boolean"},
  {"name": "Signup__c", "type": "date"}
]}}}
EOF

# sim_start VAR ARGS...: starts a sim, sets VAR to its base URL.
sim_start() {
  local var=$1
  shift
  "$SIM" --schema "$W/schema.json" "$@" >"$W/$var.url" 2>"$W/$var.log" &
  SIM_PIDS+=($!)
  for _ in $(seq 200); do
    [ -s "$W/$var.url" ] && break
    sleep 0.05
  done
  printf -v "$var" '%s' "$(head -n 1 "$W/$var.url")"
}
sim_start S1 --jwt-public-key "$W/pub.pem" --username loader@acme.com --client-secret s3cret-value
sim_start S2 --session-ttl 700ms
sim_start S3 --tls-self-signed "$W/tls"
if [ -z "$S1" ] || [ -z "$S2" ] || [ -z "$S3" ]; then
  cat "$W"/*.log
  echo "0 passed, 1 failed"
  exit 1
fi

# ---- helpers ----
sql() { pg_sql -c "$1"; }
admin() { curl -s -X "$1" -H 'Content-Type: application/json' ${3:+-d "$3"} "$S1/__admin/$2"; }
admin2() { curl -s -X "$1" -H 'Content-Type: application/json' ${3:+-d "$3"} "$S2/__admin/$2"; }
TOK=$(curl -s -X POST "$S1/__admin/token" | jq -r .access_token)
# soql QUERY: the sim's answer (JSON)
soql() { curl -s -G -H "Authorization: Bearer $TOK" --data-urlencode "q=$1" "$S1/services/data/v62.0/query"; }
stat() { admin GET stats | jq -r "$1"; }

{
  cat <<EOF
apiVersion: v1
kind: Secret
metadata: {name: wh, namespace: t45}
stringData: {url: "$PG_URL", password: "$PGPASSWORD"}
---
apiVersion: v1
kind: Secret
metadata: {name: sf, namespace: t45}
stringData:
  loginUrl: "$S1"
  clientId: 3MVG9.retl
  username: loader@acme.com
  privateKey: |
EOF
  sed 's/^/    /' "$W/key.pem"
  retl_secret sfcc t45 "{loginUrl: \"$S1\", clientId: 3MVG9.retl, clientSecret: s3cret-value}"
  retl_secret sfbad t45 "{loginUrl: \"$S1\", clientId: 3MVG9.retl, clientSecret: wrong-secret-value}"
  retl_secret sfttl t45 "{loginUrl: \"$S2\", clientId: 3MVG9.retl, clientSecret: other-secret-value}"
  retl_secret sfrt t45 "{loginUrl: \"$S2\", clientId: 3MVG9.retl, refreshToken: refresh-token-value}"
  retl_secret sfpw t45 "{loginUrl: \"$S2\", clientId: 3MVG9.retl, clientSecret: pw-client-secret, username: u@acme.com, password: pw-password-value}"
  retl_secret sftls t45 "{instanceUrl: \"$S3\", clientId: 3MVG9.retl, clientSecret: tls-secret-value}"
} >"$W/secrets.yaml"

# job NAME OBJECT MODE API KEYSRC KEYDST QUERY MAPPINGS [SECRET]
# MAPPINGS: "src:Dest,src:Dest"; KEYDST may be empty (Insert).
job() {
  sf_job "$1" t45 wh "$7" "${9:-sf}" "$2, api: $4" "$3" "$5${6:+:$6}" "$8" >"$W/$1.yaml"
}

# run NAME: engine_run (tests/lib/jobs.sh): RC, OUT (the summary JSON), LAST_ERR.
run() { engine_run "$1"; }
sum() { jq -r "$1" <<<"$OUT"; }
show() { echo "  rc=$RC summary=$OUT"; tail -n 3 "$W/$1.$RUNS.err" | sed 's/^/  /'; }
errtab() { sum .errorsTable; }

# ---- source data ----
sql "CREATE SCHEMA src;
CREATE TABLE src.accts (id text PRIMARY KEY, name text, score numeric(8,2), seen timestamptz, active boolean, signup date);
INSERT INTO src.accts SELECT 'A-' || g, 'Account ' || g, (g % 900) / 10.0,
  timestamptz '2024-05-01 12:00:00+02' + g * interval '1 minute', g % 2 = 0, date '2024-01-01' + g
  FROM generate_series(1, 300) g;
CREATE TABLE src.big (id text PRIMARY KEY, name text);
INSERT INTO src.big SELECT 'B-' || g, 'Big ' || g FROM generate_series(1, 2000) g;
CREATE TABLE src.contacts (id text PRIMARY KEY, first text, last text, email text, note text);
INSERT INTO src.contacts SELECT 'C-' || g, 'First' || g, 'Last' || g, 'c' || g || '@example.com', NULL
  FROM generate_series(1, 40) g;
UPDATE src.contacts SET first = repeat('x', 50) WHERE id = 'C-40';
CREATE TABLE src.contacts2 (id text PRIMARY KEY, first text, last text, note text);
INSERT INTO src.contacts2 SELECT 'D-' || g, 'Bulk' || g, 'Person' || g, NULL FROM generate_series(1, 40) g;
UPDATE src.contacts2 SET note = E'has, comma \"quoted\"\nand a newline' WHERE id = 'D-7';" >/dev/null

ACC_MAPS="name:Name,score:Score__c,seen:Last_Seen__c,active:Active__c,signup:Signup__c"
ACC_Q="SELECT id, name, score, seen, active, signup FROM src.accts"

# ---- 1. Upsert over collections (JWT bearer login), api auto below the threshold
job acc Account Upsert auto id External_Id__c "$ACC_Q" "$ACC_MAPS"
run acc
if [ "$RC" = 0 ] && [ "$(sum .rows.inserted)" = 300 ] && [ "$(sum .api)" = rest ] &&
  [ "$(sum .apiCalls)" = 3 ] && [ "$(stat '.records.Account')" = 300 ]; then
  pass "upsert/rest: 300 rows inserted in 2 collection calls + describe"
else
  fail "upsert/rest"; show acc
fi
ASNAP=$(errtab)
ASNAP=${ASNAP%__errors}__snap
check "upsert/rest: a first sync of 2 batches keeps every record Id, each with its key (the 2nd batch copied into the snapshot with its Ids)" \
  diff <(soql "SELECT Id, External_Id__c FROM Account WHERE External_Id__c LIKE 'A-%'" | jq -r '.records[] | "\(.External_Id__c) \(.Id)"' | sort) \
  <(pg_sql -c "SELECT k || ' ' || id FROM $ASNAP" | sort)
rec=$(soql "SELECT Id, Score__c, Last_Seen__c, Active__c, Signup__c FROM Account WHERE External_Id__c = 'A-7'")
check "values: number, datetime in UTC, boolean, date" \
  test "$(jq -c '.records[0] | [.Score__c, .Last_Seen__c, .Active__c, .Signup__c]' <<<"$rec")" \
  = '[0.7,"2024-05-01T10:07:00.000+0000",false,"2024-01-08"]'
check "destinationInfo: externalIdFields and requiredFields" \
  test "$(sum '.destinationInfo | [.externalIdFields, .requiredFields] | tostring')" = '[["External_Id__c"],["Name"]]'
check "summary: apiUsage from Sforce-Limit-Info" grep -qE '^[0-9]+/1000000$' <<<"$(sum .apiUsage)"

# ---- 2. the same job, a 150-row delta, threshold 100: Bulk API 2.0 picked by plan()
sql "UPDATE src.accts SET score = score + 1 WHERE substr(id, 3)::int <= 150" >/dev/null
jobs_before=$(stat '.requests["POST jobs/ingest"] // 0')
RETL_SF_BULK_THRESHOLD=100 run acc
if [ "$RC" = 0 ] && [ "$(sum .rows.updated)" = 150 ] && [ "$(sum .rows.inserted)" = 0 ] &&
  [ "$(sum .api)" = bulk ] && [ "$(sum .bulkJobs)" = 1 ] &&
  [ "$(stat '.requests["POST jobs/ingest"]')" = $((jobs_before + 1)) ]; then
  pass "upsert/bulk: only the 150 changed rows, one Bulk job, created=false from results"
else
  fail "upsert/bulk"; show acc
fi
check "upsert/bulk: value written" \
  test "$(soql "SELECT Score__c FROM Account WHERE External_Id__c = 'A-7'" | jq -r '.records[0].Score__c')" = 1.7

# ---- 2b. Bulk upsert of new and changed rows: only the result sets that can hold
# lines are fetched (no failures: no failedResults, no unprocessedrecords), yet
# every row has its result and created/updated come from sf__Created.
sql "CREATE TABLE src.mix (id text PRIMARY KEY, name text);
INSERT INTO src.mix SELECT 'M-' || g, 'Mix ' || g FROM generate_series(1, 100) g" >/dev/null
job mix Account Upsert auto id External_Id__c "SELECT id, name FROM src.mix" "name:Name"
run mix
sql "UPDATE src.mix SET name = name || '.';
INSERT INTO src.mix SELECT 'M-' || g, 'Mix ' || g FROM generate_series(101, 150) g" >/dev/null
req() { stat ".requests[\"GET jobs/ingest/{id}$1\"] // 0"; }
ok0=$(req /successfulResults) f0=$(req /failedResults) u0=$(req /unprocessedrecords) p0=$(req "")
RETL_SF_BULK_THRESHOLD=100 run mix
created=$(soql "SELECT COUNT() FROM Account WHERE External_Id__c LIKE 'M-%'" | jq -r .totalSize)
if [ "$RC" = 0 ] && [ "$(sum .api)" = bulk ] && [ "$(sum .rows.inserted)" = 50 ] &&
  [ "$(sum .rows.updated)" = 100 ] && [ "$(sum .rows.failed)" = 0 ] && [ "$created" = 150 ]; then
  pass "upsert/bulk mixed: 50 created and 100 updated, as sf__Created tells"
else
  fail "upsert/bulk mixed ($created records)"; show mix
fi
polls=$(($(req "") - p0))
if [ "$(req /successfulResults)" = $((ok0 + 1)) ] && [ "$(req /failedResults)" = "$f0" ] &&
  [ "$(req /unprocessedrecords)" = "$u0" ] && [ "$(sum .apiCalls)" = $((5 + polls)) ] && [ "$polls" -le 3 ]; then
  pass "upsert/bulk mixed: one result call; $(sum .apiCalls) API calls = describe, create, upload, close, $polls polls, results"
else
  fail "upsert/bulk mixed: result calls s=$(req /successfulResults)-$ok0 f=$(req /failedResults)-$f0 u=$(req /unprocessedrecords)-$u0, $polls polls"
  show mix
fi
check "upsert/bulk mixed: a new and an updated record as written" \
  test "$(soql "SELECT Name FROM Account WHERE External_Id__c IN ('M-7', 'M-140') ORDER BY Name" | jq -r '[.records[].Name] | join("|")')" = "Mix 140|Mix 7."

# ---- 3. Insert over collections (client credentials), a too-long value fails without a call
job con Contact Insert rest id "" "SELECT id, first, last, email FROM src.contacts" \
  "first:FirstName,last:LastName,email:Email" sfcc
run con
ET=$(errtab)
if [ "$RC" = 0 ] && [ "$(sum .rows.inserted)" = 39 ] && [ "$(sum .rows.failed)" = 1 ] &&
  [ "$(stat '.records.Contact')" = 39 ]; then
  pass "insert/rest: 39 inserted, 1 rejected"
else
  fail "insert/rest"; show con
fi
check "insert/rest: STRING_TOO_LONG in _errors" \
  test "$(pg_sql -c "SELECT code || '|' || coalesce(fields, 'none') FROM $ET WHERE key = 'C-40'")" = "STRING_TOO_LONG|FirstName"
check "insert/rest: _errors message names field and length" \
  grep -q 'FirstName: data value too large: .*(max length=40)' <<<"$(pg_sql -c "SELECT message FROM $ET WHERE key = 'C-40'")"

# `retl-engine errors` prints codes, keys and timestamps whole (issue 16)
ejson=$("$ENGINE" errors --json -f "$W/con.yaml" -f "$W/secrets.yaml" 2>/dev/null)
etext=$("$ENGINE" errors -f "$W/con.yaml" -f "$W/secrets.yaml" 2>/dev/null)
elast=$(jq -r '.[] | select(.key == "C-40") | .lastFailure' <<<"$ejson")
check "errors: code, class, fields and timestamp printed whole, as --json has them" \
  grep -qE "^C-40 +[0-9]+ +STRING_TOO_LONG +permanent +FirstName +${elast//./\\.} +FirstName: data value too large" <<<"$etext"
check "errors --json: the row with its code" \
  test "$(jq -r '.[] | select(.key == "C-40") | .code' <<<"$ejson")" = STRING_TOO_LONG

# ---- 4. Insert over Bulk API 2.0, CSV quoting and null
job con2 Contact Insert bulk id "" "SELECT id, first, last, note FROM src.contacts2" \
  "first:FirstName,last:LastName,note:Description"
run con2
if [ "$RC" = 0 ] && [ "$(sum .rows.inserted)" = 40 ] && [ "$(sum .api)" = bulk ] &&
  [ "$(stat '.records.Contact')" = 79 ]; then
  pass "insert/bulk: 40 inserted, matched to rows without a key field"
else
  fail "insert/bulk"; show con2
fi
got=$(soql "SELECT Description FROM Contact WHERE LastName = 'Person7'" | jq -r '.records[0].Description')
check "insert/bulk: comma, quotes and newline survive the CSV" test "$got" = $'has, comma "quoted"\nand a newline'
check "insert/bulk: null is #N/A (field empty)" \
  test "$(soql "SELECT Description FROM Contact WHERE LastName = 'Person8'" | jq -r '.records[0].Description')" = null

# ---- 5. Update by Id over collections: 15-char Ids normalised to 18
soql "SELECT Id, External_Id__c FROM Account WHERE External_Id__c LIKE 'A-1%'" |
  jq -r '.records[] | [(.Id | .[0:15]), .External_Id__c] | @tsv' >"$W/ids.tsv"
n_ids=$(wc -l <"$W/ids.tsv")
sql "CREATE TABLE src.upd (sfid text PRIMARY KEY, ext text, score numeric);" >/dev/null
pg_sql -c "\\copy src.upd (sfid, ext) FROM '$W/ids.tsv'"
sql "UPDATE src.upd SET score = 42.5" >/dev/null
job upd Account Update rest sfid Id "SELECT sfid, score FROM src.upd" "score:Score__c"
run upd
if [ "$RC" = 0 ] && [ "$n_ids" -gt 10 ] && [ "$(sum .rows.updated)" = "$n_ids" ] &&
  [ "$(soql "SELECT Id FROM Account WHERE Score__c = 42.5" | jq -r .totalSize)" = "$n_ids" ]; then
  pass "update/rest: $n_ids rows by 15-char Id"
else
  fail "update/rest ($n_ids ids)"; show upd
fi

# ---- 6. Update over Bulk API 2.0; a malformed Id fails without a call
sql "INSERT INTO src.upd VALUES ('001NOTANID', 'x', 1); UPDATE src.upd SET score = 7.25" >/dev/null
job upd2 Account Update bulk sfid Id "SELECT sfid, score FROM src.upd" "score:Score__c"
run upd2
ET=$(errtab)
if [ "$RC" = 0 ] && [ "$(sum .rows.updated)" = "$n_ids" ] && [ "$(sum .rows.failed)" = 1 ] &&
  [ "$(soql "SELECT Id FROM Account WHERE Score__c = 7.25" | jq -r .totalSize)" = "$n_ids" ]; then
  pass "update/bulk: $n_ids updated"
else
  fail "update/bulk"; show upd2
fi
check "update/bulk: MALFORMED_ID in _errors" \
  test "$(pg_sql -c "SELECT code FROM $ET WHERE key = '001NOTANID'")" = MALFORMED_ID

# ---- 7. rejected rows (collections): the sim's code in _errors, retried after the fix
admin POST faults '{"validationRules":[{"object":"Account","field":"Name","contains":"BAD","code":"FIELD_CUSTOM_VALIDATION_EXCEPTION","message":"Name must not contain BAD","fields":["Name"]}]}' >/dev/null
sql "UPDATE src.accts SET name = 'BAD ' || id WHERE id IN ('A-3', 'A-4', 'A-5')" >/dev/null
run acc
ET=$(errtab)
if [ "$RC" = 0 ] && [ "$(sum .rows.failed)" = 3 ] && [ "$(sum .api)" = rest ]; then
  pass "rejected/rest: 3 rows rejected, run completed"
else
  fail "rejected/rest"; show acc
fi
check "rejected/rest: code, message and fields in _errors" \
  test "$(pg_sql -c "SELECT count(*) FROM $ET WHERE code = 'FIELD_CUSTOM_VALIDATION_EXCEPTION' AND message = 'Name must not contain BAD' AND fields = 'Name'")" = 3
check "rejected/rest: validation failures are permanent" \
  test "$(pg_sql -c "SELECT string_agg(DISTINCT class, ',') FROM $ET")" = permanent
admin DELETE faults >/dev/null
run acc
check "rejected/rest: unchanged permanent failures are not resent (skippedPermanent 3, only describe called)" \
  test "$RC/$(sum .rows.changed)/$(sum .rows.skippedPermanent)/$(sum .apiCalls)" = "0/0/3/1"
RETL_RETRY_FAILED=1 run acc
if [ "$RC" = 0 ] && [ "$(sum .rows.updated)" = 3 ] && [ "$(sum .rows.failed)" = 0 ] &&
  [ "$(pg_sql -c "SELECT count(*) FROM $ET")" = 0 ]; then
  pass "rejected/rest: retried after the fix with RETL_RETRY_FAILED=1, _errors empty"
else
  fail "rejected/rest retry"; show acc
fi

# ---- 8. rejected rows (bulk): sf__Error parsed into _errors, retried after the fix
admin POST faults '{"validationRules":[{"object":"Account","field":"Name","contains":"WORSE","code":"FIELD_CUSTOM_VALIDATION_EXCEPTION","message":"Name must not contain WORSE: really","fields":["Name"]}]}' >/dev/null
sql "UPDATE src.accts SET name = 'WORSE ' || id WHERE id IN ('A-10', 'A-11'); UPDATE src.accts SET score = score + 2 WHERE substr(id, 3)::int > 200" >/dev/null
RETL_SF_BULK_THRESHOLD=50 run acc
if [ "$RC" = 0 ] && [ "$(sum .rows.failed)" = 2 ] && [ "$(sum .rows.updated)" = 100 ] && [ "$(sum .api)" = bulk ]; then
  pass "rejected/bulk: 2 rejected, 100 updated"
else
  fail "rejected/bulk"; show acc
fi
check "rejected/bulk: code, message with a colon, and fields in _errors" \
  test "$(pg_sql -c "SELECT count(*) FROM $ET WHERE code = 'FIELD_CUSTOM_VALIDATION_EXCEPTION' AND message = 'Name must not contain WORSE: really' AND fields = 'Name'")" = 2
admin DELETE faults >/dev/null
RETL_RETRY_FAILED=1 RETL_SF_BULK_THRESHOLD=1 run acc
if [ "$RC" = 0 ] && [ "$(sum .rows.updated)" = 2 ] && [ "$(pg_sql -c "SELECT count(*) FROM $ET")" = 0 ]; then
  pass "rejected/bulk: retried after the fix"
else
  fail "rejected/bulk retry"; show acc
fi

# ---- 9. transient faults: 503, ConcurrentRequests and UNABLE_TO_LOCK_ROW are retried
sql "UPDATE src.accts SET score = score + 1 WHERE substr(id, 3)::int BETWEEN 20 AND 39" >/dev/null
admin POST faults '{"unavailableNext":2,"lockRowNext":3,"concurrentLimitNext":2,"pathContains":"composite"}' >/dev/null
run acc
fired=$(stat '.faultsFired | tostring')
if [ "$RC" = 0 ] && [ "$(sum .rows.updated)" = 20 ] && [ "$(sum .rows.failed)" = 0 ] &&
  grep -q unavailable <<<"$fired" && grep -qi lock <<<"$fired" && grep -qi concurrent <<<"$fired"; then
  pass "503, ConcurrentRequests 403 and UNABLE_TO_LOCK_ROW retried: 20 updated ($fired)"
else
  fail "transient faults ($fired)"; show acc
fi
admin DELETE faults >/dev/null
sql "UPDATE src.accts SET score = score + 1 WHERE substr(id, 3)::int BETWEEN 40 AND 99" >/dev/null
fired0=$(stat '.faultsFired.lockRow // 0')
admin POST faults '{"lockRowNext":4}' >/dev/null
RETL_SF_BULK_THRESHOLD=1 run acc
fired=$(($(stat '.faultsFired.lockRow // 0') - fired0))
if [ "$RC" = 0 ] && [ "$(sum .api)" = bulk ] && [ "$(sum .rows.updated)" = 60 ] && [ "$(sum .rows.failed)" = 0 ] && [ "$fired" -ge 4 ]; then
  pass "bulk: $fired locked records sent again over Collections, 60 updated"
else
  fail "bulk lock retry ($fired fired)"; show acc
fi
admin DELETE faults >/dev/null

# ---- 10. session expiry mid-run: re-login once, nothing lost
admin2 POST faults '{"delayMs":150}' >/dev/null
job ttl Account Upsert rest id External_Id__c "SELECT id, name FROM src.big" "name:Name" sfttl
RETL_SF_CONCURRENCY=1 run ttl
if [ "$RC" = 0 ] && [ "$(sum .rows.inserted)" = 2000 ] && [ "$(sum '.logins // 1')" -ge 2 ]; then
  pass "session expired mid-run: $(sum .logins) logins, 2000 rows"
else
  fail "session expiry"; show ttl
fi
admin2 DELETE faults >/dev/null

# ---- 10b. the other OAuth flows, and TLS verified against a given CA
sql "CREATE TABLE src.small AS SELECT 'S-' || g AS id, 'Small ' || g AS name FROM generate_series(1, 5) g" >/dev/null
for flow in sfrt sfpw; do
  job "fl-$flow" Account Upsert rest id External_Id__c "SELECT id, name FROM src.small" "name:Name" "$flow"
  run "fl-$flow"
  if [ "$RC" = 0 ] && [ "$(sum .rows.inserted)$(sum .rows.updated)" != 00 ] && [ "$(sum .rows.failed)" = 0 ]; then
    pass "OAuth flow $flow: 5 rows loaded"
  else
    fail "OAuth flow $flow"; show "fl-$flow"
  fi
done
job tls Account Upsert rest id External_Id__c "SELECT id, name FROM src.small" "name:Name" sftls
run tls
if [ "$RC" = 1 ] && grep -qi 'certificate\|SSL\|TLS' <<<"$(sum .message)"; then
  pass "TLS: an unknown CA is refused ($(sum .message | cut -c1-80))"
else
  fail "TLS without the CA"; show tls
fi
RETL_SF_CA_FILE="$W/tls/ca.pem" run tls
check "TLS: verified with RETL_SF_CA_FILE, 5 rows" test "$RC/$(sum .rows.inserted)" = 0/5

admin POST expire-sessions >/dev/null
sql "UPDATE src.accts SET score = score + 1 WHERE id = 'A-1'" >/dev/null
TOK=$(curl -s -X POST "$S1/__admin/token" | jq -r .access_token)

# ---- 11. daily API limit exhausted: the run fails cleanly and resends later
used=$(stat .apiUsage.used)
admin POST api-usage "{\"used\":$((used + 1)),\"max\":$((used + 2))}" >/dev/null
run acc
if [ "$RC" = 1 ] && grep -q REQUEST_LIMIT_EXCEEDED <<<"$(sum .message)"; then
  pass "daily limit: run failed with REQUEST_LIMIT_EXCEEDED"
else
  fail "daily limit"; show acc
fi
admin POST api-usage '{"used":0,"max":1000000}' >/dev/null
run acc
if [ "$RC" = 0 ] && [ "$(sum .rows.updated)" = 1 ]; then
  pass "daily limit: the row is sent by the next run"
else
  fail "daily limit resend"; show acc
fi

# ---- 12. per-run API call cap: fails before the batch is sent
sql "UPDATE src.accts SET score = score + 1" >/dev/null
writes=$(stat .recordWrites)
RETL_SF_MAX_API_CALLS=2 run acc
if [ "$RC" = 1 ] && grep -q 'API call cap' <<<"$(sum .message)" && [ "$(stat .recordWrites)" = "$writes" ]; then
  pass "call cap: failed cleanly before writing"
else
  fail "call cap"; show acc
fi
run acc
check "call cap: next run without the cap loads all 300" test "$RC/$(sum .rows.updated)" = 0/300

# ---- 13. describe mismatch fails before any write
job bad Account Upsert rest id External_Id__c "$ACC_Q" "name:Name,score:Scor__c,seen:CreatedDate"
writes=$(stat .recordWrites)
run bad
msg=$(sum .message)
if [ "$RC" = 1 ] && grep -qF 'spec.mappings[1].destination: field Scor__c does not exist on Account' <<<"$msg" &&
  grep -qF 'spec.mappings[2].destination: field CreatedDate on Account is not createable' <<<"$msg" &&
  [ "$(stat .recordWrites)" = "$writes" ]; then
  pass "describe mismatch: named fields, no write"
else
  fail "describe mismatch"; show bad
fi
job bad3 Account Upsert rest id Score__c "SELECT id, name FROM src.accts" "name:Name"
run bad3
check "describe mismatch: key is not an external id" \
  grep -qF 'spec.key.destination: field Score__c on Account is not an external id field' <<<"$(sum .message)"

# ---- 13b. Insert over Collections, one request of a round answered 500 and one
# 503 in a later run: the request that was answered is recorded (never created
# twice by the next run), a create is never resent within the run, and the
# unanswered rows go again next run (issue 16 item 4)
sql "CREATE TABLE src.ins4 (id text PRIMARY KEY, last text);
INSERT INTO src.ins4 SELECT 'I-' || g, 'Ins4x' || g FROM generate_series(1, 400) g" >/dev/null
job ins4 Contact Insert rest id "" "SELECT id, last FROM src.ins4" "last:LastName" sfcc
ins4_count() { soql "SELECT COUNT() FROM Contact WHERE LastName LIKE 'Ins4x%'" | jq -r .totalSize; }
posts() { stat '.requests["POST composite/sobjects"] // 0'; }
admin DELETE faults >/dev/null
p0=$(posts)
admin POST faults '{"unavailableNext":1,"unavailableStatus":500,"pathContains":"composite"}' >/dev/null
run ins4
if [ "$(sum .rows.inserted)" = 200 ] && [ "$(ins4_count)" = 200 ] && [ "$(($(posts) - p0))" = 2 ]; then
  pass "insert/rest with a 500 in the round: the answered 200 recorded, the create not resent (rc=$RC)"
else
  fail "insert/rest 500 in the round: $(ins4_count) records, $(($(posts) - p0)) POSTs"; show ins4
fi
admin DELETE faults >/dev/null
sql "INSERT INTO src.ins4 SELECT 'I-' || g, 'Ins4x' || g FROM generate_series(401, 600) g" >/dev/null
p0=$(posts)
admin POST faults '{"unavailableNext":1,"unavailableStatus":503,"pathContains":"composite"}' >/dev/null
run ins4
n503=$(ins4_count)
if [ "$(($(posts) - p0))" = 2 ] && [ "$n503" -ge 400 ] && [ "$n503" -le 600 ]; then
  pass "insert/rest with a 503: not resent within the run ($n503 records, rc=$RC)"
else
  fail "insert/rest 503: $n503 records, $(($(posts) - p0)) POSTs"; show ins4
fi
admin DELETE faults >/dev/null
run ins4
if [ "$RC" = 0 ] && [ "$(ins4_count)" = 600 ] && [ "$(sum .rows.failed)" = 0 ]; then
  pass "insert/rest: the next run sends the unanswered rows; 600 records, no duplicate"
else
  fail "insert/rest reconcile: $(ins4_count) records"; show ins4
fi

# ---- 12c. failure classes: Update of an Id Salesforce does not hold fails once,
# permanently; it is not resent (no API call but describe) until the row
# changes or a retry is requested.
sql "CREATE TABLE src.gone (sfid text PRIMARY KEY, score numeric);
INSERT INTO src.gone VALUES ('001000000000AAA', 1)" >/dev/null
job gone Account Update auto sfid Id "SELECT sfid, score FROM src.gone" "score:Score__c"
run gone
ET=$(errtab)
check "class: Update of an unknown Id fails permanently" \
  test "$RC/$(sum .rows.failed)/$(pg_sql -c "SELECT code || ' ' || class || ' ' || attempts FROM $ET")" = "0/1/INVALID_CROSS_REFERENCE_KEY permanent 1"
run gone
check "class: not resent on the next run (1 API call: describe)" \
  test "$RC/$(sum .rows.changed)/$(sum .rows.skippedPermanent)/$(sum .apiCalls)/$(pg_sql -c "SELECT attempts FROM $ET")" = "0/0/1/1/1"
sql "UPDATE src.gone SET score = 2" >/dev/null
run gone
check "class: resent once the row changes (2 API calls)" \
  test "$(sum .rows.failed)/$(sum .apiCalls)/$(pg_sql -c "SELECT attempts FROM $ET")" = "1/2/2"
RETL_SF_BULK_THRESHOLD=1 RETL_RETRY_FAILED=1 run gone
check "class: resent with RETL_RETRY_FAILED=1 over Bulk too (sf__Error parsed, class kept)" \
  test "$(sum .api)/$(sum .rows.failed)/$(pg_sql -c "SELECT code || ' ' || class || ' ' || attempts FROM $ET")" = "bulk/1/INVALID_CROSS_REFERENCE_KEY permanent 3"

# ---- 12d. nulls: Write sends null (REST null, Bulk #N/A), Skip keeps what the
# record holds (REST omits the field, Bulk leaves the cell empty)
sql "CREATE TABLE src.nul (id text PRIMARY KEY, name text, score numeric);
INSERT INTO src.nul SELECT 'N-' || g, 'Null ' || g, 5 FROM generate_series(1, 4) g" >/dev/null
nuljob() { # nuljob NAME API NULLS KEYS
  sf_job "$1" t45 wh "SELECT id, name, score FROM src.nul WHERE id IN ($4)" sf "Account, api: $2" \
    Upsert id:External_Id__c "[{source: name, destination: Name}, {source: score, destination: Score__c, nulls: $3}]" >"$W/$1.yaml"
}
nuljob nul-rs rest Skip "'N-1'"
nuljob nul-rw rest Write "'N-2'"
nuljob nul-bs bulk Skip "'N-3'"
nuljob nul-bw bulk Write "'N-4'"
for j in nul-rs nul-rw nul-bs nul-bw; do run $j; done
sql "UPDATE src.nul SET score = NULL, name = name || '.'" >/dev/null
for j in nul-rs nul-rw nul-bs nul-bw; do run $j; done
nscore() { soql "SELECT Score__c FROM Account WHERE External_Id__c = '$1'" | jq -r '.records[0].Score__c'; }
check "nulls: REST Skip keeps the value, Write clears it" test "$(nscore N-1)/$(nscore N-2)" = "5/null"
check "nulls: Bulk Skip keeps the value, Write (#N/A) clears it" test "$(nscore N-3)/$(nscore N-4)" = "5/null"
check "nulls: the other fields were updated" \
  test "$(soql "SELECT COUNT() FROM Account WHERE Name LIKE 'Null %.'" | jq -r .totalSize)" = 4

# ---- 12e. deletes: only records this job synced leave Salesforce (tracked mirror)
sfapi() { curl -s -X "$1" -H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' ${3:+-d "$3"} "$S1/services/data/v62.0$2"; }
other=$(sfapi POST /sobjects/Account '{"Name":"Typed by a rep","External_Id__c":"SD-OTHER"}' | jq -r .id)
sql "CREATE TABLE src.sfdel (id text PRIMARY KEY, name text, score numeric);
INSERT INTO src.sfdel SELECT 'SD-' || g, 'Del ' || g, g FROM generate_series(1, 10) g" >/dev/null
deljob() { # deljob NAME MODE
  sf_job "$1" t45 wh "SELECT id, name, score FROM src.sfdel" sf "Account, api: rest" Upsert id:External_Id__c \
    name:Name,score:Score__c "deletes: {mode: $2, maxPercent: 30}" >"$W/$1.yaml"
}
deljob sfdel Delete
run sfdel
ET=$(errtab)
SNAP=${ET%__errors}__snap
sdcount() { soql "SELECT COUNT() FROM Account WHERE External_Id__c LIKE 'SD-%'" | jq -r .totalSize; }
check "deletes/rest: first run creates 10, deletes nothing; the snapshot keeps each record Id" \
  test "$RC/$(sum .rows.inserted)/$(sum .rows.deleted)/$(sdcount)/$(pg_sql -c "SELECT count(*) FROM $SNAP WHERE id LIKE '001%'")" = "0/10/0/11/10"
sql "DELETE FROM src.sfdel WHERE id IN ('SD-1', 'SD-2')" >/dev/null
run sfdel
check "deletes/rest: 2 records deleted by Id in one Collections DELETE (describe + 1 call)" \
  test "$RC/$(sum .rows.deleted)/$(sum .apiCalls)/$(sdcount)" = "0/2/2/9"
check "deletes/rest: the record someone else created survives" \
  test "$(soql "SELECT Name FROM Account WHERE Id = '$other'" | jq -r '.records[0].Name')" = "Typed by a rep"
# A snapshot written before Ids were kept: found by the external id first.
pg_sql -c "UPDATE $SNAP SET id = NULL WHERE k IN ('SD-3', 'SD-4')" >/dev/null
sql "DELETE FROM src.sfdel WHERE id IN ('SD-3', 'SD-4')" >/dev/null
run sfdel
check "deletes/rest: keys without a kept Id are looked up (1 SOQL query) and deleted (describe + 2 calls)" \
  test "$RC/$(sum .rows.deleted)/$(sum .apiCalls)/$(sdcount)" = "0/2/3/7"
# Already gone in Salesforce: counts as deleted.
sd5=$(soql "SELECT Id FROM Account WHERE External_Id__c = 'SD-5'" | jq -r '.records[0].Id')
sfapi DELETE "/sobjects/Account/$sd5" >/dev/null
sql "DELETE FROM src.sfdel WHERE id = 'SD-5'" >/dev/null
run sfdel
check "deletes/rest: a record already deleted (ENTITY_IS_DELETED) counts as deleted" \
  test "$RC/$(sum .rows.deleted)/$(sum .rows.failed)" = "0/1/0"
sql "DELETE FROM src.sfdel WHERE id IN ('SD-6', 'SD-7', 'SD-8')" >/dev/null
run sfdel
check "deletes/rest: 3 of 5 synced keys (60%) > maxPercent 30: DeleteGuard, nothing deleted" \
  test "$RC/$(sum .reason)/$(sdcount)" = "1/DeleteGuard/6"
sql "INSERT INTO src.sfdel VALUES ('SD-6', 'Del 6', 6), ('SD-7', 'Del 7', 7), ('SD-1', 'Back', 1)" >/dev/null
run sfdel
check "deletes/rest: a deleted key that comes back is created again" \
  test "$RC/$(sum .rows.inserted)/$(sum .rows.deleted)/$(sdcount)" = "0/1/1/6"
# Clear: fields but the key nulled, the record stays.
deljob sfdel Clear
run sfdel
sql "DELETE FROM src.sfdel WHERE id = 'SD-9'" >/dev/null
run sfdel
rec=$(soql "SELECT Name, Score__c FROM Account WHERE External_Id__c = 'SD-9'")
check "clear/rest: the record stays with its nillable mapped fields nulled (Name cannot be null)" \
  test "$RC/$(sum .rows.cleared)/$(jq -c '[.totalSize, .records[0].Score__c, .records[0].Name]' <<<"$rec")" = '0/1/[1,null,"Del 9"]'
run sfdel
check "clear/rest: cleared once, not again" test "$(sum .rows.cleared)/$(sum .rows.changed)" = "0/0"

# ---- 12e-bulk. deletes at the api: auto threshold: one Bulk API 2.0 delete job
# (CSV of Ids) instead of Collections; below it Collections; Clear as a Bulk
# update by Id with #N/A; SIGKILL while the delete job runs, then a rerun.
reqn() { admin GET stats | jq -r --arg k "$1" '.requests[$k] // 0'; }
sfapi POST /sobjects/Account '{"Name":"Rep typed too","External_Id__c":"BD-OTHER"}' >/dev/null
sql "CREATE TABLE src.sfbd (id text PRIMARY KEY, name text, score numeric);
INSERT INTO src.sfbd SELECT 'BD-' || g, 'Bulk del ' || g, g FROM generate_series(1, 300) g" >/dev/null
bdjob() { # bdjob MODE API
  sf_job sfbd t45 wh "SELECT id, name, score FROM src.sfbd" sf "Account, api: $2" Upsert id:External_Id__c \
    name:Name,score:Score__c "deletes: {mode: $1, maxPercent: 50}" >"$W/sfbd.yaml"
}
bdcount() { soql "SELECT COUNT() FROM Account WHERE External_Id__c LIKE 'BD-%'" | jq -r .totalSize; }
bdjob Delete auto
RETL_SF_BULK_THRESHOLD=50 run sfbd
BDSNAP=$(errtab)
BDSNAP=${BDSNAP%__errors}__snap
check "deletes/bulk: first run creates 300 over Bulk" \
  test "$RC/$(sum .rows.inserted)/$(sum .bulkJobs)/$(bdcount)" = "0/300/1/301"
sql "DELETE FROM src.sfbd WHERE id IN (SELECT 'BD-' || g FROM generate_series(1, 60) g)" >/dev/null
jobs0=$(reqn "POST jobs/ingest") cdel0=$(reqn "DELETE composite/sobjects")
RETL_SF_BULK_THRESHOLD=50 run sfbd
check "deletes/bulk: 60 deletes >= threshold 50: exactly one Bulk delete job, no Collections DELETE" \
  test "$RC/$(sum .rows.deleted)/$(sum .bulkJobs)/$(($(reqn "POST jobs/ingest") - jobs0))/$(($(reqn "DELETE composite/sobjects") - cdel0))/$(bdcount)" = "0/60/1/1/0/241"
check "deletes/bulk: the job was a delete job" \
  grep -q '"operation":"delete"' "$W/sfbd.$RUNS.err"
check "deletes/bulk: the record someone else created survives" \
  test "$(soql "SELECT Name FROM Account WHERE External_Id__c = 'BD-OTHER'" | jq -r '.records[0].Name')" = "Rep typed too"
sql "DELETE FROM src.sfbd WHERE id IN (SELECT 'BD-' || g FROM generate_series(61, 70) g)" >/dev/null
jobs0=$(reqn "POST jobs/ingest")
RETL_SF_BULK_THRESHOLD=50 run sfbd
check "deletes/bulk: 10 deletes < threshold 50: one Collections DELETE, no job (describe + 1 call)" \
  test "$RC/$(sum .rows.deleted)/$(sum .apiCalls)/$(($(reqn "POST jobs/ingest") - jobs0))/$(bdcount)" = "0/10/2/0/231"
# A changed row whose record someone deleted is created again with a new Id:
# the snapshot keeps the new Id (only changed Ids are written at commit);
# an unchanged Id stays.
sfid() { soql "SELECT Id FROM Account WHERE External_Id__c = '$1'" | jq -r '.records[0].Id'; }
snapid() { pg_sql -c "SELECT id FROM $BDSNAP WHERE k = '$1'"; }
old280=$(sfid BD-280) old281=$(sfid BD-281)
sfapi DELETE "/sobjects/Account/$old280" >/dev/null
sfapi DELETE "/sobjects/Account/$old281" >/dev/null
sql "UPDATE src.sfbd SET name = name || ' again' WHERE id IN ('BD-280', 'BD-281', 'BD-282')" >/dev/null
RETL_SF_BULK_THRESHOLD=1 run sfbd
check "ids: records re-created under new Ids: the snapshot holds the new Ids, an unchanged Id stays" \
  test "$RC/$(sum .bulkJobs)/$(snapid BD-280)/$(snapid BD-281)/$(snapid BD-282)" = "0/1/$(sfid BD-280)/$(sfid BD-281)/$(sfid BD-282)"
check "ids: the new Ids differ from the deleted records' Ids" \
  test "$(sfid BD-280)/$(sfid BD-281)" != "$old280/$old281"
# api: bulk forces a job; a key without a kept Id is looked up by the external
# id first; a record already gone (ENTITY_IS_DELETED in failedResults) counts.
bdjob Delete bulk
pg_sql -c "UPDATE $BDSNAP SET id = NULL WHERE k IN ('BD-71', 'BD-72')" >/dev/null
bd73=$(soql "SELECT Id FROM Account WHERE External_Id__c = 'BD-73'" | jq -r '.records[0].Id')
sfapi DELETE "/sobjects/Account/$bd73" >/dev/null
sql "DELETE FROM src.sfbd WHERE id IN ('BD-71', 'BD-72', 'BD-73', 'BD-74')" >/dev/null
q0=$(reqn "GET query") jobs0=$(reqn "POST jobs/ingest")
run sfbd
check "deletes/bulk: api bulk: unknown Ids looked up (1 query), one job, the gone record counts as deleted" \
  test "$RC/$(sum .rows.deleted)/$(sum .rows.failed)/$(($(reqn "GET query") - q0))/$(($(reqn "POST jobs/ingest") - jobs0))/$(bdcount)" = "0/4/0/1/1/227"
# The guard trips before anything is written: no job, nothing deleted.
sql "DELETE FROM src.sfbd WHERE id IN (SELECT 'BD-' || g FROM generate_series(75, 250) g)" >/dev/null
jobs0=$(reqn "POST jobs/ingest")
run sfbd
check "deletes/bulk: 176 of 226 synced (78%) > maxPercent 50: DeleteGuard, no job, nothing deleted" \
  test "$RC/$(sum .reason)/$(($(reqn "POST jobs/ingest") - jobs0))/$(bdcount)" = "1/DeleteGuard/0/227"
sql "INSERT INTO src.sfbd SELECT 'BD-' || g, 'Bulk del ' || g, g FROM generate_series(75, 250) g" >/dev/null
# SIGKILL while the Bulk delete job runs (slow sim), then a rerun: Salesforce
# equals the model, the others' record untouched.
sql "DELETE FROM src.sfbd WHERE id IN (SELECT 'BD-' || g FROM generate_series(75, 134) g)" >/dev/null
admin POST faults '{"bulkDelayMs": 3000}' >/dev/null
close0=$(reqn "PATCH jobs/ingest/{id}")
"$ENGINE" run -f "$W/sfbd.yaml" -f "$W/secrets.yaml" >"$W/sfbd.kill.out" 2>"$W/sfbd.kill.err" &
kpid=$!
for _ in $(seq 200); do [ "$(reqn "PATCH jobs/ingest/{id}")" -gt "$close0" ] && break; sleep 0.05; done
closed=$(($(reqn "PATCH jobs/ingest/{id}") - close0))
kill -9 $kpid 2>/dev/null
wait $kpid 2>/dev/null
admin POST faults '{"bulkDelayMs": -1}' >/dev/null
run sfbd
model=$(pg_sql -c "SELECT count(*) FROM src.sfbd")
check "deletes/bulk: SIGKILL while the delete job ran (closed jobs: $closed), rerun: Salesforce equals the model" \
  test "$closed/$RC/$(bdcount)/$(pg_sql -c "SELECT count(*) FROM $BDSNAP")" = "1/0/$((model + 1))/$model"
check "deletes/bulk: after the rerun the removed keys are gone and the kept ones (and the others' record) stay" \
  test "$(soql "SELECT COUNT() FROM Account WHERE External_Id__c IN ('BD-75', 'BD-134')" | jq -r .totalSize)/$(soql "SELECT COUNT() FROM Account WHERE External_Id__c IN ('BD-135', 'BD-300', 'BD-OTHER')" | jq -r .totalSize)" = "0/3"
# Clear over Bulk: an update job by Id, #N/A in the nillable fields, Name kept.
bdjob Clear bulk
run sfbd
sql "DELETE FROM src.sfbd WHERE id = 'BD-200'" >/dev/null
jobs0=$(reqn "POST jobs/ingest")
run sfbd
rec=$(soql "SELECT Name, Score__c FROM Account WHERE External_Id__c = 'BD-200'")
check "clear/bulk: one Bulk update job by Id; Score__c nulled, Name (not nillable) kept" \
  test "$RC/$(sum .rows.cleared)/$(($(reqn "POST jobs/ingest") - jobs0))/$(jq -c '[.totalSize, .records[0].Score__c, .records[0].Name]' <<<"$rec")" = '0/1/1/[1,null,"Bulk del 200"]'

# ---- 12f. lookups: Contact.AccountId by the Account's external id (REST nested
# object under the relationship name, Bulk header Account.External_Id__c)
sql "CREATE TABLE src.lk (id text PRIMARY KEY, last text, acct text);
INSERT INTO src.lk VALUES ('L-1', 'Lk1', 'A-1'), ('L-2', 'Lk2', 'A-2'), ('L-3', 'Lk3', 'A-LATER'), ('L-4', 'Lk4', NULL);
CREATE TABLE src.lkb (id text PRIMARY KEY, last text, acct text);
INSERT INTO src.lkb SELECT 'LB-' || g, 'Lkb' || g, 'A-' || g FROM generate_series(1, 5) g;
INSERT INTO src.lkb VALUES ('LB-9', 'Lkb9', 'A-BULK-LATER')" >/dev/null
lkjob() { # lkjob NAME API TABLE LOOKUP_FIELD DEST
  sf_job "$1" t45 wh "SELECT id, last, acct FROM src.$3" sf "Contact, api: $2" Insert id \
    "[{source: last, destination: LastName}, {source: acct, destination: ${5:-AccountId}, lookup: {object: Account, field: $4}}]" >"$W/$1.yaml"
}
acct_id() { soql "SELECT Id FROM Account WHERE External_Id__c = '$1'" | jq -r '.records[0].Id'; }
ct_acct() { soql "SELECT AccountId FROM Contact WHERE LastName = '$1'" | jq -r '.records[0].AccountId'; }
lkjob lk rest lk External_Id__c
run lk
ET=$(errtab)
check "lookup/rest: parents found by external id; an unknown parent fails that row alone, transient" \
  test "$RC/$(sum .rows.inserted)/$(sum .rows.failed)/$(pg_sql -c "SELECT key || ' ' || code || ' ' || class FROM $ET")" = "0/3/1/L-3 INVALID_FIELD transient"
check "lookup/rest: AccountId is the parent's Id; NULL leaves no parent" \
  test "$(ct_acct Lk1)/$(ct_acct Lk2)/$(ct_acct Lk4)" = "$(acct_id A-1)/$(acct_id A-2)/null"
sfapi POST /sobjects/Account '{"Name":"Later","External_Id__c":"A-LATER"}' >/dev/null
run lk
check "lookup/rest: retried next run, succeeds once the parent exists" \
  test "$RC/$(sum .rows.inserted)/$(sum .rows.failed)/$(ct_acct Lk3)" = "0/1/0/$(acct_id A-LATER)"
lkjob lkb bulk lkb External_Id__c
run lkb
ET=$(errtab)
check "lookup/bulk: header Account.External_Id__c, parents resolved, unknown parent fails alone" \
  test "$RC/$(sum .api)/$(sum .rows.inserted)/$(sum .rows.failed)/$(ct_acct Lkb3)/$(pg_sql -c "SELECT class FROM $ET")" = "0/bulk/5/1/$(acct_id A-3)/transient"
sfapi POST /sobjects/Account '{"Name":"Bulk later","External_Id__c":"A-BULK-LATER"}' >/dev/null
run lkb
check "lookup/bulk: retried next run once the parent exists" \
  test "$RC/$(sum .rows.inserted)/$(ct_acct Lkb9)" = "0/1/$(acct_id A-BULK-LATER)"
lkjob lkbad1 rest lk External_Id__c Email
"$ENGINE" describe -f "$W/lkbad1.yaml" -f "$W/secrets.yaml" >"$W/lkbad1.out" 2>/dev/null
check "lookup: describe rejects a lookup onto a non-reference field, naming the spec field" \
  grep -q 'spec.mappings\[1\].lookup: field Email is not a reference field' "$W/lkbad1.out"
lkjob lkbad2 rest lk Score__c
"$ENGINE" describe -f "$W/lkbad2.yaml" -f "$W/secrets.yaml" >"$W/lkbad2.out" 2>/dev/null
check "lookup: describe rejects a lookup field that is not an external id" \
  grep -q 'spec.mappings\[1\].lookup.field: field Score__c on Account is not an external id field' "$W/lkbad2.out"

# ---- 14. OAuth errors verbatim, credentials never logged
want=$(curl -s -X POST "$S1/services/oauth2/token" -d 'grant_type=client_credentials&client_id=3MVG9.retl&client_secret=wrong-secret-value')
job oauth Account Upsert rest id External_Id__c "$ACC_Q" "$ACC_MAPS" sfbad
run oauth
werr=$(jq -r .error <<<"$want")
wdesc=$(jq -r .error_description <<<"$want")
if [ "$RC" = 1 ] && grep -qF "$werr: $wdesc" <<<"$(sum .message)"; then
  pass "OAuth error reported verbatim ($werr: $wdesc)"
else
  fail "OAuth error"; show oauth
fi
keyline=$(sed -n 5p "$W/key.pem")
if grep -rlF -e s3cret-value -e wrong-secret-value -e other-secret-value -e refresh-token-value \
  -e pw-password-value -e pw-client-secret -e tls-secret-value -e "$keyline" -e "$TOK" "$W"/*.out "$W"/*.err >/dev/null 2>&1; then
  fail "credentials in engine output: $(grep -rlF -e s3cret-value -e wrong-secret-value -e "$keyline" "$W"/*.out "$W"/*.err | head -3)"
else
  pass "no credential in any engine output ($RUNS runs)"
fi

echo "$P passed, $F failed"
[ "$F" -eq 0 ]
