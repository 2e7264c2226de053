#include "vr/recommend_job.h"

#include "vr/ann_index.h"

#include <algorithm>
#include <filesystem>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <iostream>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "vr/atomic_file.h"
#include "vr/catalog.h"
#include "vr/csv.h"
#include "vr/eligibility.h"
#include "vr/errors.h"
#include "vr/parallel.h"

namespace vr {
namespace {

// Batch lines answered together at most; bounds the memory held for out-of-order output.
constexpr std::size_t kBatchChunkLines = 1024;

// Shortest decimal form that reads back to the same float (to_chars' guarantee).
void write_score(std::ostream& output, float value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  output.write(buffer, result.ptr - buffer);
}

// A JSON string literal. The output is hand-written rather than built with nlohmann::json so
// that keys keep the documented order and --all-users does not allocate a tree per user.
void write_json_string(std::ostream& output, std::string_view text) {
  output.put('"');
  for (const char c : text) {
    switch (c) {
      case '"': output << "\\\""; break;
      case '\\': output << "\\\\"; break;
      case '\n': output << "\\n"; break;
      case '\r': output << "\\r"; break;
      case '\t': output << "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          output << escaped;
        } else {
          output.put(c);
        }
    }
  }
  output.put('"');
}

// The title of a video, or "" when the titles file does not list it.
const std::string& title_of(const OutputStyle& style, const std::string& video_id) {
  static const std::string missing;
  const auto it = style.titles->find(video_id);
  return it == style.titles->end() ? missing : it->second;
}

// "v003:0.41,v001:0.12"
void write_because_text(std::ostream& output, const Recommendation& recommendation) {
  bool first = true;
  for (const auto& contribution : recommendation.because) {
    if (!first) output.put(',');
    first = false;
    output << contribution.video_id << ':';
    write_score(output, contribution.contribution);
  }
}

// The elements of a "recommendations" (or "similar") array.
void write_json_videos(std::ostream& output, const std::vector<Recommendation>& recommendations,
                       const OutputStyle& style, bool explain) {
  output.put('[');
  for (std::size_t i = 0; i < recommendations.size(); ++i) {
    const auto& recommendation = recommendations[i];
    if (i > 0) output << ", ";
    output << "{\"videoId\": ";
    write_json_string(output, recommendation.video_id);
    output << ", \"score\": ";
    write_score(output, recommendation.score);
    if (style.titles != nullptr) {
      output << ", \"title\": ";
      write_json_string(output, title_of(style, recommendation.video_id));
    }
    if (explain) {
      output << ", \"because\": [";
      for (std::size_t j = 0; j < recommendation.because.size(); ++j) {
        if (j > 0) output << ", ";
        output << "{\"videoId\": ";
        write_json_string(output, recommendation.because[j].video_id);
        output << ", \"contribution\": ";
        write_score(output, recommendation.because[j].contribution);
        output << '}';
      }
      output << ']';
    }
    output << '}';
  }
  output.put(']');
}

// {"userId": ..., "recommendations": [...]}; no "userId" key when the user has no id.
void write_json_answer(std::ostream& output, const std::string& user_id,
                       const std::vector<Recommendation>& recommendations, const OutputStyle& style, bool explain) {
  output.put('{');
  if (!user_id.empty()) {
    output << "\"userId\": ";
    write_json_string(output, user_id);
    output << ", ";
  }
  output << "\"recommendations\": ";
  write_json_videos(output, recommendations, style, explain);
  output << "}\n";
}

void write_json_error(std::ostream& output, const std::string& user_id, std::uint64_t line, const std::string& error) {
  output << '{';
  if (!user_id.empty()) {
    output << "\"userId\": ";
    write_json_string(output, user_id);
  } else {
    output << "\"line\": " << line;
  }
  output << ", \"error\": ";
  write_json_string(output, error);
  output << "}\n";
}

void write_csv_header(std::ostream& output, const OutputStyle& style, bool explain) {
  output << "user_id,rank,video_id,score";
  if (style.titles != nullptr) output << ",title";
  if (explain) output << ",because";
  output << '\n';
}

void write_csv_rows(std::ostream& output, const std::string& user_id, const std::vector<Recommendation>& recommendations,
                    const OutputStyle& style, bool explain) {
  for (std::size_t rank = 0; rank < recommendations.size(); ++rank) {
    const auto& recommendation = recommendations[rank];
    write_csv_field(output, user_id);
    output << ',' << rank + 1 << ',';
    write_csv_field(output, recommendation.video_id);
    output << ',';
    write_score(output, recommendation.score);
    if (style.titles != nullptr) {
      output << ',';
      write_csv_field(output, title_of(style, recommendation.video_id));
    }
    if (explain) {
      std::ostringstream because;
      write_because_text(because, recommendation);
      output << ',';
      write_csv_field(output, because.str());
    }
    output << '\n';
  }
}

void write_tsv_rows(std::ostream& output, const std::vector<Recommendation>& recommendations, const OutputStyle& style,
                    bool explain) {
  for (const auto& recommendation : recommendations) {
    output << recommendation.video_id << '\t';
    write_score(output, recommendation.score);
    if (style.titles != nullptr) output << '\t' << title_of(style, recommendation.video_id);
    if (explain) {
      output << '\t';
      write_because_text(output, recommendation);
    }
    output << '\n';
  }
}

// One query's answer in the single-query formats.
void write_single_answer(std::ostream& output, const std::string& user_id,
                         const std::vector<Recommendation>& recommendations, const RecommendOptions& options,
                         const OutputStyle& style) {
  switch (style.format) {
    case OutputFormat::Json:
      write_json_answer(output, user_id, recommendations, style, options.explain);
      break;
    case OutputFormat::Csv:
      write_csv_header(output, style, options.explain);
      write_csv_rows(output, user_id, recommendations, style, options.explain);
      break;
    case OutputFormat::Auto:
    case OutputFormat::Tsv:
      write_tsv_rows(output, recommendations, style, options.explain);
      break;
  }
}

OutputFormat batch_format(const OutputStyle& style) {
  if (style.format == OutputFormat::Tsv) {
    throw InvalidInput("--format tsv is for a single query; batches write json (JSON Lines) or csv");
  }
  return style.format == OutputFormat::Csv ? OutputFormat::Csv : OutputFormat::Json;
}

// One parsed line of a --users input.
struct BatchRequest {
  std::uint64_t line = 0;     // 1-based line number in the input
  std::string user_id;        // may be empty for an anonymous history
  bool has_history = false;
  History history;
  int k = 0;                  // 0 = the batch's k
  std::string parse_error;    // non-empty when the line could not be read
};

// "user_id" or "userId" in any case: the header of a user column.
bool is_user_column_name(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower == "user_id" || lower == "userid";
}

BatchRequest parse_batch_line(const std::string& text, std::uint64_t line) {
  BatchRequest request;
  request.line = line;
  if (text.front() != '{') {
    request.user_id = text;
    return request;
  }
  try {
    const auto object = nlohmann::json::parse(text);
    if (!object.is_object()) throw InvalidInput("expected a JSON object");
    for (const char* key : {"userId", "user_id"}) {
      if (object.contains(key)) request.user_id = object.at(key).get<std::string>();
    }
    if (object.contains("k")) {
      request.k = object.at("k").get<int>();
      if (request.k < 1) throw InvalidInput("\"k\" must be >= 1");
    }
    if (object.contains("history")) {
      request.has_history = true;
      for (const auto& item : object.at("history")) {
        if (item.is_string()) {
          request.history.videos.push_back(item.get<std::string>());
          request.history.weights.push_back(1.0f);
        } else {
          request.history.videos.push_back(item.at("videoId").get<std::string>());
          request.history.weights.push_back(item.contains("weight") ? item.at("weight").get<float>() : 1.0f);
        }
      }
    }
    if (request.user_id.empty() && !request.has_history) throw InvalidInput("no \"userId\" and no \"history\"");
  } catch (const std::exception& error) {
    request.parse_error = std::string("invalid request: ") + error.what();
  }
  return request;
}

// The answer to one batch request, rendered to text so requests can be answered on several
// threads and written in input order.
struct BatchAnswer {
  std::string text;
  bool answered = false;
  bool not_found = false;
  bool popular = false;
};

BatchAnswer answer_batch_request(const Recommender& recommender, const BatchRequest& request,
                                 const RecommendOptions& batch_options, const OutputStyle& style, OutputFormat format,
                                 const PopularVideos* popular) {
  BatchAnswer answer;
  std::ostringstream text;
  RecommendOptions options = batch_options;
  if (request.k > 0) options.k = request.k;
  const auto fail = [&](const std::string& error) {
    if (format == OutputFormat::Json) write_json_error(text, request.user_id, request.line, error);
  };
  if (!request.parse_error.empty()) {
    fail(request.parse_error);
    answer.text = text.str();
    return answer;
  }
  std::vector<Recommendation> recommendations;
  try {
    if (request.has_history) {
      recommendations = recommender.recommend_for_history(request.history.videos, options, request.history.weights);
    } else if (popular != nullptr && !recommender.mappings().users.find(request.user_id)) {
      recommendations = popular->top(recommender.mappings().videos, options.k, options.exclude, options.eligible);
      answer.popular = true;
    } else {
      recommendations = recommender.recommend(request.user_id, options);
    }
    if (format == OutputFormat::Json) {
      write_json_answer(text, request.user_id, recommendations, style, options.explain);
    } else {
      write_csv_rows(text, request.user_id, recommendations, style, options.explain);
    }
    answer.answered = true;
  } catch (const NotFound&) {
    fail(request.has_history ? "no known videos in history" : "user not found");
    answer.not_found = true;
  } catch (const InvalidInput& error) {
    fail(error.what());
  }
  answer.text = text.str();
  return answer;
}

}  // namespace

