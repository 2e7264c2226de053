#!/usr/bin/env bash
# vr-recommend --all-users --shard I/N: the N slices, concatenated in order, are the unsharded
# output byte for byte (JSON Lines and csv, ALS and item-knn, N not dividing the user count),
# and a bad --shard is refused.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/support/skip.sh"
bin=${VR_BIN_DIR:?VR_BIN_DIR not set}
require_built vr-generate vr-features vr-train vr-recommend
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

"$bin/vr-generate" --users 1001 --videos 400 --events 30000 -o events.csv
"$bin/vr-features" events.csv --dir als 2>/dev/null
"$bin/vr-train" --dir als --iterations 5 --quiet 2>/dev/null
cp -r als knn && rm knn/als_model.bin  # one model file per folder: item_knn_model.bin
"$bin/vr-train" --dir knn --model item-knn --quiet 2>/dev/null

failures=0
for dir in als knn; do
  for format in json csv; do
    for shards in 1 3 7; do
      "$bin/vr-recommend" --dir "$dir" --all-users --format "$format" -k 7 -o whole.out 2>/dev/null
      : > parts.out
      for ((index = 0; index < shards; index++)); do
        "$bin/vr-recommend" --dir "$dir" --all-users --format "$format" -k 7 --shard "$index/$shards" \
          -o "part-$index.out" 2>/dev/null
        cat "part-$index.out" >> parts.out
      done
      if ! cmp -s whole.out parts.out; then
        echo "FAILED: $dir $format $shards slices concatenated differ from --all-users" >&2
        failures=$((failures + 1))
      fi
      [[ -s whole.out ]] || { echo "FAILED: empty output" >&2; failures=$((failures + 1)); }
    done
  done
done
# A slice holds only its users: slice 1/3 of 1001 users starts at user index 333.
"$bin/vr-recommend" --dir als --all-users --format csv --shard 1/3 -o slice.csv 2>/dev/null
if [[ "$(cut -d, -f1 slice.csv | sort -u | wc -l)" -ne 334 ]]; then
  echo "FAILED: slice 1/3 does not hold 334 users" >&2
  failures=$((failures + 1))
fi
for bad in 3/3 1 a/2 1/0; do
  if "$bin/vr-recommend" --dir als --all-users --shard "$bad" > /dev/null 2> err.txt; then
    echo "FAILED: --shard $bad accepted" >&2
    failures=$((failures + 1))
  elif ! grep -q "shard" err.txt; then
    echo "FAILED: --shard $bad error does not name --shard: $(cat err.txt)" >&2
    failures=$((failures + 1))
  fi
done
if "$bin/vr-recommend" --dir als --user u1 --shard 0/2 > /dev/null 2>&1; then
  echo "FAILED: --shard without --all-users accepted" >&2
  failures=$((failures + 1))
fi
[[ $failures -eq 0 ]] || exit 1
echo "recommend_shards: slices concatenate to --all-users for als and item-knn, json and csv"
