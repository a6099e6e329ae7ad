#!/usr/bin/env bash
# The include rules of CONTRIBUTING.md hold on the tree, and the checker catches a
# planted violation of every rule (so a passing check means something).
set -uo pipefail
root=${RETL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"
P=0 F=0
ok() { P=$((P + 1)); echo "ok - $*"; }
ko() { F=$((F + 1)); echo "FAIL - $*"; }

if out=$(scripts/check-layers.sh "$root"); then ok "tree: $out"; else ko "tree violates the layering rules:"; echo "$out"; fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
plant() { # plant FILE INCLUDE: a minimal tree with one include, checked with the real rules
  rm -rf "$tmp/t" && mkdir -p "$tmp/t/common" "$tmp/t/engine/base" "$tmp/t/engine/source" \
    "$tmp/t/engine/dest" "$tmp/t/controller/kube"
  printf '#include "%s"\n' "$2" >"$tmp/t/$1"
  scripts/check-layers.sh "$tmp/t" "$root/CONTRIBUTING.md" >/dev/null
}
while read -r file inc; do
  if plant "$file" "$inc"; then ko "$file including $inc was not caught"; else ok "$file including $inc is caught"; fi
done <<'CASES'
common/x.c engine/run.h
common/x.h controller/kube/kube.h
engine/run.c controller/ctl_status.h
engine/base/x.c controller/health.h
controller/x.c engine/base/row.h
controller/kube/x.c engine/dest/dest.h
engine/source/x.c engine/dest/dest.h
engine/source/x.h engine/dest/salesforce_int.h
engine/dest/x.c engine/source/pg_sql.h
engine/base/x.h engine/source/source.h
engine/base/x.c engine/dest/dest.h
engine/base/x.c engine/run.h
CASES
while read -r file inc; do
  if plant "$file" "$inc"; then ok "$file including $inc is allowed"; else ko "$file including $inc was refused"; fi
done <<'CASES'
engine/source/x.c engine/base/row.h
engine/dest/x.c engine/base/pg.h
engine/run.c engine/source/source.h
controller/x.c common/summary.h
CASES
echo "layering: $P passed, $F failed"
[ "$F" -eq 0 ]
