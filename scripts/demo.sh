#!/usr/bin/env bash
# make demo / make demo-down: retl end to end on this machine.
#
#   scripts/demo.sh up     local control plane, PostgreSQL with a small sample
#                          warehouse (50 accounts, 50 contacts), salesforce-sim,
#                          hubspot-sim, the CRD, RBAC and the controller
#                          (kubectl apply -k manifests/), three sample jobs
#                          (Salesforce, HubSpot, PostgreSQL), one run of each;
#                          then prints what happened and
#                          leaves everything running.
#   scripts/demo.sh down   stops all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export E2E_DIR=$ROOT/build/demo
# RUNTIME=containerd (make demo RUNTIME=containerd): real kubelet, containers of
# localhost/retl:dev; default: the process kubelet.
export E2E_RUNTIME=${RUNTIME:-process}
# shellcheck source=tests/e2e/env.sh
source tests/e2e/env.sh
NS=sales-ops

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

hs_down() {
  if [ -s "$E2E_DIR/hubspot-sim.pid" ]; then
    kill "$(cat "$E2E_DIR/hubspot-sim.pid")" 2>/dev/null || true
    rm -f "$E2E_DIR/hubspot-sim.pid"
  fi
}

down() {
  hs_down
  e2e_down
  rm -rf "$E2E_DIR/sim-state" "$E2E_DIR/overlay"
  echo "demo stopped"
}

