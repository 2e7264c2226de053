#!/usr/bin/env bash
# Retrieval at catalog scale (docs/retrieval.md, docs/performance.md):
#   1. a generated 1M users x 1M videos log of 40M events (Zipf 1; about 989k videos are ever
#      watched, so the model has ~989k videos) at 64 factors: vr-evaluate --retrieval (pruned
#      against full top-10: share scanned, time per answer, exactness; HNSW similar videos:
#      queries/s and recall@10 at several ef against the exact cosine scan), then bench_retrieval
#      for batch users/s (--all-users, the precomputed table) and in-process fold-in answers/s,
#      and vr-index build time, size and RSS;
#   2. the share scanned on 50k-video models at --zipf 0.5, 1.0, 1.5 and on MovieLens 100K
#      (when u.data is in $VR_MOVIELENS_DIR): where pruning helps and where it does not.
# Prints figures only; never fails on time. Models are cached under $VR_BENCH_DIR/retrieval-*.
# Generating and training the 1M model (scripts/bench-data.sh) takes about 10 minutes and
# 1.6 GB; indexing it about 45 minutes on 2 cores.
# Env: VR_BIN_DIR (default build/bin), VR_BENCH_DIR (default bench-out), VR_MOVIELENS_DIR,
#      RETRIEVAL_USERS (users sampled for single answers, default 1000).
set -euo pipefail
source "$(dirname "$0")/../bench-data.sh"
bin_dir=${VR_BIN_DIR:-build/bin}
bench=${VR_BENCH_DIR:-bench-out}
users=${RETRIEVAL_USERS:-1000}

large="$bench/retrieval-1m-dense"
bench_model_1m "$large"
if [[ ! -f "$large/ann_index.bin" ]]; then
  /usr/bin/time -f "vr-index: %e s wall, max RSS %M KB" "$bin_dir/vr-index" --dir "$large" --threads 2 --quiet
fi
"$bin_dir/vr-evaluate" --dir "$large" --retrieval ann --ef 16,32,64,128,256 --retrieval-users "$users"
"$bin_dir/bench_retrieval" "$large" 300 2048 | grep -E "^model|^batch|^fold-in|^ann index"

for zipf in 0.5 1.0 1.5; do
  dir="$bench/retrieval-zipf-$zipf"
  bench_generated_model "$dir" 20000 50000 1000000 "$zipf"
  echo "--- vr-generate --zipf $zipf"
  "$bin_dir/bench_retrieval" "$dir" "$users" 2048 | grep -E "^model|^top-10|^batch"
done

movielens=${VR_MOVIELENS_DIR:-$(dirname "$0")/../../../shared/data/ml-100k}
if [[ -f "$movielens/u.data" ]]; then
  dir="$bench/retrieval-ml100k"
  mkdir -p "$dir"
  if [[ ! -f "$dir/als_model.bin" ]]; then
    { echo "user_id,video_id,value,timestamp"; tr '\t' ',' < "$movielens/u.data"; } > "$dir/interactions.csv"
    "$bin_dir/vr-features" "$dir/interactions.csv" --dir "$dir" 2>/dev/null
    "$bin_dir/vr-train" --dir "$dir" --factors 64 --iterations 15 --threads 2 --quiet 2>/dev/null
  fi
  echo "--- MovieLens 100K"
  "$bin_dir/bench_retrieval" "$dir" "$users" 2048 | grep -E "^model|^top-10|^batch"
else
  echo "--- MovieLens 100K: u.data not in $movielens, skipped"
fi
