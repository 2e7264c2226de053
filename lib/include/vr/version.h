// Versions of the vr library and of the binary file formats it writes.
#pragma once

#include <cstdint>

namespace vr {

// The library version, e.g. "0.1.0" (set from CMake's project version).
inline constexpr const char* kVersion = VR_VERSION_STRING;

// Format version of als_model.bin (2 added EASE and item-knn; 1 still loads); a loader
// rejects files with a larger one.
inline constexpr std::uint32_t kModelFormatVersion = 2;

// Format version of mappings.bin; a loader rejects files with a larger one.
inline constexpr std::uint32_t kMappingsFormatVersion = 1;

}  // namespace vr
