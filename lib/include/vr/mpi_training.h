// vr-train on several processes (Open MPI): `mpirun -np N vr-train ...` trains the model the
// single-process tool trains, each process holding a slice of the data (Spark MLlib's
// blocked ALS is the design reference):
//
//   1. Process r owns a contiguous range of users and one of videos (whole panels of the
//      YtY sum, vr/gram_panels.h, split evenly). It reads a line-aligned byte range of ratings.csv, or the shards assigned to it
//      among those its folder holds; MPI_Alltoallv sends every rating to its user's owner, and
//      the owner sends it on to its video's owner, so each side has its rows as CSR.
//   2. Each half-iteration, the rows of the other side that a process's ratings refer to (and
//      only those) arrive by MPI_Alltoallv from their owners; YtY is a reduction; every process
//      solves its own rows with the single-process row solver.
//   3. YtY is summed panel by panel in row order exactly as the single-process rank update
//      sums it (vr/gram_panels.h), the running total passed from process to process, so every
//      -np gives the single-process factors bit for bit. The loss is summed over the same
//      panels in order: every -np >= 2 writes a byte-identical model; -np 1 runs the
//      single-process code (byte-identical to plain vr-train), whose recorded losses are
//      grouped differently in their last bits.
//   4. Process 0 writes the one model file atomically, the rows streamed from their owners.
//
// Built only with the CMake option VR_MPI.
#pragma once

#include <cstdint>
#include <string>

#include "vr/training.h"

namespace vr::mpi {

// True when this process was started by mpirun (Open MPI's environment is set).
bool launched_by_mpirun();

// MPI for the life of a tool's main: initialises MPI when launched_by_mpirun(), else does
// nothing (plain vr-train never touches MPI).
class Session {
 public:
  Session(int& argc, char**& argv);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  bool active() const { return active_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  // The exit code main should return: with several processes, a failure on this one ends the
  // whole job at once (MPI_Abort), since the others would wait for it forever.
  int finish(int exit_code);

 private:
  bool active_ = false;
  bool finalized_ = false;
  int rank_ = 0;
  int size_ = 1;
};

// What one process measured, for progress output and benchmarks.
struct ProcessReport {
  int rank = 0;
  std::uint32_t first_user = 0, end_user = 0;    // users owned: [first_user, end_user)
  std::uint32_t first_video = 0, end_video = 0;  // videos owned
  std::uint64_t local_ratings = 0;               // ratings this process holds (users' side)
  double bytes_sent_per_iteration = 0;           // factor rows sent to other processes, bytes
  double peak_rss_bytes = 0;                     // the process's peak resident memory
};

// Trains an ALS model across the processes of MPI_COMM_WORLD from `job` (ratings_path a
// ratings.csv every process can read, or, with `shard_directory` set, the shards of that
// folder's ratings-shards.json, each process reading those its own folder holds), with the
// same semantics as run_training. Process 0 writes job.model_path atomically and calls
// on_iteration; every process returns the model's info (its factors are never gathered).
// `report` receives this process's figures. Must be called by every process.
Model run_distributed_training(const TrainJob& job, const std::string& shard_directory,
                               const IterationCallback& on_iteration, ProcessReport& report);

// Writes the shards of `shard_directory` concatenated in order (the ratings.csv vr-features
// writes without --shards) to `output_path` on process 0, atomically, each shard read by a
// process whose folder holds it and sent to process 0 in pieces; sizes and checksums are
// checked against the manifest. Must be called by every process.
void write_shard_concatenation(const std::string& shard_directory, const std::string& output_path);

// Gathers every process's report on process 0 (in rank order; empty elsewhere).
std::vector<ProcessReport> gather_reports(const ProcessReport& report);

}  // namespace vr::mpi
