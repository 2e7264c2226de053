#!/usr/bin/env bash
# Runs ctest with the given arguments and ends with the list of tests that were skipped.
# CTest counts a skipped test (exit 77) as "did not run", not as passed; under CI=true, where
# everything a test may need is installed, any skipped test fails the run.
# Usage: scripts/ctest-run.sh CTEST_ARGS...
set -uo pipefail
log="$(mktemp /tmp/vr-ctest.XXXXXX)"
trap 'rm -f "$log"' EXIT
ctest "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
skipped="$(grep -E '\(Skipped\)$' "$log" | sed -E 's/^[[:space:]]*[0-9]+ - //; s/ \(Skipped\)$//' || true)"
if [ -n "$skipped" ]; then
  echo
  echo "Skipped tests (they did not run; see each test's SKIP line for why):"
  printf '  %s\n' "$skipped"
  if [ "${CI:-}" = true ]; then
    echo "error: CI=true, and tests were skipped: CI must run every test" >&2
    status=1
  fi
fi
exit "$status"
