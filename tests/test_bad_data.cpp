// Bad data, clearly refused: inputs nobody cleaned either work or fail with an error that names
// the file and line, and never crash or silently change the result. Also the regression tests
// of the bugs the fuzzers found (tests/fuzz).
#include <catch2/catch.hpp>

#include <cstdio>
#include <sstream>
#include <string>

#include "support/test_support.h"
#include "vr/errors.h"
#include "vr/framed_file.h"
#include "vr/interactions.h"
#include "vr/mappings.h"
#include "vr/model.h"
#include "vr/ratings.h"
#include "vr/service.h"
#include "vr/version.h"

namespace {

vr::AggregatedInteractions aggregate(const std::string& csv, vr::FeaturesConfig config = {}) {
  std::istringstream input(csv);
  return vr::aggregate_interactions(input, "events.csv", config);
}

// The message of the InvalidInput that aggregating `csv` throws ("" if none).
std::string interactions_error(const std::string& csv) {
  try {
    aggregate(csv);
  } catch (const vr::InvalidInput& error) {
    return error.what();
  }
  return "";
}

std::string ratings_error(const std::string& csv) {
  try {
    std::istringstream input(csv);
    vr::read_ratings_csv(input, "ratings.csv");
  } catch (const vr::InvalidInput& error) {
    return error.what();
  }
  return "";
}

constexpr std::size_t kMiB = std::size_t{1} << 20;

// An interactions CSV over 48 MiB without a final newline, laid out so that the byte at
// 32 MiB + x (x = size - 48 MiB) is '\n': fast-cpp-csv-parser's LineReader then finds a stale
// '\n' just past its data after its second buffer shift, steps past the end and returns stale
// bytes as extra lines (and eventually reads off its buffer). Sets `rows` to the true count.
std::string stale_newline_layout(std::size_t& rows) {
  const std::string header = "user_id,video_id,event\n";
  for (int pad = 0; pad < 40; ++pad) {
    const std::size_t row_length = 1 + 6 + 1 + 1 + 6 + static_cast<std::size_t>(pad) + 1 + 5 + 1;
    std::size_t x = 1;
    while ((32 * kMiB + x - (header.size() - 1)) % row_length != 0) ++x;
    const std::size_t total = 48 * kMiB + x;
    const std::size_t last_length = (total - header.size()) % row_length;
    if (last_length < 20) continue;
    const std::size_t full_rows = (total - header.size()) / row_length;
    std::string text = header;
    text.reserve(total);
    char buffer[96];
    for (std::size_t i = 0; i < full_rows; ++i) {
      const int written =
          std::snprintf(buffer, sizeof buffer, "u%06zu,v%0*zu,watch\n", i % 1000, 6 + pad, i % 500);
      if (written != static_cast<int>(row_length)) FAIL("row " << i << " is " << written << " bytes");
      text += buffer;
    }
    std::string last = "u000001,v";
    last += std::string(last_length - last.size() - 6, '7');
    last += ",watch";
    text += last;
    REQUIRE(text.size() == total);
    REQUIRE(text[32 * kMiB + x] == '\n');
    REQUIRE(text.back() != '\n');
    rows = full_rows + 1;
    return text;
  }
  FAIL("no layout found");
  return "";
}

}  // namespace

TEST_CASE("a million distinct users in one file work") {
  std::string csv = "user_id,video_id,event\n";
  csv.reserve(30 * 1000000);
  for (int user = 0; user < 1000000; ++user) {
    csv += "user" + std::to_string(user) + ",v" + std::to_string(user % 97) + ",watch\n";
  }
  const auto result = aggregate(csv);
  CHECK(result.rows_read == 1000000);
  CHECK(result.users.size() == 1000000);
  CHECK(result.videos.size() == 97);
  CHECK(result.ratings.size() == 1000000);
  std::stringstream mappings_file;
  vr::write_mappings(mappings_file, vr::Mappings{result.users, result.videos});
  const auto mappings = vr::read_mappings(mappings_file, "mappings.bin");
  CHECK(mappings.users.ids() == result.users.ids());
}

TEST_CASE("a million fields on one line: extra columns are ignored, a bad field is named with its line") {
  std::string wide_row = "u1,v1,watch";
  for (int field = 0; field < 1000000; ++field) wide_row += ",x";
  const auto result = aggregate("user_id,video_id,event\n" + wide_row + "\n");
  CHECK(result.users.size() == 1);
  CHECK(result.ratings.size() == 1);

  std::string bad_row = "u1,v1";
  for (int field = 0; field < 1000000; ++field) bad_row += ",u" + std::to_string(field);
  const auto message = interactions_error("user_id,video_id,event\nu0,v0,watch\n" + bad_row + "\n");
  CHECK(message.rfind("events.csv:3: field 'event': unknown event 'u0'", 0) == 0);
  CHECK(message.size() < 1000);
}

