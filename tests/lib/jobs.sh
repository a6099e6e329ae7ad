# shellcheck shell=bash
# Source from a suite: ReverseEtlJob manifests, printed on stdout.
#   retl_job NAME NAMESPACE SOURCE-SECRET QUERY DEST-TYPE DEST-SECRET DEST-FIELDS MODE KEY MAPPINGS [SPEC-LINE...]
#     QUERY        a postgres source query (no double quotes)
#     DEST-FIELDS  the rest of spec.destination, e.g. "object: Account, api: bulk" (may be empty)
#     KEY          "src:Dest", or "src" alone (Insert)
#     MAPPINGS     "src:Dest,src:Dest", or a YAML flow list such as
#                  "[{source: a, destination: B, nulls: Skip}]"
#     SPEC-LINE    one more field of spec each, e.g. "deletes: {mode: Delete, maxPercent: 25}"
#   sf_job NAME NAMESPACE SOURCE-SECRET QUERY SF-SECRET OBJECT MODE KEY MAPPINGS [SPEC-LINE...]
#     a Salesforce job: DEST-FIELDS "object: OBJECT" (OBJECT may go on: "Account, api: bulk")
#   retl_secret NAME NAMESPACE STRING-DATA: a Secret manifest led by "---";
#     STRING-DATA is a YAML flow mapping, e.g. '{url: "x", password: "y"}'
#   engine_run NAME: runs $ENGINE on $W/NAME.yaml with $W/secrets.yaml; sets RC,
#     OUT (the summary JSON: the last line of stdout) and LAST_ERR (the log);
#     RC 99 when the (sanitized) engine reported a sanitizer error.
retl_job() {
  local name=$1 ns=$2 ssec=$3 query=$4 type=$5 dsec=$6 dfields=$7 mode=$8 key=$9 maps=${10}
  shift 10
  echo "apiVersion: retl.io/v1alpha1"
  echo "kind: ReverseEtlJob"
  echo "metadata: {name: $name, namespace: $ns}"
  echo "spec:"
  echo "  source: {type: postgres, secretRef: {name: $ssec}, query: \"$query\"}"
  echo "  destination: {type: $type, secretRef: {name: $dsec}${dfields:+, $dfields}}"
  echo "  mode: $mode"
  if [ "${key#*:}" != "$key" ]; then
    echo "  key: {source: ${key%%:*}, destination: ${key#*:}}"
  else
    echo "  key: {source: $key}"
  fi
  if [ "${maps:0:1}" = "[" ]; then
    echo "  mappings: $maps"
  else
    echo "  mappings:"
    local m ms
    IFS=, read -ra ms <<<"$maps"
    for m in "${ms[@]}"; do echo "    - {source: ${m%%:*}, destination: ${m#*:}}"; done
  fi
  local l
  for l in "$@"; do
    [ -n "$l" ] && echo "  ${l#"${l%%[![:space:]]*}"}"
  done
  return 0
}

retl_secret() {
  printf -- '---\napiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: %s}\nstringData: %s\n' "$1" "$2" "$3"
}

sf_job() {
  retl_job "$1" "$2" "$3" "$4" salesforce "$5" "object: $6" "$7" "$8" "$9" "${@:10}"
}

RUNS=0
engine_run() {
  RUNS=$((RUNS + 1))
  "$ENGINE" run -f "$W/$1.yaml" -f "$W/secrets.yaml" >"$W/$1.$RUNS.out" 2>"$W/$1.$RUNS.err"
  RC=$?
  OUT=$(tail -n 1 "$W/$1.$RUNS.out")
  LAST_ERR=$W/$1.$RUNS.err
  if grep -q 'ERROR: \(AddressSanitizer\|LeakSanitizer\)\|runtime error:' "$LAST_ERR"; then
    echo "sanitizer report in $1 run $RUNS:"
    grep -A 20 'Sanitizer\|runtime error' "$LAST_ERR" | head -40
    RC=99
  fi
}
