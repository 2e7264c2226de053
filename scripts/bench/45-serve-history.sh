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
source "$(dirname "$0")/../bench-data.sh"
source "$(dirname "$0")/../bench-serve.sh"
bench=${VR_BENCH_DIR:-bench-out}
seconds=${SERVE_BENCH_SECONDS:-15}
connections=${SERVE_HISTORY_CONNECTIONS:-16 64}
model="$bench/retrieval-1m-dense"

bench_require_wrk "serve history"
bench_model_1m "$model"
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

bench_work_dir

bench_wrk_requests "$work/history.lua" "$model/histories.jsonl" line

# Starts vr-serve with the extra flags and sets $base.
start_server() {
  # No precomputed table (history requests never use it; it would only take a core while it is
  # built) and no similar-video index (not used by these requests).
  bench_start_server "$work/serve.log" --model-dir "$model" --precompute-k 0 --retrieval exact "$@"
  base="http://127.0.0.1:$port"
  # One request, checked, before the figures: a wrong body would otherwise only show as non-2xx.
  curl -sf -H 'Content-Type: application/json' -d "$(head -n 1 "$model/histories.jsonl")" "$base/invocations" |
    grep -q '"videoId"' || { echo "history request failed" >&2; exit 1; }
}

echo "$(wc -l < "$model/histories.jsonl") history bodies of 5-20 videos, $model"
start_server --scan pruned
for count in $connections; do
  wrk -t2 -c"$count" -d"${seconds}s" --latency -s "$work/history.lua" "$base" > "$work/pruned.txt"
  bench_wrk_summary "1. history k=10, --scan pruned, $count conn" "$work/pruned.txt"
done
curl -sf "$base/metrics" | grep -E '^vr_scan_(searches|share)' | sed 's/^/   /'
# The replica's memory: model, packed factors, watched videos, mappings, no table or index.
grep -E '^VmRSS' "/proc/$server_pid/status" | awk '{ printf "   vr-serve resident memory: %.0f MB\n", $2 / 1024 }'
bench_stop_servers

start_server --scan full
wrk -t2 -c4 -d"${seconds}s" --latency -s "$work/history.lua" "$base" > "$work/full.txt"
bench_wrk_summary "2. history k=10, --scan full, 4 conn" "$work/full.txt"
bench_stop_servers
