#!/usr/bin/env bash
# `make bench`: runs every bench/*.sh (each compares retl with a peer in the same
# run and prints ratios) and keeps their reports in build/bench/.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/bench
rc=0
for b in bench/*.sh; do
  [ "$(basename "$b")" = run.sh ] && continue
  [ -n "${RETL_BENCH:-}" ] && [[ "$b" != *"$RETL_BENCH"* ]] && continue
  name=$(basename "$b" .sh)
  echo "=== bench $name"
  if ! "$b" 2>&1 | tee "build/bench/$name.txt"; then
    echo "bench $name failed"; rc=1
  fi
done
exit $rc
