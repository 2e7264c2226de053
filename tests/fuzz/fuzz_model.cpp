// Fuzzes als_model.bin (read_model). Each input is tried twice: as a whole file, and as the
// payload of a well-formed envelope (magic, version, length, checksum made here), because a
// mutated whole file almost always stops at the checksum and the cereal payload would never
// be reached. Properties checked:
//   1. Only vr::CorruptFile escapes, and its message names the file.
//   2. An accepted model's factor shapes agree with its recorded data shape and config, and
//      it survives a write/read round trip byte for byte.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "vr/errors.h"
#include "vr/framed_file.h"
#include "vr/model.h"
#include "vr/version.h"

namespace {

void try_read(const std::string& bytes) {
  using vr::fuzz::check;
  constexpr const char* kSource = "<fuzz>";
  vr::Model model;
  try {
    std::istringstream input(bytes, std::ios::binary);
    model = vr::read_model(input, kSource);
  } catch (const vr::CorruptFile& error) {
    vr::fuzz::check_names_source(error.what(), kSource);
    return;
  }
  const auto& info = model.info;
  check(model.factors.user_factors.rows() == info.n_users && model.factors.item_factors.rows() == info.n_videos,
        "factor rows disagree with the data shape");
  check(model.factors.user_factors.cols() == info.config.factors &&
            model.factors.item_factors.cols() == info.config.factors,
        "factor columns disagree with the config");
  std::ostringstream written(std::ios::binary);
  vr::write_model(written, model);
  std::istringstream reread_input(written.str(), std::ios::binary);
  const auto read_back = vr::read_model(reread_input, "<written>");
  std::ostringstream rewritten(std::ios::binary);
  vr::write_model(rewritten, read_back);
  check(rewritten.str() == written.str(), "round trip changed the model file");
  (void)vr::describe(read_back.info);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try_read(bytes);
  std::ostringstream framed(std::ios::binary);
  vr::write_framed(framed, std::string_view("VRMODEL\0", 8), vr::kModelFormatVersion, bytes);
  try_read(framed.str());
  return 0;
}
