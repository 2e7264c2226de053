#!/usr/bin/env bash
# vr-serve under wrk at a million videos, with requests the precomputed table cannot answer:
# POST /invocations {"history": [...], "k": 10} (fold-in: an exact solve against the video
# factors, then a top-10 search of the catalog), a different history each request (2,000
# histories of 5-20 videos, taken from the log's users in turn).
#   1. --scan pruned (the default), at 16 and at 64 connections: requests/s, p50, p99 (on two
#      cores shared with wrk, 16 connections already keep the server busy; 64 shows the
#      queueing: the same rate, four times the requests waiting);
#   2. --scan full, 4 connections (a full scan of a million videos takes tens of ms: more
#      connections only queue): the same, for comparison.
# The model is 40-retrieval.sh's (1M users x 1M videos, about 989k ever watched, 64 factors);
# it is generated here when missing. Prints figures only; never fails on time. Goals (issue
# "million-video catalogs"): >= 2,000 history requests/s with p99 < 20 ms.
# Env: VR_BIN_DIR (default build/bin), VR_BENCH_DIR (default bench-out),
#      SERVE_BENCH_SECONDS (default 15), SERVE_HISTORY_CONNECTIONS (default "16 64": a list).
set -euo pipefail
bin_dir=${VR_BIN_DIR:-build/bin}
bench=${VR_BENCH_DIR:-bench-out}
seconds=${SERVE_BENCH_SECONDS:-15}
connections=${SERVE_HISTORY_CONNECTIONS:-16 64}
model="$bench/retrieval-1m-dense"

if ! command -v wrk >/dev/null 2>&1; then
  echo "serve history bench skipped: wrk not installed (scripts/install-deps.sh installs it)"
  exit 0
fi
mkdir -p "$model"
if [[ ! -f "$model/als_model.bin" ]]; then
  echo "generating 1M users x 1M videos, 40M events, training 64 factors (cached in $model) ..."
  "$bin_dir/vr-generate" --users 1000000 --videos 1000000 --events 40000000 --tastes 40 --zipf 1 --seed 7 \
    -o "$model/interactions.csv" 2>/dev/null
  "$bin_dir/vr-features" "$model/interactions.csv" --dir "$model" 2>/dev/null
  "$bin_dir/vr-train" --dir "$model" --factors 64 --iterations 3 --threads 2 --quiet 2>/dev/null
fi
if [[ ! -f "$model/histories.jsonl" ]]; then
  # One request body per line: the first 5-20 distinct videos of each of 2,000 users (the log
  # lists each user's events together).
  head -n 2000000 "$model/interactions.csv" | tail -n +2 | awk -F, '
    $1 != user { flush(); user = $1; n = 0; delete seen }
    !($2 in seen) && n < 20 { seen[$2] = 1; videos[++n] = $2 }
    function flush(  i, body) {
      if (n < 5 || written >= 2000) return
      body = "{\"history\": ["
      for (i = 1; i <= n; ++i) body = body (i > 1 ? ", " : "") "\"" videos[i] "\""
      print body "], \"k\": 10}"
      ++written
    }
    END { flush() }' > "$model/histories.jsonl.tmp"
  mv "$model/histories.jsonl.tmp" "$model/histories.jsonl"
fi

work=$(mktemp -d)
server_pid=""
stop_server() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  server_pid=""
}
cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT

# The bodies are formatted once, up front, and there is no response() callback, so that wrk,
# on the same cores as the server, spends as little as it can; a failed answer shows as
# "non-2xx" in the figures.
cat > "$work/history.lua" <<EOF
local requests = {}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
for line in io.lines("$model/histories.jsonl") do
  requests[#requests + 1] = wrk.format(nil, "/invocations", nil, line)
end
local next_request = 0
request = function()
  next_request = next_request % #requests + 1
  return requests[next_request]
end
EOF

# Starts vr-serve with the extra flags and sets $base once /ping answers.
start_server() {
  # No precomputed table (history requests never use it; it would only take a core while it is
  # built) and no similar-video index (not used by these requests).
  "$bin_dir/vr-serve" --model-dir "$model" --host 127.0.0.1 --port 0 --precompute-k 0 --retrieval exact "$@" \
    2> "$work/serve.log" &
  server_pid=$!
  local port=""
  for _ in $(seq 1 3000); do
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
  # One request, checked, before the figures: a wrong body would otherwise only show as non-2xx.
  curl -sf -H 'Content-Type: application/json' -d "$(head -n 1 "$model/histories.jsonl")" "$base/invocations" |
    grep -q '"videoId"' || { echo "history request failed" >&2; exit 1; }
}

# Prints "<label>: N req/s, p50 X, p99 Y" from wrk's --latency output in file $2.
summarise() {
  awk -v label="$1" '
    /Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = $2 }
    $1 == "99%" { p99 = $2 }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    /Socket errors:/ { socket = $0 }
    END {
      printf "%-44s %8.0f req/s   p50 %8s   p99 %8s", label, rps, p50, p99
      if (non2xx != "") printf "   non-2xx %s", non2xx
      if (socket != "") printf "   (%s)", socket
      printf "\n"
    }' "$2"
}

echo "$(wc -l < "$model/histories.jsonl") history bodies of 5-20 videos, $model"
start_server --scan pruned
for count in $connections; do
  wrk -t2 -c"$count" -d"${seconds}s" --latency -s "$work/history.lua" "$base" > "$work/pruned.txt"
  summarise "1. history k=10, --scan pruned, $count conn" "$work/pruned.txt"
done
curl -sf "$base/metrics" | grep -E '^vr_scan_(searches|share)' | sed 's/^/   /'
# The replica's memory: model, packed factors, watched videos, mappings, no table or index.
grep -E '^VmRSS' "/proc/$server_pid/status" | awk '{ printf "   vr-serve resident memory: %.0f MB\n", $2 / 1024 }'
stop_server

start_server --scan full
wrk -t2 -c4 -d"${seconds}s" --latency -s "$work/history.lua" "$base" > "$work/full.txt"
summarise "2. history k=10, --scan full, 4 conn" "$work/full.txt"
stop_server
