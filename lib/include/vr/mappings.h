// mappings.bin: the user and video ids behind the dense indices of ratings.csv and the model.
//
// File layout (all integers little-endian):
//   1. magic, 8 bytes: "VRMAPS\0\0"
//   2. format version, uint32 (kMappingsFormatVersion)
//   3. payload length in bytes, uint64
//   4. payload: a cereal portable binary archive of Mappings (CEREAL_CLASS_VERSION'd)
//   5. FNV-1a 64-bit checksum of the payload, uint64
#pragma once

#include <cstdint>
#include <istream>
#include <ostream>
#include <string>

#include "vr/id_map.h"

namespace vr {

struct Mappings {
  IdMap users;   // user id <-> user index
  IdMap videos;  // video id <-> video index
};

// Writes mappings.bin to `output`.
void write_mappings(std::ostream& output, const Mappings& mappings);
// Reads mappings.bin. Throws CorruptFile naming `source_name` on a wrong magic, a newer
// version, a truncated or corrupt file.
Mappings read_mappings(std::istream& input, const std::string& source_name);

// How many users and videos a mappings.bin holds: what a process that needs only the matrix
// shape reads (vr-train under mpirun), without holding the ids, which it skips as it
// streams the file (for 100M ids read_mappings takes gigabytes). The file is checked as
// read_mappings checks it (magic, version, length, checksum), except that its ids are not
// checked for duplicates.
struct MappingsShape {
  std::uint64_t users = 0;
  std::uint64_t videos = 0;
};
MappingsShape read_mappings_shape(std::istream& input, const std::string& source_name);

// Path wrappers: load from a file / write atomically.
MappingsShape load_mappings_shape(const std::string& path);
Mappings load_mappings(const std::string& path);
void save_mappings(const std::string& path, const Mappings& mappings);

}  // namespace vr
