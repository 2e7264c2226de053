#!/usr/bin/env bash
# `docker run IMAGE train`: the SageMaker training-job contract.
#
# Reads   /opt/ml/input/data/train/**/*.csv            interaction CSVs (same header in each)
#         /opt/ml/input/config/hyperparameters.json    a JSON object of strings (optional)
#         /opt/ml/input/config/resourceconfig.json     the hosts (logged; ALS runs on one)
# Writes  /opt/ml/model/{ratings.csv,mappings.bin,als_model.bin}   a model dir vr-serve loads
#         /opt/ml/output/failure                       why, when it fails (exit status 1)
#
# Several hosts (resourceconfig.json lists more than one): one model trained by all of them
# under Open MPI (docs/distributed-training.md). Reads, on every host,
#         /opt/ml/input/data/train/ratings-NNNNN-of-NNNNN.csv   this host's shards (ShardedByS3Key)
#         /opt/ml/input/data/mappings/{mappings.bin,ratings-shards.json}   (FullyReplicated)
# The first host in sorted order is the leader: it starts sshd like every host, waits until
# the others answer over ssh, runs `mpirun` over all of them (processes_per_host each,
# default: the host's cores) and writes /opt/ml/model/{ratings.csv,mappings.bin,als_model.bin},
# the files of a one-host job (ratings.csv is the shards' concatenation, each shard sent to
# the leader by a process that holds it). The others are workers: they start sshd, wait until
# the leader logs in to say its job has ended (its Open MPI daemon runs here meanwhile), and exit 0. ssh keys are made at start, none is in the image: every
# host makes a key pair and runs its own sshd (as the container's user, port VR_SSH_PORT,
# default 2222) with that key as host key; the workers authorise the key the leader's sshd
# presents (ssh-keyscan), and the leader logs in with it.
#
# Hyperparameters (names with '-' or '_'; values are strings, checked by the tools):
#   factors, regularization, alpha, iterations, solver, cg_steps, scaling, eps, threads,
#   seed -> vr-train's options of the same name; weights (e.g. "watch=1,like=2,complete=3")
#   and skip_invalid ("true"/"false") -> vr-features; processes_per_host (several hosts only). Names starting with "sagemaker_" or
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
    if [ "$1" = mpirun ]; then
      # The processes' own words, not Open MPI's banner about ending the job (between two
      # lines of dashes), its "[host:pid]" notes, nor each process's line saying that it ends
      # the job. mpirun forwards the processes' writes as they come, so one process's line can
      # be split by another's or by the banner ("error: process 0----...", then " of 2 failed;
      # ending the job" after it): the banner is found by its dashes anywhere in a line, and
      # "error: " prefixes are dropped so the halves of a message count once.
      local reason
      reason="$(awk -v dashes='--------------------' \
                  'index($0, dashes) { if (!banner) { banner = 1; next } if ($0 ~ /^-+$/) { banner = 0; next } } !banner' "$errors" \
        | sed 's/^\(error: \)*//' \
        | grep -v -e '^ *$' -e '^Run with --help' -e 'failed; ending the job$' -e '^\[[^]]*\] ' \
        | sort -u | head -n 3)"
      [ -n "$reason" ] && fail "vr-train on several hosts failed: $reason"
    fi
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
processes_per_host=""
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
      processes-per-host)
        [[ "$value" =~ ^[1-9][0-9]{0,3}$ ]] || fail "hyperparameter '$key' must be a whole number from 1, not '$value'"
        processes_per_host="$value" ;;
      skip-invalid)
        case "${value,,}" in
          true|1|yes) features_options+=(--skip-invalid) ;;
          false|0|no) ;;
          *) fail "hyperparameter '$key' must be true or false, not '$value'" ;;
        esac ;;
      *)
        fail "unknown hyperparameter '$key' (known: factors, regularization, alpha, iterations, solver, cg_steps, scaling, eps, threads, seed, weights, skip_invalid, processes_per_host)" ;;
    esac
  done <<< "$entries"
fi

hosts=()
current_host=""
if [ -f "$resource_file" ] && command -v jq >/dev/null; then
  mapfile -t hosts < <(jq -r '(.hosts // [])[]' "$resource_file" 2>/dev/null | sort) \
    || fail "cannot read $resource_file"
  current_host="$(jq -r '.current_host // ""' "$resource_file" 2>/dev/null)"
  network_interface="$(jq -r '.network_interface_name // ""' "$resource_file" 2>/dev/null)"
  log "hosts: ${hosts[*]:-none}; current: ${current_host:-?}"
fi

