#!/usr/bin/env bash
# The local control plane (tests/cluster) is a real Kubernetes: real kube-apiserver
# (version, CEL validation, RBAC, PodSecurity), real kube-controller-manager (garbage
# collector, deployments), and a local kubelet whose pods really run and report status.
# Brings the cluster up itself and stops it at the end unless RETL_KEEP_CLUSTER=1.
set -uo pipefail
cd "${RETL_ROOT:-$(dirname "$0")/../..}"
export RETL_ROOT=$PWD
. tests/lib/cluster-env.sh

P=0 F=0
pass() { echo "ok   - $1"; P=$((P + 1)); }
fail() { echo "FAIL - $1${2:+: $2}"; F=$((F + 1)); }
check() { # check NAME COND-EXIT-CODE [detail]
  if [ "$2" -eq 0 ]; then pass "$1"; else fail "$1" "${3:-}"; fi
}
finish() {
  cluster_down
  echo "$P passed, $F failed"
  [ "$F" -eq 0 ]
  exit
}
trap finish EXIT

t0=$(date +%s.%N)
if ! cluster_up; then
  fail "cluster-up" "did not become ready"
  exit
fi
pass "cluster-up ready ($(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)")s)"

t1=$(date +%s.%N)
make -s --no-print-directory cluster-up >/dev/null 2>&1
dt=$(echo "$(date +%s.%N) - $t1" | bc)
check "cluster-up is idempotent and returns at once when up (${dt}s)" "$(echo "$dt < 5" | bc -l | grep -q 1; echo $?)"

NS=retl-cluster-test
RESTRICTED='securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}'
CSEC='securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}'
kubectl create namespace $NS >/dev/null
kubectl label namespace $NS pod-security.kubernetes.io/enforce=restricted >/dev/null

# 1. server version
sv=$(kubectl version -o json 2>/dev/null | jq -r .serverVersion.gitVersion)
[[ $sv == v1.32.* ]]
check "kubectl version: server is $sv" $? "want v1.32.x"

# 2. node
nd=$(kubectl get node "$RETL_NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.addresses[?(@.type=="InternalIP")].address} {.status.allocatable.pods}')
[ "$nd" = "True 127.0.0.1 110" ]
check "node $RETL_NODE Ready, InternalIP 127.0.0.1, allocatable pods" $? "$nd"

# 3. CRD with a CEL rule
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.clustertest.retl.io}
spec:
  group: clustertest.retl.io
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-validations:
            - rule: "self.minReplicas <= self.maxReplicas"
              message: "minReplicas must not exceed maxReplicas"
            properties:
              minReplicas: {type: integer}
              maxReplicas: {type: integer}
EOF
kubectl wait --for=condition=Established crd/widgets.clustertest.retl.io --timeout=30s >/dev/null
msg=$(printf 'apiVersion: clustertest.retl.io/v1\nkind: Widget\nmetadata: {name: bad, namespace: %s}\nspec: {minReplicas: 5, maxReplicas: 1}\n' $NS | kubectl apply -f - 2>&1)
rc=$?
[ $rc -ne 0 ] && grep -q 'The Widget "bad" is invalid: spec: Invalid value: "object": minReplicas must not exceed maxReplicas' <<<"$msg"
check "CEL x-kubernetes-validations rejects a bad object" $? "$msg"
printf 'apiVersion: clustertest.retl.io/v1\nkind: Widget\nmetadata: {name: good, namespace: %s}\nspec: {minReplicas: 1, maxReplicas: 5}\n' $NS | kubectl apply -f - >/dev/null 2>&1
check "CEL rule admits a good object" $?

# 4. PodSecurity restricted is enforced
msg=$(printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: priv, namespace: %s}\nspec: {containers: [{name: c, image: x, command: ["true"]}]}\n' $NS | kubectl apply -f - 2>&1)
grep -q 'violates PodSecurity "restricted:latest"' <<<"$msg"
check "PodSecurity admission rejects an unrestricted pod" $? "$msg"

