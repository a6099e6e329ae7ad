#!/usr/bin/env bash
# End to end with kubectl on a real kube-apiserver (tests/cluster): the CRD and
# manifests/ applied with `kubectl apply -k`, the controller running in the
# cluster as the shipped Deployment (2 replicas, leader election, the shipped
# service account and RBAC), run pods executing retl-engine against PostgreSQL
# and salesforce-sim.
set -uo pipefail
cd "${RETL_ROOT:-$(dirname "$0")/../..}"
# shellcheck source=tests/lib/e2e-suite.sh
source tests/lib/e2e-suite.sh
e2e_suite_start e2e-suite salesforce-sim
NS=e2e
request() { kubectl -n $NS annotate rj "$1" retl.io/run-requested-at="$2" --overwrite >/dev/null; }
manual_pod() { printf '%s-m%s' "$1" "$(printf '%s' "$2" | sha256sum | cut -c1-8)"; }
pods_of() { kubectl -n $NS get pods -l "retl.io/job=$1" -o name 2>/dev/null | wc -l; }
# npods JOB N: the job has N pods (evaluated at each poll).
npods() { [ "$(pods_of "$1")" -eq "$2" ]; }
has_leader() { [ -n "$(e2e_leader_pod)" ]; }
no_controller_pods() { [ -z "$(kubectl -n retl-system get pods -l app.kubernetes.io/component=controller -o name 2>/dev/null)" ]; }
dump() {
  echo "---- $1"
  kubectl -n $NS get rj "$1" -o yaml 2>&1 | sed -n '/^status:/,$p' | head -60
  kubectl -n $NS get pods -l "retl.io/job=$1" 2>&1
}

# ---- servers -----------------------------------------------------------------
e2e_cluster_up || e2e_suite_abort
e2e_pg_up || e2e_suite_abort
e2e_sim_up || e2e_suite_abort

sql "CREATE SCHEMA analytics; CREATE SCHEMA crm;
CREATE TABLE analytics.accounts (id int PRIMARY KEY, name text NOT NULL, score numeric(8,2), tier text);
INSERT INTO analytics.accounts SELECT i, 'Account ' || i, i * 1.5, CASE WHEN i % 3 = 0 THEN 'gold' ELSE 'silver' END
  FROM generate_series(1, 50) i;
CREATE TABLE analytics.signups (signup_id int PRIMARY KEY, last_name text, company text);
INSERT INTO analytics.signups SELECT i, 'Lead' || i, 'Company ' || i FROM generate_series(1, 7) i;
CREATE TABLE crm.customer_tiers (customer_id int PRIMARY KEY, tier text, score numeric(8,2));
CREATE TABLE crm.sched (customer_id int PRIMARY KEY, tier text);
CREATE TABLE crm.slow (customer_id int PRIMARY KEY, tier text);
CREATE TABLE crm.hist (customer_id int PRIMARY KEY, tier text);" >/dev/null || e2e_suite_abort

# ---- install: CRD + manifests, controller in the cluster ---------------------
if e2e_controller_up 2; then pass "kubectl apply -k manifests/: CRD, RBAC and the 2-replica Deployment roll out"; else
  fail "controller deployment"
  kubectl -n retl-system get pods
  cat "$E2E_DIR"/cluster/logs/retl-system_* 2>/dev/null | tail -20
  echo "$P passed, $F failed"
  exit 1
fi
check "one replica leads (Lease retl-system/retl-controller-leader)" poll 30 has_leader
SHIPPED=$(kubectl kustomize manifests | kubectl create --dry-run=client -o json -f - 2>/dev/null)
check "shipped Deployment: 2 replicas, --leader-elect, probes on :8081, restricted, requests" \
  test "$(jq -rs '.[] | select(.kind == "Deployment") | .spec.template.spec as $s | $s.containers[0] as $c |
    [.spec.replicas, ($c.args | index("--leader-elect") != null), $c.livenessProbe.httpGet.port, $c.readinessProbe.httpGet.port,
     $s.securityContext.runAsNonRoot, $c.securityContext.allowPrivilegeEscalation, $c.securityContext.capabilities.drop[0],
     $c.securityContext.readOnlyRootFilesystem, ($c.resources.requests.cpu != null), $s.serviceAccountName] | map(tostring) | join(" ")' <<<"$SHIPPED")" \
  = "2 true 8081 8081 true false ALL true true retl-controller"
check "shipped RBAC: no rule names secrets; leases only through a Role in retl-system" \
  test "$(jq -rs '[.[] | select(.kind == "ClusterRole" or .kind == "Role") | .rules[].resources[]] | map(select(. == "secrets")) | length' <<<"$SHIPPED")/$(jq -rs '[.[] | select(.kind == "ClusterRole") | .rules[].resources[] | select(. == "leases")] | length' <<<"$SHIPPED")/$(jq -rs '.[] | select(.kind == "Role") | .metadata.namespace' <<<"$SHIPPED")" = "0/0/retl-system"
check "the controller's service account may not read Secrets" \
  test "$(kubectl auth can-i get secrets --as=system:serviceaccount:retl-system:retl-controller -A)" = no
check "the controller's service account may create pods and update rj status" \
  test "$(kubectl auth can-i create pods --as=system:serviceaccount:retl-system:retl-controller -n $NS)" = yes
check "the controller's service account may read pod logs (run progress)" \
  test "$(kubectl auth can-i get pods --subresource=log --as=system:serviceaccount:retl-system:retl-controller -n $NS)" = yes
