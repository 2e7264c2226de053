#!/usr/bin/env bash
# Benchmarks of vr-features and vr-train (issue 2). Prints figures; never fails on time.
# Generated inputs are cached in $VR_BENCH_DIR (default bench-out/) between runs.
set -euo pipefail
source "$(dirname "$0")/../bench-data.sh"
bin=${VR_BIN_DIR:?set by scripts/bench.sh}
out=${VR_BENCH_DIR:?set by scripts/bench.sh}
here=$(cd "$(dirname "$0")/../.." && pwd)
shared_ml100k="$here/../shared/data/ml-100k/u.data"

# peak RSS (kB), wall seconds and user CPU seconds of a command, via GNU time.
measure() {
  local log=$1
  shift
  /usr/bin/time -f '%M %e %U' -o "$log.time" "$@" 2>"$log"
  read -r peak_kb wall_s user_s <"$log.time"
}
command -v /usr/bin/time >/dev/null || scripts/install-deps.sh time

echo "--- vr-features: 20M events, 1M users, 100k videos"
events="$out/events-20m.csv"
if [ ! -s "$events" ]; then
  "$bin/vr-generate" --users 1000000 --videos 100000 --events 20000000 --seed 11 -o "$events" 2>/dev/null
fi
bytes=$(stat -c %s "$events")
rows=$(($(wc -l <"$events") - 1))
taskset -c 0 true 2>/dev/null && pin=(taskset -c 0) || pin=()
measure "$out/features.log" "${pin[@]}" "$bin/vr-features" "$events" --dir "$out/features-20m"
pairs=$(($(wc -l <"$out/features-20m/ratings.csv") - 1))
awk -v rows="$rows" -v bytes="$bytes" -v s="$wall_s" -v user="$user_s" -v kb="$peak_kb" -v pairs="$pairs" 'BEGIN {
  own = pairs * 12 / 1e6
  printf "rows %d, distinct pairs %d, %.2f s on one core (%.2f s user CPU)\n", rows, pairs, s, user
  printf "throughput: %.2f M rows/s, %.0f MB/s\n", rows / s / 1e6, bytes / s / 1e6
  printf "peak RSS: %.0f MB; aggregated pairs own size (12 B each): %.0f MB; ratio %.2f (goal <= 2)\n", kb / 1024, own, kb / 1024 / own
}'

echo "--- vr-train on MovieLens 100K (defaults: 20 factors, 20 iterations, 2 threads)"
if [ -f "$shared_ml100k" ]; then
  mkdir -p "$out/ml100k"
  awk 'BEGIN { print "user_id,video_id,value,timestamp" } { print $1 "," $2 "," $3 "," $4 }' "$shared_ml100k" >"$out/ml100k/events.csv"
  "$bin/vr-features" "$out/ml100k/events.csv" --dir "$out/ml100k" 2>/dev/null
  "$bin/vr-train" --dir "$out/ml100k" --threads 2 2>"$out/ml100k/train.log"
  awk '/^iteration/ { s += $(NF-1); n++ } END { printf "%.4f s per iteration (mean of %d)\n", s / n, n }' "$out/ml100k/train.log"
else
  echo "SKIPPED: ../shared/data/ml-100k/u.data is not here"
fi

echo "--- vr-train: 100k users x 20k videos x 5M ratings, 64 factors, 2 threads"
train_dir="$out/train-5m"
bench_ratings_5m "$train_dir"
"$bin/bench_kernels" "$train_dir/ratings.csv" 64 2 5
measure "$out/train.log" "$bin/vr-train" --dir "$train_dir" --factors 64 --threads 2 --iterations 5 --model "$out/train-5m.bin"
awk -v kb="$peak_kb" -v nnz="$(($(wc -l <"$train_dir/ratings.csv") - 1))" 'BEGIN {
  both = nnz * 8 * 2 / 1e6; factors = (100000 + 20000) * 64 * 4 / 1e6
  printf "vr-train peak RSS: %.0f MB; ratings in both orientations + factors: %.0f MB; ratio %.2f (goal <= 1.5)\n", kb / 1024, both + factors, kb / 1024 / (both + factors)
}'
