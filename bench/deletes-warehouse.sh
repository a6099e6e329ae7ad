#!/usr/bin/env bash
# retl-engine, warehouse sources -> PostgreSQL, spec.deletes (issue 13): per
# source path (sqlserver: FreeTDS -> tds-sim; snowflake: SQL API v2 ->
# snowflake-sim; both backed by PostgreSQL), an incremental run where 1% of
# the rows left the query (deletes.mode Delete) against one where 1% of the
# rows changed, on two copies of the same table, alternating over
# BENCH_ROUNDS rounds (medians). Target: deletes cost no more than updates
# (ratio <= 1). The stand-ins measure retl's client side plus a translating
# proxy, not a real SQL Server or Snowflake. Timings on a shared machine are
# noisy: the load average is printed beside each figure.
# BENCH_ROWS (default 100000), BENCH_ROUNDS (3), BENCH_PATHS.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ENGINE=${ENGINE:-$ROOT/build/bin/retl-engine}
TDSSIM=${TDSSIM:-$ROOT/build/bin/tds-sim}
SNOWSIM=${SNOWSIM:-$ROOT/build/bin/snowflake-sim}
ROWS=${BENCH_ROWS:-100000}
ROUNDS=${BENCH_ROUNDS:-3}
PATHS=${BENCH_PATHS:-sqlserver snowflake}
[ -x "$ENGINE" ] || make -s build/bin/retl-engine
[ -x "$TDSSIM" ] || make -s build/bin/tds-sim
[ -x "$SNOWSIM" ] || make -s build/bin/snowflake-sim
# shellcheck source=../tests/lib/pg.sh
source "$ROOT/tests/lib/pg.sh"
W=$(mktemp -d /tmp/retl-bench-whdel.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pg_stop
  rm -rf "$W"
}
trap cleanup EXIT
pg_start "shared_buffers=256MB" "max_wal_size=4GB" >/dev/null
PGB="postgresql://postgres:$PGPASSWORD@127.0.0.1:$PGPORT"
pg_sql -c "CREATE DATABASE src_mssql" -c "CREATE DATABASE src_snow" -c "CREATE DATABASE dst" >/dev/null
# shellcheck source=lib/measure.sh
source "$ROOT/bench/lib/measure.sh"

COLS="id int PRIMARY KEY, name text, score numeric(12,4), seen timestamp"
GEN="SELECT g, 'name ' || g, g / 7.0, timestamp '2020-01-01' + g * interval '1 minute' FROM generate_series(1, $ROWS) g"
db() { case $1 in sqlserver) echo src_mssql ;; snowflake) echo src_snow ;; esac; }
for p in $PATHS; do
  for t in upd del; do
    pg_sql -d "$(db "$p")" -c "CREATE TABLE items_$t ($COLS)" -c "INSERT INTO items_$t $GEN" -c "VACUUM ANALYZE items_$t" >/dev/null
    pg_sql -d dst -c "CREATE TABLE IF NOT EXISTS public.${p}_$t ($COLS)" >/dev/null
  done
done

# shellcheck source=lib/wh-sims.sh
source "$ROOT/bench/lib/wh-sims.sh"
wh_sims_start
python3 - "$W" "$PGPORT" "$PGPASSWORD" "$(cut -d: -f2 <"$W/tds.addr")" "$(cat "$W/snow.addr")" <<'PY'
import json, sys
w, port, pw, tds, snow = sys.argv[1:]
def secret(name, data):
    return json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data})
docs = [
    secret("app", {"url": f"postgresql://postgres@127.0.0.1:{port}/dst", "password": pw}),
    secret("sqlserver", {"connectionString": f"Server=127.0.0.1;Port={tds};Database=bench;UID=retl", "password": "bench"}),
    secret("snowflake", {"account": "bench", "user": "retl", "privateKey": open(f"{w}/key.pem").read(), "endpoint": snow}),
]
open(f"{w}/secrets.yaml", "w").write("\n---\n".join(docs) + "\n")
PY

for p in $PATHS; do
  for t in upd del; do
    extra=""
    [ $t = del ] && extra="  deletes: {mode: Delete, maxPercent: 100}"
    cat >"$W/$p-$t.yaml" <<EOS
apiVersion: retl.io/v1alpha1
kind: ReverseEtlJob
metadata: {name: $p-$t, namespace: bench}
spec:
  source: {type: $p, secretRef: {name: $p}, query: "SELECT * FROM items_$t"}
  destination: {type: postgres, secretRef: {name: app}, object: public.${p}_$t}
  mode: Upsert
  batchSize: 10000
  key: {source: id, destination: id}
  mappings: [{source: name, destination: name}, {source: score, destination: score}, {source: seen, destination: seen}]
$extra
EOS
    "$ENGINE" run -f "$W/$p-$t.yaml" -f "$W/secrets.yaml" >/dev/null 2>"$W/$p-$t.log"
  done
done
run_timed() { # job -> seconds
  local t0
  t0=$(now)
  "$ENGINE" run -f "$W/$1.yaml" -f "$W/secrets.yaml" >"$W/$1.out" 2>>"$W/$1.log"
  since "$t0"
}
rows() { python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])['rows'][sys.argv[2]])" "$W/$1.out" "$2"; }
ONE=$((ROWS / 100))
fail=0
for p in $PATHS; do
  TU=() TD=()
  for r in $(seq 1 "$ROUNDS"); do
    lo=$(((r - 1) * ONE + 1)) hi=$((r * ONE))
    pg_sql -d "$(db "$p")" -c "UPDATE items_upd SET name = name || '.' WHERE id BETWEEN $lo AND $hi" >/dev/null
    pg_sql -d "$(db "$p")" -c "DELETE FROM items_del WHERE id BETWEEN $lo AND $hi" >/dev/null
    if [ $((r % 2)) = 1 ]; then
      TU+=("$(run_timed "$p-upd")"); TD+=("$(run_timed "$p-del")")
    else
      TD+=("$(run_timed "$p-del")"); TU+=("$(run_timed "$p-upd")")
    fi
    echo "$p round $r: 1% updates ${TU[-1]} s (updated $(rows "$p-upd" updated)), 1% deletes ${TD[-1]} s (deleted $(rows "$p-del" deleted)), load $(load)"
  done
  mu=$(median "${TU[@]}") md=$(median "${TD[@]}")
  echo "$p incremental run, $ROWS rows: 1% updates median $mu s, 1% deletes median $md s, deletes/updates $(awk -v a="$md" -v b="$mu" 'BEGIN{printf "%.2f", a/b}')"
  n=$(pg_sql -d dst -c "SELECT count(*) FROM public.${p}_del")
  [ "$n" = "$((ROWS - ROUNDS * ONE))" ] || { echo "$p: destination has $n rows, expected $((ROWS - ROUNDS * ONE))"; fail=1; }
done
exit $fail
