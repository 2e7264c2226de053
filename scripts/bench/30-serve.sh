#!/usr/bin/env bash
# vr-serve under wrk on a generated 100k users x 20k videos model at 64 factors:
#   1. GET /ping alone, 64 connections: the HTTP ceiling of this server on this machine;
#   2. POST /invocations (k=10, a different known user each request), 64 connections;
#   3. both at once on the same server: /invocations at 64 connections saturating it, and
#      /ping at 4 connections beside it (the health check SageMaker sends under load).
# Prints requests/s and p50/p99 latency of each; never fails on time. Goals: /invocations
# >= 80% of /ping's requests/s, /invocations p99 < 10 ms, /ping p99 < 50 ms in run 3.
# wrk and the server share this machine's cores, as they would in any single-box run.
# Env: VR_BIN_DIR (default build/bin), VR_BENCH_DIR (default bench-out; the model is cached in
# $VR_BENCH_DIR/serve-100k, delete it to regenerate), SERVE_BENCH_SECONDS (default 15).
set -euo pipefail
source "$(dirname "$0")/../bench-data.sh"
bin_dir=${VR_BIN_DIR:-build/bin}
cache=${VR_BENCH_DIR:-bench-out}/serve-100k
seconds=${SERVE_BENCH_SECONDS:-15}
mkdir -p "$cache"

if ! command -v wrk >/dev/null 2>&1; then
  echo "serve bench skipped: wrk not installed (scripts/install-deps.sh installs it)"
  exit 0
fi

bench_model_3m "$cache"
if [[ ! -f "$cache/users.txt" ]]; then
  # 2000 known users, spread over the id space, for the request bodies.
  tail -n +2 "$cache/interactions.csv" | cut -d, -f1 | sort -u | awk 'NR % 37 == 1 && n++ < 2000' > "$cache/users.txt"
fi

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# POST bodies: each request asks for the next user of the list, k=10. The requests are made
# once, up front, and no Lua response() callback (it makes wrk copy every header and body into
# Lua), so that wrk, on the same cores as the server, spends as little as it can; a failed
# answer shows as "non-2xx" in the figures.
cat > "$work/invocations.lua" <<EOF
local requests = {}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
for line in io.lines("$cache/users.txt") do
  requests[#requests + 1] = wrk.format(nil, "/invocations", nil, '{"user_id": "' .. line .. '", "k": 10}')
end
local next_request = 0
request = function()
  next_request = next_request % #requests + 1
  return requests[next_request]
end
EOF

"$bin_dir/vr-serve" --model-dir "$cache" --host 127.0.0.1 --port 0 2> "$work/serve.log" &
server_pid=$!
port=""
for _ in $(seq 1 600); do
  port=$(grep -o '"event":"listening".*"port":[0-9]*' "$work/serve.log" 2>/dev/null | grep -o '"port":[0-9]*' | cut -d: -f2 || true)
  if [[ -n "$port" ]] && curl -sf "http://127.0.0.1:$port/ping" >/dev/null; then break; fi
  sleep 0.1
done
if ! curl -sf "http://127.0.0.1:$port/ping" >/dev/null; then
  echo "vr-serve did not become ready:" >&2
  cat "$work/serve.log" >&2
  exit 1
fi
base="http://127.0.0.1:$port"
grep -o "\"load_seconds\":[0-9.e-]*" "$work/serve.log" | sed -n 1p | sed 's/"load_seconds":/model load: /; s/$/ s/'
# The figures are for the steady state: wait for the table of every user's top videos that the
# server computes after loading (until then it scores every request, with the same answers).
for _ in $(seq 1 6000); do
  if grep -q '"event":"precompute' "$work/serve.log"; then break; fi
  sleep 0.1
done
grep -o '"event":"precompute[^}]*' "$work/serve.log" | sed -n 1p | sed 's/^/precompute: /'

# Prints "<label>: N req/s, p50 X, p99 Y, errors E" from wrk's --latency output in file $2.
summarise() {
  awk -v label="$1" '
    /Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = $2 }
    $1 == "99%" { p99 = $2 }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    /Socket errors:/ { socket = $0 }
    END {
      printf "%-40s %10.0f req/s   p50 %8s   p99 %8s", label, rps, p50, p99
      if (non2xx != "") printf "   non-2xx %s", non2xx
      if (socket != "") printf "   (%s)", socket
      printf "\n"
    }' "$2"
}

wrk -t2 -c64 -d"${seconds}s" --latency "$base/ping" > "$work/ping.txt"
summarise "1. /ping alone, 64 conn" "$work/ping.txt"

wrk -t2 -c64 -d"${seconds}s" --latency -s "$work/invocations.lua" "$base" > "$work/invocations.txt"
summarise "2. /invocations k=10 alone, 64 conn" "$work/invocations.txt"

wrk -t1 -c64 -d"${seconds}s" --latency -s "$work/invocations.lua" "$base" > "$work/both-invocations.txt" &
load_pid=$!
sleep 1
wrk -t1 -c4 -d"$((seconds - 2))s" --latency "$base/ping" > "$work/both-ping.txt"
wait "$load_pid"
summarise "3. /invocations k=10, 64 conn, with:" "$work/both-invocations.txt"
summarise "3. /ping beside it, 4 conn" "$work/both-ping.txt"

awk '/Requests\/sec:/ { print $2 }' "$work/ping.txt" "$work/invocations.txt" | paste -sd' ' |
  awk '{ printf "/invocations / /ping requests/s: %.1f%% (goal >= 80%%)\n", 100 * $2 / $1 }'
