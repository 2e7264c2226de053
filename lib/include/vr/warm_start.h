// Training that starts from an earlier ALS model instead of from nothing (vr-train
// --init-from): a warm start (every row iterated, known rows starting from the earlier
// factors) or a partial refresh (implicit's partial_fit_users / partial_fit_items: only the
// rows whose ratings changed are re-solved exactly, the other side held fixed).
#pragma once

#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <vector>

#include "vr/als.h"
#include "vr/mappings.h"
#include "vr/model.h"
#include "vr/ratings.h"
#include "vr/training.h"

namespace vr {

// Which rows a partial refresh re-solves.
enum class RefreshSide {
  Users,   // changed users, videos held fixed
  Videos,  // changed videos, users held fixed
  Both,    // changed users (videos fixed), then changed videos (with the refreshed users)
};

// Parses "users", "videos", "both"; throws InvalidInput otherwise.
RefreshSide parse_refresh_side(const std::string& text);

// The starting factors of a warm start on a users x videos matrix `ratings`: rows the
// previous model has keep its factors; the others are drawn as a cold start draws them (the
// same seed gives the same values), zero for a row without ratings. Throws InvalidInput when
// the previous model has more rows or another factor count than config.factors.
AlsFactors warm_start_factors(const AlsFactors& previous, const SparseMatrix& ratings, const TrainConfig& config);

// ALS from `initial` factors instead of random ones: config.iterations full iterations,
// exactly as train_als runs them. Zero iterations return `initial` unchanged.
AlsFactors train_als_from(SparseMatrix ratings, const TrainConfig& config, AlsFactors initial,
                          const IterationCallback& on_iteration = {});

// Rows of `today` that differ from the same row of `previous` (another set of columns or
// values), plus every row beyond previous.rows. Both matrices are users x videos (or the
// transposes); today must have at least previous's columns.
std::vector<std::uint32_t> changed_rows(const SparseMatrix& today, const SparseMatrix& previous);

// The rows a refresh re-solves, by index.
struct ChangedRows {
  std::vector<std::uint32_t> users;
  std::vector<std::uint32_t> videos;
};

// Re-solves exactly (Cholesky, as fold-in does) the user rows `changed.users` of `factors`
// with the video factors held fixed, and/or then the video rows `changed.videos` with the
// user factors held fixed, on the ratings `ratings` (users x videos). Rows the previous model
// did not have are expected in `factors` as zeros when they are not re-solved.
void refresh_rows(const SparseMatrix& ratings, const TrainConfig& config, RefreshSide side,
                  const ChangedRows& changed, AlsFactors& factors);

// Reads a list of changed ids: a CSV with the columns kind (user or video) and id, by header
// name. Ids not in `mappings` are an error naming `source_name` and the line.
ChangedRows read_changed_ids(std::istream& input, const std::string& source_name, const Mappings& mappings);

// What vr-train --init-from does, as plain data.
struct WarmStartJob {
  TrainJob train;                     // today's ratings, mappings (required), output, ALS config
  std::string previous_model_path;    // the earlier als_model.bin
  std::string previous_mappings_path; // its mappings.bin (empty = mappings.bin beside it)
  std::optional<RefreshSide> refresh; // none = warm start of every row
  std::string previous_ratings_path;  // refresh: its ratings.csv (empty = ratings.csv beside it)
  std::string changed_path;           // refresh: a list of changed ids instead of comparing ratings
};

// What run_warm_start did.
struct WarmStartOutcome {
  Model model;
  bool written = false;             // false: a refresh found nothing changed and wrote nothing
  std::size_t users_solved = 0;     // refresh: user rows re-solved
  std::size_t videos_solved = 0;    // refresh: video rows re-solved
};

// Checks that the previous model is ALS, that it matches its mappings and that they are a
// prefix of today's (InvalidInput naming the files otherwise, nothing written), then trains
// (warm start) or refreshes, and writes the model atomically (the output is opened first).
WarmStartOutcome run_warm_start(const WarmStartJob& job, const IterationCallback& on_iteration = {});

}  // namespace vr
