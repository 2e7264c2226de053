#!/usr/bin/env bash
# The batch pipeline for cron: interactions CSV -> a new versioned model directory.
#
#   scripts/pipeline.sh [options] IN_CSV OUT_DIR [options]
#
# Options (they may come before or after the two positional arguments):
#   --keep N            versions kept (default 5)
#   --factors N         latent factors (default 20, or the --config file's)
#   --iterations N      iterations of a full training (default 20, or the --config file's)
#   --config FILE       hyperparameters for vr-train and the quick evaluation (vr-evaluate --tune's)
#   --model KIND        als (default), ease or item-knn
#   --weights LIST      event weights for vr-features (default: vr-features' watch=1,like=2,complete=3)
#   --half-life D       time decay for vr-features (e.g. 30d; default: none)
#   --incremental       start from the current version (ALS): same ids (vr-features --mappings-from)
#                       and a warm start (vr-train --init-from) of --warm-iterations iterations
#   --warm-iterations N iterations of an incremental run (default 3)
#   --refresh SIDE      incremental runs re-solve only changed rows: users, videos or both
#   --full-every N      with --incremental, a full training every N runs, or Nd: when the last full
#                       one is N days old or more (default: 7 runs)
#   --min-ndcg X        quality gate: refuse to publish when the quick evaluation's nDCG@10 < X
#   --max-drop X        quality gate: refuse when it is more than X below the current version's
#   --index-min-videos N  build vr-index's ann_index.bin (similar videos) when the catalog has at
#                       least N videos (default 100000; 0 = always)
#   --catalog FILE      a catalog (videos.csv: hidden videos, availability windows, categories;
#                       docs/catalog.md) copied into the version as videos.csv, so that `current`
#                       carries it to vr-serve and the container; checked against the new model
#                       (a file that does not parse fails the run) and used by the quick
#                       evaluation (vr-evaluate --catalog, at the run's time). Default: none
#
# Each run
#   1. takes OUT_DIR/.lock (flock, non-blocking): a run that finds another one still going
#      exits with status 75 (EX_TEMPFAIL) and changes nothing;
#   2. builds OUT_DIR/.incomplete-<stamp>/ with vr-features (ratings.csv, mappings.bin),
#      vr-train (als_model.bin, or ease_model.bin / item_knn_model.bin) and a quick vr-evaluate (random 75/25 split, the same settings
#      trained from scratch), whose metrics go into metadata.json together with the input, time,
#      vr version and how the model was trained (null metrics, with a warning, when the data is
#      too small to hold anything out), and, when the catalog has at least --index-min-videos
#      videos, vr-index (ann_index.bin, the HNSW index for similar videos; docs/retrieval.md);
#      with --catalog, videos.csv (a copy taken when the run starts, checked by vr-recommend
#      --catalog on the new model before the quick evaluation);
#   3. applies the quality gate, if any: a model below it is not published, `current` stays;
#   4. renames it to OUT_DIR/<stamp>/ and only then repoints the symlink OUT_DIR/current to it
#      atomically (a new link renamed over the old one), so readers always see a complete model;
#   5. deletes all but the newest --keep versions (never the one `current` points to).
# Any failure (or a kill) leaves OUT_DIR/current untouched; leftovers of a killed run are
# removed by the next run. Log lines on stderr carry UTC timestamps. Exit status 0 on
# success (also when a --refresh run finds nothing changed and keeps `current`), 75 if another
# run holds the lock, 4 if the quality gate refused the model, 1 otherwise.
#
# Tools are taken from $VR_BIN_DIR, else from the build/bin next to this script, else PATH.
set -euo pipefail

readonly exit_gate_refused=4
keep=5
iterations=
factors=
config=
model_kind=
weights=
half_life=
incremental=0
warm_iterations=3
refresh=
full_every=7
min_ndcg=
max_drop=
index_min_videos=100000
catalog=

