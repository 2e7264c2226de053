#!/usr/bin/env bash
# vr-serve with a catalog (docs/catalog.md) beside the same server without one, under wrk, on
# the serve bench's model (100k users x 20k videos, 64 factors, cached as 30-serve.sh caches it):
#   1. no catalog: POST /invocations k=10, a different known user each request (the table);
#   2. a catalog hiding 1 % of the videos (every 100th), the same requests: filtered at look-up;
#   3. the same catalog, each request filtering by one of 10 categories ("categories": [...]),
#      which the table cannot answer: scored with the request's mask.
# Runs 1 and 2 alternate against two servers started side by side (CATALOG_BENCH_ROUNDS, default 3).
# Prints requests/s and p50/p99 of each; never fails on time. Goal: run 2 within 10 % of run 1.
# Env: VR_BIN_DIR (default build/bin), VR_BENCH_DIR (default bench-out), SERVE_BENCH_SECONDS (15).
set -euo pipefail
source "$(dirname "$0")/../bench-data.sh"
bin_dir=${VR_BIN_DIR:-build/bin}
cache=${VR_BENCH_DIR:-bench-out}/serve-100k
seconds=${SERVE_BENCH_SECONDS:-15}
mkdir -p "$cache"
if ! command -v wrk >/dev/null 2>&1; then
  echo "catalog bench skipped: wrk not installed (scripts/install-deps.sh installs it)"
  exit 0
fi
bench_model_3m "$cache"
if [[ ! -f "$cache/users.txt" ]]; then
  tail -n +2 "$cache/interactions.csv" | cut -d, -f1 | sort -u | awk 'NR % 37 == 1 && n++ < 2000' > "$cache/users.txt"
fi

work=$(mktemp -d)
server_pids=()
cleanup() {
  local pid
  for pid in "${server_pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# The catalog: every video with one of 10 categories, every 100th hidden.
tail -n +2 "$cache/interactions.csv" | cut -d, -f2 | sort -u |
  awk 'BEGIN { print "video_id,categories,hidden" } { printf "%s,c%d,%s\n", $1, NR % 10, (NR % 100 == 0 ? "true" : "false") }' \
  > "$work/videos.csv"
echo "catalog: $(($(wc -l < "$work/videos.csv") - 1)) videos, $(grep -c ',true$' "$work/videos.csv") hidden"

# Request bodies made once up front (see 30-serve.sh). $2 is the Lua expression of the body,
# from `line` (the user id) and `n` (its index).
make_lua() {
  cat > "$work/$1.lua" <<EOF
local requests = {}
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
for line in io.lines("$cache/users.txt") do
  n = n + 1
  requests[#requests + 1] = wrk.format(nil, "/invocations", nil, $2)
end
local next_request = 0
request = function()
  next_request = next_request % #requests + 1
  return requests[next_request]
end
EOF
}
make_lua plain "'{\"user_id\": \"' .. line .. '\", \"k\": 10}'"
# One of the ten categories per request, in turn.
make_lua category "'{\"user_id\": \"' .. line .. '\", \"k\": 10, \"categories\": [\"c' .. (n % 10) .. '\"]}'"

start_server() {  # start_server NAME [vr-serve options]: sets NAME_pid and NAME_port
  local name="$1" pid port=""
  shift
  "$bin_dir/vr-serve" --model-dir "$cache" --host 127.0.0.1 --port 0 "$@" 2> "$work/$name.log" &
  pid=$!
  server_pids+=("$pid")
  for _ in $(seq 1 600); do
    port=$(grep -o '"event":"listening".*"port":[0-9]*' "$work/$name.log" 2>/dev/null | grep -o '"port":[0-9]*' | cut -d: -f2 || true)
    if [[ -n "$port" ]] && curl -sf "http://127.0.0.1:$port/ping" >/dev/null; then break; fi
    sleep 0.1
  done
  for _ in $(seq 1 6000); do
    if grep -q '"event":"precompute' "$work/$name.log"; then break; fi
    sleep 0.1
  done
  printf -v "${name}_port" '%s' "$port"
}
summarise() {
  awk -v label="$1" '
    /Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = $2 }
    $1 == "99%" { p99 = $2 }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    END {
      printf "%-52s %10.0f req/s   p50 %8s   p99 %8s", label, rps, p50, p99
      if (non2xx != "") printf "   non-2xx %s", non2xx
      printf "\n"
    }' "$2"
}

# Both servers run at once, and runs 1 and 2 alternate (ROUNDS each, SERVE_BENCH_SECONDS / ROUNDS
# seconds a run): load from elsewhere on the machine then falls on both alike, and the ratio
# of their medians is what changes between the two, not when each ran.
rounds=${CATALOG_BENCH_ROUNDS:-3}
slice=$(( seconds / rounds > 2 ? seconds / rounds : 2 ))
start_server plain
start_server catalog --catalog "$work/videos.csv"
for round in $(seq 1 "$rounds"); do
  wrk -t2 -c64 -d"${slice}s" --latency -s "$work/plain.lua" "http://127.0.0.1:$plain_port" > "$work/1-$round.txt"
  summarise "1. no catalog, k=10 (table), 64 conn, round $round" "$work/1-$round.txt"
  wrk -t2 -c64 -d"${slice}s" --latency -s "$work/plain.lua" "http://127.0.0.1:$catalog_port" > "$work/2-$round.txt"
  summarise "2. catalog hiding 1%, k=10 (table, filtered), round $round" "$work/2-$round.txt"
done
wrk -t2 -c64 -d"${seconds}s" --latency -s "$work/category.lua" "http://127.0.0.1:$catalog_port" > "$work/3.txt"
summarise "3. catalog + one category per request (scored)" "$work/3.txt"
curl -s "http://127.0.0.1:$catalog_port/metrics" | grep '^vr_invocation_answers_total'
# The other way to honour a catalog in the table: rebuild the table whenever the catalog
# changes. What one rebuild costs is what the server's own build of it took at start.
grep -o '"event":"precomputed".*"seconds":[0-9.e-]*' "$work/plain.log" | grep -o '"seconds":[0-9.e-]*' | cut -d: -f2 |
  awk '{ printf "rebuilding the table instead of filtering it: %.1f s of the server'"'"'s threads per catalog change (its build at start)\n", $1 }'
median_rps() {  # median_rps FILE...: the median requests/s of these wrk runs
  awk '/Requests\/sec:/ { print $2 }' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
printf 'run 2 / run 1 requests/s (medians of %d alternating rounds): %s / %s = %.1f%% (goal >= 90%%)\n' "$rounds" \
  "$(median_rps "$work"/1-*.txt)" "$(median_rps "$work"/2-*.txt)" \
  "$(awk -v a="$(median_rps "$work"/1-*.txt)" -v b="$(median_rps "$work"/2-*.txt)" 'BEGIN { print 100 * b / a }')"