# --- Several hosts: one Open MPI job over all of them --------------------------------------
if [ ${#hosts[@]} -gt 1 ]; then
  mappings_dir="$ml_root/input/data/${VR_MAPPINGS_CHANNEL:-mappings}"
  # The same folder on every host: mpirun gives every process the same --dir.
  job_dir="${VR_TRAIN_STAGING:-/tmp/vr-train-job}"
  leader="${hosts[0]}"
  [[ " ${hosts[*]} " == *" $current_host "* ]] || fail "current_host '$current_host' is not among the hosts in $resource_file"
  rm -rf "$job_dir" && mkdir -p "$job_dir/data" || fail "cannot create $job_dir"
  trap 'rm -rf "$job_dir"' EXIT
  for file in mappings.bin ratings-shards.json; do
    [ -f "$mappings_dir/$file" ] || fail "$mappings_dir/$file is missing: the mappings channel (FullyReplicated) needs vr-features --shards' mappings.bin and ratings-shards.json"
    ln -s "$mappings_dir/$file" "$job_dir/data/$file"
  done
  shards=0
  [ -d "$input_dir" ] || fail "no input channel: $input_dir does not exist"
  while IFS= read -r -d '' shard; do
    ln -sf "$shard" "$job_dir/data/$(basename "$shard")"
    shards=$((shards + 1))
  done < <(find "$input_dir" -type f -name 'ratings-[0-9]*-of-[0-9]*.csv' -print0)
  log "this host holds $shards shard(s) of $(jq -r '.shards | length' "$mappings_dir/ratings-shards.json")"

  # VR_MPI_LOCAL=1 (tests) runs every process on this machine, without ssh.
  ssh_port="${VR_SSH_PORT:-2222}"
  ssh_dir="$job_dir/ssh"
  if [ "${VR_MPI_LOCAL:-0}" != 1 ]; then
    [[ "$ssh_port" =~ ^[1-9][0-9]{0,4}$ ]] || fail "VR_SSH_PORT must be a port number, not '$ssh_port'"
    # A key pair made now, on every host: the image holds no key. It is also this host's sshd
    # host key, which is how the workers learn the leader's public key (ssh-keyscan).
    mkdir -m 700 "$ssh_dir" && ssh-keygen -q -t ed25519 -N '' -C "vr-train-job@$current_host" -f "$ssh_dir/id_ed25519" \
      || fail "cannot make an ssh key on $current_host"
    # The leader may log in to itself (Open MPI decides which host names are local).
    cut -d' ' -f1,2 "$ssh_dir/id_ed25519.pub" > "$ssh_dir/authorized_keys"
    {
      echo "Port $ssh_port"
      [ -n "${VR_SSH_LISTEN:-}" ] && echo "ListenAddress $VR_SSH_LISTEN"
      echo "HostKey $ssh_dir/id_ed25519"
      echo "AuthorizedKeysFile $ssh_dir/authorized_keys"
      echo "PidFile $ssh_dir/sshd.pid"
      user_name="$(id -un 2>/dev/null)" && echo "AllowUsers $user_name"
      echo "PubkeyAuthentication yes"
      echo "PasswordAuthentication no"
      echo "KbdInteractiveAuthentication no"
      echo "UsePAM no"
      # The key files live under /tmp, which is world-writable (sticky): sshd's path check
      # would refuse them. The folder itself is the user's own, mode 700.
      echo "StrictModes no"
      # The leader ends a worker's wait by writing its job's exit status to this file.
      echo "SetEnv PATH=$PATH VR_LEADER_DONE_FILE=$ssh_dir/leader-done"
    } > "$ssh_dir/sshd_config"
    # As root sshd wants its privilege separation folder; as another user it runs without.
    if [ "$(id -u)" -eq 0 ]; then mkdir -p /run/sshd || fail "cannot create /run/sshd"; fi
    /usr/sbin/sshd -f "$ssh_dir/sshd_config" -E "$ssh_dir/sshd.log" \
      || fail "cannot start sshd on $current_host: $(tail -n 3 "$ssh_dir/sshd.log" 2>/dev/null)"
    # This job's sshd ends with the job (the container's end would end it too).
    trap '[ -f "$ssh_dir/sshd.pid" ] && kill "$(cat "$ssh_dir/sshd.pid")" 2>/dev/null; rm -rf "$job_dir"' EXIT
    ssh_options="-i $ssh_dir/id_ed25519 -p $ssh_port -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=5 -o BatchMode=yes"
  fi

  if [ "$current_host" != "$leader" ] && [ "${VR_MPI_LOCAL:-0}" != 1 ]; then
    # The leader's sshd presents the leader's key: authorise it for logging in here.
    timeout="${VR_WORKER_START_TIMEOUT:-900}"
    waited=0
    until leader_key="$(ssh-keyscan -p "$ssh_port" -t ed25519 "$leader" 2>/dev/null | grep -m1 ' ssh-ed25519 ')"; do
      [ "$waited" -lt "$timeout" ] || fail "worker $current_host: the leader $leader's sshd did not answer within $timeout s"
      sleep 1
      waited=$((waited + 1))
    done
    cut -d' ' -f2,3 <<< "$leader_key" >> "$ssh_dir/authorized_keys"
    log "worker: authorised the leader's key"
  fi

  if [ "$current_host" != "$leader" ]; then
    # A worker: the leader's mpirun starts an Open MPI daemon (orted) here over ssh, and when
    # its job has ended (well or not) the leader logs in once more to write its exit status to
    # VR_LEADER_DONE_FILE. That word, not the daemon's absence, ends the wait: a short job's
    # daemon can come and go between two looks. If the leader dies without a word, the
    # daemon's end followed by VR_WORKER_END_GRACE seconds of silence ends it too.
    timeout="${VR_WORKER_START_TIMEOUT:-900}"
    grace="${VR_WORKER_END_GRACE:-60}"
    done_file="$ssh_dir/leader-done"
    log "worker: waiting up to $timeout s for the leader ($leader) to start its processes here"
    waited=0 daemon_seen=0 silent=0
    until [ -s "$done_file" ]; do
      if pgrep -x orted >/dev/null; then
        daemon_seen=1 silent=0
      elif [ "$daemon_seen" = 1 ]; then
        silent=$((silent + 1))
        [ "$silent" -lt $((grace * 5)) ] || break
      else
        [ "$waited" -lt $((timeout * 5)) ] || fail "worker $current_host: the leader $leader did not start any process here within $timeout s"
        waited=$((waited + 1))
      fi
      sleep 0.2
    done
    logins=0
    [ -f "$ssh_dir/sshd.log" ] && logins="$(grep -c 'Accepted publickey' "$ssh_dir/sshd.log")"
    if [ -s "$done_file" ]; then
      log "worker: the leader's job has ended ($logins ssh logins from it); its exit status: $(head -c 16 "$done_file")"
    else
      log "worker: the leader's job has ended ($logins ssh logins from it); no word from the leader within $grace s of its processes' end"
    fi
    exit 0
  fi

  per_host="${processes_per_host:-$(nproc)}"
  total=$((per_host * ${#hosts[@]}))
  if [[ " ${train_options[*]} " != *" --threads="* ]]; then
    threads=$(( $(nproc) / per_host ))
    train_options+=("--threads=$(( threads > 0 ? threads : 1 ))")
  fi
  mpirun_options=(--allow-run-as-root -np "$total" --bind-to none -x PATH)
  # Sanitizer settings, when set (sanitizer builds under test), reach the processes on every
  # host too: they are started over ssh, which passes no environment but PATH.
  for name in ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS; do
    [ -n "${!name:-}" ] && mpirun_options+=(-x "$name")
  done
  if [ "${VR_MPI_LOCAL:-0}" = 1 ]; then
    mpirun_options+=(--oversubscribe)
  else
    host_list=""
    for host in "${hosts[@]}"; do host_list+="${host_list:+,}$host:$per_host"; done
    mpirun_options+=(--host "$host_list" --mca plm_rsh_args "$ssh_options")
    if [ -n "$network_interface" ]; then
      mpirun_options+=(--mca btl_tcp_if_include "$network_interface" --mca oob_tcp_if_include "$network_interface")
    fi
    # However the job ends from here on (fail exits too), every worker hears of it and exits.
    # shellcheck disable=SC2016,SC2086
    trap 'status=$?
      for host in "${hosts[@]:1}"; do
        ssh $ssh_options "$host" "echo $status > \"\$VR_LEADER_DONE_FILE\"" 2>/dev/null \
          || log "leader: could not tell $host that the job has ended"
      done
      [ -f "$ssh_dir/sshd.pid" ] && kill "$(cat "$ssh_dir/sshd.pid")" 2>/dev/null; rm -rf "$job_dir"' EXIT
    for host in "${hosts[@]:1}"; do
      tries=0
      # shellcheck disable=SC2086
      until ssh $ssh_options "$host" true 2>/dev/null; do
        tries=$((tries + 1))
        [ "$tries" -lt "${VR_SSH_TRIES:-120}" ] || fail "leader $current_host cannot reach $host over ssh"
        sleep 2
      done
    done
  fi
  log "leader: mpirun -np $total over ${hosts[*]}"
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  run_tool mpirun "${mpirun_options[@]}" "${bin_prefix}vr-train" --dir "$job_dir/data" \
    --model "$job_dir/als_model.bin" --write-ratings "$job_dir/ratings.csv" "${train_options[@]}"
  mkdir -p "$model_dir" || fail "cannot create $model_dir"
  for file in ratings.csv als_model.bin data/mappings.bin; do
    name="$(basename "$file")"
    if ! { cp -L "$job_dir/$file" "$model_dir/.$name.tmp" && mv -f "$model_dir/.$name.tmp" "$model_dir/$name"; }; then
      fail "cannot write $model_dir/$name"
    fi
  done
  log "model written to $model_dir by ${#hosts[@]} hosts"
  exit 0
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
