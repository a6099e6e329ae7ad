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
# shellcheck source=../tests/lib/pg.sh
source "$ROOT/tests/lib/pg.sh"
W=$(mktemp -d /tmp/retl-profile.XXXXXX)
trap 'pg_stop; rm -rf "$W"' EXIT
pg_start "shared_buffers=256MB" "max_wal_size=4GB" \
  "shared_preload_libraries=pg_stat_statements,auto_explain" "pg_stat_statements.track=all" \
  "auto_explain.log_min_duration=100ms" "auto_explain.log_analyze=on" \
  "auto_explain.log_buffers=on" "auto_explain.log_timing=on" >/dev/null
pg_sql -c "CREATE DATABASE src" -c "CREATE DATABASE dst" >/dev/null
S() { pg_sql -d src "$@"; }
D() { pg_sql -d dst "$@"; }
S -c "CREATE EXTENSION pg_stat_statements" >/dev/null
COLS="id int PRIMARY KEY, name text, email text, score numeric(12,4), active bool, born date, updated_at timestamp, seen_at timestamptz, attrs jsonb, amount float8"
S -c "CREATE TABLE items ($COLS)" \
  -c "INSERT INTO items SELECT g, 'name ' || g, 'user' || g || '@example.com', (g % 10000) / 7.0, g % 3 = 0, date '1970-01-01' + g % 20000, timestamp '2020-01-01' + g * interval '1 second', timestamptz '2020-01-01 00:00:00+00' + g * interval '1 minute', jsonb_build_object('tier', g % 5, 'tags', jsonb_build_array('a', g % 7)), g * 0.25 FROM generate_series(1, $ROWS) g" \
  -c "VACUUM ANALYZE items" >/dev/null
D -c "CREATE TABLE public.items ($COLS)" >/dev/null
cat >"$W/job.yaml" <<YAML
apiVersion: retl.io/v1alpha1
kind: ReverseEtlJob
metadata: {name: prof, namespace: bench}
spec:
  source: {type: postgres, secretRef: {name: wh}, query: "SELECT * FROM items"}
  destination: {type: postgres, secretRef: {name: app}, object: public.items}
  mode: Upsert
${BATCH:+  batchSize: $BATCH}
  key: {source: id, destination: id}
  mappings:
$(for c in name email score active born updated_at seen_at attrs amount; do echo "    - {source: $c, destination: $c}"; done)
---
apiVersion: v1
kind: Secret
metadata: {name: wh}
stringData: {url: "postgresql://postgres@127.0.0.1:$PGPORT/src", password: "$PGPASSWORD"}
---
apiVersion: v1
kind: Secret
metadata: {name: app}
stringData: {url: "postgresql://postgres@127.0.0.1:$PGPORT/dst", password: "$PGPASSWORD"}
YAML

top() { # statements by total server time, both databases
  S -F $'\t' -c "SELECT round(total_exec_time::numeric / 1000, 3) AS s, calls, (SELECT datname FROM pg_database WHERE oid = dbid) AS db, regexp_replace(left(query, 110), '\s+', ' ', 'g') FROM pg_stat_statements WHERE total_exec_time > 20 ORDER BY total_exec_time DESC LIMIT 14" |
    awk -F'\t' '{printf "  %8.3fs %6d  %-4s %s\n", $1, $2, $3, $4}'
}
profile() { # name
  S -c "SELECT pg_stat_statements_reset()" >/dev/null
  : >"$PG_DIR/server.log.mark"; local off; off=$(stat -c %s "$PG_DIR/server.log")
  /usr/bin/time -f '%e s wall, %U s user, %S s sys (engine process), %M KiB peak RSS' -o "$W/$1.time" \
    env RETL_LOG_LEVEL=debug "$ENGINE" run -f "$W/job.yaml" >"$W/$1.out" 2>"$W/$1.err"
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
