#!/usr/bin/env bash
# The package test (scripts/package-test.sh) as a CTest test: builds the Debian package
# (make package, in build-package/), installs it in a fresh Debian 12 container, runs the
# pipeline and the server from it, purges it.
#
# Skipped (exit 77, with a visible SKIP line) where podman cannot run containers, where
# Debian's archive cannot be reached, when VR_SKIP_CONTAINER_TEST=1, and, on a developer's
# machine, while the local base image is not made yet (as for the container test:
# `make container-test` makes it once, in about 7 minutes; or set VR_CONTAINER_TEST_FULL=1).
# Under CI=true it always runs: it makes the base image when missing, and a skip fails.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/support/skip.sh"
repo_root="${VR_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
if [ "${VR_SKIP_CONTAINER_TEST:-0}" = 1 ]; then
  skip "package test: VR_SKIP_CONTAINER_TEST=1"
fi
if [ "${VR_CONTAINER_TEST_FULL:-0}" != 1 ] && [ "${CI:-}" != true ]; then
  export VR_CONTAINER_NO_BASES=skip
fi
exec "$repo_root/scripts/package-test.sh"
