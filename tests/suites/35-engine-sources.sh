#!/usr/bin/env bash
# Integration: the warehouse sources (odbc through psqlODBC and SQLite ODBC,
# sqlserver through FreeTDS against tds-sim, snowflake through the SQL API v2
# against snowflake-sim) run the same scenarios as the PostgreSQL source —
# first run, NULLs and types, incremental changes, the EXCEPT strategy,
# failing rows and retries, SIGKILL and resume, a bad query — with one shared
# test body. Destination: PostgreSQL. Stand-ins are backed by the same local
# PostgreSQL server (tests/lib/pg.sh). Uses the ASan/UBSan engine build.
set -uo pipefail
ROOT=${RETL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$ROOT"
ENGINE=${ENGINE:-$ROOT/build/san/bin/retl-engine}
TDSSIM=${TDSSIM:-$ROOT/build/bin/tds-sim}
SFSIM=${SFSIM:-$ROOT/build/bin/salesforce-sim}
SNOWSIM=${SNOWSIM:-$ROOT/build/bin/snowflake-sim}
BACKENDS=${BACKENDS:-odbc-pg odbc-sqlite sqlserver snowflake}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# shellcheck source=../lib/pg.sh
source "$ROOT/tests/lib/pg.sh"

# shellcheck source=../lib/checks.sh
source "$ROOT/tests/lib/checks.sh"

for b in "$ENGINE" "$TDSSIM" "$SNOWSIM" "$SFSIM"; do
  [ -x "$b" ] || { echo "missing $b (make test-build)"; echo "0 passed, 1 failed"; exit 1; }
done
ODBC_DIR=${ODBC_DIR:-/usr/lib/x86_64-linux-gnu/odbc}
for d in psqlodbca.so libsqlite3odbc.so libtdsodbc.so; do
  [ -f "$ODBC_DIR/$d" ] || { echo "missing ODBC driver $ODBC_DIR/$d (make deps)"; echo "0 passed, 1 failed"; exit 1; }
done

W=$(mktemp -d /tmp/retl-sources-test.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  pg_stop
  if [ -n "${KEEP:-}" ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
pg_start || { echo "0 passed, 1 failed"; exit 1; }
PGURL_BASE="postgresql://postgres:$PGPASSWORD@127.0.0.1:$PGPORT"
pg_sql -c "CREATE DATABASE dst" -c "CREATE DATABASE src_odbc" -c "CREATE DATABASE src_mssql" -c "CREATE DATABASE src_snow"
D() { pg_sql -d dst "$@"; }

# --- stand-ins --------------------------------------------------------------
MSSQL_PW="Tds;pw-$RANDOM$RANDOM"
"$TDSSIM" -pg "$PGURL_BASE/src_mssql" -user retl -password "$MSSQL_PW" -addr-file "$W/tds.addr" 2>"$W/tds-sim.log" &
PIDS+=($!)
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/key.pem" 2>/dev/null
openssl pkey -in "$W/key.pem" -pubout -out "$W/key.pub"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/other.pem" 2>/dev/null
"$SNOWSIM" -pg "$PGURL_BASE/src_snow" -public-key "$W/key.pub" -account ACME -user RETL_SVC \
  -partition-rows 250 -async-every 4 -addr-file "$W/snow.addr" 2>"$W/snowflake-sim.log" &
PIDS+=($!)
# salesforce-sim: a destination that returns record ids (deletes by kept Id)
echo '{"objects": {"Account": {"fields": [{"name": "External_Id__c", "type": "string", "length": 64, "externalId": true, "unique": true}]}}}' >"$W/sf-schema.json"
SF_SECRET="sf-$RANDOM$RANDOM"
"$SFSIM" --schema "$W/sf-schema.json" --client-secret "$SF_SECRET" >"$W/sf.url" 2>"$W/salesforce-sim.log" &
PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$W/tds.addr" ] && [ -s "$W/snow.addr" ] && [ -s "$W/sf.url" ] && break; sleep 0.05; done
TDS_PORT=$(cut -d: -f2 <"$W/tds.addr")
SNOW_URL=$(cat "$W/snow.addr")
SF_URL=$(head -n 1 "$W/sf.url")

# --- secrets ------------------------------------------------------------------
python3 - "$W" "$PGPORT" "$PGPASSWORD" "$TDS_PORT" "$MSSQL_PW" "$SNOW_URL" "$ODBC_DIR" "$SF_URL" "$SF_SECRET" <<'PY'
import json, sys
w, port, pw, tds, mpw, snow, odbc, sf, sfsec = sys.argv[1:]
def secret(name, data):
    return json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data})
docs = [
    secret("app", {"url": f"postgresql://postgres@127.0.0.1:{port}/dst", "password": pw}),
    secret("odbc-pg", {"connectionString": f"Driver={odbc}/psqlodbca.so;Servername=127.0.0.1;Port={port};Database=src_odbc;Username=postgres;SSLmode=disable", "password": pw}),
    secret("odbc-sqlite", {"connectionString": f"Driver={odbc}/libsqlite3odbc.so;Database={w}/src.db;Timeout=30000"}),
    secret("sqlserver", {"connectionString": f"Server=127.0.0.1;Port={tds};Database=shop;UID=retl", "password": mpw}),
    secret("sqlserver-badpw", {"connectionString": f"Server=127.0.0.1;Port={tds};Database=shop;UID=retl", "password": "wrong-password"}),
    secret("snowflake", {"account": "acme.eu-central-1", "user": "retl_svc", "privateKey": open(f"{w}/key.pem").read(),
                         "warehouse": "WH", "database": "SHOP", "role": "RETL", "endpoint": snow}),
    secret("snowflake-badkey", {"account": "acme", "user": "retl_svc", "privateKey": open(f"{w}/other.pem").read(), "endpoint": snow}),
    secret("sf", {"loginUrl": sf, "clientId": "3MVG9.retl", "clientSecret": sfsec}),
]
open(f"{w}/secrets.yaml", "w").write("\n---\n".join(docs) + "\n")
PY

# --- per-backend source access --------------------------------------------------
# src B SQL: runs portable SQL on backend B's source data (what the stand-ins
# serve lives in their PostgreSQL databases).
src() {
  local b=$1; shift
  case $b in
    odbc-pg) pg_sql -d src_odbc -c "$1" ;;
    odbc-sqlite) sqlite3 -bail "$W/src.db" "$1" ;;
    sqlserver) pg_sql -d src_mssql -c "$1" ;;
    snowflake) pg_sql -d src_snow -c "$1" ;;
  esac
}
# both B SQL: the same change in the source and in the reference copy.
both() { src "$1" "$2" && D -c "SET search_path = ref_${1//-/_}" -c "$2"; }
stype() { case $1 in odbc-*) echo odbc ;; *) echo "$1" ;; esac; }

