// Fuzzes mappings.bin (read_mappings). Each input is tried twice: as a whole file, and as the
// payload of a well-formed envelope (magic, version, length, checksum made here), because a
// mutated whole file almost always stops at the checksum and the cereal payload would never
// be reached. Properties checked:
//   1. Only vr::CorruptFile escapes, and its message names the file.
//   2. Accepted mappings hold distinct, non-empty ids and survive a write/read round trip.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "vr/errors.h"
#include "vr/framed_file.h"
#include "vr/mappings.h"
#include "vr/version.h"

namespace {

void try_read(const std::string& bytes) {
  using vr::fuzz::check;
  constexpr const char* kSource = "<fuzz>";
  vr::Mappings mappings;
  try {
    std::istringstream input(bytes, std::ios::binary);
    mappings = vr::read_mappings(input, kSource);
  } catch (const vr::CorruptFile& error) {
    vr::fuzz::check_names_source(error.what(), kSource);
    return;
  }
  for (const auto* ids : {&mappings.users, &mappings.videos}) {
    for (std::uint32_t i = 0; i < ids->size(); ++i) {
      check(!ids->id(i).empty(), "empty id accepted");
      check(ids->find(ids->id(i)) == i, "id does not map back to its index");
    }
  }
  std::stringstream written(std::ios::in | std::ios::out | std::ios::binary);
  vr::write_mappings(written, mappings);
  const auto read_back = vr::read_mappings(written, "<written>");
  check(read_back.users.ids() == mappings.users.ids() && read_back.videos.ids() == mappings.videos.ids(),
        "round trip changed the ids");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try_read(bytes);
  std::ostringstream framed(std::ios::binary);
  vr::write_framed(framed, std::string_view("VRMAPS\0\0", 8), vr::kMappingsFormatVersion, bytes);
  try_read(framed.str());
  return 0;
}
