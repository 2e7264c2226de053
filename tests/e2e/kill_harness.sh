#!/usr/bin/env bash
# Nothing lost when killed: SIGKILLs vr-features, vr-train, vr-recommend --all-users and
# scripts/pipeline.sh at random moments while they replace a complete previous output with a
# new one, then checks that every output is byte for byte either the complete previous
# version or the complete new one (sha256 against reference runs), that vr-features never
# leaves new ratings beside old mappings, and that pipeline's `current` always points to a
# complete version that vr-recommend loads.
#
# Usage: tests/e2e/kill_harness.sh [RUNS_PER_TOOL]   (default 3; `make reliability` uses 25+)
# Environment: VR_BIN_DIR (the built tools), VR_SOURCE_DIR (the repository), KILL_EVENTS
# (rows of the generated logs, default 150000). Prints a summary line per tool; exit 1 on any
# violation.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/support/skip.sh"

runs=${1:-3}
bin=${VR_BIN_DIR:?VR_BIN_DIR not set}
source_dir=${VR_SOURCE_DIR:?VR_SOURCE_DIR not set}
events=${KILL_EVENTS:-150000}
factors=8
iterations=4

require_built vr-generate vr-features vr-train vr-recommend

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
violations=0

hash_of() { if [[ -e "$1" ]]; then sha256sum <"$1" | cut -c1-64; else echo missing; fi; }
now_ms() { date +%s%3N; }
violation() {
  echo "VIOLATION: $*" >&2
  violations=$((violations + 1))
}

# Reference outputs: old and new data, each through the whole chain once.
"$bin/vr-generate" --users 8000 --videos 1500 --events "$events" --seed 1 -o old.csv 2>/dev/null
"$bin/vr-generate" --users 9000 --videos 1600 --events "$events" --seed 2 -o new.csv 2>/dev/null
for version in old new; do
  mkdir -p "ref_$version"
  "$bin/vr-features" "$version.csv" --dir "ref_$version" 2>/dev/null
  "$bin/vr-train" --dir "ref_$version" --factors $factors --iterations $iterations --quiet 2>/dev/null
  "$bin/vr-recommend" --dir "ref_$version" --all-users -k 10 -o "ref_$version/recs.jsonl" 2>/dev/null
done
declare -A reference
for version in old new; do
  for file in ratings.csv mappings.bin als_model.bin recs.jsonl; do
    reference[$version/$file]=$(hash_of "ref_$version/$file")
  done
done
# The same data, config and seed must give the same bytes, or the comparison means nothing.
mkdir check && cp ref_new/ratings.csv ref_new/mappings.bin check/
"$bin/vr-train" --dir check --factors $factors --iterations $iterations --quiet --threads 1 2>/dev/null
[[ $(hash_of check/als_model.bin) == "${reference[new/als_model.bin]}" ]] ||
  { echo "vr-train is not deterministic; cannot compare outputs byte for byte" >&2; exit 1; }

# Which version a file is: old, new, or a violation.
classify() {  # $1 = path, $2 = artifact name
  local hash
  hash=$(hash_of "$1")
  if [[ $hash == "${reference[old/$2]}" ]]; then echo old
  elif [[ $hash == "${reference[new/$2]}" ]]; then echo new
  else echo "BAD($hash)"; fi
}

# Runs "$@" in the background, kills it with SIGKILL after a random delay in [0, 1.2 x its
# normal duration], and waits for it. $kill_group=1 kills the whole process group (setsid).
kill_group=0
kill_at_random() {  # $1 = normal duration in ms, then the command
  local duration=$1
  shift
  local delay=$(( (RANDOM * 32768 + RANDOM) % (duration * 12 / 10 + 1) ))
  if [[ $kill_group == 1 ]]; then
    setsid "$@" >/dev/null 2>&1 &
  else
    "$@" >/dev/null 2>&1 &
  fi
  local pid=$!
  sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
  if [[ $kill_group == 1 ]]; then kill -KILL -- "-$pid" 2>/dev/null || true; else kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
  last_delay=$delay
}

timed() {  # prints the duration of "$@" in ms
  local start
  start=$(now_ms)
  "$@" >/dev/null 2>&1
  echo $(( $(now_ms) - start ))
}