# job B NAME QUERY [extra yaml lines]
job() {
  local b=$1 name=$2 query=$3 extra=${4:-} secret=${SECRET:-$1}
  {
    echo "apiVersion: retl.io/v1alpha1"
    echo "kind: ReverseEtlJob"
    echo "metadata: {name: $name, namespace: t}"
    echo "spec:"
    echo "  source: {type: $(stype "$b"), secretRef: {name: $secret}, query: \"$query\"}"
    echo "  destination: {type: postgres, secretRef: {name: app}, object: app_${b//-/_}.items}"
    echo "  mode: Upsert"
    echo "  key: {source: id, destination: id}"
    echo "  mappings:"
    for m in name price active d ts; do echo "    - {source: $m, destination: $m}"; done
    [ -n "$extra" ] && printf '%s\n' "$extra"
  } >"$W/$name.yaml"
}
run() { # run NAME CMD [args]
  local name=$1 cmd=$2; shift 2
  OUT=$("$ENGINE" "$cmd" -f "$W/$name.yaml" -f "$W/secrets.yaml" "$@" 2>>"$W/$name.log")
  RC=$?
  LAST=$(tail -n 1 <<<"$OUT")
}
jq_() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))" "$1" "$2" 2>/dev/null; }
rows() { jq_ "$LAST" "d['rows']['$1']"; }
COLS="id, name, price, active, d, ts"
same() { # same B: destination equals the reference copy
  diff <(D -c "COPY (SELECT $COLS FROM ref_${1//-/_}.items ORDER BY id) TO STDOUT") \
       <(D -c "COPY (SELECT $COLS FROM app_${1//-/_}.items ORDER BY id) TO STDOUT") >"$W/diff.$1" 2>&1
}

TYPES="id INTEGER PRIMARY KEY, name TEXT, price NUMERIC(12,2), active BOOLEAN, d DATE, ts TIMESTAMP"
SEED="INSERT INTO items VALUES
 (1, 'plain', 12.5, TRUE, '2024-02-29', '2024-01-01 10:00:00.123456'),
 (2, NULL, NULL, NULL, NULL, NULL),
 (3, 'quote '' \"dq\" \\ back
new line ünï € 😀', 0, FALSE, '1999-12-31', '2000-01-01 00:00:00'),
 (4, '', -1.25, TRUE, '2000-02-28', '1970-01-01 00:00:00.5')"
GEN="WITH RECURSIVE g(x) AS (SELECT 5 UNION ALL SELECT x + 1 FROM g WHERE x < 1200) INSERT INTO items (id, name, price, active) SELECT x, 'row ' || x, x * 1.5, x % 2 = 0 FROM g"

# state_tables B [SUFFIX...]: how many state tables of job B (all, or those
# named) exist in its warehouse
state_tables() {
  local x="t__${1//-/_}__" names="" t sfx=("${@:2}")
  [ ${#sfx[@]} -eq 0 ] && sfx=(meta errors batch snap stage delta keys)
  for t in "${sfx[@]}"; do names="$names${names:+, }'PFX$x$t'"; done
  case $1 in
    odbc-sqlite) sqlite3 "$W/src.db" "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN (${names//PFX/retl_})" ;;
    odbc-pg) pg_sql -d src_odbc -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'retl' AND tablename IN (${names//PFX/})" ;;
    sqlserver) pg_sql -d src_mssql -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'retl' AND tablename IN (${names//PFX/})" ;;
    snowflake) pg_sql -d src_snow -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'retl' AND tablename IN (${names//PFX/})" ;;
  esac
}

# meta_sql B SQL: runs SQL on backend B's state, %M naming its meta table
meta_sql() {
  local x="t__${1//-/_}__meta"
  case $1 in
    odbc-sqlite) sqlite3 "$W/src.db" "${2//%M/retl_$x}" ;;
    snowflake) pg_sql -d src_snow -c "${2//%M/retl.$x}" ;;
  esac
}

# old_batch B: B's batch table as versions before the readable column names
# made it (rj, ph, ff, att); batch_col B COL: whether it has that column now
old_batch() {
  local t="t__${1//-/_}__batch" cols="k TEXT, ok TEXT, code TEXT, message TEXT, fields TEXT, rj TEXT, ph TEXT, ff TEXT, att INTEGER"
  case $1 in
    odbc-sqlite) sqlite3 "$W/src.db" "DROP TABLE retl_$t; CREATE TABLE retl_$t ($cols)" ;;
    odbc-pg) pg_sql -d src_odbc -c "DROP TABLE retl.$t" -c "CREATE TABLE retl.$t ($cols)" ;;
    sqlserver) pg_sql -d src_mssql -c "DROP TABLE retl.$t" -c "CREATE TABLE retl.$t ($cols)" ;;
    snowflake) pg_sql -d src_snow -c "DROP TABLE retl.$t" -c "CREATE TABLE retl.$t ($cols)" ;;
  esac
}
batch_col() {
  local t="t__${1//-/_}__batch"
  case $1 in
    odbc-sqlite) sqlite3 "$W/src.db" "SELECT count(*) FROM pragma_table_info('retl_$t') WHERE name = '$2'" ;;
    odbc-pg) pg_sql -d src_odbc -c "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'retl' AND table_name = '$t' AND column_name = '$2'" ;;
    sqlserver) pg_sql -d src_mssql -c "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'retl' AND table_name = '$t' AND column_name = '$2'" ;;
    snowflake) pg_sql -d src_snow -c "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'retl' AND table_name = '$t' AND column_name = '$2'" ;;
  esac
}

