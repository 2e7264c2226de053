// The HTTP-free service logic: validation, error mapping, content negotiation, batches,
// JSON Lines and the model holder, against a real model trained on the 5x5 example.
#include "vr/service.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <sstream>

#include "support/test_support.h"
#include "vr/precomputed.h"
#include "vr/recommender.h"

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const vr::ServiceLimits limits;

void make_model(const std::string& directory, int seed = 42) {
  fs::create_directories(directory);
  REQUIRE(vr::test::run_command({vr::test::tool("vr-features"), vr::test::source_path("data/interactions.csv"),
                                 "--dir", directory})
              .exit_code == 0);
  REQUIRE(vr::test::run_command({vr::test::tool("vr-train"), "--dir", directory, "--quiet", "--factors", "8",
                                 "--iterations", "10", "--seed", std::to_string(seed)})
              .exit_code == 0);
}

// The detail list of the ValidationError that `body` raises.
json issues_of(const json& body) {
  try {
    vr::parse_request(body, json::array({"body"}), limits);
  } catch (const vr::ValidationError&) {
    return vr::error_reply(std::current_exception()).body["detail"];
  }
  FAIL("no validation error for " << body.dump());
  return {};
}

// One model for every test in this file.
const vr::ModelSnapshot& snapshot() {
  static vr::test::TempDir temp;
  static const auto loaded = [] {
    make_model(temp.file("model"));
    return vr::load_snapshot(temp.file("model"));
  }();
  return *loaded;
}

}  // namespace

TEST_CASE("parse_request: defaults and every field") {
  const auto plain = vr::parse_request(json{{"user_id", "u001"}}, json::array({"body"}), limits);
  CHECK(plain.user_id == "u001");
  CHECK(plain.k == 5);
  CHECK_FALSE(plain.include_watched);
  CHECK_FALSE(plain.explain);
  CHECK(plain.history.empty());

  const auto full = vr::parse_request(json::parse(R"({"user_id": "u1", "k": 7, "history": ["v1", "v2"],
      "exclude": ["v3"], "include_watched": true, "explain": "yes", "unknown_field": {"ignored": 1}})"),
                                      json::array({"body"}), limits);
  CHECK(full.k == 7);
  CHECK(full.history == std::vector<std::string>{"v1", "v2"});
  CHECK(full.exclude == std::vector<std::string>{"v3"});
  CHECK(full.include_watched);
  CHECK(full.explain);

  // pydantic's lax integers: "3" and 3.0 are 3; null optional fields are absent.
  CHECK(vr::parse_request(json::parse(R"({"user_id": "u", "k": "3"})"), json::array({"body"}), limits).k == 3);
  CHECK(vr::parse_request(json::parse(R"({"user_id": "u", "k": 3.0})"), json::array({"body"}), limits).k == 3);
  CHECK(vr::parse_request(json::parse(R"({"user_id": "u", "k": null, "history": null})"), json::array({"body"}), limits).k == 5);
  CHECK(vr::parse_request(json::parse(R"({"history": ["v1"]})"), json::array({"body"}), limits).history.size() == 1);
  CHECK(vr::parse_request(json::parse(R"({"similar_to": "v1"})"), json::array({"body"}), limits).similar_to == "v1");
}

