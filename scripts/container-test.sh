#!/usr/bin/env bash
# `make container-test`: builds docker/Dockerfile with podman and tests the image for real.
#
#  1. installs podman, runc, containernetworking-plugins, iptables and mmdebstrap if missing;
#  2. writes podman's settings outside the repository (runc, cgroupfs, file events, lower
#     ulimits: crun and the default ulimits fail on these machines) and points
#     CONTAINERS_CONF / CONTAINERS_STORAGE_CONF at them;
#  3. makes the base images from Debian's archive with mmdebstrap, unless present:
#     debian:bookworm-slim (minbase, docs excluded as in Docker's slim image) and
#     debian:bookworm (minbase plus the build dependencies, so the build stage's apt-get
#     install finds them installed);
#  4. podman build --pull=never -f docker/Dockerfile . (Docker image format: HEALTHCHECK);
#  5. `serve` on a free loopback port: /ping, the README's /invocations request and answer,
#     404s, /docs, the HEALTHCHECK; SIGTERM stops it with exit status 0 within 30 s;
#  6. `train` against a mounted /opt/ml with the sample data (plus a user the default model
#     lacks), a bad hyperparameter (exit non-zero, /opt/ml/output/failure), then `serve`
#     of the trained model;
#  7. `serve --retrieval ann` of a model.tar.gz made by scripts/sagemaker-deploy.sh package
#     that carries the similar-video index and a catalog, unpacked as SageMaker does;
#  8. `train` on three containers named algo-1..3 on a podman network of its own, as a
#     SageMaker multi-instance job: the model equals mpirun vr-train's on one host;
#  9. prints the image size and how long each part took.
#
# Exit status: 0 passed, 1 failed, 77 skipped (printed as SKIP: this machine cannot run
# podman containers or reach Debian's archive). Environment:
#   VR_PODMAN_CONF_DIR   where the podman settings go (default ~/.config/vr-podman)
#   VR_PODMAN_GRAPHROOT, VR_PODMAN_RUNROOT   podman's storage (default /var/lib/containers/
#                        storage, /run/containers/storage)
#   VR_IMAGE             image name to build (default localhost/video-recommender-api:latest)
#   VR_CONTAINER_REBUILD_BASES=1   make the base images again even if present
#   VR_CONTAINER_NO_BASES=skip     skip (77) instead of making missing base images: CTest's
#                                  run (tests/e2e/container.sh) cannot afford the ~7 minutes
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
image="${VR_IMAGE:-localhost/video-recommender-api:latest}"
conf_dir="${VR_PODMAN_CONF_DIR:-${XDG_CONFIG_HOME:-$HOME/.config}/vr-podman}"
slim_base="docker.io/library/debian:bookworm-slim"
build_base="docker.io/library/debian:bookworm"
# The build stage's packages (keep in step with docker/Dockerfile's first RUN).
build_packages="build-essential,cmake,make,pkg-config,libcli11-dev,libeigen3-dev,libfccp-dev,libcereal-dev,libcpp-httplib-dev,nlohmann-json3-dev,libopenmpi-dev,libhnswlib-dev,nodejs,npm,ca-certificates"

started=$SECONDS
# One container test at a time on a machine (ctest -j, several work trees): they share
# podman's storage and two image builds at once would only slow both.
exec 9> /tmp/vr-container-test.lock
flock 9

log() { printf 'container-test: %s\n' "$*" >&2; }
skip() {
  if [ "${CI:-}" = true ]; then
    printf 'container-test: FAILED: the container test would be skipped (%s), and CI=true must run it\n' "$*" >&2
    exit 1
  fi
  printf '\n*** SKIP: container test: %s ***\n\n' "$*"
  printf '*** SKIP: container test: %s ***\n' "$*" >&2
  exit 77
}
failures=0
pass() { printf 'container-test: ok   %s\n' "$*"; }
fail() { printf 'container-test: FAIL %s\n' "$*"; failures=$((failures + 1)); }
check() {  # check DESCRIPTION COMMAND...
  local description="$1"; shift
  if "$@"; then pass "$description"; else fail "$description"; fi
}
timings=()
timed() {  # timed LABEL COMMAND...: runs it, records its duration
  local label="$1" start=$SECONDS status=0; shift
  "$@" || status=$?
  timings+=("$label: $((SECONDS - start)) s")
  return $status
}

