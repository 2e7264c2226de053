#!/usr/bin/env bash
# Disk full and unwritable output folders: vr-features, vr-train and vr-recommend -o must fail
# with exit status 1 and one clear "error: ..." line, leave the previous outputs byte for byte
# as they were, and leave no temporary files behind.
#
# Disk full two ways: a small tmpfs filled to the brim (ENOSPC; needs root and a private mount
# namespace via unshare, else skipped with a note) and RLIMIT_FSIZE (EFBIG; always). Unwritable
# folders: a read-only bind mount (with unshare), a file where the folder should be, and a
# folder where the output file should be. Tests run as root, so chmod would stop nothing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/support/skip.sh"

bin=${VR_BIN_DIR:?VR_BIN_DIR not set}
require_built vr-generate vr-features vr-train vr-recommend

# Mounts stay private to this test: re-run inside a new mount namespace when we can.
if [[ -z "${VR_DISK_FULL_IN_NAMESPACE:-}" ]] && [[ $(id -u) -eq 0 ]] && unshare -m --propagation private true 2>/dev/null; then
  exec env VR_DISK_FULL_IN_NAMESPACE=1 unshare -m --propagation private bash "$0" "$@"
fi
can_mount=0
if [[ -n "${VR_DISK_FULL_IN_NAMESPACE:-}" ]]; then can_mount=1; fi