TEST_CASE("parse_request: FastAPI-style issues all at once") {
  const json missing = issues_of(json::object());
  REQUIRE(missing.size() == 1);
  CHECK(missing[0] == json{{"type", "missing"}, {"loc", {"body", "user_id"}}, {"msg", "Field required"}});

  const json several = issues_of(json::parse(R"({"user_id": 1, "k": 0, "exclude": "v1", "include_watched": "maybe"})"));
  REQUIRE(several.size() == 4);
  CHECK(several[0]["type"] == "string_type");
  CHECK(several[0]["input"] == 1);
  CHECK(several[1]["type"] == "greater_than_equal");
  CHECK(several[1]["msg"] == "Input should be greater than or equal to 1");
  CHECK(several[1]["ctx"] == json{{"ge", 1}});
  CHECK(several[2]["type"] == "list_type");
  CHECK(several[2]["loc"] == json::array({"body", "exclude"}));
  CHECK(several[3]["type"] == "bool_parsing");

  CHECK(issues_of(json::parse(R"({"user_id": "u", "k": 1001})"))[0]["type"] == "less_than_equal");
  CHECK(issues_of(json::parse(R"({"user_id": "u", "k": 2.5})"))[0]["type"] == "int_from_float");
  CHECK(issues_of(json::parse(R"({"user_id": "u", "k": true})"))[0]["type"] == "int_type");
  CHECK(issues_of(json::parse(R"({"user_id": null})"))[0]["type"] == "string_type");
  CHECK(issues_of(json::parse(R"({"history": ["v1", 2]})"))[0]["loc"] == json::array({"body", "history", 1}));
  CHECK(issues_of(json::parse(R"({"similar_to": "v1", "user_id": "u"})"))[0]["type"] == "value_error");
  CHECK(issues_of(json::parse(R"(["u001"])"))[0]["type"] == "model_attributes_type");

  vr::ServiceLimits small;
  small.max_list_length = 2;
  try {
    vr::parse_request(json::parse(R"({"history": ["a", "b", "c"]})"), json::array({"body"}), small);
    FAIL("a history over the limit was accepted");
  } catch (const vr::ValidationError& error) {
    CHECK(error.issues()[0].type == "too_long");
  }
}

TEST_CASE("error_reply: the one exception -> status mapping") {
  const auto reply = [](auto exception) { return vr::error_reply(std::make_exception_ptr(exception)); };
  CHECK(reply(vr::NotFound("User 'u9' not found")).status == 404);
  CHECK(reply(vr::NotFound("User 'u9' not found")).body == json{{"detail", "User 'u9' not found"}});
  CHECK(reply(vr::MalformedBody("x")).status == 400);
  CHECK(reply(vr::InvalidInput("bad")).status == 422);
  CHECK(reply(vr::PayloadTooLarge("big")).status == 413);
  CHECK(reply(vr::UnsupportedMediaType("text")).status == 415);
  CHECK(reply(vr::NotAcceptable("html")).status == 406);
  CHECK(reply(vr::ServiceUnavailable("loading")).status == 503);
  // Unexpected failures never leak their message to the client.
  const auto internal = reply(std::runtime_error("secret path /etc"));
  CHECK(internal.status == 500);
  CHECK(internal.body == json{{"detail", "Internal Server Error"}});
  CHECK(vr::error_reply(nullptr).status == 500);
  CHECK(vr::error_body_for_status(404) == json{{"detail", "Not Found"}});
}

TEST_CASE("content negotiation") {
  CHECK(vr::parse_content_type("application/json") == vr::BodyFormat::Json);
  CHECK(vr::parse_content_type("Application/JSON; charset=utf-8") == vr::BodyFormat::Json);
  CHECK(vr::parse_content_type("") == vr::BodyFormat::Json);
  CHECK(vr::parse_content_type("application/jsonlines") == vr::BodyFormat::JsonLines);
  CHECK(vr::parse_content_type("application/x-ndjson") == vr::BodyFormat::JsonLines);
  CHECK_THROWS_AS(vr::parse_content_type("text/csv"), vr::UnsupportedMediaType);
  CHECK_THROWS_AS(vr::parse_content_type("application/x-www-form-urlencoded"), vr::UnsupportedMediaType);
  CHECK_NOTHROW(vr::check_accept("", vr::BodyFormat::Json));
  CHECK_NOTHROW(vr::check_accept("text/html, */*;q=0.1", vr::BodyFormat::Json));
  CHECK_NOTHROW(vr::check_accept("application/jsonlines", vr::BodyFormat::JsonLines));
  CHECK_THROWS_AS(vr::check_accept("text/html", vr::BodyFormat::Json), vr::NotAcceptable);
  CHECK_THROWS_AS(vr::check_accept("application/json", vr::BodyFormat::JsonLines), vr::NotAcceptable);
}