leftovers() { find "$1" -maxdepth 1 -name '*.tmp.*' | wc -l; }

summary() {  # tool, counts...
  printf 'kill_harness: %-22s %3d runs: %s\n' "$1" "$runs" "$2"
}

# Kills "$@" until a run leaves temporaries behind (up to 20 tries, after `$reset`), then runs
# it to the end: that complete run must remove them (their writer is dead). Prints what it saw.
stale_removed_by_next_run() {  # $1 = label, $2 = reset function, $3 = duration, then the command
  local label=$1 reset=$2 duration=$3 left=0
  shift 3
  for ((try = 1; try <= 20; try++)); do
    $reset
    kill_at_random "$duration" "$@"
    left=$(leftovers out)
    ((left > 0)) && break
  done
  if ((left == 0)); then echo "kill_harness: $label: no kill left a temporary in 20 tries"; return; fi
  "$@" >/dev/null 2>&1 || violation "$label: the complete run after a kill failed"
  local after
  after=$(leftovers out)
  ((after == 0)) || violation "$label: $after stale temporaries still there after a complete run"
  echo "kill_harness: $label: the next complete run removed the $left stale temporaries a kill left ($after left)"
}

# --- vr-features: old ratings.csv + mappings.bin, replaced from new.csv ----------------------
reset_features() { rm -rf out && mkdir out && cp ref_old/ratings.csv ref_old/mappings.bin out/; }
reset_features
duration=$(timed "$bin/vr-features" new.csv --dir out)
declare -A seen=()
temporaries=0
for ((run = 1; run <= runs; run++)); do
  reset_features
  kill_at_random "$duration" "$bin/vr-features" new.csv --dir out
  ratings=$(classify out/ratings.csv ratings.csv)
  mappings=$(classify out/mappings.bin mappings.bin)
  [[ $ratings == old || $ratings == new ]] || violation "vr-features run $run (killed at ${last_delay} ms): ratings.csv is $ratings"
  [[ $mappings == old || $mappings == new ]] || violation "vr-features run $run (killed at ${last_delay} ms): mappings.bin is $mappings"
  [[ $ratings == new && $mappings == old ]] && violation "vr-features run $run: new ratings.csv beside old mappings.bin"
  seen[$mappings/$ratings]=$(( ${seen[$mappings/$ratings]:-0} + 1 ))
  temporaries=$((temporaries + $(leftovers out)))
done
summary vr-features "normal run ${duration} ms; (mappings/ratings) $(for k in "${!seen[@]}"; do printf '%s=%s ' "$k" "${seen[$k]}"; done)stale temporaries=$temporaries"
stale_removed_by_next_run vr-features reset_features "$duration" "$bin/vr-features" new.csv --dir out

# --- vr-train: old als_model.bin, replaced by training on the new ratings -------------------
reset_train() { rm -rf out && mkdir out && cp ref_new/ratings.csv ref_new/mappings.bin out/ && cp ref_old/als_model.bin out/; }
reset_train
duration=$(timed "$bin/vr-train" --dir out --factors $factors --iterations $iterations --quiet)
seen=()
temporaries=0
for ((run = 1; run <= runs; run++)); do
  reset_train
  kill_at_random "$duration" "$bin/vr-train" --dir out --factors $factors --iterations $iterations --quiet
  model=$(classify out/als_model.bin als_model.bin)
  [[ $model == old || $model == new ]] || violation "vr-train run $run (killed at ${last_delay} ms): als_model.bin is $model"
  seen[$model]=$(( ${seen[$model]:-0} + 1 ))
  temporaries=$((temporaries + $(leftovers out)))
done
summary vr-train "normal run ${duration} ms; als_model.bin $(for k in "${!seen[@]}"; do printf '%s=%s ' "$k" "${seen[$k]}"; done)stale temporaries=$temporaries"
stale_removed_by_next_run vr-train reset_train "$duration" "$bin/vr-train" --dir out --factors $factors --iterations $iterations --quiet