check "namespace retl-system enforces the restricted Pod Security level" \
  test "$(kubectl get ns retl-system -o jsonpath='{.metadata.labels.pod-security\.kubernetes\.io/enforce}')" = restricted

e2e_suite_namespace

# job NAME MODE DEST_TYPE OBJECT KEYSRC KEYDST QUERY MAPPINGS [EXTRA SPEC YAML]
job() {
  local keydst=""
  [ -n "$6" ] && keydst=", destination: $6"
  local dsec=salesforce
  [ "$3" = postgres ] && dsec=crm
  cat <<EOF
apiVersion: retl.io/v1alpha1
kind: ReverseEtlJob
metadata: {name: $1, namespace: $NS}
spec:
  source: {type: postgres, secretRef: {name: warehouse}, query: "$7"}
  destination: {type: $3, secretRef: {name: $dsec}, object: $4}
  mode: $2
  key: {source: $5$keydst}
  mappings: $8
${9:-}
EOF
}

# ---- the apiserver rejects invalid manifests (CRD schema + CEL) --------------
out=$(job bad Upsert salesforce Account id External_Id__c "SELECT 1" "[{source: a, destination: B}]" |
  sed 's/query: "SELECT 1"/query: "SELECT 1", table: t1/' | kubectl apply -f - 2>&1)
check "both query and table: rejected with a clear message" \
  grep -q "exactly one of spec.source.query and spec.source.table must be set" <<<"$out"
out=$(job bad Update salesforce Account id External_Id__c "SELECT 1" "[{source: a, destination: B}]" | kubectl apply -f - 2>&1)
check "Update mode with key.destination != Id: rejected" grep -q 'in Update mode for a salesforce destination' <<<"$out"
out=$(job bad Upsert salesforce Account id External_Id__c "SELECT 1" "[{source: a, destination: B}]" "  schedule: \"CRON_TZ=UTC * * * * *\"" | kubectl apply -f - 2>&1)
check "TZ in schedule: rejected" grep -q "cannot use TZ or CRON_TZ in schedule" <<<"$out"
out=$(job bad Upsert salesforce Account id External_Id__c "SELECT 1" "[{source: a, destination: B}]" "  schedule: \"* * * *\"" | kubectl apply -f - 2>&1)
check "4-field schedule: rejected" grep -q "exactly 5 fields" <<<"$out"
out=$(job "$(printf 'x%.0s' $(seq 53))" Insert salesforce Lead id "" "SELECT 1" "[{source: a, destination: B}]" | kubectl apply -f - 2>&1)
check "53-character name: rejected" grep -q "at most 52 characters" <<<"$out"
out=$(job bad Sideways salesforce Account id x "SELECT 1" "[{source: a, destination: B}]" | kubectl apply -f - 2>&1)
check "unknown mode: rejected (enum)" grep -q 'Unsupported value: "Sideways"' <<<"$out"
out=$(job bad Upsert postgres crm.t id id "SELECT 1" "[{source: a, destination: b, lookup: {object: accounts, field: ext}}]" | kubectl apply -f - 2>&1)
check "postgres lookup.object without schema: rejected (CEL)" grep -q 'lookup.object must be "schema.table"' <<<"$out"
out=$(job bad Upsert postgres crm.t id id "SELECT 1" "[{source: a, destination: b}]" "  deletes: {mode: Delete, maxPercent: 120}" | kubectl apply -f - 2>&1)
check "deletes.maxPercent over 100: rejected" grep -q 'maxPercent' <<<"$out"
job defaults Upsert postgres crm.t id id "SELECT 1" "[{source: a, destination: b}]" "  deletes: {mode: Delete}" | kubectl apply -f - >/dev/null
check "deletes.maxPercent and mappings[].nulls defaulted by the CRD" \
  test "$(kubectl -n $NS get rj defaults -o jsonpath='{.spec.deletes.maxPercent}/{.spec.mappings[0].nulls}')" = "20/Write"
kubectl -n $NS delete rj defaults --wait=false >/dev/null 2>&1 || true
# The parser's whole rejection corpus (tests/spec/reject, which the unit test
# test_spec feeds to the parser) sent to the apiserver: each is refused, but for
# the few listed in PARSER-ONLY with the reason (issue 16).
check "tests/spec/valid.yaml (the corpus' base) is accepted (server dry run)" \
  kubectl -n $NS apply --dry-run=server -f tests/spec/valid.yaml
