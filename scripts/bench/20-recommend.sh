#!/usr/bin/env bash
# vr-recommend speed on a generated 100k users x 20k videos model at 64 factors:
#   --all-users throughput on 2 threads (users/s; goal >= 20,000), model load time, and
#   single-user latency once loaded (--users reads many ids in one process, so load time is
#   paid once; --user pays it every call).
# Prints figures only; never fails on time. Generated data and the model are cached under
# $VR_BENCH_DIR/serve-100k, shared with 30-serve and 46-catalog (delete it to regenerate).
# Env: VR_BIN_DIR (default build/bin), VR_BENCH_DIR (default bench-out).
set -euo pipefail
source "$(dirname "$0")/../bench-data.sh"
bin_dir=${VR_BIN_DIR:-build/bin}
cache=${VR_BENCH_DIR:-bench-out}/serve-100k
mkdir -p "$cache"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

bench_model_3m "$cache"

start=$(now)
"$bin_dir/vr-recommend" --dir "$cache" --all-users -k 10 --threads 2 -o "$cache/all-users.jsonl" 2>/dev/null
end=$(now)
users=$(wc -l < "$cache/all-users.jsonl")
seconds=$(elapsed "$start" "$end")
echo "all-users: $users users, k=10, 2 threads: $seconds s (including model load) -> $(awk -v n="$users" -v s="$seconds" 'BEGIN { printf "%.0f", n / s }') users/s"

# Model load time: one query's wall time is load + one answer; the answer alone is measured
# below, so report the one-query time and the load estimate.
head -n 1 "$cache/all-users.jsonl" | sed 's/^{"userId": "\([^"]*\)".*/\1/' > "$cache/one-user.txt"
user=$(cat "$cache/one-user.txt")
best=""
for _ in 1 2 3; do
  start=$(now)
  "$bin_dir/vr-recommend" --dir "$cache" --user "$user" -k 10 > /dev/null
  end=$(now)
  t=$(elapsed "$start" "$end")
  if [[ -z "$best" ]] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; fi
done
echo "single --user call (load + one answer), best of 3: $best s"

# Latency once loaded: 2000 single-user requests through --users on 1 thread, one process.
sed -n '1~50p' "$cache/all-users.jsonl" | head -n 2000 | sed 's/^{"userId": "\([^"]*\)".*/\1/' > "$cache/users-2000.txt"
start=$(now)
"$bin_dir/vr-recommend" --dir "$cache" --users "$cache/users-2000.txt" -k 10 --threads 1 > /dev/null 2>&1
end=$(now)
batch=$(elapsed "$start" "$end")
awk -v total="$batch" -v one="$best" 'BEGIN {
  per_user = (total - one) / 1999
  printf "single-user latency once loaded (1 thread, mean of 2000): %.3f ms\n", per_user * 1000
  printf "model load time (single call minus one answer): %.3f s\n", one - per_user
}'
