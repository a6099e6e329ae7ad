#!/usr/bin/env bash
# Scale: retl-engine PostgreSQL -> PostgreSQL at 1M and 10M rows x 10 columns
# (BENCH_SCALE_ROWS), default batchSize (the destination's). Per size: the
# first sync and one incremental run (1% changed), time per row and peak RSS,
# each beside its physical limit measured in the same run (COPY out | COPY
# in for the first sync, one COPY (query) TO STDOUT read for the incremental
# run). Shows that time per row and memory stay flat from 1M to 10M. Needs
# about 15 GB of disk at 10M. Timings on a shared machine are noisy: the load
# average is printed beside each figure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ENGINE=${ENGINE:-$ROOT/build/bin/retl-engine}
SIZES=${BENCH_SCALE_ROWS:-1000000 10000000}
[ -x "$ENGINE" ] || make -s build/bin/retl-engine
# shellcheck source=../tests/lib/pg.sh
source "$ROOT/tests/lib/pg.sh"
W=$(mktemp -d /tmp/retl-bench-scale.XXXXXX)
trap 'pg_stop; rm -rf "$W"' EXIT
pg_start "shared_buffers=256MB" "max_wal_size=8GB" >/dev/null
pg_sql -c "CREATE DATABASE src" -c "CREATE DATABASE dst" >/dev/null
S() { pg_sql -d src "$@"; }
D() { pg_sql -d dst "$@"; }
load() { cut -d' ' -f1 /proc/loadavg; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }
COLS="id int PRIMARY KEY, name text, email text, score numeric(12,4), active bool, born date, updated_at timestamp, seen_at timestamptz, attrs jsonb, amount float8"
GEN="SELECT g, 'name ' || g, 'user' || g || '@example.com', (g % 10000) / 7.0, g % 3 = 0, date '1970-01-01' + g % 20000, timestamp '2020-01-01' + g * interval '1 second', timestamptz '2020-01-01 00:00:00+00' + g * interval '1 minute', jsonb_build_object('tier', g % 5, 'tags', jsonb_build_array('a', g % 7)), g * 0.25 FROM generate_series(1, NROWS) g"
cat >"$W/secrets.yaml" <<YAML
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
run() { # job: sets SEC RSS (MiB) CHANGED
  /usr/bin/time -f '%e %M' -o "$W/time" "$ENGINE" run -f "$W/$1.yaml" -f "$W/secrets.yaml" >"$W/out" 2>"$W/err" \
    || { tail -n 3 "$W/err"; exit 1; }
  read -r SEC RSS <"$W/time"
  RSS=$((RSS / 1024))
  CHANGED=$(grep -oP '"changed":\K[0-9]+' "$W/out" | tail -n 1)
}
us() { awk -v s="$1" -v n="$2" 'BEGIN{printf "%.2f", s * 1e6 / n}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
echo "engine-scale: PostgreSQL $(S -c 'SHOW server_version'), $(nproc) cores, default batchSize"
printf '%-9s %-13s %9s %9s %8s %10s %7s %7s\n' rows run retl_s us/row RSS_MiB peer_s ratio load
for n in $SIZES; do
  t="items_$n"
  S -c "CREATE TABLE $t ($COLS)" -c "INSERT INTO $t ${GEN//NROWS/$n}" -c "VACUUM ANALYZE $t" >/dev/null
  D -c "CREATE TABLE public.$t ($COLS)" -c "CREATE TABLE public.${t}_copy ($COLS)" >/dev/null
  cat >"$W/$t.yaml" <<YAML
apiVersion: retl.io/v1alpha1
kind: ReverseEtlJob
metadata: {name: scale-$n, namespace: bench}
spec:
  source: {type: postgres, secretRef: {name: wh}, query: "SELECT * FROM $t"}
  destination: {type: postgres, secretRef: {name: app}, object: public.$t}
  mode: Upsert
  key: {source: id, destination: id}
  mappings:
$(for c in name email score active born updated_at seen_at attrs amount; do echo "    - {source: $c, destination: $c}"; done)
YAML
  t0=$(now); S -c "COPY (SELECT * FROM $t) TO STDOUT" | D -c "COPY public.${t}_copy FROM STDIN"; peer=$(since "$t0")
  D -c "DROP TABLE public.${t}_copy" >/dev/null
  run "$t"
  printf '%-9s %-13s %9s %9s %8s %10s %7s %7s\n' "$n" first-sync "$SEC" "$(us "$SEC" "$n")" "$RSS" "$peer" "$(ratio "$SEC" "$peer")" "$(load)"
  S -c "UPDATE $t SET score = score + 1, name = name || 'x' WHERE id % 100 = 0" -c "VACUUM ANALYZE $t" >/dev/null
  t0=$(now); S -c "COPY (SELECT * FROM $t) TO STDOUT" >/dev/null; peer=$(since "$t0")
  run "$t"
  printf '%-9s %-13s %9s %9s %8s %10s %7s %7s\n' "$n" incremental "$SEC" "$(us "$SEC" "$n")" "$RSS" "$peer" "$(ratio "$SEC" "$peer")" "$(load)"
  [ "$CHANGED" = $((n / 100)) ] || { echo "sent $CHANGED rows, $((n / 100)) changed" >&2; exit 1; }
  S -c "DROP TABLE $t" >/dev/null; D -c "DROP TABLE public.$t" >/dev/null
  "$ENGINE" cleanup -f "$W/$t.yaml" -f "$W/secrets.yaml" >/dev/null 2>&1 || true
done
