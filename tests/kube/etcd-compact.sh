#!/usr/bin/env bash
# Compacts the local cluster's etcd to its current revision (physically), so
# older resourceVersions and continue tokens become 410 Gone at once instead
# of after the apiserver's 5-minute compaction cycle. Usage: etcd-compact.sh DIR
set -euo pipefail
. "${1:?cluster dir}/cluster.env"
rev=$(curl -sf -X POST "http://127.0.0.1:$RETL_ETCD_PORT/v3/kv/range" -d '{"key":"AA=="}' |
  sed -E 's/.*"revision":"([0-9]+)".*/\1/')
curl -sf -X POST "http://127.0.0.1:$RETL_ETCD_PORT/v3/kv/compaction" \
  -d "{\"revision\":\"$rev\",\"physical\":true}" >/dev/null
echo "compacted etcd to revision $rev"
