#!/usr/bin/env bash
# `docker run IMAGE train`: the SageMaker training-job contract.
#
# Reads   /opt/ml/input/data/train/**/*.csv            interaction CSVs (same header in each)
#         /opt/ml/input/config/hyperparameters.json    a JSON object of strings (optional)
#         /opt/ml/input/config/resourceconfig.json     the hosts (logged; ALS runs on one)
# Writes  /opt/ml/model/{ratings.csv,mappings.bin,als_model.bin}   a model dir vr-serve loads
#         /opt/ml/output/failure                       why, when it fails (exit status 1)
#
# Hyperparameters (names with '-' or '_'; values are strings, checked by the tools):
#   factors, regularization, alpha, iterations, solver, cg_steps, scaling, eps, threads,
#   seed -> vr-train's options of the same name; weights (e.g. "watch=1,like=2,complete=3")
#   and skip_invalid ("true"/"false") -> vr-features. Names starting with "sagemaker_" or
#   "_" are set by the SageMaker SDK and tuner and are ignored. Any other name is an error.
#
# VR_ML_ROOT (default /opt/ml) and VR_TRAIN_CHANNEL (default train) move the folders, for
# tests outside the container; the tools are taken from VR_BIN_DIR if set, else from PATH.
set -uo pipefail

ml_root="${VR_ML_ROOT:-/opt/ml}"
channel="${VR_TRAIN_CHANNEL:-train}"
input_dir="$ml_root/input/data/$channel"
hyperparameters_file="$ml_root/input/config/hyperparameters.json"
resource_file="$ml_root/input/config/resourceconfig.json"
model_dir="$ml_root/model"
failure_file="$ml_root/output/failure"
bin_prefix="${VR_BIN_DIR:+$VR_BIN_DIR/}"

log() { printf 'train: %s\n' "$*" >&2; }

# SageMaker shows the failure file's text as the job's FailureReason.
fail() {
  mkdir -p "$(dirname "$failure_file")"
  printf '%s\n' "$*" > "$failure_file"
  log "error: $*"
  exit 1
}

# Runs a tool; on failure its stderr becomes the failure reason.
run_tool() {
  local errors status=0
  errors="$(mktemp)"
  # stderr goes through a pipe to tee, stdout around it by fd 3. A pipeline ends only when tee
  # has: with a process substitution (`2> >(tee ...)`), neither `wait` nor `wait $!` always
  # waited for it, and under load the failure reason was read before tee had written it.
  { "$@" 2>&1 1>&3 3>&- | tee "$errors" >&2 3>&-; status=${PIPESTATUS[0]}; } 3>&1
  if [ "$status" -ne 0 ]; then
    fail "$(basename "$1") failed: $(grep -v -e '^$' -e '^Run with --help' "$errors" | tail -n 5)"
  fi
  rm -f "$errors"
}

# The image runs as an unprivileged user (uid 10001): a mounted /opt/ml/model or /opt/ml/output
# owned by another user cannot be written, which would otherwise surface as a tool's I/O error.
mkdir -p "$model_dir" 2>/dev/null
for folder in "$(dirname "$failure_file")" "$model_dir"; do
  if [ -d "$folder" ] && [ ! -w "$folder" ]; then
    log "error: $folder is not writable by uid $(id -u); make it writable by that user (e.g. chown -R $(id -u) on the host)"
    [ -w "$(dirname "$failure_file")" ] && fail "$folder is not writable by uid $(id -u)"
    exit 1
  fi
done

rm -f "$failure_file"