LONG="$(python3 -c "print('x' * 19999 + 'ü')")é"
scenario() {
  local b=$1 n="${1//-/_}" t=$1
  echo "# $b"
  src "$b" "CREATE TABLE items ($TYPES)" >/dev/null
  D -c "CREATE SCHEMA app_$n" -c "CREATE TABLE app_$n.items ($TYPES)" -c "CREATE SCHEMA ref_$n" -c "CREATE TABLE ref_$n.items ($TYPES)" >/dev/null
  both "$b" "$SEED" >/dev/null
  both "$b" "$GEN" >/dev/null
  job "$b" "$b" "SELECT * FROM items" "  batchSize: 100"

  # 1. first run
  run "$b" run
  check "$t: first run exits 0" eq "$RC" 0
  check "$t: first run extracted 1200" eq "$(rows extracted)" 1200
  check "$t: first run inserted 1200" eq "$(rows inserted)" 1200
  check "$t: destination equals source after first run" same "$b"
  # 2. NULLs and types
  check "$t: NULLs stay NULL" eq "$(D -c "SELECT count(*) FROM app_$n.items WHERE id = 2 AND name IS NULL AND price IS NULL AND active IS NULL AND d IS NULL AND ts IS NULL")" 1
  check "$t: text with quotes, newline, unicode intact" eq "$(D -c "SELECT md5(name) FROM app_$n.items WHERE id = 3")" "$(D -c "SELECT md5(name) FROM ref_$n.items WHERE id = 3")"
  check "$t: empty string is not NULL" eq "$(D -c "SELECT name IS NOT NULL AND name = '' FROM app_$n.items WHERE id = 4")" t
  check "$t: types (numeric, bool, date, timestamp fractions)" eq "$(D -c "SELECT price || '|' || active || '|' || d || '|' || ts FROM app_$n.items WHERE id = 1")" "12.50|true|2024-02-29|2024-01-01 10:00:00.123456"
  # 3. nothing changed
  run "$b" run
  check "$t: unchanged run sends nothing and counts every row" eq "$RC/$(rows changed)/$(rows extracted)" "0/0/1200"
  # 3b. the run lock where the warehouse has no session locks (issue 16): a
  # lease row in the meta table; a run while another holds it is refused
  case $b in
    odbc-sqlite | snowflake)
      meta_sql "$b" "UPDATE %M SET v = '9999999999 other-run' WHERE k = 'run_lock'"
      run "$b" run
      check "$t: a held run lock refuses a second run" eq "$RC/$(jq_ "$LAST" "'another run of this job is in progress' in d['message']")" "1/True"
      meta_sql "$b" "UPDATE %M SET v = '0000000001 crashed-run' WHERE k = 'run_lock'"
      run "$b" run
      check "$t: an expired lease is taken over" eq "$RC" 0
      check "$t: the lease is released after the run" eq "$(meta_sql "$b" "SELECT '[' || v || ']' FROM %M WHERE k = 'run_lock'")" "[]"
      ;;
  esac
  # 3c. a batch table of an earlier version is upgraded in place, once
  old_batch "$b" >/dev/null
  run "$b" run
  check "$t: old batch table (rj, ph, ff, att) upgraded, run exits 0" eq "$RC/$(batch_col "$b" ph)/$(batch_col "$b" origin)/$(batch_col "$b" first_failed)" "0/0/1/1"
  run "$b" run
  check "$t: upgraded batch table left alone on the next run" eq "$RC/$(batch_col "$b" row_json)/$(grep -c "batch table upgraded" "$W/$b.log")" "0/1/1"
  # 4. incremental
  both "$b" "UPDATE items SET name = 'changed ' || id WHERE id IN (7, 8)" >/dev/null
  both "$b" "INSERT INTO items (id, name) VALUES (2000, 'new row')" >/dev/null
  src "$b" "DELETE FROM items WHERE id = 9" >/dev/null
  run "$b" plan
  check "$t: plan counts 1 insert, 2 updates, 1 delete" eq "$(jq_ "$LAST" "(d['insert'], d['update'], d['deleted'])")" "(1, 2, 1)"
  check "$t: plan loads nothing" eq "$(D -c "SELECT count(*) FROM app_$n.items WHERE id = 2000")" 0
  run "$b" run
  check "$t: incremental run exits 0" eq "$RC" 0
  check "$t: incremental inserted/updated/deleted 1/2/1, extracted 1200" eq "$(rows inserted)/$(rows updated)/$(rows deleted)/$(rows extracted)" "1/2/1/1200"
  check "$t: destination equals source after incremental run (delete not propagated)" same "$b"
  # 5. EXCEPT strategy
  both "$b" "UPDATE items SET price = price + 1 WHERE id BETWEEN 10 AND 14" >/dev/null
  RETL_DIFF_STRATEGY=except run "$b" run
  check "$t: except strategy sends the 5 changes" eq "$RC/$(rows changed)/$(rows updated)" "0/5/5"
  check "$t: destination equals source after except run" same "$b"
  # 5b. values longer than any bound buffer (20k characters)
  both "$b" "UPDATE items SET name = '$LONG' WHERE id = 6" >/dev/null
  run "$b" run
  check "$t: a 20000-character value syncs intact" eq "$RC/$(rows changed)/$(D -c "SELECT length(name) FROM app_$n.items WHERE id = 6")" "0/1/20001"
  check "$t: destination equals source after the long value" same "$b"
  # 6. failing row, retry, recovery
  D -c "ALTER TABLE app_$n.items ADD CONSTRAINT price_nonneg CHECK (price IS NULL OR price > -100)"
  src "$b" "UPDATE items SET price = -500 WHERE id = 20" >/dev/null
  both "$b" "UPDATE items SET name = 'fine' WHERE id IN (21, 22)" >/dev/null
  run "$b" run
  check "$t: row error: run succeeds with one failed row" eq "$RC/$(rows failed)" "0/1"
  check "$t: row error: the rest of the batch loaded" eq "$(D -c "SELECT count(*) FROM app_$n.items WHERE id IN (21, 22) AND name = 'fine'")" 2
  check "$t: row error: summary failingRowsPermanent 1" eq "$(jq_ "$LAST" "d['failingRowsPermanent']")" 1
  run "$b" errors --json
  check "$t: errors lists key 20 with SQLSTATE 23514, class permanent and the row" eq "$(jq_ "$LAST" "(d[0]['key'], d[0]['code'], d[0]['attempts'], d[0]['class'], float(d[0]['row']['price']))")" "('20', '23514', 1, 'permanent', -500.0)"
  run "$b" errors
  check "$t: errors output shows the class" grep -q "permanent" <<<"$OUT"
  # 6a. a permanent failure is not sent again while the row is unchanged
  run "$b" run
  check "$t: permanent failure, row unchanged: not sent (skippedPermanent 1)" eq "$RC/$(rows changed)/$(rows skippedPermanent)/$(rows failed)" "0/0/1/0"
  run "$b" plan
  check "$t: plan counts skippedPermanent" eq "$(jq_ "$LAST" "(d['changed'], d['skippedPermanent'])")" "(0, 1)"
  run "$b" errors --json
  check "$t: the skipped row keeps its error (attempts 1)" eq "$(jq_ "$LAST" "(len(d), d[0]['attempts'])")" "(1, 1)"
  run "$b" run --retry-failed
  check "$t: --retry-failed sends it again (attempts 2)" eq "$(rows changed)/$(rows failed)/$(rows skippedPermanent)" "1/1/0"
  run "$b" errors --json
  check "$t: attempts counted" eq "$(jq_ "$LAST" "(d[0]['attempts'], d[0]['firstFailure'] <= d[0]['lastFailure'])")" "(2, True)"
  both "$b" "UPDATE items SET name = 'still bad price' WHERE id = 20" >/dev/null
  run "$b" run
  check "$t: a permanent failure is sent again once the row changes (attempts 3)" eq "$(rows changed)/$(rows failed)/$(run "$b" errors --json; jq_ "$LAST" "d[0]['attempts']")" "1/1/3"
  both "$b" "UPDATE items SET price = 5 WHERE id = 20" >/dev/null
  run "$b" run
  check "$t: fixed row syncs" eq "$(rows failed)/$(rows updated)" "0/1"
  run "$b" errors --json
  check "$t: fixed row leaves the errors table" eq "$(jq_ "$LAST" "len(d)")" 0
  check "$t: destination equals source after retry" same "$b"
  # 7. SIGKILL mid-run and resume
  both "$b" "WITH RECURSIVE g(x) AS (SELECT 3000 UNION ALL SELECT x + 1 FROM g WHERE x < 32999) INSERT INTO items (id, name, price) SELECT x, 'bulk ' || x, x FROM g" >/dev/null
  job "$b" "$b" "SELECT * FROM items" "  batchSize: 200"
  "$ENGINE" run -f "$W/$b.yaml" -f "$W/secrets.yaml" >/dev/null 2>"$W/$b.kill.log" &
  local pid=$! got=0
  for _ in $(seq 1 1200); do
    got=$(D -c "SELECT count(*) FROM app_$n.items WHERE id >= 3000" 2>/dev/null || echo 0)
    [ "${got:-0}" -ge 2000 ] && break
    sleep 0.05
  done
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  local at_kill
  at_kill=$(D -c "SELECT count(*) FROM app_$n.items WHERE id >= 3000")
  check "$t: killed mid-run (partial progress)" test "$at_kill" -gt 0 -a "$at_kill" -lt 30000
  both "$b" "UPDATE items SET name = 'after kill' WHERE id IN (1, 32999)" >/dev/null
  case $b in
    odbc-sqlite | snowflake)
      # a killed run's lease keeps others out until it expires (10 min);
      # expire it here instead of waiting
      run "$b" run
      check "$t: a killed run's lease refuses the next run until it expires" eq "$RC/$(jq_ "$LAST" "'another run of this job is in progress' in d['message']")" "1/True"
      meta_sql "$b" "UPDATE %M SET v = '0000000001 killed' WHERE k = 'run_lock'"
      ;;
  esac
  run "$b" run
  check "$t: resume after SIGKILL exits 0" eq "$RC" 0
  check "$t: resume sends only what was not committed (+1 batch)" test "$(rows changed)" -le $((30000 - at_kill + 200 + 2))
  check "$t: destination equals source after resume" same "$b"
  run "$b" run
  check "$t: nothing left after resume" eq "$RC/$(rows changed)" "0/0"
  # 8. a bad query fails clearly and leaves state alone
  job "$b" "$b" "SELEC * FRM items" "  batchSize: 200"
  run "$b" run
  check "$t: invalid query exits 1 with the warehouse's message" eq "$RC/$(jq_ "$LAST" "d['message'].startswith('source')")" "1/True"
  job "$b" "$b" "SELECT * FROM items" "  batchSize: 200"
  run "$b" run
  check "$t: valid query again: nothing to send" eq "$RC/$(rows changed)" "0/0"
  # 9. plan after a spec change reports a new baseline and changes no state
  job "$b" "$b" "SELECT * FROM items WHERE 1 = 1" "  batchSize: 200"
  run "$b" plan
  check "$t: plan of a changed query reports a new baseline" eq "$RC/$(jq_ "$LAST" "d['newBaseline']")" "0/True"
  check "$t: plan leaves no stage or delta table behind" eq "$(state_tables "$b" stage delta keys)" 0
  job "$b" "$b" "SELECT * FROM items" "  batchSize: 200"
  run "$b" run
  check "$t: the plan left the snapshot alone" eq "$RC/$(rows changed)" "0/0"
  # 10. keys must be unique and present
  job "$b" "$b-dup" "SELECT * FROM items UNION ALL SELECT 99999, 'a', NULL, NULL, NULL, NULL UNION ALL SELECT 99999, 'b', NULL, NULL, NULL, NULL"
  run "$b-dup" run
  check "$t: duplicate keys fail the run naming the key" eq "$RC/$(jq_ "$LAST" "'duplicate values of key column' in d['message'] and '99999' in d['message']")" "1/True"
  job "$b" "$b-nullkey" "SELECT * FROM items UNION ALL SELECT NULL, 'n', NULL, NULL, NULL, NULL"
  run "$b-nullkey" run
  check "$t: a NULL key fails the run" eq "$RC/$(jq_ "$LAST" "'is NULL in 1 row' in d['message']")" "1/True"
  # 10c. Insert mode counts every row, also after a new baseline (issue 18:
  # the lean delta writes the unchanged rows of keys not loaded, and counts
  # the loaded ones from the snapshot instead of reading the query twice)
  local total
  total=$(src "$b" "SELECT count(*) FROM items")
  D -c "CREATE TABLE app_$n.items_ins ($TYPES)" >/dev/null
  ins_job() {
    job "$b" "$b-ins" "$1"
    sed -i -e 's/mode: Upsert/mode: Insert/' -e 's/[.]items}/.items_ins}/' "$W/$b-ins.yaml"
  }
  ins_job "SELECT * FROM items"
  run "$b-ins" run
  check "$t: insert mode: first run inserts and counts every row" eq "$RC/$(rows inserted)/$(rows extracted)" "0/$total/$total"
  run "$b-ins" run
  check "$t: insert mode: unchanged run sends nothing and counts every row" eq "$RC/$(rows changed)/$(rows extracted)" "0/0/$total"
  ins_job "SELECT * FROM items WHERE 1 = 1"
  run "$b-ins" run
  check "$t: insert mode: after a new baseline nothing is inserted again, every row counted" eq "$RC/$(rows changed)/$(rows extracted)" "0/0/$total"
  run "$b-ins" run
  check "$t: insert mode: and on the run after it" eq "$RC/$(rows changed)/$(rows extracted)" "0/0/$total"
  # 10b. a query without a mapped column
  job "$b" "$b-bad" "SELECT id, name FROM items"
  run "$b-bad" run
  check "$t: missing mapped column exits 1 naming it" eq "$RC/$(jq_ "$LAST" "'price' in d['message']")" "1/True"
}

