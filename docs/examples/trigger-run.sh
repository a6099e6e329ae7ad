#!/usr/bin/env bash
# Runs one ReverseEtlJob now and waits for it: the step a data-stack scheduler
# (Airflow BashOperator / KubernetesPodOperator, a Dagster op, an Argo
# Workflows container step) runs after the warehouse models it reads are built.
#
#   docs/examples/trigger-run.sh JOB [TIMEOUT]
#
# Needs kubectl and kubectl-retl on PATH and a kubeconfig (KUBECONFIG, or the
# pod's service account in-cluster) allowed to patch reverseetljobs in the
# namespace (RETL_NAMESPACE, default: the context's). The exit code is the run's,
# as the engine's: 0 synced, 1 failed (or timed out), 2 no such job or the job
# is invalid, 3 synced but over the error threshold, so the scheduler marks the
# step failed or retries it. The jobs listed in other jobs' spec.after run by
# themselves once this one succeeded.
set -euo pipefail
job=${1:?usage: trigger-run.sh JOB [TIMEOUT]}
timeout=${2:-30m}
ns=()
[ -n "${RETL_NAMESPACE:-}" ] && ns=(-n "$RETL_NAMESPACE")
exec kubectl retl run "$job" --wait --timeout "$timeout" "${ns[@]}"
