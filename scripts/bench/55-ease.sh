#!/usr/bin/env bash
# EASE at catalog scale (docs/item-models.md, figures in docs/performance.md): vr-train --model
# ease on generated sets of 5,000, 10,000 and 20,000 videos (vr-generate, 20k users, 1M
# events, Zipf 0.5 so every video is rated), 2 threads: wall and CPU seconds, peak RSS (GNU
# time's %M), the estimate the memory check compared with what was available, and vr-train's
# per-phase lines. Prints figures only; never fails on time.
# Env: VR_BIN_DIR (default build/bin), VR_BENCH_DIR (default bench-out), VR_EASE_BENCH_VIDEOS
# (default "5000 10000 20000").
set -euo pipefail
bin_dir=${VR_BIN_DIR:-build/bin}
bench=${VR_BENCH_DIR:-bench-out}/ease
mkdir -p "$bench"
command -v /usr/bin/time >/dev/null || "$(dirname "$0")/../install-deps.sh" time

for videos in ${VR_EASE_BENCH_VIDEOS:-5000 10000 20000}; do
  dir="$bench/videos-$videos"
  if [[ ! -f "$dir/ratings.csv" ]]; then
    "$bin_dir/vr-generate" --users 20000 --videos "$videos" --events 1000000 --tastes 20 --zipf 0.5 --seed 5 \
      -o "$bench/events-$videos.csv" 2>/dev/null
    "$bin_dir/vr-features" "$bench/events-$videos.csv" --dir "$dir" 2>/dev/null
  fi
  /usr/bin/time -f '%e %U %S %M' -o "$dir/time" "$bin_dir/vr-train" --dir "$dir" --model ease --threads 2 \
    2> "$dir/train.log"
  read -r wall user system rss_kb < "$dir/time"
  shape=$(grep -o '[0-9]* users x [0-9]* videos, [0-9]* ratings' "$dir/train.log")
  echo "ease, $shape: ${wall} s wall, $(echo "$user + $system" | bc) s CPU, peak RSS $((rss_kb / 1024)) MB" \
       "(dense matrix alone $(( 4 * videos * videos / 1048576 )) MB)"
  grep 'EASE' "$dir/train.log" | sed 's/^/    /'
done
