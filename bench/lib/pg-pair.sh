# shellcheck shell=bash
# A PostgreSQL -> PostgreSQL benchmark setup shared by bench/engine-*.sh and
# scripts/profile-engine-postgres.sh: one throwaway server (tests/lib/pg.sh)
# with databases src and dst, the 10-column table they sync, the two
# Secrets and a job per table. Usage (ROOT set, W a scratch directory):
#   source "$ROOT/bench/lib/pg-pair.sh"
#   pair_start [extra postgres -c options...]   # server, src, dst, $W/secrets.yaml
#   pair_table NAME ROWS                         # src.NAME filled, dst.public.NAME empty
#   pair_job FILE NAME TABLE [BATCHSIZE]         # the job (Upsert by id)
# shellcheck source=../../tests/lib/pg.sh
source "$ROOT/tests/lib/pg.sh"

PAIR_COLS="id int PRIMARY KEY, name text, email text, score numeric(12,4), active bool, born date, updated_at timestamp, seen_at timestamptz, attrs jsonb, amount float8"
PAIR_GEN="SELECT g, 'name ' || g, 'user' || g || '@example.com', (g % 10000) / 7.0, g % 3 = 0, date '1970-01-01' + g % 20000, timestamp '2020-01-01' + g * interval '1 second', timestamptz '2020-01-01 00:00:00+00' + g * interval '1 minute', jsonb_build_object('tier', g % 5, 'tags', jsonb_build_array('a', g % 7)), g * 0.25 FROM generate_series(1, NROWS) g"

S() { pg_sql -d src "$@"; }
D() { pg_sql -d dst "$@"; }
# shellcheck source=measure.sh
source "$ROOT/bench/lib/measure.sh"

pair_start() {
  pg_start "shared_buffers=256MB" "$@" >/dev/null
  pg_sql -c "CREATE DATABASE src" -c "CREATE DATABASE dst" >/dev/null
  cat >"$W/secrets.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata: {name: wh}
stringData: {url: "postgresql://postgres@127.0.0.1:$PGPORT/src", password: "$PGPASSWORD"}
---
apiVersion: v1
kind: Secret
metadata: {name: app}
stringData: {url: "postgresql://postgres@127.0.0.1:$PGPORT/dst", password: "$PGPASSWORD"}
YAML
}

pair_table() { # name rows
  S -c "CREATE TABLE $1 ($PAIR_COLS)" -c "INSERT INTO $1 ${PAIR_GEN//NROWS/$2}" -c "VACUUM ANALYZE $1" >/dev/null
  D -c "CREATE TABLE public.$1 ($PAIR_COLS)" >/dev/null
}

pair_job() { # file name table [batchSize]
  cat >"$1" <<YAML
apiVersion: retl.io/v1alpha1
kind: ReverseEtlJob
metadata: {name: $2, namespace: bench}
spec:
  source: {type: postgres, secretRef: {name: wh}, query: "SELECT * FROM $3"}
  destination: {type: postgres, secretRef: {name: app}, object: public.$3}
  mode: Upsert
${4:+  batchSize: $4}
  key: {source: id, destination: id}
  mappings:
$(for c in name email score active born updated_at seen_at attrs amount; do echo "    - {source: $c, destination: $c}"; done)
YAML
}
