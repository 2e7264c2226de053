#!/usr/bin/env bash
# Tuning (docs/vr-evaluate.md "How the search works", figures in docs/performance.md):
#   1. MovieLens 100K, the reference protocol (per-user random 75/25 split, seed 42, and the
#      split seeds 7 and 11): the default search (successive halving), the same with two
#      refinement rounds, and the random search given the default's wall time, each reported as
#      tuned vs starting settings on the test split;
#   2. MovieLens 100K's given splits u1 and u2 (u1.base / u1.test, ... made from u.data as the
#      data set's mku.sh makes them) and ua;
#   3. a generated 200k-rating set: halving against random search given the same wall time;
#   4. a generated 1M-rating set (vr-generate, 20k users x 5k videos): the default budget's
#      wall time and CPU time on 2 threads (the search ends within --tune-seconds 150; the
#      trials it skipped or stopped are counted), tuned vs defaults.
# Each line gives wall and CPU seconds and the 1-minute load average at the end (other work on
# the machine stretches wall time, not CPU time). Prints figures only; never fails on time.
# Env: VR_BIN_DIR (default build/bin), VR_BENCH_DIR (default bench-out), VR_MOVIELENS_DIR.
set -euo pipefail
bin_dir=${VR_BIN_DIR:-build/bin}
bench=${VR_BENCH_DIR:-bench-out}/tuning
mkdir -p "$bench"

# One line per run: the tuned and starting nDCG@10 on the test split, trials, wall and CPU
# seconds (of vr-evaluate and its threads), the load average.
tune() {  # tune LABEL OUT ARGS...
  local label=$1 out=$2; shift 2
  python3 - "$label" "$bench/$out" "$bin_dir/vr-evaluate" "$@" --tune --best-config "$bench/$out.conf" --format json \
    --quiet -o "$bench/$out.json" <<'PY'
import json, os, resource, subprocess, sys, time
label, out, command = sys.argv[1], sys.argv[2], sys.argv[3:]
begin = time.monotonic()
with open(out + ".log", "w") as log:
    subprocess.run(command, stderr=log, check=True)
wall = time.monotonic() - begin
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = usage.ru_utime + usage.ru_stime
report = json.load(open(out + ".json"))
best = report["best_config"]
ials = f" alpha0 {best['unobserved_weight']} nu {best['reg_exponent']}" if "reg_exponent" in best else ""
print(f"{label}: tuned ndcg@10 {report['model']['ndcg@10']:.4f}, starting settings {report['defaults']['ndcg@10']:.4f}, "
      f"popularity {report['popularity']['ndcg@10']:.4f}; validation {best['validation_ndcg@10']:.4f}; "
      f"{len(report['tuning']['trials'])} trials ({report['tuning']['skipped_trials']} skipped, "
      f"{report['tuning']['stopped_trials']} stopped by the budget), search {report['tuning']['seconds']:.1f} s, "
      f"{wall:.1f} s wall, {cpu:.1f} s CPU, load {os.getloadavg()[0]:.1f}; "
      f"best factors {best['factors']} regularization {best['regularization']} alpha {best['alpha']} "
      f"iterations {best['iterations']} scaling {best['scaling']}{ials}", flush=True)
PY
}

# The search's own wall time (the report's), for a random search given the same.
search_seconds() { python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['tuning']['seconds'])" "$1"; }

movielens=${VR_MOVIELENS_DIR:-$(dirname "$0")/../../../shared/data/ml-100k}
if [[ -f "$movielens/u.data" ]]; then
  { echo "user_id,video_id,value,timestamp"; tr '\t' ',' < "$movielens/u.data"; } > "$bench/ml.csv"
  awk -F'\t' -v dir="$bench" 'BEGIN { h = "user_id,video_id,value,timestamp"; print h > dir "/ua.base.csv"; print h > dir "/ua.test.csv" }
    { f = (++n[$1] <= 10) ? "/ua.test.csv" : "/ua.base.csv"; print $1 "," $2 "," $3 "," $4 > dir f }' "$movielens/u.data"
  for i in 1 2; do  # mku.sh: u$i.test is the i-th block of 20,000 lines of u.data, u$i.base the rest
    { echo "user_id,video_id,value,timestamp"; head -n $((i * 20000)) "$movielens/u.data" | tail -n 20000 | tr '\t' ','; } \
      > "$bench/u$i.test.csv"
    { echo "user_id,video_id,value,timestamp"; head -n $(((i - 1) * 20000)) "$movielens/u.data" | tr '\t' ',';
      tail -n $(((5 - i) * 20000)) "$movielens/u.data" | tr '\t' ','; } > "$bench/u$i.base.csv"
  done
  for seed in 42 7 11; do
    echo "--- MovieLens 100K, random 75/25 split (seed $seed)"
    tune "halving (default)" ml$seed-default --interactions "$bench/ml.csv" --split-seed $seed
    tune "halving, --refinement-rounds 2" ml$seed-refined --interactions "$bench/ml.csv" --split-seed $seed \
      --refinement-rounds 2
    tune "random, the default's seconds" ml$seed-random --interactions "$bench/ml.csv" --split-seed $seed \
      --tune-search random --tune-trials 100000 --tune-seconds "$(search_seconds "$bench/ml$seed-default.json")"
  done
  for i in 1 2; do
    echo "--- MovieLens 100K, u$i.base / u$i.test"
    tune "halving (default)" u$i-default --train "$bench/u$i.base.csv" --test "$bench/u$i.test.csv"
  done
  echo "--- MovieLens 100K, ua.base / ua.test"
  tune "halving (default)" ua-default --train "$bench/ua.base.csv" --test "$bench/ua.test.csv"
else
  echo "--- MovieLens 100K: u.data not in $movielens, skipped"
fi

echo "--- generated: vr-generate --users 10000 --videos 2000 --events 200000 --tastes 20 --seed 5"
if [[ ! -f "$bench/generated200k.csv" ]]; then
  "$bin_dir/vr-generate" --users 10000 --videos 2000 --events 200000 --tastes 20 --seed 5 -o "$bench/generated200k.csv" \
    2>/dev/null
fi
tune "halving (default)" g200k-default --interactions "$bench/generated200k.csv"
tune "random, the default's seconds" g200k-random --interactions "$bench/generated200k.csv" --tune-search random \
  --tune-trials 100000 --tune-seconds "$(search_seconds "$bench/g200k-default.json")"

echo "--- generated: vr-generate --users 20000 --videos 5000 --events 1000000 --tastes 20 --seed 3"
if [[ ! -f "$bench/generated.csv" ]]; then
  "$bin_dir/vr-generate" --users 20000 --videos 5000 --events 1000000 --tastes 20 --seed 3 -o "$bench/generated.csv" 2>/dev/null
fi
tune "halving (default budget), 2 threads" generated-default --interactions "$bench/generated.csv"
