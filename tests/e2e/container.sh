#!/usr/bin/env bash
# The container test (scripts/container-test.sh) as a CTest test: builds docker/Dockerfile
# with podman and serves, trains and stops the image for real. Exits 77 (skipped, with a
# visible SKIP line) where podman cannot run containers, where Debian's archive cannot be
# reached for the base images, or when VR_SKIP_CONTAINER_TEST=1.
# First run on a new machine: about 15 minutes on 2 cores (base images, then the image);
# later runs reuse podman's base images and layer cache (see the README's container section).
set -euo pipefail
repo_root="${VR_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
if [ "${VR_SKIP_CONTAINER_TEST:-0}" = 1 ]; then
  echo "*** SKIP: container test: VR_SKIP_CONTAINER_TEST=1 ***"
  exit 77
fi
exec "$repo_root/scripts/container-test.sh"
