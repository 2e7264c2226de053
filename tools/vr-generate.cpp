// vr-generate: a synthetic interaction log with planted structure, for tests and benchmarks.
#include <iostream>

#include "cli_common.h"
#include "vr/atomic_file.h"
#include "vr/generate.h"

int main(int argc, char** argv) {
  CLI::App app{
      "vr-generate: write a synthetic interaction log (user_id,video_id,event,timestamp) with\n"
      "Zipf video popularity, log-normal user activity and a planted low-rank taste structure\n"
      "(each user mostly watches one of --tastes groups). The same seed gives the same file."};
  vr::GenerateConfig config;
  std::string output = "-";
  app.add_option("--users", config.users, "Distinct users")->capture_default_str()->check(vr::cli::AtLeast(1));
  app.add_option("--videos", config.videos, "Distinct videos")->capture_default_str()->check(vr::cli::AtLeast(1));
  app.add_option("--events", config.events, "Event rows to write (about; never more)")->capture_default_str()->check(vr::cli::AtLeast(1));
  app.add_option("--tastes", config.tastes, "Planted taste groups (the true rank)")->capture_default_str()->check(vr::cli::AtLeast(1));
  app.add_option("--taste-strength", config.taste_strength, "Probability a pick follows the user's taste")
      ->capture_default_str()->check(vr::cli::InRange(0.0, 1.0));
  app.add_option("--zipf", config.zipf_exponent, "Popularity exponent: weight = 1 / rank^zipf")->capture_default_str()->check(vr::cli::AtLeast(0));
  app.add_option("--activity-sigma", config.activity_sigma, "Log-normal sigma of user activity")->capture_default_str()->check(vr::cli::AtLeast(0));
  app.add_option("--seed", config.seed, "Random seed")->capture_default_str();
  app.add_option("-o,--output", output, "Output file (- = stdout), written atomically")->capture_default_str();
  vr::cli::add_version_flag(app);
  return vr::cli::run(app, argc, argv, [&] {
    vr::AtomicFileWriter writer(output);
    const auto pairs = vr::generate_interactions(writer.stream(), config);
    writer.commit();
    std::cerr << "vr-generate: " << pairs << " distinct (user, video) pairs\n";
    return vr::cli::kExitOk;
  });
}