# lean_upgrade B: the sources with a hash function (sqlserver, snowflake)
# keep a lean snapshot (k, st, h). A snapshot the wide code wrote (k, st and
# the canonical text of every value: for this job's int key and text column
# the plain text) is upgraded in place on the next run: h is filled from the
# stored values, so only the row whose stored value is stale is sent.
lean_upgrade() {
  local b=$1 name="${1}up" db snap
  case $b in sqlserver) db=src_mssql ;; *) db=src_snow ;; esac
  snap="retl.t__${name}__snap"
  {
    echo "apiVersion: retl.io/v1alpha1"
    echo "kind: ReverseEtlJob"
    echo "metadata: {name: $name, namespace: t}"
    echo "spec:"
    echo "  source: {type: $b, secretRef: {name: $b}, query: \"SELECT id, name FROM items\"}"
    echo "  destination: {type: postgres, secretRef: {name: app}, object: app_$b.items}"
    echo "  mode: Upsert"
    echo "  key: {source: id, destination: id}"
    echo "  mappings:"
    echo "    - {source: name, destination: name}"
  } >"$W/$name.yaml"
  run "$name" run
  local total
  total=$(src "$b" "SELECT count(*) FROM items")
  check "$b: lean snapshot: first sync sends every row" eq "$RC/$(rows changed)" "0/$total"
  check "$b: lean snapshot holds key, status, hash and record id only" eq "$(pg_sql -d $db -c "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns WHERE table_schema = 'retl' AND table_name = 't__${name}__snap'")" "h,id,k,st"
  pg_sql -d $db -c "DROP TABLE $snap" \
    -c "CREATE TABLE $snap (k varchar(450) NOT NULL PRIMARY KEY, st varchar(8) NOT NULL, c1 text)" \
    -c "INSERT INTO $snap SELECT id::text, 'L', CASE WHEN id = 2 THEN 'stale value' ELSE name END FROM items" >/dev/null
  run "$name" run
  check "$b: a wide snapshot is upgraded in place: only the stale row is sent" eq "$RC/$(rows changed)" "0/1"
  check "$b: the upgraded snapshot is lean (and has the record id column)" eq "$(pg_sql -d $db -c "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns WHERE table_schema = 'retl' AND table_name = 't__${name}__snap'")" "h,id,k,st"
  check "$b: the upgrade was logged" grep -q "snapshot upgraded in place" "$W/$name.log"
  both "$b" "UPDATE items SET name = NULL WHERE id = 3" >/dev/null
  run "$name" run
  check "$b: after the upgrade a NULL change is seen" eq "$RC/$(rows changed)" "0/1"
  both "$b" "UPDATE items SET name = '' WHERE id = 3" >/dev/null
  run "$name" run
  check "$b: NULL to empty text is a change (hash tells them apart)" eq "$RC/$(rows changed)" "0/1"
  run "$name" run
  check "$b: then nothing to send" eq "$RC/$(rows changed)" "0/0"
}

