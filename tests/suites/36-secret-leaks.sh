#!/usr/bin/env bash
# No credential in any output: every secret key of the PostgreSQL, ODBC,
# Salesforce, HubSpot and HTTP backends gets hostile values (spaces, braces, quotes, ';', '=',
# newlines, unicode) that the servers reject, so each run takes a failure path;
# stdout (the run summary), stderr (logs), `plan` and `errors` are then searched
# for the value and for every piece of >= 4 bytes a tokeniser could split off
# it. Uses the ASan/UBSan engine build, a throwaway PostgreSQL, salesforce-sim,
# hubspot-sim and http-receiver.
set -uo pipefail
ROOT=${RETL_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$ROOT"
ENGINE=${ENGINE:-$ROOT/build/san/bin/retl-engine}
SIM=$ROOT/build/bin/salesforce-sim
HSIM=$ROOT/build/bin/hubspot-sim
RCV=$ROOT/build/bin/http-receiver
TDSSIM=$ROOT/build/bin/tds-sim
SNOWSIM=$ROOT/build/bin/snowflake-sim
ODBC_DIR=${ODBC_DIR:-/usr/lib/x86_64-linux-gnu/odbc}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for b in "$ENGINE" "$SIM" "$HSIM" "$RCV" "$TDSSIM" "$SNOWSIM"; do
  [ -x "$b" ] || { echo "missing $b (make test-build)"; echo "0 passed, 1 failed"; exit 1; }
done
# shellcheck source=../lib/pg.sh
source "$ROOT/tests/lib/pg.sh"

# shellcheck source=../lib/checks.sh
source "$ROOT/tests/lib/checks.sh"

W=$(mktemp -d /tmp/retl-leaks.XXXXXX)
SIM_PID= PIDS=()
cleanup() {
  [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  pg_stop
  if [ -n "${KEEP:-}" ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
pg_start || { echo "0 passed, 1 failed"; exit 1; }
pg_sql -c "CREATE TABLE items (id int PRIMARY KEY, name text)" -c "INSERT INTO items VALUES (1, 'a')"
"$SIM" --client-secret the-right-secret --password the-right-password \
  --refresh-token the-right-refresh >"$W/sim.url" 2>"$W/sim.log" &
SIM_PID=$!
for _ in $(seq 200); do [ -s "$W/sim.url" ] && break; sleep 0.05; done
SF=$(head -n 1 "$W/sim.url")
[ -n "$SF" ] || { cat "$W/sim.log"; echo "0 passed, 1 failed"; exit 1; }
"$HSIM" --listen 127.0.0.1:0 --access-token the-right-token >"$W/hs.url" 2>"$W/hs.log" &
PIDS+=($!)
"$RCV" --listen 127.0.0.1:0 --bearer-token the-right-bearer --hmac-secret the-right-hmac >"$W/rcv.url" 2>"$W/rcv.log" &
PIDS+=($!)
for _ in $(seq 200); do [ -s "$W/hs.url" ] && [ -s "$W/rcv.url" ] && break; sleep 0.05; done
PGURL_BASE="postgresql://postgres:$PGPASSWORD@127.0.0.1:$PGPORT"
"$TDSSIM" -pg "$PGURL_BASE/postgres" -user retl -password the-right-password -addr-file "$W/tds.addr" 2>"$W/tds.log" &
PIDS+=($!)
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/key.pem" 2>/dev/null
openssl pkey -in "$W/key.pem" -pubout -out "$W/key.pub"
"$SNOWSIM" -pg "$PGURL_BASE/postgres" -public-key "$W/key.pub" -account ACME -user RETL_SVC -addr-file "$W/snow.addr" 2>"$W/snow.log" &
PIDS+=($!)
for _ in $(seq 200); do [ -s "$W/tds.addr" ] && [ -s "$W/snow.addr" ] && break; sleep 0.05; done
TDS_PORT=$(cut -d: -f2 <"$W/tds.addr") SNOW=$(cat "$W/snow.addr")
HS=$(head -n 1 "$W/hs.url") RV=$(head -n 1 "$W/rcv.url")
[ -n "$HS" ] && [ -n "$RV" ] || { cat "$W/hs.log" "$W/rcv.log"; echo "0 passed, 1 failed"; exit 1; }

# One word in each value is unique, so finding it anywhere is a leak.
VALUES=(
  'quokka zebra77 narwhal'
  'ocelot}}{wombat;PWD=axolotl;'
  "pangolin'\"tapir\\\\ibisbird"
  $'kestrel\nmarmot-line\r\tcrlf7'
  'ユニコード秘密 okapi42'
  'lemur9=gecko8&dingo7 %20perc'
  '} ; DRIVER={evil}; --vicuna99'
)

# cases: NAME -> a Python expression for the Secrets (v = the hostile value)
# and the job's source/destination.
python3 - "$W" "$PGPORT" "$PGPASSWORD" "$SF" "$ODBC_DIR" "$HS" "$RV" "$TDS_PORT" "$SNOW" "${VALUES[@]}" <<'PY'
import json, sys, urllib.parse
w, port, pgpw, sf, odbc, hs, rv, tds, snow = sys.argv[1:10]
values = sys.argv[10:]
pem = open(f"{w}/key.pem").read()
pg = f"postgresql://postgres@127.0.0.1:{port}/postgres"
def odbc_brace(v): return "{" + v.replace("}", "}}") + "}"
def pq_quote(v): return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
cases = {
  # source secrets
  "pg-password":   lambda v: ({"url": pg, "password": v}, "postgres", "src"),
  "pg-url":        lambda v: ({"url": f"postgresql://postgres:{urllib.parse.quote(v, safe='')}@127.0.0.1:{port}/postgres"}, "postgres", "src"),
  "pg-keyword":    lambda v: ({"url": f"host=127.0.0.1 port={port} user=postgres dbname=postgres password={pq_quote(v)}"}, "postgres", "src"),
  "odbc-password": lambda v: ({"connectionString": f"Driver={odbc}/psqlodbca.so;Servername=127.0.0.1;Port={port};Database=postgres;Username=postgres;SSLmode=disable", "password": v}, "odbc", "src"),
  "odbc-pwd":      lambda v: ({"connectionString": f"Driver={odbc}/psqlodbca.so;Servername=127.0.0.1;Port={port};Database=postgres;Username=postgres;SSLmode=disable;PWD={odbc_brace(v)}"}, "odbc", "src"),
  "sqlserver-password": lambda v: ({"connectionString": f"Server=127.0.0.1;Port={tds};Database=shop;UID=retl", "password": v}, "sqlserver", "src"),
  # a private key with the value spliced into its body: not a key any more
  "snowflake-key": lambda v: ({"account": "acme", "user": "retl_svc", "endpoint": snow,
                               "privateKey": pem.replace("\n", "\n" + v + "\n", 2)}, "snowflake", "src"),
  # destination secrets
  "pgdest-password": lambda v: ({"url": pg, "password": v}, "postgres", "dst"),
  "sf-client-secret": lambda v: ({"loginUrl": sf, "clientId": "3MVG9.retl", "clientSecret": v}, "salesforce", "dst"),
  "sf-password":   lambda v: ({"loginUrl": sf, "clientId": "3MVG9.retl", "clientSecret": "the-right-secret", "username": "u@acme.com", "password": v}, "salesforce", "dst"),
  "sf-refresh":    lambda v: ({"loginUrl": sf, "clientId": "3MVG9.retl", "refreshToken": v}, "salesforce", "dst"),
  "hubspot-token": lambda v: ({"accessToken": v, "baseUrl": hs}, "hubspot", "dst"),
  "http-bearer":   lambda v: ({"url": rv + "/hook", "bearerToken": v, "hmacSecret": "the-right-hmac"}, "http", "dst"),
  "http-hmac":     lambda v: ({"url": rv + "/hook", "bearerToken": "the-right-bearer", "hmacSecret": v}, "http", "dst"),
  "http-headers":  lambda v: ({"url": rv + "/hook", "headers": json.dumps({"Authorization": "Basic " + v, "X-Api-Key": v})}, "http", "dst"),
}
good_src = {"url": pg, "password": pgpw}
good_dst = {"url": pg, "password": pgpw}
names = []
for name, fn in cases.items():
    for i, v in enumerate(values):
        data, typ, side = fn(v)
        src_t, src_d = (typ, data) if side == "src" else ("postgres", good_src)
        dst_t, dst_d = (typ, data) if side == "dst" else ("postgres", good_dst)
        dest = {"type": dst_t, "secretRef": {"name": "d"}}
        if dst_t == "hubspot":
            dest.update({"object": "contacts"})
            key = {"source": "name", "destination": "email"}
            maps = [{"source": "id", "destination": "firstname"}]
            mode = "Upsert"
        elif dst_t == "http":
            key = {"source": "id", "destination": "id"}
            maps = [{"source": "name", "destination": "name"}]
            mode = "Upsert"
        elif dst_t == "salesforce":
            dest.update({"object": "Account", "api": "rest"})
            key = {"source": "id", "destination": "External_Id__c"}
            maps = [{"source": "name", "destination": "Name"}]
            mode = "Upsert"
        else:
            dest.update({"object": "public.out_items"})
            key = {"source": "id", "destination": "id"}
            maps = [{"source": "name", "destination": "name"}]
            mode = "Upsert"
        job = {"apiVersion": "retl.io/v1alpha1", "kind": "ReverseEtlJob",
               "metadata": {"name": f"j{i}", "namespace": "t"},
               "spec": {"source": {"type": src_t, "secretRef": {"name": "s"}, "query": "SELECT id, name FROM items"},
                        "destination": dest, "mode": mode, "key": key, "mappings": maps}}
        docs = [job,
                {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": src_d},
                {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "d"}, "stringData": dst_d}]
        n = f"{name}.{i}"
        open(f"{w}/{n}.yaml", "w").write("\n---\n".join(json.dumps(d) for d in docs) + "\n")
        names.append(n)
open(f"{w}/cases", "w").write("\n".join(names) + "\n")
PY

# The pieces of a value a reader could see: >= 4 bytes between separators.
pieces() {
  python3 - "$1" <<'PY'
import re, sys
v = sys.argv[1]
for t in re.split(r"[\s;,&{}\[\]()'\"`<>|:=\\%]+", v):
    if len(t.encode()) >= 4 and t not in ("DRIVER", "evil"):
        print(t)
PY
}

while read -r c; do
  i=${c##*.}
  v=${VALUES[$i]}
  out="$W/$c.out"
  : >"$out"
  "$ENGINE" run -f "$W/$c.yaml" >>"$out" 2>&1
  rc=$?
  if [ "$i" -eq 0 ]; then
    for cmd in plan errors; do "$ENGINE" "$cmd" -f "$W/$c.yaml" >>"$out" 2>&1; done
  fi
  leaks=()
  grep -qF -- "$v" "$out" && leaks+=("whole value")
  while IFS= read -r p; do
    grep -qF -- "$p" "$out" && leaks+=("$p")
  done < <(pieces "$v")
  if grep -q "ERROR: AddressSanitizer\|runtime error:" "$out"; then
    fail "$c: sanitizer report" "$(grep -m1 "AddressSanitizer\|runtime error" "$out")"
  elif { [ "$rc" -eq 0 ] && ! grep -q '"failed":[1-9]' "$out"; } || [ "$rc" -eq 2 ]; then
    fail "$c: run or its rows fail" "exit $rc: $(tail -n 2 "$out")"
  elif [ "${#leaks[@]}" -gt 0 ]; then
    fail "$c: no credential in stdout, stderr, summary, plan, errors" "leaked: ${leaks[*]} in $(grep -m1 -F -- "${leaks[0]/whole value/$v}" "$out")"
  else
    pass "$c: failed without showing the value or a piece of it"
  fi
done <"$W/cases"

echo "$P passed, $F failed"
[ "$F" -eq 0 ]
