#!/usr/bin/env bash
# Integration: retl-engine with PostgreSQL as source and destination, against a
# real server (tests/lib/pg.sh). Uses the ASan/UBSan engine build.
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

W=$(mktemp -d /tmp/retl-engine-test.XXXXXX)
cleanup() { pg_stop; rm -rf "$W"; }
trap cleanup EXIT
pg_start || { echo "0 passed, 1 failed"; exit 1; }
pg_sql -c "CREATE DATABASE src" -c "CREATE DATABASE dst"
S() { pg_sql -d src "$@"; }
D() { pg_sql -d dst "$@"; }

# secrets.yaml: the password travels separately from the url.
cat >"$W/secrets.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata: {name: wh}
stringData: {url: "postgresql://postgres@127.0.0.1:$PGPORT/src", password: "$PGPASSWORD"}
---
apiVersion: v1
kind: Secret
metadata: {name: app}
data:
  url: $(printf 'host=127.0.0.1 port=%s dbname=dst user=postgres' "$PGPORT" | base64 -w0)
  password: $(printf '%s' "$PGPASSWORD" | base64 -w0)
EOF

# job NAME MODE QUERY OBJECT KEYDEST "src:dst src:dst ..." [extra yaml lines]
job() {
  local name=$1 mode=$2 query=$3 object=$4 kdest=$5 maps=$6 extra=${7:-}
  {
    echo "apiVersion: retl.io/v1alpha1"
    echo "kind: ReverseEtlJob"
    echo "metadata: {name: $name, namespace: ${NS:-t}}"
    echo "spec:"
    echo "  source: {type: postgres, secretRef: {name: wh}, query: \"$query\"}"
    echo "  destination: {type: postgres, secretRef: {name: app}, object: $object}"
    echo "  mode: $mode"
    if [ -n "$kdest" ]; then echo "  key: {source: id, destination: $kdest}"; else echo "  key: {source: id}"; fi
    echo "  mappings:"
    for m in $maps; do echo "    - {source: ${m%%:*}, destination: ${m##*:}}"; done
    [ -n "$extra" ] && printf '%s\n' "$extra"
  } >"$W/$name.yaml"
}

# run NAME CMD [args]: sets RC, OUT (stdout), LAST (last stdout line); log in $W/NAME.log
run() {
  local name=$1 cmd=$2; shift 2
  OUT=$(RETL_TERMINATION_LOG="$W/$name.term" "$ENGINE" "$cmd" -f "$W/$name.yaml" -f "$W/secrets.yaml" "$@" 2>>"$W/$name.log")
  RC=$?
  LAST=$(tail -n 1 <<<"$OUT")
}
jq_() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))" "$1" "$2"; }
rows() { jq_ "$LAST" "d['rows']['$1']"; }
# A rerun after a SIGKILL that fails keeps its reason in the test log (the work dir is removed on exit).
log_if_failed() { [ "$RC" = 0 ] || sed 's/^/# engine: /' "$W/$1.log" | tail -n 20; }

COLS="id, name, price, active, d, ts, tstz, j, tags, blob, f"
dump_src() { S -c "COPY (SELECT $COLS FROM ${1:-items} ORDER BY id) TO STDOUT"; }
dump_dst() { D -c "COPY (SELECT $COLS FROM ${1:-app.items} ORDER BY id) TO STDOUT"; }
same() { diff <(dump_src "${1:-items}") <(dump_dst "${2:-app.items}") >/dev/null; }

