# Source from a suite: the counters and checks every suite reports with.
#   pass NAME / fail NAME [WHY]    count one result and print it
#   check NAME COMMAND...          pass when the command succeeds, else fail (printing the command)
#   eq GOT WANT                    a command for check: equal strings, else both on stderr
#   poll SECONDS COMMAND...        retry the command every POLL_INTERVAL s (default 0.2)
#                                  until it succeeds; non-zero on timeout
# The suite ends with: echo "$P passed, $F failed"; [ "$F" -eq 0 ]
P=0 F=0
pass() { P=$((P + 1)); echo "ok   - $*"; }
fail() { F=$((F + 1)); echo "FAIL - $1${2:+: $2}"; }
check() {
  local name=$1
  shift
  if "$@"; then pass "$name"; else fail "$name" "$*"; fi
}
eq() { [ "$1" == "$2" ] || { echo "    expected [$2] got [$1]" >&2; return 1; }; }
poll() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep "${POLL_INTERVAL:-0.2}"
  done
}
