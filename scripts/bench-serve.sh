# shellcheck shell=bash
# vr-serve under wrk: what the serving benchmarks (scripts/bench/30-serve.sh, 45-serve-history.sh,
# 46-catalog.sh) share. Sourced; vr-serve is in $VR_BIN_DIR (default build/bin).
source "$(dirname "${BASH_SOURCE[0]}")/start-vr-serve.sh"

served_pids=()

# bench_require_wrk NAME: ends the calling benchmark, with a line saying so, when wrk is missing.
bench_require_wrk() {
  command -v wrk >/dev/null 2>&1 && return
  echo "$1 bench skipped: wrk not installed (scripts/install-deps.sh installs it)"
  exit 0
}

# bench_work_dir: sets `work` to a new temporary folder, removed on exit, when every server
# bench_start_server started is stopped too.
bench_work_dir() {
  work=$(mktemp -d)
  trap 'bench_stop_servers; rm -rf "$work"' EXIT
}

# bench_wrk_requests SCRIPT LINES BODY: writes the wrk script SCRIPT, which sends POST /invocations
# with one body per line of the file LINES, in turn. BODY is the Lua expression of a body, from
# `line` (the line) and `n` (its number). The requests are formatted once, up front, and there is
# no response() callback (it makes wrk copy every header and body into Lua), so that wrk, on the
# same cores as the server, spends as little as it can; a failed answer shows as "non-2xx" in
# the figures.
bench_wrk_requests() {
  cat > "$1" <<EOF
local requests = {}
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
for line in io.lines("$2") do
  n = n + 1
  requests[#requests + 1] = wrk.format(nil, "/invocations", nil, $3)
end
local next_request = 0
request = function()
  next_request = next_request % #requests + 1
  return requests[next_request]
end
EOF
}

# bench_start_server LOG [vr-serve options]: start_vr_serve (scripts/start-vr-serve.sh), waiting
# up to 5 minutes (a million-video model takes seconds to load), and the process joins
# served_pids. Sets server_pid and port; prints how long the model took to load.
bench_start_server() {
  start_vr_serve_seconds=300 start_vr_serve "$@"
  served_pids+=("$server_pid")
  grep -o '"load_seconds":[0-9.e-]*' "$1" | sed -n 1p | sed 's/"load_seconds":/model load: /; s/$/ s/'
}

# bench_wait_table LOG: waits (up to 10 minutes) until the server logging to LOG has computed
# its table of every user's top videos after loading, so that figures are for the steady state
# (until then it scores every request, with the same answers). Prints the table's log line.
bench_wait_table() {
  for _ in $(seq 1 6000); do
    if grep -q '"event":"precompute' "$1"; then break; fi
    sleep 0.1
  done
  grep -o '"event":"precompute[^}]*' "$1" | sed -n 1p | sed 's/^/precompute: /'
}

# bench_stop_servers: stops every server bench_start_server started.
bench_stop_servers() {
  local pid
  for pid in "${served_pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  served_pids=()
}

# bench_wrk_summary LABEL FILE: prints "LABEL  N req/s  p50 X  p99 Y", with the non-2xx answers
# and socket errors when there were any, from wrk --latency's output in FILE.
bench_wrk_summary() {
  awk -v label="$1" '
    /Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = $2 }
    $1 == "99%" { p99 = $2 }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    /Socket errors:/ { socket = $0 }
    END {
      printf "%-52s %10.0f req/s   p50 %8s   p99 %8s", label, rps, p50, p99
      if (non2xx != "") printf "   non-2xx %s", non2xx
      if (socket != "") printf "   (%s)", socket
      printf "\n"
    }' "$2"
}
