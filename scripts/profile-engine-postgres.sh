#!/usr/bin/env bash
# Where a PostgreSQL -> PostgreSQL run spends its time: a first sync and an
# incremental run (1% changed) of BENCH_ROWS (default 1M) x 10 columns, each
# with pg_stat_statements (server time per statement, both databases),
# auto_explain (EXPLAIN ANALYZE, BUFFERS of every statement over 100 ms) and
# the engine's own CPU time. The breakdown in engine/README.md comes from
# here. Not a benchmark: no peer, no ratio (bench/engine-postgres.sh is).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ENGINE=${ENGINE:-$ROOT/build/bin/retl-engine}
ROWS=${BENCH_ROWS:-1000000}
BATCH=${BENCH_BATCH:-}
[ -x "$ENGINE" ] || make -s build/bin/retl-engine
# shellcheck source=../bench/lib/pg-pair.sh
source "$ROOT/bench/lib/pg-pair.sh"
W=$(mktemp -d /tmp/retl-profile.XXXXXX)
trap 'pg_stop; rm -rf "$W"' EXIT
pair_start "max_wal_size=4GB" \
  "shared_preload_libraries=pg_stat_statements,auto_explain" "pg_stat_statements.track=all" \
  "auto_explain.log_min_duration=100ms" "auto_explain.log_analyze=on" \
  "auto_explain.log_buffers=on" "auto_explain.log_timing=on"
S -c "CREATE EXTENSION pg_stat_statements" >/dev/null
pair_table items "$ROWS"
pair_job "$W/job.yaml" prof items "$BATCH"

top() { # statements by total server time, both databases
  S -F $'\t' -c "SELECT round(total_exec_time::numeric / 1000, 3) AS s, calls, (SELECT datname FROM pg_database WHERE oid = dbid) AS db, regexp_replace(left(query, 110), '\s+', ' ', 'g') FROM pg_stat_statements WHERE total_exec_time > 20 ORDER BY total_exec_time DESC LIMIT 14" |
    awk -F'\t' '{printf "  %8.3fs %6d  %-4s %s\n", $1, $2, $3, $4}'
}
profile() { # name
  S -c "SELECT pg_stat_statements_reset()" >/dev/null
  local off; off=$(stat -c %s "$PG_DIR/server.log")
  /usr/bin/time -f '%e s wall, %U s user, %S s sys (engine process), %M KiB peak RSS' -o "$W/$1.time" \
    env RETL_LOG_LEVEL=debug "$ENGINE" run -f "$W/job.yaml" -f "$W/secrets.yaml" >"$W/$1.out" 2>"$W/$1.err"
  echo "== $1 ($(cut -d' ' -f1 /proc/loadavg) load): $(cat "$W/$1.time")"
  grep -o '"stageSeconds":[0-9.]*\|"diffSeconds":[0-9.]*' "$W/$1.err" | tr '\n' ' '; echo
  echo "  batches: $(grep -c '"msg":"batch"' "$W/$1.err")"
  top
  echo "  plans over 100 ms (auto_explain):"
  tail -c +"$((off + 1))" "$PG_DIR/server.log" | grep -A40 'duration: ' | grep -E 'duration:|Query Text|^\s+(->|[A-Z][a-z]+ (Scan|Join|Full|Hash|Sort|Merge))|Buffers|Execution|actual' | cut -c1-160 | head -"${PROFILE_PLAN_LINES:-40}" | sed "s/^/    /" || true
}
profile first-sync
S -c "UPDATE items SET score = score + 1, name = name || 'x' WHERE id % 100 = 0" -c "VACUUM ANALYZE items" >/dev/null
profile incremental
