# shellcheck shell=bash
# shellcheck disable=SC2154  # conf_dir and work are set by the caller
# Sourced by scripts/container-test.sh and scripts/package-test.sh: podman set up as vr's tests
# need it, and the local Debian 12 base images made from Debian's archive with mmdebstrap.
#
# The caller defines log MESSAGE and skip REASON (exits 77), and sets conf_dir (where the
# podman settings go), work (a scratch folder) and debian_sources (mmdebstrap's sources).
#   podman_prepare                       installs the packages, writes the settings, checks podman
#   make_base IMAGE [mmdebstrap opts]    makes IMAGE unless present (VR_CONTAINER_REBUILD_BASES=1
#                                        remakes it; VR_CONTAINER_NO_BASES=skip skips instead)
#   make_slim_base                       debian:bookworm-slim (minbase, docs excluded as in
#                                        Docker's slim image)

# Debian's archive, for mmdebstrap.
debian_sources=(
  "deb http://deb.debian.org/debian bookworm main"
  "deb http://deb.debian.org/debian bookworm-updates main"
  "deb http://deb.debian.org/debian-security bookworm-security main"
)

# Steps 1 and 2: packages, then podman settings outside the repository.
podman_prepare() {
  local package needed missing=()
  needed=(podman runc containernetworking-plugins iptables mmdebstrap curl python3)
  for package in "${needed[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || skip "no apt-get to install ${missing[*]}"
    if [ "$(id -u)" -eq 0 ]; then as_root=(); elif command -v sudo >/dev/null; then as_root=(sudo -n); else
      skip "not root and no sudo: cannot install ${missing[*]}"; fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! { "${as_root[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null \
            && "${as_root[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
                 --no-install-recommends "${missing[@]}" >/dev/null; }; then
      skip "could not install ${missing[*]} from Debian's archive"
    fi
  fi
  [ "$(id -u)" -eq 0 ] || skip "rootful podman needed (mmdebstrap and the overlay storage): run as root"

  mkdir -p "$conf_dir"
  cat > "$conf_dir/containers.conf" <<'EOF'
# Written by vr's scripts/podman-base.sh.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
  cat > "$conf_dir/storage.conf" <<EOF
# Written by vr's scripts/podman-base.sh.
[storage]
driver = "overlay"
runroot = "${VR_PODMAN_RUNROOT:-/run/containers/storage}"
graphroot = "${VR_PODMAN_GRAPHROOT:-/var/lib/containers/storage}"
EOF
  export CONTAINERS_CONF="$conf_dir/containers.conf"
  export CONTAINERS_STORAGE_CONF="$conf_dir/storage.conf"
  podman info >/dev/null 2>&1 || skip "podman cannot start here: $(podman info 2>&1 | tail -n 1)"
}

make_base() {  # make_base IMAGE [mmdebstrap options...]
  local name="$1"; shift
  if podman image exists "$name" && [ "${VR_CONTAINER_REBUILD_BASES:-0}" != 1 ]; then
    log "$name is present"
    return 0
  fi
  if [ "${VR_CONTAINER_NO_BASES:-}" = skip ]; then
    skip "base image $name is not made yet; \`make container-test\` makes it (about 7 minutes on 2 cores), after which this test runs"
  fi
  log "making $name with mmdebstrap (minutes)"
  mmdebstrap --variant=minbase --format=tar --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
      "$@" bookworm "$work/base.tar" "${debian_sources[@]}" </dev/null >"$work/mmdebstrap.log" 2>&1 \
    || { tail -n 20 "$work/mmdebstrap.log" >&2; skip "mmdebstrap could not make $name (is Debian's archive reachable?)"; }
  podman import --change 'CMD ["bash"]' "$work/base.tar" "$name" >/dev/null
  rm -f "$work/base.tar"
}
make_slim_base() {
  make_base docker.io/library/debian:bookworm-slim \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*'
}
