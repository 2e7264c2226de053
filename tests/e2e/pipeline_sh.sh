#!/usr/bin/env bash
# scripts/pipeline.sh: versions, the `current` link, the lock, pruning, and a killed run
# leaving `current` intact. Needs VR_BIN_DIR (set by ctest) with the built tools.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/support/skip.sh"
bin_dir=${VR_BIN_DIR:?VR_BIN_DIR must point at the built tools}
source_dir=${VR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
pipeline=$source_dir/scripts/pipeline.sh
input=$source_dir/data/interactions.csv
for tool in vr-features vr-train vr-evaluate vr-recommend; do
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

if [[ $failures -gt 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all pipeline.sh checks passed"
