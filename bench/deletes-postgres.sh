#!/usr/bin/env bash
# retl-engine, PostgreSQL -> PostgreSQL, spec.deletes (issue 13): an
# incremental run where 1% of the rows left the query (deletes.mode Delete)
# against one where 1% of the rows changed, on the same 1M x 4 column table,
# alternating over BENCH_ROUNDS rounds (medians). Target: deletes cost no
# more than updates (ratio <= 1). Timings on a shared machine are noisy: the
# load average is printed beside each figure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ENGINE=${ENGINE:-$ROOT/build/bin/retl-engine}
ROWS=${BENCH_ROWS:-1000000}
ROUNDS=${BENCH_ROUNDS:-3}
[ -x "$ENGINE" ] || make -s build/bin/retl-engine
# shellcheck source=lib/pg-pair.sh
source "$ROOT/bench/lib/pg-pair.sh"
W=$(mktemp -d /tmp/retl-bench-del.XXXXXX)
trap 'pg_stop; rm -rf "$W"' EXIT
pair_start "max_wal_size=4GB"
COLS="id int PRIMARY KEY, name text, score numeric(12,4), seen timestamptz"
for t in upd del; do
  S -c "CREATE TABLE items_$t ($COLS)" -c "INSERT INTO items_$t SELECT g, 'name ' || g, g / 7.0, timestamptz '2020-01-01 00:00:00+00' + g * interval '1 minute' FROM generate_series(1, $ROWS) g" >/dev/null
done
S -c "VACUUM ANALYZE" >/dev/null
for t in upd del; do D -c "CREATE TABLE public.items_$t ($COLS)" >/dev/null; done
# Two jobs over two copies of the same table: in "upd" 1% of the rows change
# per round, in "del" 1% more of the rows are deleted per round.
for t in upd del; do
  q="SELECT * FROM items_$t"
  extra=""
  [ $t = del ] && extra="  deletes: {mode: Delete, maxPercent: 100}"
  cat >"$W/$t.yaml" <<EOS
apiVersion: retl.io/v1alpha1
kind: ReverseEtlJob
metadata: {name: $t, namespace: bench}
spec:
  source: {type: postgres, secretRef: {name: wh}, query: "$q"}
  destination: {type: postgres, secretRef: {name: app}, object: public.items_$t}
  mode: Upsert
  batchSize: 10000
  key: {source: id, destination: id}
  mappings: [{source: name, destination: name}, {source: score, destination: score}, {source: seen, destination: seen}]
$extra
EOS
  "$ENGINE" run -f "$W/$t.yaml" -f "$W/secrets.yaml" >/dev/null 2>"$W/$t.log"
done
run_timed() { # job -> seconds
  local t0
  t0=$(now)
  "$ENGINE" run -f "$W/$1.yaml" -f "$W/secrets.yaml" >"$W/$1.out" 2>>"$W/$1.log"
  since "$t0"
}
ONE=$((ROWS / 100))
declare -a TU TD
for r in $(seq 1 "$ROUNDS"); do
  lo=$(((r - 1) * ONE + 1)) hi=$((r * ONE))
  S -c "UPDATE items_upd SET name = name || '.' WHERE id BETWEEN $lo AND $hi" >/dev/null
  S -c "DELETE FROM items_del WHERE id BETWEEN $lo AND $hi" >/dev/null
  # alternate the order
  if [ $((r % 2)) = 1 ]; then
    TU+=("$(run_timed upd)"); TD+=("$(run_timed del)")
  else
    TD+=("$(run_timed del)"); TU+=("$(run_timed upd)")
  fi
  echo "round $r: 1% updates ${TU[-1]} s, 1% deletes ${TD[-1]} s (load $(load); deleted $(python3 -c "import json,sys; print(json.loads(open('$W/del.out').read().splitlines()[-1])['rows']['deleted'])"))"
done
mu=$(median "${TU[@]}") md=$(median "${TD[@]}")
echo "incremental run, $ROWS rows: 1% updates median $mu s, 1% deletes median $md s, deletes/updates $(echo "scale=2; $md / $mu" | bc)"
n=$(D -c "SELECT count(*) FROM public.items_del")
[ "$n" = "$((ROWS - ROUNDS * ONE))" ] || { echo "destination has $n rows, expected $((ROWS - ROUNDS * ONE))"; exit 1; }
