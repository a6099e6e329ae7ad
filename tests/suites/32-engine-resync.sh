#!/usr/bin/env bash
# Integration: the engine's --resync, --reset and --retry-failed (and their env
# forms, which run pods get from the controller), against a real PostgreSQL as
# source and destination. Uses the ASan/UBSan engine build.
set -uo pipefail
ROOT=${RETL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$ROOT"
ENGINE=${ENGINE:-$ROOT/build/san/bin/retl-engine}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# shellcheck source=../lib/pg.sh
source "$ROOT/tests/lib/pg.sh"

# shellcheck source=../lib/checks.sh
source "$ROOT/tests/lib/checks.sh"

if [ ! -x "$ENGINE" ]; then
  echo "missing $ENGINE (make build/san/bin/retl-engine)"; echo "0 passed, 1 failed"; exit 1
fi

W=$(mktemp -d /tmp/retl-resync-test.XXXXXX)
cleanup() { pg_stop; rm -rf "$W"; }
trap cleanup EXIT
pg_start || { echo "0 passed, 1 failed"; exit 1; }
pg_sql -c "CREATE DATABASE src" -c "CREATE DATABASE dst" >/dev/null
S() { pg_sql -d src "$@"; }
D() { pg_sql -d dst "$@"; }

cat >"$W/job.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata: {name: wh, namespace: t}
stringData: {url: "postgresql://postgres@127.0.0.1:$PGPORT/src", password: "$PGPASSWORD"}
---
apiVersion: v1
kind: Secret
metadata: {name: app, namespace: t}
stringData: {url: "postgresql://postgres@127.0.0.1:$PGPORT/dst", password: "$PGPASSWORD"}
---
apiVersion: retl.io/v1alpha1
kind: ReverseEtlJob
metadata: {name: people, namespace: t}
spec:
  source: {type: postgres, secretRef: {name: wh}, query: "SELECT id, name, score FROM people_v"}
  destination: {type: postgres, secretRef: {name: app}, object: app.people}
  mode: Upsert
  key: {source: id, destination: id}
  mappings: [{source: name, destination: name}, {source: score, destination: score}]
  batchSize: 20
EOF
# run CMD [args]: RC, LAST (the summary line)
run() {
  local cmd=$1; shift
  OUT=$("$ENGINE" "$cmd" -f "$W/job.yaml" "$@" 2>>"$W/engine.log")
  RC=$?
  LAST=$(tail -n 1 <<<"$OUT")
}
rows() { jq -r ".rows.$1" <<<"$LAST"; }
sent() { echo "$(rows changed)/$(rows inserted)/$(rows updated)"; }
same() { diff <(S -c "COPY (SELECT id, name, score FROM people ORDER BY id) TO STDOUT") \
  <(D -c "COPY (SELECT id, name, score FROM app.people ORDER BY id) TO STDOUT") >/dev/null; }

S -c "CREATE TABLE people (id int PRIMARY KEY, name text, score int)" \
  -c "INSERT INTO people SELECT g, 'p' || g, g FROM generate_series(1, 100) g" \
  -c "CREATE VIEW people_v AS SELECT * FROM people" >/dev/null
D -c "CREATE SCHEMA app" -c "CREATE TABLE app.people (id int PRIMARY KEY, name text NOT NULL, score int)" >/dev/null

run run
check "first run sends 100 rows" eq "$RC $(sent)" "0 100/100/0"
run run
check "an unchanged run sends nothing" eq "$(sent)" "0/0/0"

# ---- resync: the destination was wiped; every row goes again ----
D -c "TRUNCATE app.people" >/dev/null
run run
check "without a resync a wiped destination stays empty (nothing changed)" eq "$(sent)/$(D -c "SELECT count(*) FROM app.people")" "0/0/0/0"
run plan --resync
check "plan --resync: a new baseline of 100 rows, loads nothing" \
  eq "$(jq -r '"\(.newBaseline) \(.changed) \(.update)"' <<<"$LAST")/$(D -c "SELECT count(*) FROM app.people")" "true 100 100/0"
run run --resync
check "--resync sends every row again and counts them" eq "$RC $(sent)" "0 100/100/0"
check "--resync: the destination equals the source" same
check "--resync: the summary says new baseline" grep -q "new baseline" <<<"$(jq -r .message <<<"$LAST")"
run run
check "after a resync the next run sends nothing" eq "$(sent)" "0/0/0"
S -c "UPDATE people SET score = score + 1000 WHERE id <= 3" >/dev/null
RETL_RESYNC=1 run run
check "RETL_RESYNC=1 resyncs too (100 sent, 3 of them changed values)" eq "$(sent)/$(D -c "SELECT count(*) FROM app.people WHERE score > 1000")" "100/0/100/3"

# ---- reset: a new baseline without traffic ----
S -c "UPDATE people SET name = 'reset ' || id WHERE id BETWEEN 10 AND 14" -c "INSERT INTO people VALUES (101, 'new', 1)" >/dev/null
run plan --reset
check "plan --reset: 6 changed rows, none would be sent" eq "$(jq -r '"\(.reset) \(.changed) \(.insert) \(.update)"' <<<"$LAST")" "true 6 0 0"
run run --reset
check "--reset sends nothing (6 changed rows recorded as synced)" eq "$RC $(sent)" "0 6/0/0"
check "--reset: the destination was not touched" eq "$(D -c "SELECT count(*) FROM app.people WHERE name LIKE 'reset%' OR id = 101")" 0
check "--reset: the summary says so" grep -q "recorded as synced, nothing sent" <<<"$(jq -r .message <<<"$LAST")"
run run
check "after a reset the next run sends nothing" eq "$(sent)" "0/0/0"
S -c "UPDATE people SET score = -1 WHERE id IN (50, 51)" >/dev/null
run run
check "after a reset the next run sends only new changes" eq "$(sent)/$(D -c "SELECT count(*) FROM app.people WHERE score = -1")" "2/0/2/2"

# ---- a reset that stops half way goes on in the next run (crash exact) ----
S -c "UPDATE people SET name = 'half ' || id WHERE id BETWEEN 60 AND 69" \
  -c "CREATE OR REPLACE VIEW people_v AS SELECT * FROM people UNION ALL SELECT * FROM people WHERE id = 60" >/dev/null
run run --reset
check "a reset run that fails after it started (duplicate key) exits 1" eq "$RC" 1
check "its pending reset is stored in the job's meta table" eq "$(S -c "SELECT count(*) FROM retl.t__people__meta WHERE k = 'reset'")" 1
S -c "CREATE OR REPLACE VIEW people_v AS SELECT * FROM people" >/dev/null
run run
check "the next plain run finishes the reset: records 10 rows, sends none" eq "$RC $(sent)/$(D -c "SELECT count(*) FROM app.people WHERE name LIKE 'half%'")" "0 10/0/0/0"
check "the finished reset leaves no marker" eq "$(S -c "SELECT count(*) FROM retl.t__people__meta WHERE k = 'reset'")" 0
run run
check "and the run after it sends nothing" eq "$(sent)" "0/0/0"

# ---- retry: failing rows are sent again with --retry-failed ----
S -c "UPDATE people SET name = NULL WHERE id = 5" >/dev/null
run run
check "a row the destination refuses fails" eq "$(rows failed)/$(S -c "SELECT attempts FROM retl.t__people__errors WHERE key = '5'")" "1/1"
run run --retry-failed
check "--retry-failed sends the failed row again (attempts 2)" eq "$RC $(rows failed)/$(S -c "SELECT attempts FROM retl.t__people__errors WHERE key = '5'")" "0 1/2"
S -c "UPDATE people SET name = 'back' WHERE id = 5" >/dev/null
RETL_RETRY_FAILED=1 run run
check "RETL_RETRY_FAILED=1: the fixed row syncs and leaves errors" eq "$(rows failed)/$(S -c "SELECT count(*) FROM retl.t__people__errors")/$(D -c "SELECT name FROM app.people WHERE id = 5")" "0/0/back"

# ---- the warehouse backends (engine/source/wh.c) through ODBC: the same flags ----
ODBC_DIR=${ODBC_DIR:-/usr/lib/x86_64-linux-gnu/odbc}
if [ ! -f "$ODBC_DIR/psqlodbca.so" ]; then
  fail "psqlODBC driver $ODBC_DIR/psqlodbca.so is installed (make deps)"
else
  D -c "CREATE TABLE app.people_odbc (id int PRIMARY KEY, name text, score int)" >/dev/null
  cat >"$W/odbc.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata: {name: whodbc, namespace: t}
stringData:
  connectionString: "Driver=$ODBC_DIR/psqlodbca.so;Servername=127.0.0.1;Port=$PGPORT;Database=src;Username=postgres;SSLmode=disable"
  password: "$PGPASSWORD"
---
apiVersion: v1
kind: Secret
metadata: {name: app, namespace: t}
stringData: {url: "postgresql://postgres@127.0.0.1:$PGPORT/dst", password: "$PGPASSWORD"}
---
apiVersion: retl.io/v1alpha1
kind: ReverseEtlJob
metadata: {name: people-odbc, namespace: t}
spec:
  source: {type: odbc, secretRef: {name: whodbc}, query: "SELECT id, name, score FROM people WHERE name IS NOT NULL"}
  destination: {type: postgres, secretRef: {name: app}, object: app.people_odbc}
  mode: Upsert
  key: {source: id, destination: id}
  mappings: [{source: name, destination: name}, {source: score, destination: score}]
EOF
  orun() {
    OUT=$("$ENGINE" run -f "$W/odbc.yaml" "$@" 2>>"$W/engine-odbc.log")
    RC=$?
    LAST=$(tail -n 1 <<<"$OUT")
  }
  N=$(S -c "SELECT count(*) FROM people WHERE name IS NOT NULL")
  orun
  check "odbc: first run sends every row" eq "$RC $(sent)" "0 $N/$N/0"
  D -c "TRUNCATE app.people_odbc" >/dev/null
  orun --resync
  check "odbc: --resync sends every row again" eq "$RC $(sent)/$(D -c "SELECT count(*) FROM app.people_odbc")" "0 $N/$N/0/$N"
  S -c "UPDATE people SET score = score + 7 WHERE id IN (20, 21)" >/dev/null
  orun --reset
  check "odbc: --reset records 2 changed rows, sends none" eq "$RC $(sent)" "0 2/0/0"
  check "odbc: the destination keeps the old values" eq "$(D -c "SELECT score FROM app.people_odbc WHERE id = 20")" "$(($(S -c "SELECT score FROM people WHERE id = 20") - 7))"
  orun
  check "odbc: after the reset nothing is sent and no marker is left" \
    eq "$(sent)/$(S -c "SELECT count(*) FROM retl.t__people_odbc__meta WHERE k = 'reset'")" "0/0/0/0"
fi

# ---- usage ----
run run --resync --reset
check "--resync with --reset is refused (exit 2)" eq "$RC" 2
check "--help names the flags and their env" \
  eq "$("$ENGINE" --help | grep -c -e '--resync.*RETL_RESYNC=1' -e '--reset.*RETL_RESET=1' -e '--retry-failed.*RETL_RETRY_FAILED=1')" 3
check "--help says what each command does" \
  eq "$("$ENGINE" --help | grep -cE '^  (run|plan|errors|describe|cleanup) +[a-z]')" 5

echo "$P passed, $F failed"
[ "$F" -eq 0 ]
