#!/usr/bin/env bash
# retl-engine, PostgreSQL -> PostgreSQL: full first sync of a 1M x 10 column
# source, an incremental run after 1% of the rows changed, compared in the same
# run with their physical limits (DESIGN 8.4) and with the bare diff SQL, and
# the engine's peak RSS at 100k vs 1M rows. Also times the delta strategies
# (plan = stage + diff only). Peers, each alternating with retl in
# BENCH_ROUNDS rounds (medians):
#   first sync  vs  psql COPY (query) TO STDOUT | psql COPY table FROM STDIN
#                   (the same rows between the same two databases, into a
#                   table of the same definition)
#   incremental vs  psql COPY (query) TO STDOUT > /dev/null (one read of the
#                   query), and vs the bare key-join / EXCEPT diff SQL
# Targets (issue 18): both physical-limit ratios <= 1.5; peak RSS flat.
# Timings on a shared machine are noisy: the load average is printed beside
# each figure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ENGINE=${ENGINE:-$ROOT/build/bin/retl-engine}
ROWS=${BENCH_ROWS:-1000000}
SMALL=$((ROWS / 10))
[ -x "$ENGINE" ] || make -s build/bin/retl-engine
# shellcheck source=lib/pg-pair.sh
source "$ROOT/bench/lib/pg-pair.sh"
W=$(mktemp -d /tmp/retl-bench.XXXXXX)
trap 'pg_stop; rm -rf "$W"' EXIT
pair_start "max_wal_size=4GB"
pair_table items "$ROWS"
pair_table items_small "$SMALL"
D -c "CREATE TABLE public.items_copy ($PAIR_COLS)" >/dev/null
pair_job "$W/big.yaml" big items 10000
pair_job "$W/small.yaml" small items_small 10000

# timed NAME ARGS...: runs the engine under /usr/bin/time -v; sets SEC, RSS_KB, SUMMARY
timed() {
  local name=$1; shift
  /usr/bin/time -v "$ENGINE" "$@" >"$W/$name.out" 2>"$W/$name.err" || { tail -5 "$W/$name.err"; return 1; }
  SEC=$(python3 - "$W/$name.err" <<'PY'
import sys,re
t=open(sys.argv[1]).read()
m=re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)",t)
p=[float(x) for x in m.group(1).split(":")]
s=0
for x in p: s=s*60+x
print(f"{s:.3f}")
PY
)
  RSS_KB=$(grep -oP 'Maximum resident set size \(kbytes\): \K[0-9]+' "$W/$name.err")
  SUMMARY=$(tail -n 1 "$W/$name.out")
}
psql_time() { # seconds of one statement, server-side measured by psql \timing
  pg_sql -d src -c '\timing on' -c "$1" | grep -oP 'Time: \K[0-9.]+' | tail -n 1 | awk '{printf "%.3f", $1/1000}'
}
phase() { grep -oP "\"$2\":\K[0-9.eE+-]+" "$W/$1.err" | head -n 1; } # 1.2e-05 too
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }

echo "engine-postgres: $ROWS x 10 columns, PostgreSQL $(pg_sql -c 'SHOW server_version'), $(nproc) cores"

ROUNDS=${BENCH_ROUNDS:-3}

timed small-first run -f "$W/small.yaml" -f "$W/secrets.yaml"
small_sec=$SEC small_rss=$RSS_KB
echo "first sync ${SMALL} rows: ${small_sec}s ($(awk -v n="$SMALL" -v s="$small_sec" 'BEGIN{printf "%d", n/s}') rows/s), peak RSS $((small_rss / 1024)) MiB (load $(load))"

# First sync vs its physical limit: the same rows through one COPY out of the
# source piped into one COPY in of the destination, alternating (order
# swapped every round); retl starts each round from no state and an empty
# table.
copy_pipe() {
  D -c "TRUNCATE public.items_copy" >/dev/null
  local t0; t0=$(now)
  S -c "COPY (SELECT * FROM items) TO STDOUT" | D -c "COPY public.items_copy FROM STDIN"
  since "$t0"
}
retl_first() {
  "$ENGINE" cleanup -f "$W/big.yaml" -f "$W/secrets.yaml" >/dev/null 2>&1 || true
  D -c "TRUNCATE public.items" >/dev/null
  timed big-first run -f "$W/big.yaml" -f "$W/secrets.yaml"
}
firsts=() pipes=()
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then
    pipes+=("$(copy_pipe)"); retl_first; firsts+=("$SEC")
  else
    retl_first; firsts+=("$SEC"); pipes+=("$(copy_pipe)")
  fi
  big_rss=$RSS_KB
  echo "  first-sync round $round: retl ${firsts[-1]}s, COPY out | COPY in ${pipes[-1]}s (load $(load))"
done
big_sec=$(median "${firsts[@]}") pipe_sec=$(median "${pipes[@]}")
echo "first sync ${ROWS} rows: ${big_sec}s ($(awk -v n="$ROWS" -v s="$big_sec" 'BEGIN{printf "%d", n/s}') rows/s, median of $ROUNDS), peak RSS $((big_rss / 1024)) MiB (target < 64)"
echo "  stage ${ROWS}: $(phase big-first stageSeconds)s, diff: $(phase big-first diffSeconds)s"
echo "bare COPY out | COPY in ${ROWS} rows: ${pipe_sec}s (median of $ROUNDS)"