# --- Hyperparameters -> tool options ----------------------------------------------------
features_options=()
train_options=(--quiet)
if [ -f "$hyperparameters_file" ]; then
  command -v jq >/dev/null || fail "jq is needed to read $hyperparameters_file"
  jq -e 'type == "object"' "$hyperparameters_file" >/dev/null 2>&1 \
    || fail "$hyperparameters_file is not a JSON object"
  entries="$(jq -r 'to_entries[]
      | if (.value | type) == "object" or (.value | type) == "array" or (.value | type) == "null"
        then "\(.key)\tINVALID"
        else "\(.key)\tVALUE\t\(.value | tostring | @base64)" end' "$hyperparameters_file")" \
    || fail "cannot read $hyperparameters_file"
  while IFS=$'\t' read -r key kind encoded; do
    [ -n "$key" ] || continue
    [ "$kind" = VALUE ] || fail "hyperparameter '$key' must be a string, not an object, array or null"
    value="$(printf '%s' "$encoded" | base64 -d)"
    case "$value" in
      *$'\n'*) fail "hyperparameter '$key' must be one line" ;;
    esac
    name="${key//_/-}"
    case "$name" in
      sagemaker-*|-*)
        log "ignoring SageMaker's own hyperparameter '$key'" ;;
      factors|regularization|alpha|iterations|solver|cg-steps|scaling|eps|threads|seed)
        [ -n "$value" ] || fail "hyperparameter '$key' is empty"
        train_options+=("--$name=$value") ;;
      weights)
        [ -n "$value" ] || fail "hyperparameter '$key' is empty"
        features_options+=("--weights=$value") ;;
      skip-invalid)
        case "${value,,}" in
          true|1|yes) features_options+=(--skip-invalid) ;;
          false|0|no) ;;
          *) fail "hyperparameter '$key' must be true or false, not '$value'" ;;
        esac ;;
      *)
        fail "unknown hyperparameter '$key' (known: factors, regularization, alpha, iterations, solver, cg_steps, scaling, eps, threads, seed, weights, skip_invalid)" ;;
    esac
  done <<< "$entries"
fi

if [ -f "$resource_file" ] && command -v jq >/dev/null; then
  log "hosts: $(jq -r '(.hosts // []) | join(", ")' "$resource_file" 2>/dev/null); current: $(jq -r '.current_host // "?"' "$resource_file" 2>/dev/null)"
  log "ALS trains on one host; every host trains the same, seed-determined model"
fi

# --- Input: every CSV under the channel, one header ------------------------------------
[ -d "$input_dir" ] || fail "no input channel: $input_dir does not exist"
mapfile -d '' csv_files < <(find "$input_dir" -type f -name '*.csv' -print0 | sort -z)
[ ${#csv_files[@]} -gt 0 ] || fail "no .csv files in $input_dir"
header="$(head -n 1 "${csv_files[0]}" | tr -d '\r')"
for file in "${csv_files[@]}"; do
  other="$(head -n 1 "$file" | tr -d '\r')"
  [ "$other" = "$header" ] \
    || fail "$file: header '$other' differs from '$header' in ${csv_files[0]}"
done
log "input: ${#csv_files[@]} CSV file(s) in $input_dir"

# --- Features, then ALS, in a staging folder; the model dir changes only on success ------
mkdir -p "$model_dir" || fail "cannot create $model_dir"
staging="$(mktemp -d)" || fail "cannot create a temporary folder"
trap 'rm -rf "$staging"' EXIT
interactions="${csv_files[0]}"
if [ ${#csv_files[@]} -gt 1 ]; then
  interactions="$staging/interactions.csv"
  # The first file's header, then every file's rows (awk also ends an unterminated line).
  awk 'FNR == 1 && NR != 1 { next } { print }' "${csv_files[@]}" > "$interactions" \
    || fail "cannot read the input CSV files"
fi

run_tool "${bin_prefix}vr-features" "$interactions" --dir "$staging/model" "${features_options[@]}"
run_tool "${bin_prefix}vr-train" --dir "$staging/model" "${train_options[@]}"
for file in ratings.csv mappings.bin als_model.bin; do
  if ! { cp "$staging/model/$file" "$model_dir/.$file.tmp" \
          && mv -f "$model_dir/.$file.tmp" "$model_dir/$file"; }; then
    fail "cannot write $model_dir/$file"
  fi
done
log "model written to $model_dir"