# --- 1, 2. Packages and podman settings (scripts/podman-base.sh) ------------------------------
# shellcheck source=scripts/podman-base.sh
source "$repo_root/scripts/podman-base.sh"
podman_prepare

# --- 3. Base images from Debian's archive ---------------------------------------------------
work="$(mktemp -d /tmp/vr-container-test.XXXXXX)"
containers=() networks=()
cleanup() {
  local name
  for name in "${containers[@]}"; do podman rm -f -t 0 "$name" >/dev/null 2>&1 || true; done
  for name in "${networks[@]}"; do podman network rm -f "$name" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

timed "base $slim_base" make_slim_base
timed "base $build_base" make_base "$build_base" --include="$build_packages"

# A machine whose HTTPS goes through a proxy with its own CA (trusted in the host's
# /usr/local/share/ca-certificates) needs it in the build base too, or the build's `npm ci`
# fails with SELF_SIGNED_CERT_IN_CHAIN. Only the local build base gets it; the image's
# runtime stage starts from the slim base and never sees it.
trust_host_cas() {
  local certificates=(/usr/local/share/ca-certificates/*.crt) digest
  [ -e "${certificates[0]}" ] || return 0
  digest="$(cat "${certificates[@]}" | sha256sum | cut -c1-16)"
  [ "$(podman image inspect --format '{{index .Config.Labels "vr.host-ca"}}' "$build_base" 2>/dev/null)" = "$digest" ] \
    && return 0
  log "adding this machine's CA certificates to $build_base"
  mkdir -p "$work/ca"
  cp "${certificates[@]}" "$work/ca/"
  printf '%s\n' "FROM $build_base" 'COPY *.crt /usr/local/share/ca-certificates/' \
    'RUN update-ca-certificates' 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
    "LABEL vr.host-ca=$digest" > "$work/ca/Containerfile"
  podman build --pull=never -q -t "$build_base" -f "$work/ca/Containerfile" "$work/ca" >/dev/null
}
timed "host CA certificates" trust_host_cas

podman run --rm --pull=never "$slim_base" true >"$work/run.log" 2>&1 \
  || skip "podman cannot run a container here: $(tail -n 1 "$work/run.log")"

# --- 4. The image ---------------------------------------------------------------------------
log "building $image from docker/Dockerfile"
build_started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
# Host networking for the build's apt-get and npm; the Docker format keeps the HEALTHCHECK.
if ! timed "podman build" podman build --pull=never --network=host --format docker \
      -f "$repo_root/docker/Dockerfile" -t "$image" "$repo_root" >"$work/build.log" 2>&1; then
  tail -n 40 "$work/build.log"
  echo "container-test: FAIL podman build (full log above)"
  exit 1
fi
pass "podman build --pull=never -f docker/Dockerfile ."
# Earlier builds' untagged stages (about 0.9 GB each) would pile up; this build's stay as
# the layer cache of the next run.
podman image prune -f --filter "until=$build_started" >/dev/null 2>&1 || true
image_bytes="$(podman image inspect --format '{{.Size}}' "$image")"
check "image is linux/amd64" test "$(podman image inspect --format '{{.Os}}/{{.Architecture}}' "$image")" = linux/amd64
check "image declares EXPOSE 8080" grep -q '8080/tcp' <<< "$(podman image inspect --format '{{json .Config.ExposedPorts}}' "$image")"
check "image has a HEALTHCHECK" grep -q '/ping' <<< "$(podman image inspect --format '{{json .Config.Healthcheck}}' "$image")"
check "image has no data/ or build output" \
  podman run --rm --pull=never --entrypoint bash "$image" -c '! ls -d /src /data /build /opt/ml/input 2>/dev/null | grep -q .' 2>/dev/null

# -DVR_NATIVE=OFF: no AVX/AVX-512 instruction (ymm/zmm registers) in the binaries, which
# -march=native on this machine would put there; SageMaker's hosts are any x86-64.
portable_binaries() {
  local container tool
  container="$(podman create --pull=never "$image" 2>/dev/null)" || return 1
  mkdir -p "$work/binaries"
  for tool in vr-serve vr-train vr-features; do
    podman cp "$container:/usr/local/bin/$tool" "$work/binaries/$tool" || return 1
  done
  podman rm "$container" >/dev/null 2>&1
  ! objdump -d "$work/binaries"/* | grep -q -E '%(ymm|zmm)[0-9]'
}
if command -v objdump >/dev/null; then
  check "binaries are portable amd64 code (no AVX/AVX-512: built with -DVR_NATIVE=OFF)" portable_binaries
fi

# --- Helpers for a running container ----------------------------------------------------------
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
start() {  # start NAME PORT [podman run options...] -- [container args...]
  local name="$1" port="$2"; shift 2
  local options=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do options+=("$1"); shift; done
  shift
  containers+=("$name")
  # Without systemd podman logs that it cannot set up the health check timer: harmless,
  # so its stderr is shown only if the run itself fails.
  podman run -d --pull=never --name "$name" -p "127.0.0.1:$port:8080" "${options[@]}" \
      "$image" "$@" >/dev/null 2>"$work/run-$name.log" \
    || { cat "$work/run-$name.log" >&2; return 1; }
}
wait_ready() {  # wait_ready PORT: until /ping answers 200, at most 30 s
  local port="$1" deadline=$((SECONDS + 30))
  while [ $SECONDS -lt $deadline ]; do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/ping")" = 200 ] && return 0
    sleep 0.2
  done
  return 1
}
stop_cleanly() {  # stop_cleanly NAME: SIGTERM, exit status 0 within 30 s
  local name="$1" start=$SECONDS status
  podman kill --signal TERM "$name" >/dev/null
  status="$(timeout 35 podman wait "$name" 2>/dev/null || echo timeout)"
  log "$name stopped after SIGTERM in $((SECONDS - start)) s with status $status"
  [ "$status" = 0 ] && [ $((SECONDS - start)) -le 30 ]
}
request() {  # request METHOD URL [BODY]: prints "STATUS BODY"
  local method="$1" url="$2" body="${3:-}" out="$work/response"
  local status
  if [ -n "$body" ]; then
    status="$(curl -s -o "$out" -w '%{http_code}' --max-time 10 -X "$method" \
      -H 'accept: application/json' -H 'Content-Type: application/json' -d "$body" "$url")"
  else
    status="$(curl -s -o "$out" -w '%{http_code}' --max-time 10 -X "$method" "$url")"
  fi
  printf '%s %s' "$status" "$(cat "$out")"
}
page_check() {  # page_check URL WORD: 200 and the page mentions WORD
  local answer
  answer="$(request GET "$1")"
  [ "${answer%% *}" = 200 ] && grep -qi "$2" <<< "$answer"
}
json_check() {  # json_check "STATUS BODY" EXPECTED_STATUS PYTHON_EXPRESSION_ON_doc [args...]
  python3 - "$@" <<'EOF'
import json, sys
answer, expected_status, expression = sys.argv[1:4]
args = sys.argv[4:]
status, _, body = answer.partition(" ")
if status != expected_status:
    sys.exit(f"status {status}, expected {expected_status}: {body[:300]}")
doc = json.loads(body)
if not eval(expression, {"doc": doc, "args": args}):
    sys.exit(f"unexpected answer: {body[:300]}")
EOF
}

# --- 5. serve with the default model ----------------------------------------------------------
serve_test() {
  local name="vr-container-test-serve-$$" port
  port="$(free_port)"
  start "$name" "$port" -- serve || { fail "serve: podman run"; return; }
  if ! wait_ready "$port"; then
    fail "serve: /ping healthy within 30 s"; podman logs "$name" 2>&1 | tail -n 20; return
  fi
  pass "serve: /ping answers 200 on 127.0.0.1:$port"
  local base="http://127.0.0.1:$port" answer
  answer="$(request GET "$base/ping")"
  check "serve: /ping says ok" json_check "$answer" 200 'doc.get("status") == "ok"'
  # The README's request. Its answer has the README's shape: userId, then k videos with
  # float scores, highest first: the three u001 has not watched (v001 and v002 it has).
  # Their order is not asserted: on eight events their scores are all near zero and rank
  # by the random initialisation (the README's came from another library's).
  answer="$(request POST "$base/invocations" '{
  "user_id": "u001",
  "k": 3
}')"
  log "/invocations: $answer"
  check "serve: /invocations for u001 (the README's request and answer)" json_check "$answer" 200 \
    '(set(doc) == {"userId", "recommendations"} and doc["userId"] == "u001"
      and all(set(r) == {"videoId", "score"} and isinstance(r["score"], float) for r in doc["recommendations"])
      and sorted(r["videoId"] for r in doc["recommendations"]) == ["v003", "v004", "v005"]
      and [r["score"] for r in doc["recommendations"]]
          == sorted((r["score"] for r in doc["recommendations"]), reverse=True))'
  answer="$(curl -s -w ' %{http_code}' --max-time 10 -H 'Content-Type: application/jsonlines' \
    -H 'Accept: application/jsonlines' --data-binary $'{"user_id": "u001", "k": 2}\n{"user_id": "u002", "k": 1}\n' \
    "$base/invocations")"
  check "serve: JSON Lines (batch transform) gets one answer line per line" python3 -c '
import json, sys
body, _, status = sys.argv[1].rpartition(" ")
lines = body.strip("\n").split("\n")
assert status == "200", status
assert [json.loads(line)["userId"] for line in lines] == ["u001", "u002"], lines
assert [len(json.loads(line)["recommendations"]) for line in lines] == [2, 1], lines' "$answer"
  answer="$(request POST "$base/invocations" '{"user_id": "u999", "k": 3}')"
  check "serve: unknown user is a JSON 404" json_check "$answer" 404 \
    'doc.get("detail") == "User '"'"'u999'"'"' not found"'
  answer="$(request GET "$base/no-such-route")"
  check "serve: unknown route is a 404" test "${answer%% *}" = 404
  check "serve: /docs is the Swagger UI page" page_check "$base/docs" swagger
  check "serve: /redoc is the ReDoc page" page_check "$base/redoc" redoc
  check "serve: the image's HEALTHCHECK passes" podman healthcheck run "$name" 2>/dev/null
  check "serve: the server (PID 1) runs as uid and gid 10001, not root" python3 -c '
import sys
ids = {line.split(":")[0]: line.split()[1:] for line in sys.argv[1].splitlines() if line.startswith(("Uid:", "Gid:"))}
assert ids == {"Uid": ["10001"] * 4, "Gid": ["10001"] * 4}, ids' "$(podman exec "$name" cat /proc/1/status)"
  check "serve: SIGTERM stops it cleanly within 30 s" stop_cleanly "$name"
}
timed "serve test" serve_test

# --- 6. train against a mounted /opt/ml, then serve what it trained ---------------------------
train_test() {
  local ml="$work/opt-ml" name="vr-container-test-trained-$$" port answer
  mkdir -p "$ml/input/data/train" "$ml/input/config" "$ml/model" "$ml/output"
  cp "$repo_root/data/interactions.csv" "$ml/input/data/train/"
  # The image runs as uid 10001, so the folders it writes must be its own; one it cannot write
  # fails the job with that reason.
  chmod 0755 "$ml" "$ml/model"
  chown 10001:10001 "$ml/output"
  if podman run --rm --pull=never -v "$ml:/opt/ml" "$image" train >"$work/train.log" 2>&1; then
    fail "train: a model folder the image's user cannot write fails the job"
  else
    check "train: a model folder the image's user cannot write fails the job, reason in /opt/ml/output/failure" \
      grep -q "/opt/ml/model is not writable by uid 10001" "$ml/output/failure"
  fi
  chown -R 10001:10001 "$ml/model"
  printf 'user_id,video_id,event,timestamp\nu777,v003,complete,2026-02-01T10:00:00Z\nu777,v004,like,2026-02-01T11:00:00Z\n' \
    > "$ml/input/data/train/more.csv"
  printf '{"bogus_parameter": "1"}\n' > "$ml/input/config/hyperparameters.json"
  if podman run --rm --pull=never -v "$ml:/opt/ml" "$image" train >"$work/train.log" 2>&1; then
    fail "train: an unknown hyperparameter fails the job"
  else
    check "train: an unknown hyperparameter fails the job, reason in /opt/ml/output/failure" \
      grep -q "unknown hyperparameter 'bogus_parameter'" "$ml/output/failure"
  fi
  printf '{"factors": "16", "iterations": "15", "regularization": "0.05", "seed": "7"}\n' \
    > "$ml/input/config/hyperparameters.json"
  if podman run --rm --pull=never -v "$ml:/opt/ml" "$image" train >"$work/train.log" 2>&1; then
    pass "train: exits 0 with the sample data and hyperparameters"
  else
    fail "train: exits 0"; tail -n 20 "$work/train.log"; return
  fi
  check "train: model dir written to /opt/ml/model" \
    test -s "$ml/model/ratings.csv" -a -s "$ml/model/mappings.bin" -a -s "$ml/model/als_model.bin"
  check "train: no failure file after success" test ! -e "$ml/output/failure"
  check "train: the model files belong to the image's user (uid 10001), not root" \
    test "$(stat -c '%u:%g' "$ml/model/ratings.csv" "$ml/model/mappings.bin" "$ml/model/als_model.bin" | sort -u)" = 10001:10001

  port="$(free_port)"
  start "$name" "$port" -v "$ml/model:/opt/ml/model:ro" -- serve || { fail "serve trained model: podman run"; return; }
  if ! wait_ready "$port"; then
    fail "serve trained model: /ping within 30 s"; podman logs "$name" 2>&1 | tail -n 20; return
  fi
  # u777 exists only in the trained data: the default model would answer 404.
  answer="$(request POST "http://127.0.0.1:$port/invocations" '{"user_id": "u777", "k": 2}')"
  check "serve trained model: answers for the user only it knows" json_check "$answer" 200 \
    '(doc["userId"] == "u777" and len(doc["recommendations"]) == 2
      and not {"v003", "v004"} & {r["videoId"] for r in doc["recommendations"]})'
  check "serve trained model: SIGTERM stops it cleanly within 30 s" stop_cleanly "$name"
}
timed "train test" train_test

# --- 7. model.tar.gz as SageMaker unpacks it, with the similar-video index and a catalog -------
# A model big enough for the index to matter (2,000 videos), indexed by the image's vr-index,
# with a catalog hiding one video, packed by scripts/sagemaker-deploy.sh's package step and
# unpacked into the folder mounted as /opt/ml/model. `serve --retrieval ann` refuses to start
# without a matching index, so an answer proves the index was loaded from the archive; the
# answer must be vr-recommend's from the same index, less the hidden video.
packaged_model_test() {
  local pm="$work/packaged" name="vr-container-test-packaged-$$" port answer hidden expected
  mkdir -p "$pm/model" "$pm/unpacked" "$pm/out"
  chown -R 10001:10001 "$pm"
  if ! podman run --rm --pull=never -v "$pm:/pm" --entrypoint bash "$image" -c '
      vr-generate --users 3000 --videos 2000 --events 60000 -o /pm/events.csv 2>/dev/null &&
      vr-features /pm/events.csv --dir /pm/model 2>/dev/null && vr-train --dir /pm/model --quiet &&
      vr-index --dir /pm/model 2>/dev/null &&
      vr-recommend --dir /pm/model --similar v0280 -k 6 --retrieval ann > /pm/similar-ann.tsv' \
      >"$pm/make.log" 2>&1; then
    fail "packaged model: the image's vr-generate, vr-features, vr-train, vr-index"; tail -n 10 "$pm/make.log"; return
  fi
  hidden="$(sed -n 2p "$pm/similar-ann.tsv" | cut -f1)"
  printf 'video_id,title,hidden\n%s,Taken down,true\n' "$hidden" > "$pm/model/videos.csv"
  if ! bash "$repo_root/scripts/sagemaker-deploy.sh" --model-dir "$pm/model" --out "$pm/out" package \
      >"$pm/package.log" 2>&1; then
    fail "packaged model: sagemaker-deploy.sh package"; tail -n 5 "$pm/package.log"; return
  fi
  check "packaged model: model.tar.gz carries the model, ann_index.bin and videos.csv" test \
    "$(tar -tzf "$pm/out/model.tar.gz" | sort | tr '\n' ' ')" = "als_model.bin ann_index.bin mappings.bin ratings.csv videos.csv "
  tar -xzf "$pm/out/model.tar.gz" -C "$pm/unpacked"
  port="$(free_port)"
  start "$name" "$port" -v "$pm/unpacked:/opt/ml/model:ro" -- serve --retrieval ann \
    || { fail "packaged model: podman run serve --retrieval ann"; return; }
  if ! wait_ready "$port"; then
    fail "packaged model: /ping within 30 s with --retrieval ann"; podman logs "$name" 2>&1 | tail -n 20; return
  fi
  # vr-recommend's six from the index, the hidden one removed: the server's five.
  expected="$(cut -f1 "$pm/similar-ann.tsv" | grep -vx "$hidden" | head -n 5 | tr '\n' ' ')"
  answer="$(request POST "http://127.0.0.1:$port/invocations" '{"similar_to": "v0280", "k": 5}')"
  check "packaged model: similar videos from the archive's index, the catalog's hidden video left out" \
    json_check "$answer" 200 '" ".join(r["videoId"] for r in doc["recommendations"]) + " " == args[0]' "$expected"
  check "packaged model: the hidden video is the index's second answer, so the catalog mattered" \
    test -n "$hidden" -a "$hidden" != v0280
  check "packaged model: SIGTERM stops it cleanly within 30 s" stop_cleanly "$name"
}
timed "packaged model test" packaged_model_test

# --- 8. train on three hosts, as a SageMaker multi-instance job --------------------------------
# Three containers of the image named algo-1..3 on a podman network made for the test (fixed
# addresses and --add-host: Debian's podman has no DNS plugin), each with its own
# resourceconfig.json, its own shard of the data (ShardedByS3Key) and the mappings
# (FullyReplicated). The leader's sshd-and-mpirun job across them, run as the image's user,
# must write the model the image's single-process vr-train writes from the same shards.
multihost_train_test() {
  local mh="$work/multihost" net="vr-container-test-$$" prefix host index status
  local hosts=(algo-1 algo-2 algo-3) add_hosts=() statuses=()
  mkdir -p "$mh/data"
  chown 10001:10001 "$mh/data"
  if ! podman run --rm --pull=never -v "$mh/data:/data" --entrypoint bash "$image" -c '
      vr-generate --users 800 --videos 300 --events 12000 -o /data/events.csv 2>/dev/null &&
      vr-features /data/events.csv --dir /data/shards --shards 3 2>/dev/null &&
      vr-train --dir /data/shards --iterations 4 --threads 1 --quiet --model /data/single-process.bin &&
      mpirun --oversubscribe -np 3 vr-train --dir /data/shards --iterations 4 --threads 1 --quiet \
        --model /data/three-processes.bin' \
      >"$mh/reference.log" 2>&1; then
    fail "train on three hosts: the single-process reference"; tail -n 20 "$mh/reference.log"; return
  fi
  # A /24 of 10.213.0.0/16 that no other network here uses.
  for index in $(seq $(($$ % 200)) 255) $(seq 0 $(($$ % 200))); do
    prefix="10.213.$index"
    podman network create --subnet "$prefix.0/24" "$net" >/dev/null 2>&1 && break
    prefix=""
  done
  [ -n "$prefix" ] || { fail "train on three hosts: podman network create"; return; }
  networks+=("$net")
  for index in 1 2 3; do add_hosts+=(--add-host "algo-$index:$prefix.1$index"); done
  for index in 1 2 3; do
    host="algo-$index"
    local ml="$mh/$host"
    mkdir -p "$ml/input/config" "$ml/input/data/train" "$ml/input/data/mappings" "$ml/model" "$ml/output"
    printf '{"current_host": "%s", "hosts": ["algo-1", "algo-2", "algo-3"], "network_interface_name": "eth0"}\n' \
      "$host" > "$ml/input/config/resourceconfig.json"
    printf '{"iterations": "4", "threads": "1", "processes_per_host": "1"}\n' > "$ml/input/config/hyperparameters.json"
    cp "$mh/data/shards/mappings.bin" "$mh/data/shards/ratings-shards.json" "$ml/input/data/mappings/"
    cp "$mh/data/shards/ratings-0000$((index - 1))-of-00003.csv" "$ml/input/data/train/"
    chown -R 10001:10001 "$ml"
    containers+=("vr-container-test-$$-$host")
    podman run -d --pull=never --name "vr-container-test-$$-$host" --hostname "$host" \
      --network "$net" --ip "$prefix.1$index" "${add_hosts[@]}" -v "$ml:/opt/ml" "$image" train \
      >/dev/null 2>"$mh/$host.run.log" || { fail "train on three hosts: podman run $host"; cat "$mh/$host.run.log"; return; }
  done
  for host in "${hosts[@]}"; do
    status="$(timeout 300 podman wait "vr-container-test-$$-$host" 2>/dev/null)" || status=timeout
    statuses+=("$status")
    podman logs "vr-container-test-$$-$host" > "$mh/$host.log" 2>&1
  done
  check "train on three hosts: algo-1 (the leader) exits 0" test "${statuses[0]}" = 0
  check "train on three hosts: algo-2 and algo-3 (workers) exit 0" test "${statuses[1]} ${statuses[2]}" = "0 0"
  check "train on three hosts: the leader ran mpirun over the three hosts" \
    grep -q "leader: mpirun -np 3 over algo-1 algo-2 algo-3" "$mh/algo-1.log"
  for host in algo-2 algo-3; do
    check "train on three hosts: $host ran the leader's process and heard that the job succeeded" \
      grep -Eq "the leader's job has ended \\(([3-9]|[1-9][0-9]+) ssh logins from it\\); its exit status: 0$" "$mh/$host.log"
  done
  # Every -np gives the same factors bit for bit; the model file also records each
  # iteration's loss, a sum whose last bits depend on how the processes split it.
  check "train on three hosts: the model equals mpirun -np 3 vr-train's on one host, byte for byte" \
    cmp -s "$mh/algo-1/model/als_model.bin" "$mh/data/three-processes.bin"
  mkdir -p "$mh/data/single-process"
  cp "$mh/algo-1/model/ratings.csv" "$mh/algo-1/model/mappings.bin" "$mh/data/single-process/"
  cp "$mh/data/single-process.bin" "$mh/data/single-process/als_model.bin"
  chown -R 10001:10001 "$mh/data/single-process"
  podman run --rm --pull=never -v "$mh:/mh" --entrypoint bash "$image" -c '
      vr-recommend --dir /mh/algo-1/model --all-users -k 10 > /mh/data/three-hosts.top10 &&
      vr-recommend --dir /mh/data/single-process --all-users -k 10 > /mh/data/single-process.top10' \
    >"$mh/recommend.log" 2>&1 || { fail "train on three hosts: vr-recommend --all-users"; tail -n 5 "$mh/recommend.log"; }
  check "train on three hosts: every user's top 10 equals the single-process model's" \
    cmp -s "$mh/data/three-hosts.top10" "$mh/data/single-process.top10"
  check "train on three hosts: the top 10 lists cover every user" \
    test "$(wc -l < "$mh/data/three-hosts.top10")" -ge 797
  check "train on three hosts: the leader's model dir has ratings.csv, mappings.bin and als_model.bin" \
    test "$(ls "$mh/algo-1/model" | tr '\n' ' ')" = "als_model.bin mappings.bin ratings.csv "
  check "train on three hosts: no failure file on any host" \
    test -z "$(ls "$mh"/algo-*/output/failure 2>/dev/null)"
  if [ "${statuses[*]}" != "0 0 0" ]; then
    for host in "${hosts[@]}"; do echo "--- $host (exit ${statuses[$((${host#algo-} - 1))]})"; tail -n 15 "$mh/$host.log"; done
  fi
  for host in "${hosts[@]}"; do podman rm -f -t 0 "vr-container-test-$$-$host" >/dev/null 2>&1 || true; done
  podman network rm -f "$net" >/dev/null 2>&1 || true
}
timed "train on three hosts" multihost_train_test

# --- 9. Figures -------------------------------------------------------------------------------
printf '\ncontainer-test: image %s: %s bytes (%s MB)\n' "$image" "$image_bytes" "$((image_bytes / 1000000))"
for timing in "${timings[@]}"; do printf 'container-test: time %s\n' "$timing"; done
printf 'container-test: total %s s\n' "$((SECONDS - started))"
if [ $failures -gt 0 ]; then
  printf 'container-test: %d check(s) failed\n' "$failures"
  exit 1
fi
printf 'container-test: all checks passed\n'
