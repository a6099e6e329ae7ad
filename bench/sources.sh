#!/usr/bin/env bash
# The 1M-row incremental diff through each warehouse source path, beside the
# native PostgreSQL source, in the same run: postgres (libpq), odbc through
# psqlODBC (same server), odbc through SQLite ODBC (a file), sqlserver
# (FreeTDS -> tds-sim -> PostgreSQL) and snowflake (SQL API v2 ->
# snowflake-sim -> PostgreSQL). Each path first syncs the table (the
# snapshot), then 1% of the rows change and the incremental run is timed:
# stage + diff seconds (from the engine's "delta computed" log line) and the
# whole run. Ratios are against the native postgres path. The stand-in paths
# measure retl's client side plus a translating proxy, not a real SQL Server
# or Snowflake. BENCH_ROWS (default 1000000) and BENCH_PATHS select the work.
# Each path's own bare SQL, through the same client library and stand-in:
# one read of the query (psql COPY for postgres, unixODBC's isql with the
# job's connection string for the ODBC paths and sqlserver, and for
# snowflake bench/lib/snow-read.py, a minimal SQL API v2 client: make deps
# installs no Snowflake client), timed after the incremental run; inc/bare is the
# incremental run against it, as engine-postgres.sh compares with a COPY read.
# ENGINE_BEFORE=path/to/an/older/retl-engine runs every path with it too, in
# the same run right before the current engine (own job, snapshot and
# destination table), printed as rows "<path>@before".
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ENGINE=${ENGINE:-$ROOT/build/bin/retl-engine}
TDSSIM=${TDSSIM:-$ROOT/build/bin/tds-sim}
SNOWSIM=${SNOWSIM:-$ROOT/build/bin/snowflake-sim}
ROWS=${BENCH_ROWS:-1000000}
PATHS=${BENCH_PATHS:-postgres odbc-pg odbc-sqlite sqlserver snowflake}
CHANGE=$((ROWS / 100))
ODBC_DIR=${ODBC_DIR:-/usr/lib/x86_64-linux-gnu/odbc}
[ -x "$ENGINE" ] || make -s build/bin/retl-engine
[ -x "$TDSSIM" ] || make -s build/bin/tds-sim
[ -x "$SNOWSIM" ] || make -s build/bin/snowflake-sim
# shellcheck source=../tests/lib/pg.sh
source "$ROOT/tests/lib/pg.sh"
W=$(mktemp -d /tmp/retl-bench-sources.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pg_stop; rm -rf "$W"
}
trap cleanup EXIT
pg_start "shared_buffers=256MB" "max_wal_size=4GB" >/dev/null
PGB="postgresql://postgres:$PGPASSWORD@127.0.0.1:$PGPORT"
pg_sql -c "CREATE DATABASE src" -c "CREATE DATABASE src_mssql" -c "CREATE DATABASE src_snow" -c "CREATE DATABASE dst" >/dev/null

TYPES="id INTEGER PRIMARY KEY, name TEXT, email TEXT, score NUMERIC(12,4), active BOOLEAN, born DATE, updated_at TIMESTAMP"
GEN="WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < $ROWS) INSERT INTO items SELECT x, 'name ' || x, 'user' || x || '@example.com', (x % 10000) / 7.0, x % 3 = 0, '2020-01-01', '2020-01-01 00:00:00' FROM g"
PGGEN="INSERT INTO items SELECT g, 'name ' || g, 'user' || g || '@example.com', (g % 10000) / 7.0, g % 3 = 0, date '1970-01-01' + g % 20000, timestamp '2020-01-01' + g * interval '1 second' FROM generate_series(1, $ROWS) g"
CHG="UPDATE items SET name = 'changed ' || id, score = score + 1 WHERE id % 100 = 7"
for db in src src_mssql src_snow; do
  pg_sql -d "$db" -c "CREATE TABLE items ($TYPES)" -c "$PGGEN" -c "VACUUM ANALYZE items" >/dev/null
done
if [[ " $PATHS " == *" odbc-sqlite "* ]]; then
  sqlite3 "$W/src.db" "PRAGMA journal_mode=WAL; CREATE TABLE items ($TYPES); $GEN;" >/dev/null
