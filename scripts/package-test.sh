#!/usr/bin/env bash
# shellcheck disable=SC2016  # in_container and bash -c snippets expand inside the container
# The Debian package on a clean system (part of `make container-test`): installs
# build-package/vr_<version>_amd64.deb with `apt-get install ./vr_*.deb` in a fresh Debian 12
# container made from the same local base image as the container test (debian:bookworm-slim,
# scripts/podman-base.sh), then
#   1. the six tools, vr-pipeline, man pages, completions, units and settings are installed,
#      the user `vr` exists and the maintainer scripts ran;
#   2. vr-pipeline trains a model from the bundled sample data as the user vr;
#   3. vr-serve, as vr, through the unit's ExecStart helper with /etc/default/vr-serve's
#      settings: /ping, one /invocations, the dashboard's /ui;
#   4. a missing /etc/default value: one clear line and exit status 78 (which the unit does not
#      restart), for vr-serve and vr-pipeline;
#   5. `man vr-train` renders, and bash completion loads and completes vr-train's options;
#   6. the maintainer scripts are idempotent: reinstall over itself, remove, install again,
#      then purge;
#   7. after the purge nothing of the package is left but the models the user made;
#   8. under systemd (a second fresh container, the same base plus systemd as init): a missing
#      model is one line in the journal and exit status 78 with no restart; vr-pipeline.service
#      trains; vr-serve.service serves as vr; `systemctl reload` reloads the model (SIGHUP); a
#      killed server is restarted; the timer is scheduled; purge stops everything.
# The units are also checked with systemd-analyze verify on the host when it has systemd.
#
# Builds the package first (make package) unless VR_DEB names one. Exit status: 0 passed,
# 1 failed, 77 skipped (no podman, no base image with VR_CONTAINER_NO_BASES=skip, no archive).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
conf_dir="${VR_PODMAN_CONF_DIR:-${XDG_CONFIG_HOME:-$HOME/.config}/vr-podman}"
base="docker.io/library/debian:bookworm-slim"
started=$SECONDS

log() { printf 'package-test: %s\n' "$*" >&2; }
skip() {
  if [ "${CI:-}" = true ]; then
    printf 'package-test: FAILED: the package test would be skipped (%s), and CI=true must run it\n' "$*" >&2
    exit 1
  fi
  printf '\n*** SKIP: package test: %s ***\n\n' "$*"
  exit 77
}
failures=0
pass() { printf 'package-test: ok   %s\n' "$*"; }
fail() { printf 'package-test: FAIL %s\n' "$*"; failures=$((failures + 1)); }
check() {  # check DESCRIPTION COMMAND...
  local description="$1"; shift
  if "$@"; then pass "$description"; else fail "$description"; fi
}

# One podman test at a time on a machine (they share podman's storage).
exec 9> /tmp/vr-container-test.lock
flock 9

