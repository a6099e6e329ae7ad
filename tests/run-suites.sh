#!/usr/bin/env bash
# Runs every test suite (tests/suites/*.sh, in name order, or the ones given as
# arguments) and prints one closing line: `N passed, M failed[, K skipped]`.
#
# Suite contract: a suite is an executable script that prints, as the last line of
# its stdout matching the pattern, `N passed, M failed` (optionally `, K skipped`)
# and exits non-zero when anything failed. A suite that exits non-zero without such
# a line, or whose line says 0 failed while it exits non-zero, counts one failure.
# Each suite's full output is kept in build/test-logs/<suite>.log.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
logs=build/test-logs
mkdir -p "$logs"
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(tests/suites/*.sh)
export RETL_ROOT="$root"
P=0 F=0 S=0
failed_suites=()
for s in "${suites[@]}"; do
  name=$(basename "$s" .sh)
  echo "=== suite $name"
  start=$(date +%s)
  "$s" 2>&1 | tee "$logs/$name.log"
  rc=${PIPESTATUS[0]}
  line=$(grep -E '^([A-Za-z-]+: )?[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$logs/$name.log" | tail -n 1)
  p=0 f=0 k=0
  if [ -n "$line" ]; then
    p=$(sed -E 's/.*\b([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.*\b([0-9]+) failed.*/\1/' <<<"$line")
    grep -q skipped <<<"$line" && k=$(sed -E 's/.*\b([0-9]+) skipped.*/\1/' <<<"$line")
  fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "suite $name exited $rc without reporting a failure: counted as one failure"
    f=1
  fi
  [ "$f" -gt 0 ] && failed_suites+=("$name")
  echo "=== suite $name: $p passed, $f failed, $k skipped ($(( $(date +%s) - start ))s)"
  P=$((P + p)) F=$((F + f)) S=$((S + k))
done
[ ${#failed_suites[@]} -gt 0 ] && echo "failing suites: ${failed_suites[*]} (logs in $logs/)"
if [ "$S" -gt 0 ]; then echo "$P passed, $F failed, $S skipped"; else echo "$P passed, $F failed"; fi
[ "$F" -eq 0 ]