accepted=() refused=0
for f in tests/spec/reject/*.yaml; do
  grep -q "^$(basename "$f") " tests/spec/reject/PARSER-ONLY && continue
  if kubectl -n $NS apply --dry-run=server -f "$f" >/dev/null 2>&1; then accepted+=("$(basename "$f")"); else refused=$((refused + 1)); fi
done
check "the apiserver refuses the parser's rejection corpus ($refused refused; accepted: ${accepted[*]:-none})" \
  test "${#accepted[@]}" -eq 0 -a "$refused" -ge 39

# ---- scheduled jobs first: they need a minute boundary -----------------------
job every-minute Upsert postgres crm.sched id customer_id "SELECT id, tier FROM analytics.accounts" \
  "[{source: tier, destination: tier}]" '  schedule: "* * * * *"
  timeZone: Europe/Berlin' | kubectl apply -f - >/dev/null
job suspended Upsert postgres crm.sched id customer_id "SELECT id, tier FROM analytics.accounts" \
  "[{source: tier, destination: tier}]" '  schedule: "* * * * *"
  suspend: true' | kubectl apply -f - >/dev/null

# ---- Upsert to Salesforce, manual run ----------------------------------------
job upsert Upsert salesforce Account id External_Id__c "SELECT id, name, score FROM analytics.accounts" \
  "[{source: name, destination: Name}, {source: score, destination: Score__c}]" \
  "  cleanupPolicy: Delete" | kubectl apply -f - >/dev/null
check "kubectl wait --for=condition=Ready (observedGeneration kept)" \
  kubectl -n $NS wait --for=condition=Ready rj/upsert --timeout=30s
check "finalizer retl.io/cleanup added" is upsert '{.metadata.finalizers[0]}' retl.io/cleanup
check "no run without a request (manual-only job): no pod" test "$(pods_of upsert)" -eq 0

REQ1=$(date -Is)-1
POD1=$(manual_pod upsert "$REQ1")
t0=$(date +%s%N)
request upsert "$REQ1"
poll 10 kubectl -n $NS get pod "$POD1" >/dev/null 2>&1
t1=$(date +%s%N)
LAT_MS=$(((t1 - t0) / 1000000))
check "manual run: pod $POD1 created (annotate -> pod visible to kubectl in ${LAT_MS} ms)" test "$LAT_MS" -lt 3000
check "manual run succeeded" poll 60 is upsert '{.status.lastRun.result}' Succeeded
check "50 Accounts landed in salesforce-sim with their external ids" \
  test "$(sim_soql "SELECT COUNT() FROM Account WHERE External_Id__c != null" | jq -r .totalSize)" = 50
check "Account 7 has Score__c 10.5" \
  test "$(sim_soql "SELECT Score__c FROM Account WHERE External_Id__c = '7'" | jq -r '.records[0].Score__c')" = 10.5
check "status.lastHandledRunRequest echoes the annotation" is upsert '{.status.lastHandledRunRequest}' "$REQ1"
check "status.lastRun: run 1, trigger Manual, pod, rows 50 changed/inserted" \
  test "$(rj upsert '{.status.lastRun.run} {.status.lastRun.trigger} {.status.lastRun.pod} {.status.lastRun.rows.changed} {.status.lastRun.rows.inserted}')" = "1 Manual $POD1 50 50"
check "status.totals, history, errors, destinationInfo, lastSuccessfulTime" \
  test "$(rj upsert '{.status.totals.runs} {.status.totals.succeeded} {.status.totals.rowsSynced} {.status.errors.failingRows} {.status.destinationInfo.externalIdFields[0]} {.status.history[0].run}')" = "1 1 50 0 External_Id__c 1" -a -n "$(rj upsert '{.status.lastSuccessfulTime}')"
check "conditions: Ready True, Stalled False, Reconciling False, LastRunSucceeded True, observedGeneration" \
  test "$(rj upsert '{.status.conditions[?(@.type=="Ready")].status}{.status.conditions[?(@.type=="Stalled")].status}{.status.conditions[?(@.type=="Reconciling")].status}{.status.conditions[?(@.type=="LastRunSucceeded")].status} {.status.observedGeneration}')" = "TrueFalseFalseTrue $(rj upsert '{.metadata.generation}')"
cols=$(kubectl -n $NS get rj upsert | head -1 | tr -s ' ')
row=$(kubectl -n $NS get rj upsert --no-headers | tr -s ' ')
check "printer columns: $cols" test "$cols" = "NAME MODE DESTINATION SCHEDULE LAST RUN ROWS ERRORS READY AGE"
check "printer row: $row" grep -qE "^upsert Upsert Account Succeeded 50 0 True " <<<"$row"
check "kubectl get retl (category) and rj/retljob short names" \
  bash -c "kubectl -n $NS get retl -o name | grep -q reverseetljob.retl.io/upsert && kubectl -n $NS get retljob upsert -o name >/dev/null"
pod=$(kubectl -n $NS get pod "$POD1" -o json)
check "run pod: labels, controller ownerReference, restartPolicy Never, activeDeadlineSeconds" \
  test "$(jq -r '[.metadata.labels["retl.io/job"], .metadata.labels["retl.io/run"], .metadata.ownerReferences[0].kind, (.metadata.ownerReferences[0].controller|tostring), .spec.restartPolicy, (.spec.activeDeadlineSeconds|tostring)] | join(" ")' <<<"$pod")" = "upsert 1 ReverseEtlJob true Never 3600"
check "run pod: restricted security context, read-only root, command, envFrom prefixes, no secrets in env" \
  test "$(jq -r '.spec.containers[0] | [(.securityContext.runAsNonRoot|tostring), (.securityContext.runAsUser|tostring), (.securityContext.allowPrivilegeEscalation|tostring), .securityContext.capabilities.drop[0], .securityContext.seccompProfile.type, (.securityContext.readOnlyRootFilesystem|tostring), (.command|join(" ")), .envFrom[0].prefix, .envFrom[1].prefix, ([.env[].name]|join(","))] | join(" ")' <<<"$pod")" = "true 65532 false ALL RuntimeDefault true retl-engine run --from-env RETL_SOURCE_ RETL_DESTINATION_ RETL_JOB,RETL_RUN"
check "events RunStarted and RunSucceeded" \
  bash -c "kubectl -n $NS get events --field-selector involvedObject.name=upsert -o jsonpath='{.items[*].reason}' | grep -q RunStarted && kubectl -n $NS get events --field-selector involvedObject.name=upsert -o jsonpath='{.items[*].reason}' | grep -q RunSucceeded"

# The same annotation value again: nothing; a new value: exactly one more run.
request upsert "$REQ1"
sleep 1.5
check "same annotation value again: no new run" test "$(rj upsert '{.status.totals.runs}')/$(pods_of upsert)" = 1/1
sql "UPDATE analytics.accounts SET score = score + 100 WHERE id <= 5" >/dev/null
REQ2=$(date -Is)-2
request upsert "$REQ2"
check "second request: run 2 syncs the 5 changed rows" poll 60 is upsert '{.status.lastRun.run}/{.status.lastRun.rows.changed}/{.status.lastRun.result}' 2/5/Succeeded
check "history newest first" is upsert '{.status.history[*].run}' "2 1"
# A value used before (REQ1, whose run pod is still kept) cannot run again under
# the same pod name: the controller says so instead of silently (issue 16 item 7).
request upsert "$REQ1"
check "reused request value: nothing runs, status.lastIgnoredRunRequest says so" \
  poll 20 is upsert '{.status.lastIgnoredRunRequest.value}/{.status.totals.runs}/{.status.lastHandledRunRequest}' "$REQ1/2/$REQ1"
check "reused request value: Warning event RunRequestReused" \
  poll 10 bash -c "kubectl -n $NS get events --field-selector involvedObject.name=upsert,reason=RunRequestReused -o name | grep -q ."

# A spec change that alters what the snapshot means starts a new baseline.
kubectl -n $NS patch rj upsert --type merge -p '{"spec":{"mappings":[{"source":"name","destination":"Name"},{"source":"score","destination":"Score__c"},{"source":"id","destination":"AccountNumber"}]}}' >/dev/null
check "spec change: generation 2 observed (kubectl wait Ready)" \
  bash -c "kubectl -n $NS wait --for=condition=Ready rj/upsert --timeout=20s >/dev/null && [ \"\$(kubectl -n $NS get rj upsert -o jsonpath='{.status.observedGeneration}')\" = 2 ]"
request upsert "$(date -Is)-3"
check "spec change: the next run sends all 50 rows again (new baseline)" poll 60 is upsert '{.status.lastRun.run}/{.status.lastRun.rows.changed}/{.status.lastRun.result}' 3/50/Succeeded
check "spec change: the new field landed" \
  test "$(sim_soql "SELECT AccountNumber FROM Account WHERE External_Id__c = '9'" | jq -r '.records[0].AccountNumber')" = 9

# ---- Insert (Lead), Update by Id, PostgreSQL destination ---------------------
job leads Insert salesforce Lead signup_id "" "SELECT signup_id, last_name, company FROM analytics.signups" \
  "[{source: last_name, destination: LastName}, {source: company, destination: Company}]" | kubectl apply -f - >/dev/null
request leads "$(date -Is)"
check "Insert mode: 7 Leads created" poll 60 is leads '{.status.lastRun.result}/{.status.lastRun.rows.inserted}' Succeeded/7
check "Leads in salesforce-sim" test "$(sim_soql "SELECT COUNT() FROM Lead" | jq -r .totalSize)" = 7

sim_soql "SELECT Id, External_Id__c FROM Account WHERE External_Id__c != null" |
  jq -r '.records[] | "\(.Id)\t\(.External_Id__c)"' >"$E2E_DIR/ids.tsv"
sql "CREATE TABLE analytics.account_ids (sf_id text, id int)" >/dev/null
pg_sql -c "\\copy analytics.account_ids FROM '$E2E_DIR/ids.tsv'" >/dev/null
job health Update salesforce Account sf_id Id "SELECT i.sf_id, a.tier FROM analytics.account_ids i JOIN analytics.accounts a USING (id)" \
  "[{source: tier, destination: Tier__c}]" | kubectl apply -f - >/dev/null
request health "$(date -Is)"
check "Update mode by Id: 50 Accounts updated" poll 60 is health '{.status.lastRun.result}/{.status.lastRun.rows.updated}' Succeeded/50
check "Tier__c landed (16 gold)" \
  test "$(sim_soql "SELECT COUNT() FROM Account WHERE Tier__c = 'gold'" | jq -r .totalSize)" = 16

job tiers Upsert postgres crm.customer_tiers id customer_id "SELECT id, tier, score FROM analytics.accounts" \
  "[{source: tier, destination: tier}, {source: score, destination: score}]" | kubectl apply -f - >/dev/null
request tiers "$(date -Is)"
check "PostgreSQL destination: run succeeded" poll 60 is tiers '{.status.lastRun.result}' Succeeded
check "PostgreSQL destination: 50 rows in crm.customer_tiers" test "$(pg_sql -c 'SELECT count(*) FROM crm.customer_tiers')" = 50

# ---- rows the destination rejects: error threshold ----------------------------
job thresh Upsert salesforce Account id External_Id__c \
  "SELECT id + 1000 AS id, CASE WHEN id IN (3, 4) THEN NULL ELSE name END AS name FROM analytics.accounts" \
  "[{source: name, destination: Name}]" "  errorThreshold: {maxFailedRows: 1}" | kubectl apply -f - >/dev/null
request thresh "$(date -Is)"
check "2 rejected rows over maxFailedRows 1: ThresholdExceeded, 48 synced" \
  poll 60 is thresh '{.status.lastRun.result}/{.status.lastRun.rows.failed}/{.status.errors.failingRows}' ThresholdExceeded/2/2
check "ThresholdExceeded event; Errors column shows 2" bash -c "
  kubectl -n $NS get events --field-selector involvedObject.name=thresh -o jsonpath='{.items[*].reason}' | grep -q ThresholdExceeded &&
  kubectl -n $NS get rj thresh --no-headers | tr -s ' ' | grep -q '^thresh Upsert Account ThresholdExceeded 50 2 True'"

# ---- what only the controller can know: Stalled ------------------------------
job badtz Upsert postgres crm.sched id customer_id "SELECT id, tier FROM analytics.accounts" \
  "[{source: tier, destination: tier}]" '  schedule: "0 * * * *"
  timeZone: Mars/Olympus_Mons' | kubectl apply -f - >/dev/null
check "unknown time zone: Stalled=True InvalidSpec, Ready=False, message names the field" \
  poll 15 bash -c "[ \"\$(kubectl -n $NS get rj badtz -o jsonpath='{.status.conditions[?(@.type==\"Stalled\")].reason}/{.status.conditions[?(@.type==\"Ready\")].status}')\" = InvalidSpec/False ] && kubectl -n $NS get rj badtz -o jsonpath='{.status.conditions[?(@.type==\"Stalled\")].message}' | grep -q 'spec.timeZone'"
check "InvalidSpec event" poll 5 bash -c "kubectl -n $NS get events --field-selector involvedObject.name=badtz -o jsonpath='{.items[*].reason}' | grep -q InvalidSpec"

job nosecret Upsert salesforce Account id External_Id__c "SELECT id, name FROM analytics.accounts" \
  "[{source: name, destination: Name}]" | sed 's/name: salesforce}/name: no-such-secret}/' | kubectl apply -f - >/dev/null
request nosecret "$(date -Is)"
check "missing secret: run Failed, Stalled=True RunPodConfigError, Ready=False" \
  poll 30 is nosecret '{.status.lastRun.result}/{.status.conditions[?(@.type=="Stalled")].reason}/{.status.conditions[?(@.type=="Ready")].status}' Failed/RunPodConfigError/False
check "missing secret: the kubelet's message names the secret" \
  bash -c "kubectl -n $NS get rj nosecret -o jsonpath='{.status.lastRun.message}' | grep -q no-such-secret"
check "missing secret: the stuck pod is removed" poll 15 npods nosecret 0

# Hostile credentials that the servers reject: no piece of them in the job's
# status, its events or the controller's logs (issue 16 item 1).
HOSTILE_PW='quokka zebra77 }narwhal; PWD={ocelot"wombat'"'"'s ユニコード秘密'
kubectl -n $NS create secret generic hostile --from-literal=url="$PG_URL" \
  --from-literal=password="$HOSTILE_PW" >/dev/null
job hostile Upsert postgres crm.hostile id id "SELECT id, tier FROM analytics.accounts" "[{source: tier, destination: tier}]" |
  sed 's/secretRef: {name: warehouse}/secretRef: {name: hostile}/' | kubectl apply -f - >/dev/null
request hostile "$(date -Is)"
check "hostile password: the run fails (authentication)" poll 60 is hostile '{.status.lastRun.result}' Failed
hostile_out=$(kubectl -n $NS get rj hostile -o json; kubectl -n $NS get events --field-selector involvedObject.name=hostile -o json; cat "$E2E_DIR"/cluster/logs/retl-system_* 2>/dev/null)
leaked=""
for piece in quokka zebra77 narwhal ocelot wombat ユニコード秘密; do
  grep -qF "$piece" <<<"$hostile_out" && leaked="$leaked $piece"
done
check "hostile password: no piece of it in status, events or controller logs${leaked:+ (leaked:$leaked)}" test -z "$leaked"
kubectl -n $NS delete rj hostile --wait=false >/dev/null 2>&1 || true

job badcol Upsert salesforce Account id External_Id__c "SELECT id, name FROM analytics.accounts" \
  "[{source: name, destination: Name}, {source: no_such_column, destination: Score__c}]" | kubectl apply -f - >/dev/null
request badcol "$(date -Is)"
check "unknown column: run Failed, LastRunSucceeded=False" \
  poll 60 is badcol '{.status.lastRun.result}/{.status.conditions[?(@.type=="LastRunSucceeded")].status}' Failed/False
check "unknown column: the message names the column" \
  bash -c "kubectl -n $NS get rj badcol -o jsonpath='{.status.lastRun.message}' | grep -q no_such_column"

# ---- Replace, deadline, controller killed mid-run ----------------------------
SLOWQ="SELECT a.id, a.tier FROM analytics.accounts a CROSS JOIN pg_sleep(6)"
job replace Upsert postgres crm.slow id customer_id "$SLOWQ" "[{source: tier, destination: tier}]" \
  "  concurrencyPolicy: Replace" | kubectl apply -f - >/dev/null
R1=$(date -Is)-r1
request replace "$R1"
poll 15 is replace '{.status.active.run}' 1
sleep 1
R2=$(date -Is)-r2
request replace "$R2"
check "Replace: run 1 recorded Failed/Replaced, run 2 active" \
  poll 15 is replace '{.status.lastRun.run}/{.status.lastRun.reason}/{.status.active.run}' 1/Replaced/2
check "Replace: the replaced pod is deleted" poll 20 bash -c "! kubectl -n $NS get pod $(manual_pod replace "$R1") >/dev/null 2>&1"
check "Replace: run 2 succeeds" poll 40 is replace '{.status.lastRun.run}/{.status.lastRun.result}' 2/Succeeded

job deadline Upsert postgres crm.slow id customer_id "$SLOWQ" "[{source: tier, destination: tier}]" \
  "  runTemplate: {activeDeadlineSeconds: 2}" | kubectl apply -f - >/dev/null
request deadline "$(date -Is)"
check "activeDeadlineSeconds: run Failed with reason DeadlineExceeded" \
  poll 30 is deadline '{.status.lastRun.result}/{.status.lastRun.reason}' Failed/DeadlineExceeded

job slow Upsert postgres crm.slow id customer_id "$SLOWQ" "[{source: tier, destination: tier}]" | kubectl apply -f - >/dev/null
request slow "$(date -Is)-s1"
poll 15 is slow '{.status.active.run}' 1
LEADER=$(e2e_leader_pod)
LPID=$(grep -l "POD_NAME=$LEADER" /proc/[0-9]*/environ 2>/dev/null | while read -r f; do
  p=${f#/proc/}
  p=${p%/environ}
  grep -q retl-controller "/proc/$p/cmdline" 2>/dev/null && echo "$p"
done | head -1)
if [ -n "$LPID" ]; then kill -9 "$LPID"; fi
check "leader controller ($LEADER, pid ${LPID:-?}) killed with SIGKILL mid-run" test -n "$LPID"
check "after failover the run is recorded: Succeeded" poll 60 is slow '{.status.lastRun.run}/{.status.lastRun.result}' 1/Succeeded
sleep 2
check "recorded exactly once (totals.runs 1, history 1 entry, 1 pod)" \
  test "$(rj slow '{.status.totals.runs}/{.status.history[*].run}')/$(pods_of slow)" = "1/1/1"
