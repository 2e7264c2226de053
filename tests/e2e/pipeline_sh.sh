#!/usr/bin/env bash
# scripts/pipeline.sh: versions, the `current` link, the lock, pruning, a killed run leaving
# `current` intact, incremental runs (stable ids, warm start, refresh, --full-every), the
# quality gate, --config / --weights / --half-life / --model / --catalog, options after positionals. Needs VR_BIN_DIR (set by ctest) with the built tools.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/support/skip.sh"
bin_dir=${VR_BIN_DIR:?VR_BIN_DIR must point at the built tools}
source_dir=${VR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
pipeline=$source_dir/scripts/pipeline.sh
input=$source_dir/data/interactions.csv
for tool in vr-features vr-train vr-evaluate vr-recommend vr-generate; do
  if [[ ! -x "$bin_dir/$tool" ]]; then
    skip "$bin_dir/$tool is not built"
  fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=$work/models
failures=0
check() {  # check DESCRIPTION COMMAND...
  local description=$1
  shift
  if "$@"; then echo "ok: $description"; else echo "FAILED: $description"; failures=$((failures + 1)); fi
}

has_incomplete() { compgen -G "$out/.incomplete-*" > /dev/null; }
serves() { "$bin_dir/vr-recommend" --dir "$out/current" --user u002 -k 2 > /dev/null; }

# A first run publishes a complete version behind `current`.
VR_BIN_DIR=$bin_dir "$pipeline" "$input" "$out" 2> "$work/run1.log"
first=$(readlink "$out/current")
check "current points at a version" test -d "$out/$first"
for file in als_model.bin mappings.bin ratings.csv metadata.json; do
  check "version has $file" test -s "$out/current/$file"
done
check "metadata has the quick evaluation" grep -q '"ndcg@10"' "$out/current/metadata.json"
check "log lines carry UTC timestamps" grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z pipeline: done' "$work/run1.log"
check "the model serves" serves

# A second run repoints `current`; --keep 1 prunes the first version.
VR_BIN_DIR=$bin_dir "$pipeline" --keep 1 "$input" "$out" 2> "$work/run2.log"
second=$(readlink "$out/current")
check "second run made a new version" test "$first" != "$second"
check "old version pruned with --keep 1" test ! -e "$out/$first"
check "new version complete" test -s "$out/current/als_model.bin"
check "no ANN index below --index-min-videos (default 100000)" test ! -e "$out/current/ann_index.bin"

# --index-min-videos 0 builds the similar-video index, and vr-recommend --similar uses it.
VR_BIN_DIR=$bin_dir "$pipeline" --keep 1 --index-min-videos 0 "$input" "$out" 2> "$work/run-index.log"
check "--index-min-videos 0 builds ann_index.bin" test -s "$out/current/ann_index.bin"
check "--similar answers from the index" "$bin_dir/vr-recommend" --dir "$out/current" --similar v001 --retrieval ann -k 2
second=$(readlink "$out/current")

# While another run holds the lock, a run exits 75 and changes nothing.
status=0
flock "$out/.lock" env VR_BIN_DIR="$bin_dir" "$pipeline" "$input" "$out" 2> "$work/locked.log" || status=$?
check "a run that finds the lock held exits 75" test "$status" -eq 75
check "lock message logged" grep -q "holds" "$work/locked.log"
check "current unchanged by the locked run" test "$(readlink "$out/current")" = "$second"

# A run killed mid-training leaves `current` and its files untouched. The fake bin dir
# wraps the real tools with a vr-train that never finishes.
fake_bin=$work/fake-bin
mkdir -p "$fake_bin"
for tool in vr-features vr-evaluate; do ln -s "$bin_dir/$tool" "$fake_bin/$tool"; done
cat > "$fake_bin/vr-train" <<'EOF'
#!/usr/bin/env bash
[[ "${1:-}" == "--version" ]] && exec echo "fake"
echo "fake vr-train: hanging" >&2
exec sleep 600
EOF
chmod +x "$fake_bin/vr-train"
model_checksum=$(cksum < "$out/current/als_model.bin")
setsid env VR_BIN_DIR="$fake_bin" "$pipeline" "$input" "$out" 2> "$work/killed.log" &
killed_pid=$!
for _ in $(seq 1 100); do
  grep -q "fake vr-train: hanging" "$work/killed.log" 2>/dev/null && break
  sleep 0.1
done
check "the doomed run reached training" grep -q "fake vr-train: hanging" "$work/killed.log"
check "its work happens in an incomplete directory" has_incomplete
kill -KILL -- "-$killed_pid"
wait "$killed_pid" 2>/dev/null || true
check "current still points at the last good version" test "$(readlink "$out/current")" = "$second"
check "the last good model is unchanged" test "$(cksum < "$out/current/als_model.bin")" = "$model_checksum"
check "the model still serves" serves

# The next good run cleans the leftovers and publishes.
VR_BIN_DIR=$bin_dir "$pipeline" "$input" "$out" 2> "$work/run3.log"
check "leftovers removed" test -z "$(compgen -G "$out/.incomplete-*" || true)"
check "a new version is current" test "$(readlink "$out/current")" != "$second"

# A failing step exits non-zero and leaves `current` alone.
before=$(readlink "$out/current")
printf 'user_id,video_id,event\nu1,v1,explode\n' > "$work/bad.csv"
status=0
VR_BIN_DIR=$bin_dir "$pipeline" "$work/bad.csv" "$out" 2> "$work/bad.log" || status=$?
check "a failed run exits 1" test "$status" -eq 1
check "a failed run says so" grep -q "FAILED: vr-features" "$work/bad.log"
check "a failed run leaves current" test "$(readlink "$out/current")" = "$before"

# Incremental runs, on a data set large enough for the quick evaluation to hold videos out.
events=$work/events.csv
"$bin_dir/vr-generate" --users 300 --videos 80 --events 6000 --seed 3 -o "$events" 2> /dev/null
some_user=$(awk -F, 'NR == 2 { print $1 }' "$events")
inc=$work/incremental
field() { grep -o "\"$1\": *[^,}]*" "$inc/current/metadata.json" | head -n 1 | sed 's/.*: *//; s/"//g'; }
VR_BIN_DIR=$bin_dir "$pipeline" "$events" "$inc" --incremental --full-every 3 2> "$work/inc1.log"
check "options after the positional arguments are read" test -s "$inc/current/als_model.bin"
check "a first incremental run with no current version trains in full" test "$(field training)" = full
first_inc=$(readlink "$inc/current")
VR_BIN_DIR=$bin_dir "$pipeline" --incremental --full-every 3 "$events" "$inc" 2> "$work/inc2.log"
check "the next incremental run warm-starts" test "$(field training)" = warm
check "it counts the runs since the full one" test "$(field runs_since_full)" = 1
check "it keeps the previous ids (mappings start with the previous ones)" \
  cmp -s "$inc/$first_inc/mappings.bin" "$inc/current/mappings.bin"
check "the warm-started model serves" "$bin_dir/vr-recommend" --dir "$inc/current" --user "$some_user" -k 2 --output /dev/null
check "the warm start is logged" grep -q -- "--init-from $inc/current/als_model.bin" "$work/inc2.log"
warm=$(readlink "$inc/current")
status=0
VR_BIN_DIR=$bin_dir "$pipeline" --incremental --refresh both --full-every 3 "$events" "$inc" 2> "$work/inc3.log" || status=$?
check "a refresh with nothing changed exits 0" test "$status" -eq 0
check "and says so, keeping current" grep -q "nothing changed" "$work/inc3.log"
check "current unchanged by the empty refresh" test "$(readlink "$inc/current")" = "$warm"
VR_BIN_DIR=$bin_dir "$pipeline" --incremental --full-every 2 "$events" "$inc" 2> "$work/inc4.log"
check "--full-every 2: the second run since the full one trains in full" test "$(field training)" = full
check "and resets the count" test "$(field runs_since_full)" = 0
VR_BIN_DIR=$bin_dir "$pipeline" --incremental --full-every 1d "$events" "$inc" 2> /dev/null
check "--full-every 1d: a run less than a day after the full one warm-starts" test "$(field training)" = warm
# Pretend the last full training was two days ago (metadata.json records when it was).
two_days_ago=$(( $(date -u +%s) - 2 * 86400 ))
sed -i "s/\"last_full_epoch\": [0-9]*/\"last_full_epoch\": $two_days_ago/" "$inc/current/metadata.json"
VR_BIN_DIR=$bin_dir "$pipeline" --incremental --full-every 1d "$events" "$inc" 2> "$work/inc6.log"
check "--full-every 1d: a run two days after the full one trains in full" test "$(field training)" = full
check "and says why" grep -q "at least 1 day(s) old" "$work/inc6.log"

# The quality gate refuses a worse model with exit 4 and keeps `current`.
before=$(readlink "$inc/current")
status=0
VR_BIN_DIR=$bin_dir "$pipeline" "$events" "$inc" --min-ndcg 1.5 2> "$work/gate1.log" || status=$?
check "--min-ndcg above reach exits 4" test "$status" -eq 4
check "the refusal is logged" grep -q "REFUSED: nDCG@10 .* below --min-ndcg 1.5" "$work/gate1.log"
check "current kept after the refusal" test "$(readlink "$inc/current")" = "$before"
check "no leftovers after the refusal" test -z "$(compgen -G "$inc/.incomplete-*" || true)"
status=0
VR_BIN_DIR=$bin_dir "$pipeline" "$events" "$inc" --iterations 0 --max-drop 0.01 2> "$work/gate2.log" || status=$?
check "an untrained model more than --max-drop below current exits 4" test "$status" -eq 4
check "current kept after the second refusal" test "$(readlink "$inc/current")" = "$before"
VR_BIN_DIR=$bin_dir "$pipeline" "$events" "$inc" --max-drop 0.05 2> "$work/gate3.log"
check "the same settings pass --max-drop" grep -q "quality gate passed" "$work/gate3.log"

# --config, --weights, --half-life and the model kind reach the tools.
printf 'factors = 8\niterations = 4\n' > "$work/tuned.conf"
VR_BIN_DIR=$bin_dir "$pipeline" "$events" "$inc" --config "$work/tuned.conf" 2> "$work/config.log"
check "--config reaches the quick evaluation" test "$(grep -o '"factors": *[0-9]*' "$inc/current/metadata.json" | sed 's/.*: *//')" = 8
check "--config reaches vr-train" grep -q -- "--config $work/tuned.conf" "$work/config.log"
plain_ratings=$(cksum < "$inc/current/ratings.csv")
VR_BIN_DIR=$bin_dir "$pipeline" "$events" "$inc" --weights watch=1,like=5,complete=9 2> /dev/null
check "--weights changes the ratings" test "$(cksum < "$inc/current/ratings.csv")" != "$plain_ratings"
VR_BIN_DIR=$bin_dir "$pipeline" "$events" "$inc" --half-life 7d 2> /dev/null
check "--half-life decays the ratings" grep -q '\.' "$inc/current/ratings.csv"
VR_BIN_DIR=$bin_dir "$pipeline" "$events" "$inc" --model item-knn 2> /dev/null
check "--model item-knn trains that kind" test "$(field model_kind)" = item-knn
check "the item-knn version serves" "$bin_dir/vr-recommend" --dir "$inc/current" --user "$some_user" -k 2 --output /dev/null
VR_BIN_DIR=$bin_dir "$pipeline" "$events" "$inc" --incremental 2> "$work/inc5.log"
check "an incremental run after an item-knn version trains ALS in full" test "$(field training)" = full
status=0
VR_BIN_DIR=$bin_dir "$pipeline" "$events" "$inc" --refresh users 2> /dev/null || status=$?
check "--refresh without --incremental is an error" test "$status" -eq 1

# --catalog: the version carries a copy as videos.csv, the quick evaluation uses it, and a
# catalog that does not parse fails the run and leaves `current` alone.
cat_out=$work/with-catalog
hidden_video=$(awk -F, 'NR == 2 { print $2 }' "$events")
printf 'video_id,title,hidden\n%s,First,true\nnot-in-the-data,Ghost,false\n' "$hidden_video" > "$work/videos.csv"
VR_BIN_DIR=$bin_dir "$pipeline" "$events" "$cat_out" --catalog "$work/videos.csv" 2> "$work/catalog1.log"
check "--catalog: the version holds videos.csv" cmp -s "$work/videos.csv" "$cat_out/current/videos.csv"
check "--catalog: no temporary file left in the version" test -z "$(compgen -G "$cat_out/current/*.tmp" || true)"
check "--catalog: the quick evaluation used it" \
  grep -q '"catalog":{"file":"videos.csv","now":[0-9.]*,"ineligible_videos":1,"unknown_videos":1' "$cat_out/current/metadata.json"
check "--catalog: the unknown video is noted" grep -q "lists 1 videos the model does not know" "$work/catalog1.log"
check "--catalog: without the catalog the hidden video is recommended to someone" \
  bash -c "'$bin_dir/vr-recommend' --dir '$cat_out/current' --all-users -k 10 --format csv | grep -q ',$hidden_video,'"
check "--catalog: the version's catalog is obeyed" \
  bash -c "! '$bin_dir/vr-recommend' --dir '$cat_out/current' --catalog '$cat_out/current/videos.csv' --all-users -k 10 --format csv | grep -q ',$hidden_video,'"
good_catalog=$(readlink "$cat_out/current")
printf 'video_id,hidden\n%s,true\n%s,perhaps\n' "$hidden_video" "$some_user" > "$work/bad-videos.csv"
status=0
VR_BIN_DIR=$bin_dir "$pipeline" "$events" "$cat_out" --catalog "$work/bad-videos.csv" 2> "$work/catalog2.log" || status=$?
check "--catalog: a bad catalog fails the run" test "$status" -eq 1
check "--catalog: the error names the file, line and field" grep -q "bad-videos.csv:3: field hidden" "$work/catalog2.log"
check "--catalog: current kept after a bad catalog" test "$(readlink "$cat_out/current")" = "$good_catalog"
check "--catalog: current's catalog unchanged" cmp -s "$work/videos.csv" "$cat_out/current/videos.csv"
check "--catalog: no leftovers after a bad catalog" test -z "$(compgen -G "$cat_out/.incomplete-*" || true)"
status=0
VR_BIN_DIR=$bin_dir "$pipeline" "$events" "$cat_out" --catalog "$work/missing.csv" 2> /dev/null || status=$?
check "--catalog: a missing file fails the run" test "$status" -eq 1
check "--catalog: current kept after a missing catalog" test "$(readlink "$cat_out/current")" = "$good_catalog"

if [[ $failures -gt 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all pipeline.sh checks passed"
