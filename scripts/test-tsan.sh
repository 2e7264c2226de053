#!/usr/bin/env bash
# The multithreaded code under ThreadSanitizer (build-tsan/, VR_TSAN=ON): the server (the real
# vr-serve, its service logic, hot reload under load), multithreaded training (ALS with several
# threads, same result whatever the thread count), the multithreaded recommender (--all-users)
# and the abuse/soak test against a TSan-built vr-serve. Any data race fails the run.
#
# Usage: scripts/test-tsan.sh [CTEST_REGEX]
# Environment: JOBS (parallel compile and test jobs, default nproc).
set -euo pipefail

cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}
regex=${1:-'^(test_serve|test_service|test_als|test_recommender|test_recommend_cli):|^e2e: server_abuse$'}

cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVR_TSAN=ON >/dev/null
cmake --build build-tsan -j"$jobs"
# halt_on_error: the first race fails the test that hit it; second_deadlock_stack for lock
# order reports. ThreadSanitizer cannot run with ASLR's newest high-entropy layouts on some
# kernels; setarch -R turns randomisation off for the test processes when available.
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
runner=()
if command -v setarch >/dev/null && setarch "$(uname -m)" -R true 2>/dev/null; then
  runner=(setarch "$(uname -m)" -R)
fi
"${runner[@]}" ctest --test-dir build-tsan --output-on-failure -j"$jobs" -R "$regex"