check "a new leader holds the lease" poll 30 bash -c "[ -n \"\$(kubectl -n retl-system get lease retl-controller-leader -o jsonpath='{.spec.holderIdentity}')\" ] && [ \"\$(kubectl -n retl-system get lease retl-controller-leader -o jsonpath='{.spec.holderIdentity}' | sed 's/_.*//')\" != $LEADER ]"
check "Forbid: a request during a run waits for it" bash -c "
  kubectl -n $NS annotate rj slow retl.io/run-requested-at=f1 --overwrite >/dev/null
  for i in \$(seq 50); do [ \"\$(kubectl -n $NS get rj slow -o jsonpath='{.status.active.run}')\" = 2 ] && break; sleep 0.2; done
  kubectl -n $NS annotate rj slow retl.io/run-requested-at=f2 --overwrite >/dev/null
  sleep 2
  [ \"\$(kubectl -n $NS get pods -l retl.io/job=slow -o name | wc -l)\" = 2 ]"
check "Forbid: the waiting request runs once the active run finished" poll 40 is slow '{.status.lastRun.run}/{.status.lastHandledRunRequest}' 3/f2
request slow "$(date -Is)-s4"
poll 15 is slow '{.status.active.run}' 4
kubectl -n $NS delete pod -l retl.io/run=4,retl.io/job=slow --wait=false >/dev/null
check "run pod deleted while running: run 4 recorded Failed" poll 30 is slow '{.status.lastRun.run}/{.status.lastRun.result}' 4/Failed

# ---- progress of the active run ------------------------------------------------
# A load of 50 rows that each take 0.6 s in the destination (a row trigger): the
# engine logs progress every 5 s, the controller reads it from the pod's log at
# most every 10 s into status.active.progress.
sql "CREATE TABLE crm.progress (customer_id int PRIMARY KEY, tier text);
CREATE FUNCTION crm.slow_row() RETURNS trigger LANGUAGE plpgsql AS \$\$BEGIN PERFORM pg_sleep(0.6); RETURN NEW; END\$\$;
CREATE TRIGGER slow_row BEFORE INSERT OR UPDATE ON crm.progress FOR EACH ROW EXECUTE FUNCTION crm.slow_row();" >/dev/null
job progress Upsert postgres crm.progress id customer_id "SELECT id, tier FROM analytics.accounts" \
  "[{source: tier, destination: tier}]" "  batchSize: 5" | kubectl apply -f - >/dev/null
poll 15 is progress '{.status.conditions[?(@.type=="Ready")].status}' True
kubectl -n $NS get rj progress -w --watch-only \
  -o jsonpath='{.metadata.resourceVersion} {.status.active.run} {.status.active.progress.updateTime} {.status.active.progress.extracted}{"\n"}' \
  > >(while read -r l; do echo "$(date +%s%N) $l"; done >"$E2E_DIR/watch-progress.txt") 2>/dev/null &
KPID=$!
sleep 1
request progress "$(date -Is)"
progress_seen() { [ "$(rj progress '{.status.active.progress.extracted}')" -gt 0 ] 2>/dev/null; }
check "status.active.progress appears during the run with extracted > 0" poll 40 progress_seen
PROG=$(rj progress '{.status.active.progress}')
echo "# status.active.progress: $PROG"
progress_fields() {
  jq -e '(.phase | type == "string") and .extracted == 50 and .delta == 50 and (.loaded | type == "number") and
    .failed == 0 and .elapsedSeconds > 0 and (.updateTime | test("Z$"))' <<<"$PROG" >/dev/null
}
check "progress: phase, extracted 50, delta, loaded, failed, elapsedSeconds, updateTime" progress_fields
check "progress run succeeded" poll 60 is progress '{.status.lastRun.result}/{.status.lastRun.rows.inserted}' Succeeded/50
check "progress: no active run (and no progress) once it finished" is progress '{.status.active}' ""
sleep 1
kill "$KPID" 2>/dev/null
# Each status write is one watch event; those that carried a new progress
# updateTime must be at least 10 s apart (by updateTime and by arrival).
P_UPD=$(awk 'NF >= 5 && $4 != prev {print $1, $4; prev = $4}' "$E2E_DIR/watch-progress.txt")
P_N=$(grep -c . <<<"$P_UPD")
P_GAPS=$(while read -r ns ts; do echo "$(date -d "$ts" +%s) $ns"; done <<<"$P_UPD" |
  awk 'NR > 1 {printf "%d/%.1f ", $1 - t, ($2 - n) / 1e9} {t = $1; n = $2}')
# The smallest gap: by updateTime (s) and by arrival on the watch (tenths of s).
P_MIN=$(tr ' ' '\n' <<<"$P_GAPS" | awk -F/ 'NF == 2 {u = $1; a = $2 * 10; if (mu == "" || u < mu) mu = u; if (ma == "" || a < ma) ma = a}
  END {printf "%d %d", mu == "" ? 99 : mu, ma == "" ? 990 : ma}')
P_WRITES=$(awk 'NF >= 2 {n++} END {print n + 0}' "$E2E_DIR/watch-progress.txt")
P_SPAN=$(awk 'NR == 1 {a = $1} {b = $1} END {printf "%d", (b - a) / 1e9}' "$E2E_DIR/watch-progress.txt")
echo "# progress writes: $P_N (gaps updateTime s/arrival s: ${P_GAPS:-none}); object writes during the run: $P_WRITES in ${P_SPAN} s"
check "progress written $P_N times, never twice within 10 s (gaps: ${P_GAPS:-none})" \
  test "$P_N" -ge 2 -a "${P_MIN% *}" -ge 10 -a "${P_MIN#* }" -ge 95
check "writes during the run: $P_WRITES in $P_SPAN s (<= request + start + finish + one per 10 s)" \
  test "$P_WRITES" -le $((3 + P_SPAN / 10 + 1))

# ---- history bound and pruning -----------------------------------------------
job hist Upsert postgres crm.hist id customer_id "SELECT id, tier FROM analytics.accounts" \
  "[{source: tier, destination: tier}]" "  historyLimit: 2" | kubectl apply -f - >/dev/null
# Each request is also a latency sample: annotation written -> the pod's ADDED
# event on a watch (kubectl get -w, lines time-stamped as they arrive).
LATS=()
for i in 1 2 3 4 5; do
  kubectl -n $NS get pods -l retl.io/job=hist -w --watch-only -o name \
    > >(while read -r l; do echo "$(date +%s%N) $l"; done >"$E2E_DIR/watch-$i.txt") 2>/dev/null &
  KPID=$!
  sleep 1
  t0=$(date +%s%N)
  request hist "h$i"
  hp=$(manual_pod hist "h$i")
  poll 10 grep -q "pod/$hp" "$E2E_DIR/watch-$i.txt"
  t1=$(grep -m1 "pod/$hp" "$E2E_DIR/watch-$i.txt" | cut -d' ' -f1)
  kill "$KPID" 2>/dev/null
  [ -n "$t1" ] && LATS+=($(((t1 - t0) / 1000000)))
  poll 30 is hist '{.status.lastRun.run}' "$i"
done
LAT_SORTED=$(printf '%s\n' "${LATS[@]}" | sort -n | tr '\n' ' ')
check "manual run -> pod ADDED on a watch within 1 s, 5 samples (ms: $LAT_SORTED)" \
  test "${#LATS[@]}" -eq 5 -a "$(printf '%s\n' "${LATS[@]}" | sort -n | tail -1)" -lt 1000
check "historyLimit 2: history holds runs 5 4" is hist '{.status.history[*].run}' "5 4"
check "historyLimit 2: finished run pods pruned to 2" poll 15 npods hist 2

# ---- schedule: every minute, suspend -----------------------------------------
check "scheduled job: nextScheduleTime set, Ready=True reason Scheduled" \
  test -n "$(rj every-minute '{.status.nextScheduleTime}')" -a "$(rj every-minute '{.status.conditions[?(@.type=="Ready")].reason}')" = Scheduled
check "every minute: a scheduled run happens (trigger Schedule)" \
  poll 75 is every-minute '{.status.lastRun.trigger}/{.status.lastRun.result}' Schedule/Succeeded
slot=$(rj every-minute '{.status.lastScheduleTime}')
check "scheduled pod name is <job>-<unix minutes of the slot>" \
  is every-minute '{.status.lastRun.pod}' "every-minute-$(($(date -d "$slot" +%s) / 60))"
check "suspended job: no run, Ready reason Suspended" \
  test "$(pods_of suspended)/$(rj suspended '{.status.totals.runs}')/$(rj suspended '{.status.conditions[?(@.type=="Ready")].reason}')" = "0//Suspended"

# ---- idle: no API requests but watches and lease renewals ---------------------
kubectl -n $NS patch rj every-minute --type merge -p '{"spec":{"suspend":true}}' >/dev/null
sleep 3
LEADER=$(e2e_leader_pod)
MPORT=$(e2e_metrics_port "$LEADER")
# reqs METHOD: rest_client_requests_total summed over codes for that method.
reqs() {
  curl -s "http://127.0.0.1:$MPORT/metrics" | awk -v m="method=\"$1\"" \
    '/^rest_client_requests_total/ && index($0, m) {s += $NF} END {print s + 0}'
}
b_post=$(reqs POST) b_put=$(reqs PUT) b_get=$(reqs GET) b_patch=$(reqs PATCH) b_del=$(reqs DELETE) b_list=$(reqs LIST)
sleep 10
d_post=$(($(reqs POST) - b_post)) d_put=$(($(reqs PUT) - b_put)) d_get=$(($(reqs GET) - b_get))
d_patch=$(($(reqs PATCH) - b_patch)) d_del=$(($(reqs DELETE) - b_del)) d_list=$(($(reqs LIST) - b_list))
echo "# idle 10 s on the leader ($LEADER, metrics :$MPORT): POST $d_post PUT $d_put GET $d_get PATCH $d_patch DELETE $d_del LIST $d_list"
check "idle: no creates, patches, deletes or lists in 10 s" test "$d_post$d_patch$d_del$d_list" = 0000 -a -n "$MPORT"
check "idle: gets and updates only for lease renewals (<= 14 in 10 s: a get and an update per 2 s renewal)" test $((d_put + d_get)) -le 14

# ---- deletion with cleanupPolicy Delete ---------------------------------------
STATE_BEFORE=$(pg_sql -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'retl' AND tablename LIKE 'e2e\_\_upsert\_\_%'")
kubectl -n $NS delete rj upsert --wait=false >/dev/null
check "cleanupPolicy Delete: the job goes away after its cleanup pod" \
  poll 60 bash -c "! kubectl -n $NS get rj upsert >/dev/null 2>&1"
check "cleanupPolicy Delete: state tables dropped (were $STATE_BEFORE)" \
  test "$STATE_BEFORE" -gt 0 -a "$(pg_sql -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'retl' AND tablename LIKE 'e2e\_\_upsert\_\_%'")" = 0
check "cleanupPolicy Delete: no pods left" poll 30 npods upsert 0
kubectl -n $NS delete rj tiers --wait=false >/dev/null
check "cleanupPolicy Retain: job deleted, state tables kept" \
  poll 30 bash -c "! kubectl -n $NS get rj tiers >/dev/null 2>&1 && [ \$(PGPASSWORD=$PGPASSWORD psql -XAtq -h $PGHOST -p $PGPORT -U $PGUSER -d $PGDATABASE -c \"SELECT count(*) FROM pg_tables WHERE schemaname = 'retl' AND tablename LIKE 'e2e\\_\\_tiers\\_\\_%'\") -gt 0 ]"

# ---- a namespace holding a cleanupPolicy Delete job can be deleted ------------
# (issue 16 item 6): no cleanup pod can be created in a terminating namespace,
# so the finalizer is released instead of blocking the namespace forever.
NS2=$NS-gone
NS=$NS2 e2e_suite_namespace
job gone Upsert postgres crm.hist id customer_id "SELECT id, tier FROM analytics.accounts" \
  "[{source: tier, destination: tier}]" "  cleanupPolicy: Delete" |
  sed "s/namespace: $NS}/namespace: $NS2}/" | kubectl apply -f - >/dev/null
kubectl -n $NS2 annotate rj gone retl.io/run-requested-at="$(date -Is)" --overwrite >/dev/null
check "namespace deletion: the job's run succeeded first" \
  poll 60 bash -c "[ \"\$(kubectl -n $NS2 get rj gone -o jsonpath='{.status.lastRun.result}')\" = Succeeded ]"
check "namespace deletion: finalizer present" \
  test "$(kubectl -n $NS2 get rj gone -o jsonpath='{.metadata.finalizers[0]}')" = retl.io/cleanup
kubectl delete namespace $NS2 --wait=false >/dev/null
if poll 90 bash -c "! kubectl get namespace $NS2 >/dev/null 2>&1"; then
  pass "namespace with a cleanupPolicy Delete job deleted (not stuck Terminating)"
else
  fail "namespace $NS2 stuck: $(kubectl get namespace $NS2 -o jsonpath='{.status.conditions[*].message}' 2>&1 | head -c 300)"
fi

# (late: the apiserver publishes a new CRD's OpenAPI after a while, and kubectl
# keeps its discovery cache from before the CRD until api-resources refreshes it)
check "kubectl explain rj.spec.mode documents the modes" \
  poll 60 bash -c 'kubectl api-resources >/dev/null 2>&1; kubectl explain rj.spec.mode 2>/dev/null | tr -s " \\n" " " | grep -q "Upsert creates or updates"'

# Graceful shutdown of every replica: the Lease is released, and the sanitized
# build reports leaks and errors at exit.
kubectl -n retl-system scale deploy/retl-controller --replicas=0 >/dev/null
t_stop=$SECONDS
if poll 30 no_controller_pods; then
  pass "controller replicas shut down on SIGTERM ($((SECONDS - t_stop)) s)"
else
  fail "controller replicas shut down on SIGTERM"
  kubectl -n retl-system get pods -o wide
fi
check "each replica logged a clean stop" test "$(cat "$E2E_DIR"/cluster/logs/retl-system_* | grep -c 'msg=stopped')" -ge 2
check "the Lease is released (holderIdentity empty)" \
  test -z "$(kubectl -n retl-system get lease retl-controller-leader -o jsonpath='{.spec.holderIdentity}')"
if [ "$SAN_CTL" = 1 ]; then
  san=$(grep -lE "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:" "$E2E_DIR"/cluster/logs/retl-system_* 2>/dev/null)
  check "ASan/UBSan/LSan: no report in any controller log${san:+ ($san)}" test -z "$san"
fi

if [ "$F" -gt 0 ]; then
  for j in upsert slow replace every-minute; do dump $j; done >"$E2E_DIR/failure-dump.txt" 2>&1
  echo "(status dumps in $E2E_DIR/failure-dump.txt; controller logs in $E2E_DIR/cluster/logs)"
fi
echo "manual run -> pod latency: ${LAT_MS} ms polling kubectl; on a watch: ${LAT_SORTED}ms"
echo "$P passed, $F failed"
[ "$F" -eq 0 ]
