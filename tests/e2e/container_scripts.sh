#!/usr/bin/env bash
# The image's entry point and training script outside any container, so they are tested
# where podman is not available: docker/entrypoint.sh hands `serve` to vr-serve with the
# SageMaker defaults (checked with a stand-in vr-serve), and docker/train.sh honours the
# SageMaker training contract with the real vr-features and vr-train.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/support/skip.sh"
repo_root="${VR_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
bin_dir="${VR_BIN_DIR:-$repo_root/build/bin}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

passed=0 failed=0
check() {
  local description="$1"; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $description"
  else failed=$((failed + 1)); echo "FAIL $description"; fi
}

# --- entrypoint.sh ------------------------------------------------------------------------
mkdir -p "$work/fake-bin"
for tool in vr-serve vr-train-job vr-recommend; do
  printf '#!/usr/bin/env bash\necho "%s $*"\n' "$tool" > "$work/fake-bin/$tool"
  chmod +x "$work/fake-bin/$tool"
done
entry() { env -u SAGEMAKER_BIND_TO_PORT -u VR_MODEL_DIR -u VR_CATALOG PATH="$work/fake-bin:$PATH" "$@"; }
entrypoint="$repo_root/docker/entrypoint.sh"
check "entrypoint: no argument serves on 0.0.0.0:8080 from /opt/ml/model" \
  test "$(entry "$entrypoint")" = "vr-serve serve --model-dir /opt/ml/model --host 0.0.0.0 --port 8080"
check "entrypoint: serve, as SageMaker starts it" \
  test "$(entry "$entrypoint" serve)" = "vr-serve serve --model-dir /opt/ml/model --host 0.0.0.0 --port 8080"
check "entrypoint: SAGEMAKER_BIND_TO_PORT sets the port" \
  test "$(entry SAGEMAKER_BIND_TO_PORT=9001 "$entrypoint" serve)" = "vr-serve serve --model-dir /opt/ml/model --host 0.0.0.0 --port 9001"
check "entrypoint: options after serve replace the defaults, never repeat them" \
  test "$(entry "$entrypoint" serve --port=7000 --model-dir /m --threads 4)" = "vr-serve serve --host 0.0.0.0 --port=7000 --model-dir /m --threads 4"
mkdir -p "$work/model-with-catalog"
touch "$work/model-with-catalog/videos.csv"
check "entrypoint: a videos.csv inside the model directory becomes the catalog" \
  test "$(entry VR_MODEL_DIR="$work/model-with-catalog" "$entrypoint" serve)" = "vr-serve serve --model-dir $work/model-with-catalog --host 0.0.0.0 --port 8080 --catalog $work/model-with-catalog/videos.csv"
check "entrypoint: VR_CATALOG (mounted apart) wins over the model's videos.csv" \
  test "$(entry VR_MODEL_DIR="$work/model-with-catalog" VR_CATALOG=/opt/ml/catalog/videos.csv "$entrypoint" serve)" = "vr-serve serve --model-dir $work/model-with-catalog --host 0.0.0.0 --port 8080 --catalog /opt/ml/catalog/videos.csv"
check "entrypoint: --catalog given is kept, never repeated" \
  test "$(entry VR_CATALOG=/x.csv "$entrypoint" serve --catalog /y.csv)" = "vr-serve serve --model-dir /opt/ml/model --host 0.0.0.0 --port 8080 --catalog /y.csv"
check "entrypoint: train runs the training job" test "$(entry "$entrypoint" train)" = "vr-train-job "
check "entrypoint: any other command runs as given" \
  test "$(entry "$entrypoint" vr-recommend --user u001)" = "vr-recommend --user u001"

# --- train.sh with the real tools -----------------------------------------------------------
if [ ! -x "$bin_dir/vr-features" ] || [ ! -x "$bin_dir/vr-train" ]; then
  skip "vr-features/vr-train are not built in $bin_dir: train.sh cannot run"
fi
ml="$work/ml"
train() { VR_ML_ROOT="$ml" VR_BIN_DIR="$bin_dir" bash "$repo_root/docker/train.sh" > "$work/train.log" 2>&1; }
hyperparameters() { printf '%s\n' "$1" > "$ml/input/config/hyperparameters.json"; }
mkdir -p "$ml/input/data/train/part" "$ml/input/config"
cp "$repo_root/data/interactions.csv" "$ml/input/data/train/part/a.csv"
printf 'user_id,video_id,event,timestamp\r\nu777,v003,complete,2026-02-01T10:00:00Z\r\nu777,v004,like,2026-02-01T11:00:00Z' \
  > "$ml/input/data/train/b.csv"   # CRLF, no final newline
hyperparameters '{"factors": "4", "iterations": "3", "seed": "5", "sagemaker_region": "us-east-1", "_tuning_objective_metric": "x"}'
check "train: succeeds on two CSVs with SageMaker's own hyperparameters ignored" train
check "train: writes the three model files" \
  test -s "$ml/model/ratings.csv" -a -s "$ml/model/mappings.bin" -a -s "$ml/model/als_model.bin"