# st_sql B SQL: runs SQL on backend B's state tables, %P naming their prefix
st_sql() {
  case $1 in
    odbc-sqlite) sqlite3 "$W/src.db" "${2//%P/retl_t__}" ;;
    odbc-pg) pg_sql -d src_odbc -c "${2//%P/retl.t__}" ;;
    sqlserver) pg_sql -d src_mssql -c "${2//%P/retl.t__}" ;;
    snowflake) pg_sql -d src_snow -c "${2//%P/retl.t__}" ;;
  esac
}
# djob B NAME QUERY MODE [maxPercent] [batchSize]: a job B-NAME with
# spec.deletes into the destination table app_B.NAME
djob() {
  local b=$1 name=$2 q=$3 mode=$4 pct=${5:-20} bs=${6:-3}
  {
    echo "apiVersion: retl.io/v1alpha1"
    echo "kind: ReverseEtlJob"
    echo "metadata: {name: $b-$name, namespace: t}"
    echo "spec:"
    echo "  source: {type: $(stype "$b"), secretRef: {name: $b}, query: \"$q\"}"
    echo "  destination: {type: postgres, secretRef: {name: app}, object: app_${b//-/_}.$name}"
    echo "  mode: Upsert"
    echo "  key: {source: id, destination: id}"
    echo "  mappings:"
    echo "    - {source: name, destination: name}"
    echo "  batchSize: $bs"
    echo "  deletes: {mode: $mode, maxPercent: $pct}"
  } >"$W/$b-$name.yaml"
}

