#!/usr/bin/env bash
# EASE's memory check with the real vr-train under `ulimit -v`: a catalog of about 19,000
# videos (about 1.7 GB for EASE) under a 1 GB address-space limit is refused before training starts, with
# exit status 1, one "error: ..." line naming the catalog, the estimate and what to use
# instead, and no model file (nor temporary file) left behind. The same limit lets a
# 2,000-video catalog train, so the refusal is the check's and not the limit's.
#
# Not registered in sanitizer builds (tests/CMakeLists.txt): AddressSanitizer reserves
# terabytes of address space for its shadow memory and cannot start under `ulimit -v`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/support/skip.sh"

bin=${VR_BIN_DIR:?VR_BIN_DIR not set}
require_built vr-generate vr-features vr-train

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0
fail() {
  echo "FAILED: $*" >&2
  failures=$((failures + 1))
}

limit_kb=1048576
"$bin/vr-generate" --users 4000 --videos 20000 --events 60000 --zipf 0 --seed 3 -o big.csv 2>/dev/null
"$bin/vr-generate" --users 1000 --videos 2000 --events 20000 --seed 4 -o small.csv 2>/dev/null
"$bin/vr-features" big.csv --dir big 2>/dev/null
"$bin/vr-features" small.csv --dir small 2>/dev/null
videos=$(awk -F, 'NR > 1 { print $2 }' big/ratings.csv | sort -u | wc -l)
(( videos > 15000 )) || fail "the big catalog has only $videos rated videos"

status=0
(ulimit -v "$limit_kb" && "$bin/vr-train" --dir big --model ease) >big.out 2>big.err || status=$?
cat big.err
[[ $status -eq 1 ]] || fail "vr-train --model ease under ulimit -v $limit_kb exited $status, expected 1"
grep -q '^error: EASE on [0-9]* videos needs about [0-9.]* GB of memory' big.err ||
  fail "no error line with the catalog size and the estimate"
grep -q 'GB is available' big.err || fail "the error does not say what is available"
grep -q -- '--model als' big.err && grep -q -- '--model item-knn' big.err || fail "the error does not name the alternatives"
[[ $(grep -c . big.err) -eq 1 ]] || fail "expected exactly one line on stderr"
leftover=$(ls -A big | grep -v -x -e mappings.bin -e ratings.csv || true)
[[ -z "$leftover" ]] || fail "files left behind: $leftover"

status=0
(ulimit -v "$limit_kb" && "$bin/vr-train" --dir small --model ease --quiet) 2>small.err || status=$?
[[ $status -eq 0 ]] || { cat small.err; fail "a 2,000-video EASE under the same limit exited $status"; }
[[ -s small/ease_model.bin ]] || fail "no small/ease_model.bin"

if (( failures > 0 )); then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "ease_memory_limit: refused the $videos-video catalog under ulimit -v ${limit_kb} KB, trained the 2,000-video one"
