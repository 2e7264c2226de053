# Generated data sets that several benchmarks share: each is made once in the folder given
# and reused by every later run. Sourced by scripts/bench/*.sh; the tools are in $VR_BIN_DIR (default build/bin).

# bench_ratings_5m DIR: DIR/ratings.csv and its mappings: 100k users x 20k videos, about 5M
# ratings (vr-features on 7M generated events).
bench_ratings_5m() {
  local dir=$1 bin=${VR_BIN_DIR:-build/bin}
  if [ ! -s "$dir/ratings.csv" ]; then
    mkdir -p "$dir"
    "$bin/vr-generate" --users 100000 --videos 20000 --events 7000000 --seed 3 -o "$dir/events.csv" 2>/dev/null
    "$bin/vr-features" "$dir/events.csv" --dir "$dir" 2>/dev/null
    rm -f "$dir/events.csv"
  fi
}

# bench_model_3m DIR: DIR/interactions.csv (100k users x 20k videos, 3M generated events, 40
# tastes), its features and DIR/als_model.bin (64 factors). Serving and ranking speed does not
# depend on how well the model fits, so it trains 3 iterations.
bench_model_3m() {
  local dir=$1 bin=${VR_BIN_DIR:-build/bin}
  if [ ! -f "$dir/als_model.bin" ]; then
    echo "generating 100k users x 20k videos, training 64 factors (cached in $dir) ..."
    mkdir -p "$dir"
    "$bin/vr-generate" --users 100000 --videos 20000 --events 3000000 --tastes 40 --seed 7 -o "$dir/interactions.csv"
    "$bin/vr-features" "$dir/interactions.csv" --dir "$dir"
    "$bin/vr-train" --dir "$dir" --factors 64 --iterations 3 --threads 2 --quiet
  fi
}