kubectl -n $NS create secret generic db --from-literal=user=alice --from-literal=password='p@ss w0rd' >/dev/null
# A binary under /tmp, which the pod's emptyDir on /tmp shadows (a repository
# cloned under /tmp runs its pods this way).
SHADOW_DIR=$(mktemp -d /tmp/retl-shadow.XXXXXX)
printf '#!/bin/sh\necho shadowed-ok > /dev/termination-log\n' > "$SHADOW_DIR/tool"
chmod 755 "$SHADOW_DIR" "$SHADOW_DIR/tool"
SHADOW_BIN=$SHADOW_DIR/tool
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: term, namespace: $NS}
spec:
  restartPolicy: Never
  $RESTRICTED
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'echo done > /dev/termination-log; exit 3']
    $CSEC
---
apiVersion: v1
kind: Pod
metadata: {name: fallback, namespace: $NS}
spec:
  restartPolicy: Never
  $RESTRICTED
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'echo first; echo last words; exit 1']
    terminationMessagePolicy: FallbackToLogsOnError
    $CSEC
---
apiVersion: v1
kind: Pod
metadata: {name: envfrom, namespace: $NS}
spec:
  restartPolicy: Never
  $RESTRICTED
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'echo "user=\$DB_user password=\$DB_password pod=\$ME ns=\$NS uid=\$(id -u)" > /dev/termination-log']
    envFrom: [{prefix: DB_, secretRef: {name: db}}]
    env:
    - {name: ME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
    $CSEC
---
apiVersion: v1
kind: Pod
metadata: {name: nosecret, namespace: $NS}
spec:
  restartPolicy: Never
  $RESTRICTED
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'echo should not run']
    envFrom: [{secretRef: {name: absent}}]
    $CSEC
---
apiVersion: v1
kind: Pod
metadata: {name: deadline, namespace: $NS}
spec:
  restartPolicy: Never
  activeDeadlineSeconds: 3
  $RESTRICTED
  containers:
  - name: c
    image: busybox
    command: [sleep, "3333.$$"]
    $CSEC
---
apiVersion: v1
kind: Pod
metadata: {name: incluster, namespace: $NS}
spec:
  restartPolicy: Never
  $RESTRICTED
  containers:
  - name: c
    image: curl
    command: [sh, -c, 'd=/var/run/secrets/kubernetes.io/serviceaccount; curl -sS --cacert \$d/ca.crt -H "Authorization: Bearer \$(cat \$d/token)" https://\$KUBERNETES_SERVICE_HOST:\$KUBERNETES_SERVICE_PORT/api/v1/namespaces/\$(cat \$d/namespace)/pods']
    $CSEC
---
apiVersion: v1
kind: Pod
metadata: {name: runshape, namespace: $NS}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: {type: RuntimeDefault}}
  volumes: [{name: tmp, emptyDir: {}}]
  containers:
  - name: engine
    image: busybox
    command: [sh, -c, 'echo scratch > /tmp/f && test ! -e /var/run/secrets/kubernetes.io/serviceaccount/token && echo "\$(cat /tmp/f) \$(id -u):\$(id -g) home=\$HOME" > /dev/termination-log']
    terminationMessagePolicy: FallbackToLogsOnError
    volumeMounts: [{name: tmp, mountPath: /tmp}]
    $CSEC
---
apiVersion: v1
kind: Pod
metadata: {name: shadowed, namespace: $NS}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, runAsUser: 10001, seccompProfile: {type: RuntimeDefault}}
  volumes: [{name: tmp, emptyDir: {}}]
  containers:
  - name: c
    image: busybox
    command: [$SHADOW_BIN]
    volumeMounts: [{name: tmp, mountPath: /tmp}]
    $CSEC
