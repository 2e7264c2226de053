#!/usr/bin/env bash
# Fresh recommendations on MovieLens 100K split by time (issue 16): warm start against a cold
# training, chained partial refreshes against full retrains (drift), and time decay. Uses the
# real tools; prints figures, never fails on them. Usage: VR_BIN_DIR=build/bin [VR_BENCH_DIR=dir]
# scripts/bench/40-freshness.sh [u.data]
set -euo pipefail
bin=${VR_BIN_DIR:?set VR_BIN_DIR to the built tools}
out=${VR_BENCH_DIR:-bench-out}/freshness
here=$(cd "$(dirname "$0")/../.." && pwd)
udata=${1:-${VR_MOVIELENS_DIR:-$here/../shared/data/ml-100k}/u.data}
if [[ ! -f "$udata" ]]; then
  echo "MovieLens 100K u.data not found at $udata; skipped"
  exit 0
fi
rm -rf "$out"
mkdir -p "$out"
all=$out/all.csv
{ echo "user_id,video_id,value,timestamp"; awk -v OFS=, '{ print "u" $1, "m" $2, $3, $4 }' "$udata"; } > "$all"

# Events before the time at FRACTION of the span (first to last event), or from it on.
read -r first last < <(awk -F, 'NR > 1 { if (min == "" || $4 < min) min = $4; if ($4 > max) max = $4 }
  END { print min, max }' "$all")
cut_at() { awk -v f="$1" -v a="$first" -v b="$last" 'BEGIN { printf "%d", a + f * (b - a) }'; }
before() { awk -F, -v t="$(cut_at "$1")" 'NR == 1 || $4 < t' "$all"; }
from() { awk -F, -v t="$(cut_at "$1")" 'NR == 1 || $4 >= t' "$all"; }

# nDCG@10 of DIR's model on TEST (binary relevance, each user's training videos excluded, the
# mean over test users the model knows), then the number of those users.
ndcg() {
  "$bin/vr-recommend" --dir "$1" --all-users -k 10 --format csv > "$1/top10.csv" 2> /dev/null
  awk -F, 'FNR == NR { if (FNR > 1) { relevant[$1 "," $2] = 1; count[$1]++ } next }
    FNR > 1 && ($1 in count) { known[$1] = 1; if (($1 "," $3) in relevant) dcg[$1] += log(2) / log($2 + 1) }
    END { for (u in known) { m = count[u] < 10 ? count[u] : 10; ideal = 0
            for (r = 1; r <= m; r++) ideal += log(2) / log(r + 1)
            total += dcg[u] / ideal; users++ }
          printf "%.4f %d\n", total / users, users }' "$2" "$1/top10.csv"
}
# Share of DIR_A's top-10 lists that DIR_B also has, over all users of both.
overlap() {
  awk -F, 'FNR == NR { if (FNR > 1) in_a[$1 "," $3] = 1; next }
    FNR > 1 { total++; if (($1 "," $3) in in_a) same++ } END { printf "%.3f\n", same / total }' "$1/top10.csv" "$2/top10.csv"
}
seconds() { local start=$1; awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.3f", e - s }'; }
# train DIR ARGS...: runs vr-train three times (the same model each time), prints the best wall
# seconds and, after a slash, the seconds its ALS iterations took (from its progress lines).
train() {
  local dir=$1
  shift
  local best= best_als= start wall als
  for _ in 1 2 3; do
    start=$(date +%s.%N)
    "$bin/vr-train" --dir "$dir" "$@" 2> "$dir/train.log"
    wall=$(seconds "$start")
    als=$(awk '/^iteration/ { s += $(NF - 1) } END { printf "%.3f", s }' "$dir/train.log")
    if [[ -z "$best" ]] || awk -v a="$wall" -v b="$best" 'BEGIN { exit !(a < b) }'; then
      best=$wall
      best_als=$als
    fi
  done
  printf "%s/%s" "$best" "$best_als"
}

test_events=$out/test.csv
from 0.95 > "$test_events"
echo "MovieLens 100K: $(($(wc -l < "$all") - 1)) ratings over $(( (last - first) / 86400 )) days; test = the last 5% of days ($(($(wc -l < "$test_events") - 1)) ratings)"
echo "model: ALS, factors 20, regularization 0.1, alpha 1 (vr's defaults); nDCG@10 over test users the model knows"
echo

echo "--- warm start: yesterday = first 90% of days (15 iterations); today = first 95%"
before 0.90 > "$out/day90.csv"
before 0.95 > "$out/day95.csv"
"$bin/vr-features" "$out/day90.csv" --dir "$out/yesterday" 2> /dev/null
train "$out/yesterday" --iterations 15 > /dev/null
"$bin/vr-features" "$out/day95.csv" --dir "$out/cold" 2> /dev/null
cold_seconds=$(train "$out/cold" --iterations 15)
read -r cold_ndcg users < <(ndcg "$out/cold" "$test_events")
printf "%-34s nDCG@10 %s  vr-train %ss (wall/ALS)  (%s test users)\n" "cold, 15 iterations" "$cold_ndcg" "$cold_seconds" "$users"
# How much two cold trainings differ by their random start alone: the floor for the overlaps.
"$bin/vr-features" "$out/day95.csv" --dir "$out/cold-seed7" 2> /dev/null
train "$out/cold-seed7" --iterations 15 --seed 7 > /dev/null
read -r seed_ndcg _ < <(ndcg "$out/cold-seed7" "$test_events")
printf "%-34s nDCG@10 %s  top-10 overlap with cold %s\n" "cold, 15 iterations, seed 7" "$seed_ndcg" \
  "$(overlap "$out/cold" "$out/cold-seed7")"
for iterations in 1 3 5; do
  dir=$out/warm$iterations
  "$bin/vr-features" "$out/day95.csv" --dir "$dir" --mappings-from "$out/yesterday/mappings.bin" 2> /dev/null
  warm_seconds=$(train "$dir" --iterations "$iterations" --init-from "$out/yesterday/als_model.bin")
  read -r warm_ndcg _ < <(ndcg "$dir" "$test_events")
  printf "%-34s nDCG@10 %s  vr-train %ss  top-10 overlap with cold %s\n" "warm from yesterday, $iterations iterations" \
    "$warm_ndcg" "$warm_seconds" "$(overlap "$out/cold" "$dir")"
done
dir=$out/refresh
"$bin/vr-features" "$out/day95.csv" --dir "$dir" --mappings-from "$out/yesterday/mappings.bin" 2> /dev/null
refresh_seconds=$(train "$dir" --refresh both --init-from "$out/yesterday/als_model.bin")
read -r refresh_ndcg _ < <(ndcg "$dir" "$test_events")
printf "%-34s nDCG@10 %s  vr-train %ss  top-10 overlap with cold %s  (%s)\n" "refresh both (changed rows only)" \
  "$refresh_ndcg" "$refresh_seconds" "$(overlap "$out/cold" "$dir")" "$(grep -o 'refreshed.*videos' "$dir/train.log")"
echo

echo "--- drift: chained runs from a model on the first 85% of days, one per step of 2% of days (~4 days)"
printf "%-6s %-16s %-22s %-22s\n" "days" "full (cold 15)" "chained refresh both" "chained warm 3"
before 0.85 > "$out/step.csv"
"$bin/vr-features" "$out/step.csv" --dir "$out/base" 2> /dev/null
train "$out/base" --iterations 15 > /dev/null
previous_refresh=$out/base
previous_warm=$out/base
for fraction in 0.87 0.89 0.91 0.93 0.95; do
  before "$fraction" > "$out/step.csv"
  full=$out/full-$fraction
  "$bin/vr-features" "$out/step.csv" --dir "$full" 2> /dev/null
  train "$full" --iterations 15 > /dev/null
  read -r full_ndcg _ < <(ndcg "$full" "$test_events")
  refreshed=$out/refresh-$fraction
  "$bin/vr-features" "$out/step.csv" --dir "$refreshed" --mappings-from "$previous_refresh/mappings.bin" 2> /dev/null
  train "$refreshed" --refresh both --init-from "$previous_refresh/als_model.bin" > /dev/null
  read -r refresh_ndcg _ < <(ndcg "$refreshed" "$test_events")
  warmed=$out/warm-$fraction
  "$bin/vr-features" "$out/step.csv" --dir "$warmed" --mappings-from "$previous_warm/mappings.bin" 2> /dev/null
  train "$warmed" --iterations 3 --init-from "$previous_warm/als_model.bin" > /dev/null
  read -r warm_ndcg _ < <(ndcg "$warmed" "$test_events")
  printf "%-6s %-16s %-22s %-22s\n" "$fraction" "$full_ndcg" "$refresh_ndcg (overlap $(overlap "$full" "$refreshed"))" \
    "$warm_ndcg (overlap $(overlap "$full" "$warmed"))"
  previous_refresh=$refreshed
  previous_warm=$warmed
done
echo

echo "--- time decay: train = first 95% of days, cold 15 iterations; --now = the newest training event"
for half_life in none 7d 30d 90d 180d 365d; do
  dir=$out/decay-$half_life
  decay=()
  [[ $half_life != none ]] && decay=(--half-life "$half_life")
  "$bin/vr-features" "$out/day95.csv" --dir "$dir" "${decay[@]}" 2> /dev/null
  train "$dir" --iterations 15 > /dev/null
  read -r decay_ndcg _ < <(ndcg "$dir" "$test_events")
  printf "%-10s nDCG@10 %s\n" "$half_life" "$decay_ndcg"
done
# Decay also shrinks the confidences c = alpha * r: the same smaller scale without decay.
for alpha in 0.05 0.2 0.5; do
  dir=$out/alpha-$alpha
  "$bin/vr-features" "$out/day95.csv" --dir "$dir" 2> /dev/null
  train "$dir" --iterations 15 --alpha "$alpha" > /dev/null
  read -r alpha_ndcg _ < <(ndcg "$dir" "$test_events")
  printf "%-10s nDCG@10 %s\n" "none, alpha $alpha" "$alpha_ndcg"
done
echo

echo "--- scale: vr-generate, 1M events (100k users, 20k videos); yesterday = the first 90% of the events by time"
gen=$out/generated.csv
"$bin/vr-generate" --users 100000 --videos 20000 --events 1000000 --seed 16 -o "$gen" 2> /dev/null
# Its timestamps are ISO 8601 UTC, which sort as text: cut at the 90th percentile event.
rows=$(($(wc -l < "$gen") - 1))
cut_time=$(tail -n +2 "$gen" | cut -d, -f4 | sort | sed -n "$((rows * 9 / 10))p")
awk -F, -v t="$cut_time" 'NR == 1 || $4 < t' "$gen" > "$out/gen90.csv"
"$bin/vr-features" "$out/gen90.csv" --dir "$out/gen-yesterday" 2> /dev/null
"$bin/vr-train" --dir "$out/gen-yesterday" --iterations 15 --quiet
"$bin/vr-features" "$gen" --dir "$out/gen-cold" 2> /dev/null
printf "%-34s vr-train %ss (wall/ALS)\n" "cold, 15 iterations" "$(train "$out/gen-cold" --iterations 15)"
"$bin/vr-features" "$gen" --dir "$out/gen-warm" --mappings-from "$out/gen-yesterday/mappings.bin" 2> /dev/null
printf "%-34s vr-train %ss\n" "warm from yesterday, 3 iterations" \
  "$(train "$out/gen-warm" --iterations 3 --init-from "$out/gen-yesterday/als_model.bin")"
printf "%-34s vr-train %ss  (%s)\n" "refresh both" \
  "$(train "$out/gen-warm" --refresh both --init-from "$out/gen-yesterday/als_model.bin" --model "$out/gen-refresh.bin")" \
  "$(grep -o 'refreshed.*videos' "$out/gen-warm/train.log")"
