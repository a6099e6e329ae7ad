# Source from a bench: the two warehouse stand-ins, each backed by its own
# database on the bench's PostgreSQL (tests/lib/pg.sh).
#   wh_sims_start   tds-sim on $PGB/src_mssql (user retl, password bench) and
#                   snowflake-sim on $PGB/src_snow (account BENCH, user RETL,
#                   key pair $W/key.pem / key.pub); their addresses are in
#                   $W/tds.addr and $W/snow.addr, their pids join PIDS.
# Needs TDSSIM, SNOWSIM, PGB, W and an array PIDS that cleanup kills.
wh_sims_start() {
  "$TDSSIM" -pg "$PGB/src_mssql" -user retl -password bench -addr-file "$W/tds.addr" 2>"$W/tds.log" &
  PIDS+=($!)
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/key.pem" 2>/dev/null
  openssl pkey -in "$W/key.pem" -pubout -out "$W/key.pub"
  "$SNOWSIM" -pg "$PGB/src_snow" -public-key "$W/key.pub" -account BENCH -user RETL \
    -partition-rows 20000 -addr-file "$W/snow.addr" 2>"$W/snow.log" &
  PIDS+=($!)
  for _ in $(seq 1 100); do [ -s "$W/tds.addr" ] && [ -s "$W/snow.addr" ] && return 0; sleep 0.05; done
  echo "the warehouse stand-ins did not start (logs: $W/tds.log, $W/snow.log)" >&2
  return 1
}