TEST_CASE("ids of 100 KB work and survive ratings.csv and mappings.bin") {
  const std::string long_user(100 * 1024, 'u');
  const std::string long_video = std::string(100 * 1024 - 1, 'v') + "\xc3\xa9";  // ends in UTF-8 "é"
  const auto result = aggregate("user_id,video_id,value\n" + long_user + "," + long_video + ",2\nu2,v2,1\n");
  REQUIRE(result.users.size() == 2);
  CHECK(result.users.find(long_user).has_value());
  CHECK(result.videos.find(long_video).has_value());
  std::stringstream mappings_file;
  vr::write_mappings(mappings_file, vr::Mappings{result.users, result.videos});
  const auto mappings = vr::read_mappings(mappings_file, "mappings.bin");
  CHECK(mappings.videos.ids() == result.videos.ids());
}

TEST_CASE("a line over 16 MiB is refused with its line number") {
  const std::string huge_id(17 * kMiB, 'u');
  const auto message = interactions_error("user_id,video_id,event\nu1,v1,watch\n" + huge_id + ",v1,watch\n");
  CHECK(message == "events.csv:3: line longer than 16 MiB");
}

TEST_CASE("non-finite and out-of-range values are refused with file, line and field") {
  const std::string header = "user_id,video_id,value\nu0,v0,1\n";
  for (const std::string value : {"1e309", "-1e309", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "3.5e38", "0x10", "1,5", ""}) {
    CAPTURE(value);
    const auto message = interactions_error(header + "u1,v1," + value + "\n");
    if (value == "1,5") {
      // "1,5" is two fields: "1" is a fine value and the extra column is ignored.
      CHECK(message.empty());
      continue;
    }
    CHECK(message == "events.csv:3: field 'value': '" + value + "' is not a finite number");
  }
  for (const std::string value : {"1e309", "nan", "inf", "-inf", "3.5e38"}) {
    CAPTURE(value);
    CHECK(ratings_error("user_idx,video_idx,rating\n0,0," + value + "\n") ==
          "ratings.csv:2: field 'rating': '" + value + "' is not a finite number");
  }
}

TEST_CASE("negative zero carries no information: dropped from interactions, refused in ratings.csv") {
  const auto result = aggregate("user_id,video_id,value\nu1,v1,-0\nu1,v2,1\nu2,v1,-0.0\n");
  REQUIRE(result.ratings.size() == 1);
  CHECK(result.videos.id(result.ratings[0].video) == "v2");
  CHECK(ratings_error("user_idx,video_idx,rating\n0,0,1\n0,1,-0\n") ==
        "ratings.csv:3: field 'rating': a zero rating carries no information");
}

TEST_CASE("regression: a rating too small for a 32-bit float is refused, not stored as zero") {
  // Found by fuzz_ratings: 1e-98 is a non-zero double but 0 as the float32 a rating is stored
  // as, so it passed the zero check and reached training as a zero rating.
  CHECK(ratings_error("user_idx,video_idx,rating\n0,0,1\n0,1,1e-98\n") ==
        "ratings.csv:3: field 'rating': '1e-98' is zero as a 32-bit float; a zero rating carries no information");
  CHECK(ratings_error("user_idx,video_idx,rating\n0,1,-1e-50\n") ==
        "ratings.csv:2: field 'rating': '-1e-50' is zero as a 32-bit float; a zero rating carries no information");
  // The smallest float32 values still count (denormals are not zero).
  std::istringstream tiny("user_idx,video_idx,rating\n0,0,1e-44\n");
  const auto ratings = vr::read_ratings_csv(tiny, "ratings.csv");
  REQUIRE(ratings.size() == 1);
  CHECK(ratings[0].value > 0.0f);
  // In interactions such a weight adds nothing, like -0: the pair is dropped.
  const auto result = aggregate("user_id,video_id,value\nu1,v1,1e-98\nu1,v2,1\n");
  REQUIRE(result.ratings.size() == 1);
  CHECK(result.videos.id(result.ratings[0].video) == "v2");
}

TEST_CASE("duplicate header columns are refused on line 1") {
  CHECK(interactions_error("user_id,video_id,user_id,event\nu1,v1,u2,watch\n") ==
        "events.csv:1: column 'user_id' appears more than once in the header");
  CHECK(interactions_error("user_id,video_id, event ,event\nu1,v1,watch,watch\n") ==
        "events.csv:1: column 'event' appears more than once in the header");
  CHECK(ratings_error("user_idx,video_idx,rating,rating\n0,0,1,1\n") ==
        "ratings.csv:1: column 'rating' appears more than once in the header");
}

TEST_CASE("a missing newline at the end of the file loses nothing") {
  for (const std::string ending : {"", "\r"}) {
    const auto result = aggregate("user_id,video_id,event\nu1,v1,watch\nu2,v2,like" + ending);
    CHECK(result.rows_read == 2);
    CHECK(result.ratings.size() == 2);
  }
  std::istringstream ratings("user_idx,video_idx,rating\n0,0,1\n1,1,2.5");
  const auto read = vr::read_ratings_csv(ratings, "ratings.csv");
  REQUIRE(read.size() == 2);
  CHECK(read[1].value == 2.5f);
}