OutputFormat parse_output_format(const std::string& text) {
  if (text == "auto") return OutputFormat::Auto;
  if (text == "tsv") return OutputFormat::Tsv;
  if (text == "json") return OutputFormat::Json;
  if (text == "csv") return OutputFormat::Csv;
  throw InvalidInput("unknown format '" + text + "' (expected auto, tsv, json or csv)");
}

VideoTitles read_video_titles(std::istream& input, const std::string& source_name) {
  CsvReader reader(input, source_name);
  std::vector<std::string_view> fields;
  if (!reader.next_row(fields)) throw InvalidInput(source_name + ": empty file (expected a header with video_id,title)");
  const std::vector<std::string> header_names(fields.begin(), fields.end());
  const std::vector<std::string_view> header(header_names.begin(), header_names.end());
  const auto video_column = find_column(header, "video_id", source_name);
  const auto title_column = find_column(header, "title", source_name);
  if (!video_column || !title_column) {
    throw InvalidInput(source_name + ":1: missing column 'video_id' or 'title' in the header");
  }
  VideoTitles titles;
  while (reader.next_row(fields)) {
    if (fields.size() <= std::max(*video_column, *title_column)) {
      throw InvalidInput(source_name + ":" + std::to_string(reader.line_number()) + ": too few fields");
    }
    titles[std::string(fields[*video_column])] = std::string(fields[*title_column]);
  }
  return titles;
}