---
apiVersion: v1
kind: Pod
metadata: {name: onfailure, namespace: $NS}
spec:
  restartPolicy: OnFailure
  $RESTRICTED
  volumes: [{name: scratch, emptyDir: {}}]
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'if [ -f /var/lib/retl-test/scratch/m ]; then echo second run; exit 0; fi; touch /var/lib/retl-test/scratch/m; exit 1']
    volumeMounts: [{name: scratch, mountPath: /var/lib/retl-test/scratch}]
    $CSEC
EOF

# 5. termination message and exit code
r=$(kwait 30 pod/term -n $NS '{.status.phase} {.status.containerStatuses[0].state.terminated.exitCode} {.status.containerStatuses[0].state.terminated.reason} {.status.containerStatuses[0].state.terminated.message}' 'Failed 3 Error done')
check "pod ends Failed, exit code 3, reason Error, termination message 'done'" $? "$r"

r=$(kwait 30 pod/fallback -n $NS '{.status.phase} {.status.containerStatuses[0].state.terminated.message}' 'Failed first
last words')
check "FallbackToLogsOnError uses the log tail as the message" $? "$r"

# 6. envFrom secret with prefix, fieldRef
r=$(kwait 30 pod/envfrom -n $NS '{.status.phase} {.status.containerStatuses[0].state.terminated.message}' 'Succeeded user=alice password=p@ss w0rd pod=envfrom ns='$NS' uid=65532')
check "envFrom secret with prefix and fieldRef env reach the process, run as runAsUser" $? "$r"

r=$(kwait 30 pod/runshape -n $NS '{.status.phase} {.status.containerStatuses[0].state.terminated.message}' 'Succeeded scratch 10001:10001 home=/tmp')
check "run-pod shape: private emptyDir /tmp, runAsUser/Group, no token without automount" $? "$r"
r=$(kwait 30 pod/shadowed -n $NS '{.status.phase} {.status.containerStatuses[0].state.terminated.message}' 'Succeeded shadowed-ok')
check "a binary in a host directory that a volume shadows still runs" $? "$r"
rm -rf "$SHADOW_DIR"

# 7. missing secret
r=$(kwait 30 pod/nosecret -n $NS '{.status.phase} {.status.containerStatuses[0].state.waiting.reason} {.status.containerStatuses[0].state.waiting.message}' 'Pending CreateContainerConfigError secret "absent" not found')
check "missing secret: Pending, CreateContainerConfigError, kubelet's message" $? "$r"

kubectl -n $NS create secret generic absent --from-literal=k=v >/dev/null
r=$(kwait 30 pod/nosecret -n $NS '{.status.phase} {.status.containerStatuses[0].state.terminated.reason}' 'Succeeded Completed')
check "creating the missing secret lets the container start" $? "$r"

# 8. RBAC
kubectl -n $NS create serviceaccount lonely >/dev/null
kubectl auth can-i list pods -n $NS --as=system:serviceaccount:$NS:lonely >/dev/null 2>&1
[ $? -ne 0 ]
check "service account without RoleBinding is denied (auth can-i)" $?
kubectl -n $NS create role podreader --verb=get,list --resource=pods >/dev/null
kubectl -n $NS create rolebinding lonely-podreader --role=podreader --serviceaccount=$NS:lonely >/dev/null
ok=1
for _ in $(seq 20); do
  kubectl auth can-i list pods -n $NS --as=system:serviceaccount:$NS:lonely >/dev/null 2>&1 && { ok=0; break; }
  sleep 0.3
done
check "same service account is allowed once bound" $ok

# 9. in-cluster credentials: projected token + ca.crt + namespace, KUBERNETES_SERVICE_*
r=$(kwait 30 pod/incluster -n $NS '{.status.phase}' Succeeded)
out=$(kubectl -n $NS logs incluster 2>&1)
grep -q 'Forbidden' <<<"$out" && grep -q "system:serviceaccount:$NS:default" <<<"$out"
check "pod authenticates in-cluster as its service account (token, ca.crt), RBAC denies" $? "$r: $out"

# 10. kubectl logs through the kubelet endpoint
out=$(kubectl -n $NS logs onfailure 2>&1)
r=$(kwait 30 pod/onfailure -n $NS '{.status.phase} {.status.containerStatuses[0].restartCount}' 'Succeeded 1')
check "restartPolicy OnFailure restarts a failed container, then Succeeded" $? "$r"
out=$(kubectl -n $NS logs onfailure 2>&1)
[ "$out" = "second run" ] && [ -f "$RETL_CLUSTER_DIR/logs/${NS}_onfailure_c.log" ]
check "kubectl logs is served by the kubelet; log file kept" $? "$out"

[ ! -e /dev/termination-log ] && [ ! -e /var/run/secrets/kubernetes.io ] && [ ! -e /var/lib/retl-test ]
check "container mounts stay inside the containers' mount namespaces" $?

# 11. activeDeadlineSeconds
r=$(kwait 30 pod/deadline -n $NS '{.status.phase} {.status.reason}' 'Failed DeadlineExceeded')
check "activeDeadlineSeconds: Failed, DeadlineExceeded" $? "$r"
! pgrep -f "sleep 3333.$$" >/dev/null
check "activeDeadlineSeconds killed the process" $?

# 12. garbage collection of owned objects
kubectl -n $NS create configmap owner >/dev/null
uid=$(kubectl -n $NS get configmap owner -o jsonpath='{.metadata.uid}')
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: owned
  namespace: $NS
  ownerReferences: [{apiVersion: v1, kind: ConfigMap, name: owner, uid: $uid}]
spec:
  $RESTRICTED
  containers:
  - {name: c, image: busybox, command: [sleep, "4444.$$"], $CSEC}
EOF
r=$(kwait 30 pod/owned -n $NS '{.status.phase}' Running)
check "owned pod runs" $? "$r"
kubectl -n $NS delete configmap owner >/dev/null
gone=1
for _ in $(seq 100); do
  kubectl -n $NS get pod owned >/dev/null 2>&1 || { gone=0; break; }
  sleep 0.3
done
check "deleting the owner garbage-collects the owned pod" $gone
! pgrep -f "sleep 4444.$$" >/dev/null
check "the collected pod's process is gone" $?

# 13. graceful deletion: SIGTERM first, object removed by the kubelet
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: graceful, namespace: $NS}
spec:
  terminationGracePeriodSeconds: 20
  $RESTRICTED
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'trap "echo got SIGTERM; exit 0" TERM; echo started; while :; do sleep 0.1; done']
    $CSEC
