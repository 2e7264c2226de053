#!/usr/bin/env bash
# `make reliability`: the long versions of the reliability harnesses, against the tools in BIN.
#   1. tests/e2e/kill_harness.sh with RUNS per tool (default 25: 100 SIGKILLs over vr-features,
#      vr-train, vr-recommend --all-users and scripts/pipeline.sh);
#   2. tests/e2e/disk_full.sh (ENOSPC, EFBIG, read-only and blocked folders);
#   3. tests/e2e/server_abuse.sh with a SOAK_SECONDS wrk soak (default 600).
# Usage: scripts/reliability.sh [BIN]   (default build/bin)
# Environment: RUNS, SOAK_SECONDS. Exit 1 if any part fails.
set -uo pipefail

cd "$(dirname "$0")/.."
bin=$(cd "${1:-build/bin}" && pwd)
export VR_BIN_DIR=$bin VR_SOURCE_DIR=$PWD
runs=${RUNS:-25}
soak=${SOAK_SECONDS:-600}
status=0

run() {  # name, command...
  local name=$1 start result
  shift
  start=$(date +%s)
  echo "== $name"
  "$@"
  result=$?
  echo "== $name: $([[ $result -eq 0 ]] && echo ok || echo "FAILED ($result)") in $(( $(date +%s) - start )) s"
  [[ $result -eq 0 || $result -eq 77 ]] || status=1
}

run "kill harness, $runs runs per tool" bash tests/e2e/kill_harness.sh "$runs"
run "disk full and unwritable folders" bash tests/e2e/disk_full.sh
run "server abuse and ${soak} s soak" bash tests/e2e/server_abuse.sh "$soak"
exit $status
