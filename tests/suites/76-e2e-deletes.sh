#!/usr/bin/env bash
# Issue 13's user story end to end, the way a user does it: jobs applied with
# kubectl to a real kube-apiserver, run by the controller's run pods against a
# real PostgreSQL and salesforce-sim, driven with `kubectl retl`.
#   - Accounts mirrored into Salesforce and into PostgreSQL with
#     `deletes: {mode: Delete}`; Contacts linked to their Account by the
#     Account's external id (`lookup`), after the Accounts job.
#   - Rows leave the model: exactly those records leave Salesforce and
#     PostgreSQL; a record someone else created stays.
#   - A broken query: `kubectl retl plan` shows the guard would trip, the run
#     fails with condition reason DeleteGuard and deletes nothing.
set -uo pipefail
cd "${RETL_ROOT:-$(dirname "$0")/../..}"
# shellcheck source=tests/lib/e2e-suite.sh
source tests/lib/e2e-suite.sh
e2e_suite_start e2e-deletes salesforce-sim kubectl-retl
NS=sem
# shown: what a user would type, and what they see
shown() {
  echo "    \$ $*"
  sed 's/^/    /' <<<"$OUT"
}
total() { sim_soql "$1" | jq -r .totalSize; }

e2e_cluster_up || e2e_suite_abort
e2e_pg_up || e2e_suite_abort
e2e_sim_up || e2e_suite_abort
sql "CREATE SCHEMA analytics; CREATE SCHEMA crm;
CREATE TABLE analytics.accounts (id text PRIMARY KEY, name text NOT NULL);
INSERT INTO analytics.accounts SELECT 'A-' || i, 'Account ' || i FROM generate_series(1, 20) i;
CREATE TABLE analytics.contacts (id text PRIMARY KEY, last text NOT NULL, account text);
INSERT INTO analytics.contacts SELECT 'C-' || i, 'Person' || i, 'A-' || i FROM generate_series(1, 20) i;
CREATE TABLE crm.accounts (id text PRIMARY KEY, name text);" >/dev/null || e2e_suite_abort
e2e_suite_controller 1 "controller deployed from manifests/"
e2e_suite_namespace
# A record the jobs never wrote: a Delete run must leave it alone.
tok=$(curl -s -X POST "$SIM_URL/__admin/token" | jq -r .access_token)
curl -s -X POST -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
  -d '{"Name": "Hand-made by sales", "External_Id__c": "SALES-1"}' \
  "$SIM_URL/services/data/v62.0/sobjects/Account" >/dev/null

{
  sf_job accounts "$NS" warehouse "SELECT id, name FROM analytics.accounts" salesforce Account Upsert \
    id:External_Id__c name:Name "deletes: {mode: Delete, maxPercent: 25}"
  echo ---
  sf_job contacts "$NS" warehouse "SELECT id, last, account FROM analytics.contacts" salesforce Contact Insert id \
    "[{source: last, destination: LastName}, {source: account, destination: AccountId, lookup: {object: Account, field: External_Id__c}}]" \
    "after: [{name: accounts}]" "deletes: {mode: Delete}"
  echo ---
  retl_job mirror "$NS" warehouse "SELECT id, name FROM analytics.accounts" postgres crm "object: crm.accounts" Upsert \
    id:id name:name "after: [{name: accounts}]" "deletes: {mode: Delete, maxPercent: 25}"
} >"$E2E_DIR/jobs.yaml"
check "kubectl apply of jobs with deletes and a lookup" kubectl apply -f "$E2E_DIR/jobs.yaml"
kubectl -n $NS wait --for=condition=Ready rj/accounts rj/contacts rj/mirror --timeout=30s >/dev/null

# ---- first runs: everything arrives, contacts linked by the external id -----
kr run accounts --wait --timeout 90s -n $NS
shown kubectl retl run accounts --wait -n $NS
check "accounts: 20 Accounts upserted" test "$RC/$(total "SELECT COUNT() FROM Account WHERE External_Id__c LIKE 'A-%'")" = 0/20
check "contacts and mirror run after it" \
  kubectl -n $NS wait --for=jsonpath='{.status.lastRun.result}'=Succeeded rj/contacts rj/mirror --timeout=90s
a7=$(sim_soql "SELECT Id FROM Account WHERE External_Id__c = 'A-7'" | jq -r '.records[0].Id')
c7=$(sim_soql "SELECT AccountId FROM Contact WHERE LastName = 'Person7'" | jq -r '.records[0].AccountId')
check "contacts: 20 Contacts, each linked to its Account by the Account's external id" \
  test "$(total "SELECT COUNT() FROM Contact WHERE LastName LIKE 'Person%'")/$c7" = "20/$a7" -a -n "$a7"
check "mirror: 20 rows in PostgreSQL" test "$(sql 'SELECT count(*) FROM crm.accounts')" = 20

# ---- rows leave the model: exactly those records leave -----------------------
sql "DELETE FROM analytics.contacts WHERE id IN ('C-3', 'C-4');
DELETE FROM analytics.accounts WHERE id IN ('A-3', 'A-4', 'A-5')" >/dev/null
kr plan accounts -n $NS
shown kubectl retl plan accounts -n $NS
check "plan: 3 deletes of 20 synced, the guard (25%) would not trip" \
  bash -c '[ "$0" = 0 ] && grep -q "\"deleted\":3[,}]" <<<"$1" && grep -q "\"guardTrips\":false" <<<"$1"' "$RC" "$OUT"
kr run accounts --wait --timeout 90s -n $NS
shown kubectl retl run accounts --wait -n $NS
check "accounts run: 3 deleted, reported in status" \
  test "$RC/$(rj accounts '{.status.lastRun.rows.deleted}')" = 0/3
