// The catalog (videos.csv) and eligibility: parsing with file/line/field errors, availability
// windows, category filters, and every recommendation path leaving out what the catalog hides
// exactly as `exclude` would.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <sstream>

#include "vr/catalog.h"
#include "vr/catalog_store.h"
#include "vr/eligibility.h"
#include "vr/errors.h"
#include "vr/generate.h"
#include "vr/interactions.h"
#include "vr/popular.h"
#include "vr/recommender.h"
#include "vr/service.h"

namespace {

std::shared_ptr<const vr::Catalog> parse(const std::string& text) {
  std::istringstream input(text);
  return vr::read_catalog_csv(input, "videos.csv");
}

std::shared_ptr<const vr::Recommender> make_recommender(vr::ScanMode scan) {
  vr::GenerateConfig generate;
  generate.users = 300;
  generate.videos = 400;
  generate.events = 9000;
  generate.tastes = 5;
  generate.seed = 5;
  std::stringstream log;
  vr::generate_interactions(log, generate);
  auto data = vr::aggregate_interactions(log, "generated", vr::FeaturesConfig{});
  const auto users = static_cast<std::uint32_t>(data.users.size());
  const auto videos = static_cast<std::uint32_t>(data.videos.size());
  vr::SparseMatrix ratings = vr::build_sparse_matrix(data.ratings, users, videos);
  vr::Model model;
  model.info.config.factors = 10;
  model.info.config.iterations = 10;
  model.info.config.threads = 2;
  model.info.n_users = users;
  model.info.n_videos = videos;
  model.info.n_ratings = ratings.nnz();
  model.factors = vr::train_als(ratings, model.info.config);
  vr::Mappings mappings{std::move(data.users), std::move(data.videos)};
  return std::make_shared<const vr::Recommender>(std::move(model), std::move(mappings), std::move(ratings), scan);
}

// Same videos, same scores, same explanations, same order.
void require_same(const std::vector<vr::Recommendation>& a, const std::vector<vr::Recommendation>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].video_id == b[i].video_id);
    CHECK(a[i].score == b[i].score);
    REQUIRE(a[i].because.size() == b[i].because.size());
    for (std::size_t j = 0; j < a[i].because.size(); ++j) {
      CHECK(a[i].because[j].video_id == b[i].because[j].video_id);
      CHECK(a[i].because[j].contribution == b[i].because[j].contribution);
    }
  }
}

void require_none_of(const std::vector<vr::Recommendation>& answer, const std::set<std::string>& left_out) {
  for (const auto& recommendation : answer) {
    INFO(recommendation.video_id);
    CHECK(left_out.count(recommendation.video_id) == 0);
  }
}

}  // namespace

TEST_CASE("videos.csv: every column, categories split on |, times in ISO 8601 or epoch seconds, other columns kept") {
  const auto catalog = parse(
      "video_id,title,categories,available_from,available_to,hidden,duration_s\n"
      "v1,\"Paris, at night\",travel| vlog ||travel,2026-01-01T00:00:00Z,1800000000,false,300\n"
      "v2,Bread,,,,true,120\n"
      "v3,,food,,,,\n");
  REQUIRE(catalog->videos.size() == 3);
  REQUIRE(catalog->attribute_names == std::vector<std::string>{"duration_s"});
  const vr::CatalogVideo& v1 = *catalog->find("v1");
  CHECK(v1.title == "Paris, at night");
  CHECK(v1.categories == std::vector<std::string>{"travel", "vlog"});
  CHECK(*v1.available_from == 1767225600.0);
  CHECK(*v1.available_to == 1800000000.0);
  CHECK_FALSE(v1.hidden);
  CHECK(v1.attributes == std::vector<std::string>{"300"});
  CHECK(catalog->find("v2")->hidden);
  CHECK(catalog->find("v2")->categories.empty());
  CHECK_FALSE(catalog->find("v3")->available_from);
  CHECK(catalog->find("nope") == nullptr);
  CHECK(catalog->hidden_count() == 1);
  CHECK(v1.available_at(1767225600.0));
  CHECK_FALSE(v1.available_at(1767225599.0));
  CHECK_FALSE(v1.available_at(1800000000.0));
  CHECK(catalog->version.size() == 16);
  CHECK(parse("video_id\nv1\n")->version != parse("video_id\nv2\n")->version);
  // Only video_id is required; the bundled example parses.
  CHECK(parse("Video_ID\nv9\n")->videos.size() == 1);
  CHECK(vr::load_catalog(VR_SOURCE_DIR "/data/videos.csv")->find("v003")->has_category("travel"));
}

