// Versions of the vr library and of the binary file formats it writes.
#pragma once

#include <cstdint>

namespace vr {

// The library version, e.g. "0.1.0" (set from CMake's project version).
inline constexpr const char* kVersion = VR_VERSION_STRING;

// Newest format version of als_model.bin (2 added EASE and item-knn; 3 records iALS's
// unobserved weight and regularisation exponent, and is written only for a model trained with
// other values than implicit's, so every other model is still a format 2 file; 1 still
// loads); a loader rejects files with a larger one.
inline constexpr std::uint32_t kModelFormatVersion = 3;

// Format version of mappings.bin; a loader rejects files with a larger one.
inline constexpr std::uint32_t kMappingsFormatVersion = 1;

}  // namespace vr
