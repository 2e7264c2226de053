#!/usr/bin/env bash
# vr-train under mpirun (issue 15): seconds per iteration, factor bytes each process sends
# per iteration, and peak RSS per process, at -np 1, 2 and 4 on the 100k users x 20k videos x
# 5M ratings set with 64 factors (this machine's cores are shared, so -np > cores is
# oversubscribed). The bytes are compared with the minimum: the distinct factor rows each
# process's ratings refer to that another process owns, counted here from ratings.csv.
# Then the peak RSS per process of only reading and redistributing the ratings, at -np 1, 2
# and 3 (the ratings' memory per process, which should fall about as 1/N).
# Prints figures; never fails on time.
set -euo pipefail
source "$(dirname "$0")/../bench-data.sh"
bin=${VR_BIN_DIR:?set by scripts/bench.sh}
out=${VR_BENCH_DIR:?set by scripts/bench.sh}
iterations=${VR_BENCH_MPI_ITERATIONS:-5}
factors=64

if ! command -v mpirun > /dev/null; then
  echo "SKIPPED: mpirun is not installed (openmpi-bin)"
  exit 0
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cores=$(nproc)

train_dir="$out/train-5m"
bench_ratings_5m "$train_dir"
ratings=$(($(wc -l < "$train_dir/ratings.csv") - 1))
echo "--- vr-train under mpirun: $ratings ratings, $factors factors, $iterations iterations, $cores cores"

mean_seconds() { awk '/^iteration/ { s += $(NF-1); n++ } END { printf "%.3f", s / n }' "$1"; }

/usr/bin/time -f '%M' -o "$out/mpi-plain.time" "$bin/vr-train" --dir "$train_dir" --factors "$factors" \
  --iterations "$iterations" --threads "$cores" --model "$out/mpi-plain.bin" 2> "$out/mpi-plain.log"
plain=$(mean_seconds "$out/mpi-plain.log")
printf 'plain vr-train (%d threads): %s s per iteration, peak RSS %.0f MB\n' "$cores" "$plain" "$(awk '{ print $1 / 1024 }' "$out/mpi-plain.time")"

for processes in 1 2 4; do
  threads=$(( cores / processes > 0 ? cores / processes : 1 ))
  log="$out/mpi-np$processes.log"
  mpirun --oversubscribe -np "$processes" "$bin/vr-train" --dir "$train_dir" --factors "$factors" \
    --iterations "$iterations" --threads "$threads" --model "$out/mpi-np$processes.bin" 2> "$log"
  seconds=$(mean_seconds "$log")
  printf -- '-np %d (%d thread(s) each): %s s per iteration (%.2fx plain)\n' "$processes" "$threads" "$seconds" \
    "$(awk -v a="$seconds" -v b="$plain" 'BEGIN { print a / b }')"
  # The minimum: for each process, the distinct videos its users rated that another process
  # owns, plus the distinct users its videos were rated by that another process owns.
  grep '^vr-train: process' "$log" | sed 's/[][),]/ /g' > "$out/mpi-ranges.txt"
  awk -v factors="$factors" -v n=0 '
    FNR == NR { ufirst[n] = $5; uend[n] = $6; vfirst[n] = $8; vend[n] = $9;
                sent[n] = $12 * 1e6; rss[n] = $19; n++; next }
    FNR == 1 { next }
    {
      split($0, f, ","); u = f[1] + 0; v = f[2] + 0
      for (r = 0; r < n; r++) { if (u >= ufirst[r] && u < uend[r]) ur = r; if (v >= vfirst[r] && v < vend[r]) vr = r }
      if (ur != vr) { need_video[ur " " v] = 1; need_user[vr " " u] = 1 }
    }
    END {
      for (key in need_video) { split(key, k, " "); minimum[k[1]] += factors * 4 }
      for (key in need_user) { split(key, k, " "); minimum[k[1]] += factors * 4 }
      # Rows travel from owner to user: what process r receives, another process sends; the
      # totals over all processes are equal, so compare totals.
      for (r = 0; r < n; r++) { total_sent += sent[r]; total_min += minimum[r] }
      for (r = 0; r < n; r++) printf "  process %d: %.2f MB sent per iteration, peak RSS %.0f MB\n", r, sent[r] / 1e6, rss[r]
      if (n > 1) printf "  all processes: %.2f MB sent per iteration; minimum (rows referenced across partitions) %.2f MB; ratio %.3f (goal <= 1.5)\n", total_sent / 1e6, total_min / 1e6, total_sent / total_min
    }' "$out/mpi-ranges.txt" "$train_dir/ratings.csv"
done
# The ratings' memory per process: peak RSS of reading and redistributing them (no
# iteration), less that of the same run on a set of 1,000 events (the process itself).
small_dir="$out/train-small"
if [ ! -s "$small_dir/ratings.csv" ]; then
  mkdir -p "$small_dir"
  "$bin/vr-generate" --users 100 --videos 50 --events 1000 --seed 3 -o "$small_dir/events.csv" 2>/dev/null
  "$bin/vr-features" "$small_dir/events.csv" --dir "$small_dir" 2>/dev/null
  rm -f "$small_dir/events.csv"
fi
peaks() { grep -o 'peak RSS [0-9.]* MB' "$1" | awk '{ print $3 }' | paste -sd ' ' -; }
echo "--- peak RSS per process reading and redistributing the ratings (--iterations 0, 1 thread)"
for processes in 1 2 3; do
  for set in small 5m; do
    mpirun --oversubscribe -np "$processes" "$bin/vr-train" --dir "$out/train-$set" --factors "$factors" \
      --iterations 0 --threads 1 --model "$out/mpi-read-$set.bin" 2> "$out/mpi-read-$set.log"
  done
  printf -- '-np %d: %s MB (process alone on 1,000 events: %s MB)\n' "$processes" "$(peaks "$out/mpi-read-5m.log")" \
    "$(peaks "$out/mpi-read-small.log")"
done
for processes in 4; do
  if cmp -s "$out/mpi-np2.bin" "$out/mpi-np$processes.bin"; then
    echo "model of -np $processes: byte-identical to -np 2"
  else
    echo "model of -np $processes: DIFFERS from -np 2"
  fi
done
if cmp -s "$out/mpi-np1.bin" "$out/mpi-plain.bin"; then echo "model of -np 1: byte-identical to plain vr-train"; else echo "model of -np 1: DIFFERS from plain vr-train"; fi