TYPES="id int PRIMARY KEY, name text, price numeric(40,12), active bool, d date, ts timestamp, tstz timestamptz, j jsonb, tags text[], blob bytea, f float8"
S -c "CREATE TABLE items ($TYPES)"
D -c "CREATE SCHEMA app" -c "CREATE TABLE app.items ($TYPES)"
S <<'SQL'
INSERT INTO items VALUES
 (1, 'plain', 12345678901234567890123.012345678912, true, '2024-02-29', '2024-01-01 10:00:00.123456', '2024-01-01 10:00:00+02', '{"a":[1,2,{"b":null}],"u":"ü€"}', ARRAY['x','y "q"', NULL], '\x00ff10', 0.1),
 (2, E'quote '' "dq" \\ back\nnew\ttab ünï € 😀', NULL, false, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (3, NULL, 0, NULL, '1999-12-31', '2000-01-01 00:00:00', '2000-01-01 00:00:00.5+00', 'null', '{}', '', 1e300),
 (4, '', -0.000000000001, true, '0001-01-01', '1970-01-01 00:00:00', 'infinity', '[1,"2",3.5]', ARRAY['{', '}', ','], '\xdeadbeef', -1.5e-300);
INSERT INTO items (id, name, price) SELECT g, 'row ' || g, g * 1.5 FROM generate_series(5, 1200) g;
SQL
MAPS="name:name price:price active:active d:d ts:ts tstz:tstz j:j tags:tags blob:blob f:f"
job items Upsert "SELECT * FROM items" app.items id "$MAPS" "  batchSize: 100"

# 1. first run
run items run
check "first run exits 0" eq "$RC" 0
check "first run result Succeeded" eq "$(jq_ "$LAST" "d['result']")" Succeeded
check "first run extracted 1200" eq "$(rows extracted)" 1200
check "first run inserted 1200" eq "$(rows inserted)" 1200
check "destination equals source after first run" same
check "termination log equals last stdout line" eq "$(cat "$W/items.term")" "$LAST"
check "summary fits 4096 bytes" test "$(wc -c <"$W/items.term")" -le 4096
check "summary names errors table" eq "$(jq_ "$LAST" "d['errorsTable']")" "retl.t__items__errors"
check "bytea arrives intact" eq "$(D -c "SELECT encode(blob,'hex') FROM app.items WHERE id=4")" deadbeef
check "text with quotes/newlines/unicode intact" eq "$(D -c "SELECT md5(name) FROM app.items WHERE id=2")" "$(S -c "SELECT md5(name) FROM items WHERE id=2")"
check "numeric full precision" eq "$(D -c "SELECT price FROM app.items WHERE id=1")" "12345678901234567890123.012345678912"
check "NULLs stay NULL" eq "$(D -c "SELECT count(*) FROM app.items WHERE id=2 AND price IS NULL AND d IS NULL AND tstz IS NULL AND j IS NULL AND tags IS NULL AND blob IS NULL")" 1
check "snapshot keeps comparable types, others as canonical text" \
  eq "$(S -c "SELECT string_agg(attname || ':' || format_type(atttypid, NULL), ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'retl.t__items__snap'::regclass AND attnum > 0")" \
  'k:integer,st:text,h:bigint,c1:text,c2:numeric,c3:boolean,c4:date,c5:timestamp without time zone,c6:timestamp with time zone,c7:jsonb,c8:text,c9:bytea,c10:double precision,id:text'
check "first sync: the snapshot has its primary key" eq "$(S -c "SELECT count(*) FROM pg_index WHERE indrelid = 'retl.t__items__snap'::regclass AND indisprimary")" 1
check "hash strategy keeps key, status H and hash only" eq "$(S -c "SELECT count(*) FROM retl.t__items__snap WHERE st = 'H' AND h IS NOT NULL AND num_nulls(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10) = 10")" 1200
check "state tables created in retl schema" eq "$(S -c "SELECT count(*) FROM pg_tables WHERE schemaname='retl' AND tablename LIKE 't__items__%'")" 3

# 2. nothing changed
run items run
check "unchanged run sends nothing" eq "$(rows changed)" 0
check "unchanged run exits 0" eq "$RC" 0

# 3. incremental inserts/updates/deletes
S -c "UPDATE items SET name = 'changed ' || id WHERE id IN (7, 8)" -c "UPDATE items SET tags = ARRAY['new'] WHERE id = 1" \
  -c "INSERT INTO items (id, name) VALUES (2000, 'new row')" -c "DELETE FROM items WHERE id = 9"
run items plan
check "plan exits 0" eq "$RC" 0
check "plan counts inserts" eq "$(jq_ "$LAST" "d['insert']")" 1
check "plan counts updates" eq "$(jq_ "$LAST" "d['update']")" 3
check "plan counts deletes" eq "$(jq_ "$LAST" "d['deleted']")" 1
check "plan loads nothing" eq "$(D -c "SELECT count(*) FROM app.items WHERE id = 2000")" 0
run items plan --diff-strategy except
check "except strategy plans the same delta" eq "$(jq_ "$LAST" "(d['insert'], d['update'], d['deleted'])")" "(1, 3, 1)"
run items plan --diff-strategy hash
check "hash strategy plans the same delta" eq "$(jq_ "$LAST" "(d['insert'], d['update'], d['deleted'])")" "(1, 3, 1)"
run items plan --diff-strategy join
check "join strategy plans the same delta" eq "$(jq_ "$LAST" "(d['insert'], d['update'], d['deleted'])")" "(1, 3, 1)"
run items run
check "incremental run exits 0" eq "$RC" 0
check "incremental: changed 4" eq "$(rows changed)" 4
check "incremental: inserted 1" eq "$(rows inserted)" 1
check "incremental: updated 3" eq "$(rows updated)" 3
check "incremental: deleted counted 1" eq "$(rows deleted)" 1
check "incremental: extracted counts every query row (no stage table)" eq "$(rows extracted)" "$(S -c "SELECT count(*) FROM items")"
check "deleted row not propagated" eq "$(D -c "SELECT count(*) FROM app.items WHERE id = 9")" 1
check "destination equals source except the deleted row" \
  eq "$(diff <(dump_src) <(D -c "COPY (SELECT $COLS FROM app.items WHERE id <> 9 ORDER BY id) TO STDOUT") && echo same)" same
run items run
check "a delete is counted once" eq "$(rows deleted)" 0
S -c "INSERT INTO items (id, name) VALUES (9, 'back')"
run items run
check "a key that comes back is sent again" eq "$(rows changed)/$(D -c "SELECT name FROM app.items WHERE id=9")" "1/back"
# 9b. extracted counts every query row from the diff plan's own row counts
# (no per-row counter): a key the query returns twice, both unchanged, twice
S -c "CREATE TABLE dupsrc (id int, name text)" -c "INSERT INTO dupsrc SELECT g, 'n' || g FROM generate_series(1, 20) g"
D -c "CREATE TABLE app.dup (id int PRIMARY KEY, name text)"
job dup Upsert "SELECT id, name FROM dupsrc" app.dup id "name:name"
run dup run
S -c "INSERT INTO dupsrc VALUES (1, 'n1')" -c "UPDATE dupsrc SET name = 'x' WHERE id = 2"
run dup run
check "incremental: an unchanged duplicated key counted twice, one change sent" \
  eq "$RC/$(rows extracted)/$(rows changed)/$(D -c "SELECT name FROM app.dup WHERE id = 2")" "0/21/1/x"
check "incremental: rows counted by the plan, not again" eq "$(grep -c 'counting rows again' "$W/dup.log")" 0

# 4. except strategy end to end
S -c "UPDATE items SET price = price + 1 WHERE id BETWEEN 10 AND 14" -c "UPDATE items SET tags = ARRAY['x', 'y \"q\"', NULL] WHERE id = 10"
RETL_DIFF_STRATEGY=except run items run
check "except strategy run sends 5 changes" eq "$(rows changed)/$(rows updated)" "5/5"
check "except strategy saves values (status L) for what it sent" eq "$(S -c "SELECT count(*) FROM retl.t__items__snap WHERE k BETWEEN 10 AND 14 AND st = 'L' AND c2 IS NOT NULL")" 5
check "arrays are kept as JSON text" eq "$(S -c "SELECT c8 FROM retl.t__items__snap WHERE k = 10")" '["x","y \"q\"",null]'
check "except strategy leaves other rows lean" eq "$(S -c "SELECT st FROM retl.t__items__snap WHERE k = 30")" H
S -c "UPDATE items SET f = 2.5 WHERE id BETWEEN 15 AND 16" -c "UPDATE items SET active = true WHERE id = 17" -c "UPDATE items SET price = NULL WHERE id = 18"
run items run --diff-strategy hash
check "hash strategy run sends 4 changes (incl. NULL -> value -> NULL)" eq "$(rows changed)/$(rows updated)" "4/4"
run items run --diff-strategy join
check "join strategy agrees nothing is left" eq "$(rows changed)" "0"
check "destination equals source after except run" eq "$(diff <(dump_src) <(dump_dst) >/dev/null && echo same)" same

# 5. failing row and retry
D -c "ALTER TABLE app.items ADD CONSTRAINT price_nonneg CHECK (price IS NULL OR price > -1)"
S -c "UPDATE items SET price = -5 WHERE id = 20" -c "UPDATE items SET name = 'fine' WHERE id IN (21, 22)"
run items run
check "row error: run still succeeds (no threshold)" eq "$RC" 0
check "row error: one failed" eq "$(rows failed)" 1
check "row error: the other rows of the batch loaded" eq "$(D -c "SELECT count(*) FROM app.items WHERE id IN (21,22) AND name='fine'")" 2
check "row error: failingRows in summary" eq "$(jq_ "$LAST" "d['failingRows']")" 1
check "row error: errors table has SQLSTATE 23514, class permanent" eq "$(S -c "SELECT key || ' ' || code || ' ' || attempts || ' ' || class FROM retl.t__items__errors")" "20 23514 1 permanent"
check "row error: the failed row is taken back out of the snapshot (known, not loaded)" eq "$(S -c "SELECT st || coalesce(h::text, '-') FROM retl.t__items__snap WHERE k = 20")/$(S -c "SELECT count(*) FROM retl.t__items__snap WHERE k IN (21, 22) AND st = 'H'")" "K-/2"
run items errors --json
check "errors --json lists the key and reason" eq "$(jq_ "$LAST" "(d[0]['key'], d[0]['code'], 'price_nonneg' in d[0]['message'], d[0]['row']['price'])")" "('20', '23514', True, '-5.000000000000')"
run items errors
check "errors table output names the constraint" grep -q "price_nonneg" <<<"$OUT"
check "errors output shows the class" grep -q "permanent" <<<"$OUT"
check "errors --json shows the class" eq "$(run items errors --json; jq_ "$LAST" "d[0]['class']")" permanent
run items run
check "permanent failure, row unchanged: not sent again (skippedPermanent 1, attempts 1)" eq "$(rows changed)/$(rows skippedPermanent)/$(S -c "SELECT attempts FROM retl.t__items__errors")" "0/1/1"
check "skipped row keeps its error row" eq "$(S -c "SELECT count(*) FROM retl.t__items__errors")" 1
run items plan
check "plan counts skippedPermanent" eq "$(jq_ "$LAST" "(d['changed'], d['skippedPermanent'])")" "(0, 1)"
run items run --retry-failed
check "--retry-failed sends it again (attempts 2)" eq "$(rows changed)/$(rows skippedPermanent)/$(S -c "SELECT attempts FROM retl.t__items__errors")" "1/0/2"
RETL_RETRY_FAILED=1 run items run
check "RETL_RETRY_FAILED=1 sends it again (attempts 3)" eq "$(rows changed)/$(S -c "SELECT attempts FROM retl.t__items__errors")" "1/3"
S -c "UPDATE items SET name = 'still bad price' WHERE id = 20"
run items run
check "permanent failure is sent again once the row changes (attempts 4)" eq "$(rows changed)/$(rows failed)/$(S -c "SELECT attempts FROM retl.t__items__errors")" "1/1/4"
S -c "UPDATE items SET name = 'plain' WHERE id = 20"
D -c "ALTER TABLE app.items DROP CONSTRAINT price_nonneg" -c "CREATE FUNCTION app.busy() RETURNS trigger LANGUAGE plpgsql AS \$\$BEGIN IF NEW.id = 20 THEN RAISE EXCEPTION 'busy' USING ERRCODE = '55P03'; END IF; RETURN NEW; END\$\$" \
  -c "CREATE TRIGGER busy BEFORE UPDATE ON app.items FOR EACH ROW EXECUTE FUNCTION app.busy()"
run items run
check "a lock failure (55P03) is transient" eq "$(rows failed)/$(S -c "SELECT code || ' ' || class FROM retl.t__items__errors")" "1/55P03 transient"
run items run
check "transient failure retried every run, unchanged" eq "$(rows changed)/$(rows skippedPermanent)/$(S -c "SELECT attempts FROM retl.t__items__errors")" "1/0/6"
D -c "DROP TRIGGER busy ON app.items" -c "ALTER TABLE app.items ADD CONSTRAINT price_nonneg CHECK (price IS NULL OR price > -1)"
S -c "UPDATE items SET price = 5 WHERE id = 20"
run items run
check "fixed row syncs and leaves errors" eq "$(rows failed)/$(rows updated)/$(S -c "SELECT count(*) FROM retl.t__items__errors")" "0/1/0"
check "destination equals source after retry" same

# 6. threshold
S -c "UPDATE items SET price = -1 WHERE id IN (30, 31)"
job items Upsert "SELECT * FROM items" app.items id "$MAPS" "  batchSize: 100
  errorThreshold: {maxFailedRows: 1}"
run items run
check "threshold exceeded exits 3" eq "$RC" 3
check "threshold result ThresholdExceeded" eq "$(jq_ "$LAST" "d['result']")" ThresholdExceeded
job items Upsert "SELECT * FROM items" app.items id "$MAPS" "  batchSize: 100
  errorThreshold: {maxFailedPercent: 100}"
RETL_RETRY_FAILED=1 run items run
check "under percent threshold exits 0" eq "$RC/$(rows failed)" "0/2"
S -c "UPDATE items SET price = 1 WHERE id IN (30, 31)"
job items Upsert "SELECT * FROM items" app.items id "$MAPS" "  batchSize: 100"
run items run
check "recovered rows" eq "$(rows failed)/$(S -c "SELECT count(*) FROM retl.t__items__errors")" "0/0"
S -c "UPDATE items SET price = 0.5 WHERE id = 40"
run items run
S -c "UPDATE items SET price = -price WHERE id = 40"
run items run
check "a numeric that only changes its sign is a change (numeric's hash ignores the sign)" eq "$(rows changed)/$(rows failed)/$(D -c "SELECT price FROM app.items WHERE id = 40")" "1/0/-0.500000000000"
# State written before destination ids and failure classes: upgraded in place, nothing re-sent.
S -c "ALTER TABLE retl.t__items__snap DROP COLUMN id" -c "ALTER TABLE retl.t__items__errors DROP COLUMN class, DROP COLUMN h"
run items run
check "old state tables upgraded in place without a re-send" eq "$RC/$(rows changed)/$(S -c "SELECT count(*) FROM pg_attribute WHERE attname IN ('id', 'class', 'h') AND NOT attisdropped AND attrelid IN ('retl.t__items__snap'::regclass, 'retl.t__items__errors'::regclass)")" "0/0/4"

# 7. invalid SQL: exit 1, clear message, state untouched
snap_before=$(S -c "SELECT md5(string_agg(k || st || coalesce(c1,''), ',' ORDER BY k)) FROM retl.t__items__snap")
job items Upsert "SELEC * FRM items" app.items id "$MAPS"
run items run
check "invalid SQL exits 1" eq "$RC" 1
check "invalid SQL message" grep -q "syntax error" <<<"$(jq_ "$LAST" "d['message']")"
check "invalid SQL leaves state untouched" eq "$(S -c "SELECT md5(string_agg(k || st || coalesce(c1,''), ',' ORDER BY k)) FROM retl.t__items__snap")" "$snap_before"
job items Upsert "SELECT * FROM items" app.items id "$MAPS" "  batchSize: 100"
run items run
check "valid query again: nothing to send" eq "$RC/$(rows changed)" "0/0"

# 8. missing column in mappings
job badcol Upsert "SELECT id, name FROM items" app.items id "name:name nope:price"
run badcol run
check "missing mapping column exits 1" eq "$RC" 1
check "missing mapping column named" grep -q 'no column \\"nope\\"' <<<"$LAST"
check "missing column: no state created" eq "$(S -c "SELECT count(*) FROM pg_tables WHERE tablename LIKE 't__badcol__%'")" 0
job badcol Upsert "SELECT id, name FROM items" app.nosuch id "name:name"
run badcol run
check "missing destination table exits 1" eq "$RC" 1
check "missing destination table named" grep -q "app.nosuch does not exist" <<<"$LAST"

# 9. invalid spec: exit 2 with every problem
job badspec Sideways "SELECT 1" app.items id "name:name"
run badspec run
check "invalid spec exits 2" eq "$RC" 2
check "invalid spec problem printed" grep -q "spec.mode" "$W/badspec.log"
OUT=$("$ENGINE" frobnicate 2>/dev/null); RC=$?
check "bad usage exits 2" eq "$RC" 2

# 10. Insert mode
D -c "CREATE TABLE app.ins (id int PRIMARY KEY, name text)"
S -c "CREATE TABLE ins_src (id int, name text)" -c "INSERT INTO ins_src SELECT g, 'n' || g FROM generate_series(1, 50) g"
job ins Insert "SELECT id, name FROM ins_src" app.ins id "name:name"
run ins run
check "insert mode first run inserts 50" eq "$RC/$(rows inserted)" "0/50"
S -c "UPDATE ins_src SET name = 'changed' WHERE id = 1" -c "INSERT INTO ins_src VALUES (51, 'n51')"
run ins run
check "insert mode sends only new keys" eq "$(rows changed)/$(rows inserted)" "1/1"
check "insert mode does not update existing rows" eq "$(D -c "SELECT name FROM app.ins WHERE id = 1")" n1
S -c "INSERT INTO ins_src VALUES (7, 'dup'), (7, 'dup2')"
run ins run
check "duplicate keys fail the run" eq "$RC" 1
check "duplicate key named" grep -q 'duplicate values of key column \\"id\\": 7' <<<"$LAST"
S -c "DELETE FROM ins_src WHERE name LIKE 'dup%'"
# Insert mode without key.destination: a table with its own identity
D -c "CREATE TABLE app.log (seq bigint GENERATED ALWAYS AS IDENTITY, name text)"
job inslog Insert "SELECT id, name FROM ins_src" app.log "" "name:name"
run inslog run
check "insert mode without key.destination" eq "$RC/$(D -c "SELECT count(*) FROM app.log")" "0/51"
run inslog run
check "insert mode never inserts a key twice" eq "$(rows changed)/$(D -c "SELECT count(*) FROM app.log")" "0/51"

# 11. Update mode
D -c "CREATE TABLE app.upd (id int PRIMARY KEY, name text)" -c "INSERT INTO app.upd SELECT g, 'old' FROM generate_series(1, 10) g"
S -c "CREATE TABLE upd_src (id int, name text)" -c "INSERT INTO upd_src SELECT g, 'new' || g FROM generate_series(1, 12) g"
job upd Update "SELECT id, name FROM upd_src" app.upd id "name:name"
run upd run
check "update mode updates existing keys" eq "$(rows updated)/$(D -c "SELECT count(*) FROM app.upd WHERE name LIKE 'new%'")" "10/10"
check "update mode: missing keys fail with NOT_FOUND" eq "$(rows failed)/$(S -c "SELECT string_agg(key || ':' || code, ',' ORDER BY key) FROM retl.t__upd__errors")" "2/11:NOT_FOUND,12:NOT_FOUND"
check "update mode never inserts" eq "$(D -c "SELECT count(*) FROM app.upd")" 10
check "update mode: failed new keys are not in the snapshot" eq "$(S -c "SELECT count(*) FROM retl.t__upd__snap WHERE k IN (11, 12)")/$(S -c "SELECT count(*) FROM retl.t__upd__snap")" "0/10"
check "NOT_FOUND is permanent" eq "$(S -c "SELECT string_agg(DISTINCT class, ',') FROM retl.t__upd__errors")" permanent
D -c "INSERT INTO app.upd VALUES (11, 'x'), (12, 'y')"
run upd run
check "update mode: NOT_FOUND rows unchanged are not resent" eq "$(rows changed)/$(rows skippedPermanent)/$(D -c "SELECT name FROM app.upd WHERE id=12")" "0/2/y"
run upd run --retry-failed
check "update mode: --retry-failed resends and succeeds once the rows exist" eq "$(rows updated)/$(rows failed)/$(D -c "SELECT name FROM app.upd WHERE id=12")/$(S -c "SELECT count(*) FROM retl.t__upd__errors")" "2/0/new12/0"

# 11b. nulls: Write overwrites with NULL, Skip keeps the destination's value (Upsert and Update)
D -c "CREATE TABLE app.nul (id int PRIMARY KEY, a text, b text)" -c "INSERT INTO app.nul VALUES (1, 'typed a', 'typed b'), (2, 'typed a', 'typed b')"
S -c "CREATE TABLE nul_src (id int, a text, b text)" -c "INSERT INTO nul_src VALUES (1, NULL, NULL), (2, 'x', NULL), (3, NULL, 'new')"
for nm in Upsert Update; do
  job "nul-${nm,,}" "$nm" "SELECT id, a, b FROM nul_src" app.nul id "a:a b:b"
  sed -i 's/{source: b, destination: b}/{source: b, destination: b, nulls: Skip}/' "$W/nul-${nm,,}.yaml"
done
run nul-upsert run
check "nulls (Upsert): Write sets NULL, Skip keeps the value, a new row gets NULL" \
  eq "$(D -c "SELECT string_agg(id || ':' || coalesce(a, '-') || ':' || coalesce(b, '-'), ',' ORDER BY id) FROM app.nul")" "1:-:typed b,2:x:typed b,3:-:new"
D -c "UPDATE app.nul SET a = 'typed again', b = 'typed again'"
S -c "UPDATE nul_src SET a = NULL"
run nul-update run
check "nulls (Update): Write sets NULL, Skip keeps the value" \
  eq "$(D -c "SELECT string_agg(id || ':' || coalesce(a, '-') || ':' || coalesce(b, '-'), ',' ORDER BY id) FROM app.nul")" "1:-:typed again,2:-:typed again,3:-:new"

# 11d. lookups: a column names its parent by a unique column of another table;
# the parent's primary key is written, resolved in the batch statement
D -c "CREATE TABLE app.accounts (id int PRIMARY KEY, code text UNIQUE, name text)" \
  -c "INSERT INTO app.accounts VALUES (10, 'A-1', 'one'), (20, 'A-2', 'two')" \
  -c "CREATE TABLE app.contacts (id int PRIMARY KEY, name text, account_id bigint)" \
  -c "CREATE TABLE app.pairs (a int, b int, code text UNIQUE, PRIMARY KEY (a, b))"
S -c "CREATE TABLE lk_src (id int PRIMARY KEY, name text, acct text)" \
  -c "INSERT INTO lk_src VALUES (1, 'c1', 'A-1'), (2, 'c2', 'A-2'), (3, 'c3', 'A-LATER'), (4, 'c4', NULL)"
lkjob() { # lkjob NAME MODE OBJECT FIELD [nulls]
  job "$1" "$2" "SELECT id, name, acct FROM lk_src" app.contacts id "name:name acct:account_id"
  sed -i "s/{source: acct, destination: account_id}/{source: acct, destination: account_id, lookup: {object: $3, field: $4}${5:+, nulls: $5}}/" "$W/$1.yaml"
}
contacts() { D -c "SELECT string_agg(id || ':' || coalesce(account_id::text, '-'), ',' ORDER BY id) FROM app.contacts"; }
lkjob lk Upsert app.accounts code
run lk run
check "lookup (Upsert): parents found by their code, their id written, NULL stays NULL" \
  eq "$(rows inserted)/$(rows failed)/$(contacts)" "3/1/1:10,2:20,4:-"
check "lookup: an unknown parent fails that row alone, LOOKUP_NOT_FOUND, transient, naming the spec field" \
  eq "$(S -c "SELECT key || ' ' || code || ' ' || class || ' ' || fields FROM retl.t__lk__errors")/$(S -c "SELECT count(*) FROM retl.t__lk__errors WHERE message LIKE '%app.accounts with code = A-LATER (spec.mappings[1].lookup)%'")" "3 LOOKUP_NOT_FOUND transient account_id/1"
run lk run
check "lookup: retried on the next run while the parent is still missing (attempts 2)" \
  eq "$(rows changed)/$(rows failed)/$(S -c "SELECT attempts FROM retl.t__lk__errors")" "1/1/2"
D -c "INSERT INTO app.accounts VALUES (30, 'A-LATER', 'later')"
run lk run
check "lookup: succeeds once the parent exists" eq "$(rows inserted)/$(rows failed)/$(contacts)/$(S -c "SELECT count(*) FROM retl.t__lk__errors")" "1/0/1:10,2:20,3:30,4:-/0"
S -c "UPDATE lk_src SET acct = 'A-2' WHERE id = 1" -c "UPDATE lk_src SET acct = NULL WHERE id = 2"
lkjob lku Update app.accounts code Skip
run lku run
check "lookup (Update) with nulls Skip: a new parent written, a NULL keeps the current one" \
  eq "$(rows updated)/$(rows failed)/$(contacts)" "4/0/1:20,2:20,3:30,4:-"
lkjob lkbad1 Upsert app.nope code
run lkbad1 run
check "lookup: a table that does not exist is refused before writing, naming the spec field" \
  bash -c '[ "$0" != 0 ] && grep -q "spec.mappings\[1\].lookup.object: table app.nope does not exist" "$1"' "$RC" "$W/lkbad1.log"
lkjob lkbad2 Upsert app.accounts name
run lkbad2 run
check "lookup: a field without a unique index of its own is refused" \
  bash -c '[ "$0" != 0 ] && grep -q "spec.mappings\[1\].lookup.field: column name on app.accounts has no unique constraint" "$1"' "$RC" "$W/lkbad2.log"
lkjob lkbad3 Upsert app.pairs code
run lkbad3 run
check "lookup: a parent table without a single-column primary key is refused" \
  bash -c '[ "$0" != 0 ] && grep -q "spec.mappings\[1\].lookup.object: app.pairs has no single-column primary key" "$1"' "$RC" "$W/lkbad3.log"
# A lookup onto an integer unique column: a value that is no integer at all
# fails alone, and does not turn the rest of its batch into text matches
# (007 is the parent 7).
D -c "CREATE TABLE app.regions (id int PRIMARY KEY, num int UNIQUE)" -c "INSERT INTO app.regions VALUES (70, 7), (80, 8)" \
  -c "CREATE TABLE app.places (id int PRIMARY KEY, region_id int)"
S -c "CREATE TABLE pl_src (id int PRIMARY KEY, reg text)" -c "INSERT INTO pl_src VALUES (1, '7'), (2, 'abc'), (3, '007'), (4, NULL), (5, '8')"
job lkint Upsert "SELECT id, reg FROM pl_src" app.places id "reg:region_id"
sed -i "s/{source: reg, destination: region_id}/{source: reg, destination: region_id, lookup: {object: app.regions, field: num}}/" "$W/lkint.yaml"
run lkint run
check "lookup on an integer column: 'abc' fails alone (LOOKUP_NOT_FOUND), '007' finds parent 7 in the same batch" \
  eq "$(rows inserted)/$(rows failed)/$(D -c "SELECT string_agg(id || ':' || coalesce(region_id::text, '-'), ',' ORDER BY id) FROM app.places")/$(S -c "SELECT key || ' ' || code FROM retl.t__lkint__errors")" \
  "4/1/1:70,3:70,4:-,5:80/2 LOOKUP_NOT_FOUND"
# Two lookups in one job: a row fails naming the lookup whose parent is missing.
D -c "CREATE TABLE app.places2 (id int PRIMARY KEY, region_id int, account_id bigint)"
S -c "CREATE TABLE pl2_src (id int PRIMARY KEY, reg text, acct text)" \
  -c "INSERT INTO pl2_src VALUES (1, '7', 'A-1'), (2, '9', 'A-1'), (3, '8', 'A-NONE'), (4, NULL, NULL)"
job lk2 Upsert "SELECT id, reg, acct FROM pl2_src" app.places2 id "reg:region_id acct:account_id"
sed -i -e "s/{source: reg, destination: region_id}/{source: reg, destination: region_id, lookup: {object: app.regions, field: num}}/" \
  -e "s/{source: acct, destination: account_id}/{source: acct, destination: account_id, lookup: {object: app.accounts, field: code}}/" "$W/lk2.yaml"
run lk2 run
check "two lookups: both parents written; a row fails alone naming the lookup (field, spec path) whose parent is missing" \
  eq "$(rows inserted)/$(D -c "SELECT string_agg(id || ':' || coalesce(region_id::text, '-') || ':' || coalesce(account_id::text, '-'), ',' ORDER BY id) FROM app.places2")/$(S -c "SELECT string_agg(key || ' ' || fields || ' ' || (message LIKE '%(spec.mappings[' || CASE fields WHEN 'region_id' THEN 0 ELSE 1 END || '].lookup)%')::text, ',' ORDER BY key) FROM retl.t__lk2__errors")" \
  "2/1:70:10,4:-:-/2 region_id true,3 account_id true"
# The catalog checks name the spec field: a column that does not exist, and a
# destination column that cannot hold the parent's primary key (text into bigint).
D -c "CREATE TABLE app.tcodes (code text PRIMARY KEY, num int UNIQUE)"
lkjob lkbad4 Upsert app.accounts nope
run lkbad4 run
check "lookup: a field that is not a column of the parent is refused" \
  bash -c '[ "$0" != 0 ] && grep -q "spec.mappings\[1\].lookup.field: column nope does not exist on app.accounts" "$1"' "$RC" "$W/lkbad4.log"
lkjob lkbad5 Upsert app.tcodes num
run lkbad5 run
check "lookup: a destination column that cannot hold the parent's primary key is refused" \
  bash -c '[ "$0" != 0 ] && grep -q "spec.mappings\[1\].destination: column account_id is bigint and cannot hold app.tcodes.s primary key code (text)" "$1"' "$RC" "$W/lkbad5.log"
D -c "CREATE TABLE app.bigaccts (id bigint PRIMARY KEY, code text UNIQUE)" -c "CREATE TABLE app.small (id int PRIMARY KEY, name text, account_id int)"
job lkbad6 Upsert "SELECT id, name, acct FROM lk_src" app.small id "name:name acct:account_id"
sed -i "s/{source: acct, destination: account_id}/{source: acct, destination: account_id, lookup: {object: app.bigaccts, field: code}}/" "$W/lkbad6.yaml"
run lkbad6 run
check "lookup: an integer column for a bigint primary key is refused (it would overflow on some rows only)" \
  bash -c '[ "$0" != 0 ] && grep -q "spec.mappings\[1\].destination: column account_id is integer and cannot hold app.bigaccts.s primary key id (bigint)" "$1"' "$RC" "$W/lkbad6.log"

# 11c. deletes: only keys the job synced leave the destination (tracked mirror), with the guard
D -c "CREATE TABLE app.del (id int PRIMARY KEY, name text)" -c "INSERT INTO app.del VALUES (1000, 'typed by someone else')"
S -c "CREATE TABLE del_src (id int PRIMARY KEY, name text)" -c "INSERT INTO del_src SELECT g, 'n' || g FROM generate_series(1, 20) g"
job del Upsert "SELECT id, name FROM del_src" app.del id "name:name" "  batchSize: 3
  deletes: {mode: Delete, maxPercent: 20}"
run del run
check "deletes: a first run deletes nothing (not even rows it does not know)" eq "$RC/$(rows deleted)/$(D -c "SELECT count(*) FROM app.del")" "0/0/21"
S -c "DELETE FROM del_src WHERE id IN (2, 4, 6, 8, 10)"
run del plan
check "deletes: plan shows 5 of 20 synced keys and that the guard trips" eq "$(jq_ "$LAST" "(d['deleted'], d['synced'], d['guardTrips'])")" "(5, 20, True)"
run del run
check "deletes: 25% > maxPercent 20 fails before writing (exit 1, reason DeleteGuard, both numbers)" \
  eq "$RC/$(jq_ "$LAST" "d['reason']")/$(jq_ "$LAST" "'5 of 20' in d['message'] and 'maxPercent 20' in d['message']")/$(D -c "SELECT count(*) FROM app.del")" "1/DeleteGuard/True/21"
S -c "INSERT INTO del_src VALUES (10, 'n10')"
run del plan
check "deletes: exactly maxPercent (4 of 20) passes the guard in plan" eq "$(jq_ "$LAST" "(d['deleted'], d['guardTrips'])")" "(4, False)"
run del run
check "deletes: exactly maxPercent deletes the 4 records, nothing else" \
  eq "$RC/$(rows deleted)/$(rows changed)/$(D -c "SELECT string_agg(id::text, ',' ORDER BY id) FROM app.del WHERE id IN (2, 4, 6, 8, 10, 1000)")" "0/4/4/10,1000"
check "deletes: deleted keys leave the snapshot" eq "$(S -c "SELECT count(*) FROM retl.t__del__snap WHERE k IN (2, 4, 6, 8)")" 0
run del run
check "deletes: nothing left to delete next run" eq "$(rows deleted)/$(rows changed)" "0/0"
S -c "INSERT INTO del_src VALUES (2, 'back')"
run del run
check "deletes: a deleted key that comes back is inserted again" eq "$(rows inserted)/$(D -c "SELECT name FROM app.del WHERE id = 2")" "1/back"
D -c "DELETE FROM app.del WHERE id = 12"
S -c "DELETE FROM del_src WHERE id = 12"
run del run
check "deletes: a record already gone counts as deleted" eq "$RC/$(rows deleted)/$(rows failed)" "0/1/0"
D -c "CREATE TABLE app.del_child (id int PRIMARY KEY, parent int REFERENCES app.del (id))" -c "INSERT INTO app.del_child VALUES (1, 14)"
S -c "DELETE FROM del_src WHERE id IN (14, 15)"
run del run
check "deletes: a rejected delete fails alone, into errors as operation delete (23503, transient)" \
  eq "$(rows deleted)/$(rows failed)/$(S -c "SELECT key || ' ' || operation || ' ' || code || ' ' || class FROM retl.t__del__errors")/$(D -c "SELECT count(*) FROM app.del WHERE id IN (14, 15)")" "1/1/14 delete 23503 transient/1"
run del run
check "deletes: the failed delete is tried again next run" eq "$(rows failed)/$(S -c "SELECT attempts FROM retl.t__del__errors")" "1/2"
D -c "DELETE FROM app.del_child"
run del run
check "deletes: once possible, it is deleted and leaves errors" eq "$(rows deleted)/$(S -c "SELECT count(*) FROM retl.t__del__errors")/$(D -c "SELECT count(*) FROM app.del WHERE id = 14")" "1/0/0"
check "deletes: destination equals the model, plus the record someone else created" \
  eq "$(D -c "SELECT string_agg(id || name, ',' ORDER BY id) FROM app.del")" "$(S -c "SELECT string_agg(id || name, ',' ORDER BY id) FROM (SELECT id, name FROM del_src UNION ALL SELECT 1000, 'typed by someone else') x")"
S -c "DELETE FROM del_src WHERE id > 15"
job del Upsert "SELECT id, name FROM del_src" app.del id "name:name" "  batchSize: 3
  deletes: {mode: Delete, maxPercent: 100}"
run del run
check "deletes: maxPercent 100 turns the guard off" eq "$RC/$(rows deleted)" "0/5"
job del Upsert "SELECT id, name FROM del_src WHERE id > 100" app.del id "name:name" "  deletes: {mode: Delete, maxPercent: 100}"
run del run
check "deletes: a new baseline (spec changed) deletes nothing" eq "$RC/$(rows deleted)/$(D -c "SELECT count(*) FROM app.del")" "0/0/10"

# 11d. Clear: every mapped column but the key set to NULL, once; the row stays
D -c "CREATE TABLE app.clr (id int PRIMARY KEY, name text, score int)"
S -c "CREATE TABLE clr_src (id int PRIMARY KEY, name text, score int)" -c "INSERT INTO clr_src SELECT g, 'n' || g, g FROM generate_series(1, 10) g"
job clr Upsert "SELECT id, name, score FROM clr_src" app.clr id "name:name score:score" "  deletes: {mode: Clear}"
run clr run
S -c "DELETE FROM clr_src WHERE id IN (3, 7)"
run clr run
check "clear: 2 rows cleared, kept, key intact" eq "$RC/$(rows cleared)/$(rows deleted)/$(D -c "SELECT string_agg(id || ':' || coalesce(name, '-') || ':' || coalesce(score::text, '-'), ',' ORDER BY id) FROM app.clr WHERE id IN (2, 3, 7)")" "0/2/0/2:n2:2,3:-:-,7:-:-"
run clr run
check "clear: cleared once, not again" eq "$(rows cleared)/$(rows changed)" "0/0"
S -c "INSERT INTO clr_src VALUES (3, 'back', 33)"
run clr run
check "clear: a cleared key that comes back is written again" eq "$(rows changed)/$(D -c "SELECT name || score FROM app.clr WHERE id = 3")" "1/back33"

# 11e. SIGKILL during a delete batch, then a rerun: destination equals the model
S -c "CREATE TABLE kdel (id int PRIMARY KEY, name text)" -c "INSERT INTO kdel SELECT g, 'k' || g FROM generate_series(1, 20000) g"
D -c "CREATE TABLE app.kdel (id int PRIMARY KEY, name text)" \
  -c "CREATE FUNCTION app.slow() RETURNS trigger LANGUAGE plpgsql AS \$\$BEGIN PERFORM pg_sleep(0.05); RETURN NULL; END\$\$" \
  -c "CREATE TRIGGER slow AFTER DELETE ON app.kdel FOR EACH STATEMENT EXECUTE FUNCTION app.slow()"
job kdel Upsert "SELECT id, name FROM kdel" app.kdel id "name:name" "  batchSize: 100
  deletes: {mode: Delete}"
run kdel run
S -c "DELETE FROM kdel WHERE id % 5 = 0"
RETL_TERMINATION_LOG="$W/kdel.term" "$ENGINE" run -f "$W/kdel.yaml" -f "$W/secrets.yaml" >/dev/null 2>"$W/kdel.log" &
pid=$!
for _ in $(seq 1 400); do
  n=$(S -c "SELECT count(*) FROM retl.t__kdel__snap" 2>/dev/null || echo 20000)
  [ "${n:-20000}" -le 19000 ] && break
  sleep 0.05
done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
snap_at_kill=$(S -c "SELECT count(*) FROM retl.t__kdel__snap")
dst_at_kill=$(D -c "SELECT count(*) FROM app.kdel")
check "deletes: killed mid-delete (partial progress)" test "$snap_at_kill" -lt 20000 -a "$snap_at_kill" -gt 16000
check "deletes: destination ahead of state by at most one batch" test $((snap_at_kill - dst_at_kill)) -ge 0 -a $((snap_at_kill - dst_at_kill)) -le 100
run kdel run
log_if_failed kdel
check "deletes: the rerun deletes the rest" eq "$RC/$((20000 - snap_at_kill + $(rows deleted)))" "0/4000"
check "deletes: after SIGKILL and rerun the destination equals the model" \
  eq "$(D -c "SELECT count(*), sum(id) FROM app.kdel")" "$(S -c "SELECT count(*), sum(id) FROM kdel")"

# 12. spec change starts a new baseline
job ins Insert "SELECT id, name, 1 AS extra FROM ins_src" app.ins id "name:name"
run ins run
check "insert mode keeps inserted keys across a new baseline" eq "$RC/$(rows changed)" "0/0"
check "new baseline announced" grep -q "new baseline" <<<"$(jq_ "$LAST" "d['message']")"
job upd Update "SELECT id, upper(name) AS name FROM upd_src" app.upd id "name:name"
run upd run
check "changed query re-sends every row (Update)" eq "$(rows changed)/$(D -c "SELECT name FROM app.upd WHERE id=3")" "12/NEW3"

# 13. --from-env (run pod form)
S -c "UPDATE items SET name = 'via env' WHERE id = 100"
JOBJSON=$(python3 -c "
import json,sys
print(json.dumps({'apiVersion':'retl.io/v1alpha1','kind':'ReverseEtlJob','metadata':{'name':'items','namespace':'t','uid':'u1','generation':3},
 'spec':{'source':{'type':'postgres','secretRef':{'name':'wh'},'query':'SELECT * FROM items'},
 'destination':{'type':'postgres','secretRef':{'name':'app'},'object':'app.items'},'mode':'Upsert','key':{'source':'id','destination':'id'},
 'batchSize':100,'mappings':[{'source':c,'destination':c} for c in sys.argv[1].split()]}}))" "name price active d ts tstz j tags blob f")
OUT=$(env -i PATH="$PATH" ASAN_OPTIONS="$ASAN_OPTIONS" RETL_JOB="$JOBJSON" RETL_RUN=42 RETL_TERMINATION_LOG="$W/env.term" \
  RETL_SOURCE_url="postgresql://postgres@127.0.0.1:$PGPORT/src" RETL_SOURCE_password="$PGPASSWORD" \
  RETL_DESTINATION_url="postgresql://postgres:$PGPASSWORD@127.0.0.1:$PGPORT/dst" \
  "$ENGINE" run --from-env 2>"$W/env.log"); RC=$?; LAST=$(tail -n 1 <<<"$OUT")
check "--from-env run exits 0" eq "$RC" 0
check "--from-env run number and change" eq "$(jq_ "$LAST" "(d['run'], d['rows']['updated'])")" "(42, 1)"
check "--from-env termination message written" eq "$(cat "$W/env.term")" "$LAST"
OUT=$(env -i PATH="$PATH" ASAN_OPTIONS="$ASAN_OPTIONS" RETL_JOB='{"kind":"ReverseEtlJob"}' RETL_TERMINATION_LOG="$W/env2.term" "$ENGINE" run --from-env 2>/dev/null); RC=$?
check "--from-env invalid job exits 2 with a summary" eq "$RC/$(jq_ "$(cat "$W/env2.term")" "d['result']")" "2/Failed"

# 14. SIGKILL mid-run, then resume: destination equals source
S -c "CREATE TABLE big (id int PRIMARY KEY, name text, price numeric(40,12), active bool, d date, ts timestamp, tstz timestamptz, j jsonb, tags text[], blob bytea, f float8)" \
  -c "INSERT INTO big SELECT g, md5(g::text), g / 7.0, g % 2 = 0, date '2020-01-01' + g % 1000, timestamp '2020-01-01' + g * interval '1 second', now(), jsonb_build_object('g', g), ARRAY[g::text], decode(md5(g::text), 'hex'), g / 3.0 FROM generate_series(1, 300000) g"
D -c "CREATE TABLE app.big ($TYPES)"
job big Upsert "SELECT * FROM big" app.big id "$MAPS" "  batchSize: 2000"
RETL_TERMINATION_LOG="$W/big.term" "$ENGINE" run -f "$W/big.yaml" -f "$W/secrets.yaml" >/dev/null 2>"$W/big.log" &
pid=$!
for _ in $(seq 1 600); do
  n=$(S -c "SELECT count(*) FROM retl.t__big__snap" 2>/dev/null || echo 0)
  [ "${n:-0}" -ge 20000 ] && break
  sleep 0.05
done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
snap_at_kill=$(S -c "SELECT count(*) FROM retl.t__big__snap")
dst_at_kill=$(D -c "SELECT count(*) FROM app.big")
check "killed mid-run (partial progress)" test "$snap_at_kill" -gt 0 -a "$snap_at_kill" -lt 300000
check "destination ahead of state by at most one batch" test $((dst_at_kill - snap_at_kill)) -ge 0 -a $((dst_at_kill - snap_at_kill)) -le 2000
S -c "UPDATE big SET name = 'after kill' WHERE id IN (1, 299999)"
run big run
log_if_failed big
check "resume after SIGKILL exits 0" eq "$RC" 0
check "resume sends only what was not committed" test "$(rows changed)" -le $((300000 - snap_at_kill + 2))
check "destination equals source after resume" same big app.big
check "a first sync killed mid-run: the next run gives the snapshot its primary key" eq "$(S -c "SELECT count(*) FROM pg_index WHERE indrelid = 'retl.t__big__snap'::regclass AND indisprimary")" 1

# 15. the destination goes away mid-run: run fails clearly, nothing lost
S -c "UPDATE big SET name = 'wave2 ' || id WHERE id % 3 = 0"
RETL_TERMINATION_LOG="$W/big2.term" "$ENGINE" run -f "$W/big.yaml" -f "$W/secrets.yaml" --progress-interval 0.2 >"$W/big2.out" 2>"$W/big2.log" &
pid=$!
for _ in $(seq 1 600); do
  n=$(D -c "SELECT count(*) FROM app.big WHERE name LIKE 'wave2%'" 2>/dev/null || echo 0)
  [ "${n:-0}" -ge 10000 ] && break
  sleep 0.05
done
D -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'dst' AND application_name = 'retl-engine'" >/dev/null
wait $pid; RC=$?
LAST=$(tail -n 1 "$W/big2.out")
check "destination lost: run fails with exit 1" eq "$RC" 1
msg=$(jq_ "$LAST" "d['message']")
check "destination lost: clear message" grep -q "destination: connection lost" <<<"$msg" || echo "    message: $msg"
check "progress lines logged at an interval" grep -q '"msg":"progress"' "$W/big2.log"
run big run
check "after destination loss the next run completes" eq "$RC" 0
check "destination equals source after destination loss" same big app.big

# 15b. the source goes away mid-run: run fails clearly, nothing lost
S -c "UPDATE big SET name = 'wave3 ' || id WHERE id % 2 = 0"
RETL_TERMINATION_LOG="$W/big3.term" "$ENGINE" run -f "$W/big.yaml" -f "$W/secrets.yaml" >"$W/big3.out" 2>"$W/big3.log" &
pid=$!
for _ in $(seq 1 600); do
  n=$(D -c "SELECT count(*) FROM app.big WHERE name LIKE 'wave3%'" 2>/dev/null || echo 0)
  [ "${n:-0}" -ge 10000 ] && break
  sleep 0.05
done
S -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'src' AND application_name = 'retl-engine'" >/dev/null
wait $pid; RC=$?
LAST=$(tail -n 1 "$W/big3.out")
msg=$(jq_ "$LAST" "d['message']")
check "source lost: run fails with exit 1" eq "$RC" 1
check "source lost: clear message" grep -q "source.*connection lost" <<<"$msg" || echo "    message: $msg"
run big run
check "after source loss the next run completes" eq "$RC" 0
check "destination equals source after source loss" same big app.big

# 15c. SIGTERM (pod deletion): stops after the batch in flight, saves what was loaded
S -c "UPDATE big SET name = 'wave4 ' || id WHERE id % 2 = 1"
RETL_TERMINATION_LOG="$W/big4.term" "$ENGINE" run -f "$W/big.yaml" -f "$W/secrets.yaml" >"$W/big4.out" 2>"$W/big4.log" &
pid=$!
for _ in $(seq 1 600); do
  n=$(D -c "SELECT count(*) FROM app.big WHERE name LIKE 'wave4%'" 2>/dev/null || echo 0)
  [ "${n:-0}" -ge 10000 ] && break
  sleep 0.05
done
kill -TERM $pid; wait $pid; RC=$?
LAST=$(tail -n 1 "$W/big4.out")
check "SIGTERM: run stops with exit 1 and a summary" eq "$RC/$(jq_ "$LAST" "d['result']")" "1/Failed"
check "SIGTERM: message says so" grep -q "stopped by a signal" <<<"$(jq_ "$LAST" "d['message']")"
run big plan
check "SIGTERM: loaded batches were saved (the next run leaves them out)" test "$(( $(S -c "SELECT count(*) FROM big WHERE name LIKE 'wave4%'") - $(jq_ "$LAST" "d['update']") ))" -ge 2000
run big run
check "after SIGTERM the next run completes and destination equals source" eq "$RC/$(same big app.big && echo same)" "0/same"

# 16. describe and cleanup
run items describe
check "describe lists destination columns" eq "$(python3 -c "import json,sys; d=json.load(sys.stdin); print(d['valid'], d['columns'][0]['name'], d['externalIdFields'])" <<<"$OUT")" "True id ['id']"
run big cleanup
check "cleanup exits 0" eq "$RC" 0
check "cleanup drops the state tables and the row counter" eq "$(S -c "SELECT count(*) FROM pg_class WHERE relname LIKE 't__big__%'")" 0

# 16b. more types through a `table:` source: json (staged as text), uuid, int[], varchar(n)
S -c "CREATE SCHEMA an" -c "CREATE TABLE an.more (id uuid PRIMARY KEY, js json, nums int[], code varchar(8), r real)" \
  -c "INSERT INTO an.more VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"b\": 1,  \"a\": [true, null]}', '{1,NULL,3}', 'abc', 1.5), ('b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', NULL, '{}', NULL, NULL)"
D -c "CREATE TABLE app.more (id uuid PRIMARY KEY, js json, nums int[], code varchar(3), r real)"
cat >"$W/more.yaml" <<EOF
apiVersion: retl.io/v1alpha1
kind: ReverseEtlJob
metadata: {name: more, namespace: t}
spec:
  source: {type: postgres, secretRef: {name: wh}, table: an.more}
  destination: {type: postgres, secretRef: {name: app}, object: app.more}
  mode: Upsert
  key: {source: id, destination: id}
  mappings: [{source: js, destination: js}, {source: nums, destination: nums}, {source: code, destination: code}, {source: r, destination: r}]
EOF
run more run
check "table: source with json, uuid, int[], real" eq "$RC/$(rows inserted)" "0/2"
check "json keeps its text, int[] with NULL element arrives" eq "$(D -c "SELECT js::text || ' ' || nums::text || ' ' || r FROM app.more WHERE code = 'abc'")" '{"b": 1,  "a": [true, null]} {1,NULL,3} 1.5'
check "empty array arrives empty" eq "$(D -c "SELECT nums::text FROM app.more WHERE code IS NULL")" '{}'
S -c "UPDATE an.more SET code = 'toolong' WHERE code = 'abc'"
run more run
check "value too long for varchar(3) fails that row with 22001" eq "$(rows failed)/$(S -c "SELECT code FROM retl.t__more__errors")" "1/22001"
S -c "UPDATE an.more SET js = '{\"b\": 2}', code = 'ok' WHERE code = 'toolong'"
run more run
check "json change detected and row recovered" eq "$(rows updated)/$(D -c "SELECT js::text FROM app.more WHERE code = 'ok'")" '1/{"b": 2}'

# 16c. batches of new keys are copied straight into the table; what a COPY
# can't do falls back: a rejected row (fails alone), keys the destination
# already holds (updated), rules (COPY skips them, so never used)
D -c "CREATE TABLE app.cp_log (what text)" \
  -c "CREATE FUNCTION app.cp_log() RETURNS trigger LANGUAGE plpgsql AS \$\$BEGIN INSERT INTO app.cp_log VALUES (split_part(current_query(), ' ', 1)); RETURN NULL; END\$\$"
for t in cp cp2 cpr; do
  D -c "CREATE TABLE app.$t (id int PRIMARY KEY, name text CHECK (name <> 'bad'), n numeric)" \
    -c "CREATE TRIGGER ${t}_log AFTER INSERT ON app.$t FOR EACH STATEMENT EXECUTE FUNCTION app.cp_log()"
done
D -c "CREATE TABLE app.cpr_audit (id int)" -c "CREATE RULE cpr_audit AS ON INSERT TO app.cpr DO ALSO INSERT INTO app.cpr_audit VALUES (NEW.id)" \
  -c "INSERT INTO app.cp VALUES (5, 'old', 0)" -c "TRUNCATE app.cp_log"
S -c "CREATE TABLE cp_src (id int, name text, n numeric)" -c "INSERT INTO cp_src SELECT g, CASE WHEN g = 150 THEN 'bad' ELSE 'n' || g END, g / 3.0 FROM generate_series(1, 300) g"
job cp2 Upsert "SELECT id, name, n FROM cp_src" app.cp2 id "name:name n:n" "  batchSize: 100"
run cp2 run
check "COPY path: a rejected row fails alone" eq "$RC/$(rows inserted)/$(rows failed)/$(S -c "SELECT key || ' ' || code FROM retl.t__cp2__errors")" "0/299/1/150 23514"
check "COPY path: the batches without it were copied" eq "$(D -c "SELECT count(*) FROM app.cp_log WHERE what = 'COPY'")" 2
check "COPY path: destination equals source but the rejected row" eq "$(D -c "SELECT count(*), sum(n) FROM app.cp2")" "$(S -c "SELECT count(*), sum(n) FROM cp_src WHERE id <> 150")"
S -c "UPDATE cp_src SET name = 'fixed' WHERE id = 150"
run cp2 run
check "COPY path: the rejected row is retried and loads" eq "$(rows inserted)/$(D -c "SELECT name FROM app.cp2 WHERE id = 150")" "1/fixed"
D -c "TRUNCATE app.cp_log"
job cp Upsert "SELECT id, name, n FROM cp_src" app.cp id "name:name n:n" "  batchSize: 100"
run cp run
check "COPY path: keys the destination holds are updated, the rest inserted" eq "$RC/$(rows inserted)/$(rows updated)/$(D -c "SELECT name FROM app.cp WHERE id = 5")" "0/299/1/n5"
check "COPY path: after a conflict the run stops trying COPY" eq "$(D -c "SELECT count(*) FROM app.cp_log WHERE what = 'COPY'")" 0
job cpr Upsert "SELECT id, name, n FROM cp_src" app.cpr id "name:name n:n" "  batchSize: 100"
run cpr run
check "COPY path: a table with rules gets INSERTs (rules applied)" eq "$RC/$(D -c "SELECT count(*) FROM app.cpr_audit")/$(D -c "SELECT count(*) FROM app.cp_log WHERE what = 'COPY'")" "0/300/0"

# 16d. text keys: duplicates are found (counted by their bytes) and named
S -c "CREATE TABLE tk_src (id varchar(8), name text)" -c "INSERT INTO tk_src VALUES ('a', '1'), ('B', '2'), ('b', '3'), ('a', '4')"
D -c "CREATE TABLE app.tk (id text PRIMARY KEY, name text)"
job tk Upsert "SELECT id, name FROM tk_src" app.tk id "name:name"
run tk run
check "duplicate text keys fail the run, named" eq "$RC/$(grep -c 'duplicate values of key column \\"id\\": a (the key' <<<"$LAST")" "1/1"
S -c "DELETE FROM tk_src WHERE name = '4'"
run tk run
check "text keys differing in case only are distinct" eq "$RC/$(rows inserted)" "0/3"

# 16e. a first sync streams the query: no delta table, (key, hash) copied into
# the snapshot batch by batch; failed rows saved by key, NULL keys refused
# before anything is sent; the join strategy still stages (old path)
S -c "CREATE TABLE fs_ddl (tbl text)" \
  -c "CREATE FUNCTION fs_ddl_log() RETURNS event_trigger LANGUAGE plpgsql AS \$\$BEGIN INSERT INTO public.fs_ddl SELECT object_identity FROM pg_event_trigger_ddl_commands() WHERE object_type = 'table'; END\$\$" \
  -c "CREATE EVENT TRIGGER fs_ddl ON ddl_command_end EXECUTE FUNCTION fs_ddl_log()" \
  -c "CREATE TABLE fs_src (id timestamptz, name text, price numeric)" \
  -c "INSERT INTO fs_src SELECT timestamptz '2024-01-01 00:00:00.123456+00' + g * interval '1 hour', 'n' || g, CASE WHEN g % 50 = 7 THEN -5 ELSE g END FROM generate_series(1, 200) g" >/dev/null
D -c "CREATE TABLE app.fs (id timestamptz PRIMARY KEY, name text, price numeric CHECK (price > -1))"
job fs Upsert "SELECT id, name, price FROM fs_src" app.fs id "name:name price:price" "  batchSize: 30"
run fs plan
check "plan of a streamed first sync: 200 extracted and to send, nothing written" \
  eq "$RC/$(jq_ "$LAST" "(d['extracted'], d['changed'])")/$(S -c "SELECT to_regclass('retl.t__fs__snap') IS NULL")/$(D -c "SELECT count(*) FROM app.fs")" "0/(200, 200)/t/0"
run fs run
check "streamed first sync: 200 extracted, 196 inserted, the 4 bad prices failed" \
  eq "$RC/$(rows extracted)/$(rows changed)/$(rows inserted)/$(rows failed)" "0/200/200/196/4"
check "streamed first sync: the engine says the query is streamed" grep -q 'the query is streamed, no delta table' "$W/fs.log"
check "streamed first sync: no delta or stage table was created" \
  eq "$(S -c "SELECT count(*) FROM fs_ddl WHERE tbl LIKE 'retl.t__fs__%' AND tbl NOT LIKE '%__snap' AND tbl NOT LIKE '%__errors' AND tbl NOT LIKE '%__meta'")" 0
check "streamed first sync: the snapshot holds the 196 loaded keys (status H, a hash each)" \
  eq "$(S -c "SELECT count(*) || ' ' || count(h) || ' ' || min(st) || max(st) FROM retl.t__fs__snap")" "196 196 HH"
check "streamed first sync: destination equals the good rows (timestamptz keys exact)" \
  diff <(S -c "COPY (SELECT id, name, price FROM fs_src WHERE price > -1 ORDER BY id) TO STDOUT") \
  <(D -c "COPY (SELECT id, name, price FROM app.fs ORDER BY id) TO STDOUT")
check "streamed first sync: the failed rows are in errors by canonical key, class permanent, row and hash kept" \
  eq "$(S -c "SELECT count(*) || ' ' || count(h) || ' ' || min(class) || ' ' || min(code) FROM retl.t__fs__errors")/$(S -c "SELECT (\"row\"->>'price') || ' ' || (\"row\"->>'name') FROM retl.t__fs__errors ORDER BY key LIMIT 1")/$(S -c "SELECT key FROM retl.t__fs__errors ORDER BY key LIMIT 1")" \
  "4 4 permanent 23514/-5 n7/2024-01-01 07:00:00.123456+00:00"
run fs run
check "after a streamed first sync the incremental diff agrees: nothing changed, the 4 failed rows skipped as permanent" \
  eq "$RC/$(rows changed)/$(rows skippedPermanent)" "0/0/4"
S -c "UPDATE fs_src SET price = 1 WHERE name = 'n7'" >/dev/null
run fs run
check "a failed row of the streamed sync is sent once it changes" eq "$RC/$(rows changed)/$(rows inserted)" "0/1/1"
check "destination equals the source's good rows" eq "$(D -c "SELECT count(*) FROM app.fs")/$(S -c "SELECT count(*) FROM fs_src WHERE price > -1")" "197/197"
S -c "INSERT INTO fs_src VALUES (NULL, 'no key', 1)" >/dev/null
job fsn Upsert "SELECT id, name, price FROM fs_src" app.fs id "name:name price:price"
D -c "TRUNCATE app.fs"
run fsn run
check "streamed first sync: a NULL key fails the run before anything is sent" \
  eq "$RC/$(grep -c 'key column \\"id\\" is NULL in 1 row(s)' <<<"$LAST")/$(D -c "SELECT count(*) FROM app.fs")/$(S -c "SELECT count(*) FROM retl.t__fsn__snap")" "1/1/0/0"
S -c "DELETE FROM fs_src WHERE id IS NULL" -c "TRUNCATE fs_ddl" >/dev/null
job fsj Upsert "SELECT id, name, price FROM fs_src WHERE price > -1" app.fs id "name:name price:price"
run fsj run --diff-strategy join
check "join strategy first sync stages the delta (old path) and loads every row" \
  eq "$RC/$(rows inserted)/$(S -c "SELECT count(*) FROM fs_ddl WHERE tbl = 'retl.t__fsj__delta'")" "0/197/1"
S -c "DROP EVENT TRIGGER fs_ddl" >/dev/null

# 16b. the run lock: a run waits for a run that still holds it (a killed run's
# server backend keeps it until its statement ends), up to RETL_LOCK_WAIT_S
hold_lock() { S -c "SELECT pg_advisory_lock(hashtextextended('retl retl.t__items', 0)), pg_sleep($1)" >/dev/null; }
hold_lock 3 &
holder=$!
sleep 1
t0=$(date +%s)
run items run
check "run lock held 3 s by another session: the run waits for it and succeeds" \
  eq "$RC/$(($(date +%s) - t0 >= 1))" "0/1"
wait $holder
hold_lock 6 &
holder=$!
sleep 1
RETL_LOCK_WAIT_S=1 run items run
check "run lock held longer than RETL_LOCK_WAIT_S: refused, saying another run is in progress" \
  eq "$RC/$(grep -c 'another run of this job is in progress (lock on retl.t__items held for more than 1 s)' <<<"$LAST")" "1/1"
wait $holder

# 17. long names are shortened with a hash, and never a credential in the logs
long=a-very-long-job-name-that-goes-on-and-on-for-qu
NS=a-long-namespace-name-as-well job "$long" Upsert "SELECT id, name FROM ins_src" app.ins id "name:name"
run "$long" run
check "long job name runs" eq "$RC" 0
check "long job name: state table names fit 63 bytes" eq "$(S -c "SELECT count(*) FROM pg_tables WHERE schemaname='retl' AND tablename LIKE 'a_long_namespace_name_as_well__a_very%' AND length(tablename) <= 63")" 3
check "no password in any log" bash -c "! grep -rqF -- '$PGPASSWORD' '$W'/*.log"

# 18. first runs of several jobs at once create a new state schema without racing
for i in 1 2 3 4; do
  NS=race job "r$i" Upsert "SELECT id, name FROM ins_src" "app.race$i" id "name:name"
  sed -i 's/secretRef: {name: wh}, query/secretRef: {name: wh}, stateSchema: race, query/' "$W/r$i.yaml"
  D -c "CREATE TABLE app.race$i (id int PRIMARY KEY, name text)"
done
for i in 1 2 3 4; do
  RETL_TERMINATION_LOG="$W/r$i.term" "$ENGINE" run -f "$W/r$i.yaml" -f "$W/secrets.yaml" >/dev/null 2>>"$W/r$i.log" &
  pids[$i]=$!
done
rcs=""
for i in 1 2 3 4; do wait "${pids[$i]}"; rcs="$rcs$?"; done
check "four concurrent first runs in a new state schema all succeed" eq "$rcs" 0000

echo "$P passed, $F failed"
[ "$F" -eq 0 ]
