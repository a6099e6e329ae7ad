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
# shellcheck source=lib/pg-pair.sh
source "$ROOT/bench/lib/pg-pair.sh"
W=$(mktemp -d /tmp/retl-bench-scale.XXXXXX)
trap 'pg_stop; rm -rf "$W"' EXIT
pair_start "max_wal_size=8GB"
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
  pair_table "$t" "$n"
  D -c "CREATE TABLE public.${t}_copy ($PAIR_COLS)" >/dev/null
  pair_job "$W/$t.yaml" "scale-$n" "$t"
  t0=$(now); S -c "COPY (SELECT * FROM $t) TO STDOUT" | D -c "COPY public.${t}_copy FROM STDIN"; peer=$(since "$t0")
  D -c "DROP TABLE public.${t}_copy" >/dev/null
  run "$t"
  printf '%-9s %-13s %9s %9s %8s %10s %7s %7s\n' "$n" first-sync "$SEC" "$(us "$SEC" "$n")" "$RSS" "$peer" "$(ratio "$SEC" "$peer")" "$(load)"
  S -c "UPDATE $t SET score = score + 1, name = name || 'x' WHERE id % 100 = 0" -c "VACUUM ANALYZE $t" >/dev/null
  t0=$(now); S -c "COPY (SELECT * FROM $t) TO STDOUT" >/dev/null; peer=$(since "$t0")
  run "$t"
  printf '%-9s %-13s %9s %9s %8s %10s %7s %7s\n' "$n" incremental "$SEC" "$(us "$SEC" "$n")" "$RSS" "$peer" "$(ratio "$SEC" "$peer")" "$(load)"
  [ "$CHANGED" = $((n / 100)) ] || { echo "sent $CHANGED rows, $((n / 100)) changed" >&2; exit 1; }
  "$ENGINE" cleanup -f "$W/$t.yaml" -f "$W/secrets.yaml" >/dev/null 2>&1 || true
  S -c "DROP TABLE $t" >/dev/null; D -c "DROP TABLE public.$t" >/dev/null
done