log() { printf '%s pipeline: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }
# The header comment above, under the name this was run as (vr-pipeline when installed).
header() { sed -n "$1" "$0" | sed -e 's/^# \{0,1\}//' -e "s|scripts/pipeline.sh|$(basename "$0")|"; }
usage() {  # usage [STATUS]: --help (0) prints the whole header on stdout, an error the synopsis on stderr
  if [[ "${1:-1}" == 0 ]]; then header '2,/^[^#]/{/^#/p}'; exit 0; fi
  header '2,4p' >&2
  exit "${1:-1}"
}
needs() { [[ $# -ge 2 && -n "$2" ]] || { log "$1 needs a value"; usage; }; }

positionals=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --keep) needs "$@"; keep=$2; shift 2 ;;
    --iterations) needs "$@"; iterations=$2; shift 2 ;;
    --factors) needs "$@"; factors=$2; shift 2 ;;
    --config) needs "$@"; config=$2; shift 2 ;;
    --model) needs "$@"; model_kind=$2; shift 2 ;;
    --weights) needs "$@"; weights=$2; shift 2 ;;
    --half-life) needs "$@"; half_life=$2; shift 2 ;;
    --incremental) incremental=1; shift ;;
    --warm-iterations) needs "$@"; warm_iterations=$2; shift 2 ;;
    --refresh) needs "$@"; refresh=$2; shift 2 ;;
    --full-every) needs "$@"; full_every=$2; shift 2 ;;
    --min-ndcg) needs "$@"; min_ndcg=$2; shift 2 ;;
    --max-drop) needs "$@"; max_drop=$2; shift 2 ;;
    --index-min-videos) needs "$@"; index_min_videos=$2; shift 2 ;;
    --catalog) needs "$@"; catalog=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    --) shift; positionals+=("$@"); break ;;
    -*) log "unknown option $1"; usage ;;
    *) positionals+=("$1"); shift ;;
  esac