History parse_history(const std::string& text) {
  History history;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    std::string item = text.substr(start, comma - start);
    float weight = 1.0f;
    const std::size_t colon = item.rfind(':');
    if (colon != std::string::npos) {
      const auto parsed = parse_finite_number(item.substr(colon + 1));
      if (!parsed) throw InvalidInput("history: weight of '" + item.substr(0, colon) + "' is not a finite number");
      weight = static_cast<float>(*parsed);
      item.resize(colon);
    }
    if (item.empty()) throw InvalidInput("history: empty video id in '" + text + "'");
    history.videos.push_back(item);
    history.weights.push_back(weight);
    start = comma + 1;
  }
  return history;
}

void write_user_recommendations(const Recommender& recommender, const std::string& user_id,
                                const RecommendOptions& options, const OutputStyle& style, std::ostream& output) {
  if (!recommender.mappings().users.find(user_id)) throw NotFound("user '" + user_id + "' not found");
  write_single_answer(output, user_id, recommender.recommend(user_id, options), options, style);
}

void write_history_recommendations(const Recommender& recommender, const std::string& user_id,
                                   const History& history, const RecommendOptions& options,
                                   const OutputStyle& style, std::ostream& output) {
  write_single_answer(output, user_id, recommender.recommend_for_history(history.videos, options, history.weights),
                      options, style);
}

void write_similar_videos(const Recommender& recommender, const std::string& video_id,
                          const RecommendOptions& options, const OutputStyle& style, std::ostream& output) {
  if (style.format == OutputFormat::Csv) throw InvalidInput("--similar writes tsv or json, not csv");
  if (!recommender.mappings().videos.find(video_id)) throw NotFound("video '" + video_id + "' not found");
  const auto similar = recommender.similar(video_id, options);
  if (style.format == OutputFormat::Json) {
    output << "{\"videoId\": ";
    write_json_string(output, video_id);
    output << ", \"similar\": ";
    write_json_videos(output, similar, style, false);
    output << "}\n";
  } else {
    write_tsv_rows(output, similar, style, false);
  }
}

