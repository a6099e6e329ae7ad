#!/usr/bin/env bash
# Runs each libFuzzer target for a short, fixed time from its seed corpus
# (tests/fuzz/corpus/<target>): the YAML and spec parsers, the redactor, cron
# and time zone files, the watch-event stream, kubeconfig loading, the
# Salesforce Bulk CSV and Collections JSON results, a run pod with its
# termination summary (read into the job's status), Snowflake result cells,
# HubSpot's property list with a value converted for each property, and the
# network answers checked for their invariants: a Salesforce describe, a
# Salesforce OAuth token answer (out parameters untouched on error), a
# HubSpot batch answer and batch/read lookup, a Salesforce Bulk result CSV
# and the http destination's answer (every row exactly one outcome), and a Snowflake
# statement answer read row by row (one cell per column or an error). A
# crash, leak, failed invariant or timeout fails the target (the reproducer
# stays in build/fuzz/).
set -uo pipefail
cd "${RETL_ROOT:-$(dirname "$0")/../..}"
secs=${RETL_FUZZ_SECONDS:-10}
P=0 F=0
for t in yaml spec redact cron tzif watch kubeconfig sf_csv sf_json pod_outcome snow_cell hs_value \
  sf_describe hs_results http_answer sf_token snow_result sf_bulk_apply hs_read; do
  work=build/fuzz/corpus-$t
  mkdir -p "$work"
  cp -n tests/fuzz/corpus/$t/* "$work"/ 2>/dev/null
  if (cd build/fuzz && ./fuzz_$t -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 \
        -max_len=8192 -print_final_stats=1 "corpus-$t" > "fuzz_$t.log" 2>&1); then
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' build/fuzz/fuzz_$t.log | grep -oE '[0-9]+$')
    echo "ok   fuzz_$t: ${runs:-?} inputs in ${secs}s, no crash"
    P=$((P + 1))
  else
    echo "FAIL fuzz_$t (see build/fuzz/fuzz_$t.log):"
    tail -n 30 build/fuzz/fuzz_$t.log
    F=$((F + 1))
  fi
done
echo "$P passed, $F failed"
[ "$F" -eq 0 ]