done
[[ ${#positionals[@]} -eq 2 ]] || usage
input=${positionals[0]}
out_dir=${positionals[1]}
number='^[0-9]+([.][0-9]+)?$'
[[ "$keep" =~ ^[1-9][0-9]*$ ]] || fail "--keep must be a positive number (got '$keep')"
[[ -z "$iterations" || "$iterations" =~ ^[0-9]+$ ]] || fail "--iterations must be a number (got '$iterations')"
[[ -z "$factors" || "$factors" =~ ^[1-9][0-9]*$ ]] || fail "--factors must be a positive number (got '$factors')"
[[ "$warm_iterations" =~ ^[0-9]+$ ]] || fail "--warm-iterations must be a number (got '$warm_iterations')"
[[ "$full_every" =~ ^[1-9][0-9]*d?$ ]] || fail "--full-every must be N (runs) or Nd (days) (got '$full_every')"
[[ -z "$refresh" || "$refresh" =~ ^(users|videos|both)$ ]] || fail "--refresh must be users, videos or both (got '$refresh')"
[[ -z "$model_kind" || "$model_kind" =~ ^(als|ease|item-knn)$ ]] || fail "--model must be als, ease or item-knn (got '$model_kind')"
[[ -z "$min_ndcg" || "$min_ndcg" =~ $number ]] || fail "--min-ndcg must be a number (got '$min_ndcg')"
[[ -z "$max_drop" || "$max_drop" =~ $number ]] || fail "--max-drop must be a number (got '$max_drop')"
[[ -z "$refresh" || $incremental -eq 1 ]] || fail "--refresh needs --incremental"
[[ "$index_min_videos" =~ ^[0-9]+$ ]] || fail "--index-min-videos must be a number (got '$index_min_videos')"
[[ -f "$input" ]] || fail "input '$input' does not exist"
[[ -z "$config" || -f "$config" ]] || fail "--config '$config' does not exist"
[[ -n "$config" ]] && config=$(cd "$(dirname "$config")" && pwd)/$(basename "$config")
[[ -z "$catalog" || -f "$catalog" ]] || fail "--catalog '$catalog' does not exist"

script_dir=$(cd "$(dirname "$0")" && pwd)
if [[ -n "${VR_BIN_DIR:-}" ]]; then
  bin_dir=$VR_BIN_DIR
elif [[ -x "$script_dir/../build/bin/vr-train" ]]; then
  bin_dir=$script_dir/../build/bin
else
  bin_dir=$(dirname "$(command -v vr-train || echo /nonexistent/vr-train)")
fi
[[ -d "$bin_dir" ]] && bin_dir=$(cd "$bin_dir" && pwd)
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
if [[ -n "$catalog" ]]; then
  # One copy, taken now: the version carries the catalog its quick evaluation saw, even when
  # the file is edited while the run trains.
  cp "$catalog" "$work/videos.csv.tmp" || fail "cannot copy --catalog '$catalog'"
  mv "$work/videos.csv.tmp" "$work/videos.csv"
fi

# A number from the current version's metadata.json ("" when absent).
current_field() {
  [[ -f "$out_dir/current/metadata.json" ]] || return 0
  grep -o "\"$1\": *[0-9.eE+-]*" "$out_dir/current/metadata.json" | head -n 1 | sed 's/.*: *//'
}
# below A B [DROP]: true when A < B - DROP (numbers as awk reads them).
below() { awk -v a="$1" -v b="$2" -v drop="${3:-0}" 'BEGIN { exit !(a + 0 < b - drop) }'; }

# Full or incremental? An incremental run needs a current ALS version to start from.
mode=full
runs_since_full=0
last_full_epoch=$(date -u +%s)
if [[ $incremental -eq 1 ]]; then
  current_kind=$(sed -n 's/.*"model_kind": *"\([a-z-]*\)".*/\1/p' "$out_dir/current/metadata.json" 2>/dev/null || true)
  previous_runs=$(current_field runs_since_full)
  previous_full=$(current_field last_full_epoch)
  if [[ ! -f "$out_dir/current/als_model.bin" || ! -f "$out_dir/current/mappings.bin" ]]; then
    log "no current version to start from: full training"
  elif [[ -n "$model_kind" && "$model_kind" != als ]] || [[ -n "$current_kind" && "$current_kind" != als ]]; then
    log "incremental runs need ALS: full training"
  elif [[ -z "$previous_runs" || -z "$previous_full" ]]; then
    log "the current version records no full training: full training"
  elif [[ "$full_every" == *d ]] && (( ($(date -u +%s) - previous_full) >= ${full_every%d} * 86400 )); then
    log "the last full training is at least ${full_every%d} day(s) old: full training"
  elif [[ "$full_every" != *d ]] && (( previous_runs + 1 >= full_every )); then
    log "$((previous_runs + 1)) runs since the last full training (--full-every $full_every): full training"
  else
    mode=${refresh:+refresh}
    mode=${mode:-warm}
    runs_since_full=$((previous_runs + 1))
    last_full_epoch=$previous_full
  fi
fi

log "version $version from $input ($mode)"
features_args=(--dir "$work")
[[ -n "$weights" ]] && features_args+=(--weights "$weights")
[[ -n "$half_life" ]] && features_args+=(--half-life "$half_life")
[[ $mode != full ]] && features_args+=(--mappings-from "$out_dir/current/mappings.bin")
log "features"
"$bin_dir/vr-features" "$input" "${features_args[@]}" || fail "vr-features"

settings=()
[[ -n "$config" ]] && settings+=(--config "$config")
[[ -n "$factors" ]] && settings+=(--factors "$factors")
[[ -z "$config" && -z "$factors" ]] && settings+=(--factors 20)
train_settings=("${settings[@]}")
evaluate_settings=("${settings[@]}")
if [[ -n "$iterations" ]]; then
  evaluate_settings+=(--iterations "$iterations")
elif [[ -z "$config" ]]; then
  evaluate_settings+=(--iterations 20)
fi
if [[ $mode == full ]]; then
  train_settings=("${evaluate_settings[@]}")
else
  train_settings+=(--iterations "$warm_iterations" --init-from "$out_dir/current/als_model.bin")
  [[ $mode == refresh ]] && train_settings+=(--refresh "$refresh")
fi
[[ -n "$model_kind" ]] && train_settings+=(--model "$model_kind") && evaluate_settings+=(--models "$model_kind")
log "train (${train_settings[*]})"
"$bin_dir/vr-train" --dir "$work" "${train_settings[@]}" --quiet || fail "vr-train"
# vr-train names the model file by its kind: als_model.bin, ease_model.bin, item_knn_model.bin.
model_file="$(printf '%s' "${model_kind:-als}" | tr - _)_model.bin"
if [[ ! -f "$work/$model_file" ]]; then
  log "nothing changed since the current version; current kept"
  log "done"
  exit 0
fi
videos=$(awk -F, 'NR > 1 && $2 + 1 > n { n = $2 + 1 } END { print n + 0 }' "$work/ratings.csv")
if [[ "${model_kind:-als}" == als ]] && (( videos >= index_min_videos )); then
  [[ -x "$bin_dir/vr-index" ]] || fail "vr-index not found in '$bin_dir' (set VR_BIN_DIR or run make build)"
  log "index ($videos videos >= $index_min_videos)"
  "$bin_dir/vr-index" --dir "$work" --quiet || fail "vr-index"
fi
if [[ -n "$catalog" ]]; then
  # vr-serve would refuse a catalog that does not parse: check it against the new model with
  # vr-recommend (an empty batch: it loads the model and the catalog, answers no one).
  [[ -x "$bin_dir/vr-recommend" ]] || fail "vr-recommend not found in '$bin_dir' (set VR_BIN_DIR or run make build)"
  log "catalog $catalog"
  "$bin_dir/vr-recommend" --dir "$work" --model "$work/$model_file" --catalog "$work/videos.csv" --users - \
    --output /dev/null < /dev/null 2> "$work/catalog-check.log" || catalog_failed=1
  # Its messages name the copy; the user edits the original (same lines).
  grep -v ' users answered, ' "$work/catalog-check.log" | sed "s|$work/videos.csv|$catalog|g" >&2 || true
  [[ -z "${catalog_failed:-}" ]] || fail "--catalog '$catalog'"
  rm -f "$work/catalog-check.log"
  # Named relative to the version (the evaluation runs inside it), as metadata.json records it.
  evaluate_settings+=(--catalog videos.csv)
fi
log "quick evaluation"
# Too little data to hold any out is no reason to withhold the model: metrics become null.
if ! metrics=$(cd "$work" && "$bin_dir/vr-evaluate" --dir "$work" "${evaluate_settings[@]}" --k 10 --format json --quiet); then
  log "WARNING: the quick evaluation failed; metadata.json records no metrics"
  metrics=null
fi
vr_version=$("$bin_dir/vr-train" --version)
cat > "$work/metadata.json.tmp" <<JSON
{"version": "$version", "created": "$(date -u +%Y-%m-%dT%H:%M:%SZ)", "input": "$(cd "$(dirname "$input")" && pwd)/$(basename "$input")", "vr": "$vr_version", "model_kind": "${model_kind:-als}", "training": "$mode", "runs_since_full": $runs_since_full, "last_full_epoch": $last_full_epoch, "evaluation": $metrics}
JSON
mv "$work/metadata.json.tmp" "$work/metadata.json"

# The quality gate: the first "ndcg@10" of vr-evaluate's JSON is the model's.
ndcg=$(grep -o '"ndcg@10": *[0-9.eE+-]*' "$work/metadata.json" | head -n 1 | sed 's/.*: *//')
if [[ -n "$min_ndcg$max_drop" ]]; then
  [[ -n "$ndcg" ]] || { log "REFUSED: the quick evaluation gave no nDCG@10 to check; current kept"; exit $exit_gate_refused; }
  if [[ -n "$min_ndcg" ]] && below "$ndcg" "$min_ndcg"; then
    log "REFUSED: nDCG@10 $ndcg is below --min-ndcg $min_ndcg; current kept"
    exit $exit_gate_refused
  fi
  current_ndcg=$(current_field 'ndcg@10')
  if [[ -n "$max_drop" && -n "$current_ndcg" ]] && below "$ndcg" "$current_ndcg" "$max_drop"; then
    log "REFUSED: nDCG@10 $ndcg is more than $max_drop below the current version's $current_ndcg; current kept"
    exit $exit_gate_refused
  fi
  log "quality gate passed (nDCG@10 $ndcg)"
fi

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