BatchSummary write_batch_recommendations(const Recommender& recommender, std::istream& users,
                                         const RecommendOptions& options, const OutputStyle& style, int threads,
                                         std::ostream& output, const PopularVideos* popular) {
  const OutputFormat format = batch_format(style);
  if (format == OutputFormat::Csv) write_csv_header(output, style, options.explain);
  threads = resolve_thread_count(threads);
  BatchSummary summary;
  std::uint64_t line_number = 0;
  std::string line;
  std::vector<BatchRequest> requests;
  std::vector<BatchAnswer> answers;
  bool input_left = true;
  while (input_left) {
    // Gather the lines that can be read without waiting (up to a chunk), so a pipe that
    // sends one user at a time is answered at once and a file is answered in parallel.
    requests.clear();
    while (requests.size() < kBatchChunkLines) {
      if (!std::getline(users, line)) {
        input_left = false;
        break;
      }
      ++line_number;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const auto first = line.find_first_not_of(" \t");
      if (first == std::string::npos) continue;
      const auto last = line.find_last_not_of(" \t");
      const std::string text = line.substr(first, last - first + 1);
      // `cut -d, -f1 today.csv | sort -u` brings the CSV's header along, sorted anywhere: a
      // line that names the user column and is no user of the model is skipped.
      if (is_user_column_name(text) && !recommender.mappings().users.find(text)) continue;
      requests.push_back(parse_batch_line(text, line_number));
      if (users.rdbuf()->in_avail() <= 0) break;
    }
    answers.assign(requests.size(), BatchAnswer{});
    parallel_for_blocks(requests.size(), 8, threads, [&](std::size_t begin, std::size_t end) {
      for (std::size_t i = begin; i < end; ++i) {
        answers[i] = answer_batch_request(recommender, requests[i], options, style, format, popular);
      }
    });
    for (const auto& answer : answers) {
      output << answer.text;
      if (answer.answered) {
        ++summary.answered;
        if (answer.popular) ++summary.popular;
      } else if (answer.not_found) {
        ++summary.not_found;
      } else {
        ++summary.invalid;
      }
    }
    output.flush();
  }
  if (users.bad()) throw IoError("reading the list of users failed");
  return summary;
}

std::pair<std::uint32_t, std::uint32_t> parse_user_shard(const std::string& text) {
  const auto slash = text.find('/');
  const auto index = parse_unsigned(text.substr(0, slash == std::string::npos ? 0 : slash));
  const auto count = slash == std::string::npos ? std::nullopt : parse_unsigned(text.substr(slash + 1));
  if (!index || !count || *count == 0 || *count > UINT32_MAX || *index >= *count) {
    throw InvalidInput("--shard must be I/N with 0 <= I < N (e.g. 0/4), not '" + text + "'");
  }
  return {static_cast<std::uint32_t>(*index), static_cast<std::uint32_t>(*count)};
}

std::uint64_t write_all_recommendations(const Recommender& recommender, const RecommendOptions& options,
                                        const OutputStyle& style, int threads, std::ostream& output,
                                        std::uint32_t shard, std::uint32_t shards) {
  const OutputFormat format = batch_format(style);
  if (format == OutputFormat::Csv && shard == 0) write_csv_header(output, style, options.explain);
  const IdMap& users = recommender.mappings().users;
  const std::uint64_t n_users = users.size();
  const auto first_user = static_cast<std::uint32_t>(n_users * shard / shards);
  const auto end_user = static_cast<std::uint32_t>(n_users * (shard + 1) / shards);
  std::uint64_t written = 0;
  recommender.recommend_all(options, threads, [&](std::uint32_t user, std::vector<Recommendation>&& recommendations) {
    if (format == OutputFormat::Json) {
      write_json_answer(output, users.id(user), recommendations, style, options.explain);
    } else {
      write_csv_rows(output, users.id(user), recommendations, style, options.explain);
    }
    ++written;
  }, first_user, end_user);
  return written;
}

