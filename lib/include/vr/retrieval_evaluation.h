// vr-evaluate --retrieval: how well and how fast a trained ALS model's catalog is searched.
//
// Two checks on the model in an artifacts directory, each on one thread:
//   1. User top-k (vr-recommend, vr-serve's scored path): a sample of known users, spread
//      evenly over the user indices, each ranked with their watched videos left out by the full
//      scan and by the pruned scan (vr/video_panels.h). Reports the share of the catalog the
//      pruned scan scored (median, p90, max, mean), the time per answer of each, and how many
//      answers differ (the scans are exact, so this must be 0: a nonzero count is a bug).
//   2. Similar videos (vr-recommend --similar, vr-serve's "similar_to"): a sample of videos
//      spread evenly over the catalog, ranked by the exact cosine scan (Recommender::similar)
//      and, when the retrieval mode uses the HNSW index (ann_index.bin, vr/ann_index.h), by the
//      index at each `ef`: queries/s of each and the index's recall@k against the exact answer
//      (the share of the exact top k other than the query video that the index found).
// Times are the CPU time of the one thread that runs the checks (other work on the machine
// does not inflate them, though it still competes for caches and memory bandwidth); shares,
// recall and differing answers do not depend on the machine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "vr/artifacts.h"
#include "vr/recommender.h"

namespace vr {

// What to check.
struct RetrievalEvaluationConfig {
  ArtifactPaths artifacts;            // an ALS model, its mappings and ratings.csv (watched videos)
  std::string index_path;             // ann_index.bin; used as Retrieval asks (Auto: when it exists)
  Retrieval retrieval = Retrieval::Auto;
  int k = 10;                         // the cut-off of both checks, >= 1
  std::size_t users = 1000;           // users sampled for the top-k check, >= 1 (all when fewer)
  std::size_t queries = 500;          // videos sampled for the similar-video check, >= 1 (all when fewer)
  std::vector<std::size_t> ef{128};   // the HNSW search's candidate lists to measure, each >= 1
};

// The index at one ef.
struct AnnEfResult {
  std::size_t ef = 0;
  double queries_per_second = 0;
  double recall = 0;  // found / wanted over all sampled videos, in [0, 1]
};

// What the checks found.
struct RetrievalEvaluation {
  std::size_t users = 0;    // the model's users
  std::size_t videos = 0;   // the model's videos
  std::size_t factors = 0;
  int k = 0;

  // 1. User top-k, pruned against full.
  std::size_t users_sampled = 0;
  double full_ms_per_answer = 0;
  double pruned_ms_per_answer = 0;
  double share_median = 0, share_p90 = 0, share_max = 0, share_mean = 0;  // of the catalog, in [0, 1]
  std::size_t answers_differing = 0;  // pruned answers not byte-identical to the full scan's

  // 2. Similar videos.
  std::size_t videos_sampled = 0;
  double exact_queries_per_second = 0;
  std::string retrieval;              // "exact" (no index used) or "ann"
  std::string index_path;             // the index measured, empty for exact
  int index_m = 0, index_ef_construction = 0;
  std::vector<AnnEfResult> ann;       // one per config ef, in the given order; empty for exact
};

// Runs both checks. Throws InvalidInput for a model that is not ALS, k < 1, no users or no
// videos to sample, ef < 1, or (Ann) an index built from another model; IoError / CorruptFile
// naming the file for a missing or broken artifact or index (Ann: a missing index).
RetrievalEvaluation evaluate_retrieval(const RetrievalEvaluationConfig& config);

// What vr-evaluate --retrieval does: opens `output_path` ("-" = stdout; a file is written
// atomically) before the checks, runs them, writes the table or (json) the JSON object.
RetrievalEvaluation run_retrieval_evaluation(const RetrievalEvaluationConfig& config, const std::string& output_path,
                                             bool json);

// For people: one block of aligned lines.
void write_retrieval_table(std::ostream& output, const RetrievalEvaluation& evaluation);
// One JSON object (keys as the struct's fields, grouped under "top_k" and "similar").
void write_retrieval_json(std::ostream& output, const RetrievalEvaluation& evaluation);

}  // namespace vr
