// vr-evaluate --report: report.json holds the numbers, report.html is self-contained and its
// SVG charts render in headless Chromium without script errors (a screenshot is kept as a test
// artefact in <build>/test-artifacts/report.png).
#include <catch2/catch.hpp>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "support/test_support.h"
#include "vr/generate.h"

using vr::test::run_command;
using vr::test::tool;

namespace {

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t count = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++count;
  return count;
}

// A generated interactions file (with timestamps) in `dir`.
std::string generated_interactions(const vr::test::TempDir& dir) {
  vr::GenerateConfig generate;
  generate.users = 300;
  generate.videos = 200;
  generate.events = 9000;
  generate.seed = 4;
  std::ostringstream log;
  vr::generate_interactions(log, generate);
  vr::test::write_file(dir.file("events.csv"), log.str());
  return dir.file("events.csv");
}

}  // namespace

TEST_CASE("vr-evaluate --report writes report.json and a self-contained report.html") {
  vr::test::TempDir dir;
  const auto events = generated_interactions(dir);
  // The random search runs exactly --tune-trials trials of --iterations each, which the checks
  // below count; the halving search's report is rendered by the Chromium test after this one.
  const auto result = run_command({tool("vr-evaluate"), "--interactions", events, "--models", "als,ease,item-knn",
                                   "--tune", "--tune-search", "random", "--tune-trials", "4", "--best-config", dir.file("best.conf"), "--iterations",
                                   "6", "--report", dir.file("report"), "--quiet"});
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.out, Catch::Contains("ease") && Catch::Contains("item-knn") && Catch::Contains("als-tuned"));

  const auto json = nlohmann::json::parse(vr::test::read_file(dir.file("report/report.json")));
  for (const char* name : {"als", "ease", "item-knn", "als-defaults", "popularity"}) {
    INFO(name);
    REQUIRE(json.at("curves").contains(name));
    CHECK(json["curves"][name]["ndcg"].size() == 20);  // K = 1..20
    CHECK(json["popularity_deciles"][name].size() == 10);
    CHECK(json["long_tail_coverage"][name].is_number());
  }
  CHECK(json.at("loss_history").size() == 6);
  CHECK(json.at("tuning").at("trials").size() == 4);
  CHECK(json.at("popularity_deciles").at("catalog").size() == 10);
  double catalog_share = 0;
  for (const double share : json["popularity_deciles"]["catalog"]) catalog_share += share;
  CHECK(catalog_share == Approx(1.0));
  // The popularity baseline only ever recommends from the head of the catalog.
  CHECK(json["long_tail_coverage"]["popularity"].get<double>() < json["long_tail_coverage"]["als"].get<double>());

  const std::string html = vr::test::read_file(dir.file("report/report.html"));
  // Self-contained: no external script, stylesheet, image or font.
  CHECK(html.find("src=") == std::string::npos);
  CHECK(html.find("<link") == std::string::npos);
  CHECK(html.find("https://") == std::string::npos);
  CHECK(std::regex_search(html, std::regex("<svg class=\"chart\"")));
  CHECK(count_of(html, "<svg") >= 7);  // 3 curves, loss, 2 tuning, popularity
}

TEST_CASE("report.html renders in headless Chromium without script errors") {
  const std::string chromium = "/usr/bin/chromium";
  if (!std::filesystem::exists(chromium)) {
    vr::test::skip_test(chromium + " is not installed (scripts/install-deps.sh installs it)");
  }
  vr::test::TempDir dir;
  const auto events = generated_interactions(dir);
  REQUIRE(run_command({tool("vr-evaluate"), "--interactions", events, "--models", "als,ease", "--tune", "--tune-trials",
                       "3", "--best-config", dir.file("best.conf"), "--report", dir.file("report"), "--quiet"})
              .exit_code == 0);
  const std::string page = "file://" + dir.file("report/report.html");
  const std::vector<std::string> flags{"--headless",           "--no-sandbox",
                                       "--disable-gpu",        "--no-first-run",
                                       "--disable-background-networking", "--disable-component-update",
                                       "--disable-sync",       "--virtual-time-budget=3000"};
  auto command = [&](const std::string& profile, const std::string& action) {
    std::vector<std::string> argv{"timeout", "120", chromium};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back("--user-data-dir=" + profile);
    argv.push_back(action);
    argv.push_back(page);
    return argv;
  };
  const auto dom = run_command(command(dir.file("profile-dom"), "--dump-dom"));
  INFO(dom.err.substr(0, 2000));
  REQUIRE(dom.exit_code == 0);
  // The page's last script records how many SVG elements exist once parsed; a script error
  // anywhere adds a #script-error element.
  std::smatch rendered;
  REQUIRE(std::regex_search(dom.out, rendered, std::regex("data-rendered=\"([0-9]+)\"")));
  CHECK(std::stoi(rendered[1]) >= 7);
  CHECK(dom.out.find("id=\"script-error\"") == std::string::npos);
  CHECK(count_of(dom.out, "<polyline") >= 4);
  CHECK(count_of(dom.out, "class=\"bar\"") >= 30);

  // The screenshot stays in the build tree as an artefact to look at.
  const std::filesystem::path artefacts = std::filesystem::path(VR_BIN_DIR).parent_path() / "test-artifacts";
  std::filesystem::create_directories(artefacts);
  const std::string screenshot = (artefacts / "report.png").string();
  std::filesystem::remove(screenshot);
  auto screenshot_command = command(dir.file("profile-shot"), "--screenshot=" + screenshot);
  screenshot_command.insert(screenshot_command.end() - 1, "--window-size=1400,2400");
  const auto shot = run_command(screenshot_command);
  INFO(shot.err.substr(0, 2000));
  CHECK(shot.exit_code == 0);
  REQUIRE(std::filesystem::exists(screenshot));
  CHECK(std::filesystem::file_size(screenshot) > 10000);
}