kubectl -n $NS wait --for=jsonpath='{.status.lastRun.run}'=2 rj/contacts rj/mirror --timeout=90s >/dev/null
kubectl -n $NS wait --for=jsonpath='{.status.lastRun.result}'=Succeeded rj/contacts rj/mirror --timeout=60s >/dev/null
check "Salesforce: A-3, A-4, A-5 are gone, the other 17 Accounts stay" \
  test "$(total "SELECT COUNT() FROM Account WHERE External_Id__c IN ('A-3','A-4','A-5')")/$(total "SELECT COUNT() FROM Account WHERE External_Id__c LIKE 'A-%'")" = 0/17
check "Salesforce: the Account sales made by hand survives the Delete run" \
  test "$(total "SELECT COUNT() FROM Account WHERE External_Id__c = 'SALES-1'")" = 1
check "Salesforce: Contacts C-3 and C-4 are gone (deleted by their kept Ids), 18 stay" \
  test "$(total "SELECT COUNT() FROM Contact WHERE LastName IN ('Person3','Person4')")/$(total "SELECT COUNT() FROM Contact WHERE LastName LIKE 'Person%'")" = 0/18
check "PostgreSQL: the same 3 rows left crm.accounts, 17 stay" \
  test "$(sql "SELECT count(*) FROM crm.accounts WHERE id IN ('A-3','A-4','A-5')")/$(sql 'SELECT count(*) FROM crm.accounts')" = 0/17
check "contacts and mirror report their deletes (2 and 3)" \
  test "$(rj contacts '{.status.lastRun.rows.deleted}')/$(rj mirror '{.status.lastRun.rows.deleted}')" = 2/3

# ---- a broken query: the guard deletes nothing -------------------------------
# 17 synced; a model that lost 12 of them (71%) is broken, not churn.
sql "CREATE TABLE analytics.accounts_full AS SELECT * FROM analytics.accounts;
DELETE FROM analytics.accounts WHERE id NOT IN ('A-1','A-2','A-6','A-7','A-8')" >/dev/null
kr plan accounts -n $NS
shown kubectl retl plan accounts -n $NS
check "plan: 12 deletes of 17 synced, the guard would trip" \
  bash -c '[ "$0" = 0 ] && grep -q "\"deleted\":12[,}]" <<<"$1" && grep -q "\"guardTrips\":true" <<<"$1"' "$RC" "$OUT"
kr run accounts --wait --timeout 90s -n $NS
shown kubectl retl run accounts --wait -n $NS
check "the run fails (exit 1, result Failed)" \
  test "$RC/$(rj accounts '{.status.lastRun.result}')" = 1/Failed
msg=$(rj accounts '{.status.conditions[?(@.type=="LastRunSucceeded")].message}')
echo "    LastRunSucceeded: $(rj accounts '{.status.conditions[?(@.type=="LastRunSucceeded")].reason}'): $msg"
check "condition LastRunSucceeded=False reason DeleteGuard, the message has both numbers and what to change" \
  bash -c '[ "$0" = False/DeleteGuard ] && grep -q 12 <<<"$1" && grep -q 17 <<<"$1" && grep -q maxPercent <<<"$1"' \
  "$(rj accounts '{.status.conditions[?(@.type=="LastRunSucceeded")].status}/{.status.conditions[?(@.type=="LastRunSucceeded")].reason}')" "$msg"
check "nothing was deleted: 17 Accounts in Salesforce, 17 rows in PostgreSQL" \
  test "$(total "SELECT COUNT() FROM Account WHERE External_Id__c LIKE 'A-%'")/$(sql 'SELECT count(*) FROM crm.accounts')" = 17/17
sleep 3
check "a failed run triggers nothing after it (contacts and mirror still at run 2)" \
  test "$(rj contacts '{.status.lastRun.run}')/$(rj mirror '{.status.lastRun.run}')" = 2/2
# The query is fixed: the next run deletes nothing and succeeds.
sql "DELETE FROM analytics.accounts; INSERT INTO analytics.accounts SELECT * FROM analytics.accounts_full" >/dev/null
kr run accounts --wait --timeout 90s -n $NS
check "query fixed: the next run succeeds and deletes nothing" \
  test "$RC/$(rj accounts '{.status.lastRun.rows.deleted}')/$(total "SELECT COUNT() FROM Account WHERE External_Id__c LIKE 'A-%'")" = 0/0/17

# ---- every sample in manifests/samples is valid against the shipped CRD -------
kubectl create namespace sales-ops >/dev/null 2>&1
out=$(kubectl apply --dry-run=server -k manifests/samples 2>&1)
check "kubectl apply --dry-run=server -k manifests/samples: the apiserver accepts every sample" \
  bash -c '[ "$0" = 0 ] && [ "$(grep -c "reverseetljob.retl.io/.* (server dry run)" <<<"$1")" = "$2" ]' \
  "$?" "$out" "$(grep -l "kind: ReverseEtlJob" manifests/samples/*.yaml | xargs grep -c "kind: ReverseEtlJob" | awk -F: '{s+=$2} END {print s}')"

if [ "$F" -gt 0 ]; then
  for j in accounts contacts mirror; do
    echo "---- $j"
    kubectl -n $NS get rj "$j" -o yaml 2>&1 | sed -n '/^status:/,$p' | head -60
  done >"$E2E_DIR/failure-dump.txt" 2>&1
  echo "(status dumps in $E2E_DIR/failure-dump.txt; controller logs in $E2E_DIR/cluster/logs)"
fi
echo "$P passed, $F failed"
[ "$F" -eq 0 ]
