#!/usr/bin/env bash
# A second kube-apiserver on the local cluster's etcd (same flags, own port),
# which the kube client tests may kill and restart at will: the cluster's own
# apiserver is supervised and its exit stops the whole cluster.
#   apiserver2.sh start   DIR   -> prints the kubeconfig path for the new server
#   apiserver2.sh restart DIR   -> SIGKILL, 2 s down, start again, wait ready
#   apiserver2.sh stop    DIR
#   apiserver2.sh pause|resume DIR  -> SIGSTOP / SIGCONT (a hung server)
set -euo pipefail
cmd=${1:?start|restart|stop}
dir=$(cd "${2:?cluster dir}" && pwd)
. "$dir/cluster.env"
state=$dir/apiserver2
mkdir -p "$state"

main_pid() {
  local p
  for p in $(pgrep -f "kube-apiserver .*--secure-port=$RETL_APISERVER_PORT( |$)"); do
    echo "$p"; return 0
  done
  return 1
}

launch() {
  local port
  port=$(cat "$state/port")
  # The main apiserver's own flags, but our port; NUL-separated argv.
  mapfile -d '' args < "$state/cmdline"
  local out=()
  for a in "${args[@]}"; do
    case $a in --secure-port=*) out+=("--secure-port=$port") ;; *) out+=("$a") ;; esac
  done
  setsid "${out[@]}" >"$state/apiserver.log" 2>&1 < /dev/null &
  echo $! > "$state/pid"
  for _ in $(seq 1 120); do
    if kubectl --kubeconfig "$state/kubeconfig" get --raw /readyz >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.5
  done
  echo "apiserver2 not ready; log: $state/apiserver.log" >&2
  return 1
}

kill_it() {
  [ -f "$state/pid" ] || return 0
  local pid
  pid=$(cat "$state/pid")
  kill -"$1" "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$state/pid"
}

case $cmd in
  start)
    pid=$(main_pid)
    tr '\0' '\n' < /proc/"$pid"/cmdline >/dev/null
    cp /proc/"$pid"/cmdline "$state/cmdline"
    python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])' > "$state/port"
    sed -E "s#server: https://127.0.0.1:[0-9]+#server: https://127.0.0.1:$(cat "$state/port")#" \
      "$dir/kubeconfig" > "$state/kubeconfig"
    launch >&2
    echo "$state/kubeconfig"
    ;;
  restart)
    kill_it KILL
    sleep 2
    launch
    ;;
  stop)
    kill -CONT "$(cat "$state/pid" 2>/dev/null)" 2>/dev/null || true
    kill_it TERM
    ;;
  pause) # a hung server: connections open, no answers
    kill -STOP "$(cat "$state/pid")"
    ;;
  resume)
    kill -CONT "$(cat "$state/pid")"
    ;;
esac
