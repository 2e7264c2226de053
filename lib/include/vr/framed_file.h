// The envelope shared by vr's binary files: magic, format version, payload length, payload,
// checksum. Format-specific headers (model.h, mappings.h) document their own payloads.
#pragma once

#include <cstdint>
#include <istream>
#include <ostream>
#include <string>
#include <string_view>

namespace vr {

// A payload read back from a framed file, with the format version it was written with.
struct FramedPayload {
  std::uint32_t version = 0;
  std::string bytes;
};

// Writes magic (exactly 8 bytes), version, payload length, payload and checksum.
void write_framed(std::ostream& output, std::string_view magic, std::uint32_t version,
                  std::string_view payload);

// Reads and checks a framed file. Throws CorruptFile naming `source_name` for a wrong
// magic, a version above `newest_version`, a truncated file, or a checksum mismatch.
FramedPayload read_framed(std::istream& input, const std::string& source_name,
                          std::string_view magic, std::uint32_t newest_version,
                          std::string_view what);

// FNV-1a 64-bit hash of `bytes`.
std::uint64_t fnv1a64(std::string_view bytes);

}  // namespace vr