# deletes B: issue 13's tracked mirror for a warehouse source: only keys the
# job synced leave the destination, after the destination confirmed, with
# the guard; Clear; a rejected delete; SIGKILL during delete batches.
deletes() {
  local b=$1 n="${1//-/_}" t=$1 del=del clr=clr jd="$1-del" jc="$1-clr" sd="${1//-/_}_del"
  src "$b" "CREATE TABLE dsrc (id INTEGER PRIMARY KEY, name TEXT)" >/dev/null
  src "$b" "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 20) INSERT INTO dsrc SELECT x, 'n' || x FROM g" >/dev/null
  D -c "CREATE TABLE app_$n.$del (id int PRIMARY KEY, name text)" -c "INSERT INTO app_$n.$del VALUES (1000, 'typed by someone else')" >/dev/null
  model() { # the model plus the record someone else made, as the destination should be
    diff <(src "$b" "SELECT id || ':' || name FROM dsrc UNION ALL SELECT '1000:typed by someone else' ORDER BY 1") \
         <(D -c "SELECT id || ':' || name FROM app_$n.$del ORDER BY 1") >/dev/null
  }
  djob "$b" "$del" "SELECT id, name FROM dsrc" Delete 20
  run "$jd" run
  check "$t: deletes: a first run deletes nothing (not even rows it does not know)" eq "$RC/$(rows deleted)/$(D -c "SELECT count(*) FROM app_$n.$del")" "0/0/21"
  src "$b" "DELETE FROM dsrc WHERE id IN (2, 4, 6, 8, 10)" >/dev/null
  run "$jd" plan
  check "$t: deletes: plan shows 5 of 20 synced keys and that the guard trips" eq "$(jq_ "$LAST" "(d['deleted'], d['synced'], d['guardTrips'], d['deletes'])")" "(5, 20, True, 'Delete')"
  run "$jd" run
  check "$t: deletes: 25% > maxPercent 20 fails before writing (exit 1, DeleteGuard, both numbers)" \
    eq "$RC/$(jq_ "$LAST" "d['reason']")/$(jq_ "$LAST" "'5 of 20' in d['message'] and 'maxPercent 20' in d['message']")/$(D -c "SELECT count(*) FROM app_$n.$del")" "1/DeleteGuard/True/21"
  src "$b" "INSERT INTO dsrc VALUES (10, 'n10')" >/dev/null
  run "$jd" plan
  check "$t: deletes: exactly maxPercent (4 of 20) passes the guard in plan" eq "$(jq_ "$LAST" "(d['deleted'], d['synced'], d['guardTrips'])")" "(4, 20, False)"
  run "$jd" run
  check "$t: deletes: exactly maxPercent deletes the 4 records, nothing else" \
    eq "$RC/$(rows deleted)/$(D -c "SELECT string_agg(id::text, ',' ORDER BY id) FROM app_$n.$del WHERE id IN (2, 4, 6, 8, 10, 1000)")" "0/4/10,1000"
  check "$t: deletes: deleted keys leave the snapshot" eq "$(st_sql "$b" "SELECT count(*) FROM %P${sd}__snap WHERE k IN ('2', '4', '6', '8')")" 0
  run "$jd" run
  check "$t: deletes: nothing left to delete next run" eq "$RC/$(rows deleted)/$(rows changed)" "0/0/0"
  src "$b" "INSERT INTO dsrc VALUES (2, 'back')" >/dev/null
  run "$jd" run
  check "$t: deletes: a deleted key that comes back is inserted again" eq "$(rows inserted)/$(D -c "SELECT name FROM app_$n.$del WHERE id = 2")" "1/back"
  D -c "DELETE FROM app_$n.$del WHERE id = 12" >/dev/null
  src "$b" "DELETE FROM dsrc WHERE id = 12" >/dev/null
  run "$jd" run
  check "$t: deletes: a record already gone counts as deleted" eq "$RC/$(rows deleted)/$(rows failed)" "0/1/0"
  D -c "CREATE TABLE app_$n.${del}_child (id int PRIMARY KEY, parent int REFERENCES app_$n.$del (id))" -c "INSERT INTO app_$n.${del}_child VALUES (1, 14)" >/dev/null
  src "$b" "DELETE FROM dsrc WHERE id IN (14, 15)" >/dev/null
  run "$jd" run
  check "$t: deletes: a rejected delete fails alone, into errors as operation delete (23503, transient)" \
    eq "$(rows deleted)/$(rows failed)/$(run "$jd" errors --json; jq_ "$LAST" "(d[0]['key'], d[0]['operation'], d[0]['code'], d[0]['class'])")/$(D -c "SELECT count(*) FROM app_$n.$del WHERE id IN (14, 15)")" \
    "1/1/('14', 'delete', '23503', 'transient')/1"
  # an errors table from before failure classes is upgraded in place
  st_sql "$b" "ALTER TABLE %P${sd}__errors DROP COLUMN h" >/dev/null
  st_sql "$b" "ALTER TABLE %P${sd}__errors DROP COLUMN class" >/dev/null
  run "$jd" errors --json
  check "$t: errors lists an errors table from before failure classes (class transient)" eq "$RC/$(jq_ "$LAST" "(d[0]['key'], d[0]['class'])")" "0/('14', 'transient')"
  run "$jd" run
  check "$t: deletes: the failed delete is tried again next run (attempts 2), errors table upgraded in place" \
    eq "$RC/$(rows failed)/$(rows changed)/$(run "$jd" errors --json; jq_ "$LAST" "(d[0]['attempts'], d[0]['class'])")/$(grep -c "errors table upgraded in place" "$W/$jd.log")" "0/1/1/(2, 'transient')/1"
  D -c "DELETE FROM app_$n.${del}_child" >/dev/null
  run "$jd" run
  check "$t: deletes: once possible, it is deleted and leaves errors" eq "$(rows deleted)/$(run "$jd" errors --json; jq_ "$LAST" "len(d)")/$(D -c "SELECT count(*) FROM app_$n.$del WHERE id = 14")" "1/0/0"
  check "$t: deletes: destination equals the model, plus the record someone else created" model
  # SIGKILL during delete batches, then a rerun: destination = model
  src "$b" "WITH RECURSIVE g(x) AS (SELECT 2000 UNION ALL SELECT x + 1 FROM g WHERE x < 4999) INSERT INTO dsrc SELECT x, 'bulk ' || x FROM g" >/dev/null
  djob "$b" "$del" "SELECT id, name FROM dsrc" Delete 100 100
  run "$jd" run
  check "$t: deletes: 3000 more rows synced" eq "$RC/$(rows inserted)" "0/3000"
  src "$b" "DELETE FROM dsrc WHERE id >= 2000" >/dev/null
  "$ENGINE" run -f "$W/$jd.yaml" -f "$W/secrets.yaml" >/dev/null 2>"$W/$jd.kill.log" &
  local pid=$! left=3000
  for _ in $(seq 1 1200); do
    left=$(D -c "SELECT count(*) FROM app_$n.$del WHERE id >= 2000" 2>/dev/null || echo 3000)
    [ "${left:-3000}" -le 2000 ] && break
    sleep 0.05
  done
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  left=$(D -c "SELECT count(*) FROM app_$n.$del WHERE id >= 2000")
  check "$t: deletes: killed during the delete batches (partial progress)" test "$left" -gt 0 -a "$left" -lt 3000
  case $b in
    odbc-sqlite | snowflake) st_sql "$b" "UPDATE %P${sd}__meta SET v = '0000000001 killed' WHERE k = 'run_lock'" >/dev/null ;;
  esac
  run "$jd" run
  check "$t: deletes: the rerun after SIGKILL deletes the rest, each at most once more than a batch" \
    eq "$RC/$(test "$(rows deleted)" -ge "$left" -a "$(rows deleted)" -le $((left + 100)) && echo ok)" "0/ok"
  check "$t: deletes: after the killed run and the rerun, destination equals the model" model
  run "$jd" run
  check "$t: deletes: then nothing to do" eq "$RC/$(rows changed)/$(rows deleted)" "0/0/0"
  # Clear: mapped columns set to NULL once, the row stays, sent again if it returns
  D -c "CREATE TABLE app_$n.$clr (id int PRIMARY KEY, name text)" >/dev/null
  djob "$b" "$clr" "SELECT id, name FROM dsrc" Clear 100 100
  run "$jc" run
  src "$b" "DELETE FROM dsrc WHERE id IN (3, 7)" >/dev/null
  run "$jc" run
  check "$t: clear: 2 rows cleared, kept, key intact" eq "$RC/$(rows cleared)/$(rows deleted)/$(D -c "SELECT string_agg(id || ':' || coalesce(name, '-'), ',' ORDER BY id) FROM app_$n.$clr WHERE id IN (1, 3, 7)")" "0/2/0/1:n1,3:-,7:-"
  run "$jc" run
  check "$t: clear: cleared once, not again" eq "$RC/$(rows cleared)/$(rows changed)" "0/0/0"
  src "$b" "INSERT INTO dsrc VALUES (3, 'back')" >/dev/null
  run "$jc" run
  check "$t: clear: a cleared key that comes back is written again" eq "$RC/$(rows updated)/$(D -c "SELECT name FROM app_$n.$clr WHERE id = 3")" "0/1/back"
}

