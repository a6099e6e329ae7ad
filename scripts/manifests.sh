#!/usr/bin/env bash
# manifests/ from the chart (the one source, DESIGN §8.3): `helm template` of
# charts/retl with its defaults and namespace.create=true, split by the chart's
# template files into manifests/{namespace,rbac,deployment}.yaml. The CRD and
# the monitoring files are single files that the chart links to (crds/,
# manifests/monitoring/). `scripts/manifests.sh check` exits 1 when manifests/
# differs from what the chart renders.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HELM=${HELM:-$ROOT/build/bin/helm}
mode=${1:-write}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$HELM" template retl "$ROOT/charts/retl" --namespace retl-system \
  --set namespace.create=true --output-dir "$out" 2>&1 >/dev/null |
  grep -v 'found symbolic link in path' >&2 || true
rc=0
for f in namespace rbac deployment; do
  src=$out/retl/templates/$f.yaml
  {
    echo "# Generated from charts/retl/templates/$f.yaml by \`make manifests\`: edit the chart."
    # No blank lines in these templates' output (none is inside a block scalar).
    grep -vE '^(# Source: .*)?$' "$src" | sed '1{/^---$/d}'
  } >"$out/$f.yaml"
  if [ "$mode" = check ]; then
    if ! diff -u "$ROOT/manifests/$f.yaml" "$out/$f.yaml"; then
      echo "manifests/$f.yaml differs from the chart (run make manifests)" >&2
      rc=1
    fi
  else
    cp "$out/$f.yaml" "$ROOT/manifests/$f.yaml"
  fi
done
exit $rc
