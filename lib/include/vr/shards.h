// ratings.csv in shards, for training on several machines: vr-features --shards N writes
// ratings-00000-of-0000N.csv ... (the shards concatenated in order are byte for byte the
// ratings.csv vr-features writes without --shards: only the first shard carries the header),
// one mappings.bin, and a manifest, ratings-shards.json, that ties them together:
//
//   {"format": "vr-ratings-shards", "version": 1,
//    "header": "user_idx,video_idx,rating",        the CSV header (first line of shard 0)
//    "users": U, "videos": V, "ratings": R,         the matrix shape and the rows in all shards
//    "mappings_fnv1a64": "0123456789abcdef",        FNV-1a 64 of the whole mappings.bin file
//    "shards": [{"name": "ratings-00000-of-00004.csv", "bytes": B, "rows": N,
//                "fnv1a64": "..."}, ...]}           each shard's size, rows and checksum
//
// A reader checks every shard's size and checksum and the mappings' checksum against the
// manifest, so a truncated or corrupt shard, a shard of another run, or a mappings.bin of
// another run is refused with the file's name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <istream>
#include <ostream>
#include <string>
#include <vector>

#include "vr/interactions.h"
#include "vr/ratings.h"

namespace vr {

inline constexpr const char* kShardManifestFileName = "ratings-shards.json";
// Most shards vr-features writes (a 5-digit index in the file name).
inline constexpr int kMaxShards = 99999;

// "ratings-00003-of-00004.csv" for index 3 of 4 (index 0-based).
std::string shard_file_name(int index, int count);

// One shard as the manifest records it.
struct ShardEntry {
  std::string name;            // file name, in the same folder as the manifest
  std::uint64_t bytes = 0;     // file size
  std::uint64_t rows = 0;      // ratings in the file
  std::uint64_t checksum = 0;  // FNV-1a 64 of the file's bytes
};

// ratings-shards.json's content.
struct ShardManifest {
  std::string header;                 // CSV header line (without the newline)
  std::uint32_t users = 0;            // users in mappings.bin
  std::uint32_t videos = 0;           // videos in mappings.bin
  std::uint64_t ratings = 0;          // rows over all shards
  std::uint64_t mappings_checksum = 0;  // FNV-1a 64 of mappings.bin
  std::vector<ShardEntry> shards;     // in order
};

void write_shard_manifest(std::ostream& output, const ShardManifest& manifest);
// Throws CorruptFile naming `source_name` when it is not a valid manifest.
ShardManifest read_shard_manifest(std::istream& input, const std::string& source_name);
ShardManifest load_shard_manifest(const std::string& path);

// FNV-1a 64 of a whole file, read in pieces. Throws IoError naming the path.
std::uint64_t file_checksum(const std::string& path);

// Throws InvalidInput when `mappings_path` is not the mappings.bin the shards were made with.
void check_shard_mappings(const ShardManifest& manifest, const std::string& manifest_path,
                          const std::string& mappings_path);

// The ratings of shard `index`, read from `directory`. Throws IoError if the file is missing,
// CorruptFile if its size or checksum differs from the manifest's, InvalidInput naming the
// file, line and field for a bad row.
std::vector<Rating> read_shard(const std::string& directory, const ShardManifest& manifest, int index);

// vr-features --shards N: aggregates like run_features, then writes N shards of about equal
// rows and the manifest into `directory`, and mappings.bin to job.mappings_path, each
// atomically (all are flushed before any is renamed; the manifest is renamed last, so a
// reader never sees a manifest without its files). job.ratings_path is not used.
AggregatedInteractions run_features_sharded(const FeaturesJob& job, const std::string& directory, int shards,
                                            const ProgressCallback& progress = {});

// Streams shard `entry` of `directory` to `sink` in pieces of at most `piece_bytes`, then
// checks its size and checksum against the manifest's (IoError if missing, CorruptFile if it
// differs: `sink` has then seen bytes that must not be published).
void stream_shard(const std::string& directory, const ShardEntry& entry, std::size_t piece_bytes,
                  const std::function<void(const char*, std::size_t)>& sink);

// Writes the shards of `directory` concatenated in order (the ratings.csv vr-features writes
// without --shards) to `output_path`, atomically; every shard must be in `directory`, with the
// manifest's size and checksum.
void write_shard_concatenation(const std::string& directory, const std::string& output_path);

// Every rating of the shards in `directory`, in order (what one process trains on).
std::vector<Rating> read_all_shards(const std::string& directory, const std::string& mappings_path);

// Which input a training run reads from an artifacts folder: DIR/ratings.csv, or the shards
// listed by DIR/ratings-shards.json. Throws InvalidInput when both are there (which one is
// current cannot be told) and IoError when neither is.
enum class RatingsSource { Csv, Shards };
RatingsSource find_ratings_source(const std::string& directory);

// Part `part` of `parts` of a ratings CSV file, split by bytes at line starts (the header
// line belongs to no part): the parts together hold every row once, in file order. Errors
// name the file and its real line number.
std::vector<Rating> read_ratings_csv_part(const std::string& path, int part, int parts);

}  // namespace vr
