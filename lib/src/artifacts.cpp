#include "vr/artifacts.h"

#include <filesystem>

namespace vr {

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