check "train: reads every file (u777 from b.csv is in the mappings)" grep -q u777 "$ml/model/mappings.bin"
check "train: no failure file on success" test ! -e "$ml/output/failure"
small_model="$(wc -c < "$ml/model/als_model.bin")"
hyperparameters '{"factors": "16", "iterations": "3"}'
train
check "train: the factors hyperparameter reaches vr-train (bigger model)" \
  test "$(wc -c < "$ml/model/als_model.bin")" -gt "$small_model"
cp -r "$ml/model" "$work/good-model"

failing() {  # failing DESCRIPTION EXPECTED_REASON: train fails, says why, keeps the model
  local description="$1" reason="$2" status=0
  train || status=$?
  check "train fails: $description (exit non-zero)" test "$status" -ne 0
  check "train fails: $description (failure file says '$reason')" grep -q -- "$reason" "$ml/output/failure"
  check "train fails: $description (model dir unchanged)" diff -r "$work/good-model" "$ml/model"
}
hyperparameters '{"factor": "8"}'
failing "unknown hyperparameter" "unknown hyperparameter 'factor'"
hyperparameters '{"factors": "0"}'
failing "factors out of range" "factors"
hyperparameters '{"alpha": "much"}'
failing "alpha not a number" "alpha"
hyperparameters '{"solver": "magic"}'
failing "unknown solver" "solver"
hyperparameters '{"skip_invalid": "maybe"}'
failing "skip_invalid not a boolean" "must be true or false"
hyperparameters '{"factors": ["8"]}'
failing "array value" "must be a string"
hyperparameters '["factors", "8"]'
failing "hyperparameters not an object" "not a JSON object"
hyperparameters '{}'
printf 'user,video\nu1,v1\n' > "$ml/input/data/train/c.csv"
failing "CSV headers differ" "differs from"
rm "$ml/input/data/train/c.csv"
printf 'user_id,video_id,event,timestamp\nu1,v1,watch,2026-01-01T00:00:00Z\nu2,v2,binge,2026-01-01T00:00:00Z\n' \
  > "$ml/input/data/train/part/bad.csv"
