// The artifacts directory that connects the tools: ratings.csv, mappings.bin, als_model.bin.
#pragma once

#include <string>

namespace vr {

// File names inside an artifacts directory.
inline constexpr const char* kRatingsFileName = "ratings.csv";
inline constexpr const char* kMappingsFileName = "mappings.bin";
inline constexpr const char* kModelFileName = "als_model.bin";
// The directory the tools use when --dir is not given.
inline constexpr const char* kDefaultArtifactsDirectory = "artifacts";

// Paths of the three artifacts.
struct ArtifactPaths {
  std::string ratings;
  std::string mappings;
  std::string model;
};

// The paths inside `directory`, each replaced by its override when that is non-empty.
ArtifactPaths resolve_artifact_paths(const std::string& directory, const std::string& ratings_override = "",
                                     const std::string& mappings_override = "",
                                     const std::string& model_override = "");

}  // namespace vr
