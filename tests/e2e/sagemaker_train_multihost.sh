#!/usr/bin/env bash
# docker/train.sh with several hosts in resourceconfig.json, outside the container: the
# leader runs mpirun over the hosts' processes (here all on this machine, VR_MPI_LOCAL=1, so
# no ssh) and writes the model dir, with the files of a one-host job (ratings.csv the shards'
# concatenation); the model equals `mpirun vr-train` on the same shards. A
# missing shard and a worker whose leader never comes end with exit 1 and a failure file.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/support/skip.sh"
bin=${VR_BIN_DIR:?VR_BIN_DIR not set}
source_dir=${VR_SOURCE_DIR:?VR_SOURCE_DIR not set}
require_built vr-generate vr-features vr-train
command -v mpirun > /dev/null || skip "mpirun is not installed (openmpi-bin)"
command -v jq > /dev/null || skip "jq is not installed"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0
check() {  # check DESCRIPTION COMMAND...
  local description="$1"
  shift
  if "$@"; then echo "ok   $description"; else echo "FAIL $description" >&2; failures=$((failures + 1)); fi
}

"$bin/vr-generate" --users 1500 --videos 600 --events 30000 -o events.csv 2>/dev/null
"$bin/vr-features" events.csv --dir shards --shards 3 2>/dev/null
reference=$(mpirun --oversubscribe -np 2 "$bin/vr-train" --dir shards --iterations 5 --threads 1 \
            --model reference.bin 2>&1) || { echo "$reference" >&2; exit 1; }
grep -q "process 1/2" <<< "$reference" || skip "vr-train was built without VR_MPI"

fails() { ! "$@"; }

# A SageMaker folder tree ($2) for host $1 of algo-1, algo-2.
ml_root() {
  local root="$work/$2"
  mkdir -p "$root/input/config" "$root/input/data/train" "$root/input/data/mappings"
  printf '{"current_host": "%s", "hosts": ["algo-2", "algo-1"], "network_interface_name": "eth0"}\n' "$1" \
    > "$root/input/config/resourceconfig.json"
  printf '{"iterations": "5", "processes_per_host": "1", "sagemaker_program": "x"}\n' > "$root/input/config/hyperparameters.json"
  cp shards/mappings.bin shards/ratings-shards.json "$root/input/data/mappings/"
  cp shards/ratings-*-of-00003.csv "$root/input/data/train/"
  echo "$root"
}
train_job() {  # train_job ROOT: runs docker/train.sh on ROOT's tree
  VR_ML_ROOT="$1" VR_BIN_DIR="$bin" VR_MPI_LOCAL=1 VR_TRAIN_STAGING="$1/job" VR_WORKER_START_TIMEOUT=2 \
    bash "$source_dir/docker/train.sh" > "$1/stdout.txt" 2> "$1/stderr.txt"
}

leader=$(ml_root algo-1 leader)
check "the leader's job succeeds" train_job "$leader"
check "the model is mpirun vr-train's, byte for byte" cmp -s "$leader/model/als_model.bin" reference.bin
check "the model dir has a one-host job's files" \
  bash -c '[ "$(ls "$1/model")" = "$(printf "als_model.bin\nmappings.bin\nratings.csv")" ]' _ "$leader"
check "its ratings.csv is the shards' concatenation" \
  bash -c 'cat shards/ratings-0000[0-2]-of-00003.csv | cmp -s - "$1/model/ratings.csv"' _ "$leader"
check "vr-recommend serves the model dir as it is" \
  bash -c '"$2/vr-recommend" --dir "$1/model" --all-users -o /dev/null' _ "$leader" "$bin"
check "mpirun ran two processes" grep -q "mpirun -np 2 over algo-1 algo-2" "$leader/stderr.txt"
check "no failure file" test ! -e "$leader/output/failure"

failing=$(ml_root algo-1 failing)
rm "$failing/input/data/train/ratings-00001-of-00003.csv"
check "a missing shard fails the job" fails train_job "$failing"
check "the failure file names the missing shard" grep -q "missing shard .*ratings-00001-of-00003.csv" "$failing/output/failure"
check "no model written" test ! -e "$failing/model/als_model.bin"

worker=$(ml_root algo-2 worker)
check "a worker whose leader never comes fails" fails train_job "$worker"
check "its failure file says so" grep -q "leader algo-1 did not start" "$worker/output/failure"
[[ $failures -eq 0 ]] || exit 1
