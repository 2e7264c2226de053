#!/usr/bin/env bash
# Fuzz smoke test, run by `make test`: builds the libFuzzer targets (build-fuzz/, clang-14) and
# runs each for a few seconds from the repository's seed corpora, so that a parser regression
# (a crash, leak, sanitizer report or a rejected input without the documented error) shows up
# in CI. Long runs are `make fuzz`. Skips (exit 77) when clang-14 and libFuzzer are missing and
# cannot be installed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/support/skip.sh"

source_dir="${VR_SOURCE_DIR:?VR_SOURCE_DIR not set}"
seconds="${FUZZ_SMOKE_SECONDS:-3}"

have_toolchain() {
  command -v clang++-14 >/dev/null 2>&1 &&
    compgen -G "/usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null
}
have_toolchain || "$source_dir/scripts/install-deps.sh" clang-14 libclang-rt-14-dev >&2 || true
if ! have_toolchain; then
  skip "clang-14 with libFuzzer (libclang-rt-14-dev) is not installed and could not be installed"
fi

corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
# A fresh working corpus each time (the seeds are read from tests/fuzz/corpus), so the smoke
# test neither depends on nor grows `make fuzz`'s corpora.
FUZZ_BUILD_DIR="${VR_FUZZ_BUILD_DIR:-$source_dir/build-fuzz}" FUZZ_CORPUS_DIR="$corpus" FUZZ_NO_TOTALS=1 \
  "$source_dir/scripts/fuzz.sh" "$seconds"
