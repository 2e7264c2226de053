# shellcheck shell=bash
# start_vr_serve, for the shell tests (tests/e2e/support/serve.sh) and the serving benchmarks
# (scripts/bench-serve.sh). Sourced. vr-serve is taken from $bin when set, else from
# $VR_BIN_DIR (default build/bin).

# start_vr_serve LOG [vr-serve options]: starts vr-serve on 127.0.0.1 with a port the system
# picks (--port 0; the server logs the one it got), stderr in LOG, and waits until /ping
# answers; then sets server_pid and port. When the server exits, or does not answer within
# $start_vr_serve_seconds (default 20), prints LOG and exits 1. Variables assigned before the
# call (ASAN_OPTIONS=...) reach the server.
start_vr_serve() {
  local log=$1 attempts=$(( ${start_vr_serve_seconds:-20} * 20 ))
  shift
  "${bin:-${VR_BIN_DIR:-build/bin}}/vr-serve" --host 127.0.0.1 --port 0 "$@" 2>"$log" &
  server_pid=$!
  port=""
  for _ in $(seq 1 "$attempts"); do
    port=$(grep -o '"event":"listening".*"port":[0-9]*' "$log" 2>/dev/null | grep -o '"port":[0-9]*' | cut -d: -f2 || true)
    [[ -n $port ]] && curl -fs "http://127.0.0.1:$port/ping" >/dev/null 2>&1 && return 0
    kill -0 "$server_pid" 2>/dev/null || break  # it exited: the log says why
    sleep 0.05
  done
  cat "$log" >&2
  echo "vr-serve did not start" >&2
  exit 1
}
