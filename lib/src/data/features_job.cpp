#include "vr/interactions.h"

#include <filesystem>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>

#include "vr/atomic_file.h"
#include "vr/errors.h"
#include "vr/mappings.h"
#include "vr/recent_popularity.h"
#include "vr/stable_ids.h"
#include "vr/timestamp.h"

namespace vr {

AggregatedInteractions run_features(const FeaturesJob& job, const ProgressCallback& progress,
                                    StableIdsSummary* stable_ids) {
  for (const auto* path : {&job.ratings_path, &job.mappings_path}) {
    if (*path == "-") continue;
    const auto parent = std::filesystem::path(*path).parent_path();
    if (!parent.empty()) ensure_directory(parent.string());
  }
  if (job.mappings_path == "-") throw InvalidInput("mappings.bin is binary and cannot go to stdout");
  // Read before anything else: a wrong file fails at once, with nothing written.
  std::optional<Mappings> previous;
  if (!job.previous_mappings_path.empty()) previous = load_mappings(job.previous_mappings_path);
  AtomicFileWriter ratings_writer(job.ratings_path);
  AtomicFileWriter mappings_writer(job.mappings_path);
  const bool recent = job.config.popular_window_seconds > 0;
  if (recent && job.popular_path.empty()) throw InvalidInput("recent popularity needs a path for popular.csv");
  std::optional<AtomicFileWriter> popular_writer;
  if (recent) popular_writer.emplace(job.popular_path);

  const std::string source_name = job.input_path == "-" ? std::string("<stdin>") : job.input_path;
  FeaturesConfig config = job.config;
  // Time decay's default reference time is the newest event, which takes a pass over the
  // input first (stdin is kept in memory for the second pass).
  std::string stdin_text;
  const bool scan_twice = (config.half_life_seconds > 0 || recent) && !config.decay_now;
  if (scan_twice && job.input_path == "-") {
    stdin_text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  const auto with_input = [&](const auto& read) {
    if (job.input_path != "-") {
      auto input = open_input_file(job.input_path);
      return read(static_cast<std::istream&>(input));
    }
    if (!scan_twice) return read(static_cast<std::istream&>(std::cin));
    std::istringstream input(stdin_text);
    return read(static_cast<std::istream&>(input));
  };
  if (scan_twice) {
    config.decay_now = with_input(
        [&](std::istream& input) { return newest_timestamp(input, source_name, config.skip_invalid); });
  }

  // Ratings stream straight into the output file: no second copy of every pair. With previous
  // mappings they are renumbered and re-sorted first, so they are collected.
  RatingsCsvWriter ratings_csv(ratings_writer.stream(), [&ratings_writer] { ratings_writer.start_writeback(); });
  const RatingSink write_rating = [&ratings_csv](const Rating& rating) { ratings_csv.write(rating); };
  AggregatedInteractions aggregated = with_input([&](std::istream& input) {
    return aggregate_interactions(input, source_name, config, progress, previous ? RatingSink{} : write_rating);
  });
  if (aggregated.pairs == 0) {
    throw InvalidInput(source_name + ": no valid interactions found; nothing to write");
  }
  if (recent) write_popular_csv(popular_writer->stream(), aggregated.videos, aggregated.recent_users);
  if (previous) {
    StableNumbering users = keep_previous_indices(previous->users, aggregated.users);
    StableNumbering videos = keep_previous_indices(previous->videos, aggregated.videos);
    renumber_ratings(aggregated.ratings, users.stable_index, videos.stable_index);
    for (const Rating& rating : aggregated.ratings) ratings_csv.write(rating);
    aggregated.ratings.clear();
    aggregated.ratings.shrink_to_fit();
    aggregated.users = std::move(users.ids);
    aggregated.videos = std::move(videos.ids);
    if (stable_ids != nullptr) *stable_ids = StableIdsSummary{users.added, videos.added, users.absent, videos.absent};
  }
  ratings_csv.flush();
  ratings_writer.start_writeback();  // written to disk while the mappings are serialized
  Mappings mappings{std::move(aggregated.users), std::move(aggregated.videos)};
  write_mappings(mappings_writer.stream(), mappings);
  // Mappings first, then ratings: the window in which a reader can see one new file and one
  // old one is a single rename wide (vr-serve and scripts/pipeline.sh read versioned folders).
  // Both are flushed and synced first, so a full disk fails before either is replaced.
  ratings_writer.prepare();
  mappings_writer.prepare();
  if (popular_writer) {
    popular_writer->prepare();
    popular_writer->commit();
  }
  mappings_writer.commit();
  ratings_writer.commit();
  aggregated.users = std::move(mappings.users);
  aggregated.videos = std::move(mappings.videos);
  return aggregated;
}

}  // namespace vr
