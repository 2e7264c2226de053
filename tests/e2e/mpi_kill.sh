#!/usr/bin/env bash
# A process of `mpirun -np N vr-train` killed with SIGKILL mid-training: the whole job ends
# within seconds with a non-zero status, and the previous model is left byte for byte as it
# was (no temporary file either). Killed in turn: a worker (rank 1) and the writer (rank 0).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/support/skip.sh"
bin=${VR_BIN_DIR:?VR_BIN_DIR not set}
require_built vr-generate vr-features vr-train
command -v mpirun > /dev/null || skip "mpirun is not installed (openmpi-bin)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d)
mpirun_pid=
cleanup() {
  if [[ -n "$mpirun_pid" ]] && kill -0 "$mpirun_pid" 2>/dev/null; then kill -KILL "$mpirun_pid" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

"$bin/vr-generate" --users 20000 --videos 5000 --events 400000 -o events.csv 2>/dev/null
"$bin/vr-features" events.csv --dir data 2>/dev/null
"$bin/vr-train" --dir data --iterations 1 --factors 8 --quiet 2>/dev/null
cp data/als_model.bin previous.bin
# Are these real MPI processes? (A vr-train built without VR_MPI would train twice alone.)
probe=$(mpirun --oversubscribe -np 2 "$bin/vr-train" --dir data --iterations 1 --factors 8 --threads 1 \
        --model probe.bin 2>&1) || { echo "$probe" >&2; exit 1; }
grep -q "process 1/2" <<< "$probe" || skip "vr-train was built without VR_MPI"
rm -f probe.bin

failures=0
for victim in 1 0; do
  mpirun --oversubscribe -np 3 "$bin/vr-train" --dir data --iterations 1000 --factors 32 --threads 1 \
    > "log-$victim.txt" 2>&1 &
  mpirun_pid=$!
  # Wait until training runs (two iterations reported), then kill one process.
  for _ in $(seq 1 600); do
    [[ "$(grep -c '^iteration' "log-$victim.txt" || true)" -ge 2 ]] && break
    sleep 0.1
  done
  grep -q '^iteration 2/' "log-$victim.txt" || { echo "FAILED: training never started" >&2; cat "log-$victim.txt" >&2; exit 1; }
  # Process r of mpirun's children is the r-th vr-train started (Open MPI starts local ranks in order).
  mapfile -t ranks < <(ps --ppid "$mpirun_pid" -o pid=,comm= | awk '$2 == "vr-train" { print $1 }' | sort -n)
  [[ ${#ranks[@]} -eq 3 ]] || { echo "FAILED: expected 3 vr-train processes under mpirun, found ${#ranks[@]}" >&2; exit 1; }
  victim_pid=$(for pid in "${ranks[@]}"; do
    if tr '\0' '\n' < "/proc/$pid/environ" | grep -qx "OMPI_COMM_WORLD_RANK=$victim"; then echo "$pid"; fi
  done)
  [[ -n "$victim_pid" ]] || { echo "FAILED: no process with rank $victim" >&2; exit 1; }
  started=$(date +%s%3N)
  kill -KILL "$victim_pid"
  status=0
  for _ in $(seq 1 300); do kill -0 "$mpirun_pid" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$mpirun_pid" 2>/dev/null; then
    echo "FAILED: rank $victim killed, mpirun still running after 15 s" >&2
    failures=$((failures + 1))
    kill -KILL "$mpirun_pid"
  fi
  wait "$mpirun_pid" || status=$?
  mpirun_pid=
  elapsed=$(( $(date +%s%3N) - started ))
  echo "rank $victim killed: mpirun exited with status $status after $elapsed ms"
  if [[ $status -eq 0 ]]; then
    echo "FAILED: the job reported success after rank $victim was killed" >&2
    failures=$((failures + 1))
  fi
  if ! cmp -s data/als_model.bin previous.bin; then
    echo "FAILED: the previous model changed" >&2
    failures=$((failures + 1))
  fi
  leftovers=$(ls -A data | grep -v -x -e ratings.csv -e mappings.bin -e als_model.bin || true)
  if [[ -n "$leftovers" ]]; then
    echo "FAILED: files left in the model folder: $leftovers" >&2
    failures=$((failures + 1))
  fi
  for pid in "${ranks[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      ps -o pid,stat,etime,comm -p "$pid" >&2 || true
      echo "FAILED: vr-train process $pid outlived the job" >&2
      failures=$((failures + 1))
    fi
  done
done
[[ $failures -eq 0 ]] || exit 1
echo "mpi_kill: a killed process ends the job, the previous model stays"