TEST_CASE("videos.csv: bad rows name the file, line and field") {
  const auto fails_with = [](const std::string& text, const std::string& expected) {
    INFO(text);
    CHECK_THROWS_AS(parse(text), vr::InvalidInput);
    CHECK_THROWS_WITH(parse(text), Catch::Contains(expected));
  };
  fails_with("", "videos.csv: empty file");
  fails_with("title\nx\n", "videos.csv:1: missing column 'video_id'");
  fails_with("video_id,title\nv1,a\n,b\n", "videos.csv:3: field video_id is empty");
  fails_with("video_id,title\nv1,a\nv2,b\nv1,c\n", "videos.csv:4: field video_id: 'v1' is listed twice (first on line 2)");
  fails_with("video_id,available_from\nv1,yesterday\n", "videos.csv:2: field available_from: 'yesterday' is not a time");
  fails_with("video_id,available_to\nv1,2026-02-30\n", "videos.csv:2: field available_to");
  fails_with("video_id,available_from,available_to\nv1,2000,1000\n", "videos.csv:2: field available_to: must be after");
  fails_with("video_id,hidden\nv1,maybe\n", "videos.csv:2: field hidden: 'maybe' is not true or false");
  fails_with("video_id,title,hidden\nv1,a\n", "videos.csv:2: too few fields");
  CHECK_THROWS_AS(vr::parse_reference_time("soon", "--now"), vr::InvalidInput);
  CHECK(vr::parse_reference_time("1800000000", "--now") == 1800000000.0);
}

TEST_CASE("catalog rules: unknown ids counted, windows change the mask only at their boundaries, category filters") {
  vr::IdMap videos;
  for (const char* id : {"a", "b", "c", "d", "e"}) videos.intern(id);
  const auto catalog = parse(
      "video_id,categories,available_from,available_to,hidden\n"
      "a,travel|food,,,\n"
      "b,travel,,,true\n"
      "c,food,1000,2000,\n"
      "ghost,travel,,,\n"
      "d,music,,1500,\n");
  vr::CatalogRules rules(catalog, videos);
  CHECK(rules.unknown_videos() == 1);
  CHECK(rules.listed_videos() == 4);
  CHECK(rules.hidden_videos() == 1);
  const auto allowed = [&](double now, const vr::CategoryFilter& filter = {}) {
    std::string out;
    const auto mask = rules.eligible_at(now, filter);
    for (std::uint32_t v = 0; v < videos.size(); ++v) {
      if (mask->allows(v)) out += videos.id(v);
    }
    return out;
  };
  // e is not in the catalog: eligible, without categories.
  CHECK(allowed(999) == "ade");
  CHECK(allowed(1000) == "acde");
  CHECK(allowed(1499.5) == "acde");
  CHECK(allowed(1500) == "ace");
  CHECK(allowed(2000) == "ae");
  CHECK(rules.eligible_at(1100) == rules.eligible_at(1400));  // one window, one mask
  CHECK(rules.eligible_at(1100) != rules.eligible_at(1600));
  CHECK(allowed(1200, {{"food"}, {}}) == "ac");
  CHECK(allowed(1200, {{"travel", "music"}, {}}) == "ad");
  CHECK(allowed(1200, {{}, {"food"}}) == "de");
  CHECK(allowed(1200, {{"travel"}, {"food"}}) == "");
  CHECK(allowed(1200, {{"no-such-category"}, {}}) == "");
  CHECK(allowed(1200, {{}, {"no-such-category"}}) == "acde");
  CHECK(rules.eligible_at(1200, {{"food"}, {}})->eligible_count() == 2);
}

