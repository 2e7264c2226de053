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
source "$(dirname "$0")/../bench-serve.sh"
cache=${VR_BENCH_DIR:-bench-out}/serve-100k
seconds=${SERVE_BENCH_SECONDS:-15}

bench_require_wrk serve
bench_model_3m "$cache"
bench_work_dir

# POST bodies: each request asks for the next user of the list, k=10.
bench_wrk_requests "$work/invocations.lua" "$cache/users.txt" "'{\"user_id\": \"' .. line .. '\", \"k\": 10}'"

bench_start_server "$work/serve.log" --model-dir "$cache"
base="http://127.0.0.1:$port"
bench_wait_table "$work/serve.log"

wrk -t2 -c64 -d"${seconds}s" --latency "$base/ping" > "$work/ping.txt"
bench_wrk_summary "1. /ping alone, 64 conn" "$work/ping.txt"

wrk -t2 -c64 -d"${seconds}s" --latency -s "$work/invocations.lua" "$base" > "$work/invocations.txt"
bench_wrk_summary "2. /invocations k=10 alone, 64 conn" "$work/invocations.txt"

wrk -t1 -c64 -d"${seconds}s" --latency -s "$work/invocations.lua" "$base" > "$work/both-invocations.txt" &
load_pid=$!
sleep 1
wrk -t1 -c4 -d"$((seconds > 3 ? seconds - 2 : 1))s" --latency "$base/ping" > "$work/both-ping.txt"
wait "$load_pid"
bench_wrk_summary "3. /invocations k=10, 64 conn, with:" "$work/both-invocations.txt"
bench_wrk_summary "3. /ping beside it, 4 conn" "$work/both-ping.txt"

awk '/Requests\/sec:/ { print $2 }' "$work/ping.txt" "$work/invocations.txt" | paste -sd' ' |
  awk '{ printf "/invocations / /ping requests/s: %.1f%% (goal >= 80%%)\n", 100 * $2 / $1 }'
