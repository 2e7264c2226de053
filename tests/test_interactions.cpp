// vr-features' logic: CSV edge cases, aggregation, bad input.
#include <catch2/catch.hpp>

#include <sstream>

#include "support/test_support.h"
#include "vr/errors.h"
#include "vr/interactions.h"

using vr::AggregatedInteractions;
using vr::FeaturesConfig;

namespace {

AggregatedInteractions aggregate(const std::string& csv, FeaturesConfig config = {}) {
  std::istringstream input(csv);
  return vr::aggregate_interactions(input, "events.csv", config);
}

// (user id, video id) -> rating, for readable assertions.
std::map<std::pair<std::string, std::string>, float> as_map(const AggregatedInteractions& result) {
  std::map<std::pair<std::string, std::string>, float> cells;
  for (const auto& rating : result.ratings) {
    cells[{result.users.id(rating.user), result.videos.id(rating.video)}] = rating.value;
  }
  return cells;
}

std::string error_of(const std::string& csv, FeaturesConfig config = {}) {
  try {
    aggregate(csv, config);
  } catch (const vr::InvalidInput& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST_CASE("the bundled data/interactions.csv aggregates to the original design's matrix") {
  const auto result = aggregate(vr::test::read_file(vr::test::source_path("data/interactions.csv")));
  const std::map<std::pair<std::string, std::string>, float> expected{
      {{"u001", "v001"}, 3}, {{"u001", "v002"}, 1}, {{"u002", "v003"}, 4},
      {{"u003", "v004"}, 1}, {{"u004", "v005"}, 3}, {{"u005", "v001"}, 1}};
  CHECK(as_map(result) == expected);
  CHECK(result.users.size() == 5);
  CHECK(result.videos.size() == 5);
  // Indices follow sorted ids, as pandas' category codes do: u001 -> 0, v001 -> 0.
  CHECK(result.users.id(0) == "u001");
  CHECK(result.users.id(4) == "u005");
  CHECK(result.videos.id(2) == "v003");
}

TEST_CASE("columns are found by header name in any order, with a value column") {
  const auto result = aggregate("timestamp,value,video_id,user_id\nt,2.5,b,a\nt,0.5,b,a\nt,1,c,a\n");
  CHECK(as_map(result) == std::map<std::pair<std::string, std::string>, float>{{{"a", "b"}, 3.0f}, {{"a", "c"}, 1.0f}});
}

TEST_CASE("quoted fields, CRLF line ends, a UTF-8 BOM and blank lines are handled") {
  const std::string csv =
      "\xEF\xBB\xBFuser_id,video_id,event\r\n"
      "\"u,1\",\"v \"\"quoted\"\"\",watch\r\n"
      "\r\n"
      "\n"
      "\"u,1\",\"v \"\"quoted\"\"\",\"like\"\r\n"
      "u2,v2,complete";  // no final newline
  const auto result = aggregate(csv);
  CHECK(as_map(result) == std::map<std::pair<std::string, std::string>, float>{
                              {{"u,1", "v \"quoted\""}, 3.0f}, {{"u2", "v2"}, 3.0f}});
  CHECK(result.rows_read == 3);
}

TEST_CASE("custom event weights apply and negative weights are kept") {
  FeaturesConfig config;
  config.event_weights = vr::parse_event_weights("watch=1, skip=-2");
  const auto result = aggregate("user_id,video_id,event\na,x,watch\na,y,skip\n", config);
  CHECK(as_map(result) == std::map<std::pair<std::string, std::string>, float>{{{"a", "x"}, 1.0f}, {{"a", "y"}, -2.0f}});
  CHECK_THROWS_AS(vr::parse_event_weights("watch"), vr::InvalidInput);
  CHECK_THROWS_AS(vr::parse_event_weights("watch=abc"), vr::InvalidInput);
  CHECK_THROWS_AS(vr::parse_event_weights("watch=1,watch=2"), vr::InvalidInput);
}

TEST_CASE("pairs whose weights cancel out are dropped") {
  const auto result = aggregate("user_id,video_id,value\na,x,2\na,x,-2\na,y,1\n");
  CHECK(as_map(result) == std::map<std::pair<std::string, std::string>, float>{{{"a", "y"}, 1.0f}});
}

TEST_CASE("bad rows fail with the file, line and field") {
  CHECK_THAT(error_of("user_id,video_id,event\na,x,watch\nb,y,rewind\n"),
             Catch::Contains("events.csv:3") && Catch::Contains("event") && Catch::Contains("rewind"));
  CHECK_THAT(error_of("user_id,video_id,value\na,x,1\na,y,lots\n"),
             Catch::Contains("events.csv:3") && Catch::Contains("value") && Catch::Contains("lots"));
  CHECK_THAT(error_of("user_id,video_id,value\na,x,1\n\n,y,1\n"),
             Catch::Contains("events.csv:4") && Catch::Contains("user_id"));
  CHECK_THAT(error_of("user_id,video_id,value\na, ,1\n"), Catch::Contains("events.csv:2") && Catch::Contains("video_id"));
  CHECK_THAT(error_of("user_id,video_id,value\na,x\n"), Catch::Contains("events.csv:2") && Catch::Contains("fields"));
  CHECK_THAT(error_of("user_id,video_id,value\na,x,nan\n"), Catch::Contains("events.csv:2"));
  CHECK_THAT(error_of("user_id,video_id,value\na,x,1e309\n"), Catch::Contains("events.csv:2"));
  CHECK_THAT(error_of("user_id,video_id,value\na,\"x,1\n"), Catch::Contains("events.csv:2") && Catch::Contains("quote"));
}

TEST_CASE("a missing column is named") {
  CHECK_THAT(error_of("user,video_id,event\na,x,watch\n"), Catch::Contains("user_id") && Catch::Contains(":1"));
  CHECK_THAT(error_of("user_id,video_id\na,x\n"), Catch::Contains("event") && Catch::Contains("value"));
  CHECK_THAT(error_of("user_id,video_id,event,event\na,x,watch,watch\n"), Catch::Contains("more than once"));
  CHECK_THAT(error_of(""), Catch::Contains("empty"));
}

TEST_CASE("skip-invalid skips bad rows and counts them by reason") {
  FeaturesConfig config;
  config.skip_invalid = true;
  const auto result = aggregate(
      "user_id,video_id,event\na,x,watch\nb,y,rewind\n,z,watch\nc,z,rewind\nd,w\ne,v,like\n", config);
  CHECK(as_map(result) == std::map<std::pair<std::string, std::string>, float>{{{"a", "x"}, 1.0f}, {{"e", "v"}, 2.0f}});
  CHECK(result.skipped.count_by_reason.at("unknown event") == 2);
  CHECK(result.skipped.count_by_reason.at("empty user_id") == 1);
  CHECK(result.skipped.count_by_reason.at("too few fields") == 1);
  CHECK(result.skipped.total() == 4);
}

TEST_CASE("the same input in another row order gives the same ratings") {
  const auto forward = aggregate("user_id,video_id,event\nb,y,watch\na,x,like\nb,x,watch\na,x,watch\n");
  const auto shuffled = aggregate("user_id,video_id,event\na,x,watch\nb,x,watch\na,x,like\nb,y,watch\n");
  REQUIRE(forward.ratings.size() == shuffled.ratings.size());
  for (std::size_t i = 0; i < forward.ratings.size(); ++i) {
    CHECK(forward.ratings[i].user == shuffled.ratings[i].user);
    CHECK(forward.ratings[i].video == shuffled.ratings[i].video);
    CHECK(forward.ratings[i].value == shuffled.ratings[i].value);
  }
}

TEST_CASE("aggregation of many rows matches a straightforward map") {
  // A pseudo-random log large enough to make the pair table grow several times.
  std::ostringstream csv;
  csv << "user_id,video_id,value\n";
  std::map<std::pair<std::string, std::string>, float> expected;
  std::uint64_t state = 12345;
  for (int row = 0; row < 200000; ++row) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const std::string user = "u" + std::to_string((state >> 33) % 3000);
    const std::string video = "v" + std::to_string((state >> 13) % 500);
    const int value = 1 + static_cast<int>((state >> 50) % 3);
    csv << user << "," << video << "," << value << "\n";
    expected[{user, video}] += static_cast<float>(value);
  }
  CHECK(as_map(aggregate(csv.str())) == expected);
}

TEST_CASE("grouped runs, long ids and enough ids to switch on the hot-id caches match a straightforward map") {
  // Over 4096 distinct users and videos (the caches switch on), rows in runs of one user (the
  // look-up is skipped) and ids past the caches' 27 bytes, resolved in batches of 64 rows.
  std::ostringstream csv;
  csv << "user_id,video_id,value\n";
  std::map<std::pair<std::string, std::string>, float> expected;
  std::uint64_t state = 777;
  const auto next = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  for (int run = 0; run < 30000; ++run) {
    const std::uint64_t user_number = next() % 9000;
    const std::string user = user_number % 7 == 0 ? "user-with-a-rather-long-identifier-" + std::to_string(user_number)
                                                  : "u" + std::to_string(user_number);
    const int rows = 1 + static_cast<int>(next() % 9);
    for (int row = 0; row < rows; ++row) {
      const std::uint64_t video_number = next() % 7000;
      const std::string video = video_number % 5 == 0 ? "video-" + std::string(30, 'x') + std::to_string(video_number)
                                                      : "v" + std::to_string(video_number);
      const int value = static_cast<int>(next() % 5) - 1;
      csv << user << "," << video << "," << value << "\n";
      expected[{user, video}] += static_cast<float>(value);
    }
  }
  std::erase_if(expected, [](const auto& entry) { return entry.second == 0.0f; });
  CHECK(as_map(aggregate(csv.str())) == expected);
}

TEST_CASE("semicolon- and tab-separated files are read, the delimiter detected from the header") {
  const auto semicolons = aggregate("user_id;video_id;event\nu1;v1;watch\nu1;v2;like\n");
  CHECK(semicolons.delimiter == ';');
  CHECK(as_map(semicolons) == std::map<std::pair<std::string, std::string>, float>{{{"u1", "v1"}, 1}, {{"u1", "v2"}, 2}});
  const auto tabs = aggregate("user_id\tvideo_id\tvalue\nu1\tv1\t2.5\n");
  CHECK(tabs.delimiter == '\t');
  CHECK(as_map(tabs).at({"u1", "v1"}) == 2.5f);
  CHECK(aggregate("user_id,video_id,event\nu1,v1,watch\n").delimiter == ',');
  // Given explicitly, the delimiter is not guessed: a comma file read as ';' has one column.
  FeaturesConfig config;
  config.delimiter = ';';
  CHECK_THAT(error_of("user_id,video_id,event\nu1,v1,watch\n", config),
             Catch::Contains("missing column 'user_id'") && Catch::Contains("single field") &&
                 Catch::Contains("--delimiter"));
  // An unknown separator is named in the error, with the header as read.
  CHECK_THAT(error_of("user_id|video_id|event\nu1|v1|watch\n"),
             Catch::Contains("'user_id|video_id|event'") && Catch::Contains("--delimiter"));
  CHECK_THAT(error_of("user_id;videoid;event\nu1;v1;watch\n"),
             Catch::Contains("missing column 'video_id'") && Catch::Contains("separated by ';'"));
}

TEST_CASE("header names and event names match in any letter case") {
  const auto result = aggregate("User_ID,VIDEO_ID,Event\nu1,v1,Watch\nu1,v2,LIKE\nu2,v1,complete\n");
  CHECK(as_map(result) == std::map<std::pair<std::string, std::string>, float>{
                              {{"u1", "v1"}, 1}, {{"u1", "v2"}, 2}, {{"u2", "v1"}, 3}});
  // Ids keep their case: U1 and u1 are two users.
  CHECK(aggregate("user_id,video_id,value\nU1,v1,1\nu1,v1,1\n").users.size() == 2);
  CHECK_THROWS_WITH(vr::parse_event_weights("like=2,Like=3"), Catch::Contains("given twice"));
}
