#!/usr/bin/env bash
# The HubSpot and generic HTTP destinations end to end: PostgreSQL ->
# retl-engine (sanitized) -> hubspot-sim / http-receiver. Upsert / Update /
# Insert, values per property type, partial failures, 429s, 5xx, garbage and
# hanging answers, a bad token, unknown properties, a non-unique idProperty;
# HMAC-signed batches, per-key failures, retries, timeouts, TLS.
set -uo pipefail
cd "${RETL_ROOT:-$(dirname "$0")/../..}"
ROOT=$(pwd)
ENGINE=${RETL_ENGINE:-build/san/bin/retl-engine}
SIM=build/bin/hubspot-sim
RCV=build/bin/http-receiver
NODE_MODS=$ROOT/tests/fakes/hubspot-conformance/node_modules
for b in "$ENGINE" "$SIM" "$RCV"; do
  if [ ! -x "$b" ]; then echo "missing $b (make test-build)"; echo "0 passed, 1 failed"; exit 1; fi
done
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# shellcheck source=tests/lib/pg.sh
source tests/lib/pg.sh
W=$(mktemp -d /tmp/retl-hs46.XXXXXX)
cp "$ENGINE" "$W/retl-engine" && ENGINE=$W/retl-engine
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  pg_stop
  rm -rf "$W"
}
trap cleanup EXIT
# shellcheck source=tests/lib/checks.sh
source "$ROOT/tests/lib/checks.sh"
# shellcheck source=tests/lib/jobs.sh
source "$ROOT/tests/lib/jobs.sh"

