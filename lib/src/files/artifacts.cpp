#include "vr/artifacts.h"

#include <filesystem>
#include <vector>

#include "vr/errors.h"

namespace vr {

std::string model_file_name(const std::string& kind) {
  if (kind == "ease") return kEaseModelFileName;
  if (kind == "item-knn") return kItemKnnModelFileName;
  return kModelFileName;
}

std::string find_model_file(const std::string& directory) {
  const std::filesystem::path base(directory.empty() ? kDefaultArtifactsDirectory : directory);
  std::vector<std::string> present;
  for (const char* name : {kModelFileName, kEaseModelFileName, kItemKnnModelFileName}) {
    std::error_code error;
    if (std::filesystem::exists(base / name, error)) present.push_back((base / name).string());
  }
  if (present.size() > 1) {
    std::string names;
    for (const auto& path : present) names += (names.empty() ? "" : ", ") + path;
    throw InvalidInput("'" + base.string() + "' holds more than one model (" + names +
                       "); choose one with --model PATH, or remove the others");
  }
  return present.empty() ? (base / kModelFileName).string() : present.front();
}

ArtifactPaths resolve_artifact_paths(const std::string& directory, const std::string& ratings_override,
                                     const std::string& mappings_override, const std::string& model_override) {
  const std::filesystem::path base(directory.empty() ? kDefaultArtifactsDirectory : directory);
  return ArtifactPaths{
      ratings_override.empty() ? (base / kRatingsFileName).string() : ratings_override,
      mappings_override.empty() ? (base / kMappingsFileName).string() : mappings_override,
      model_override.empty() ? (base / kModelFileName).string() : model_override,
  };
}

}  // namespace vr