work="$(mktemp -d /tmp/vr-package-test.XXXXXX)"
container="vr-package-test-$$"
systemd_container="vr-package-test-systemd-$$"
cleanup() {
  local name
  for name in "$container" "$systemd_container"; do
    podman container exists "$name" 2>/dev/null && { podman rm -f -t 0 "$name" >/dev/null || log "could not remove container $name"; }
  done
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=scripts/podman-base.sh
source "$repo_root/scripts/podman-base.sh"
podman_prepare
make_slim_base

# --- The package --------------------------------------------------------------------------------
deb="${VR_DEB:-}"
if [ -z "$deb" ]; then
  log "building the package (make package)"
  package_started=$SECONDS
  make -C "$repo_root" package >"$work/package.log" 2>&1 || { tail -n 30 "$work/package.log"; echo "package-test: FAIL make package"; exit 1; }
  log "make package took $((SECONDS - package_started)) s"
  deb="$(find "$repo_root/build-package" -maxdepth 1 -name 'vr_*_amd64.deb' | head -n 1)"
fi
[ -f "$deb" ] || { echo "package-test: FAIL no package at '$deb'"; exit 1; }
log "package $(basename "$deb"): $(stat -c %s "$deb") bytes"
check "Depends, from dpkg-shlibdeps, names libcpp-httplib0.11: $(dpkg-deb --field "$deb" Depends)" \
  grep -q 'libcpp-httplib0.11' <<< "$(dpkg-deb --field "$deb" Depends)"
mkdir -p "$work/unpacked"
dpkg-deb -x "$deb" "$work/unpacked"
if command -v objdump >/dev/null; then
  check "binaries are portable amd64 code (no AVX/AVX-512: -DVR_NATIVE=OFF)" \
    bash -c '! objdump -d "$1"/usr/bin/vr-serve "$1"/usr/bin/vr-train | grep -q -E "%(ymm|zmm)[0-9]"' _ "$work/unpacked"
fi
if command -v systemd-analyze >/dev/null; then
  # verify resolves ExecStart against this machine: point it at the unpacked helpers.
  mkdir -p "$work/units"
  for unit in vr-serve.service vr-pipeline.service vr-pipeline.timer; do
    sed "s|/usr/libexec/vr/|$work/unpacked/usr/libexec/vr/|" "$work/unpacked/usr/lib/systemd/system/$unit" > "$work/units/$unit"
  done
  check "systemd-analyze verify: the three units" \
    bash -c 'out=$(cd "$1" && systemd-analyze verify --man=no ./vr-serve.service ./vr-pipeline.service ./vr-pipeline.timer 2>&1 | grep -v "User=vr\|Group=vr\|not found" || true); [ -z "$out" ] || { echo "$out"; false; }' _ "$work/units"
fi
cp "$deb" "$work/"

# --- A fresh container -----------------------------------------------------------------------
# (9>&-: the container's monitor process must not inherit, and hold, the lock above.)
podman run -d --pull=never --name "$container" --network=host -v "$work:/pkg:ro" "$base" sleep infinity >/dev/null 9>&- \
  || skip "podman cannot run a container here"
in_container() { podman exec -i "$container" bash -euo pipefail -c "$1"; }

# The slim image excludes man pages (like Docker's); a real system keeps them.
in_container 'rm -f /etc/dpkg/dpkg.cfg.d/99mmdebstrap' || true
install_started=$SECONDS
if in_container "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq >/dev/null
                 cd /pkg && apt-get install -y -qq ./$(basename "$deb") man-db bash-completion curl python3 procps >/tmp/apt.log 2>&1 || { tail -n 20 /tmp/apt.log; false; }"; then
  pass "apt-get install ./$(basename "$deb") in a fresh Debian 12 container ($((SECONDS - install_started)) s with its dependencies)"
else
  fail "apt-get install ./$(basename "$deb")"; exit 1
fi

# --- 1. What got installed -------------------------------------------------------------------
check "the tools and vr-pipeline are on PATH" in_container '
  for tool in vr-features vr-train vr-recommend vr-evaluate vr-generate vr-serve vr-pipeline; do command -v $tool >/dev/null; done
  vr-train --version'
check "man pages, completions, units, settings, examples installed" in_container '
  for page in vr-features vr-train vr-recommend vr-evaluate vr-generate vr-serve vr-pipeline; do
    test -s /usr/share/man/man1/$page.1.gz -o -s /usr/share/man/man1/$page.1
    test -s /usr/share/bash-completion/completions/$page
  done
  test -f /usr/lib/systemd/system/vr-serve.service -a -f /usr/lib/systemd/system/vr-pipeline.service -a -f /usr/lib/systemd/system/vr-pipeline.timer
  test -f /etc/default/vr-serve -a -f /etc/default/vr-pipeline
  test -s /usr/share/vr/examples/interactions.csv -a -s /usr/share/vr/docs/swagger-ui-bundle.js'
check "postinst made the system user vr and /var/lib/vr" in_container '
  getent passwd vr | grep -q ":/var/lib/vr:/usr/sbin/nologin$"; test "$(stat -c %U /var/lib/vr/models)" = vr'

# --- 2. The pipeline as vr, on the bundled data -----------------------------------------------
check "vr-pipeline as vr through the unit's helper (/etc/default/vr-pipeline)" in_container '
  sed -i "s|^VR_PIPELINE_INPUT=.*|VR_PIPELINE_INPUT=/usr/share/vr/examples/interactions.csv|" /etc/default/vr-pipeline
  set -a; . /etc/default/vr-pipeline; set +a
  runuser -u vr -- /usr/libexec/vr/vr-pipeline-start 2>/tmp/pipeline.log || { cat /tmp/pipeline.log; false; }
  test -s /var/lib/vr/models/current/als_model.bin -a -s /var/lib/vr/models/current/metadata.json
  test "$(stat -c %U /var/lib/vr/models/current/als_model.bin)" = vr'

# --- 3. vr-serve as vr ----------------------------------------------------------------------------
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
check "vr-serve starts as vr through the unit's helper (/etc/default/vr-serve)" in_container "
  sed -i 's|^VR_SERVE_ARGS=.*|VR_SERVE_ARGS=\"--host 127.0.0.1 --port $port --titles /usr/share/vr/examples/videos.csv\"|' /etc/default/vr-serve
  set -a; . /etc/default/vr-serve; set +a
  setsid runuser -u vr -- /usr/libexec/vr/vr-serve-start >/tmp/serve.log 2>&1 < /dev/null &
  for i in \$(seq 100); do curl -sf http://127.0.0.1:$port/ping >/dev/null && exit 0; sleep 0.2; done
  cat /tmp/serve.log; false"
check "/ping answers ok" in_container "curl -sf http://127.0.0.1:$port/ping | grep -q '\"ok\"'"
check "one /invocations answers u001 with 3 videos" in_container "
  curl -sf -H 'Content-Type: application/json' -d '{\"user_id\": \"u001\", \"k\": 3}' http://127.0.0.1:$port/invocations \
    | python3 -c 'import json, sys; doc = json.load(sys.stdin); assert doc[\"userId\"] == \"u001\" and len(doc[\"recommendations\"]) == 3, doc'"
check "the dashboard answers /ui and its model card" in_container "
  curl -sf http://127.0.0.1:$port/ui | grep -q 'vr dashboard'
  curl -sf http://127.0.0.1:$port/ui/api/model | python3 -c 'import json, sys; doc = json.load(sys.stdin); assert doc[\"kind\"] == \"als\" and doc[\"pipeline\"], doc'"
check "vr-serve runs as vr" in_container 'test "$(ps -o user= -C vr-serve | tr -d " ")" = vr' 
check "vr-serve stops on SIGTERM" \
  in_container 'kill -TERM $(pgrep -x vr-serve); for i in $(seq 50); do pgrep -x vr-serve >/dev/null || exit 0; sleep 0.2; done; false'

# --- 4. Missing settings: a clear line and exit status 78, never a restart loop -------------------
missing_setting() {  # missing_setting HELPER VARIABLE EXPECTED_TEXT
  local output status=0
  output="$(podman exec "$container" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin runuser -u vr -- "/usr/libexec/vr/$1" 2>&1)" || status=$?
  if [ "$status" != 78 ] || ! grep -q "$3" <<< "$output"; then echo "status $status: $output"; return 1; fi
}
check "vr-serve without VR_MODEL_DIR: one clear line, exit 78" \
  missing_setting vr-serve-start VR_MODEL_DIR "VR_MODEL_DIR is not set: set it in /etc/default/vr-serve"
check "vr-pipeline without VR_PIPELINE_INPUT: one clear line, exit 78" \
  missing_setting vr-pipeline-start VR_PIPELINE_INPUT "VR_PIPELINE_INPUT is not set: set it in /etc/default/vr-pipeline"
check "vr-serve.service does not restart on exit status 78" \
  grep -q '^RestartPreventExitStatus=78' "$work/unpacked/usr/lib/systemd/system/vr-serve.service"

# --- 5. man and completion --------------------------------------------------------------------
check "man vr-train renders, with --factors" in_container 'MANWIDTH=100 man vr-train 2>/dev/null | col -b | grep -- "--factors" >/dev/null'
check "bash completion loads and completes vr-train --fa" in_container '
  set +euo pipefail  # bash_completion is not written for set -u
  source /usr/share/bash-completion/bash_completion
  _completion_loader vr-train
  COMP_WORDS=(vr-train --fa); COMP_CWORD=1
  $(complete -p vr-train | sed -E "s/.* -F ([^ ]+) .*/\1/") vr-train --fa vr-train
  test "${COMPREPLY[*]}" = --factors'

# --- 6. Idempotent maintainer scripts -----------------------------------------------------------
check "reinstall over itself" in_container "apt-get install -y -qq --reinstall /pkg/$(basename "$deb") >/dev/null 2>&1 && getent passwd vr >/dev/null"
check "settings survive a reinstall (conffiles)" in_container 'grep -q "^VR_PIPELINE_INPUT=/usr/share/vr/examples/interactions.csv" /etc/default/vr-pipeline'
check "remove, then install again" in_container "
  apt-get remove -y -qq vr >/dev/null 2>&1; ! command -v vr-serve >/dev/null || exit 1; test -f /etc/default/vr-serve
  apt-get install -y -qq /pkg/$(basename "$deb") >/dev/null 2>&1; command -v vr-serve >/dev/null"
check "postinst runs twice without harm" in_container '/var/lib/dpkg/info/vr.postinst configure && /var/lib/dpkg/info/vr.postinst configure'

# --- 7. Purge: nothing left but the user's models ------------------------------------------------
check "purge" in_container 'cp /var/lib/dpkg/info/vr.postrm /tmp/vr.postrm; apt-get purge -y -qq vr >/dev/null 2>&1'
check "nothing of the package is left" in_container '
  ! dpkg -s vr >/dev/null 2>&1 || exit 1
  left=$(ls -d /usr/bin/vr-* /usr/libexec/vr /usr/share/vr /usr/share/doc/vr /usr/share/man/man1/vr-* \
           /usr/share/bash-completion/completions/vr-* /usr/lib/systemd/system/vr-* /etc/default/vr-serve \
           /etc/default/vr-pipeline 2>/dev/null || true)
  [ -z "$left" ] || { echo "left: $left"; exit 1; }
  ! getent passwd vr >/dev/null || exit 1
  ! getent group vr >/dev/null'
check "the models the user made are kept" in_container 'test -s /var/lib/vr/models/current/als_model.bin -a -s /var/lib/vr/models/current/metadata.json'
check "postrm purge runs again without harm" in_container '/tmp/vr.postrm purge && test -s /var/lib/vr/models/current/als_model.bin'

# --- 8. Under systemd -----------------------------------------------------------------------------
podman rm -f -t 0 "$container" >/dev/null 2>&1 || true
systemd_image=localhost/vr-package-test-systemd:latest
base_id="$(podman image inspect --format '{{.Id}}' "$base")"
# The base plus systemd as init, made once per base image and reused (about 80 s to make).
if [ "$(podman image inspect --format '{{index .Config.Labels "vr.base"}}' "$systemd_image" 2>/dev/null)" != "$base_id" ]; then
  log "making $systemd_image (the base plus systemd)"
  printf '%s\n' "FROM $base" \
    'RUN rm -f /etc/dpkg/dpkg.cfg.d/99mmdebstrap && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd systemd-sysv curl procps >/dev/null && rm -rf /var/lib/apt/lists/*' \
    "LABEL vr.base=$base_id" > "$work/Containerfile.systemd"
  podman build --pull=never --network=host -q -t "$systemd_image" -f "$work/Containerfile.systemd" "$work" >/dev/null \
    || { fail "making the systemd image"; systemd_image=""; }
fi
if [ -n "$systemd_image" ] && podman run -d --pull=never --name "$systemd_container" --systemd=always --network=host \
     -v "$work:/pkg:ro" "$systemd_image" /sbin/init >/dev/null 2>"$work/systemd-run.log" 9>&-; then
  in_systemd() { podman exec -i "$systemd_container" bash -euo pipefail -c "$1"; }
  for _ in $(seq 50); do
    state="$(podman exec "$systemd_container" systemctl is-system-running 2>/dev/null || true)"
    [ "$state" = running ] || [ "$state" = degraded ] && break
    sleep 0.2
  done
  check "systemd: apt-get install ./$(basename "$deb") with systemd running" in_systemd "
    export DEBIAN_FRONTEND=noninteractive; apt-get update -qq >/dev/null
    cd /pkg && apt-get install -y -qq ./$(basename "$deb") >/tmp/apt.log 2>&1 || { tail -n 20 /tmp/apt.log; false; }"
  check "systemd: vr-serve.service without a model: one line in the journal, status 78, no restart" in_systemd '
    systemctl start vr-serve || true
    sleep 7  # longer than RestartSec
    test "$(systemctl show vr-serve -p ExecMainStatus --value)" = 78
    test "$(systemctl show vr-serve -p NRestarts --value)" = 0
    journalctl -u vr-serve --no-pager | grep "vr-serve: no model in /var/lib/vr/models/current (als_model.bin is missing)" >/dev/null'
  check "systemd: vr-pipeline.service trains from /etc/default/vr-pipeline" in_systemd '
    sed -i "s|^VR_PIPELINE_INPUT=.*|VR_PIPELINE_INPUT=/usr/share/vr/examples/interactions.csv|" /etc/default/vr-pipeline
    systemctl start vr-pipeline
    test "$(systemctl show vr-pipeline -p Result --value)" = success
    test -s /var/lib/vr/models/current/als_model.bin'
  check "systemd: vr-serve.service serves as vr" in_systemd "
    sed -i 's|^VR_SERVE_ARGS=.*|VR_SERVE_ARGS=\"--host 127.0.0.1 --port $port\"|' /etc/default/vr-serve
    systemctl reset-failed vr-serve; systemctl start vr-serve
    for i in \$(seq 100); do curl -sf http://127.0.0.1:$port/ping >/dev/null && break; sleep 0.2; done
    curl -sf http://127.0.0.1:$port/ping | grep -q ok
    test \"\$(ps -o user= -p \$(systemctl show vr-serve -p MainPID --value) | tr -d ' ')\" = vr"
  check "systemd: systemctl reload vr-serve reloads the model (SIGHUP)" in_systemd '
    systemctl reload vr-serve
    for i in $(seq 50); do journalctl -u vr-serve --no-pager | grep "\"trigger\":\"SIGHUP\"" >/dev/null && exit 0; sleep 0.2; done
    false'
  check "systemd: a killed vr-serve is restarted (Restart=on-failure)" in_systemd "
    systemctl kill -s KILL vr-serve
    sleep 7
    test \"\$(systemctl show vr-serve -p NRestarts --value)\" = 1
    for i in \$(seq 100); do curl -sf http://127.0.0.1:$port/ping >/dev/null && exit 0; sleep 0.2; done
    false"
  # What systemctl said is printed when the check fails; no `| grep -q` under pipefail (grep
  # leaving early can end systemctl with SIGPIPE, failing a passing check).
  check "systemd: vr-pipeline.timer is scheduled nightly" in_systemd '
    said=$(systemctl enable --now vr-pipeline.timer 2>&1) || { echo "$said"; exit 1; }
    systemctl is-active --quiet vr-pipeline.timer || { systemctl status --no-pager vr-pipeline.timer; exit 1; }
    timers=$(systemctl list-timers --no-pager --all)
    grep -q "vr-pipeline.timer" <<<"$timers" || { echo "$timers"; exit 1; }
    test "$(systemctl show vr-pipeline.timer -p TimersCalendar --value | grep -o "OnCalendar=[^;]*" | sed "s/ *$//")" = \
      "OnCalendar=*-*-* 03:00:00" || { systemctl show vr-pipeline.timer -p TimersCalendar; exit 1; }'
  check "systemd: purge stops the services and drops the timer" in_systemd '
    apt-get purge -y -qq vr >/dev/null 2>&1
    ! systemctl is-active --quiet vr-serve || exit 1
    ! systemctl is-active --quiet vr-pipeline.timer || exit 1
    test ! -e /etc/systemd/system/timers.target.wants/vr-pipeline.timer'
else
  fail "systemd: podman cannot run systemd as init here: $(tail -n 1 "$work/systemd-run.log" 2>/dev/null)"
fi

printf 'package-test: total %s s\n' "$((SECONDS - started))"
if [ $failures -gt 0 ]; then
  printf 'package-test: %d check(s) failed\n' "$failures"
  exit 1
fi
printf 'package-test: all checks passed\n'