EOF
kwait 30 pod/graceful -n $NS '{.status.phase}' Running >/dev/null
t=$(date +%s)
kubectl -n $NS delete pod graceful --wait=true --timeout=30s >/dev/null 2>&1
rc=$?
dt=$(($(date +%s) - t))
grep -q 'got SIGTERM' "$RETL_CLUSTER_DIR/logs/${NS}_graceful_c.log" && [ $rc -eq 0 ] && [ $dt -lt 15 ]
check "graceful deletion: SIGTERM reaches the process, pod removed (${dt}s)" $?

# 14. Deployment
kubectl apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: $NS}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      $RESTRICTED
      containers:
      - name: c
        image: busybox
        command: [sh, -c, 'echo serving; exec sleep 5555.$$']
        readinessProbe: {exec: {command: ["true"]}, periodSeconds: 1}
        $CSEC
EOF
kubectl -n $NS rollout status deployment/web --timeout=60s >/dev/null 2>&1
r=$(kubectl -n $NS get pods -l app=web -o jsonpath='{.items[0].status.phase} {.items[0].status.containerStatuses[0].ready}')
[ "$r" = "Running true" ]
check "Deployment rolls out; its pod is Running and Ready" $? "$r"

kubectl delete namespace $NS --wait=true --timeout=60s >/dev/null 2>&1
check "namespace deletion completes (namespace controller, pods terminated)" $?
! pgrep -f "sleep 5555.$$" >/dev/null
check "no pod process outlives its namespace" $?
kubectl delete crd widgets.clustertest.retl.io >/dev/null 2>&1