# Incremental runs: ROUNDS rounds, each changing a different 1% of the rows;
# the bare diff SQL compares the changed table with a typed copy taken just
# before the change (what the warehouse must do for the same diff). Engine
# and bare SQL alternate within a round, medians reported, so that load from
# elsewhere on the machine hits both alike.
bare_join_sql="SELECT count(*) FROM items n FULL JOIN items_prev o ON o.id = n.id WHERE n.id IS NULL OR o.id IS NULL OR ROW(n.*) IS DISTINCT FROM ROW(o.*)"
bare_except_sql="SELECT (SELECT count(*) FROM (SELECT * FROM items EXCEPT SELECT * FROM items_prev) a), (SELECT count(*) FROM (SELECT * FROM items_prev EXCEPT SELECT * FROM items) b)"
copy_out() { # one read of the query, client side like the engine
  local t0; t0=$(now)
  S -c "COPY (SELECT * FROM items) TO STDOUT" >/dev/null
  since "$t0"
}
incr=() joins=() excepts=() diffs=() reads=()
for round in $(seq 1 "$ROUNDS"); do
  S -c "DROP TABLE IF EXISTS items_prev" -c "CREATE TABLE items_prev AS SELECT * FROM items" -c "VACUUM ANALYZE items_prev" >/dev/null
  S -c "UPDATE items SET score = score + 1, name = name || 'x' WHERE id % 100 = $((round - 1))" -c "VACUUM ANALYZE items" >/dev/null
  changed=$(S -c "SELECT count(*) FROM items WHERE id % 100 = $((round - 1))")
  if [ "$round" = 1 ]; then
    # Delta strategies, stage + diff only (plan rolls back), in the order
    # hash join except join hash: the first statement after the change pays
    # for hint bits, so hash and join report the mean of their two runs.
    plans=()
    for s in hash join except join hash; do
      timed "plan-$s" plan -f "$W/big.yaml" -f "$W/secrets.yaml" --diff-strategy "$s"
      plans+=("$s:$SEC:$(phase "plan-$s" diffSeconds)")
    done
    mean() { printf '%s\n' "${plans[@]}" | awk -F: -v s="$1" -v f="$2" '$1 == s {t += $f; n++} END {printf "%.2f", t / n}'; }
    echo "delta strategies (plan: stage + diff, 1% changed): hash $(mean hash 2)s (diff $(mean hash 3)s), join $(mean join 2)s (diff $(mean join 3)s), except $(mean except 2)s (diff $(mean except 3)s)"
    excepts+=("$(psql_time "$bare_except_sql")")
  fi
  joins+=("$(psql_time "$bare_join_sql")")
  # The COPY read and the run swap order every round (the first reader after
  # the change pays for hint bits).
  [ $((round % 2)) = 1 ] && reads+=("$(copy_out)")
  timed big-incr run -f "$W/big.yaml" -f "$W/secrets.yaml"
  incr+=("$SEC") diffs+=("$(phase big-incr diffSeconds)")
  [ $((round % 2)) = 0 ] && reads+=("$(copy_out)")
  incr_rss=$RSS_KB
  got=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['rows']['changed'])" "$SUMMARY")
  echo "  round $round: incremental run ${SEC}s (diff ${diffs[-1]}s, ${got} of ${changed} changed rows sent), COPY read ${reads[-1]}s, bare key-join diff ${joins[-1]}s (load $(load))"
  [ "$got" = "$changed" ] || { echo "round $round: sent $got rows, $changed changed" >&2; exit 1; }
done
incr_sec=$(median "${incr[@]}") bare_join=$(median "${joins[@]}") bare_except=${excepts[0]} read_sec=$(median "${reads[@]}")
echo "incremental run (default strategy, ${changed} changed rows, median of $ROUNDS): ${incr_sec}s, peak RSS $((incr_rss / 1024)) MiB; diff $(median "${diffs[@]}")s"
echo "  summary: $(python3 -c "import json,sys; print(json.loads(sys.argv[1])['rows'])" "$SUMMARY")"
echo "bare diff SQL (psql): EXCEPT both ways ${bare_except}s, key join + IS DISTINCT FROM ${bare_join}s (median of $ROUNDS)"
echo "COPY (query) TO STDOUT read: ${read_sec}s (median of $ROUNDS)"
echo "ratio incremental / COPY read of the query: $(ratio "$incr_sec" "$read_sec") (goal <= 1.5)"
echo "ratio first sync / COPY out | COPY in: $(ratio "$big_sec" "$pipe_sec") (goal <= 1.5)"
echo "ratio incremental / bare key-join diff: $(ratio "$incr_sec" "$bare_join") (target <= 1.3)"
echo "ratio incremental / bare EXCEPT diff: $(ratio "$incr_sec" "$bare_except")"
echo "peak RSS 100k vs 1M: $((small_rss / 1024)) MiB vs $((big_rss / 1024)) MiB"
ok=$(D -c "SELECT count(*) FROM public.items") 
echo "destination rows: $ok (load $(load))"