fi
TAGS=""
[ -n "${ENGINE_BEFORE:-}" ] && TAGS="@before"
for p in $PATHS; do
  for t in $TAGS ""; do
    pg_sql -d dst -c "CREATE SCHEMA \"$p${t//@/_}\"" -c "CREATE TABLE \"$p${t//@/_}\".items ($TYPES)" >/dev/null
  done
done

# shellcheck source=lib/wh-sims.sh
source "$ROOT/bench/lib/wh-sims.sh"
wh_sims_start

python3 - "$W" "$PGPORT" "$PGPASSWORD" "$(cut -d: -f2 <"$W/tds.addr")" "$(cat "$W/snow.addr")" "$ODBC_DIR" <<'PY'
import json, sys
w, port, pw, tds, snow, odbc = sys.argv[1:]
def secret(name, data):
    return json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data})
docs = [
    secret("app", {"url": f"postgresql://postgres@127.0.0.1:{port}/dst", "password": pw}),
    secret("postgres", {"url": f"postgresql://postgres@127.0.0.1:{port}/src", "password": pw}),
    secret("odbc-pg", {"connectionString": f"Driver={odbc}/psqlodbca.so;Servername=127.0.0.1;Port={port};Database=src;Username=postgres;SSLmode=disable", "password": pw}),
    secret("odbc-sqlite", {"connectionString": f"Driver={odbc}/libsqlite3odbc.so;Database={w}/src.db;Timeout=30000"}),
    secret("sqlserver", {"connectionString": f"Server=127.0.0.1;Port={tds};Database=bench;UID=retl", "password": "bench"}),
    secret("snowflake", {"account": "bench", "user": "retl", "privateKey": open(f"{w}/key.pem").read(), "endpoint": snow}),
]
open(f"{w}/secrets.yaml", "w").write("\n---\n".join(docs) + "\n")
PY

mkjob() { # path[@tag]
  local type=${1%@*} src=${1%@*}
  case $1 in odbc-*) type=odbc ;; esac
  cat >"$W/$1.yaml" <<EOF
apiVersion: retl.io/v1alpha1
kind: ReverseEtlJob
metadata: {name: bench-${1//@/-}, namespace: bench}
spec:
  source: {type: $type, secretRef: {name: $src}, query: "SELECT * FROM items"}
  destination: {type: postgres, secretRef: {name: app}, object: "${1//@/_}.items"}
  mode: Upsert
  batchSize: 10000
  key: {source: id, destination: id}
  mappings:
$(for c in name email score active born updated_at; do echo "    - {source: $c, destination: $c}"; done)
EOF
}
# shellcheck source=lib/measure.sh
source "$ROOT/bench/lib/measure.sh"
phase() { grep -oP "\"$2\":\K[0-9.eE+-]+" "$1" | tail -n 1; } # 1.2e-05 too
runjob() { # path tag: sets SEC, STAGE, DIFF, CHANGED, RSS (MiB)
  local t0 t1
  t0=$(now)
  local engine=$ENGINE
  [[ $1 == *@before ]] && engine=$ENGINE_BEFORE
  /usr/bin/time -f 'maxrss_kb %M' -o "$W/$1.$2.time" "$engine" run -f "$W/$1.yaml" -f "$W/secrets.yaml" >"$W/$1.$2.out" 2>"$W/$1.$2.err" \
    || { echo "run $1 $2 failed: $(tail -n 1 "$W/$1.$2.out")" >&2; return 1; }
  t1=$(now)
  RSS=$(awk '/maxrss_kb/ {printf "%.0f", $2 / 1024}' "$W/$1.$2.time")
  SEC=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')
  STAGE=$(phase "$W/$1.$2.err" stageSeconds)
  DIFF=$(phase "$W/$1.$2.err" diffSeconds)
  CHANGED=$(grep -oP '"changed":\K[0-9]+' "$W/$1.$2.out" | head -n 1)
}

TDSPORT=$(cut -d: -f2 <"$W/tds.addr")
bare_read() { # path: seconds of one read of the query through its own client, or -
  local t0 cs n
  case ${1%@*} in
    postgres) cs="" ;;
    odbc-pg) cs="Driver=$ODBC_DIR/psqlodbca.so;Servername=127.0.0.1;Port=$PGPORT;Database=src;Username=postgres;Password=$PGPASSWORD;SSLmode=disable" ;;
    odbc-sqlite) cs="Driver=$ODBC_DIR/libsqlite3odbc.so;Database=$W/src.db" ;;
    sqlserver) cs="Driver=$ODBC_DIR/libtdsodbc.so;Server=127.0.0.1;Port=$TDSPORT;Database=bench;UID=retl;PWD=bench;TDS_Version=7.4;ClientCharset=UTF-8" ;;
    snowflake) cs=snowflake ;;
    *) echo -; return ;;
  esac
  t0=$(now)
  if [ "$cs" = snowflake ]; then
    n=$(python3 "$ROOT/bench/lib/snow-read.py" "$(cat "$W/snow.addr")" bench retl "$W/key.pem" "SELECT * FROM items" 2>"$W/snow-read.err" || echo 0)
    [ "$n" -ge "$ROWS" ] || { echo "bare read of $1 returned $n rows: $(head -c 300 "$W/snow-read.err")" >&2; echo -; return; }
  elif [ -z "$cs" ]; then
    pg_sql -d src -c "COPY (SELECT * FROM items) TO STDOUT" >/dev/null
  else
    n=$(echo "SELECT * FROM items" | isql -b -k -e -x0x09 "$cs" 2>"$W/isql.err" | wc -l)
    # isql exits 0 on a failed login too: a read that did not return every row is no figure
    [ "$n" -ge "$ROWS" ] || { echo "bare read of $1 returned $n lines: $(head -c 300 "$W/isql.err")" >&2; echo -; return; }
  fi
  awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'
}