failing "an unknown event name" "vr-features failed"
hyperparameters '{"skip_invalid": "true"}'
check "train: skip_invalid=true skips the bad row" train
rm -rf "$ml/input/data/train"/*
mkdir -p "$ml/input/data/train"
cp -r "$work/good-model/." "$ml/model/"
failing "no CSV in the channel" "no .csv files"

# --- train.sh on two hosts over ssh, keys made at start ----------------------------------------
# Two "hosts" on loopback addresses (127.0.0.2 leader, 127.0.0.3 worker), each running
# train.sh with its own sshd on the same port: the leader's mpirun reaches the worker over ssh
# with a key neither had before the job started. They share this machine's file system, so
# the leader holds every shard (with several real hosts each holds some: see
# sagemaker_train_multihost.sh and test_mpi_training).
check "Dockerfile: no ssh key is made at image build" bash -c '! grep -q "ssh-keygen" "$1"' _ "$repo_root/docker/Dockerfile"
for tool in /usr/sbin/sshd ssh ssh-keyscan mpirun jq "$bin_dir/vr-generate"; do
  command -v "$tool" >/dev/null || skip "$tool is missing: cannot run train.sh on two hosts over ssh"
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
hosts="$work/hosts"
mkdir -p "$hosts"
"$bin_dir/vr-generate" --users 800 --videos 300 --events 12000 -o "$hosts/events.csv" 2>/dev/null
"$bin_dir/vr-features" "$hosts/events.csv" --dir "$hosts/shards" --shards 3 2>/dev/null
mpirun --oversubscribe -np 2 "$bin_dir/vr-train" --dir "$hosts/shards" --iterations 4 --threads 1 --quiet \
  --model "$hosts/reference.bin" > /dev/null 2>&1 || skip "vr-train under mpirun failed (built without VR_MPI?)"
host_tree() {  # host_tree HOST SHARD_GLOB [HYPERPARAMETERS]: the SageMaker folders of one host
  local root="$hosts/$1"
  rm -rf "$root"
  mkdir -p "$root/input/config" "$root/input/data/train" "$root/input/data/mappings"
  printf '{"current_host": "%s", "hosts": ["127.0.0.3", "127.0.0.2"], "network_interface_name": "lo"}\n' "$1" \
    > "$root/input/config/resourceconfig.json"
  printf '%s\n' "${3:-{\"iterations\": \"4\", \"processes_per_host\": \"1\"\}}" > "$root/input/config/hyperparameters.json"
  cp "$hosts/shards/mappings.bin" "$hosts/shards/ratings-shards.json" "$root/input/data/mappings/"
  cp "$hosts/shards"/ratings-$2-of-00003.csv "$root/input/data/train/"
}
host_tree 127.0.0.2 '*'
host_tree 127.0.0.3 00001
ssh_port=$((20000 + $$ % 20000))
run_host() {  # run_host HOST: train.sh as that host, its sshd on HOST:ssh_port
  VR_ML_ROOT="$hosts/$1" VR_BIN_DIR="$bin_dir" VR_TRAIN_STAGING="$hosts/$1/job" VR_SSH_LISTEN="$1" \
    VR_SSH_PORT="$ssh_port" VR_SSH_TRIES=30 VR_WORKER_START_TIMEOUT=60 \
    timeout 180 bash "$repo_root/docker/train.sh" > "$hosts/$1.log" 2>&1
}
run_both_hosts() {  # the worker in the background, the leader: sets leader_status, worker_status
  local worker
  worker_status=0 leader_status=0
  run_host 127.0.0.3 & worker=$!
  run_host 127.0.0.2 || leader_status=$?
  wait "$worker" || worker_status=$?
  cat "$hosts/127.0.0.2.log" "$hosts/127.0.0.3.log" | sed 's/^/    /'
}
run_both_hosts
check "two hosts over ssh: the leader's job succeeds" test "$leader_status" -eq 0
check "two hosts over ssh: the worker exits 0 when the leader's job ends" test "$worker_status" -eq 0
check "two hosts over ssh: the worker authorised the key the leader made at start" \
  grep -q "worker: authorised the leader's key" "$hosts/127.0.0.3.log"
# Three logins at least: the leader's reachability probe, its Open MPI daemon, and its word
# that the job has ended. Two would mean Open MPI ran the worker's process on the leader.
check "two hosts over ssh: the leader logged in to the worker to start its process" \
  grep -Eq "the leader's job has ended \(([3-9]|[1-9][0-9]+) ssh logins from it\)" "$hosts/127.0.0.3.log"
check "two hosts over ssh: the worker heard from the leader that its job succeeded" \
  grep -q "the leader's job has ended (.*); its exit status: 0$" "$hosts/127.0.0.3.log"
check "two hosts over ssh: the model is mpirun vr-train's, byte for byte" \
  cmp -s "$hosts/127.0.0.2/model/als_model.bin" "$hosts/reference.bin"
check "two hosts over ssh: the model dir has ratings.csv, mappings.bin and als_model.bin" \
  test "$(ls "$hosts/127.0.0.2/model" | tr '\n' ' ')" = "als_model.bin mappings.bin ratings.csv "
check "two hosts over ssh: no sshd of the job is left running" \
  bash -c '! pgrep -f "$1/127.0.0.[23]/job/ssh/sshd_config" >/dev/null' _ "$hosts"

# A job that fails on the leader (vr-train refuses 0 factors under mpirun) still ends the
# worker's wait at once, with the leader's status, instead of after its start timeout.
host_tree 127.0.0.2 '*' '{"iterations": "4", "factors": "0", "processes_per_host": "1"}'
host_tree 127.0.0.3 00001 '{"iterations": "4", "factors": "0", "processes_per_host": "1"}'
run_both_hosts
check "two hosts, the job fails: the leader exits non-zero" test "$leader_status" -ne 0
check "two hosts, the job fails: the failure file gives vr-train's reason" \
  grep -q "factors" "$hosts/127.0.0.2/output/failure"
check "two hosts, the job fails: the worker exits 0" test "$worker_status" -eq 0
check "two hosts, the job fails: the worker heard the leader's non-zero status" \
  grep -q "the leader's job has ended (.*); its exit status: 1$" "$hosts/127.0.0.3.log"
check "two hosts, the job fails: no sshd of the job is left running" \
  bash -c '! pgrep -f "$1/127.0.0.[23]/job/ssh/sshd_config" >/dev/null' _ "$hosts"

# --- train.sh as an unprivileged user (the image runs as uid 10001) ---------------------------
# A model folder that is not the user's own fails the job with the reason, before any tool runs.
# As root (CI), the job runs as nobody, since permissions stop no root process.
locked="$work/locked"
mkdir -p "$locked/input/data/train" "$locked/model" "$locked/output"
cp "$repo_root/data/interactions.csv" "$locked/input/data/train/"
chmod 0555 "$locked/model"
as_user=()
if [ "$(id -u)" -eq 0 ]; then
  command -v setpriv >/dev/null || skip "setpriv (util-linux) missing: cannot run train.sh unprivileged"
  chmod 0711 "$work"
  chown 65534 "$locked/output"
  as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi
# The script is run from a copy in the test's folder: the clone may sit in a folder only root
# can enter (as /root is), and the job fails before it runs any tool anyway.
cp "$repo_root/docker/train.sh" "$work/train.sh"
chmod 0644 "$work/train.sh"
locked_status=0
VR_ML_ROOT="$locked" VR_BIN_DIR="$bin_dir" "${as_user[@]}" bash "$work/train.sh" > "$work/locked.log" 2>&1 \
  || locked_status=$?
check "train fails: a model folder its user cannot write (exit non-zero)" test "$locked_status" -ne 0
check "train fails: a model folder its user cannot write (failure file names the folder and the uid)" \
  grep -q "$locked/model is not writable by uid $( "${as_user[@]}" id -u)" "$locked/output/failure"
check "train fails: a model folder its user cannot write (nothing written into it)" \
  test -z "$(ls -A "$locked/model")"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
