#!/usr/bin/env bash
# C unit tests (cmocka, ASan + UBSan): every build/test/test_* binary.
set -uo pipefail
cd "${RETL_ROOT:-$(dirname "$0")/../..}"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
P=0 F=0 S=0
for t in build/test/test_*; do
  [ -x "$t" ] || continue
  out=$(CMOCKA_MESSAGE_OUTPUT=stdout timeout 300 "$t" 2>&1); rc=$?
  echo "$out"
  p=$(grep -oE '^\[  PASSED  \] [0-9]+' <<<"$out" | grep -oE '[0-9]+$' | awk '{s+=$1} END{print s+0}')
  f=$(grep -oE '^\[  FAILED  \] [0-9]+' <<<"$out" | grep -oE '[0-9]+$' | awk '{s+=$1} END{print s+0}')
  k=$(grep -oE '^\[  SKIPPED \] [0-9]+' <<<"$out" | grep -oE '[0-9]+$' | awk '{s+=$1} END{print s+0}')
  p=${p:-0} f=${f:-0} k=${k:-0}
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then echo "$t crashed or exited $rc"; f=1; fi
  P=$((P + p)) F=$((F + f)) S=$((S + k))
done
echo "$P passed, $F failed, $S skipped"
[ "$F" -eq 0 ]
