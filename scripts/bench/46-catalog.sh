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
source "$(dirname "$0")/../bench-serve.sh"
cache=${VR_BENCH_DIR:-bench-out}/serve-100k
seconds=${SERVE_BENCH_SECONDS:-15}

bench_require_wrk catalog
bench_model_3m "$cache"
bench_work_dir

# The catalog: every video with one of 10 categories, every 100th hidden.
tail -n +2 "$cache/interactions.csv" | cut -d, -f2 | sort -u |
  awk 'BEGIN { print "video_id,categories,hidden" } { printf "%s,c%d,%s\n", $1, NR % 10, (NR % 100 == 0 ? "true" : "false") }' \
  > "$work/videos.csv"
echo "catalog: $(($(wc -l < "$work/videos.csv") - 1)) videos, $(grep -c ',true$' "$work/videos.csv") hidden"

# A different known user each request: `line` is the user id, `n` its number.
bench_wrk_requests "$work/plain.lua" "$cache/users.txt" "'{\"user_id\": \"' .. line .. '\", \"k\": 10}'"
# One of the ten categories per request, in turn.
bench_wrk_requests "$work/category.lua" "$cache/users.txt" \
  "'{\"user_id\": \"' .. line .. '\", \"k\": 10, \"categories\": [\"c' .. (n % 10) .. '\"]}'"

# start_server NAME [vr-serve options]: starts a server on the model, its log in $work/NAME.log,
# waits for its table and sets NAME_port.
start_server() {
  local name=$1
  shift
  bench_start_server "$work/$name.log" --model-dir "$cache" "$@" > /dev/null
  bench_wait_table "$work/$name.log" > /dev/null
  printf -v "${name}_port" '%s' "$port"
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
  bench_wrk_summary "1. no catalog, k=10 (table), 64 conn, round $round" "$work/1-$round.txt"
  wrk -t2 -c64 -d"${slice}s" --latency -s "$work/plain.lua" "http://127.0.0.1:$catalog_port" > "$work/2-$round.txt"
  bench_wrk_summary "2. catalog hiding 1%, k=10 (table, filtered), round $round" "$work/2-$round.txt"
done
wrk -t2 -c64 -d"${seconds}s" --latency -s "$work/category.lua" "http://127.0.0.1:$catalog_port" > "$work/3.txt"
bench_wrk_summary "3. catalog + one category per request (scored)" "$work/3.txt"
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
