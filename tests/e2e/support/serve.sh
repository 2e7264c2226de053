# Sourced by the shell tests that run the real vr-serve: start_vr_serve (scripts/start-vr-serve.sh,
# shared with the serving benchmarks) starts it on a free loopback port. Needs $bin, the folder
# of the built tools.
source "$(dirname "${BASH_SOURCE[0]}")/../../../scripts/start-vr-serve.sh"

server_pid=""

# serve_test_work_dir: sets `work` to a new temporary folder; on exit, the server start_vr_serve
# started last (when there is one) gets SIGTERM and is waited for, and the folder is removed.
serve_test_work_dir() {
  work=$(mktemp -d)
  trap '{ [[ -n $server_pid ]] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null; } || true; rm -rf "$work"' EXIT
}
