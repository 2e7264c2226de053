#include "vr/evaluate.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <ctime>

#include "vr/atomic_file.h"
#include "vr/csv.h"
#include "vr/errors.h"
#include "vr/id_map.h"
#include "vr/mappings.h"
#include "vr/parallel.h"
#include "vr/model_top_k.h"
#include "vr/popularity_penalty.h"
#include "vr/training.h"

namespace vr {
namespace {

MetricsTable metrics_at_cutoffs(const std::vector<std::vector<ScoredVideo>>& recommended, const SparseMatrix& test,
                                const std::vector<int>& cutoffs) {
  MetricsTable table;
  for (const int k : cutoffs) table.at_k.push_back(ranking_metrics(recommended, test, k));
  return table;
}

// A float as the double with the same shortest decimal form (0.1f -> 0.1, not
// 0.10000000149011612), so JSON shows hyperparameters as they were typed.
double as_typed(float value) {
  char buffer[32];
  const auto end = std::to_chars(buffer, buffer + sizeof(buffer), value).ptr;
  return std::strtod(std::string(buffer, end).c_str(), nullptr);
}

// Seconds since the epoch as ISO 8601 UTC, to the second.
std::string utc_time_text(double seconds) {
  const auto whole = static_cast<std::time_t>(std::floor(seconds));
  std::tm parts{};
  gmtime_r(&whole, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

nlohmann::ordered_json metrics_json(const MetricsTable& table) {
  nlohmann::ordered_json object = nlohmann::ordered_json::object();
  for (const auto& metrics : table.at_k) {
    const std::string at = "@" + std::to_string(metrics.k);
    object["precision" + at] = metrics.precision;
    object["recall" + at] = metrics.recall;
    object["ndcg" + at] = metrics.ndcg;
    object["map" + at] = metrics.map;
    object["hit_rate" + at] = metrics.hit_rate;
    object["coverage" + at] = metrics.coverage;
  }
  return object;
}

}  // namespace

std::string to_string(SplitMethod method) {
  switch (method) {
    case SplitMethod::LeaveLastOut: return "leave-last-out";
    case SplitMethod::LastFraction: return "last-fraction";
    case SplitMethod::Given: return "given";
    case SplitMethod::Random: break;
  }
  return "random";
}

SplitMethod parse_split_method(const std::string& text) {
  if (text == "random") return SplitMethod::Random;
  if (text == "leave-last-out") return SplitMethod::LeaveLastOut;
  if (text == "last-fraction") return SplitMethod::LastFraction;
  throw InvalidInput("unknown split '" + text + "' (expected random, leave-last-out or last-fraction)");
}

TimedRatings read_timed_interactions(std::istream& input, const std::string& source_name,
                                     const FeaturesConfig& features) {
  // vr-features' own parser (interaction_rows.h): the same header rules, delimiters, event
  // names and range checks, plus the timestamps.
  CsvReader reader(input, source_name, features.delimiter);
  std::vector<std::string_view> fields;
  if (!reader.next_row(fields)) throw InvalidInput(source_name + ": empty input (expected a header line)");
  const std::vector<std::string> header_names(fields.begin(), fields.end());
  const std::vector<std::string_view> header(header_names.begin(), header_names.end());
  const InteractionRowParser parser(find_interaction_columns(header, source_name, reader.delimiter()),
                                    features.event_weights, /*read_timestamps=*/true);
  const bool timed = parser.columns().timestamp.has_value();
  struct Pair {
    float weight = 0;
    double latest = -std::numeric_limits<double>::infinity();
  };
  IdMap users, videos;
  std::unordered_map<std::uint64_t, Pair> pairs;
  InteractionRow row;
  InteractionRowError error;
  while (reader.next_row(fields)) {
    if (!parser.parse(fields, row, error)) {
      throw InvalidInput(source_name + ":" + std::to_string(reader.line_number()) + ": " + error.detail);
    }
    const std::uint64_t key =
        (static_cast<std::uint64_t>(users.intern(row.user_id)) << 32) | videos.intern(row.video_id);
    if (features.half_life_seconds > 0) {
      if (!timed || !features.decay_now) throw InvalidInput(source_name + ": --half-life needs a timestamp column");
      row.weight = static_cast<float>(row.weight * decay_factor(*features.decay_now - row.timestamp, features.half_life_seconds));
    }
    Pair& pair = pairs[key];
    pair.weight += row.weight;
    if (!std::isfinite(pair.weight)) {
      throw InvalidInput(source_name + ":" + std::to_string(reader.line_number()) + ": the summed weight of user '" +
                         std::string(row.user_id) + "' on video '" + std::string(row.video_id) + "' overflows a float");
    }
    if (timed) pair.latest = std::max(pair.latest, row.timestamp);
  }
  // Number users and videos by sorted id, as vr-features does.
  const auto user_renumbering = users.sort_ids();
  const auto video_renumbering = videos.sort_ids();
  std::vector<std::pair<std::uint64_t, Pair>> sorted;
  sorted.reserve(pairs.size());
  for (const auto& [key, pair] : pairs) {
    if (pair.weight == 0.0f) continue;
    sorted.emplace_back((static_cast<std::uint64_t>(user_renumbering[key >> 32]) << 32) |
                            video_renumbering[key & 0xffffffffu],
                        pair);
  }
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Rating> ratings;
  TimedRatings result;
  ratings.reserve(sorted.size());
  result.timestamps.reserve(sorted.size());
  for (const auto& [key, pair] : sorted) {
    ratings.push_back(Rating{static_cast<std::uint32_t>(key >> 32), static_cast<std::uint32_t>(key & 0xffffffffu), pair.weight});
    if (timed) result.timestamps.push_back(pair.latest);
  }
  result.video_ids = videos.ids();
  // Sorted, distinct triples keep their order in the CSR matrix, so timestamps stay aligned.
  result.ratings = build_sparse_matrix(ratings, static_cast<std::uint32_t>(users.size()),
                                       static_cast<std::uint32_t>(videos.size()));
  return result;
}

Split split_per_user_by_time(const TimedRatings& data, SplitMethod method, double test_ratio,
                             std::vector<double>* train_timestamps) {
  if (method == SplitMethod::Random) throw InvalidInput("split_per_user_by_time needs a time-based method");
  if (method == SplitMethod::LastFraction && !(test_ratio > 0.0 && test_ratio < 1.0)) {
    throw InvalidInput("test ratio must be between 0 and 1");
  }
  const SparseMatrix& ratings = data.ratings;
  if (data.timestamps.size() != ratings.nnz()) {
    throw InvalidInput("split '" + to_string(method) + "' needs timestamps: the interactions have no 'timestamp' column");
  }
  std::vector<Rating> train, test;
  std::vector<std::uint64_t> order;
  // Each user's train ratings in video order (as the CSR matrix built from them holds them).
  std::vector<std::uint64_t> train_order;
  if (train_timestamps != nullptr) train_timestamps->clear();
  for (std::uint32_t user = 0; user < ratings.rows; ++user) {
    const std::uint64_t count = ratings.row_size(user);
    order.resize(count);
    std::iota(order.begin(), order.end(), ratings.row_offsets[user]);
    // Columns are sorted within a row, so a stable sort by time breaks ties by video index.
    std::stable_sort(order.begin(), order.end(),
                     [&](std::uint64_t a, std::uint64_t b) { return data.timestamps[a] < data.timestamps[b]; });
    std::uint64_t test_count = method == SplitMethod::LeaveLastOut
                                   ? 1
                                   : static_cast<std::uint64_t>(std::llround(static_cast<double>(count) * test_ratio));
    if (test_count >= count) test_count = count == 0 ? 0 : count - 1;
    for (std::uint64_t i = 0; i < count; ++i) {
      const std::uint64_t k = order[i];
      (i >= count - test_count ? test : train).push_back(Rating{user, ratings.col_indices[k], ratings.values[k]});
    }
    if (train_timestamps != nullptr) {
      train_order.assign(order.begin(), order.end() - static_cast<std::ptrdiff_t>(test_count));
      std::sort(train_order.begin(), train_order.end());
      for (const std::uint64_t k : train_order) train_timestamps->push_back(data.timestamps[k]);
    }
  }
  return Split{build_sparse_matrix(train, ratings.rows, ratings.cols), build_sparse_matrix(test, ratings.rows, ratings.cols)};
}

namespace {

// Videos ranked by training popularity (users with r > 0), most popular first, ties to the
// lower index; decile_of[video] = rank * 10 / videos.
std::vector<int> popularity_deciles(const SparseMatrix& train, std::vector<double>& catalog_shares) {
  std::vector<std::uint64_t> counts(train.cols, 0);
  std::uint64_t total = 0;
  for (std::uint64_t k = 0; k < train.nnz(); ++k) {
    if (train.values[k] > 0) {
      ++counts[train.col_indices[k]];
      ++total;
    }
  }
  std::vector<std::uint32_t> order(train.cols);
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) { return counts[a] > counts[b]; });
  std::vector<int> decile_of(train.cols, 0);
  catalog_shares.assign(10, 0.0);
  for (std::size_t rank = 0; rank < order.size(); ++rank) {
    const int decile = static_cast<int>(rank * 10 / order.size());
    decile_of[order[rank]] = decile;
    catalog_shares[static_cast<std::size_t>(decile)] += total > 0 ? static_cast<double>(counts[order[rank]]) / total : 0.0;
  }
  return decile_of;
}

// The long tail: every video outside the 20% most popular (deciles 2 to 9).
constexpr int kFirstLongTailDecile = 2;

// Fills the report-only parts of `evaluation` from its top lists.
void add_report_data(ModelEvaluation& evaluation, const std::vector<std::vector<ScoredVideo>>& top,
                     const SparseMatrix& test, int depth, const std::vector<int>& decile_of) {
  for (int k = 1; k <= depth; ++k) evaluation.curve.push_back(ranking_metrics(top, test, k));
  evaluation.popularity_shares.assign(10, 0.0);
  std::vector<char> recommended(decile_of.size(), 0);
  std::uint64_t total = 0;
  for (const auto& list : top) {
    for (std::size_t rank = 0; rank < list.size() && rank < static_cast<std::size_t>(depth); ++rank) {
      evaluation.popularity_shares[static_cast<std::size_t>(decile_of[list[rank].video])] += 1;
      recommended[list[rank].video] = 1;
      ++total;
    }
  }
  if (total > 0) {
    for (double& share : evaluation.popularity_shares) share /= static_cast<double>(total);
  }
  std::uint64_t tail = 0, tail_recommended = 0;
  for (std::size_t video = 0; video < decile_of.size(); ++video) {
    if (decile_of[video] < kFirstLongTailDecile) continue;
    ++tail;
    tail_recommended += recommended[video] != 0;
  }
  evaluation.long_tail_coverage = tail > 0 ? static_cast<double>(tail_recommended) / tail : 0.0;
}

struct EvaluationContext {
  const Split& split;
  const EvaluateConfig& config;
  int deepest = 0;
  int threads = 1;
  std::vector<int> decile_of;  // only with report data
  const EligibleVideos* eligible = nullptr;  // with a catalog: the videos that may be ranked
  std::vector<char> long_tail{};              // with popularity penalties: long_tail_videos(train)
};

// Beta 0 from `top`, then the model re-ranked with each beta of the config.
std::vector<PenaltyEvaluation> penalty_evaluations(const EvaluationContext& context, const Model& model,
                                                   const std::vector<std::vector<ScoredVideo>>& top) {
  const auto evaluate_top = [&](double beta, const std::vector<std::vector<ScoredVideo>>& ranked) {
    PenaltyEvaluation evaluation;
    evaluation.beta = beta;
    evaluation.metrics = metrics_at_cutoffs(ranked, context.split.test, context.config.cutoffs);
    for (const int k : context.config.cutoffs) {
      evaluation.long_tail_coverage.push_back(long_tail_coverage_at(ranked, context.long_tail, k));
    }
    return evaluation;
  };
  std::vector<PenaltyEvaluation> evaluations{evaluate_top(0.0, top)};
  for (const double beta : context.config.popularity_penalties) {
    if (beta == 0) continue;
    const std::vector<float> penalties = popularity_penalties(context.split.train, beta);
    const int deepest = *std::max_element(context.config.cutoffs.begin(), context.config.cutoffs.end());
    evaluations.push_back(evaluate_top(beta, top_k_for_model(model, context.split.train, deepest, context.threads,
                                                             context.config.scan, nullptr, context.eligible,
                                                             &penalties)));
  }
  return evaluations;
}

ModelEvaluation evaluate_model(const EvaluationContext& context, const std::string& name, ModelKind kind,
                               const TrainConfig& train, const IterationCallback& on_iteration,
                               std::vector<double>* loss_history, bool with_penalties = true) {
  ModelEvaluation evaluation;
  evaluation.name = name;
  ItemModelConfig item_config = context.config.item_config;
  item_config.threads = train.threads;
  const auto start = std::chrono::steady_clock::now();
  const Model model = train_model(context.split.train, kind, train, item_config, on_iteration, context.config.on_phase);
  evaluation.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (loss_history != nullptr) *loss_history = model.info.loss_history;
  const auto top = top_k_for_model(model, context.split.train, context.deepest, context.threads,
                                   context.config.scan, &evaluation.scan, context.eligible);
  evaluation.metrics = metrics_at_cutoffs(top, context.split.test, context.config.cutoffs);
  if (context.config.report_depth > 0) {
    add_report_data(evaluation, top, context.split.test, context.config.report_depth, context.decile_of);
  }
  if (with_penalties && !context.config.popularity_penalties.empty()) {
    evaluation.penalties = penalty_evaluations(context, model, top);
  }
  return evaluation;
}

std::uint64_t users_with_test_videos(const SparseMatrix& test) {
  std::uint64_t users = 0;
  for (std::uint32_t user = 0; user < test.rows; ++user) users += test.row_size(user) > 0;
  return users;
}

// `train_timestamps`: the times of data_split.train's ratings (a split by time), else empty.
EvaluationReport evaluate_split(const Split& data_split, const EvaluateConfig& config,
                                const IterationCallback& on_iteration, const TrialCallback& on_trial,
                                std::vector<double> train_timestamps = {}) {
  // With a catalog, the test ratings on videos no recommender may return are dropped before
  // anything is counted.
  std::optional<Split> catalog_split;
  std::optional<CatalogSplitSummary> catalog_summary;
  if (config.catalog) {
    const EligibleVideos& eligible = *config.catalog->eligible;
    if (eligible.size() != data_split.train.cols) {
      throw InvalidInput("the catalog was matched to " + std::to_string(eligible.size()) + " videos, the data has " +
                         std::to_string(data_split.train.cols));
    }
    CatalogSplitSummary summary;
    summary.source = config.catalog->source;
    summary.now = config.catalog->now;
    summary.ineligible_videos = eligible.size() - eligible.eligible_count();
    summary.unknown_videos = config.catalog->unknown_videos;
    catalog_split = Split{data_split.train, without_ineligible_videos(data_split.test, eligible, summary.test_ratings_dropped)};
    summary.users_dropped = users_with_test_videos(data_split.test) - users_with_test_videos(catalog_split->test);
    catalog_summary = summary;
  }
  const Split& split = catalog_split ? *catalog_split : data_split;
  EvaluationReport report;
  report.cutoffs = config.cutoffs;
  report.train = config.train;
  report.item_config = config.item_config;
  report.report_depth = config.report_depth;
  report.split.config = config.split;
  report.split.users = split.train.rows;
  report.split.videos = split.train.cols;
  report.split.train_ratings = split.train.nnz();
  report.split.test_ratings = split.test.nnz();
  report.split.users_evaluated = users_with_test_videos(split.test);
  report.split.catalog = catalog_summary;
  if (report.split.train_ratings == 0) throw InvalidInput("the training part of the split is empty");
  if (report.split.users_evaluated == 0) {
    throw InvalidInput(catalog_summary ? "no user has a test video the catalog allows; nothing to evaluate"
                                       : "no user has a test video (every user has a single rating?); nothing to evaluate");
  }

  EvaluationContext context{split, config, 0, 1, {}};
  context.deepest = std::max(*std::max_element(config.cutoffs.begin(), config.cutoffs.end()), config.report_depth);
  context.threads = resolve_thread_count(config.train.threads);
  if (config.catalog) context.eligible = config.catalog->eligible.get();
  if (config.report_depth > 0) {
    context.decile_of = popularity_deciles(split.train, report.catalog_shares);
    report.long_tail_share = 1.0 - kFirstLongTailDecile / 10.0;
  }
  if (!config.popularity_penalties.empty()) context.long_tail = long_tail_videos(split.train);

  TrainConfig als = config.train;
  if (config.report_depth > 0) als.compute_loss = true;
  if (config.tune) {
    TuneConfig tune = *config.tune;
    if (tune.carve_like_test && config.split.method == SplitMethod::Random) tune.validation_ratio = config.split.test_ratio;
    if (tune.carve_like_test && config.split.method == SplitMethod::Given) {
      tune.validation_ratio = static_cast<double>(split.test.nnz()) / static_cast<double>(split.test.nnz() + split.train.nnz());
    }
    // A split by time: validation holds out the latest training ratings by the same rule.
    if (tune.carve_like_test && !train_timestamps.empty() &&
        (config.split.method == SplitMethod::LeaveLastOut || config.split.method == SplitMethod::LastFraction)) {
      tune.carve = config.split.method == SplitMethod::LeaveLastOut ? ValidationCarve::LatestOne
                                                                     : ValidationCarve::LatestFraction;
      if (config.split.method == SplitMethod::LastFraction) tune.validation_ratio = config.split.test_ratio;
      tune.timestamps = std::make_shared<const std::vector<double>>(std::move(train_timestamps));
    }
    if (config.catalog) tune.eligible = config.catalog->eligible;
    report.tuning = tune_als(split.train, config.train, tune, on_trial);
    report.defaults = evaluate_model(context, "als-defaults", ModelKind::Als, config.train, {}, nullptr, false);
    const bool compute_loss = als.compute_loss;
    als = report.tuning->best;
    als.compute_loss = compute_loss;
    als.threads = config.train.threads;
  }
  report.train = als;
  for (const ModelKind kind : config.models) {
    const bool first_als = kind == ModelKind::Als &&
                           std::none_of(report.models.begin(), report.models.end(),
                                        [](const ModelEvaluation& model) { return model.name == "als"; });
    report.models.push_back(evaluate_model(context, to_string(kind), kind, als,
                                           first_als ? on_iteration : IterationCallback{},
                                           first_als ? &report.loss_history : nullptr));
  }
  report.model = report.models.front().metrics;
  report.train_seconds = report.models.front().train_seconds;

  report.baseline.name = "popularity";
  const auto popular = popularity_top_k(split.train, context.deepest, context.eligible);
  report.baseline.metrics = metrics_at_cutoffs(popular, split.test, config.cutoffs);
  if (config.report_depth > 0) add_report_data(report.baseline, popular, split.test, config.report_depth, context.decile_of);
  report.popularity = report.baseline.metrics;
  return report;
}

void validate_config(const EvaluateConfig& config) {
  validate(config.train);
  validate(config.item_config);
  if (config.cutoffs.empty()) throw InvalidInput("at least one K is needed");
  for (const int k : config.cutoffs) {
    if (k < 1) throw InvalidInput("K must be >= 1 (got " + std::to_string(k) + ")");
  }
  if (config.models.empty()) throw InvalidInput("at least one model is needed");
  if (config.report_depth < 0) throw InvalidInput("report depth must be >= 0");
  for (const double beta : config.popularity_penalties) validate_popularity_penalty(beta);
  if (config.tune) {
    validate(*config.tune);
    if (config.models.front() != ModelKind::Als) {
      throw InvalidInput("--tune tunes ALS: the first of --models must be als");
    }
  }
  if (config.split.method != SplitMethod::LeaveLastOut && config.split.method != SplitMethod::Given &&
      !(config.split.test_ratio > 0.0 && config.split.test_ratio < 1.0)) {
    throw InvalidInput("test ratio must be between 0 and 1");
  }
}

// What the popularity penalty changed, per model and beta (none without penalties).
std::optional<nlohmann::ordered_json> penalty_json(const EvaluationReport& report) {
  nlohmann::ordered_json models = nlohmann::ordered_json::object();
  for (const auto& model : report.models) {
    if (model.penalties.empty()) continue;
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (const auto& penalty : model.penalties) {
      nlohmann::ordered_json row = {{"beta", penalty.beta}};
      row.update(metrics_json(penalty.metrics));
      for (std::size_t i = 0; i < report.cutoffs.size(); ++i) {
        row["long_tail_coverage@" + std::to_string(report.cutoffs[i])] = penalty.long_tail_coverage[i];
      }
      rows.push_back(row);
    }
    models[model.name] = rows;
  }
  if (models.empty()) return std::nullopt;
  return nlohmann::ordered_json{{"formula", kPopularityPenaltyFormula}, {"models", models}};
}

nlohmann::ordered_json config_json(const TrainConfig& train) {
  nlohmann::ordered_json object = {
      {"factors", train.factors},       {"regularization", as_typed(train.regularization)},
      {"alpha", as_typed(train.alpha)},           {"iterations", train.iterations},
      {"solver", to_string(train.solver)}, {"cg_steps", train.cg_steps},
      {"scaling", to_string(train.scaling)}, {"eps", as_typed(train.eps)},
      {"seed", train.seed},
  };
  // iALS's weights only when set, as vr-train's config files carry them.
  if (train.unobserved_weight != 1.0f) object["unobserved_weight"] = as_typed(train.unobserved_weight);
  if (train.reg_exponent != 0.0f) object["reg_exponent"] = as_typed(train.reg_exponent);
  return object;
}

nlohmann::ordered_json report_object(const EvaluationReport& report, bool with_report_data) {
  nlohmann::ordered_json object;
  object["model"] = metrics_json(report.model);
  object["popularity"] = metrics_json(report.popularity);
  object["models"] = nlohmann::ordered_json::object();
  for (const auto& model : report.models) object["models"][model.name] = metrics_json(model.metrics);
  if (report.defaults) object["defaults"] = metrics_json(report.defaults->metrics);
  const auto& split = report.split;
  object["split"] = {
      {"method", to_string(split.config.method)},
      {"test_ratio", split.config.method == SplitMethod::LeaveLastOut ? nlohmann::ordered_json(nullptr)
                                                                       : nlohmann::ordered_json(split.config.test_ratio)},
      {"seed", split.config.seed},
      {"users", split.users},
      {"videos", split.videos},
      {"train_ratings", split.train_ratings},
      {"test_ratings", split.test_ratings},
      {"users_evaluated", split.users_evaluated},
  };
  if (split.given) {
    object["split"]["test_ratio"] = nullptr;
    object["split"]["seed"] = nullptr;
    object["split"]["test_only_users"] = split.given->test_only_users;
    object["split"]["test_only_user_ratings"] = split.given->test_only_user_ratings;
    object["split"]["test_ratings_in_train"] = split.given->test_ratings_in_train;
    object["split"]["test_ratings_on_new_videos"] = split.given->test_ratings_on_new_videos;
  }
  if (split.catalog) {
    object["split"]["catalog"] = {
        {"file", split.catalog->source},
        {"now", split.catalog->now},
        {"ineligible_videos", split.catalog->ineligible_videos},
        {"unknown_videos", split.catalog->unknown_videos},
        {"test_ratings_dropped", split.catalog->test_ratings_dropped},
        {"users_dropped", split.catalog->users_dropped},
    };
  }
  object["config"] = config_json(report.train);
  object["config"]["k"] = report.cutoffs;
  const bool item_models = std::any_of(report.models.begin(), report.models.end(),
                                       [](const ModelEvaluation& model) { return model.name != "als"; });
  if (item_models) {
    object["item_config"] = {
        {"ease_regularization", as_typed(report.item_config.ease_regularization)},
        {"neighbours", report.item_config.neighbours},
        {"similarity", to_string(report.item_config.similarity)},
        {"bm25_k1", as_typed(report.item_config.bm25_k1)},
        {"bm25_b", as_typed(report.item_config.bm25_b)},
    };
  }
  if (const auto penalty = penalty_json(report)) object["popularity_penalty"] = *penalty;
  if (report.tuning) {
    const auto& tuning = *report.tuning;
    object["best_config"] = config_json(tuning.best);
    object["best_config"]["validation_ndcg@" + std::to_string(tuning.k)] = tuning.best_validation_ndcg;
    if (tuning.min_coverage > 0) {
      object["best_config"]["validation_coverage@" + std::to_string(tuning.k)] = tuning.best_validation_coverage;
      object["best_config"]["min_coverage"] = tuning.min_coverage;
      object["best_config"]["coverage_met"] = tuning.coverage_met;
    }
    nlohmann::ordered_json trials = nlohmann::ordered_json::array();
    for (const auto& trial : tuning.trials) {
      nlohmann::ordered_json entry = {{"trial", trial.number}};
      entry.update(config_json(trial.config));
      entry.erase("seed");
      entry["validation_ndcg"] = trial.validation_ndcg;
      if (tuning.min_coverage > 0) entry["validation_coverage"] = trial.validation_coverage;
      entry["seconds"] = trial.seconds;
      entry["refinement"] = trial.refinement;
      trials.push_back(entry);
    }
    object["tuning"] = {{"k", tuning.k},
                        {"validation_ratings", tuning.validation_ratings},
                        {"seconds", tuning.seconds},
                        {"skipped_trials", tuning.skipped_trials},
                        {"stopped_trials", tuning.stopped_trials},
                        {"trials", trials}};
  }
  if (with_report_data && report.report_depth > 0) {
    std::vector<const ModelEvaluation*> all;
    for (const auto& model : report.models) all.push_back(&model);
    if (report.defaults) all.push_back(&*report.defaults);
    all.push_back(&report.baseline);
    nlohmann::ordered_json curves = nlohmann::ordered_json::object();
    nlohmann::ordered_json distribution = {{"catalog", report.catalog_shares}};
    nlohmann::ordered_json long_tail = {{"share_of_catalog", report.long_tail_share}};
    nlohmann::ordered_json seconds = nlohmann::ordered_json::object();
    for (const auto* model : all) {
      nlohmann::ordered_json curve = {{"k", nlohmann::ordered_json::array()},
                                      {"precision", nlohmann::ordered_json::array()},
                                      {"recall", nlohmann::ordered_json::array()},
                                      {"ndcg", nlohmann::ordered_json::array()}};
      for (const auto& metrics : model->curve) {
        curve["k"].push_back(metrics.k);
        curve["precision"].push_back(metrics.precision);
        curve["recall"].push_back(metrics.recall);
        curve["ndcg"].push_back(metrics.ndcg);
      }
      curves[model->name] = curve;
      distribution[model->name] = model->popularity_shares;
      long_tail[model->name] = model->long_tail_coverage;
      seconds[model->name] = model->train_seconds;
    }
    object["curves"] = curves;
    object["loss_history"] = report.loss_history;
    object["popularity_deciles"] = distribution;
    object["long_tail_coverage"] = long_tail;
    object["train_seconds"] = seconds;
  }
  return object;
}

}  // namespace

EvaluationReport evaluate(const SparseMatrix& ratings, const EvaluateConfig& config,
                          const IterationCallback& on_iteration, const TrialCallback& on_trial) {
  validate_config(config);
  if (config.split.method != SplitMethod::Random) {
    throw InvalidInput("split '" + to_string(config.split.method) +
                       "' needs timestamps: give raw interactions with a timestamp column (--interactions)");
  }
  return evaluate_split(split_per_user_random(ratings, config.split.test_ratio, config.split.seed), config, on_iteration,
                        on_trial);
}

EvaluationReport evaluate(const TimedRatings& data, const EvaluateConfig& config, const IterationCallback& on_iteration,
                          const TrialCallback& on_trial) {
  validate_config(config);
  if (config.split.method == SplitMethod::Random) return evaluate(data.ratings, config, on_iteration, on_trial);
  std::vector<double> train_timestamps;
  const Split split = split_per_user_by_time(data, config.split.method, config.split.test_ratio, &train_timestamps);
  return evaluate_split(split, config, on_iteration, on_trial, std::move(train_timestamps));
}

EvaluationReport evaluate(const GivenSplit& given, const EvaluateConfig& config, const IterationCallback& on_iteration,
                          const TrialCallback& on_trial) {
  EvaluateConfig given_config = config;
  given_config.split.method = SplitMethod::Given;
  validate_config(given_config);
  EvaluationReport report = evaluate_split(given.split, given_config, on_iteration, on_trial);
  report.split.given = given.summary;
  return report;
}

bool too_few_users_to_evaluate(const SplitSummary& split) {
  return split.users_evaluated < kFewestUsersForMeaningfulMetrics;
}

std::string few_users_warning(const SplitSummary& split) {
  return "only " + std::to_string(split.users_evaluated) + " users have a test video; metrics averaged over fewer than " +
         std::to_string(kFewestUsersForMeaningfulMetrics) + " users are not meaningful (a single user moves them by up to 1/" +
         std::to_string(split.users_evaluated) + ")";
}

namespace {

// The popularity penalty's table: one row per model and beta, nDCG, coverage and long-tail
// coverage at each K.
void write_penalty_table(std::ostream& output, const EvaluationReport& report) {
  if (std::none_of(report.models.begin(), report.models.end(),
                   [](const ModelEvaluation& model) { return !model.penalties.empty(); })) {
    return;
  }
  const auto flags = output.flags();
  output << "popularity penalty: " << kPopularityPenaltyFormula << "\n";
  output << std::left << std::setw(16) << "model" << std::right << std::setw(10) << "beta";
  for (const int k : report.cutoffs) {
    const std::string at = "@" + std::to_string(k);
    output << std::setw(14) << "ndcg" + at << std::setw(14) << "coverage" + at << std::setw(16) << "long_tail" + at;
  }
  output << "\n";
  for (const auto& model : report.models) {
    for (const auto& penalty : model.penalties) {
      output << std::left << std::setw(16) << model.name << std::right << std::defaultfloat << std::setw(10)
             << penalty.beta << std::fixed << std::setprecision(4);
      for (std::size_t i = 0; i < report.cutoffs.size(); ++i) {
        output << std::setw(14) << penalty.metrics.at_k[i].ndcg << std::setw(14) << penalty.metrics.at_k[i].coverage
               << std::setw(16) << penalty.long_tail_coverage[i];
      }
      output << "\n";
      output.flags(flags);
    }
  }
  output.flags(flags);
}

}  // namespace

void write_report_table(std::ostream& output, const EvaluationReport& report) {
  const auto flags = output.flags();
  const auto precision = output.precision();
  // Columns: each model, the untuned defaults, then the baseline.
  std::vector<std::pair<std::string, const MetricsTable*>> columns;
  const bool single = report.models.size() == 1 && !report.tuning;
  for (const auto& model : report.models) {
    std::string name = single ? "model" : model.name;
    if (report.tuning && model.name == "als") name = "als-tuned";
    columns.emplace_back(name, &model.metrics);
  }
  if (report.models.empty()) columns.emplace_back("model", &report.model);
  if (report.defaults) columns.emplace_back("als-defaults", &report.defaults->metrics);
  columns.emplace_back("popularity", &report.popularity);
  std::vector<int> widths;
  output << std::left << std::setw(16) << "metric" << std::right;
  for (const auto& column : columns) {
    widths.push_back(std::max<int>(10, static_cast<int>(column.first.size()) + 2));
    output << std::setw(widths.back()) << column.first;
  }
  output << "\n";
  for (std::size_t i = 0; i < report.cutoffs.size(); ++i) {
    const std::string at = "@" + std::to_string(report.cutoffs[i]);
    const auto row = [&](const std::string& name, double RankingMetrics::*field) {
      output << std::left << std::setw(16) << name << std::right << std::fixed << std::setprecision(4);
      for (std::size_t c = 0; c < columns.size(); ++c) output << std::setw(widths[c]) << columns[c].second->at_k[i].*field;
      output << "\n";
    };
    row("precision" + at, &RankingMetrics::precision);
    row("recall" + at, &RankingMetrics::recall);
    row("ndcg" + at, &RankingMetrics::ndcg);
    row("map" + at, &RankingMetrics::map);
    row("hit_rate" + at, &RankingMetrics::hit_rate);
    row("coverage" + at, &RankingMetrics::coverage);
  }
  output.flags(flags);
  write_penalty_table(output, report);
  const auto& split = report.split;
  output << "split: " << to_string(split.config.method);
  if (split.given) output << " train and test files";
  if (split.config.method != SplitMethod::LeaveLastOut && !split.given) output << ", test ratio " << split.config.test_ratio;
  if (split.config.method == SplitMethod::Random) output << ", seed " << split.config.seed;
  output << "; " << split.users << " users x " << split.videos << " videos, " << split.train_ratings << " train / "
         << split.test_ratings << " test ratings, " << split.users_evaluated << " users evaluated\n";
  if (split.given) {
    output << "left out: " << split.given->test_only_users << " users only in the test file ("
           << split.given->test_only_user_ratings << " test ratings), " << split.given->test_ratings_in_train
           << " test ratings already in the user's training videos; " << split.given->test_ratings_on_new_videos
           << " test ratings on videos absent from train count as misses\n";
  }
  if (split.catalog) {
    const auto& catalog = *split.catalog;
    output << "catalog: " << catalog.source << " at " << utc_time_text(catalog.now) << ": " << catalog.ineligible_videos
           << " of " << split.videos << " videos hidden or outside their window, never ranked; "
           << catalog.test_ratings_dropped << " test ratings on them dropped (" << catalog.users_dropped
           << " users left with none)";
    if (catalog.unknown_videos > 0) output << "; " << catalog.unknown_videos << " catalog videos not in the data (ignored)";
    output << "\n";
  }
  const auto& train = report.train;
  output << (report.tuning ? "tuned model" : "model") << ": factors " << train.factors << ", regularization "
         << train.regularization << ", alpha " << train.alpha << ", iterations " << train.iterations << ", solver "
         << to_string(train.solver) << ", scaling " << to_string(train.scaling);
  if (train.scaling == ConfidenceScaling::Log) output << " (eps " << train.eps << ")";
  if (train.unobserved_weight != 1.0f) output << ", unobserved weight " << train.unobserved_weight;
  if (train.reg_exponent != 0.0f) output << ", reg exponent " << train.reg_exponent;
  output << ", seed " << train.seed << "; trained in " << std::fixed << std::setprecision(2) << report.train_seconds
         << " s\n";
  output.flags(flags);
  output << std::setprecision(6);
  for (const auto& model : report.models) {
    if (model.name == "ease") {
      output << "ease: regularization " << report.item_config.ease_regularization << "; trained in " << std::fixed
             << std::setprecision(2) << model.train_seconds << " s\n";
    } else if (model.name == "item-knn") {
      output << "item-knn: " << to_string(report.item_config.similarity) << ", " << report.item_config.neighbours
             << " neighbours; trained in " << std::fixed << std::setprecision(2) << model.train_seconds << " s\n";
    }
    output.flags(flags);
  }
  if (report.tuning) {
    output << "tuning: " << report.tuning->trials.size() << " trials in " << std::fixed << std::setprecision(1)
           << report.tuning->seconds << " s, best validation ndcg@" << report.tuning->k << " " << std::setprecision(4)
           << report.tuning->best_validation_ndcg << " (" << report.tuning->validation_ratings
           << " validation ratings carved from train)\n";
    if (report.tuning->skipped_trials + report.tuning->stopped_trials > 0) {
      output << "tuning: the time budget (--tune-seconds) skipped " << report.tuning->skipped_trials
             << " trials that would not have finished within it and stopped " << report.tuning->stopped_trials
             << " running\n";
    }
    if (report.tuning->min_coverage > 0) {
      output << "tuning: minimum validation coverage@" << report.tuning->k << " " << report.tuning->min_coverage
             << (report.tuning->coverage_met ? ": met, " : ": NOT met by any trial; picked the highest, ")
             << report.tuning->best_validation_coverage << "\n";
    }
    output.flags(flags);
  }
  if (too_few_users_to_evaluate(report.split)) output << "warning: " << few_users_warning(report.split) << "\n";
  output.precision(precision);
}

void write_report_json(std::ostream& output, const EvaluationReport& report) {
  output << report_object(report, false).dump() << "\n";
}

std::string report_json_text(const EvaluationReport& report, bool with_report_data) {
  return report_object(report, with_report_data).dump(1) + "\n";
}

EvaluationReport run_evaluation(const EvaluateJob& job, const IterationCallback& on_iteration,
                                const TrialCallback& on_trial, const WarningCallback& on_warning) {
  validate_config(job.config);
  if (!job.best_config_path.empty() && !job.config.tune) throw InvalidInput("a best-config file needs tuning");
  AtomicFileWriter writer(job.output_path);
  std::optional<AtomicFileWriter> best_config_writer;
  if (!job.best_config_path.empty()) {
    // Created like --report's folder, so `--best-config report/tuned.conf` works in a fresh place.
    const auto parent = std::filesystem::path(job.best_config_path).parent_path();
    if (!parent.empty()) ensure_directory(parent.string());
    best_config_writer.emplace(job.best_config_path);
  }
  if (!job.report_directory.empty()) ensure_directory(job.report_directory);
  EvaluateConfig config = job.config;
  if (!job.report_directory.empty() && config.report_depth == 0) config.report_depth = 20;
  const bool advise = on_warning && !config.tune &&
                      std::find(config.models.begin(), config.models.end(), ModelKind::Als) != config.models.end();
  const auto check_tail = [&](const SparseMatrix& ratings) {
    if (!advise) return;
    if (const auto warning = heavy_tail_warning(ratings, config.train)) on_warning(*warning);
  };
  // The catalog is read before the data, so a bad file fails at once; it is matched to the
  // data's videos by id once they are known.
  const std::shared_ptr<const Catalog> catalog = job.catalog_path.empty() ? nullptr : load_catalog(job.catalog_path);
  const auto bind_catalog = [&](const std::vector<std::string>& video_ids, const std::string& data_name) {
    if (!catalog) return;
    if (video_ids.empty()) {
      throw InvalidInput("--catalog matches videos by id, and " + data_name +
                         " has video indices only: give the mappings.bin that numbered them (--mappings)");
    }
    config.catalog = bind_evaluation_catalog(catalog, video_ids, job.catalog_now);
  };
  EvaluationReport report;
  if (!job.train_path.empty() || !job.test_path.empty()) {
    if (job.train_path.empty() || job.test_path.empty()) throw InvalidInput("a given split needs both a train and a test file");
    const GivenSplit given = load_given_split(job.train_path, job.test_path, job.mappings_path, job.features);
    check_tail(given.split.train);
    bind_catalog(given.video_ids, "'" + job.train_path + "'");
    report = evaluate(given, config, on_iteration, on_trial);
  } else if (!job.interactions_path.empty()) {
    TimedRatings data;
    const std::string source_name = job.interactions_path == "-" ? std::string("<stdin>") : job.interactions_path;
    FeaturesConfig features = job.features;
    // Time decay's default reference time is the newest event, as in vr-features: a first pass
    // finds it (stdin is kept in memory for the second).
    std::string stdin_text;
    const bool scan_twice = features.half_life_seconds > 0 && !features.decay_now;
    if (scan_twice && job.interactions_path == "-") {
      stdin_text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    }
    const auto read = [&](const auto& parse) {
      if (job.interactions_path != "-") {
        auto input = open_input_file(job.interactions_path);
        return parse(static_cast<std::istream&>(input));
      }
      if (!scan_twice) return parse(static_cast<std::istream&>(std::cin));
      std::istringstream input(stdin_text);
      return parse(static_cast<std::istream&>(input));
    };
    if (scan_twice) {
      features.decay_now = read([&](std::istream& input) { return newest_timestamp(input, source_name, false); });
    }
    data = read([&](std::istream& input) { return read_timed_interactions(input, source_name, features); });
    check_tail(data.ratings);
    bind_catalog(data.video_ids, source_name);
    report = evaluate(data, config, on_iteration, on_trial);
  } else {
    const SparseMatrix ratings = load_ratings_matrix(job.ratings_path, job.mappings_path);
    check_tail(ratings);
    if (catalog) {
      const std::string data_name = job.ratings_path == "-" ? std::string("<stdin>") : "'" + job.ratings_path + "'";
      std::vector<std::string> video_ids;
      if (!job.mappings_path.empty()) video_ids = load_mappings(job.mappings_path).videos.ids();
      bind_catalog(video_ids, data_name);
    }
    report = evaluate(ratings, config, on_iteration, on_trial);
  }
  if (job.json) {
    write_report_json(writer.stream(), report);
  } else {
    write_report_table(writer.stream(), report);
  }
  if (best_config_writer) {
    HyperparameterFile best;
    best.config = report.tuning->best;
    std::ostringstream comment;
    comment << "vr-evaluate --tune: best of " << report.tuning->trials.size() << " trials, validation ndcg@"
            << report.tuning->k << " " << report.tuning->best_validation_ndcg << "\n"
            << "use with: vr-train --config FILE (flags given on the command line override it)";
    write_hyperparameters(best_config_writer->stream(), best, comment.str());
    best_config_writer->commit();
  }
  if (!job.report_directory.empty()) write_html_report(job.report_directory, report);
  writer.commit();
  return report;
}

}  // namespace vr
