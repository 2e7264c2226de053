// ann_index.bin: an HNSW graph (hnswlib, cosine) over a model's video factors, for similar
// videos on catalogs where the exact scan (one dot product per video) is too slow.
//
// File layout (all integers little-endian):
//   1. vr's framed envelope (vr/framed_file.h): magic "VRANNIDX", format version
//      (kAnnIndexFormatVersion), payload length, payload, FNV-1a checksum of the payload.
//   2. payload:
//      a. u64 model fingerprint (ann_model_fingerprint of the model's video factors)
//      b. u32 factors, u64 videos, u32 M, u32 ef_construction, i32 top level, u32 entry point
//      c. per graph node, in hnswlib's internal order: u32 video index (each video exactly
//         once), u32 level (<= top level), factors x f32 (the normalised factor), then for each
//         layer 0..level: u32 link count (<= 2 M on layer 0, <= M above) and that many u32
//         node numbers, each of a node that reaches that layer.
// The loader checks every field before building the graph, so a corrupt or hostile file is
// refused (CorruptFile naming it) rather than searched out of bounds.
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "vr/als.h"
#include "vr/topk.h"

namespace vr {

inline constexpr const char* kAnnIndexFileName = "ann_index.bin";
inline constexpr std::uint32_t kAnnIndexFormatVersion = 1;

// How to build the graph (hnswlib's parameters).
struct AnnBuildConfig {
  int m = 16;                 // links per node and layer (2 M on layer 0), 2..200
  int ef_construction = 200;  // candidate list while inserting, >= 1; larger = better graph, slower
  int threads = 0;            // insertion threads, 0 = all cores; 1 gives the same file every run
  std::uint32_t seed = 100;   // level generator seed
};

// A fingerprint of a model's video factors (shape and every bit), stored in the index so an
// index is only used with the model it was built from.
std::uint64_t ann_model_fingerprint(const FactorMatrix& item_factors);

class AnnIndex {
 public:
  ~AnnIndex();
  AnnIndex(const AnnIndex&) = delete;
  AnnIndex& operator=(const AnnIndex&) = delete;

  // Builds the cosine graph of `item_factors` (zero rows are kept, similar to nothing in
  // particular). `progress(done, total)` is called now and then from one thread (may be empty).
  static std::unique_ptr<AnnIndex> build(const FactorMatrix& item_factors, const AnnBuildConfig& config,
                                         const std::function<void(std::size_t, std::size_t)>& progress = {});

  // Writes the file layout above.
  void write(std::ostream& output) const;
  // Reads and checks one; throws CorruptFile naming `source_name` for a wrong magic, a newer
  // version, a truncated file, a checksum mismatch or an inconsistent graph.
  static std::unique_ptr<AnnIndex> read(std::istream& input, const std::string& source_name);
  // Reads `path`; throws IoError when it cannot be opened.
  static std::unique_ptr<AnnIndex> load(const std::string& path);

  // Throws InvalidInput naming both files unless this index was built from these factors.
  void check_matches(const FactorMatrix& item_factors, const std::string& index_path,
                     const std::string& model_path) const;

  // Up to `count` videos nearest to video `video` by cosine, best first, with their cosine
  // (from the stored normalised factors; the video itself is normally first). `ef` >= count is
  // the search's candidate list. Thread-safe.
  std::vector<ScoredVideo> nearest(std::uint32_t video, std::size_t count, std::size_t ef) const;

  std::uint64_t model_fingerprint() const { return fingerprint_; }
  std::size_t videos() const;
  std::size_t factors() const { return factors_; }
  int m() const;
  int ef_construction() const;

 private:
  struct Graph;
  AnnIndex();
  std::uint64_t fingerprint_ = 0;
  std::size_t factors_ = 0;
  std::unique_ptr<Graph> graph_;
};

// What vr-index does: read a model, build its index, write it atomically.
struct AnnIndexJob {
  std::string model_path;   // als_model.bin
  std::string output_path;  // ann_index.bin
  AnnBuildConfig config;
};

// What it built.
struct AnnIndexSummary {
  std::size_t videos = 0;
  std::size_t bytes = 0;       // the file's size
  double build_seconds = 0;    // graph construction only
};

// Loads the model (an ALS model; InvalidInput for another kind), builds and writes the index.
AnnIndexSummary run_ann_index(const AnnIndexJob& job, const std::function<void(std::size_t, std::size_t)>& progress = {});

}  // namespace vr
