# Sourced by the shell tests: `skip "reason"` ends the test as skipped (exit 77, CTest's
# SKIP_RETURN_CODE), so CTest lists it under "did not run" rather than as passed. Under CI=true
# everything a test may need is meant to be installed, so a skip fails the run instead.
skip() {
  if [ "${CI:-}" = true ]; then
    echo "FAILED: this test would be skipped ($*), and CI=true must run it" >&2
    exit 1
  fi
  echo "SKIP: $*"
  exit 77
}

# `require_built TOOL...`: skips the test unless every tool is built in $bin.
require_built() {
  local tool
  for tool in "$@"; do
    [[ -x "$bin/$tool" ]] || skip "$bin/$tool not built"
  done
}