declare -A FIRST INC SD CH MEM BARE
ALL=""
for q in $PATHS; do for t in $TAGS ""; do ALL="$ALL $q$t"; done; done
for p in $ALL; do
  mkjob "$p"
  runjob "$p" first
  FIRST[$p]=$SEC
  MEM[$p]=$RSS
  case ${p%@*} in
    odbc-sqlite) sqlite3 "$W/src.db" "$CHG" ;;
    sqlserver) pg_sql -d src_mssql -c "$CHG" >/dev/null ;;
    snowflake) pg_sql -d src_snow -c "$CHG" >/dev/null ;;
    postgres | odbc-pg) pg_sql -d src -c "$CHG" >/dev/null ;; # one table, own snapshots
  esac
  runjob "$p" inc
  INC[$p]=$SEC
  BARE[$p]=$(bare_read "$p")
  SD[$p]=$(awk -v a="$STAGE" -v b="$DIFF" 'BEGIN{printf "%.2f", a+b}')
  CH[$p]=$CHANGED
done

base=${PATHS%% *}
echo "rows $ROWS, changed per incremental run $CHANGE (1%), batchSize 10000, engine $(basename "$ENGINE"), load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-18s %10s %12s %14s %10s %12s %10s %10s %11s %9s\n' path first_s first_rss_MiB stage+diff_s ratio incremental_s ratio changed bare_read_s inc/bare
for p in $ALL; do
  printf '%-18s %10s %12s %14s %10s %12s %10s %10s %11s %9s\n' "$p" "${FIRST[$p]}" "${MEM[$p]}" "${SD[$p]}" \
    "$(awk -v a="${SD[$p]}" -v b="${SD[$base]}" 'BEGIN{printf "%.2fx", a/b}')" "${INC[$p]}" \
    "$(awk -v a="${INC[$p]}" -v b="${INC[$base]}" 'BEGIN{printf "%.2fx", a/b}')" "${CH[$p]}" "${BARE[$p]}" \
    "$(awk -v a="${INC[$p]}" -v b="${BARE[$p]}" 'BEGIN{if (b == "-" || b + 0 == 0) print "-"; else printf "%.2fx", a/b}')"
done
fail=0
for p in $ALL; do
  [ "${CH[$p]}" = "$CHANGE" ] || { echo "path $p sent ${CH[$p]} rows, expected $CHANGE"; fail=1; }
done
exit $fail
