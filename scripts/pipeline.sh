#!/usr/bin/env bash
# The batch pipeline for cron: interactions CSV -> a new versioned model directory.
#
#   scripts/pipeline.sh [--keep N] [--iterations N] [--factors N] [--index-min-videos N] IN_CSV OUT_DIR
#
# Each run
#   1. takes OUT_DIR/.lock (flock, non-blocking): a run that finds another one still going
#      exits with status 75 (EX_TEMPFAIL) and changes nothing;
#   2. builds OUT_DIR/.incomplete-<stamp>/ with vr-features (ratings.csv, mappings.bin),
#      vr-train (als_model.bin) and a quick vr-evaluate (random 75/25 split), whose metrics go
#      into metadata.json together with the input, time and vr version (null metrics, with a
#      warning, when the data is too small to hold anything out), and, when the catalog has at
#      least --index-min-videos videos (default 100000; 0 = always), vr-index (ann_index.bin,
#      the HNSW index for similar videos; docs/retrieval.md);
#   3. renames it to OUT_DIR/<stamp>/ and only then repoints the symlink OUT_DIR/current to it
#      atomically (a new link renamed over the old one), so readers always see a complete model;
#   4. deletes all but the newest --keep versions (never the one `current` points to).
# Any failure (or a kill) leaves OUT_DIR/current untouched; leftovers of a killed run are
# removed by the next run. Log lines on stderr carry UTC timestamps. Exit status 0 on
# success, 75 if another run holds the lock, 1 otherwise.
#
# Tools are taken from $VR_BIN_DIR, else from the build/bin next to this script, else PATH.
set -euo pipefail

keep=5
iterations=20
factors=20
index_min_videos=100000

log() { printf '%s pipeline: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }
usage() {
  sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit "${1:-1}"
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --keep) keep=${2:?--keep needs a number}; shift 2 ;;
    --iterations) iterations=${2:?--iterations needs a number}; shift 2 ;;
    --factors) factors=${2:?--factors needs a number}; shift 2 ;;
    --index-min-videos) index_min_videos=${2:?--index-min-videos needs a number}; shift 2 ;;
    -h|--help) usage 0 ;;
    --) shift; break ;;
    -*) log "unknown option $1"; usage ;;
    *) break ;;
  esac
done
[[ $# -eq 2 ]] || usage
input=$1
out_dir=$2
[[ "$keep" =~ ^[1-9][0-9]*$ ]] || fail "--keep must be a positive number (got '$keep')"
[[ "$index_min_videos" =~ ^[0-9]+$ ]] || fail "--index-min-videos must be a number (got '$index_min_videos')"
[[ -f "$input" ]] || fail "input '$input' does not exist"

script_dir=$(cd "$(dirname "$0")" && pwd)
if [[ -n "${VR_BIN_DIR:-}" ]]; then
  bin_dir=$VR_BIN_DIR
elif [[ -x "$script_dir/../build/bin/vr-train" ]]; then
  bin_dir=$script_dir/../build/bin
else
  bin_dir=$(dirname "$(command -v vr-train || echo /nonexistent/vr-train)")
fi
for tool in vr-features vr-train vr-evaluate; do
  [[ -x "$bin_dir/$tool" ]] || fail "$tool not found in '$bin_dir' (set VR_BIN_DIR or run make build)"
done

mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
exec 9>"$out_dir/.lock"
if ! flock -n 9; then
  log "another run holds $out_dir/.lock; not starting"
  exit 75
fi

# Leftovers of runs that were killed (we hold the lock, so none of them is running).
rm -rf "$out_dir"/.incomplete-*

stamp=$(date -u +%Y%m%dT%H%M%SZ)
version=$stamp
count=1
while [[ -e "$out_dir/$version" ]]; do version=$stamp-$count; count=$((count + 1)); done
work=$out_dir/.incomplete-$version
mkdir "$work"
trap 'rm -rf "$work"' EXIT

log "version $version from $input"
log "features"
"$bin_dir/vr-features" "$input" --dir "$work" || fail "vr-features"
log "train (factors $factors, iterations $iterations)"
"$bin_dir/vr-train" --dir "$work" --factors "$factors" --iterations "$iterations" --quiet || fail "vr-train"
videos=$(awk -F, 'NR > 1 && $2 + 1 > n { n = $2 + 1 } END { print n + 0 }' "$work/ratings.csv")
if (( videos >= index_min_videos )); then
  [[ -x "$bin_dir/vr-index" ]] || fail "vr-index not found in '$bin_dir' (set VR_BIN_DIR or run make build)"
  log "index ($videos videos >= $index_min_videos)"
  "$bin_dir/vr-index" --dir "$work" --quiet || fail "vr-index"
fi
log "quick evaluation"
# Too little data to hold any out is no reason to withhold the model: metrics become null.
if ! metrics=$("$bin_dir/vr-evaluate" --dir "$work" --factors "$factors" --iterations "$iterations" --k 10 \
  --format json --quiet); then
  log "WARNING: the quick evaluation failed; metadata.json records no metrics"
  metrics=null
fi
vr_version=$("$bin_dir/vr-train" --version)
cat > "$work/metadata.json.tmp" <<EOF
{"version": "$version", "created": "$(date -u +%Y-%m-%dT%H:%M:%SZ)", "input": "$(cd "$(dirname "$input")" && pwd)/$(basename "$input")", "vr": "$vr_version", "evaluation": $metrics}
EOF
mv "$work/metadata.json.tmp" "$work/metadata.json"

sync "$work"/* 2>/dev/null || true
mv "$work" "$out_dir/$version"
trap - EXIT
ln -sfn "$version" "$out_dir/.current.tmp"
mv -T "$out_dir/.current.tmp" "$out_dir/current"
log "current -> $version"

current_target=$(readlink "$out_dir/current")
mapfile -t versions < <(find "$out_dir" -mindepth 1 -maxdepth 1 -type d -name '[0-9]*T[0-9]*Z*' -printf '%f\n' | sort)
excess=$(( ${#versions[@]} - keep ))
for (( i = 0; i < excess; i++ )); do
  [[ "${versions[$i]}" == "$current_target" ]] && continue
  rm -rf "${out_dir:?}/${versions[$i]}"
  log "removed old version ${versions[$i]}"
done
log "done"
