#!/usr/bin/env bash
# Tuning (docs/vr-evaluate.md "How the search works", figures in docs/performance.md):
#   1. MovieLens 100K, the reference protocol (per-user random 75/25 split, seed 42): the
#      default search (successive halving) against the random search given the same wall
#      time, each reported as tuned vs starting settings on the test split;
#   2. MovieLens 100K's ua split (given files, made from u.data as the data set's mku.sh does);
#   3. a generated 1M-rating set (vr-generate, 20k users x 5k videos): the default budget's
#      wall time on 2 threads, tuned vs defaults.
# Prints figures only; never fails on time.
# Env: VR_BIN_DIR (default build/bin), VR_BENCH_DIR (default bench-out), VR_MOVIELENS_DIR.
set -euo pipefail
bin_dir=${VR_BIN_DIR:-build/bin}
bench=${VR_BENCH_DIR:-bench-out}/tuning
mkdir -p "$bench"

# One line per run: the tuned and starting nDCG@10 on the test split, trials and seconds.
summary() {  # summary LABEL JSON_FILE SECONDS
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
label, path, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
report = json.load(open(path))
best = report["best_config"]
print(f"{label}: tuned ndcg@10 {report['model']['ndcg@10']:.4f}, starting settings {report['defaults']['ndcg@10']:.4f}, "
      f"popularity {report['popularity']['ndcg@10']:.4f}; {len(report['tuning']['trials'])} trials, {seconds:.1f} s wall; "
      f"best factors {best['factors']} regularization {best['regularization']} alpha {best['alpha']} "
      f"iterations {best['iterations']} scaling {best['scaling']}")
PY
}

tune() {  # tune LABEL OUT ARGS...
  local label=$1 out=$2; shift 2
  local begin end
  begin=$(date +%s.%N)
  "$bin_dir/vr-evaluate" "$@" --tune --best-config "$bench/$out.conf" --format json --quiet -o "$bench/$out.json" \
    2> "$bench/$out.log"
  end=$(date +%s.%N)
  summary "$label" "$bench/$out.json" "$(echo "$end - $begin" | bc)"
}

movielens=${VR_MOVIELENS_DIR:-$(dirname "$0")/../../../shared/data/ml-100k}
if [[ -f "$movielens/u.data" ]]; then
  { echo "user_id,video_id,value,timestamp"; tr '\t' ',' < "$movielens/u.data"; } > "$bench/ml.csv"
  awk -F'\t' -v dir="$bench" 'BEGIN { h = "user_id,video_id,value,timestamp"; print h > dir "/ua.base.csv"; print h > dir "/ua.test.csv" }
    { f = (++n[$1] <= 10) ? "/ua.test.csv" : "/ua.base.csv"; print $1 "," $2 "," $3 "," $4 > dir f }' "$movielens/u.data"
  echo "--- MovieLens 100K, random 75/25 split (seed 42)"
  begin=$(date +%s.%N)
  tune "halving (default)" ml-halving --interactions "$bench/ml.csv"
  halving_seconds=$(python3 -c "import json; print(json.load(open('$bench/ml-halving.json'))['tuning']['seconds'])")
  tune "random, same seconds" ml-random --interactions "$bench/ml.csv" --tune-search random --tune-trials 100000 \
    --tune-seconds "$halving_seconds"
  tune "random, 16 trials (the former default)" ml-random16 --interactions "$bench/ml.csv" --tune-search random
  echo "--- MovieLens 100K, ua.base / ua.test"
  tune "halving (default)" ua-halving --train "$bench/ua.base.csv" --test "$bench/ua.test.csv"
else
  echo "--- MovieLens 100K: u.data not in $movielens, skipped"
fi

echo "--- generated: vr-generate --users 20000 --videos 5000 --events 1000000 --tastes 20 --seed 3"
if [[ ! -f "$bench/generated.csv" ]]; then
  "$bin_dir/vr-generate" --users 20000 --videos 5000 --events 1000000 --tastes 20 --seed 3 -o "$bench/generated.csv" 2>/dev/null
fi
tune "halving (default budget), 2 threads" generated-halving --interactions "$bench/generated.csv"
