#!/usr/bin/env bash
# Installs the Debian packages vr needs to build, test and run, but only those missing.
# Idempotent and silent when everything is present; works as root or through sudo.
# Usage: scripts/install-deps.sh [extra-package ...]
set -euo pipefail

packages=(
  build-essential cmake make pkg-config
  libcli11-dev libeigen3-dev libfccp-dev libcereal-dev libcpp-httplib-dev libhnswlib-dev
  nlohmann-json3-dev catch2
  libopenmpi-dev openmpi-bin libhnswlib-dev
  libopenblas-dev
  openssh-server openssh-client jq procps
  curl python3 help2man
  nodejs npm chromium wrk
)
packages+=("$@")

# Some machines carry Node.js from another source (e.g. NodeSource's nodejs, which bundles
# npm and conflicts with Debian's npm package): a working command counts as installed.
declare -A command_of=([nodejs]=node [npm]=npm [chromium]=chromium [wrk]=wrk)

missing=()
for package in "${packages[@]}"; do
  if [ -n "${command_of[$package]:-}" ] && command -v "${command_of[$package]}" >/dev/null 2>&1; then
    continue
  fi
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-deps: missing packages (${missing[*]}) and not root; install them or run with sudo" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# No service is started by the install: openssh-server is here for the multi-host training
# tests, which run their own sshd on loopback, not for a daemon on port 22. Debian's
# policy-rc.d hook denies the start; it is put in place only for the install, and only when
# the machine has none of its own.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  "${as_root[@]}" sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
  trap '"${as_root[@]}" rm -f "$policy"' EXIT
fi
"${as_root[@]}" apt-get update -qq >/dev/null
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
