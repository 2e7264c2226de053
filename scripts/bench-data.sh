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

# bench_generated_model DIR USERS VIDEOS EVENTS ZIPF: DIR/interactions.csv (vr-generate, 40
# tastes, seed 7), its features and DIR/als_model.bin (64 factors). Serving and ranking speed
# does not depend on how well the model fits, so it trains 3 iterations.
bench_generated_model() {
  local dir=$1 bin=${VR_BIN_DIR:-build/bin}
  if [ ! -f "$dir/als_model.bin" ]; then
    echo "generating $2 users x $3 videos, $4 events, zipf $5, training 64 factors (cached in $dir) ..."
    mkdir -p "$dir"
    "$bin/vr-generate" --users "$2" --videos "$3" --events "$4" --tastes 40 --zipf "$5" --seed 7 \
      -o "$dir/interactions.csv" 2>/dev/null
    "$bin/vr-features" "$dir/interactions.csv" --dir "$dir" 2>/dev/null
    "$bin/vr-train" --dir "$dir" --factors 64 --iterations 3 --threads 2 --quiet
  fi
}

# bench_model_3m DIR: 100k users x 20k videos, 3M events (the serving benchmarks' model), and
# DIR/users.txt: 2,000 of its users spread over the id space, one a line, for request bodies.
bench_model_3m() {
  bench_generated_model "$1" 100000 20000 3000000 1
  if [ ! -f "$1/users.txt" ]; then
    tail -n +2 "$1/interactions.csv" | cut -d, -f1 | sort -u | awk 'NR % 37 == 1 && n++ < 2000' > "$1/users.txt.tmp"
    mv "$1/users.txt.tmp" "$1/users.txt"
  fi
}

# bench_model_1m DIR: 1M users x 1M videos, 40M events; about 989k videos are ever watched, so
# the model has ~989k videos. Generating and training it takes about 10 minutes and 1.6 GB.
bench_model_1m() { bench_generated_model "$1" 1000000 1000000 40000000 1; }
