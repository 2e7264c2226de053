#include "vr/warm_start.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <utility>

#include "vr/artifacts.h"
#include "vr/atomic_file.h"
#include "vr/csv.h"
#include "vr/errors.h"
#include "vr/mappings.h"
#include "vr/parallel.h"
#include "vr/stable_ids.h"
#include "vr/version.h"

namespace vr {

RefreshSide parse_refresh_side(const std::string& text) {
  if (text == "users") return RefreshSide::Users;
  if (text == "videos") return RefreshSide::Videos;
  if (text == "both") return RefreshSide::Both;
  throw InvalidInput("unknown --refresh '" + text + "' (expected users, videos or both)");
}

AlsFactors warm_start_factors(const AlsFactors& previous, const SparseMatrix& ratings, const TrainConfig& config) {
  const auto check = [&](const FactorMatrix& factors, std::uint32_t rows, const char* what) {
    if (factors.cols() != config.factors) {
      throw InvalidInput("the previous model has " + std::to_string(factors.cols()) + " factors, this run " +
                         std::to_string(config.factors) + " (give --factors " + std::to_string(factors.cols()) +
                         " or train from scratch)");
    }
    if (factors.rows() > rows) {
      throw InvalidInput(std::string("the previous model has more ") + what + " (" + std::to_string(factors.rows()) +
                         ") than today's ratings (" + std::to_string(rows) + ")");
    }
  };
  check(previous.user_factors, ratings.rows, "users");
  check(previous.item_factors, ratings.cols, "videos");
  // The cold start's draw, users first, so a new row gets the value a cold start would give it.
  const FactorMatrix both = initial_factors(ratings.rows + ratings.cols, config.factors, config.seed);
  AlsFactors start;
  start.user_factors = both.topRows(ratings.rows);
  start.item_factors = both.bottomRows(ratings.cols);
  const SparseMatrix by_video = ratings.transposed();
  const auto fill = [](FactorMatrix& target, const FactorMatrix& known, const SparseMatrix& rows) {
    target.topRows(known.rows()) = known;
    for (auto row = static_cast<std::uint32_t>(known.rows()); row < target.rows(); ++row) {
      if (rows.row_size(row) == 0) target.row(row).setZero();
    }
  };
  fill(start.user_factors, previous.user_factors, ratings);
  fill(start.item_factors, previous.item_factors, by_video);
  return start;
}

AlsFactors train_als_from(SparseMatrix ratings, const TrainConfig& config, AlsFactors initial,
                          const IterationCallback& on_iteration) {
  validate(config);
  for (float& value : ratings.values) value = confidence_of(value, config);
  const SparseMatrix& user_confidence = ratings;
  const SparseMatrix item_confidence = user_confidence.transposed();
  const int threads = resolve_thread_count(config.threads);
  const SystemWeights weights = system_weights(config);
  AlsFactors model = std::move(initial);
  for (int iteration = 1; iteration <= config.iterations; ++iteration) {
    const auto start = std::chrono::steady_clock::now();
    solve_half_iteration(user_confidence, model.item_factors, weights, config.solver, config.cg_steps, threads,
                         model.user_factors);
    solve_half_iteration(item_confidence, model.user_factors, weights, config.solver, config.cg_steps, threads,
                         model.item_factors);
    IterationReport report;
    report.iteration = iteration;
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    report.loss = config.compute_loss ? training_loss(user_confidence, model.user_factors, model.item_factors,
                                                      weights)
                                      : std::numeric_limits<double>::quiet_NaN();
    if (on_iteration) on_iteration(report);
  }
  check_finite(model.user_factors, "user factors");
  check_finite(model.item_factors, "video factors");
  return model;
}

std::vector<std::uint32_t> changed_rows(const SparseMatrix& today, const SparseMatrix& previous) {
  std::vector<std::uint32_t> changed;
  for (std::uint32_t row = 0; row < today.rows; ++row) {
    if (row >= previous.rows) {
      changed.push_back(row);
      continue;
    }
    const std::uint64_t begin = today.row_offsets[row];
    const std::uint64_t count = today.row_size(row);
    const std::uint64_t previous_begin = previous.row_offsets[row];
    if (count != previous.row_size(row)) {
      changed.push_back(row);
      continue;
    }
    for (std::uint64_t k = 0; k < count; ++k) {
      if (today.col_indices[begin + k] != previous.col_indices[previous_begin + k] ||
          today.values[begin + k] != previous.values[previous_begin + k]) {
        changed.push_back(row);
        break;
      }
    }
  }
  return changed;
}

namespace {

// Re-solves each of `rows` of `solved` exactly from the confidence matrix (rows of `solved`
// x rows of `fixed`), as fold-in solves a user.
void solve_rows_exact(const SparseMatrix& confidence, const FactorMatrix& fixed, const SystemWeights& weights,
                      const std::vector<std::uint32_t>& rows, int threads, FactorMatrix& solved) {
  const Eigen::MatrixXf gram = shared_gram(fixed, weights);
  parallel_for_blocks(rows.size(), 64, threads, [&](std::size_t begin, std::size_t end) {
    std::vector<std::pair<std::uint32_t, float>> entries;
    for (std::size_t i = begin; i < end; ++i) {
      const std::uint32_t row = rows[i];
      entries.clear();
      for (std::uint64_t k = confidence.row_offsets[row]; k < confidence.row_offsets[row + 1]; ++k) {
        entries.emplace_back(confidence.col_indices[k], confidence.values[k]);
      }
      solved.row(row) =
          solve_row_exact(gram, fixed, entries, row_terms(weights, entries.size(), confidence.cols)).transpose();
    }
  });
}

}  // namespace

void refresh_rows(const SparseMatrix& ratings, const TrainConfig& config, RefreshSide side,
                  const ChangedRows& changed, AlsFactors& factors) {
  const SparseMatrix user_confidence = confidence_matrix(ratings, config);
  const int threads = resolve_thread_count(config.threads);
  if (side != RefreshSide::Videos) {
    solve_rows_exact(user_confidence, factors.item_factors, system_weights(config), changed.users, threads,
                     factors.user_factors);
  }
  if (side != RefreshSide::Users) {
    solve_rows_exact(user_confidence.transposed(), factors.user_factors, system_weights(config), changed.videos,
                     threads, factors.item_factors);
  }
  check_finite(factors.user_factors, "user factors");
  check_finite(factors.item_factors, "video factors");
}

ChangedRows read_changed_ids(std::istream& input, const std::string& source_name, const Mappings& mappings) {
  CsvReader reader(input, source_name);
  std::vector<std::string_view> fields;
  if (!reader.next_row(fields)) throw InvalidInput(source_name + ": empty file (expected a header kind,id)");
  const auto kind_column = find_column(fields, "kind", source_name);
  const auto id_column = find_column(fields, "id", source_name);
  if (!kind_column || !id_column) throw InvalidInput(source_name + ":1: missing column 'kind' or 'id' in the header");
  ChangedRows changed;
  std::vector<bool> user_seen(mappings.users.size());
  std::vector<bool> video_seen(mappings.videos.size());
  while (reader.next_row(fields)) {
    const std::string where = source_name + ":" + std::to_string(reader.line_number());
    if (fields.size() <= std::max(*kind_column, *id_column)) throw InvalidInput(where + ": too few fields");
    const std::string_view kind = fields[*kind_column];
    const bool is_user = kind == "user";
    if (!is_user && kind != "video") {
      throw InvalidInput(where + ": field 'kind': expected user or video, got '" + std::string(kind) + "'");
    }
    const IdMap& ids = is_user ? mappings.users : mappings.videos;
    const auto index = ids.find(fields[*id_column]);
    if (!index) {
      throw InvalidInput(where + ": field 'id': " + std::string(kind) + " '" + std::string(fields[*id_column]) +
                         "' is not in today's mappings");
    }
    std::vector<bool>& seen = is_user ? user_seen : video_seen;
    if (seen[*index]) continue;
    seen[*index] = true;
    (is_user ? changed.users : changed.videos).push_back(*index);
  }
  return changed;
}

namespace {

std::string beside(const std::string& path, const char* file_name) {
  return (std::filesystem::path(path).parent_path() / file_name).string();
}

// Appends the rows [from, to) of a sorted list that are missing from it (new ids are always
// re-solved), keeping it sorted.
void add_new_rows(std::vector<std::uint32_t>& rows, std::uint32_t from, std::uint32_t to) {
  std::vector<bool> present(to, false);
  for (std::uint32_t row : rows) present[row] = true;
  for (std::uint32_t row = from; row < to; ++row) {
    if (!present[row]) rows.push_back(row);
  }
  std::sort(rows.begin(), rows.end());
}

}  // namespace

WarmStartOutcome run_warm_start(const WarmStartJob& job, const IterationCallback& on_iteration) {
  const TrainJob& train = job.train;
  if (train.kind != ModelKind::Als) throw InvalidInput("--init-from warm-starts ALS models only");
  validate(train.config);
  if (train.mappings_path.empty()) {
    throw InvalidInput("--init-from needs today's mappings.bin (made by vr-features --mappings-from) to check "
                       "that ids kept their indices");
  }
  if (!job.refresh && (!job.previous_ratings_path.empty() || !job.changed_path.empty())) {
    throw InvalidInput("--previous-ratings and --changed only apply to --refresh");
  }
  const std::string previous_mappings_path = job.previous_mappings_path.empty()
                                                 ? beside(job.previous_model_path, kMappingsFileName)
                                                 : job.previous_mappings_path;
  const Model previous = load_model(job.previous_model_path);
  if (previous.kind() != ModelKind::Als) {
    throw InvalidInput("'" + job.previous_model_path + "' is a " + previous.info.kind +
                       " model; --init-from needs an ALS model");
  }
  const Mappings previous_mappings = load_mappings(previous_mappings_path);
  if (previous.info.n_users != previous_mappings.users.size() ||
      previous.info.n_videos != previous_mappings.videos.size()) {
    throw InvalidInput("'" + job.previous_model_path + "' (" + std::to_string(previous.info.n_users) + " users x " +
                       std::to_string(previous.info.n_videos) + " videos) does not match '" + previous_mappings_path +
                       "' (" + std::to_string(previous_mappings.users.size()) + " x " +
                       std::to_string(previous_mappings.videos.size()) + "); were they made by the same run?");
  }
  const Mappings today_mappings = load_mappings(train.mappings_path);
  check_mappings_prefix(previous_mappings, previous_mappings_path, today_mappings, train.mappings_path);
  if (previous.factors.user_factors.cols() != train.config.factors) {
    throw InvalidInput("'" + job.previous_model_path + "' has " + std::to_string(previous.factors.user_factors.cols()) +
                       " factors, this run " + std::to_string(train.config.factors) + " (give --factors " +
                       std::to_string(previous.factors.user_factors.cols()) + ", or train from scratch)");
  }

  const auto parent = std::filesystem::path(train.model_path).parent_path();
  if (!parent.empty()) ensure_directory(parent.string());
  AtomicFileWriter model_writer(train.model_path);
  SparseMatrix ratings = load_ratings_matrix(train.ratings_path, train.mappings_path);
  if (ratings.nnz() == 0) throw InvalidInput("'" + train.ratings_path + "' holds no ratings; nothing to train on");

  WarmStartOutcome outcome;
  Model& model = outcome.model;
  model.info = previous.info;
  model.info.vr_version = kVersion;
  model.info.config = train.config;
  model.info.config.threads = 0;  // not part of the model: any thread count gives the same one
  model.info.n_users = ratings.rows;
  model.info.n_videos = ratings.cols;
  model.info.n_ratings = ratings.nnz();
  model.info.loss_history.clear();

  if (!job.refresh) {
    AlsFactors start = warm_start_factors(previous.factors, ratings, train.config);
    model.factors = train_als_from(std::move(ratings), train.config, std::move(start), [&](const IterationReport& report) {
      if (report.loss == report.loss) model.info.loss_history.push_back(report.loss);  // skip NaN
      if (on_iteration) on_iteration(report);
    });
  } else {
    ChangedRows changed;
    if (!job.changed_path.empty()) {
      auto input = open_input_file(job.changed_path);
      changed = read_changed_ids(input, job.changed_path, today_mappings);
      std::sort(changed.users.begin(), changed.users.end());
      std::sort(changed.videos.begin(), changed.videos.end());
    } else {
      const std::string previous_ratings_path = job.previous_ratings_path.empty()
                                                    ? beside(job.previous_model_path, kRatingsFileName)
                                                    : job.previous_ratings_path;
      const SparseMatrix previous_ratings = load_ratings_matrix(previous_ratings_path, previous_mappings_path);
      changed.users = changed_rows(ratings, previous_ratings);
      changed.videos = changed_rows(ratings.transposed(), previous_ratings.transposed());
    }
    add_new_rows(changed.users, previous.info.n_users, ratings.rows);
    add_new_rows(changed.videos, previous.info.n_videos, ratings.cols);
    // Rows the previous model lacks start at zero: a row not re-solved has no information yet.
    model.factors.user_factors = FactorMatrix::Zero(ratings.rows, train.config.factors);
    model.factors.item_factors = FactorMatrix::Zero(ratings.cols, train.config.factors);
    model.factors.user_factors.topRows(previous.info.n_users) = previous.factors.user_factors;
    model.factors.item_factors.topRows(previous.info.n_videos) = previous.factors.item_factors;
    const RefreshSide side = *job.refresh;
    outcome.users_solved = side == RefreshSide::Videos ? 0 : changed.users.size();
    outcome.videos_solved = side == RefreshSide::Users ? 0 : changed.videos.size();
    if (outcome.users_solved + outcome.videos_solved == 0) return outcome;
    refresh_rows(ratings, train.config, side, changed, model.factors);
    if (train.config.compute_loss) {
      model.info.loss_history.push_back(training_loss(confidence_matrix(ratings, train.config),
                                                      model.factors.user_factors, model.factors.item_factors,
                                                      system_weights(train.config)));
    }
  }
  write_model(model_writer.stream(), model);
  model_writer.commit();
  outcome.written = true;
  return outcome;
}

}  // namespace vr