# sf_deletes B: a warehouse source (wide or lean snapshot) into Salesforce keeps each record Id the
# destination returned and deletes by it (no lookup); a key whose Id the
# snapshot lacks (state from before Ids were kept) is looked up by its
# external id first.
sfstat() { jq_ "$(curl -s "$SF_URL/__admin/stats")" "d['requests'].get('$1', 0)"; }
sf_deletes() {
  local b=$1 n="${1//-/_}" j="$1-sf" sj="${1//-/_}_sf"
  src "$b" "CREATE TABLE sfsrc (id VARCHAR(40) PRIMARY KEY, name VARCHAR(80))" >/dev/null
  src "$b" "INSERT INTO sfsrc VALUES ('$n-1', 'One'), ('$n-2', 'Two'), ('$n-3', 'Three'), ('$n-4', 'Four')" >/dev/null
  {
    echo "apiVersion: retl.io/v1alpha1"
    echo "kind: ReverseEtlJob"
    echo "metadata: {name: $j, namespace: t}"
    echo "spec:"
    echo "  source: {type: $(stype "$b"), secretRef: {name: $b}, query: \"SELECT id, name FROM sfsrc\"}"
    echo "  destination: {type: salesforce, secretRef: {name: sf}, object: Account, api: rest}"
    echo "  mode: Upsert"
    echo "  key: {source: id, destination: External_Id__c}"
    echo "  mappings:"
    echo "    - {source: name, destination: Name}"
    echo "  deletes: {mode: Delete, maxPercent: 50}"
  } >"$W/$j.yaml"
  run "$j" run
  check "$b: salesforce: first run creates 4 Accounts; the snapshot keeps each record Id" \
    eq "$RC/$(rows inserted)/$(st_sql "$b" "SELECT count(*) FROM %P${sj}__snap WHERE id LIKE '001%'")" "0/4/4"
  src "$b" "DELETE FROM sfsrc WHERE id = '$n-1'" >/dev/null
  local q0 d0
  q0=$(sfstat "GET query") d0=$(sfstat "DELETE composite/sobjects")
  run "$j" run
  check "$b: salesforce: a key gone from the query is deleted by its kept Id (one Collections DELETE, no lookup)" \
    eq "$RC/$(rows deleted)/$(($(sfstat "GET query") - q0))/$(($(sfstat "DELETE composite/sobjects") - d0))" "0/1/0/1"
  st_sql "$b" "UPDATE %P${sj}__snap SET id = NULL WHERE k = '$n-2'" >/dev/null
  src "$b" "DELETE FROM sfsrc WHERE id = '$n-2'" >/dev/null
  q0=$(sfstat "GET query")
  run "$j" run
  check "$b: salesforce: a key without a kept Id is looked up by its external id (1 query), then deleted" \
    eq "$RC/$(rows deleted)/$(($(sfstat "GET query") - q0))" "0/1/1"
  local tok
  tok=$(jq_ "$(curl -s -X POST "$SF_URL/__admin/token")" "d['access_token']")
  check "$b: salesforce: exactly the two deleted Accounts are gone" \
    eq "$(jq_ "$(curl -s -G -H "Authorization: Bearer $tok" --data-urlencode "q=SELECT External_Id__c FROM Account WHERE External_Id__c LIKE '$n-%'" "$SF_URL/services/data/v62.0/query")" "','.join(sorted(r['External_Id__c'] for r in d['records']))")" "$n-3,$n-4"
}