up() {
  for b in retl-cluster retl-controller retl-engine salesforce-sim hubspot-sim; do
    [ -x "build/bin/$b" ] || { echo "build/bin/$b is missing: run make demo (or make all test-build)" >&2; exit 1; }
  done
  if [ -s "$E2E_DIR/pg.env" ] || [ -s "$E2E_DIR/sim.pid" ]; then
    echo "a demo is already running; make demo-down first" >&2
    exit 1
  fi
  mkdir -p "$E2E_DIR"
  rm -rf "$E2E_DIR/sim-state"

  say "local Kubernetes control plane"
  e2e_cluster_up
  echo "KUBECONFIG=$KUBECONFIG"

  say "PostgreSQL with a sample warehouse (analytics.account_scores, 50 accounts)"
  e2e_pg_up
  pg_sql -c "CREATE SCHEMA analytics;
    CREATE TABLE analytics.account_scores (id int PRIMARY KEY, name text NOT NULL, score numeric(8,2), tier text);
    INSERT INTO analytics.account_scores
      SELECT i, 'Account ' || i, round((random() * 100)::numeric, 2),
             (ARRAY['bronze', 'silver', 'gold'])[1 + i % 3]
      FROM generate_series(1, 50) i;
    CREATE TABLE analytics.contacts (email text PRIMARY KEY, first_name text, last_name text, stage text);
    INSERT INTO analytics.contacts
      SELECT 'person' || i || '@example.com', 'First' || i, 'Last' || i,
             (ARRAY['lead', 'opportunity', 'customer'])[1 + i % 3]
      FROM generate_series(1, 50) i;
    CREATE SCHEMA crm;
    CREATE TABLE crm.account_tiers (account_id int PRIMARY KEY, tier text, score numeric(8,2));" >/dev/null
  echo "$PG_URL"

  say "salesforce-sim"
  e2e_sim_up
  echo "$SIM_URL"

  say "hubspot-sim (rate limit 100 requests per 10 s, like a Starter account)"
  : >"$E2E_DIR/hubspot-sim.url"
  build/bin/hubspot-sim --listen "$E2E_HOST_IP:0" --access-token pat-na1-demo-token --rate-limit 100 \
    >"$E2E_DIR/hubspot-sim.url" 2>"$E2E_DIR/hubspot-sim.log" &
  echo $! >"$E2E_DIR/hubspot-sim.pid"
  for _ in $(seq 100); do [ -s "$E2E_DIR/hubspot-sim.url" ] && break; sleep 0.05; done
  HS_URL=$(head -n 1 "$E2E_DIR/hubspot-sim.url")
  echo "$HS_URL"

  say "CRD, namespace retl-system, RBAC, controller (kubectl apply -k manifests/)"
  # One replica with the process kubelet: pods are processes on this host,
  # where two replicas cannot both bind the probe port. Containers: two.
  if [ "$E2E_RUNTIME" = containerd ]; then e2e_controller_up 2; else e2e_controller_up 1; fi
  kubectl -n retl-system get deploy,pods

  say "sample jobs in namespace $NS"
  kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  kubectl apply -f - <<EOF
apiVersion: v1
kind: Secret
metadata: {name: warehouse, namespace: $NS}
stringData: {url: "$PG_URL", password: "$PGPASSWORD"}
---
apiVersion: v1
kind: Secret
metadata: {name: salesforce, namespace: $NS}
stringData: {loginUrl: "$SIM_URL", clientId: retl-demo, clientSecret: demo-secret}
---
apiVersion: v1
kind: Secret
metadata: {name: hubspot, namespace: $NS}
stringData: {accessToken: pat-na1-demo-token, baseUrl: "$HS_URL"}
---
apiVersion: retl.io/v1alpha1
kind: ReverseEtlJob
metadata: {name: hubspot-contacts, namespace: $NS}
spec:
  source:
    type: postgres
    secretRef: {name: warehouse}
    query: SELECT email, first_name, last_name, stage FROM analytics.contacts
  destination: {type: hubspot, secretRef: {name: hubspot}, object: contacts}
  mode: Upsert
  key: {source: email, destination: email}
  mappings:
    - {source: first_name, destination: firstname}
    - {source: last_name, destination: lastname}
    - {source: stage, destination: lifecyclestage}
  schedule: "*/5 * * * *"
---
apiVersion: retl.io/v1alpha1
kind: ReverseEtlJob
metadata: {name: account-scores, namespace: $NS}
spec:
  source:
    type: postgres
    secretRef: {name: warehouse}
    query: SELECT id, name, score FROM analytics.account_scores
  destination: {type: salesforce, secretRef: {name: salesforce}, object: Account}
  mode: Upsert
  key: {source: id, destination: External_Id__c}
  mappings:
    - {source: name, destination: Name}
    - {source: score, destination: Score__c}
  schedule: "*/5 * * * *"
---
apiVersion: retl.io/v1alpha1
kind: ReverseEtlJob
metadata: {name: account-tiers, namespace: $NS}
spec:
  source:
    type: postgres
    secretRef: {name: warehouse}
    table: analytics.account_scores
  destination: {type: postgres, secretRef: {name: warehouse}, object: crm.account_tiers}
  mode: Upsert
  key: {source: id, destination: account_id}
  mappings:
    - {source: tier, destination: tier}
    - {source: score, destination: score}
EOF
  kubectl -n "$NS" wait --for=condition=Ready rj --all --timeout=60s

  say "a manual run of each: kubectl annotate rj ... retl.io/run-requested-at=..."
  for j in account-scores hubspot-contacts account-tiers; do
    kubectl -n "$NS" annotate rj "$j" retl.io/run-requested-at="$(date -Is)" --overwrite
    for _ in $(seq 150); do
      [ -n "$(kubectl -n "$NS" get rj "$j" -o jsonpath='{.status.lastRun.result}')" ] && break
      sleep 0.2
    done
  done

  say "kubectl get rj -n $NS"
  kubectl -n "$NS" get rj
  say "kubectl get pods -n $NS"
  kubectl -n "$NS" get pods
  say "status.lastRun of account-scores"
  kubectl -n "$NS" get rj account-scores -o jsonpath='{.status.lastRun}' | jq .
  say "synced Accounts in salesforce-sim (SOQL via /services/data/v62.0/query), first 10"
  sim_soql "SELECT External_Id__c, Name, Score__c FROM Account ORDER BY External_Id__c LIMIT 10" |
    jq -r '["External_Id__c","Name","Score__c"], (.records[] | [.External_Id__c, .Name, (.Score__c|tostring)]) | @tsv' |
    column -t -s $'\t'
  echo "total: $(sim_soql "SELECT COUNT() FROM Account" | jq -r .totalSize) Accounts"
  say "status.lastRun of hubspot-contacts"
  kubectl -n "$NS" get rj hubspot-contacts -o jsonpath='{.status.lastRun}' | jq .
  say "synced contacts in hubspot-sim, read back with the official @hubspot/api-client (search)"
  (cd tests/fakes/hubspot-conformance && HS_URL=$HS_URL node -e '
const hubspot = require("@hubspot/api-client");
const c = new hubspot.Client({accessToken: "pat-na1-demo-token", basePath: process.env.HS_URL});
c.crm.contacts.searchApi.doSearch({filterGroups: [], sorts: ["email"], properties: ["email", "firstname", "lifecyclestage"], limit: 5})
  .then(r => { for (const x of r.results) console.log([x.id, x.properties.email, x.properties.firstname, x.properties.lifecyclestage].join("\t"));
               console.log("total: " + r.total + " contacts"); })
  .catch(e => { console.error("search failed: " + (e.code || e)); process.exit(1); });') || true
  say "synced rows in PostgreSQL crm.account_tiers"
  pg_sql -c "SELECT count(*) || ' rows, ' || count(*) FILTER (WHERE tier = 'gold') || ' gold' FROM crm.account_tiers"

  cat <<EOF

Everything keeps running. Explore:
  export KUBECONFIG=$KUBECONFIG
  kubectl get rj -A                          # Mode, Destination, Schedule, Last Run, Rows, Errors, Ready
  kubectl describe rj -n $NS account-scores   # conditions, history, events
  psql "$PG_URL" -c "UPDATE analytics.account_scores SET score = score + 1 WHERE id <= 3"
  kubectl annotate rj -n $NS account-scores retl.io/run-requested-at="\$(date -Is)" --overwrite
  kubectl get rj -n $NS account-scores -o jsonpath='{.status.lastRun.rows}'    # 3 changed
  kubectl logs -n retl-system deploy/retl-controller
  curl -s -X POST $SIM_URL/__admin/token      # a token for the sim's REST API
  curl -s $HS_URL/__admin/stats | jq .        # hubspot-sim: calls by endpoint, records, 429s
(PostgreSQL password: $PGPASSWORD)  Stop it all with: make demo-down
EOF
}

case ${1:-} in
up) up ;;
down) down ;;
*)
  echo "usage: $0 up|down" >&2
  exit 2
  ;;
esac