TEST_CASE("regression: a file over 48 MiB without a final newline reads exactly its rows") {
  // Before the fix, fccp's LineReader returned ~1000 stale lines more here, then read off its
  // buffer (found by tests/fuzz/fuzz_interactions; lib/src/data/csv.cpp now ends every input in '\n').
  std::size_t rows = 0;
  const std::string csv = stale_newline_layout(rows);
  const auto result = aggregate(csv);
  CHECK(result.rows_read == rows);
  CHECK(result.users.size() == 1000);
}

TEST_CASE("regression: a NUL byte is refused with its line instead of cutting the line short") {
  const char events[] = "user_id,video_id,value\nu1,v1,1\nu2,v2,1\0.5\n";
  CHECK(interactions_error(std::string(events, sizeof events - 1)) ==
        "events.csv:3: NUL byte in the input (not a text CSV file?)");
  const char ratings[] = "user_idx,video_idx,rating\n0,0,1\0";
  CHECK(ratings_error(std::string(ratings, sizeof ratings - 1)) ==
        "ratings.csv:2: NUL byte in the input (not a text CSV file?)");
}

TEST_CASE("regression: a model file claiming a 1 GiB string is refused before allocating it") {
  // A payload whose first field (the vr version string) claims 2^30 bytes, in a well-formed
  // envelope with a correct checksum (found by tests/fuzz/fuzz_model).
  std::string payload(1, '\x01');  // cereal portable binary: little-endian flag
  payload += std::string("\x01\x00\x00\x00", 4);  // ModelInfo class version 1
  payload += std::string("\x00\x00\x00\x40\x00\x00\x00\x00", 8);  // string length 2^30
  payload += "0.1.0";
  std::ostringstream file(std::ios::binary);
  vr::write_framed(file, std::string_view("VRMODEL\0", 8), vr::kModelFormatVersion, payload);
  std::istringstream input(file.str(), std::ios::binary);
  try {
    vr::read_model(input, "als_model.bin");
    FAIL("a corrupt model was accepted");
  } catch (const vr::CorruptFile& error) {
    CHECK_THAT(error.what(), Catch::Contains("'als_model.bin'") && Catch::Contains("larger than the file"));
  }
}

TEST_CASE("regression: a JSON parse error cut inside a UTF-8 character still gives a writable 422") {
  // nlohmann quotes the bytes it last read; they may stop inside a multi-byte character, and
  // the detail then could not be dumped (found by tests/fuzz/fuzz_invocations_json).
  const std::string body("{\xd1\xbd\x11\x00@`\x00\x00\"{\"\"q\x1f\x00\x00!\x00:\"q\x1f\x00\x00!\x00:3\"h0", 32);
  try {
    vr::parse_json_body(body, vr::ServiceLimits{});
    FAIL("broken JSON was accepted");
  } catch (...) {
    const auto reply = vr::error_reply(std::current_exception());
    CHECK(reply.status >= 400);
    CHECK(reply.status < 500);
    CHECK_NOTHROW(reply.body.dump());
  }
  for (const std::string cut : {"[\"a\xc3", "{\"k\": 1\xe2\x82", "tru\xf0\x9f\x98"}) {
    INFO("body: " << cut);
    bool accepted = false;
    try {
      vr::parse_json_body(cut, vr::ServiceLimits{});
      accepted = true;
    } catch (...) {
      const auto reply = vr::error_reply(std::current_exception());
      // Cut inside a character, the body is not UTF-8: the 400 of a body that is not JSON.
      CHECK(reply.status == 400);
      CHECK(reply.body == vr::OrderedJson{{"detail", "There was an error parsing the body"}});
      CHECK_NOTHROW(reply.body.dump());
    }
    CHECK_FALSE(accepted);
  }
}

TEST_CASE("regression: a number beyond a double in a request body is a 422, not a 500") {
  // nlohmann reports "1e400" as out_of_range, which escaped as a 500 (found by
  // tests/fuzz/fuzz_invocations_json).
  for (const std::string body : {"{\"user_id\": \"u1\", \"k\": 1e400}", "466.6666000000000000009123231122364e213930"}) {
    try {
      vr::parse_json_body(body, vr::ServiceLimits{});
      FAIL("an out-of-range number was accepted");
    } catch (...) {
      CHECK(vr::error_reply(std::current_exception()).status == 422);
    }
  }
}

TEST_CASE("regression: {\"history\": []} without a user is a 422 naming history") {
  // It passed validation and answer() then read the empty optional user_id (UBSan in
  // tests/fuzz/fuzz_invocations_jsonl).
  try {
    vr::parse_request(nlohmann::json::parse(R"({"history": []})"), nlohmann::json::array({"body"}), vr::ServiceLimits{});
    FAIL("an empty history without a user was accepted");
  } catch (const vr::ValidationError& error) {
    REQUIRE(error.issues().size() == 1);
    CHECK(error.issues()[0].loc == nlohmann::json::array({"body", "history"}));
    CHECK(error.issues()[0].type == "too_short");
  }
  CHECK_NOTHROW(vr::parse_request(nlohmann::json::parse(R"({"user_id": "u1", "history": []})"),
                                  nlohmann::json::array({"body"}), vr::ServiceLimits{}));
}