TEST_CASE("every recommender path leaves out hidden and expired videos exactly as exclude does") {
  for (const vr::ScanMode scan : {vr::ScanMode::Pruned, vr::ScanMode::Full}) {
    INFO(vr::scan_mode_name(scan));
    const auto recommender = make_recommender(scan);
    const auto& ids = recommender->mappings().videos;
    vr::RecommendOptions plain;
    plain.k = 10;
    // Hide every user's best video (so it is someone's first choice), expire a few more, and
    // schedule one for later.
    std::set<std::string> hidden;
    for (std::uint32_t user = 0; user < recommender->mappings().users.size(); ++user) {
      hidden.insert(recommender->recommend(recommender->mappings().users.id(user), plain).front().video_id);
    }
    REQUIRE(hidden.size() >= 3);
    std::ostringstream csv;
    csv << "video_id,hidden,available_from,available_to\n";
    for (const auto& id : hidden) csv << id << ",true,,\n";
    std::set<std::string> left_out = hidden;
    int expired = 0;
    for (std::uint32_t video = 0; video < ids.size() && expired < 6; ++video) {
      if (hidden.count(ids.id(video))) continue;
      csv << ids.id(video) << ",false," << (expired % 2 == 0 ? ",1700000000\n" : "1900000000,\n");
      left_out.insert(ids.id(video));
      ++expired;
    }
    csv << "not-in-model,true,,\n";
    const vr::CatalogRules rules(parse(csv.str()), ids);
    CHECK(rules.unknown_videos() == 1);
    const auto eligible = rules.eligible_at(1800000000);
    REQUIRE(eligible->size() - eligible->eligible_count() == left_out.size());

    vr::RecommendOptions filtered = plain;
    filtered.eligible = eligible.get();
    vr::RecommendOptions excluded = plain;
    excluded.exclude.assign(left_out.begin(), left_out.end());
    for (const bool explain : {false, true}) {
      filtered.explain = excluded.explain = explain;
      for (std::uint32_t user = 0; user < recommender->mappings().users.size(); user += explain ? 37 : 1) {
        const std::string& user_id = recommender->mappings().users.id(user);
        const auto answer = recommender->recommend(user_id, filtered);
        REQUIRE(answer.size() == 10);
        require_none_of(answer, left_out);
        require_same(answer, recommender->recommend(user_id, excluded));
      }
    }
    filtered.explain = excluded.explain = false;
    // Fold-in, with a hidden video in the history.
    const std::vector<std::string> history{*hidden.begin(), ids.id(3), ids.id(17)};
    const auto folded = recommender->recommend_for_history(history, filtered);
    require_none_of(folded, left_out);
    require_same(folded, recommender->recommend_for_history(history, excluded));
    // Every user at once (the block kernel).
    std::vector<std::vector<vr::Recommendation>> all_filtered(recommender->mappings().users.size());
    std::vector<std::vector<vr::Recommendation>> all_excluded(recommender->mappings().users.size());
    recommender->recommend_all(filtered, 2, [&](std::uint32_t user, auto&& top) { all_filtered[user] = top; });
    recommender->recommend_all(excluded, 2, [&](std::uint32_t user, auto&& top) { all_excluded[user] = top; });
    for (std::size_t user = 0; user < all_filtered.size(); ++user) {
      require_none_of(all_filtered[user], left_out);
      require_same(all_filtered[user], all_excluded[user]);
    }
    // Similar videos: of a hidden video (not even itself) and of an eligible one.
    for (const std::string& video : {*hidden.begin(), *hidden.rbegin(), ids.id(100)}) {
      const auto similar = recommender->similar(video, filtered);
      REQUIRE(similar.size() == 10);
      require_none_of(similar, left_out);
      require_same(similar, recommender->similar(video, excluded));
    }
    // Popular videos for unknown users.
    const vr::PopularVideos popular(recommender->watched());
    const auto popular_filtered = popular.top(ids, 10, {}, eligible.get());
    require_none_of(popular_filtered, left_out);
    require_same(popular_filtered, popular.top(ids, 10, excluded.exclude));
    // k past what is eligible: everything eligible, nothing else.
    filtered.k = excluded.k = static_cast<int>(ids.size());
    const auto everything = recommender->recommend(recommender->mappings().users.id(0), filtered);
    require_none_of(everything, left_out);
    require_same(everything, recommender->recommend(recommender->mappings().users.id(0), excluded));
  }
}

