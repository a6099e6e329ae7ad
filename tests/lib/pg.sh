# shellcheck shell=bash
# A throwaway PostgreSQL server for tests and benchmarks: initdb + pg_ctl in a
# temp dir, on a free loopback port, run as the `postgres` OS user when we are
# root. Usage:
#   source tests/lib/pg.sh
#   pg_start [extra postgres -c options...]   # exports PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE PG_URL
#   trap pg_stop EXIT
#   pg_sql "SELECT 1"                         # psql -XAtq, stops on error
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}

pg__as() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg__free_port() {
  python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

pg_start() {
  PG_DIR=$(mktemp -d /tmp/retl-pg.XXXXXX)
  chmod 755 "$PG_DIR"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$PG_DIR"
  export PGPASSWORD=${PGPASSWORD:-retl-test-pw-$RANDOM$RANDOM}
  printf '%s\n' "$PGPASSWORD" >"$PG_DIR/pw"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$PG_DIR/pw"
  pg__as "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --pwfile="$PG_DIR/pw" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; return 1; }
  local port tries=0
  while :; do
    port=$(pg__free_port)
    local opts="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$PG_DIR -c max_connections=50"
    for o in "$@"; do opts="$opts -c $o"; done
    if pg__as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 -o "$opts" start >/dev/null 2>&1; then
      break
    fi
    tries=$((tries + 1))
    [ $tries -ge 5 ] && { cat "$PG_DIR/server.log" >&2; return 1; }
  done
  export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres PGDATABASE=postgres
  export PG_URL="postgresql://postgres@127.0.0.1:$port/postgres"
}

pg_stop() {
  [ -n "${PG_DIR:-}" ] || return 0
  pg__as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1
  rm -rf "$PG_DIR"
  PG_DIR=
}

pg_sql() {
  "$PG_BIN/psql" -XAtq -v ON_ERROR_STOP=1 "$@"
}

# Stops the server abruptly and starts it again (same port and data).
pg_restart() {
  pg__as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1
  pg__as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -c port=$PGPORT -c unix_socket_directories=$PG_DIR" start >/dev/null 2>&1
}