for b in $BACKENDS; do
  scenario "$b"
  # 11. cleanup drops every state table of the job
  check "$b: state tables exist before cleanup (meta, errors, batch, snap)" eq "$(state_tables "$b")" 4
  job "$b" "$b" "SELECT * FROM items"
  run "$b" cleanup
  check "$b: cleanup exits 0 and drops the job's state tables" eq "$RC/$(state_tables "$b")" "0/0"
  case $b in sqlserver | snowflake) lean_upgrade "$b" ;; esac
  deletes "$b"
  sf_deletes "$b"
done

# --- backend specifics ----------------------------------------------------------
if [[ " $BACKENDS " == *" snowflake "* ]]; then
  STATS=$(curl -s "$SNOW_URL/sim/stats")
  check "snowflake: 202 answers were polled" test "$(jq_ "$STATS" "d['polls202']")" -gt 0
  check "snowflake: later partitions fetched, gzip-encoded" test "$(jq_ "$STATS" "min(d['partitionsServed'], d['gzipServed'])")" -gt 0
  check "snowflake: batches committed as multi-statement transactions" test "$(jq_ "$STATS" "d['multiStatement']")" -gt 0
  check "snowflake: lookups sent with bindings" test "$(jq_ "$STATS" "d['boundStatements']")" -gt 0
  check "snowflake: warehouse errors came back as 422" test "$(jq_ "$STATS" "d['errors422']")" -gt 0
  SECRET=snowflake-badkey job snowflake snow-badkey "SELECT * FROM items"
  run snow-badkey run
  check "snowflake: a JWT signed by another key is refused (exit 1, 401 named)" eq "$RC/$(jq_ "$LAST" "'JWT token is invalid' in d['message'] and 'HTTP 401' in d['message']")" "1/True"
fi
if [[ " $BACKENDS " == *" sqlserver "* ]]; then
  SECRET=sqlserver-badpw job sqlserver ms-badpw "SELECT * FROM items"
  run ms-badpw run
  check "sqlserver: wrong password fails the run with the server's message" eq "$RC/$(jq_ "$LAST" "'Login failed' in d['message']")" "1/True"
fi
check "no log line carries a credential" test "$(cat "$W"/*.log | grep -cF -e "$PGPASSWORD" -e "$MSSQL_PW")" -eq 0

echo "$P passed, $F failed"
[ "$F" -eq 0 ]