TEST_CASE("category filters keep exactly the videos a hand-computed rule gives") {
  const auto recommender = make_recommender(vr::ScanMode::Pruned);
  const auto& ids = recommender->mappings().videos;
  // Video i: "even" when i is even, "three" when i % 3 == 0; every fifth video is not listed.
  std::ostringstream csv;
  csv << "video_id,categories\n";
  for (std::uint32_t video = 0; video < ids.size(); ++video) {
    if (video % 5 == 4) continue;
    std::string categories = video % 2 == 0 ? "even" : "";
    if (video % 3 == 0) categories += categories.empty() ? "three" : "|three";
    csv << ids.id(video) << ',' << categories << '\n';
  }
  const vr::CatalogRules rules(parse(csv.str()), ids);
  const auto expect = [&](const vr::CategoryFilter& filter, auto keep) {
    vr::RecommendOptions filtered;
    filtered.k = 15;
    const auto mask = rules.eligible_at(0, filter);
    filtered.eligible = mask.get();
    vr::RecommendOptions excluded;
    excluded.k = 15;
    for (std::uint32_t video = 0; video < ids.size(); ++video) {
      if (!keep(video)) excluded.exclude.push_back(ids.id(video));
    }
    for (std::uint32_t user = 0; user < recommender->mappings().users.size(); user += 13) {
      const std::string& user_id = recommender->mappings().users.id(user);
      const auto answer = recommender->recommend(user_id, filtered);
      for (const auto& recommendation : answer) CHECK(keep(*ids.find(recommendation.video_id)));
      require_same(answer, recommender->recommend(user_id, excluded));
    }
  };
  const auto listed = [](std::uint32_t v) { return v % 5 != 4; };
  expect({{"even"}, {}}, [&](std::uint32_t v) { return listed(v) && v % 2 == 0; });
  expect({{"even", "three"}, {}}, [&](std::uint32_t v) { return listed(v) && (v % 2 == 0 || v % 3 == 0); });
  expect({{}, {"three"}}, [&](std::uint32_t v) { return !listed(v) || v % 3 != 0; });
  expect({{"even"}, {"three"}}, [&](std::uint32_t v) { return listed(v) && v % 2 == 0 && v % 3 != 0; });
  vr::RecommendOptions nothing;
  const auto none = rules.eligible_at(0, {{"unknown-category"}, {}});
  nothing.eligible = none.get();
  CHECK(recommender->recommend(recommender->mappings().users.id(0), nothing).empty());
  CHECK(recommender->similar(ids.id(0), nothing).empty());
}

TEST_CASE("catalog store: a model bound before it is published keeps its binding beside the model still serving") {
  vr::CatalogStore store;
  auto serving = std::make_shared<vr::ModelSnapshot>();
  serving->recommender = make_recommender(vr::ScanMode::Pruned);
  auto reloaded = std::make_shared<vr::ModelSnapshot>();
  reloaded->recommender = make_recommender(vr::ScanMode::Full);
  CHECK(store.rules_for(*serving) == nullptr);  // no catalog yet
  const std::string first_video = serving->recommender->mappings().videos.id(0);
  store.set(parse("video_id,hidden\n" + first_video + ",true\n"));
  auto serving_rules = store.rules_for(*serving);
  // The reload binds the new model before publishing it ...
  const auto reloaded_rules = store.rules_for(*reloaded);
  REQUIRE(serving_rules);
  REQUIRE(reloaded_rules);
  CHECK(serving_rules != reloaded_rules);
  // ... and neither the old model's last requests nor the new model's first rebuild anything.
  CHECK(store.rules_for(*serving) == serving_rules);
  CHECK(store.rules_for(*reloaded) == reloaded_rules);
  CHECK(store.rules_for(*reloaded) == reloaded_rules);
  // Once the old model is gone its binding goes too; the new one stays.
  const std::weak_ptr<const vr::CatalogRules> old_binding = serving_rules;
  serving_rules.reset();
  serving.reset();
  CHECK(store.rules_for(*reloaded) == reloaded_rules);
  auto other = std::make_shared<vr::ModelSnapshot>();
  other->recommender = make_recommender(vr::ScanMode::Pruned);
  CHECK(store.rules_for(*other) != reloaded_rules);  // binding another model drops the freed one's
  CHECK(old_binding.expired());
  // A new catalog is bound anew.
  const auto catalog = parse("video_id,hidden\n" + first_video + ",false\n");
  store.set(catalog);
  const auto rebound = store.rules_for(*reloaded);
  CHECK(rebound != reloaded_rules);
  CHECK(&rebound->catalog() == catalog.get());
  CHECK(rebound->hidden_videos() == 0);
}
