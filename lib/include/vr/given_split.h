// A train/test split given as two files (a benchmark's published split, e.g. MovieLens
// 100K's ua.base / ua.test), read into one users x videos shape so that vr-evaluate --train
// --test scores the same protocol as everyone else who uses those files.
#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "vr/ranking_metrics.h"
#include "vr/interactions.h"
#include "vr/ratings.h"

namespace vr {

// What reading the pair of files left out or could not rank.
struct GivenSplitSummary {
  std::uint64_t test_only_users = 0;         // users with test rows but no training rows: skipped
  std::uint64_t test_only_user_ratings = 0;  // their test ratings (not in Split::test)
  std::uint64_t test_ratings_in_train = 0;   // test pairs the user also has in train: dropped, since a
                                             // user's training videos are never ranked
  std::uint64_t test_ratings_on_new_videos = 0;  // test pairs on videos no one has in train: kept
                                                 // (they count as misses for every model)
};

// Both files in one shape. Split::train and Split::test share users x videos; users only in
// the test file keep an empty row in both.
struct GivenSplit {
  Split split;
  GivenSplitSummary summary;
  std::vector<std::string> video_ids;  // video index -> id: interaction logs, or ratings files with
                                       // a mappings.bin; empty otherwise
};

// Builds the split from triples already numbered alike (ratings files from one vr-features
// run): duplicate pairs are summed, pairs summing to zero dropped, then test rows of users
// without training ratings and test pairs present in train are left out and counted.
GivenSplit make_given_split(const std::vector<Rating>& train, const std::vector<Rating>& test, std::uint32_t users,
                            std::uint32_t videos);

// Reads two interaction logs in vr-features' input format (user_id, video_id, event or
// value, optional timestamp) with one id numbering (users and videos by sorted id, as
// vr-features numbers them); `features` (event weights, delimiter, time decay) applies to
// both files, and time decay needs features.decay_now. Throws InvalidInput naming the file,
// the line and the field on the first bad row.
GivenSplit read_given_split(std::istream& train, const std::string& train_name, std::istream& test,
                            const std::string& test_name, const FeaturesConfig& features);

// The files' format: ratings files (a user_idx column: vr-features' ratings.csv, indices from
// one mappings.bin) or interaction logs (anything else, as vr-features reads them).
enum class GivenSplitFormat { Ratings, Interactions };
// Looks at the header line of `path`. Throws IoError when it cannot be read.
GivenSplitFormat detect_given_split_format(const std::string& path);

// Reads `train_path` and `test_path` (both of one format, see detect_given_split_format).
// Ratings files take their shape from `mappings_path` when not empty, else from the largest
// indices in either file. Interaction logs with time decay and no features.decay_now decay
// from the newest timestamp of the training file. Throws InvalidInput when the formats differ.
GivenSplit load_given_split(const std::string& train_path, const std::string& test_path,
                            const std::string& mappings_path, const FeaturesConfig& features);

}  // namespace vr
