#include "vr/evaluate.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <unordered_map>

#include "vr/atomic_file.h"
#include "vr/csv.h"
#include "vr/errors.h"
#include "vr/id_map.h"
#include "vr/parallel.h"
#include "vr/training.h"

namespace vr {
namespace {

// Days from 1970-01-01 to the proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day) {
  year -= month <= 2;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const auto year_of_era = static_cast<unsigned>(year - era * 400);
  const unsigned day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + static_cast<std::int64_t>(day_of_era) - 719468;
}

// Reads exactly `digits` decimal digits at `text[position]`, advancing `position`.
std::optional<unsigned> read_digits(std::string_view text, std::size_t& position, std::size_t digits) {
  if (position + digits > text.size()) return std::nullopt;
  unsigned value = 0;
  for (std::size_t i = 0; i < digits; ++i) {
    const char c = text[position + i];
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  position += digits;
  return value;
}

std::optional<double> parse_iso8601(std::string_view text) {
  std::size_t position = 0;
  const auto year = read_digits(text, position, 4);
  if (!year || position >= text.size() || text[position++] != '-') return std::nullopt;
  const auto month = read_digits(text, position, 2);
  if (!month || position >= text.size() || text[position++] != '-') return std::nullopt;
  const auto day = read_digits(text, position, 2);
  if (!day || *month < 1 || *month > 12 || *day < 1 || *day > 31) return std::nullopt;
  double seconds = static_cast<double>(days_from_civil(*year, *month, *day)) * 86400.0;
  if (position == text.size()) return seconds;
  if (text[position] != 'T' && text[position] != ' ') return std::nullopt;
  ++position;
  const auto hour = read_digits(text, position, 2);
  if (!hour || position >= text.size() || text[position++] != ':') return std::nullopt;
  const auto minute = read_digits(text, position, 2);
  if (!minute || *hour > 23 || *minute > 59) return std::nullopt;
  seconds += *hour * 3600.0 + *minute * 60.0;
  if (position < text.size() && text[position] == ':') {
    ++position;
    const auto second = read_digits(text, position, 2);
    if (!second || *second > 60) return std::nullopt;
    seconds += *second;
    if (position < text.size() && (text[position] == '.' || text[position] == ',')) {
      ++position;
      double scale = 0.1;
      const std::size_t start = position;
      while (position < text.size() && text[position] >= '0' && text[position] <= '9') {
        seconds += (text[position++] - '0') * scale;
        scale /= 10;
      }
      if (position == start) return std::nullopt;
    }
  }
  if (position == text.size()) return seconds;
  if (text[position] == 'Z' && position + 1 == text.size()) return seconds;
  if (text[position] == '+' || text[position] == '-') {
    const double sign = text[position] == '+' ? 1.0 : -1.0;
    ++position;
    const auto offset_hours = read_digits(text, position, 2);
    if (!offset_hours) return std::nullopt;
    if (position < text.size() && text[position] == ':') ++position;
    const auto offset_minutes = read_digits(text, position, 2);
    if (!offset_minutes || position != text.size()) return std::nullopt;
    // Local time = UTC + offset, so UTC = local - offset.
    return seconds - sign * (*offset_hours * 3600.0 + *offset_minutes * 60.0);
  }
  return std::nullopt;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

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

std::optional<double> parse_timestamp(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  // A bare number is seconds since the epoch; "2026-01-05" also starts with digits, so a
  // number must parse completely.
  if (const auto number = parse_finite_number(text)) return number;
  return parse_iso8601(text);
}

TimedRatings read_timed_interactions(std::istream& input, const std::string& source_name,
                                     const FeaturesConfig& features) {
  CsvReader reader(input, source_name);
  std::vector<std::string_view> fields;
  if (!reader.next_row(fields)) throw InvalidInput(source_name + ": empty input (expected a header line)");
  const std::vector<std::string> header_names(fields.begin(), fields.end());
  const std::vector<std::string_view> header(header_names.begin(), header_names.end());
  const auto user_column = find_column(header, "user_id", source_name);
  const auto video_column = find_column(header, "video_id", source_name);
  const auto event_column = find_column(header, "event", source_name);
  const auto value_column = find_column(header, "value", source_name);
  const auto time_column = find_column(header, "timestamp", source_name);
  if (!user_column || !video_column || (!event_column && !value_column) || (event_column && value_column)) {
    throw InvalidInput(source_name + ":1: expected columns user_id, video_id and one of event or value");
  }
  const std::size_t needed = std::max({*user_column, *video_column, event_column.value_or(0), value_column.value_or(0),
                                       time_column.value_or(0)}) + 1;
  struct Pair {
    float weight = 0;
    double latest = -std::numeric_limits<double>::infinity();
  };
  IdMap users, videos;
  std::unordered_map<std::uint64_t, Pair> pairs;
  while (reader.next_row(fields)) {
    const auto where = [&](const std::string& field) {
      return source_name + ":" + std::to_string(reader.line_number()) + ": field '" + field + "'";
    };
    if (fields.size() < needed) {
      throw InvalidInput(source_name + ":" + std::to_string(reader.line_number()) + ": expected at least " +
                         std::to_string(needed) + " fields, found " + std::to_string(fields.size()));
    }
    const auto user_id = trim(fields[*user_column]);
    const auto video_id = trim(fields[*video_column]);
    if (user_id.empty()) throw InvalidInput(where("user_id") + " is empty");
    if (video_id.empty()) throw InvalidInput(where("video_id") + " is empty");
    float weight = 0;
    if (event_column) {
      const auto event = features.event_weights.find(std::string(trim(fields[*event_column])));
      if (event == features.event_weights.end()) {
        throw InvalidInput(where("event") + ": unknown event '" + std::string(trim(fields[*event_column])) + "'");
      }
      weight = static_cast<float>(event->second);
    } else {
      const auto value = parse_finite_number(trim(fields[*value_column]));
      if (!value) throw InvalidInput(where("value") + " is not a finite number");
      weight = static_cast<float>(*value);
    }
    std::optional<double> time;
    if (time_column) {
      time = parse_timestamp(fields[*time_column]);
      if (!time) {
        throw InvalidInput(where("timestamp") + ": '" + std::string(fields[*time_column]) +
                           "' is neither seconds since the epoch nor an ISO 8601 time");
      }
    }
    const std::uint64_t key = (static_cast<std::uint64_t>(users.intern(user_id)) << 32) | videos.intern(video_id);
    Pair& pair = pairs[key];
    pair.weight += weight;
    if (time) pair.latest = std::max(pair.latest, *time);
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
    if (time_column) result.timestamps.push_back(pair.latest);
  }
  // Sorted, distinct triples keep their order in the CSR matrix, so timestamps stay aligned.
  result.ratings = build_sparse_matrix(ratings, static_cast<std::uint32_t>(users.size()),
                                       static_cast<std::uint32_t>(videos.size()));
  return result;
}

Split split_per_user_by_time(const TimedRatings& data, SplitMethod method, double test_ratio) {
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
  }
  return Split{build_sparse_matrix(train, ratings.rows, ratings.cols), build_sparse_matrix(test, ratings.rows, ratings.cols)};
}

namespace {

EvaluationReport evaluate_split(const Split& split, const EvaluateConfig& config,
                                const IterationCallback& on_iteration) {
  EvaluationReport report;
  report.cutoffs = config.cutoffs;
  report.train = config.train;
  report.split.config = config.split;
  report.split.users = split.train.rows;
  report.split.videos = split.train.cols;
  report.split.train_ratings = split.train.nnz();
  report.split.test_ratings = split.test.nnz();
  for (std::uint32_t user = 0; user < split.test.rows; ++user) report.split.users_evaluated += split.test.row_size(user) > 0;
  if (report.split.train_ratings == 0) throw InvalidInput("the training part of the split is empty");
  if (report.split.users_evaluated == 0) {
    throw InvalidInput("no user has a test video (every user has a single rating?); nothing to evaluate");
  }

  const auto start = std::chrono::steady_clock::now();
  const AlsFactors factors = train_als(split.train, config.train, on_iteration);
  report.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const int deepest = *std::max_element(config.cutoffs.begin(), config.cutoffs.end());
  const auto recommended = top_k_all_users(factors.user_factors, factors.item_factors, deepest, &split.train,
                                           resolve_thread_count(config.train.threads));
  report.model = metrics_at_cutoffs(recommended, split.test, config.cutoffs);
  report.popularity = metrics_at_cutoffs(popularity_top_k(split.train, deepest), split.test, config.cutoffs);
  return report;
}

void validate_config(const EvaluateConfig& config) {
  validate(config.train);
  if (config.cutoffs.empty()) throw InvalidInput("at least one K is needed");
  for (const int k : config.cutoffs) {
    if (k < 1) throw InvalidInput("K must be >= 1 (got " + std::to_string(k) + ")");
  }
  if (config.split.method != SplitMethod::LeaveLastOut &&
      !(config.split.test_ratio > 0.0 && config.split.test_ratio < 1.0)) {
    throw InvalidInput("test ratio must be between 0 and 1");
  }
}

}  // namespace

EvaluationReport evaluate(const SparseMatrix& ratings, const EvaluateConfig& config,
                          const IterationCallback& on_iteration) {
  validate_config(config);
  if (config.split.method != SplitMethod::Random) {
    throw InvalidInput("split '" + to_string(config.split.method) +
                       "' needs timestamps: give raw interactions with a timestamp column (--interactions)");
  }
  return evaluate_split(split_per_user_random(ratings, config.split.test_ratio, config.split.seed), config, on_iteration);
}

EvaluationReport evaluate(const TimedRatings& data, const EvaluateConfig& config, const IterationCallback& on_iteration) {
  validate_config(config);
  if (config.split.method == SplitMethod::Random) return evaluate(data.ratings, config, on_iteration);
  return evaluate_split(split_per_user_by_time(data, config.split.method, config.split.test_ratio), config,
                        on_iteration);
}

void write_report_table(std::ostream& output, const EvaluationReport& report) {
  const auto flags = output.flags();
  output << std::left << std::setw(16) << "metric" << std::right << std::setw(10) << "model" << std::setw(12)
         << "popularity" << "\n";
  const auto row = [&](const std::string& name, double model, double popularity) {
    output << std::left << std::setw(16) << name << std::right << std::fixed << std::setprecision(4) << std::setw(10)
           << model << std::setw(12) << popularity << "\n";
  };
  for (std::size_t i = 0; i < report.cutoffs.size(); ++i) {
    const auto& model = report.model.at_k[i];
    const auto& popularity = report.popularity.at_k[i];
    const std::string at = "@" + std::to_string(model.k);
    row("precision" + at, model.precision, popularity.precision);
    row("recall" + at, model.recall, popularity.recall);
    row("ndcg" + at, model.ndcg, popularity.ndcg);
    row("map" + at, model.map, popularity.map);
    row("hit_rate" + at, model.hit_rate, popularity.hit_rate);
    row("coverage" + at, model.coverage, popularity.coverage);
  }
  output.flags(flags);
  const auto& split = report.split;
  output << "split: " << to_string(split.config.method);
  if (split.config.method != SplitMethod::LeaveLastOut) output << ", test ratio " << split.config.test_ratio;
  if (split.config.method == SplitMethod::Random) output << ", seed " << split.config.seed;
  output << "; " << split.users << " users x " << split.videos << " videos, " << split.train_ratings << " train / "
         << split.test_ratings << " test ratings, " << split.users_evaluated << " users evaluated\n";
  const auto& train = report.train;
  output << "model: factors " << train.factors << ", regularization " << train.regularization << ", alpha "
         << train.alpha << ", iterations " << train.iterations << ", solver " << to_string(train.solver)
         << ", scaling " << to_string(train.scaling) << ", seed " << train.seed << "; trained in " << std::fixed
         << std::setprecision(2) << report.train_seconds << " s\n";
  output.flags(flags);
}

void write_report_json(std::ostream& output, const EvaluationReport& report) {
  nlohmann::ordered_json object;
  object["model"] = metrics_json(report.model);
  object["popularity"] = metrics_json(report.popularity);
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
  const auto& train = report.train;
  object["config"] = {
      {"factors", train.factors},       {"regularization", as_typed(train.regularization)},
      {"alpha", as_typed(train.alpha)},           {"iterations", train.iterations},
      {"solver", to_string(train.solver)}, {"cg_steps", train.cg_steps},
      {"scaling", to_string(train.scaling)}, {"eps", as_typed(train.eps)},
      {"seed", train.seed},             {"k", report.cutoffs},
  };
  output << object.dump() << "\n";
}

EvaluationReport run_evaluation(const EvaluateJob& job, const IterationCallback& on_iteration) {
  validate_config(job.config);
  AtomicFileWriter writer(job.output_path);
  EvaluationReport report;
  if (!job.interactions_path.empty()) {
    TimedRatings data;
    if (job.interactions_path == "-") {
      data = read_timed_interactions(std::cin, "<stdin>", job.features);
    } else {
      auto input = open_input_file(job.interactions_path);
      data = read_timed_interactions(input, job.interactions_path, job.features);
    }
    report = evaluate(data, job.config, on_iteration);
  } else {
    report = evaluate(load_ratings_matrix(job.ratings_path, job.mappings_path), job.config, on_iteration);
  }
  if (job.json) {
    write_report_json(writer.stream(), report);
  } else {
    write_report_table(writer.stream(), report);
  }
  writer.commit();
  return report;
}

}  // namespace vr