BatchSummary run_recommend(const RecommendJob& job) {
  const int modes = (!job.user_id.empty() && job.history.videos.empty() ? 1 : 0) + (!job.history.videos.empty() ? 1 : 0) +
                    (!job.similar_to.empty() ? 1 : 0) + (!job.users_path.empty() ? 1 : 0) + (job.all_users ? 1 : 0);
  if (modes != 1) {
    throw InvalidInput(modes == 0 ? "nothing to do: give --user, --history, --similar, --users or --all-users"
                                  : "give only one of --user, --history, --similar, --users and --all-users "
                                    "(--user with --history only labels the fold-in user)");
  }
  OutputStyle style = job.style;
  VideoTitles titles;
  if (!job.titles_path.empty()) {
    auto input = open_input_file(job.titles_path);
    titles = read_video_titles(input, job.titles_path);
    style.titles = &titles;
  }
  std::shared_ptr<const Catalog> catalog;
  if (!job.catalog_path.empty()) {
    catalog = load_catalog(job.catalog_path);
  } else if (!job.categories.empty()) {
    throw InvalidInput("--category and --exclude-category need --catalog");
  }
  if (job.shards > 1 && !job.all_users) throw InvalidInput("--shard goes with --all-users");
  if (job.shard >= job.shards) throw InvalidInput("--shard index must be below the shard count");
  AtomicFileWriter writer(job.output_path);
  SimilarRetrieval retrieval = job.retrieval;
  if (retrieval.index_path.empty()) {
    retrieval.index_path = (std::filesystem::path(job.artifacts.model).parent_path() / kAnnIndexFileName).string();
  }
  // Only similar videos use the index: other modes do not pay for loading it.
  const auto recommender = job.similar_to.empty()
                               ? Recommender::load(job.artifacts, job.scan, job.popularity_penalty)
                               : Recommender::load(job.artifacts, job.scan, retrieval, job.popularity_penalty);
  std::optional<PopularVideos> popular;
  if (job.unknown_user == UnknownUserPolicy::Popular) {
    // popular.csv sits beside ratings.csv when vr-features wrote one (--popular-window).
    popular.emplace(popular_videos_for(std::filesystem::path(job.artifacts.ratings).parent_path().string(),
                                       recommender->watched(), recommender->mappings().videos));
  }
  const PopularVideos* fallback = popular ? &*popular : nullptr;
  // One reference time for the whole run, so a batch is answered against one catalog state.
  RecommendOptions options = job.options;
  std::optional<CatalogRules> rules;
  std::shared_ptr<const EligibleVideos> eligible;
  if (catalog) {
    rules.emplace(catalog, recommender->mappings().videos);
    eligible = rules->eligible_at(job.now ? *job.now : current_unix_time(), job.categories);
    options.eligible = eligible.get();
  }
  std::ostream& output = writer.stream();
  BatchSummary summary;
  summary.answered = 1;
  if (!job.history.videos.empty()) {
    write_history_recommendations(*recommender, job.user_id, job.history, options, style, output);
  } else if (!job.user_id.empty() && fallback != nullptr && !recommender->mappings().users.find(job.user_id)) {
    write_single_answer(output, job.user_id, fallback->top(recommender->mappings().videos, options.k,
                                                           options.exclude, options.eligible),
                        options, style);
    summary.popular = 1;
  } else if (!job.user_id.empty()) {
    write_user_recommendations(*recommender, job.user_id, options, style, output);
  } else if (!job.similar_to.empty()) {
    write_similar_videos(*recommender, job.similar_to, options, style, output);
  } else if (job.all_users) {
    summary.answered = write_all_recommendations(*recommender, options, style, job.threads, output, job.shard, job.shards);
  } else if (job.users_path == "-") {
    summary = write_batch_recommendations(*recommender, std::cin, options, style, job.threads, output, fallback);
  } else {
    auto users = open_input_file(job.users_path);
    summary = write_batch_recommendations(*recommender, users, options, style, job.threads, output, fallback);
  }
  writer.commit();
  if (style.titles != nullptr) {
    for (std::uint32_t video = 0; video < recommender->mappings().videos.size(); ++video) {
      if (!titles.contains(recommender->mappings().videos.id(video))) ++summary.videos_without_title;
    }
  }
  summary.scan = recommender->scan_counters();
  if (rules) {
    summary.catalog_unknown_videos = rules->unknown_videos();
    summary.ineligible_videos = eligible->size() - eligible->eligible_count();
  }
  return summary;
}

}  // namespace vr