TEST_CASE("parse_json_body: 400 for non-JSON and 422 for broken or hostile JSON") {
  CHECK_THROWS_AS(vr::parse_json_body("hello", limits), vr::MalformedBody);
  CHECK_THROWS_AS(vr::parse_json_body("\xff\xfe{}", limits), vr::MalformedBody);
  CHECK_THROWS_AS(vr::parse_json_body("{\"a\": \"\xc3\"}", limits), vr::MalformedBody);
  try {
    vr::parse_json_body("{\"user_id\": }", limits);
    FAIL("broken JSON parsed");
  } catch (const vr::ValidationError& error) {
    CHECK(error.issues()[0].type == "json_invalid");
    CHECK(error.issues()[0].loc[0] == "body");
    CHECK(error.issues()[0].loc[1].is_number());
  }
  try {
    vr::parse_json_body(" \n", limits);
    FAIL("empty body parsed");
  } catch (const vr::ValidationError& error) {
    CHECK(error.issues()[0].type == "missing");
  }
  // Deep nesting is refused before the parser recurses into it.
  CHECK_THROWS_AS(vr::parse_json_body(std::string(100000, '['), limits), vr::ValidationError);
  CHECK(vr::parse_json_body(R"({"a": [[["[[[["]]]})", limits)["a"][0][0][0] == "[[[[");
}

TEST_CASE("answer and invoke against a real model") {
  const vr::Recommender& recommender = *snapshot().recommender;

  SECTION("a known user: the original shape, scores as the recommender gives them") {
    const vr::Reply reply = vr::invoke(recommender, R"({"user_id": "u001", "k": 3})", vr::BodyFormat::Json, limits);
    CHECK(reply.status == 200);
    CHECK(reply.content_type == "application/json");
    CHECK(reply.body.rfind(R"({"userId":"u001","recommendations":[{"videoId":")", 0) == 0);
    const json body = json::parse(reply.body);
    vr::RecommendOptions options;
    options.k = 3;
    const auto expected = recommender.recommend("u001", options);
    REQUIRE(body["recommendations"].size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
      CHECK(body["recommendations"][i]["videoId"] == expected[i].video_id);
      CHECK(body["recommendations"][i]["score"].get<double>() == static_cast<double>(expected[i].score));
    }
  }

  SECTION("unknown user throws NotFound with the original message") {
    try {
      vr::invoke(recommender, R"({"user_id": "u999"})", vr::BodyFormat::Json, limits);
      FAIL("unknown user answered");
    } catch (const vr::NotFound&) {
      CHECK(vr::error_reply(std::current_exception()).body.dump() == R"({"detail":"User 'u999' not found"})");
    }
  }

  SECTION("a known user refreshed with history leaves out both what they watched and the history") {
    vr::InvocationRequest request;
    request.user_id = "u001";
    request.history = {"v003"};
    const auto body = vr::answer(recommender, request);
    CHECK(body["userId"] == "u001");
    for (const auto& item : body["recommendations"]) {
      CHECK(item["videoId"] != "v001");
      CHECK(item["videoId"] != "v003");
    }
  }

  SECTION("explain adds because lists; similar_to answers similar videos") {
    vr::InvocationRequest request;
    request.user_id = "u002";
    request.explain = true;
    const auto explained = vr::answer(recommender, request);
    for (const auto& item : explained["recommendations"]) {
      REQUIRE(item.contains("because"));
      for (const auto& part : item["because"]) {
        CHECK(part.contains("videoId"));
        CHECK(part["contribution"].is_number());
      }
    }
    vr::InvocationRequest similar;
    similar.similar_to = "v002";
    similar.k = 2;
    const auto body = vr::answer(recommender, similar);
    CHECK(body["similarTo"] == "v002");
    CHECK(body["recommendations"][0]["videoId"] == "v002");
    CHECK(body["recommendations"].size() == 2);
  }

  SECTION("instances: one prediction per instance, errors in place") {
    const vr::Reply reply = vr::invoke(recommender, R"({"instances": [{"user_id": "u001"}, {"user_id": "u999"},
        {"user_id": "u002", "k": "x"}, {"similar_to": "v001", "k": 1}]})", vr::BodyFormat::Json, limits);
    const json predictions = json::parse(reply.body)["predictions"];
    REQUIRE(predictions.size() == 4);
    CHECK(predictions[0]["userId"] == "u001");
    CHECK(predictions[1] == json{{"status", 404}, {"detail", "User 'u999' not found"}});
    CHECK(predictions[2]["status"] == 422);
    CHECK(predictions[2]["detail"][0]["loc"] == json::array({"body", "instances", 2, "k"}));
    CHECK(predictions[3]["similarTo"] == "v001");
    CHECK(json::parse(vr::invoke(recommender, R"({"instances": []})", vr::BodyFormat::Json, limits).body) ==
          json{{"predictions", json::array()}});
    vr::ServiceLimits small;
    small.max_batch = 1;
    CHECK_THROWS_AS(vr::invoke(recommender, R"({"instances": [{}, {}]})", vr::BodyFormat::Json, small),
                    vr::ValidationError);
  }

  SECTION("JSON Lines: exactly one answer per line, in order, bad lines answered by their error") {
    const vr::Reply reply = vr::invoke(
        recommender, "{\"user_id\": \"u001\", \"k\": 1}\nhello\n{\"user_id\"\n\n{\"user_id\": \"u002\", \"k\": 1}\n",
        vr::BodyFormat::JsonLines, limits);
    CHECK(reply.content_type == "application/jsonlines");
    std::istringstream output(reply.body);
    std::vector<json> lines;
    std::string line;
    while (std::getline(output, line)) lines.push_back(json::parse(line));
    REQUIRE(lines.size() == 5);
    CHECK(lines[0]["userId"] == "u001");
    CHECK(lines[1]["status"] == 400);
    CHECK(lines[2]["status"] == 422);
    CHECK(lines[3]["status"] == 422);
    CHECK(lines[4]["userId"] == "u002");
    // No final newline: the last line still counts once.
    const auto unterminated = vr::invoke(recommender, "{\"user_id\": \"u001\"}", vr::BodyFormat::JsonLines, limits);
    CHECK(std::count(unterminated.body.begin(), unterminated.body.end(), '\n') == 1);
  }
}

TEST_CASE("precompute_snapshot: plain requests are then answered from the table, byte for byte as scored") {
  const auto fresh = vr::load_snapshot(snapshot().resolved_directory);
  const vr::Recommender& recommender = *fresh->recommender;
  const auto always = [] { return true; };
  CHECK(fresh->precomputed() == nullptr);

  const auto disabled = vr::precompute_snapshot(*fresh, 0, std::size_t{1} << 30, always);
  CHECK(disabled.result == vr::PrecomputeOutcome::Result::Skipped);
  const auto too_large = vr::precompute_snapshot(*fresh, 3, 16, always);
  CHECK(too_large.result == vr::PrecomputeOutcome::Result::Skipped);
  CHECK(too_large.reason.find("--precompute-max-mb") != std::string::npos);
  const auto stopped = vr::precompute_snapshot(*fresh, 3, std::size_t{1} << 30, [] { return false; });
  CHECK(stopped.result == vr::PrecomputeOutcome::Result::Stopped);
  REQUIRE(fresh->precomputed() == nullptr);

  const auto published = vr::precompute_snapshot(*fresh, 3, std::size_t{1} << 30, always);
  REQUIRE(published.result == vr::PrecomputeOutcome::Result::Published);
  const vr::PrecomputedRecommendations* table = fresh->precomputed();
  REQUIRE(table != nullptr);
  CHECK(fresh->precomputed_info().depth == 3);
  CHECK(fresh->precomputed_info().bytes == vr::PrecomputedRecommendations::bytes_for(5, 3));
  CHECK(vr::precompute_snapshot(*fresh, 3, std::size_t{1} << 30, always).reason == "already computed");

  // The same body with and without the table; `from_table` says which path answered.
  const auto same_answer = [&](const std::string& body, bool from_table) {
    const vr::Reply scored = vr::invoke(recommender, body, vr::BodyFormat::Json, limits);
    const vr::Reply looked_up = vr::invoke(recommender, body, vr::BodyFormat::Json, limits, table);
    CHECK(looked_up.body == scored.body);
    CHECK(scored.answers.scored == 1);
    CHECK(scored.answers.precomputed == 0);
    CHECK(looked_up.answers.precomputed == (from_table ? 1u : 0u));
    CHECK(looked_up.answers.scored == (from_table ? 0u : 1u));
  };
  for (const std::string user : {"u001", "u002", "u003", "u004", "u005"}) {
    for (const int k : {1, 2, 3}) {
      INFO(user << " k=" << k);
      same_answer(R"({"user_id": ")" + user + R"(", "k": )" + std::to_string(k) + "}", true);
    }
    same_answer(R"({"user_id": ")" + user + R"(", "k": 4})", false);  // deeper than the table
    same_answer(R"({"user_id": ")" + user + R"(", "exclude": ["v002"]})", false);
    same_answer(R"({"user_id": ")" + user + R"(", "include_watched": true})", false);
    same_answer(R"({"user_id": ")" + user + R"(", "explain": true})", false);
    same_answer(R"({"user_id": ")" + user + R"(", "history": ["v004"]})", false);
  }
  const vr::Reply batch = vr::invoke(
      recommender, R"({"instances": [{"user_id": "u001", "k": 1}, {"user_id": "u999"}, {"user_id": "u002", "k": 2}]})",
      vr::BodyFormat::Json, limits, table);
  CHECK(batch.answers.precomputed == 2);
  CHECK(batch.answers.scored == 0);
  CHECK(json::parse(batch.body)["predictions"][1]["status"] == 404);
}

TEST_CASE("read_plain_request: takes only the plain shape and leaves everything else to the full parser") {
  // A string_view of the literal: the answer's user_id points into the text read.
  const auto read = [](std::string_view text) { return vr::read_plain_request(text); };
  REQUIRE(read(R"({"user_id":"u001"})"));
  CHECK(read(R"({"user_id":"u001"})")->user_id == "u001");
  CHECK(read(R"({"user_id":"u001"})")->k == vr::InvocationRequest{}.k);
  const auto spaced = read(" \t{\r\n \"k\" : 17 ,\n\"user_id\" :\"user 7/x\"} \n");
  REQUIRE(spaced);
  CHECK(spaced->user_id == "user 7/x");
  CHECK(spaced->k == 17);
  CHECK(read(R"({"user_id":"u","k":999999999})")->k == 999999999);
  CHECK(read(R"({"user_id":"u","k":0})")->k == 0);  // in shape; the range is checked by the caller

  for (const std::string text :
       {"", "{}", R"({"k":3})", R"("u001")", R"([{"user_id":"u001"}])", R"({"user_id":"u001",})",
        R"({"user_id":"u001")", R"({"user_id":"u001"} x)", R"({"user_id":"u001"}})", R"({"user_id":"u001" "k":2})",
        R"({"user_id":"u\u0030"})", R"({"user_id":"u\"1"})", R"({"user\u005fid":"u001"})", "{\"user_id\":\"u\x01\"}",
        "{\"user_id\":\"u\xc3\xa9\"}", R"({"user_id":"u001","user_id":"u002"})", R"({"user_id":"u001","k":2,"k":3})",
        R"({"user_id":1})", R"({"user_id":null})", R"({"user_id":"u001","k":null})", R"({"user_id":"u001","k":"2"})",
        R"({"user_id":"u001","k":2.0})", R"({"user_id":"u001","k":2e0})", R"({"user_id":"u001","k":-2})",
        R"({"user_id":"u001","k":02})", R"({"user_id":"u001","k":9999999999})", R"({"user_id":"u001","k":true})",
        R"({"user_id":"u001","k":})", R"({"user_id":"u001","explain":false})", R"({"user_id":"u001","K":2})",
        R"({"instances":[]})"}) {
    INFO(text);
    CHECK_FALSE(read(text));
  }
}

TEST_CASE("plain bodies read from their text answer exactly as the full parser and scoring do") {
  const auto fresh = vr::load_snapshot(snapshot().resolved_directory);
  const vr::Recommender& recommender = *fresh->recommender;
  REQUIRE(vr::precompute_snapshot(*fresh, 5, std::size_t{1} << 30, [] { return true; }).result ==
          vr::PrecomputeOutcome::Result::Published);
  const vr::PrecomputedRecommendations* table = fresh->precomputed();

  // The reply (or error reply) to `body`, as the server would send it.
  const auto reply_to = [&](const std::string& body, vr::BodyFormat format, const vr::PrecomputedRecommendations* with) {
    try {
      return vr::invoke(recommender, body, format, limits, with);
    } catch (...) {
      const vr::ErrorReply error = vr::error_reply(std::current_exception());
      return vr::Reply{error.status, error.body.dump(), "", {}};
    }
  };
  std::size_t plain = 0;
  for (const std::string body :
       {R"({"user_id":"u001"})", R"( {"k" : 2 , "user_id" : "u002"} )", "\t{\r\n\"user_id\":\"u003\",\"k\":5}\n",
        R"({"user_id":"u004","k":1})", R"({"user_id":"u00\u0035","k":3})", R"({"user_id":"u001","k":"2"})",
        R"({"user_id":"u001","k":2.0})", R"({"user_id":"u001","k":null})", R"({"user_id":"u001","extra":[1]})",
        R"({"user_id":"u001","k":6})", R"({"user_id":"u001","k":0})", R"({"user_id":"u001","k":1001})",
        R"({"user_id":"u001","k":999999999})", R"({"user_id":"u001","k":02})", R"({"user_id":"u001","k":-1})",
        R"({"user_id":"u001","k":1e1})", R"({"user_id":"u001","user_id":"u002"})", R"({"user_id":"u999"})",
        R"({"user_id":""})", R"({"user_id":"u001"} x)", R"({"user_id":"u001",})", R"({"user_id":"u001")",
        R"({"k":2})", "{}", R"({"user_id":1})", "{\"user_id\":\"u\xc3\xa9\"}", "{\"user_id\":\"u001\n\"}"}) {
    INFO(body);
    const vr::Reply scored = reply_to(body, vr::BodyFormat::Json, nullptr);
    const vr::Reply looked_up = reply_to(body, vr::BodyFormat::Json, table);
    CHECK(looked_up.status == scored.status);
    CHECK(looked_up.body == scored.body);
    CHECK(looked_up.answers.precomputed + looked_up.answers.scored == scored.answers.scored);
    if (const auto read = vr::read_plain_request(body); read && read->k >= 1 && read->k <= 5 && scored.status == 200) {
      CHECK(looked_up.answers.precomputed == 1);
      ++plain;
    }
  }
  CHECK(plain == 4);  // the first four bodies take the text path

  // The same per line of a JSON Lines body, error lines included.
  const std::string lines = "{\"user_id\":\"u001\",\"k\":2}\n{\"user_id\":\"u999\"}\n{\"user_id\":\"u002\",\"k\":0}\n"
                            "not json\n{\"user_id\":\"u003\"}\n";
  const vr::Reply scored_lines = reply_to(lines, vr::BodyFormat::JsonLines, nullptr);
  const vr::Reply looked_up_lines = reply_to(lines, vr::BodyFormat::JsonLines, table);
  CHECK(looked_up_lines.body == scored_lines.body);
  CHECK(looked_up_lines.answers.precomputed == 2);
  CHECK(looked_up_lines.answers.scored == 0);
}

TEST_CASE("load_snapshot and model_fingerprint") {
  vr::test::TempDir temp;
  make_model(temp.file("m"), 3);
  const std::string before = vr::model_fingerprint(temp.file("m"));
  CHECK(!before.empty());
  CHECK(vr::model_fingerprint(temp.file("nowhere")).empty());

  const auto snapshot = vr::load_snapshot(temp.file("m"));
  CHECK(snapshot->users == 5);
  CHECK(snapshot->videos == 5);
  CHECK(snapshot->version.size() == 16);
  CHECK(snapshot->load_seconds >= 0);
  CHECK(snapshot->resolved_directory == fs::canonical(temp.file("m")).string());

  // Retraining with another seed writes a new file: a new fingerprint and a new version.
  REQUIRE(vr::test::run_command({vr::test::tool("vr-train"), "--dir", temp.file("m"), "--quiet", "--factors", "8",
                                 "--iterations", "10", "--seed", "4"})
              .exit_code == 0);
  CHECK(vr::model_fingerprint(temp.file("m")) != before);
  CHECK(vr::load_snapshot(temp.file("m"))->version != snapshot->version);

  const std::string model = vr::test::read_file(temp.file("m/als_model.bin"));
  vr::test::write_file(temp.file("m/als_model.bin"), model.substr(0, 20));
  CHECK_THROWS(vr::load_snapshot(temp.file("m")));
  CHECK_THROWS(vr::load_snapshot(temp.file("nowhere")));

  vr::ModelStore store;
  CHECK(store.get() == nullptr);
  store.set(snapshot);
  const auto held = store.get();
  store.set(nullptr);
  CHECK(held->users == 5);  // a reader keeps the model it took across a swap
}

TEST_CASE("parse_request: userId is an alias of user_id, and both at once must name the same user") {
  const auto alias = vr::parse_request(json{{"userId", "u001"}, {"k", 2}}, json::array({"body"}), limits);
  CHECK(alias.user_id == "u001");
  CHECK(alias.k == 2);
  const auto both = vr::parse_request(json{{"user_id", "u001"}, {"userId", "u001"}}, json::array({"body"}), limits);
  CHECK(both.user_id == "u001");
  CHECK(issues_of(json{{"user_id", "u001"}, {"userId", "u002"}}) ==
        json::array({{{"type", "value_error"},
                      {"loc", {"body", "userId"}},
                      {"msg", "Value error, user_id and userId name different users"},
                      {"input", "u002"}}}));
  CHECK(issues_of(json{{"userId", 7}})[0]["loc"] == json::array({"body", "userId"}));
  CHECK(issues_of(json{{"userId", "u001"}, {"similar_to", "v001"}})[0]["type"] == "value_error");
  // Answered exactly as the user_id spelling is.
  const vr::Recommender& recommender = *snapshot().recommender;
  CHECK(vr::invoke(recommender, R"({"userId": "u001", "k": 3})", vr::BodyFormat::Json, limits).body ==
        vr::invoke(recommender, R"({"user_id": "u001", "k": 3})", vr::BodyFormat::Json, limits).body);
}

TEST_CASE("invoke: a request asking for more work than the budget is refused whole with 413") {
  const vr::Recommender& recommender = *snapshot().recommender;
  vr::ServiceLimits budget;
  budget.max_request_items = 10;
  budget.max_explained_items = 4;
  const auto refusal = [&](const std::string& body, vr::BodyFormat format) -> vr::ErrorReply {
    try {
      vr::invoke(recommender, body, format, budget);
    } catch (...) {
      return vr::error_reply(std::current_exception());
    }
    FAIL("accepted: " << body);
    return {};
  };
  // Within the budget: answered.
  CHECK(vr::invoke(recommender, R"({"instances": [{"user_id": "u001", "k": 5}, {"user_id": "u002", "k": 5}]})",
                   vr::BodyFormat::Json, budget).status == 200);
  CHECK(vr::invoke(recommender, R"({"instances": [{"user_id": "u001", "k": 2, "explain": true}, {"user_id": "u002", "k": 2, "explain": true}]})",
                   vr::BodyFormat::Json, budget).status == 200);
  // Over it: the whole request is 413, never a partial answer.
  const auto items = refusal(R"({"instances": [{"user_id": "u001", "k": 5}, {"user_id": "u002", "k": 5}, {"user_id": "u003", "k": 1}]})",
                             vr::BodyFormat::Json);
  CHECK(items.status == 413);
  CHECK(items.body == vr::OrderedJson{{"detail", "Request asks for too much work: more than 10 recommendations in "
                                                 "total (the sum of k over its requests); split it"}});
  const auto explained = refusal(R"({"instances": [{"user_id": "u001", "k": 3, "explain": true}, {"user_id": "u002", "k": 2, "explain": true}]})",
                                 vr::BodyFormat::Json);
  CHECK(explained.status == 413);
  CHECK(explained.body == vr::OrderedJson{{"detail", "Request asks for too much work: more than 4 explained "
                                                     "recommendations in total (the sum of k over its requests with "
                                                     "explain); split it"}});
  // JSON Lines count every valid line (an unknown user too: it is looked up); a line that does
  // not validate counts nothing.
  CHECK(refusal("{\"user_id\": \"u001\", \"k\": 6}\n{\"user_id\": \"u999\", \"k\": 5}\n", vr::BodyFormat::JsonLines)
            .status == 413);
  CHECK(vr::invoke(recommender, "{\"user_id\": \"u001\", \"k\": 6}\n{\"k\": 0}\n{\"user_id\": \"u999\", \"k\": 4}\n",
                   vr::BodyFormat::JsonLines, budget)
            .status == 200);
  // The defaults refuse the CPU amplifier the review found: 10,000 explained instances, k = 1000.
  std::string batch = R"({"instances": [)";
  for (int i = 0; i < 10000; ++i) batch += std::string(i ? "," : "") + R"({"user_id": "u001", "k": 1000, "explain": true})";
  batch += "]}";
  try {
    vr::invoke(recommender, batch, vr::BodyFormat::Json, limits);
    FAIL("10,000 explained instances with k = 1000 were accepted");
  } catch (const vr::PayloadTooLarge&) {
    CHECK(vr::error_reply(std::current_exception()).status == 413);
  }
}
