# Sourced by the shell tests that run the real vr-serve: starting it on a free loopback port.
# Needs $bin, the folder of the built tools.

server_pid=""

# serve_test_work_dir: sets `work` to a new temporary folder; on exit, the server start_vr_serve
# started last (when there is one) gets SIGTERM and is waited for, and the folder is removed.
serve_test_work_dir() {
  work=$(mktemp -d)
  trap '{ [[ -n $server_pid ]] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null; } || true; rm -rf "$work"' EXIT
}

# start_vr_serve LOG [vr-serve options]: starts vr-serve on 127.0.0.1 with a port the system
# picks (--port 0; the server logs the one it got), stderr in LOG, and waits until /ping
# answers; then sets server_pid and port. When the server exits or does not answer within 20 s,
# prints LOG and ends the test (exit 1). Variables assigned before the call (ASAN_OPTIONS=...)
# reach the server.
start_vr_serve() {
  local log=$1
  shift
  "$bin/vr-serve" --host 127.0.0.1 --port 0 "$@" 2>"$log" &
  server_pid=$!
  port=""
  for _ in $(seq 1 400); do
    port=$(grep -o '"event":"listening".*"port":[0-9]*' "$log" 2>/dev/null | grep -o '"port":[0-9]*' | cut -d: -f2 || true)
    [[ -n $port ]] && curl -fs "http://127.0.0.1:$port/ping" >/dev/null 2>&1 && return 0
    kill -0 "$server_pid" 2>/dev/null || break  # it exited: the log says why
    sleep 0.05
  done
  cat "$log" >&2
  echo "vr-serve did not start" >&2
  exit 1
}