# --- vr-recommend --all-users: old recommendations file, replaced from the new model --------
reset_recommend() { rm -rf out && mkdir out && cp ref_new/ratings.csv ref_new/mappings.bin ref_new/als_model.bin out/ && cp ref_old/recs.jsonl out/; }
reset_recommend
duration=$(timed "$bin/vr-recommend" --dir out --all-users -k 10 -o out/recs.jsonl)
seen=()
temporaries=0
for ((run = 1; run <= runs; run++)); do
  reset_recommend
  kill_at_random "$duration" "$bin/vr-recommend" --dir out --all-users -k 10 -o out/recs.jsonl
  recs=$(classify out/recs.jsonl recs.jsonl)
  [[ $recs == old || $recs == new ]] || violation "vr-recommend run $run (killed at ${last_delay} ms): recs.jsonl is $recs"
  seen[$recs]=$(( ${seen[$recs]:-0} + 1 ))
  temporaries=$((temporaries + $(leftovers out)))
done
summary "vr-recommend --all-users" "normal run ${duration} ms; recs.jsonl $(for k in "${!seen[@]}"; do printf '%s=%s ' "$k" "${seen[$k]}"; done)stale temporaries=$temporaries"
stale_removed_by_next_run vr-recommend reset_recommend "$duration" "$bin/vr-recommend" --dir out --all-users -k 10 -o out/recs.jsonl

# --- scripts/pipeline.sh: `current` -> a complete version, old or new ------------------------
pipeline=$source_dir/scripts/pipeline.sh
if [[ ! -x $pipeline ]] || [[ ! -x "$bin/vr-evaluate" ]]; then
  echo "kill_harness: scripts/pipeline.sh or vr-evaluate missing; pipeline not tested" >&2
else
  export VR_BIN_DIR=$bin
  run_pipeline() { "$pipeline" --factors $factors --iterations $iterations --keep 3 "$@"; }
  # A version directory must hold exactly the old or exactly the new artifacts.
  check_version() {  # $1 = directory
    local kind="" file state
    for file in ratings.csv mappings.bin als_model.bin; do
      state=$(classify "$1/$file" "$file")
      if [[ $state != old && $state != new ]]; then echo "BAD($file:$state)"; return; fi
      if [[ -n $kind && $kind != "$state" ]]; then echo "MIXED"; return; fi
      kind=$state
    done
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$1/metadata.json" 2>/dev/null || { echo "BAD(metadata.json)"; return; }
    echo "$kind"
  }
  # The starting point of every run: one complete old version, `current` pointing to it.
  run_pipeline old.csv models_start 2>/dev/null
  [[ $(check_version models_start/current) == old ]] || { echo "pipeline's own output differs from the tools'" >&2; exit 1; }
  rm -rf models && cp -a models_start models
  duration=$(timed run_pipeline new.csv models)
  seen=()
  kill_group=1
  for ((run = 1; run <= runs; run++)); do
    rm -rf models && cp -a models_start models
    kill_at_random "$duration" "$pipeline" --factors $factors --iterations $iterations --keep 3 new.csv models
    if [[ ! -L models/current ]]; then
      violation "pipeline run $run (killed at ${last_delay} ms): current is not a symlink"
      continue
    fi
    state=$(check_version models/current)
    [[ $state == old || $state == new ]] || violation "pipeline run $run (killed at ${last_delay} ms): current is $state"
    "$bin/vr-recommend" --dir models/current --all-users -k 1 -o - >/dev/null 2>&1 ||
      violation "pipeline run $run (killed at ${last_delay} ms): vr-recommend cannot load current ($state)"
    seen[$state]=$(( ${seen[$state]:-0} + 1 ))
  done
  # The run after a kill recovers: the lock is free, leftovers go, the new version is published.
  run_pipeline new.csv models 2>/dev/null || violation "pipeline after a kill: the next run failed"
  [[ $(check_version models/current) == new ]] || violation "pipeline after a kill: the next run did not publish the new version"
  if compgen -G "models/.incomplete-*" >/dev/null; then violation "pipeline after a kill: .incomplete-* left behind"; fi
  summary scripts/pipeline.sh "normal run ${duration} ms; current $(for k in "${!seen[@]}"; do printf '%s=%s ' "$k" "${seen[$k]}"; done)"
fi

if (( violations > 0 )); then
  echo "kill_harness: $violations violations" >&2
  exit 1
fi
echo "kill_harness: no violations"
