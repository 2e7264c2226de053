#!/usr/bin/env bash
# The container test (scripts/container-test.sh) as a CTest test: builds docker/Dockerfile
# with podman, then serves, trains and stops the image for real.
#
# Skipped (exit 77, with a visible SKIP line) where podman cannot run containers, where
# Debian's archive cannot be reached, when VR_SKIP_CONTAINER_TEST=1, and, on a developer's
# machine, while the local base images are not made yet: making them takes about 7 minutes
# on 2 cores, so run `make container-test` once (or set VR_CONTAINER_TEST_FULL=1) and this
# test runs from then on. Under CI=true it always runs: it makes the base images when they
# are missing, and a skip fails. About 10 s when the image layers are cached, about 7 minutes
# when C++ sources changed (the image compiles vr from scratch), about 14 minutes on a
# machine without the base images.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/support/skip.sh"
repo_root="${VR_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
if [ "${VR_SKIP_CONTAINER_TEST:-0}" = 1 ]; then
  skip "container test: VR_SKIP_CONTAINER_TEST=1"
fi
if [ "${VR_CONTAINER_TEST_FULL:-0}" != 1 ] && [ "${CI:-}" != true ]; then
  export VR_CONTAINER_NO_BASES=skip
fi
exec "$repo_root/scripts/container-test.sh"
