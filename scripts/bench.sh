#!/usr/bin/env bash
# Runs every benchmark in scripts/bench/*.sh in name order. Each prints its own figures;
# none passes or fails on time. Usage: scripts/bench.sh BIN_DIR
set -euo pipefail
bin_dir=$(cd "${1:-build/bin}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
export VR_BIN_DIR="$bin_dir"
export VR_BENCH_DIR="${VR_BENCH_DIR:-$here/../bench-out}"
mkdir -p "$VR_BENCH_DIR"
for bench in "$here"/bench/*.sh; do
  echo "=== $(basename "$bench" .sh)"
  bash "$bench"
done
