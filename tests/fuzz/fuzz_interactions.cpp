// Fuzzes vr-features' input: an interactions CSV row stream (aggregate_interactions), in the
// strict and the --skip-invalid modes. Properties checked on every input:
//   1. Only vr::InvalidInput escapes, and its message names the input ("<fuzz>:LINE: ...").
//   2. An accepted input yields sorted, in-range, finite, non-zero ratings and sorted ids.
//   3. The ratings written as ratings.csv and the ids written as mappings.bin read back equal.
//   4. --skip-invalid accepts whatever strict mode accepts, with the same result.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "fuzz_common.h"
#include "vr/errors.h"
#include "vr/interactions.h"
#include "vr/mappings.h"
#include "vr/ratings.h"

namespace {

constexpr const char* kSource = "<fuzz>";

void check_result(const vr::AggregatedInteractions& result) {
  using vr::fuzz::check;
  for (std::size_t i = 0; i < result.ratings.size(); ++i) {
    const auto& rating = result.ratings[i];
    check(rating.user < result.users.size() && rating.video < result.videos.size(), "index out of range");
    check(std::isfinite(rating.value) && rating.value != 0.0f, "rating not finite or zero");
    if (i > 0) {
      const auto& previous = result.ratings[i - 1];
      check(previous.user < rating.user || (previous.user == rating.user && previous.video < rating.video),
            "ratings not strictly sorted by (user, video)");
    }
  }
  for (const auto* ids : {&result.users, &result.videos}) {
    for (std::uint32_t i = 0; i < ids->size(); ++i) {
      check(!ids->id(i).empty(), "empty id accepted");
      if (i > 0) check(ids->id(i - 1) < ids->id(i), "ids not strictly sorted");
    }
  }
}

void check_round_trips(const vr::AggregatedInteractions& result) {
  using vr::fuzz::check;
  std::stringstream ratings_csv;
  vr::write_ratings_csv(ratings_csv, result.ratings);
  const auto read_back = vr::read_ratings_csv(ratings_csv, "<ratings>");
  check(read_back.size() == result.ratings.size(), "ratings.csv round trip changed the row count");
  for (std::size_t i = 0; i < read_back.size(); ++i) {
    check(read_back[i].user == result.ratings[i].user && read_back[i].video == result.ratings[i].video &&
              read_back[i].value == result.ratings[i].value,
          "ratings.csv round trip changed a rating");
  }
  std::stringstream mappings_bin;
  vr::write_mappings(mappings_bin, vr::Mappings{result.users, result.videos});
  const auto mappings = vr::read_mappings(mappings_bin, "<mappings>");
  check(mappings.users.ids() == result.users.ids() && mappings.videos.ids() == result.videos.ids(),
        "mappings.bin round trip changed the ids");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  vr::FeaturesConfig config;
  bool strict_accepted = false;
  vr::AggregatedInteractions strict;
  try {
    std::istringstream input(text);
    strict = vr::aggregate_interactions(input, kSource, config);
    strict_accepted = true;
  } catch (const vr::InvalidInput& error) {
    vr::fuzz::check_names_source(error.what(), kSource);
  }
  if (strict_accepted) {
    vr::fuzz::check(strict.skipped.total() == 0, "strict mode skipped rows");
    check_result(strict);
    check_round_trips(strict);
  }

  config.skip_invalid = true;
  try {
    std::istringstream input(text);
    const auto lenient = vr::aggregate_interactions(input, kSource, config);
    check_result(lenient);
    vr::fuzz::check(lenient.rows_read >= lenient.skipped.total(), "skipped more rows than read");
    if (strict_accepted) {
      vr::fuzz::check(lenient.skipped.total() == 0 && lenient.ratings.size() == strict.ratings.size() &&
                          lenient.users.ids() == strict.users.ids() && lenient.videos.ids() == strict.videos.ids(),
                      "--skip-invalid changed the result of a valid input");
    }
  } catch (const vr::InvalidInput& error) {
    vr::fuzz::check(!strict_accepted, "--skip-invalid rejected an input strict mode accepted");
    vr::fuzz::check_names_source(error.what(), kSource);
  }
  return 0;
}
