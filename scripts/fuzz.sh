#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang-14, ASan + UBSan, in build-fuzz/) and runs
# each for SECONDS, then prints executions per target and keeps a running total per target in
# build-fuzz/fuzz-totals.tsv (the goal: 10 million executions per target without a finding).
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET ...]          (default 600 s, every target)
# Environment:
#   FUZZ_BUILD_DIR   build folder (default build-fuzz)
#   FUZZ_CORPUS_DIR  working corpora, one folder per target, seeded from tests/fuzz/corpus and
#                    grown by the runs (default $FUZZ_BUILD_DIR/corpus; never the repository's)
#   FUZZ_NO_TOTALS   set to skip updating fuzz-totals.tsv (the smoke test sets it)
#   JOBS             parallel compile jobs (default: nproc)
# Crashes, leaks, timeouts (10 s per input) and sanitizer reports land in
# $FUZZ_BUILD_DIR/artifacts/<target>/ and make the script exit 1.
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
build_dir="${FUZZ_BUILD_DIR:-build-fuzz}"
corpus_root="${FUZZ_CORPUS_DIR:-$build_dir/corpus}"
jobs="${JOBS:-$(nproc)}"

have_toolchain() {
  command -v clang++-14 >/dev/null 2>&1 &&
    compgen -G "/usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null
}
have_toolchain || scripts/install-deps.sh clang-14 libclang-rt-14-dev || true
if ! have_toolchain; then
  echo "fuzz: clang-14 with libFuzzer (libclang-rt-14-dev) is not installed" >&2
  exit 1
fi
cmake -S . -B "$build_dir" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DVR_SANITIZE=ON -DVR_FUZZ=ON -DVR_BUILD_TESTS=OFF >/dev/null
cmake --build "$build_dir" --target vr_fuzz_all -j"$jobs" >"$build_dir/fuzz-build.log" 2>&1 || {
  tail -n 40 "$build_dir/fuzz-build.log" >&2
  echo "fuzz: build failed (log: $build_dir/fuzz-build.log)" >&2
  exit 1
}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for source in tests/fuzz/fuzz_*.cpp; do targets+=("$(basename "$source" .cpp)"); done
fi

totals="$build_dir/fuzz-totals.tsv"
[ -f "$totals" ] || printf 'target\texecutions\tseconds\n' >"$totals"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=0
printf '%-26s %8s %14s %10s %8s  %s\n' target seconds executions exec/s corpus result
for target in "${targets[@]}"; do
  binary="$build_dir/bin/$target"
  corpus="$corpus_root/$target"
  artifacts="$build_dir/artifacts/$target"
  log="$build_dir/logs/$target.log"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  # libFuzzer's own exit code for a finding is 77, which CTest reads as "skipped": use 1.
  status=0
  "$binary" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -error_exitcode=1 -timeout_exitcode=1 -artifact_prefix="$artifacts/" \
    "$corpus" "tests/fuzz/corpus/$target" >"$log" 2>&1 || status=$?
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  units=$(find "$corpus" -type f | wc -l)
  if [ "$status" -eq 0 ]; then
    result=ok
  else
    result="FAILED (exit $status; log $log)"
    failed=1
    grep -m 5 -E 'ERROR|SUMMARY|fuzz property|Test unit written' "$log" >&2 || true
  fi
  printf '%-26s %8s %14s %10s %8s  %s\n' "$target" "$seconds" "${executions:-0}" "${rate:-0}" "$units" "$result"
  if [ -z "${FUZZ_NO_TOTALS:-}" ] && [ "$status" -eq 0 ]; then
    printf '%s\t%s\t%s\n' "$target" "${executions:-0}" "$seconds" >>"$totals"
  fi
done

if [ -z "${FUZZ_NO_TOTALS:-}" ]; then
  echo
  echo "executions so far without a finding ($totals):"
  awk -F'\t' 'NR > 1 { runs[$1] += $2; time[$1] += $3 }
              END { for (t in runs) printf "  %-26s %14d in %d s\n", t, runs[t], time[t] }' "$totals" | sort
fi
exit "$failed"
