// The artifacts directory that connects the tools: ratings.csv, mappings.bin, als_model.bin.
#pragma once

#include <string>

namespace vr {

// File names inside an artifacts directory.
inline constexpr const char* kRatingsFileName = "ratings.csv";
inline constexpr const char* kMappingsFileName = "mappings.bin";
inline constexpr const char* kModelFileName = "als_model.bin";  // an ALS model
inline constexpr const char* kEaseModelFileName = "ease_model.bin";
inline constexpr const char* kItemKnnModelFileName = "item_knn_model.bin";
// The directory the tools use when --dir is not given.
inline constexpr const char* kDefaultArtifactsDirectory = "artifacts";

// Paths of the three artifacts.
struct ArtifactPaths {
  std::string ratings;
  std::string mappings;
  std::string model;
};

// The file vr-train writes a model of `kind` ("als", "ease", "item-knn") to inside an
// artifacts directory: als_model.bin, ease_model.bin, item_knn_model.bin.
std::string model_file_name(const std::string& kind);

// The model file in `directory` for a reader: the one of als_model.bin, ease_model.bin and
// item_knn_model.bin it holds (directory/als_model.bin when it holds none, so that the error
// names the usual file). Throws InvalidInput naming them when it holds several.
std::string find_model_file(const std::string& directory);

// The paths inside `directory`, each replaced by its override when that is non-empty (the
// model: directory/als_model.bin; readers use find_model_file).
ArtifactPaths resolve_artifact_paths(const std::string& directory, const std::string& ratings_override = "",
                                     const std::string& mappings_override = "",
                                     const std::string& model_override = "");

}  // namespace vr