pg_start || { echo "0 passed, 1 failed"; exit 1; }
# start VAR BINARY ARGS...: starts a server, sets VAR to its base URL.
start() {
  local var=$1 bin=$2; shift 2
  "$bin" "$@" >"$W/$var.url" 2>"$W/$var.log" &
  PIDS+=($!)
  for _ in $(seq 200); do [ -s "$W/$var.url" ] && break; sleep 0.05; done
  printf -v "$var" '%s' "$(head -n 1 "$W/$var.url")"
}
TOKEN=pat-na1-retl-suite-token
cat >"$W/schema.json" <<'EOF'
{"objects": {
  "contacts": {"properties": [
    {"name": "external_id", "type": "string", "hasUniqueValue": true},
    {"name": "score", "type": "number"},
    {"name": "vip", "type": "bool"},
    {"name": "plan", "type": "enumeration", "options": [{"label": "Free", "value": "free"}, {"label": "Pro", "value": "pro"}]},
    {"name": "last_order_at", "type": "datetime"}
  ]},
  "2-1234567": {"name": "warehouses", "properties": [
    {"name": "code", "type": "string", "hasUniqueValue": true},
    {"name": "capacity", "type": "number"}
  ]}
}}
EOF
start H "$SIM" --listen 127.0.0.1:0 --access-token "$TOKEN" --schema "$W/schema.json"
start HL "$SIM" --listen 127.0.0.1:0 --access-token "$TOKEN" --schema "$W/schema.json" --rate-limit 4
start R "$RCV" --listen 127.0.0.1:0 --hmac-secret hmac-suite-secret --bearer-token rcv-bearer-token
start RT "$RCV" --listen 127.0.0.1:0 --tls-self-signed "$W/tls"
if [ -z "$H" ] || [ -z "$HL" ] || [ -z "$R" ] || [ -z "$RT" ]; then cat "$W"/*.log; echo "0 passed, 1 failed"; exit 1; fi

sql() { pg_sql -c "$1"; }
hadmin() { curl -s -X "$1" -H 'Content-Type: application/json' ${3:+-d "$3"} "$H/__admin/$2"; }
radmin() { curl -s -X "$1" -H 'Content-Type: application/json' ${3:+-d "$3"} "$R/__admin/$2"; }
hstat() { hadmin GET stats | jq -r "$1"; }
record() { # TYPE JQ-SELECT -> the record's properties
  hadmin GET "records/$1" | jq -c "[.results[] | select($2)][0].properties"
}

{
  retl_secret wh t46 "{url: \"$PG_URL\", password: \"$PGPASSWORD\"}"
  retl_secret hs t46 "{accessToken: \"$TOKEN\", baseUrl: \"$H\"}"
  retl_secret hsl t46 "{accessToken: \"$TOKEN\", baseUrl: \"$HL\"}"
  retl_secret hsbad t46 "{accessToken: pat-na1-wrong-token-value, baseUrl: \"$H\"}"
  retl_secret rcv t46 "{url: \"$R/hook\", bearerToken: rcv-bearer-token, hmacSecret: hmac-suite-secret, headers: '{\"X-Tenant\": \"acme\"}'}"
  retl_secret rcvbad t46 "{url: \"$R/hook\", bearerToken: rcv-bearer-token, hmacSecret: not-the-right-secret}"
  retl_secret rcvtls t46 "
  url: \"$RT/hook\"
  caCert: |"
  sed 's/^/    /' "$W/tls/ca.pem"
  retl_secret rcvtlsnoca t46 "{url: \"$RT/hook\"}"
} >"$W/secrets.yaml"

# job NAME TYPE SECRET OBJECT MODE KEYSRC KEYDST QUERY MAPPINGS [EXTRA-DEST-YAML] [BATCH]
job() {
  local df=${4:+object: $4}
  df=${df:+$df${10:+, }}${10:-}
  retl_job "$1" t46 wh "$8" "$2" "$3" "$df" "$5" "$6${7:+:$7}" "$9" ${11:+"batchSize: ${11}"} >"$W/$1.yaml"
}
run() { engine_run "$1"; }
sum() { jq -r "$1" <<<"$OUT"; }
show() {
  echo "  rc=$RC summary=$OUT"; tail -n 4 "$LAST_ERR" | sed 's/^/  /'
  local et; et=$(sum '.errorsTable // empty')
  [ -n "$et" ] && pg_sql -c "SELECT key, code, fields, left(message, 160) FROM $et ORDER BY key LIMIT 5" 2>/dev/null | sed 's/^/  errors: /'
}
errq() { pg_sql -c "SELECT $2 FROM $(sum .errorsTable) WHERE key = '$1'"; }
# forget_ids KEY...: the last run's snapshot forgets the HubSpot ids kept for
# KEYs, as if they were synced before ids were kept.
forget_ids() {
  local snap keys
  snap=$(sum .errorsTable)
  keys=$(printf "'%s'," "$@")
  pg_sql -c "UPDATE ${snap%__errors}__snap SET id = NULL WHERE k IN (${keys%,})" >/dev/null
}

sql "CREATE SCHEMA src;
CREATE TABLE src.people (id text PRIMARY KEY, email text, first text, score numeric(8,2), vip boolean,
  plan text, last_order timestamptz, birth date);
INSERT INTO src.people SELECT 'P-' || g, 'person' || g || '@example.com', 'First' || g, g / 4.0, g % 3 = 0,
  CASE WHEN g % 2 = 0 THEN 'pro' ELSE 'free' END, timestamptz '2024-05-01 12:00:00+02' + g * interval '1 minute',
  date '1990-01-01' + g FROM generate_series(1, 250) g;
CREATE TABLE src.wh (code text PRIMARY KEY, capacity int);
INSERT INTO src.wh SELECT 'W-' || g, g * 10 FROM generate_series(1, 30) g;
CREATE TABLE src.cos (id text PRIMARY KEY, name text, employees int);
INSERT INTO src.cos SELECT 'CO-' || g, 'Company ' || g, g FROM generate_series(1, 5) g;
CREATE TABLE src.events (id text PRIMARY KEY, kind text, amount numeric, payload jsonb, at timestamptz);
INSERT INTO src.events SELECT 'E-' || g, 'order', g * 1.5, jsonb_build_object('n', g), timestamptz '2024-01-01 00:00:00+00'
  FROM generate_series(1, 120) g;" >/dev/null

PEOPLE_Q="SELECT id, email, first, score, vip, plan, last_order, birth FROM src.people"
PEOPLE_M="id:external_id,first:firstname,score:score,vip:vip,plan:plan,last_order:last_order_at,birth:date_of_birth"

# ---- HubSpot 1. Upsert contacts by email: 250 rows, 3 batch calls + the properties read
job ppl hubspot hs contacts Upsert email email "$PEOPLE_Q" "$PEOPLE_M"
run ppl
if [ "$RC" = 0 ] && [ "$(sum .rows.inserted)" = 250 ] && [ "$(hstat .records.contacts)" = 250 ] &&
  [ "$(sum '.apiCallsByEndpoint["batch/upsert"]')" = 3 ] && [ "$(sum '.apiCallsByEndpoint.properties')" = 1 ]; then
  pass "hubspot upsert by email: 250 contacts created in 3 batch calls + 1 properties call"
else
  fail "hubspot upsert by email"; show ppl
fi
check "values: number, bool, enumeration, datetime in UTC, date" \
  test "$(record contacts '.properties.email == "person7@example.com"' | jq -c '[.score, .vip, .plan, .last_order_at, .date_of_birth, .firstname]')" \
  = '["1.75","false","free","2024-05-01T10:07:00.000Z","1990-01-08","First7"]'
check "destinationInfo: idProperty and unique properties" \
  test "$(sum '.destinationInfo | [.object, .idProperty, (.uniqueProperties | join(","))] | join("|")')" = "contacts|email|external_id"
check "summary: apiUsage from X-HubSpot-RateLimit-Daily" grep -qE '^[0-9]+/1000000$' <<<"$(sum .apiUsage)"
# The official client reads what retl wrote.
got=$(cd "$W" && NODE_PATH=$NODE_MODS SIM="$H" TOK="$TOKEN" node -e '
const hubspot = require("@hubspot/api-client");
const c = new hubspot.Client({accessToken: process.env.TOK, basePath: process.env.SIM});
c.crm.contacts.searchApi.doSearch({filterGroups: [{filters: [{propertyName: "email", operator: "EQ", value: "person42@example.com"}]}],
  properties: ["firstname", "plan", "external_id"], limit: 1}).then(r => console.log(r.total, r.results[0].properties.firstname,
  r.results[0].properties.plan, r.results[0].properties.external_id)).catch(e => console.log("error", e.code || e));' 2>&1)
check "@hubspot/api-client reads the record back ($got)" test "$got" = "1 First42 pro P-42"

# ---- 2. nothing changed: no batch call
run ppl
check "second run: nothing to send, no batch call" \
  test "$RC/$(sum .rows.inserted)/$(sum .rows.updated)/$(sum '.apiCallsByEndpoint["batch/upsert"] // 0')" = "0/0/0/0"

# ---- 3. 10 changed rows, one with an enumeration value HubSpot lacks, one blocked by a validation rule
sql "UPDATE src.people SET first = first || '!' WHERE substr(id, 3)::int <= 10;
UPDATE src.people SET plan = 'platinum' WHERE id = 'P-3'; UPDATE src.people SET email = 'blocked5@blocked.test' WHERE id = 'P-5'" >/dev/null
hadmin POST faults '{"validationRules": [{"object": "contacts", "property": "firstname", "equals": "First9!", "message": "firstname First9! is on the deny list"}]}' >/dev/null
before=$(hstat '.requests["POST /crm/v3/objects/contacts/batch/upsert"]')
run ppl
if [ "$RC" = 0 ] && [ "$(sum .rows.updated)" = 7 ] && [ "$(sum .rows.inserted)" = 0 ] && [ "$(sum .rows.failed)" = 3 ] &&
  [ "$(hstat '.requests["POST /crm/v3/objects/contacts/batch/upsert"]')" = $((before + 1)) ]; then
  pass "partial failure: 7 updated, 3 rejected, one 207 call"
else
  fail "partial failure"; show ppl
fi
check "local check: INVALID_OPTION names the property and its options" \
  test "$(errq person3@example.com "code || '|' || fields || '|' || message")" = 'INVALID_OPTION|plan|value "platinum" for property plan (enumeration): not one of the property'"'"'s options [free, pro]'
check "207 error: HubSpot's code and message in the errors table" \
  grep -q '^INVALID_VALUE|firstname|VALIDATION_ERROR: Property values were not valid: .*deny list' <<<"$(errq person9@example.com "code || '|' || fields || '|' || message")"
# P-5's new email is a new key, but its external_id still belongs to the old record.
check "207 error: CONFLICT on another record's unique value" \
  grep -q '^CONFLICT|A contact with the external_id "P-5" already exists' <<<"$(errq blocked5@blocked.test "code || '|' || message")"
check "errors: HubSpot's data errors are permanent (INVALID_OPTION, INVALID_VALUE, CONFLICT)" \
  test "$(errq person3@example.com class)/$(errq person9@example.com class)/$(errq blocked5@blocked.test class)" = "permanent/permanent/permanent"
hadmin DELETE faults >/dev/null

# ---- 4. 429s are answered (waited for and retried); 503s and a hanging call are retried
sql "UPDATE src.people SET score = score + 1 WHERE substr(id, 3)::int BETWEEN 100 AND 199" >/dev/null
hadmin POST faults '{"rateLimitNext": 2, "pathContains": "batch"}' >/dev/null
run ppl
if [ "$RC" = 0 ] && [ "$(sum .rows.updated)" = 100 ] && [ "$(sum .rows.failed)" = 0 ] && [ "$(sum .rows.skippedPermanent)" = 3 ] && [ "$(sum .rateLimited)" = 2 ] && [ "$(hstat .faultsFired.rateLimit)" = 2 ]; then
  pass "two 429s answered by waiting and retrying; the 3 permanent failures not resent while unchanged"
else
  fail "429 retry"; show ppl
fi
sql "UPDATE src.people SET score = score + 1 WHERE substr(id, 3)::int BETWEEN 200 AND 210" >/dev/null
hadmin POST faults '{"statusNext": 2, "status": 503, "pathContains": "batch"}' >/dev/null
run ppl
check "503 twice: retried, rows updated" test "$RC/$(sum .rows.updated)/$(sum .retried)" = "0/11/2"
sql "UPDATE src.people SET score = score + 1 WHERE id = 'P-211'" >/dev/null
hadmin POST faults '{"hangNext": 1, "pathContains": "batch"}' >/dev/null
RETL_HS_TIMEOUT_S=2 run ppl
check "a call that never answers times out and the idempotent upsert is retried" \
  test "$RC/$(sum .rows.updated)/$(hstat .faultsFired.hang)" = "0/1/1"

# ---- 5. garbage 200: the run fails, nothing recorded as synced, the next run resends
sql "UPDATE src.people SET score = score + 1 WHERE substr(id, 3)::int BETWEEN 1 AND 20" >/dev/null
hadmin POST faults '{"garbageNext": 1, "pathContains": "batch"}' >/dev/null
run ppl
if [ "$RC" != 0 ] && grep -q 'not JSON (text/html)' <<<"$(sum .message)"; then
  pass "garbage 200: the run fails naming the answer ($(sum .message | cut -c1-90))"
else
  fail "garbage 200"; show ppl
fi
run ppl
check "after garbage: the next run sends the same 20 rows again (changed: 18 ok with P-9, P-3 and P-5 still rejected)" \
  test "$RC/$(sum .rows.updated)/$(sum .rows.failed)" = "0/18/2"

# ---- 6. the rolling limit learnt from the headers: paced, never a 429
sql "CREATE TABLE src.many AS SELECT 'M-' || g AS id, 'm' || g || '@example.com' AS email FROM generate_series(1, 600) g" >/dev/null
job many hubspot hsl contacts Upsert email email "SELECT id, email FROM src.many" "id:external_id"
t0=$(date +%s.%N)
run many
el=$(echo "$(date +%s.%N) - $t0" | bc)
# The sim stamps a call when it arrives, retl when it starts it (plus a 100 ms
# margin): on a loaded machine one 429 may slip through, and is answered.
if [ "$RC" = 0 ] && [ "$(sum .rows.inserted)" = 600 ] && [ "$(curl -s "$HL/__admin/stats" | jq .rateLimited)" -le 1 ] &&
  [ "$(curl -s "$HL/__admin/stats" | jq .maxInWindow)" -le 4 ] && [ "$(sum .rateLimit)" = 4 ] && [ "$(echo "$el > 9" | bc)" = 1 ]; then
  pass "rate limit 4 per 10 s: 7 calls paced over $el s (run $(sum .durationSeconds) s), $(sum .rateLimited) 429s"
else
  fail "rate limit pacing (${el}s, sim: $(curl -s "$HL/__admin/stats" | jq -c '[.rateLimited, .maxInWindow]'))"; show many
fi

# ---- 7. Update by hs_object_id, one id HubSpot does not know
hadmin GET records/contacts | jq -r '.results[] | select(.properties.external_id != null) | "\(.id)\t\(.properties.external_id)"' | head -n 20 >"$W/ids.tsv"
sql "CREATE TABLE src.upd (hsid text PRIMARY KEY, city text)" >/dev/null
pg_sql -c "\\copy src.upd (hsid, city) FROM program 'cut -f1 $W/ids.tsv | sed s/\$/\\tOslo/'" >/dev/null 2>&1 ||
  while IFS=$'\t' read -r id _; do sql "INSERT INTO src.upd VALUES ('$id', 'Oslo')" >/dev/null; done <"$W/ids.tsv"
sql "INSERT INTO src.upd VALUES ('999999999', 'Nowhere')" >/dev/null
job upd hubspot hs contacts Update hsid hs_object_id "SELECT hsid, city FROM src.upd" "city:city"
run upd
if [ "$RC" = 0 ] && [ "$(sum .rows.updated)" = 20 ] && [ "$(sum .rows.failed)" = 1 ] &&
  [ "$(errq 999999999 code)" = OBJECT_NOT_FOUND ]; then
  pass "update by hs_object_id: 20 updated, the unknown id fails OBJECT_NOT_FOUND"
else
  fail "update by hs_object_id"; show upd
fi

# ---- 8. Insert companies; Upsert a custom object by its unique property
job cos hubspot hs companies Insert id "" "SELECT id, name, employees FROM src.cos" "name:name,employees:numberofemployees"
run cos
check "insert companies: 5 created with their ids" \
  test "$RC/$(sum .rows.inserted)/$(hstat .records.companies)" = "0/5/5"
sql "INSERT INTO src.cos VALUES ('CO-6', 'Company 6', 6), ('CO-7', 'Company 7', 7)" >/dev/null
hadmin POST faults '{"statusNext": 1, "status": 503, "pathContains": "batch/create"}' >/dev/null
run cos
check "insert: a 503 on batch/create is not resent (HubSpot may have created them); rows fail HTTP_5XX" \
  test "$RC/$(sum .rows.failed)/$(errq CO-6 code)/$(hstat .records.companies)" = "0/2/HTTP_5XX/5"
run cos
check "insert: the next run creates them" test "$RC/$(sum .rows.inserted)/$(hstat .records.companies)" = "0/2/7"
job whs hubspot hs 2-1234567 Upsert code code "SELECT code, capacity FROM src.wh" "capacity:capacity"
run whs
check "custom object 2-1234567 upserted by code" \
  test "$RC/$(sum .rows.inserted)/$(record 2-1234567 '.properties.code == "W-3"' | jq -r .capacity)" = "0/30/30"

# ---- 9. bad input fails before anything is written, naming the field
writes=$(hstat .recordWrites)
job bad1 hubspot hs contacts Upsert email email "$PEOPLE_Q" "first:firstname,score:favourite_score"
run bad1
check "unknown property: spec.mappings[1].destination named" \
  grep -qF 'spec.mappings[1].destination: property "favourite_score" does not exist on HubSpot object contacts' <<<"$(sum .message)"
job bad2 hubspot hs contacts Upsert first firstname "$PEOPLE_Q" "score:score"
run bad2
check "non-unique idProperty: spec.key.destination named" \
  grep -qF 'spec.key.destination: property "firstname" of contacts does not have unique values' <<<"$(sum .message)"
job bad3 hubspot hs contacts Upsert email email "$PEOPLE_Q" "score:hubspotscore"
run bad3
check "read-only property refused" grep -qF 'property "hubspotscore" of contacts is read-only' <<<"$(sum .message)"
job bad4 hubspot hs butterflies Upsert email email "$PEOPLE_Q" "score:score"
run bad4
check "unknown object: spec.destination.object with HubSpot's words" \
  grep -qF 'spec.destination.object: HubSpot does not know object "butterflies" (400 error: Unable to infer object type from: butterflies)' <<<"$(sum .message)"
job bad5 hubspot hsbad contacts Upsert email email "$PEOPLE_Q" "score:score"
run bad5
if [ "$RC" != 0 ] && grep -q 'HubSpot refused the access token (401 INVALID_AUTHENTICATION' <<<"$(sum .message)" &&
  ! grep -rq 'pat-na1-wrong-token-value' "$W/bad5.$RUNS.out" "$LAST_ERR"; then
  pass "wrong token: 401 INVALID_AUTHENTICATION named, the token never printed"
else
  fail "wrong token"; show bad5
fi
check "nothing was written by the bad jobs" test "$(hstat .recordWrites)" = "$writes"

# ---- HTTP 1. signed batches of 50, typed fields, extra header, job and run
EV_Q="SELECT id, kind, amount, payload, at FROM src.events"
EV_M="kind:kind,amount:amount,payload:payload,at:at"
job ev http rcv "" Upsert id id "$EV_Q" "$EV_M" "" 50
run ev
recs=$(radmin GET records)
if [ "$RC" = 0 ] && [ "$(sum .rows.inserted)" = 120 ] && [ "$(jq .batches <<<"$recs")" = 3 ] &&
  [ "$(jq .badAuth <<<"$recs")" = 0 ] && [ "$(sum .requests)" = 3 ]; then
  pass "http: 120 records in 3 signed batches, all signatures verified"
else
  fail "http upsert"; show ev; echo "$recs" | jq -c '{batches, badAuth, requests}'
fi
check "http: fields typed (number, JSON, timestamp text): $(jq -c '.records["E-4"]' <<<"$recs")" \
  test "$(jq -c '.records["E-4"]' <<<"$recs")" = '{"amount":6,"at":"2024-01-01 00:00:00+00:00","kind":"order","payload":{"n":4}}'
check "http: extra header, bearer token and job name sent" \
  test "$(jq -r '[.lastHeaders["x-tenant"], .lastHeaders.authorization, .lastJob] | join("|")' <<<"$recs")" = "acme|Bearer rcv-bearer-token|t46/ev"

# ---- HTTP 2. per-key failures from the body; 429 with Retry-After; 500s exhausted
sql "UPDATE src.events SET amount = amount + 1 WHERE substr(id, 3)::int <= 10" >/dev/null
radmin POST faults '{"failKeys": ["E-2", "E-7"]}' >/dev/null
run ev
check "http: keys the receiver names fail alone (REJECTED, its words)" \
  test "$RC/$(sum .rows.updated)/$(sum .rows.failed)/$(errq E-7 "code || '|' || message")" \
  = "0/8/2/REJECTED|rejected by the receiver: key E-7 is on the fail list"
radmin POST faults '{"statusNext": 2, "status": 429, "retryAfter": "1"}' >/dev/null
run ev
check "http: two 429s honoured (Retry-After) and retried" test "$RC/$(sum .rows.updated)/$(sum .rateLimited)" = "0/2/2"
sql "UPDATE src.events SET amount = amount + 1 WHERE substr(id, 3)::int BETWEEN 50 AND 54" >/dev/null
radmin POST faults '{"statusNext": 10, "status": 500}' >/dev/null
RETL_HTTP_ATTEMPTS=2 run ev
check "http: 500 after retries fails the batch's rows (HTTP_500, transient)" \
  test "$(sum .rows.failed)/$(errq E-52 code)" = "5/HTTP_500"
radmin POST faults '{"statusNext": 0}' >/dev/null

# ---- HTTP 3. a slow receiver times out: the run fails, the batch is sent again next run
radmin POST faults '{"delayMs": 3000}' >/dev/null
RETL_HTTP_TIMEOUT_S=1 run ev
check "http: a receiver that does not answer in time fails the run, saying so" \
  grep -q "outcome is unknown" <<<"$(sum .message)"
radmin POST faults '{}' >/dev/null
run ev
check "http: after the timeout the same rows are sent again" test "$RC/$(sum .rows.updated)" = "0/5"

# ---- HTTP 4. a garbage answer, a bad signature, TLS
sql "UPDATE src.events SET kind = 'refund' WHERE id = 'E-100'" >/dev/null
radmin POST faults '{"garbageNext": 1}' >/dev/null
run ev
check "http: a 2xx whose results are not a list fails the rows (BAD_RESPONSE)" test "$(errq E-100 code)" = BAD_RESPONSE
job evbad http rcvbad "" Upsert id id "$EV_Q" "$EV_M" "" 50
run evbad
check "http: a wrong hmacSecret is refused by the receiver (401) and fails the run" \
  grep -q 'answered 401.*X-Retl-Signature does not match' <<<"$(sum .message)"
job evtls http rcvtls "" Insert id "" "$EV_Q" "$EV_M" "rateLimit: {requestsPerSecond: 2}" 20
t0=$(date +%s.%N)
run evtls
el=$(echo "$(date +%s.%N) - $t0" | bc)
check "http over TLS with caCert, 6 requests at 2 per second ($el s, rc $RC, $(sum .rows.inserted) rows)" \
  test "$RC/$(sum .rows.inserted)/$(echo "$el > 2" | bc)" = "0/120/1"
job evnoca http rcvtlsnoca "" Insert id "" "$EV_Q" "$EV_M"
run evnoca
check "http over TLS without the CA is refused" grep -qi 'certificate\|SSL\|TLS' <<<"$(sum .message)"

# ---- spec.deletes: HubSpot Delete archives by the kept id, Clear empties the fields; HTTP too
sql "CREATE TABLE src.dl (id text PRIMARY KEY, email text, first text, score numeric);
INSERT INTO src.dl SELECT 'D-' || g, 'gone' || g || '@example.com', 'Gone' || g, g FROM generate_series(1, 6) g;
CREATE TABLE src.cl (id text PRIMARY KEY, email text, first text, score numeric);
INSERT INTO src.cl SELECT 'C-' || g, 'clear' || g || '@example.com', 'Clear' || g, g FROM generate_series(1, 4) g;" >/dev/null
hsapi() { curl -s -X "$1" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' ${3:+-d "$3"} "$H$2"; }
hsget() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$H/crm/v3/objects/contacts/$1?idProperty=email"; }
job hsdel hubspot hs contacts Upsert email email "SELECT id, email, first, score FROM src.dl" "id:external_id,first:firstname,score:score"
echo "  deletes: {mode: Delete, maxPercent: 100}" >>"$W/hsdel.yaml"
run hsdel
hsapi POST /crm/v3/objects/contacts '{"properties": {"email": "someone.else@example.com", "firstname": "Theirs"}}' >/dev/null
sql "DELETE FROM src.dl WHERE id IN ('D-2', 'D-5')" >/dev/null
run hsdel
check "hubspot Delete: removed rows are archived (batch/archive), the rest and others' records stay ($(sum .rows.deleted) deleted)" \
  test "$RC/$(sum .rows.deleted)/$(sum '.apiCallsByEndpoint["batch/archive"]')/$(hsget gone2@example.com)/$(hsget gone5@example.com)/$(hsget gone3@example.com)/$(hsget someone.else@example.com)" \
  = "0/2/1/404/404/200/200"
id4=$(hadmin GET records/contacts | jq -r '.results[] | select(.properties.email == "gone4@example.com") | .id')
hsapi DELETE "/crm/v3/objects/contacts/$id4" >/dev/null
sql "DELETE FROM src.dl WHERE id = 'D-4'" >/dev/null
run hsdel
check "hubspot Delete: a record someone already deleted counts as deleted (gone: $id4)" \
  test "$RC/$(sum .rows.deleted)/$(sum .rows.failed)" = "0/1/0"
# A snapshot written before ids were kept: the keys are looked up by the
# idProperty (one batch/read); one of them someone already deleted (done).
forget_ids 'gone1@example.com' 'gone3@example.com' 'gone6@example.com'
id1=$(hadmin GET records/contacts | jq -r '.results[] | select(.properties.email == "gone1@example.com") | .id')
hsapi DELETE "/crm/v3/objects/contacts/$id1" >/dev/null
sql "DELETE FROM src.dl WHERE id IN ('D-1', 'D-3', 'D-6')" >/dev/null
run hsdel
check "hubspot Delete: keys without a kept id are found by idProperty (1 batch/read) and archived; one already gone counts as deleted" \
  test "$RC/$(sum .rows.deleted)/$(sum .rows.failed)/$(sum '.apiCallsByEndpoint["batch/read"]')/$(sum '.apiCallsByEndpoint["batch/archive"]')/$(hsget gone3@example.com)/$(hsget gone6@example.com)/$(hsget someone.else@example.com)" \
  = "0/3/0/1/1/404/404/200"
job hsclr hubspot hs contacts Upsert email email "SELECT id, email, first, score FROM src.cl" "id:external_id,first:firstname,score:score"
echo "  deletes: {mode: Clear, maxPercent: 100}" >>"$W/hsclr.yaml"
run hsclr
sql "DELETE FROM src.cl WHERE id = 'C-3'" >/dev/null
run hsclr
check "hubspot Clear: the record stays with every mapped property emptied, the key kept" \
  test "$RC/$(sum .rows.cleared)/$(record contacts '.properties.email == "clear3@example.com"' | jq -c '[.email, (.firstname // ""), (.score // ""), (.external_id // "")]')/$(record contacts '.properties.email == "clear2@example.com"' | jq -r .firstname)" \
  = '0/1/["clear3@example.com","","",""]/Clear2'
forget_ids 'clear2@example.com'
sql "DELETE FROM src.cl WHERE id = 'C-2'" >/dev/null
run hsclr
check "hubspot Clear: a key without a kept id is found by idProperty (batch/read) and cleared" \
  test "$RC/$(sum .rows.cleared)/$(sum '.apiCallsByEndpoint["batch/read"]')/$(record contacts '.properties.email == "clear2@example.com"' | jq -c '[.email, (.firstname // "")]')/$(record contacts '.properties.email == "clear1@example.com"' | jq -r .firstname)" \
  = '0/1/1/["clear2@example.com",""]/Clear1'

# Email keys that differ only in case name one HubSpot record (emails are
# case-insensitive): synced in two runs, both land on it; a Delete of all of
# them reads each email once and archives each record once, kept id or not,
# and every key gets the outcome. Clear the same.
sql "CREATE TABLE src.cs (id text PRIMARY KEY, email text, first text, live boolean);
INSERT INTO src.cs VALUES ('K-1', 'Dup.One@Example.com', 'One', true), ('K-2', 'dup.one@example.com', 'One', false),
  ('K-3', 'DUP.TWO@example.com', 'Two', true), ('K-4', 'dup.two@EXAMPLE.com', 'Two', false),
  ('K-5', 'Mix@Example.com', 'Mix', true), ('K-6', 'mix@example.com', 'Mix', false),
  ('K-7', 'keep.case@example.com', 'Keep', true);
CREATE TABLE src.cc (LIKE src.cs); INSERT INTO src.cc VALUES ('Q-1', 'Clr.Case@Example.com', 'Clr', true),
  ('Q-2', 'clr.case@example.com', 'Clr', false), ('Q-3', 'clr.keep@example.com', 'Kept', true);" >/dev/null
ncase() { hadmin GET records/contacts | jq --arg e "$1" '[.results[] | select(.properties.email == $e)] | length'; }
job hscase hubspot hs contacts Upsert email email "SELECT id, email, first FROM src.cs WHERE live" "first:firstname"
echo "  deletes: {mode: Delete, maxPercent: 100}" >>"$W/hscase.yaml"
run hscase
sql "UPDATE src.cs SET live = true" >/dev/null
run hscase
check "hubspot: a key differing only in case upserts the same record ($(sum .rows.failed) failed)" \
  test "$RC/$(sum .rows.failed)/$(ncase dup.one@example.com)/$(ncase dup.two@example.com)/$(ncase mix@example.com)" = "0/0/1/1/1"
forget_ids 'DUP.TWO@example.com' 'dup.two@EXAMPLE.com' 'mix@example.com'
arch0=$(hstat .archived)
sql "UPDATE src.cs SET live = false WHERE id <> 'K-7'" >/dev/null
run hscase
check "hubspot Delete: 6 keys in 3 case groups: 1 batch/read, 1 batch/archive, 3 records archived once, every key deleted" \
  test "$RC/$(sum .rows.deleted)/$(sum .rows.failed)/$(sum '.apiCallsByEndpoint["batch/read"]')/$(sum '.apiCallsByEndpoint["batch/archive"]')/$(($(hstat .archived) - arch0))/$(hsget dup.one@example.com)/$(hsget dup.two@example.com)/$(hsget mix@example.com)/$(hsget keep.case@example.com)" \
  = "0/6/0/1/1/3/404/404/404/200"
run hscase
check "hubspot Delete: the next run has nothing left to delete" test "$RC/$(sum .rows.deleted)/$(sum .rows.failed)" = "0/0/0"
job hscc hubspot hs contacts Upsert email email "SELECT id, email, first FROM src.cc WHERE live" "first:firstname"
echo "  deletes: {mode: Clear, maxPercent: 100}" >>"$W/hscc.yaml"
run hscc
sql "UPDATE src.cc SET live = true" >/dev/null
run hscc
forget_ids 'clr.case@example.com'
sql "UPDATE src.cc SET live = false WHERE id <> 'Q-3'" >/dev/null
run hscc
check "hubspot Clear: two keys differing only in case clear their record once (1 batch/update), both cleared" \
  test "$RC/$(sum .rows.cleared)/$(sum .rows.failed)/$(sum '.apiCallsByEndpoint["batch/update"]')/$(record contacts '.properties.email == "clr.case@example.com"' | jq -c '[.email, (.firstname // "")]')/$(record contacts '.properties.email == "clr.keep@example.com"' | jq -r .firstname)" \
  = '0/2/0/1/["clr.case@example.com",""]/Kept'

job evdel http rcv "" Upsert id id "SELECT id, kind, amount FROM src.events WHERE substr(id, 3)::int <= 20" "kind:kind,amount:amount" "" 50
echo "  deletes: {mode: Delete, maxPercent: 100}" >>"$W/evdel.yaml"
run evdel
sql "DELETE FROM src.events WHERE id IN ('E-3', 'E-9')" >/dev/null
run evdel
recs=$(radmin GET records)
check "http Delete: operation delete for exactly the removed keys" \
  test "$RC/$(sum .rows.deleted)/$(jq -c '[.records["E-3"], .records["E-9"], (.records["E-4"] != null)]' <<<"$recs")" = "0/2/[null,null,true]"
job evclr http rcv "" Upsert id id "SELECT id, kind, amount FROM src.events WHERE substr(id, 3)::int BETWEEN 30 AND 35" "kind:kind,amount:amount" "" 50
echo "  deletes: {mode: Clear, maxPercent: 100}" >>"$W/evclr.yaml"
run evclr
sql "DELETE FROM src.events WHERE id = 'E-31'" >/dev/null
run evclr
recs=$(radmin GET records)
check "http Clear: operation update with every mapped field null" \
  test "$RC/$(jq -c '[.records["E-31"], .records["E-32"].kind]' <<<"$recs")" = '0/[{"amount":null,"kind":null},"order"]'

echo "$P passed, $F failed"
[ "$F" -eq 0 ]