work=$(mktemp -d)
cleanup() {
  if (( can_mount )); then umount "$work/run/full" "$work/run/readonly" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/run"
cd "$work/run"
failures=0
checks=0

# Old outputs (small data) and a bigger new input whose outputs do not fit.
"$bin/vr-generate" --users 300 --videos 100 --events 3000 --seed 1 -o old.csv 2>/dev/null
"$bin/vr-generate" --users 20000 --videos 3000 --events 200000 --seed 2 -o new.csv 2>/dev/null
mkdir old
"$bin/vr-features" old.csv --dir old 2>/dev/null
"$bin/vr-train" --dir old --factors 8 --iterations 2 --quiet 2>/dev/null
"$bin/vr-recommend" --dir old --all-users -k 3 -o old/recs.jsonl 2>/dev/null
mkdir new
"$bin/vr-features" new.csv --dir new 2>/dev/null
"$bin/vr-train" --dir new --factors 32 --iterations 1 --quiet 2>/dev/null

fingerprint() {  # every entry of a folder (temporaries included), with a hash for files
  (cd "$1" && find . -mindepth 1 -maxdepth 1 -printf '%f %y\n' | sort | while read -r name type; do
     if [[ $type == f ]]; then printf '%s %s\n' "$name" "$(sha256sum <"$name" | cut -c1-16)"; else printf '%s %s\n' "$name" "$type"; fi
   done)
}

# expect_clean_failure NAME FOLDER COMMAND...: the command fails with status 1 and exactly one
# "error: " line on stderr, and FOLDER is exactly as before.
expect_clean_failure() {
  local name=$1 folder=$2
  shift 2
  local before after status=0
  before=$(fingerprint "$folder")
  "$@" >/dev/null 2>"$work/stderr.txt" || status=$?
  after=$(fingerprint "$folder")
  checks=$((checks + 1))
  local problems=""
  [[ $status -eq 1 ]] || problems+=" exit status $status (expected 1);"
  [[ $(grep -c '' "$work/stderr.txt") -eq 1 && $(head -c 7 "$work/stderr.txt") == "error: " ]] ||
    problems+=" stderr is not one 'error: ' line: $(head -c 300 "$work/stderr.txt" | tr '\n' '|');"
  [[ "$before" == "$after" ]] || problems+=" the folder changed: $(diff <(echo "$before") <(echo "$after") | tr '\n' '|' || true);"
  if [[ -n $problems ]]; then
    echo "FAIL $name:$problems" >&2
    failures=$((failures + 1))
  else
    echo "ok   $name: $(cat "$work/stderr.txt")"
  fi
}

setup_outputs() {  # $1 = folder: the old outputs, plus the new features for vr-train/recommend
  mkdir -p "$1"
  cp old/ratings.csv old/mappings.bin old/als_model.bin old/recs.jsonl "$1/"
}

# --- Disk full: RLIMIT_FSIZE (EFBIG). SIGXFSZ ignored, so writes fail instead of killing. ---
limit=$(( $(stat -c %s old/ratings.csv) + 4096 ))
mkdir fsize
setup_outputs fsize
limited() { (trap '' XFSZ; exec prlimit --fsize="$limit" "$@"); }
expect_clean_failure "vr-features, file size limit" fsize limited "$bin/vr-features" new.csv --dir fsize
mkdir fsize_train && cp new/ratings.csv new/mappings.bin old/als_model.bin fsize_train/
limit=$(( $(stat -c %s old/als_model.bin) + 1024 ))
expect_clean_failure "vr-train, file size limit" fsize_train limited "$bin/vr-train" --dir fsize_train --factors 32 --iterations 1 --quiet
mkdir fsize_recs && cp new/ratings.csv new/mappings.bin new/als_model.bin old/recs.jsonl fsize_recs/
limit=$(( $(stat -c %s old/recs.jsonl) + 1024 ))
expect_clean_failure "vr-recommend -o, file size limit" fsize_recs limited "$bin/vr-recommend" --dir fsize_recs --all-users -k 3 -o fsize_recs/recs.jsonl

# --- Disk full: a tmpfs with no room left (ENOSPC). ---------------------------------------
if (( can_mount )); then
  mkdir full
  mount -t tmpfs -o size=4m tmpfs full
  setup_outputs full/features
  mkdir full/train && cp old/als_model.bin full/train/
  mkdir full/recs && cp old/recs.jsonl full/recs/
  # Fill what is left but a few KB, so every new output runs out of space part way.
  dd if=/dev/zero of=full/filler bs=64k 2>/dev/null || true
  rm -f full/filler
  free_kb=$(df -k --output=avail full | tail -n 1)
  dd if=/dev/zero of=full/filler bs=1k count=$(( free_kb > 16 ? free_kb - 16 : 0 )) 2>/dev/null || true
  expect_clean_failure "vr-features, tmpfs full" full/features "$bin/vr-features" new.csv --dir full/features
  expect_clean_failure "vr-train, tmpfs full" full/train "$bin/vr-train" --ratings new/ratings.csv --mappings new/mappings.bin \
    --model full/train/als_model.bin --factors 32 --iterations 1 --quiet
  expect_clean_failure "vr-recommend -o, tmpfs full" full/recs "$bin/vr-recommend" --dir new --all-users -k 3 -o full/recs/recs.jsonl
else
  # The other cases still run; the test then ends as skipped, since a partial run is no pass.
  not_run="no private mount namespace here (not root, or unshare refused): the tmpfs and read-only cases cannot run"
fi

# --- Unwritable folders. -------------------------------------------------------------------
# A file where the output folder should be.
mkdir unwritable && echo "not a folder" > unwritable/blocker
cd unwritable
expect_clean_failure "vr-features, --dir is a file" . "$bin/vr-features" ../new.csv --dir blocker
expect_clean_failure "vr-features, --dir under a file" . "$bin/vr-features" ../new.csv --dir blocker/artifacts
expect_clean_failure "vr-train, --model under a file" . "$bin/vr-train" --dir ../new --model blocker/als_model.bin --quiet
expect_clean_failure "vr-recommend -o under a file" . "$bin/vr-recommend" --dir ../new --all-users -o blocker/recs.jsonl
cd ..
# A folder where the output file should be.
mkdir -p dir_in_the_way/ratings.csv dir_in_the_way/als_model.bin
cp old/mappings.bin dir_in_the_way/
expect_clean_failure "vr-features, ratings.csv is a folder" dir_in_the_way "$bin/vr-features" new.csv --dir dir_in_the_way
expect_clean_failure "vr-train, als_model.bin is a folder" dir_in_the_way "$bin/vr-train" --ratings new/ratings.csv \
  --mappings new/mappings.bin --model dir_in_the_way/als_model.bin --iterations 1 --quiet
# A read-only bind mount.
if (( can_mount )); then
  mkdir readonly
  setup_outputs readonly
  mount --bind readonly readonly
  mount -o remount,bind,ro readonly
  expect_clean_failure "vr-features, read-only folder" readonly "$bin/vr-features" new.csv --dir readonly
  expect_clean_failure "vr-train, read-only folder" readonly "$bin/vr-train" --ratings new/ratings.csv \
    --mappings new/mappings.bin --model readonly/als_model.bin --iterations 1 --quiet
  expect_clean_failure "vr-recommend -o, read-only folder" readonly "$bin/vr-recommend" --dir new --all-users -o readonly/recs.jsonl
fi

echo "disk_full: $checks checks, $failures failures"
(( failures == 0 )) || exit 1
[ -z "${not_run:-}" ] || skip "$not_run"
