#include "vr/service.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <new>
#include <optional>
#include <span>

#include "vr/ann_index.h"
#include "vr/artifacts.h"
#include "vr/catalog_store.h"
#include "vr/eligibility.h"
#include "vr/popular.h"
#include "vr/precomputed.h"
#include "vr/recommender.h"

namespace vr {

using nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

// Appends `tail` to a copy of the location `loc`.
json at(const json& loc, const json& tail) {
  json out = loc;
  out.push_back(tail);
  return out;
}

// pydantic echoes the input; only scalars are echoed here, so an error body stays small.
json echo(const json& value) {
  if (value.is_structured()) return nullptr;
  if (value.is_string() && value.get_ref<const std::string&>().size() > 256) return nullptr;
  return value;
}

ValidationIssue issue(json loc, std::string msg, std::string type, const json& input = nullptr, json ctx = nullptr) {
  return ValidationIssue{std::move(loc), std::move(msg), std::move(type), echo(input), std::move(ctx)};
}

// pydantic's lax int: JSON integers, floats with no fractional part, numeric strings.
std::optional<long long> lax_int(const json& value, const json& loc, std::vector<ValidationIssue>& issues) {
  if (value.is_number_integer()) {
    if (value.is_number_unsigned() && value.get<unsigned long long>() > std::numeric_limits<long long>::max()) {
      return std::numeric_limits<long long>::max();
    }
    return value.get<long long>();
  }
  if (value.is_number_float()) {
    const double number = value.get<double>();
    if (!std::isfinite(number)) {
      issues.push_back(issue(loc, "Input should be a finite number", "finite_number", value));
      return std::nullopt;
    }
    if (number != std::floor(number)) {
      issues.push_back(issue(loc, "Input should be a valid integer, got a number with a fractional part",
                             "int_from_float", value));
      return std::nullopt;
    }
    return static_cast<long long>(std::clamp(number, -9.0e18, 9.0e18));
  }
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    std::size_t used = 0;
    try {
      const long long parsed = std::stoll(text, &used);
      if (used == text.size()) return parsed;
    } catch (const std::exception&) {
    }
    issues.push_back(issue(loc, "Input should be a valid integer, unable to parse string as an integer",
                           "int_parsing", value));
    return std::nullopt;
  }
  issues.push_back(issue(loc, "Input should be a valid integer", "int_type", value));
  return std::nullopt;
}

// pydantic's lax bool: true/false, 0/1, and the usual words.
std::optional<bool> lax_bool(const json& value, const json& loc, std::vector<ValidationIssue>& issues) {
  if (value.is_boolean()) return value.get<bool>();
  if (value.is_number_integer()) {
    const auto number = value.get<long long>();
    if (number == 0 || number == 1) return number == 1;
  }
  if (value.is_string()) {
    std::string text = value.get<std::string>();
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
    static const std::array<const char*, 6> yes{"true", "1", "yes", "on", "t", "y"};
    static const std::array<const char*, 6> no{"false", "0", "no", "off", "f", "n"};
    for (const char* word : yes) {
      if (text == word) return true;
    }
    for (const char* word : no) {
      if (text == word) return false;
    }
    issues.push_back(issue(loc, "Input should be a valid boolean, unable to interpret input", "bool_parsing", value));
    return std::nullopt;
  }
  issues.push_back(issue(loc, "Input should be a valid boolean", "bool_type", value));
  return std::nullopt;
}

std::optional<std::string> strict_string(const json& value, const json& loc, std::vector<ValidationIssue>& issues) {
  if (value.is_string()) return value.get<std::string>();
  issues.push_back(issue(loc, "Input should be a valid string", "string_type", value));
  return std::nullopt;
}

std::vector<std::string> string_list(const json& value, const json& loc, std::size_t max_length,
                                     std::vector<ValidationIssue>& issues) {
  std::vector<std::string> out;
  if (!value.is_array()) {
    issues.push_back(issue(loc, "Input should be a valid list", "list_type", value));
    return out;
  }
  if (value.size() > max_length) {
    issues.push_back(issue(loc,
                           "List should have at most " + std::to_string(max_length) + " items after validation, not " +
                               std::to_string(value.size()),
                           "too_long", nullptr, json{{"field_type", "List"}, {"max_length", max_length},
                                                     {"actual_length", value.size()}}));
    return out;
  }
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (auto text = strict_string(value[i], at(loc, i), issues)) out.push_back(std::move(*text));
  }
  return out;
}

ojson recommendations_json(const std::vector<Recommendation>& recommendations, bool explain) {
  ojson list = ojson::array();
  for (const auto& recommendation : recommendations) {
    // Scores are float32; widening to double prints them as Python's float(numpy.float32) does.
    ojson item = {{"videoId", recommendation.video_id}, {"score", static_cast<double>(recommendation.score)}};
    if (explain) {
      ojson because = ojson::array();
      for (const auto& part : recommendation.because) {
        because.push_back({{"videoId", part.video_id}, {"contribution", static_cast<double>(part.contribution)}});
      }
      item["because"] = std::move(because);
    }
    list.push_back(std::move(item));
  }
  return list;
}

// The error object that stands in for a failed batch instance or JSON line.
ojson error_item(std::exception_ptr error) {
  ErrorReply reply = error_reply(error);
  ojson item = {{"status", reply.status}};
  item["detail"] = std::move(reply.body["detail"]);
  return item;
}

// Checks the nesting depth without recursion, so a hostile body cannot exhaust the stack.
bool nested_deeper_than(std::string_view text, std::size_t limit) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    std::size_t extra = 0;
    if (byte < 0x80) {
      extra = 0;
    } else if ((byte & 0xE0) == 0xC0 && byte >= 0xC2) {
      extra = 1;
    } else if ((byte & 0xF0) == 0xE0) {
      extra = 2;
    } else if ((byte & 0xF8) == 0xF0 && byte <= 0xF4) {
      extra = 3;
    } else {
      return false;
    }
    if (extra > 0 && i + extra >= text.size()) return false;
    for (std::size_t j = 1; j <= extra; ++j) {
      if ((static_cast<unsigned char>(text[i + j]) & 0xC0) != 0x80) return false;
    }
    i += extra + 1;
  }
  return true;
}

// A body whose first significant byte cannot begin any JSON value is "not JSON at all" (400),
// as opposed to JSON with a mistake in it (422 json_invalid).
bool starts_like_json(std::string_view text) {
  for (const char c : text) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    return c != '\0' && std::strchr("{[\"-0123456789tfn", c) != nullptr;
  }
  return true;
}

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// The media type of a header value without parameters, lower-cased.
std::string media_type(std::string_view value) { return lower(trim(value.substr(0, value.find(';')))); }

bool is_json_type(const std::string& type) {
  return type == "application/json" || (type.size() > 5 && type.compare(type.size() - 5, 5, "+json") == 0);
}

bool is_jsonlines_type(const std::string& type) {
  return type == "application/jsonlines" || type == "application/jsonl" || type == "application/x-jsonlines" ||
         type == "application/x-ndjson" || type == "application/json-lines";
}

// The stored top `k` of a known user, or nothing when the table is missing or too shallow or
// the user unknown (scoring then answers, or gives the 404).
std::optional<std::span<const ScoredVideo>> precomputed_top(const Recommender& recommender, std::string_view user_id,
                                                            int k, const PrecomputedRecommendations* precomputed) {
  if (precomputed == nullptr || k > precomputed->depth()) return std::nullopt;
  const auto user = recommender.mappings().users.find(user_id);
  if (!user) return std::nullopt;
  const auto top = precomputed->top(*user);
  return top.first(std::min<std::size_t>(top.size(), static_cast<std::size_t>(k)));
}

// The stored top `k` of a known user among the videos `eligible` allows (the whole stored row
// when it is null): filtered at look-up. Nothing when the table is missing or the user unknown,
// or when a full row (depth videos) holds fewer than k allowed ones: the answer may then lie
// below the stored depth, and scoring answers. A row shorter than the depth holds every video
// the user has not watched, so what it allows is the whole answer.
std::optional<std::vector<ScoredVideo>> precomputed_top(const Recommender& recommender, std::string_view user_id,
                                                        int k, const PrecomputedRecommendations* precomputed,
                                                        const EligibleVideos* eligible) {
  std::vector<ScoredVideo> kept;
  if (eligible == nullptr) {
    const auto top = precomputed_top(recommender, user_id, k, precomputed);
    if (!top) return std::nullopt;
    kept.assign(top->begin(), top->end());
    return kept;
  }
  if (precomputed == nullptr) return std::nullopt;
  const auto user = recommender.mappings().users.find(user_id);
  if (!user) return std::nullopt;
  const auto row = precomputed->top(*user);
  for (const ScoredVideo& scored : row) {
    if (kept.size() >= static_cast<std::size_t>(k)) break;
    if (eligible->allows(scored.video)) kept.push_back(scored);
  }
  if (kept.size() < static_cast<std::size_t>(k) && row.size() >= static_cast<std::size_t>(precomputed->depth())) {
    return std::nullopt;
  }
  return kept;
}

// The stored top of a plain request's user (no history, exclusions, explanation or watched
// videos), filtered by `eligible`, or nothing when the request needs scoring.
std::optional<std::vector<ScoredVideo>> precomputed_top(const Recommender& recommender,
                                                        const InvocationRequest& request,
                                                        const PrecomputedRecommendations* precomputed,
                                                        const EligibleVideos* eligible) {
  if (!request.user_id || !request.history.empty() || request.similar_to || request.explain ||
      request.include_watched || !request.exclude.empty()) {
    return std::nullopt;
  }
  return precomputed_top(recommender, *request.user_id, request.k, precomputed, eligible);
}

// Appends `text` as a JSON string when it needs no escaping (printable ASCII other than '"'
// and '\\'), which ids nearly always are; false (nothing appended) otherwise.
bool append_plain_json_string(std::string& out, std::string_view text) {
  for (const char c : text) {
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return false;
  }
  out += '"';
  out += text;
  out += '"';
  return true;
}

// The answer to a plain request from `top` (a look-up in the precomputed table) as JSON text,
// written directly: the bytes nlohmann's dump() writes for answer()'s object (its own shortest
// round-trip number format), without building that object. Nothing when an id would need
// escaping; answer() handles those.
std::optional<std::string> precomputed_answer_text(const Recommender& recommender, std::string_view user_id,
                                                   std::span<const ScoredVideo> top) {
  // The ids are scattered over the catalog's id table and rarely cached under load: fetching
  // them all at once overlaps the misses, which were over half of this function's time.
  for (const ScoredVideo& scored : top) __builtin_prefetch(&recommender.mappings().videos.id(scored.video));
  std::string text = R"({"userId":)";
  text.reserve(64 + top.size() * 48);
  if (!append_plain_json_string(text, user_id)) return std::nullopt;
  text += R"(,"recommendations":[)";
  std::array<char, 64> number{};
  for (std::size_t i = 0; i < top.size(); ++i) {
    const ScoredVideo& scored = top[i];
    text += i == 0 ? R"({"videoId":)" : R"(,{"videoId":)";
    if (!append_plain_json_string(text, recommender.mappings().videos.id(scored.video))) return std::nullopt;
    text += R"(,"score":)";
    // Scores are float32 widened to double, as answer() does; they are finite (a model with a
    // NaN or infinite factor is refused when loaded), which to_chars requires.
    const double score = static_cast<double>(scored.score);
    if (!std::isfinite(score)) return std::nullopt;
    char* end = nlohmann::detail::to_chars(number.data(), number.data() + number.size(), score);
    text.append(number.data(), end);
    text += '}';
  }
  text += "]}";
  return text;
}

// The mask a request is answered with: the catalog's, narrowed by the request's category
// filters; null without a catalog (all videos).
std::shared_ptr<const EligibleVideos> eligibility_of(const CatalogContext* catalog, const CategoryFilter& filter) {
  if (catalog == nullptr || !catalog->rules) return nullptr;
  return catalog->rules->eligible_at(catalog->now, filter);
}

// Adds "title" and/or "categories" to each recommendation of `list`, as the request's
// "fields" asks: from the catalog, "" and [] for a video it does not list (or without one).
void add_fields(ojson& list, const Recommender& recommender, const CatalogContext* catalog,
                const InvocationRequest& request) {
  const CatalogRules* rules = catalog != nullptr ? catalog->rules.get() : nullptr;
  for (ojson& item : list) {
    const CatalogVideo* entry = nullptr;
    if (rules != nullptr) {
      if (const auto video = recommender.mappings().videos.find(item["videoId"].get_ref<const std::string&>())) {
        entry = rules->entry(*video);
      }
    }
    if (request.title_field) item["title"] = entry != nullptr ? entry->title : std::string();
    if (request.categories_field) {
      item["categories"] = entry != nullptr ? ojson(entry->categories) : ojson::array();
    }
  }
}

// A plain request for `user_id` answered from the precomputed table as text, or nothing.
std::optional<std::string> precomputed_answer_text(const Recommender& recommender, std::string_view user_id, int k,
                                                   const PrecomputedRecommendations* precomputed,
                                                   const CatalogContext* catalog) {
  if (precomputed == nullptr) return std::nullopt;
  if (catalog == nullptr || !catalog->rules) {
    const auto top = precomputed_top(recommender, user_id, k, precomputed);
    if (!top) return std::nullopt;
    return precomputed_answer_text(recommender, user_id, *top);
  }
  const auto eligible = eligibility_of(catalog, {});
  const auto top = precomputed_top(recommender, user_id, k, precomputed, eligible.get());
  if (!top) return std::nullopt;
  return precomputed_answer_text(recommender, user_id, *top);
}

std::optional<std::string> precomputed_answer_text(const Recommender& recommender, const InvocationRequest& request,
                                                   const PrecomputedRecommendations* precomputed,
                                                   const CatalogContext* catalog) {
  if (!request.filter.empty() || request.title_field || request.categories_field || !request.user_id ||
      !request.history.empty() || request.similar_to || request.explain || request.include_watched ||
      !request.exclude.empty()) {
    return std::nullopt;
  }
  return precomputed_answer_text(recommender, *request.user_id, request.k, precomputed, catalog);
}

// A request that asks for more work than limits.max_request_items or max_explained_items allow:
// 413 for the whole request, never a partial answer. Derived from PayloadTooLarge so that
// error_reply maps it, and apart from it so that the per-instance and per-line error handling
// lets it through.
class WorkBudgetExceeded : public PayloadTooLarge {
 public:
  using PayloadTooLarge::PayloadTooLarge;
};

// The work one request (a batch, or every line of a JSON Lines body) has asked for so far: the
// recommendations, and the explained ones, summed over its requests as they are read. A batch
// of 10,000 instances with k = 1000 and explain set would otherwise hold a scoring thread for
// minutes and build an answer of gigabytes.
class WorkBudget {
 public:
  explicit WorkBudget(const ServiceLimits& limits) : limits_(limits) {}

  // Counts one request; throws WorkBudgetExceeded once the request as a whole is over a limit.
  void charge(int k, bool explain) {
    items_ += static_cast<std::size_t>(k);
    if (explain) explained_items_ += static_cast<std::size_t>(k);
    if (items_ > limits_.max_request_items) {
      throw WorkBudgetExceeded("Request asks for too much work: more than " + std::to_string(limits_.max_request_items) +
                               " recommendations in total (the sum of k over its requests); split it");
    }
    if (explained_items_ > limits_.max_explained_items) {
      throw WorkBudgetExceeded("Request asks for too much work: more than " +
                               std::to_string(limits_.max_explained_items) +
                               " explained recommendations in total (the sum of k over its requests with explain); "
                               "split it");
    }
  }

 private:
  const ServiceLimits& limits_;
  std::size_t items_ = 0;
  std::size_t explained_items_ = 0;
};

// Answers one request body value (a request object or a batch) as JSON.
ojson answer_value(const Recommender& recommender, const PrecomputedRecommendations* precomputed, ScoringGate* gate,
                   const PopularVideos* popular, const CatalogContext* catalog, const json& value,
                   const ServiceLimits& limits, AnswerCounts& counts, WorkBudget& budget) {
  if (value.is_object() && value.contains("instances")) {
    const json& instances = value["instances"];
    const json loc = {"body", "instances"};
    if (!instances.is_array()) {
      throw ValidationError({issue(loc, "Input should be a valid list", "list_type", instances)});
    }
    if (instances.size() > limits.max_batch) {
      throw ValidationError({issue(loc,
                                   "List should have at most " + std::to_string(limits.max_batch) +
                                       " items after validation, not " + std::to_string(instances.size()),
                                   "too_long", nullptr,
                                   json{{"field_type", "List"}, {"max_length", limits.max_batch},
                                        {"actual_length", instances.size()}})});
    }
    ojson predictions = ojson::array();
    for (std::size_t i = 0; i < instances.size(); ++i) {
      InvocationRequest request;
      try {
        request = parse_request(instances[i], at(loc, i), limits);
      } catch (const std::bad_alloc&) {
        throw;
      } catch (...) {
        predictions.push_back(error_item(std::current_exception()));
        continue;
      }
      budget.charge(request.k, request.explain);
      try {
        predictions.push_back(answer(recommender, request, precomputed, &counts, gate, popular, catalog));
      } catch (const std::bad_alloc&) {
        throw;
      } catch (...) {
        predictions.push_back(error_item(std::current_exception()));
      }
    }
    return ojson{{"predictions", std::move(predictions)}};
  }
  const InvocationRequest request = parse_request(value, json::array({"body"}), limits);
  budget.charge(request.k, request.explain);
  return answer(recommender, request, precomputed, &counts, gate, popular, catalog);
}

// Answers one request body value (a request object or a batch) as JSON text.
std::string answer_text(const Recommender& recommender, const PrecomputedRecommendations* precomputed,
                        ScoringGate* gate, const PopularVideos* popular, const CatalogContext* catalog, const json& value,
                        const ServiceLimits& limits, AnswerCounts& counts, WorkBudget& budget) {
  if (value.is_object() && !value.contains("instances")) {
    const InvocationRequest request = parse_request(value, json::array({"body"}), limits);
    budget.charge(request.k, request.explain);
    if (auto text = precomputed_answer_text(recommender, request, precomputed, catalog)) {
      ++counts.precomputed;
      return std::move(*text);
    }
    return answer(recommender, request, precomputed, &counts, gate, popular, catalog).dump();
  }
  return answer_value(recommender, precomputed, gate, popular, catalog, value, limits, counts, budget).dump();
}

// The answer text of one JSON body (a request object or a batch): a plain request from the
// precomputed table straight from the text when it can be, else parsed and validated in full.
std::string answer_body_text(const Recommender& recommender, const PrecomputedRecommendations* precomputed,
                             ScoringGate* gate, const PopularVideos* popular, const CatalogContext* catalog,
                             std::string_view body, const ServiceLimits& limits, AnswerCounts& counts,
                             WorkBudget& budget) {
  if (precomputed != nullptr) {
    if (const auto plain = read_plain_request(body); plain && plain->k >= 1 && plain->k <= limits.max_k) {
      if (auto text = precomputed_answer_text(recommender, plain->user_id, plain->k, precomputed, catalog)) {
        budget.charge(plain->k, false);
        ++counts.precomputed;
        return std::move(*text);
      }
    }
  }
  return answer_text(recommender, precomputed, gate, popular, catalog, parse_json_body(body, limits), limits, counts,
                     budget);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

ValidationError::ValidationError(std::vector<ValidationIssue> issues)
    : InvalidInput(issues.empty() ? std::string("invalid request")
                                  : issues.front().loc.dump() + ": " + issues.front().msg),
      issues_(std::move(issues)) {}

const char* reason_phrase(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Request Entity Too Large";
    case 414: return "Request-URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

ojson error_body_for_status(int status) { return ojson{{"detail", reason_phrase(status)}}; }

ErrorReply error_reply(std::exception_ptr error) {
  try {
    if (error) std::rethrow_exception(error);
    return {500, error_body_for_status(500)};
  } catch (const ValidationError& e) {
    ojson detail = ojson::array();
    for (const auto& item : e.issues()) {
      ojson entry = {{"type", item.type}, {"loc", ojson(item.loc)}, {"msg", item.msg}};
      if (!item.input.is_null()) entry["input"] = ojson(item.input);
      if (!item.ctx.is_null()) entry["ctx"] = ojson(item.ctx);
      detail.push_back(std::move(entry));
    }
    return {422, ojson{{"detail", std::move(detail)}}};
  } catch (const MalformedBody&) {
    return {400, ojson{{"detail", "There was an error parsing the body"}}};
  } catch (const InvalidInput& e) {
    return {422, ojson{{"detail", json::array({ojson{{"type", "value_error"}, {"loc", ojson::array({"body"})},
                                                   {"msg", std::string("Value error, ") + e.what()}}})}}};
  } catch (const NotFound& e) {
    return {404, ojson{{"detail", e.what()}}};
  } catch (const PayloadTooLarge& e) {
    return {413, ojson{{"detail", e.what()}}};
  } catch (const RequestTimeout& e) {
    return {408, ojson{{"detail", e.what()}}};
  } catch (const UnsupportedMediaType& e) {
    return {415, ojson{{"detail", e.what()}}};
  } catch (const NotAcceptable& e) {
    return {406, ojson{{"detail", e.what()}}};
  } catch (const ServiceUnavailable& e) {
    return {503, ojson{{"detail", e.what()}}};
  } catch (...) {
    return {500, error_body_for_status(500)};
  }
}

const char* mime_type(BodyFormat format) {
  return format == BodyFormat::JsonLines ? "application/jsonlines" : "application/json";
}

BodyFormat parse_content_type(std::string_view content_type) {
  const std::string type = media_type(content_type);
  if (type.empty() || is_json_type(type)) return BodyFormat::Json;
  if (is_jsonlines_type(type)) return BodyFormat::JsonLines;
  throw UnsupportedMediaType("Unsupported media type '" + std::string(trim(content_type)) +
                             "': send application/json or application/jsonlines");
}

void check_accept(std::string_view accept, BodyFormat format) {
  if (trim(accept).empty()) return;
  std::string_view rest = accept;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string type = media_type(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (type == "*/*" || type == "application/*") return;
    if (format == BodyFormat::Json ? is_json_type(type) : is_jsonlines_type(type)) return;
  }
  throw NotAcceptable(std::string("Not acceptable: this request is answered as ") + mime_type(format));
}

InvocationRequest parse_request(const json& value, const json& loc, const ServiceLimits& limits) {
  if (!value.is_object()) {
    throw ValidationError({issue(loc, "Input should be a valid dictionary or object to extract fields from",
                                 "model_attributes_type", value)});
  }
  std::vector<ValidationIssue> issues;
  InvocationRequest request;
  // Optional fields treat null as absent, as pydantic's Optional[...] = None does.
  const auto field = [&](const char* name) -> const json* {
    const auto it = value.find(name);
    return it == value.end() || it->is_null() ? nullptr : &*it;
  };

  if (const auto it = value.find("user_id"); it != value.end()) {
    request.user_id = strict_string(*it, at(loc, "user_id"), issues);
  }
  // "userId", as the answers spell it, is an alias; both at once must name the same user.
  if (const auto it = value.find("userId"); it != value.end()) {
    const bool had_user_id = value.contains("user_id");
    const std::optional<std::string> alias = strict_string(*it, at(loc, "userId"), issues);
    if (alias && had_user_id && request.user_id && *alias != *request.user_id) {
      issues.push_back(issue(at(loc, "userId"), "Value error, user_id and userId name different users", "value_error",
                             *it));
    } else if (alias && !had_user_id) {
      request.user_id = alias;
    }
  }
  if (const json* history = field("history")) {
    request.history = string_list(*history, at(loc, "history"), limits.max_list_length, issues);
  }
  if (const json* similar = field("similar_to")) request.similar_to = strict_string(*similar, at(loc, "similar_to"), issues);
  if (const json* k = field("k")) {
    if (auto number = lax_int(*k, at(loc, "k"), issues)) {
      if (*number < 1) {
        issues.push_back(issue(at(loc, "k"), "Input should be greater than or equal to 1", "greater_than_equal", *k,
                               json{{"ge", 1}}));
      } else if (*number > limits.max_k) {
        issues.push_back(issue(at(loc, "k"), "Input should be less than or equal to " + std::to_string(limits.max_k),
                               "less_than_equal", *k, json{{"le", limits.max_k}}));
      } else {
        request.k = static_cast<int>(*number);
      }
    }
  }
  if (const json* exclude = field("exclude")) {
    request.exclude = string_list(*exclude, at(loc, "exclude"), limits.max_list_length, issues);
  }
  if (const json* flag = field("include_watched")) {
    request.include_watched = lax_bool(*flag, at(loc, "include_watched"), issues).value_or(false);
  }
  if (const json* flag = field("explain")) request.explain = lax_bool(*flag, at(loc, "explain"), issues).value_or(false);
  if (const json* names = field("categories")) {
    request.filter.categories = string_list(*names, at(loc, "categories"), limits.max_list_length, issues);
  }
  if (const json* names = field("exclude_categories")) {
    request.filter.exclude_categories =
        string_list(*names, at(loc, "exclude_categories"), limits.max_list_length, issues);
  }
  if (const json* fields = field("fields")) {
    const json fields_loc = at(loc, "fields");
    if (!fields->is_array()) {
      issues.push_back(issue(fields_loc, "Input should be a valid list", "list_type", *fields));
    } else {
      for (std::size_t i = 0; i < fields->size() && i < limits.max_list_length; ++i) {
        const json& name = (*fields)[i];
        if (name == "title") {
          request.title_field = true;
        } else if (name == "categories") {
          request.categories_field = true;
        } else {
          issues.push_back(issue(at(fields_loc, i), "Input should be 'title' or 'categories'", "literal_error", name,
                                 json{{"expected", "'title' or 'categories'"}}));
        }
      }
    }
  }

  const bool has_user_field = value.contains("user_id") || value.contains("userId");
  const bool has_history = field("history") != nullptr;
  const bool has_similar = field("similar_to") != nullptr;
  if (has_similar && (has_user_field || has_history)) {
    issues.push_back(issue(loc, "Value error, similar_to cannot be combined with user_id or history", "value_error"));
  } else if (!has_user_field && !has_history && !has_similar) {
    issues.push_back(issue(at(loc, "user_id"), "Field required", "missing"));
  } else if (!has_user_field && !has_similar && has_history && request.history.empty() && issues.empty()) {
    // {"history": []} alone names nobody; answer() would read an empty user_id (found by
    // tests/fuzz/fuzz_invocations_jsonl).
    issues.push_back(issue(at(loc, "history"), "List should have at least 1 item after validation, not 0", "too_short",
                           nullptr, json{{"field_type", "List"}, {"min_length", 1}, {"actual_length", 0}}));
  }
  if (!issues.empty()) throw ValidationError(std::move(issues));
  return request;
}

ojson answer(const Recommender& recommender, const InvocationRequest& request,
             const PrecomputedRecommendations* precomputed, AnswerCounts* counts, ScoringGate* gate,
             const PopularVideos* popular, const CatalogContext* catalog) {
  const auto eligible = eligibility_of(catalog, request.filter);
  // Without a catalog no video has a category: "categories" matches nothing.
  if (!eligible && !request.filter.categories.empty()) {
    if (counts != nullptr) ++counts->scored;
    if (request.similar_to) return ojson{{"similarTo", *request.similar_to}, {"recommendations", ojson::array()}};
    return ojson{{"userId", request.user_id ? ojson(*request.user_id) : ojson(nullptr)},
                 {"recommendations", ojson::array()}};
  }
  const auto with_fields = [&](ojson list) {
    if (request.title_field || request.categories_field) add_fields(list, recommender, catalog, request);
    return list;
  };
  // A plain request for a known user is a look-up in the precomputed table when there is one
  // deep enough; what it stores is what recommend() below would compute.
  if (const auto top = precomputed_top(recommender, request, precomputed, eligible.get())) {
    std::vector<Recommendation> recommendations;
    recommendations.reserve(top->size());
    for (const ScoredVideo& scored : *top) {
      recommendations.push_back(Recommendation{recommender.mappings().videos.id(scored.video), scored.score, {}});
    }
    if (counts != nullptr) ++counts->precomputed;
    return ojson{{"userId", *request.user_id},
                 {"recommendations", with_fields(recommendations_json(recommendations, false))}};
  }
  // An unknown user without a history, under --unknown-user popular: a look-up, no scoring.
  if (popular != nullptr && request.user_id && request.history.empty() && !request.similar_to &&
      !recommender.mappings().users.find(*request.user_id)) {
    if (counts != nullptr) ++counts->popular;
    return ojson{{"userId", *request.user_id},
                 {"recommendations",
                  with_fields(recommendations_json(
                      popular->top(recommender.mappings().videos, request.k, request.exclude, eligible.get()), false))}};
  }
  // Counts an answer computed below (reached only when it succeeded).
  const auto counted = [counts](ojson answered) {
    if (counts != nullptr) ++counts->scored;
    return answered;
  };
  struct Inside {
    ScoringGate* gate;
    explicit Inside(ScoringGate* entered) : gate(entered) {
      if (gate != nullptr) gate->enter();
    }
    ~Inside() {
      if (gate != nullptr) gate->leave();
    }
    Inside(const Inside&) = delete;
    Inside& operator=(const Inside&) = delete;
  } inside(gate);
  RecommendOptions options;
  options.k = request.k;
  options.include_watched = request.include_watched;
  options.exclude = request.exclude;
  options.explain = request.explain;
  options.eligible = eligible.get();

  if (request.similar_to) {
    return counted(ojson{{"similarTo", *request.similar_to},
                {"recommendations", with_fields(recommendations_json(recommender.similar(*request.similar_to, options), false))}});
  }
  ojson user = request.user_id ? ojson(*request.user_id) : ojson(nullptr);
  if (request.history.empty()) {
    return counted(ojson{{"userId", std::move(user)},
                {"recommendations", with_fields(recommendations_json(recommender.recommend(*request.user_id, options), request.explain))}});
  }
  // Fold-in. A known user keeps what they watched (with its weights) and gains the history.
  std::vector<std::string> videos = request.history;
  std::vector<float> weights(videos.size(), 1.0f);
  if (request.user_id) {
    if (const auto index = recommender.mappings().users.find(*request.user_id)) {
      const SparseMatrix& watched = recommender.watched();
      for (auto entry = watched.row_offsets[*index]; entry < watched.row_offsets[*index + 1]; ++entry) {
        videos.push_back(recommender.mappings().videos.id(watched.col_indices[entry]));
        weights.push_back(watched.values[entry]);
      }
    }
  }
  return counted(ojson{{"userId", std::move(user)},
              {"recommendations",
               with_fields(recommendations_json(recommender.recommend_for_history(videos, options, weights), request.explain))}});
}

std::optional<PlainRequest> read_plain_request(std::string_view text) {
  std::size_t at = 0;
  const auto skip_space = [&] {
    while (at < text.size() && (text[at] == ' ' || text[at] == '\t' || text[at] == '\n' || text[at] == '\r')) ++at;
  };
  const auto take = [&](char c) {
    skip_space();
    if (at >= text.size() || text[at] != c) return false;
    ++at;
    return true;
  };
  // A string without escapes or control, non-ASCII, '"' or '\\' bytes, after its opening quote.
  const auto plain_string = [&]() -> std::optional<std::string_view> {
    const std::size_t start = at;
    while (at < text.size() && text[at] != '"') {
      const char c = text[at];
      if (c < 0x20 || c > 0x7e || c == '\\') return std::nullopt;
      ++at;
    }
    if (at >= text.size()) return std::nullopt;
    return text.substr(start, at++ - start);
  };
  PlainRequest request;
  bool have_user = false;
  bool have_k = false;
  if (!take('{')) return std::nullopt;
  do {
    if (!take('"')) return std::nullopt;
    const auto key = plain_string();
    if (!key || !take(':')) return std::nullopt;
    skip_space();
    if (*key == "user_id" && !have_user) {
      if (!take('"')) return std::nullopt;
      const auto user_id = plain_string();
      if (!user_id) return std::nullopt;
      request.user_id = *user_id;
      have_user = true;
    } else if (*key == "k" && !have_k) {
      std::size_t digits = 0;
      std::int64_t k = 0;  // 10 digits at most: no overflow
      while (at < text.size() && text[at] >= '0' && text[at] <= '9' && digits < 10) {
        k = k * 10 + (text[at++] - '0');
        ++digits;
      }
      if (digits == 0 || digits > 9 || (digits > 1 && text[at - digits] == '0')) return std::nullopt;
      if (at < text.size() && (text[at] == '.' || text[at] == 'e' || text[at] == 'E')) return std::nullopt;
      request.k = static_cast<int>(k);
      have_k = true;
    } else {
      return std::nullopt;
    }
  } while (take(','));
  if (!take('}')) return std::nullopt;
  skip_space();
  if (at != text.size() || !have_user) return std::nullopt;
  return request;
}

json parse_json_body(std::string_view text, const ServiceLimits& limits) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    throw ValidationError({issue(json::array({"body"}), "Field required", "missing")});
  }
  if (!valid_utf8(text) || !starts_like_json(text)) {
    throw MalformedBody("the body is not JSON");
  }
  if (nested_deeper_than(text, limits.max_json_depth)) {
    throw ValidationError({issue(json::array({"body"}), "JSON decode error", "json_invalid", nullptr,
                                 json{{"error", "nested deeper than " + std::to_string(limits.max_json_depth) + " levels"}})});
  }
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    std::string message = e.what();
    // nlohmann's text is "[json.exception.parse_error.101] parse error at line 1, column 9: ..."
    if (const auto colon = message.find(": "); colon != std::string::npos) message = message.substr(colon + 2);
    // The message quotes the bytes last read, which may stop inside a multi-byte character;
    // an invalid UTF-8 detail could not be written as JSON (dump() throws). Found by
    // tests/fuzz/fuzz_invocations_json.
    if (!valid_utf8(message)) {
      message = json::parse(json(message).dump(-1, ' ', false, json::error_handler_t::replace)).get<std::string>();
    }
    throw ValidationError({issue(json::array({"body", e.byte > 0 ? e.byte - 1 : 0}), "JSON decode error",
                                 "json_invalid", nullptr, json{{"error", message}})});
  } catch (const json::out_of_range&) {
    // A number beyond a double ("1e400") is out_of_range to nlohmann, not a parse error; it
    // was a 500 (found by tests/fuzz/fuzz_invocations_json).
    throw ValidationError({issue(json::array({"body"}), "JSON decode error", "json_invalid", nullptr,
                                 json{{"error", "number out of range"}})});
  }
}

Reply invoke(const Recommender& recommender, std::string_view body, BodyFormat format, const ServiceLimits& limits,
             const PrecomputedRecommendations* precomputed, ScoringGate* gate, const PopularVideos* popular,
             const CatalogContext* catalog) {
  Reply reply;
  reply.content_type = mime_type(format);
  WorkBudget budget(limits);
  if (format == BodyFormat::Json) {
    reply.body = answer_body_text(recommender, precomputed, gate, popular, catalog, body, limits, reply.answers, budget);
    return reply;
  }
  // JSON Lines: cut at '\n'; a final newline ends the last line rather than starting one.
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start < body.size()) {
    const auto end = body.find('\n', start);
    std::string_view line = body.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  if (lines.size() > limits.max_batch) {
    throw ValidationError({issue(json::array({"body"}),
                                 "Too many lines: at most " + std::to_string(limits.max_batch) + ", not " +
                                     std::to_string(lines.size()),
                                 "too_long", nullptr, json{{"max_length", limits.max_batch}, {"actual_length", lines.size()}})});
  }
  for (const auto line : lines) {
    try {
      reply.body += answer_body_text(recommender, precomputed, gate, popular, catalog, line, limits, reply.answers, budget);
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const WorkBudgetExceeded&) {
      throw;
    } catch (...) {
      reply.body += error_item(std::current_exception()).dump();
    }
    reply.body += '\n';
  }
  return reply;
}

// ---------------------------------------------------------------------------------------------

namespace {

// The FNV-1a checksum that closes als_model.bin identifies its content; reading 8 bytes is
// far cheaper than hashing the factors again. "unknown" for a file that cannot be sought
// (a pipe).
std::string model_version(const std::string& model_path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(model_path, error)) return "unknown";
  std::ifstream file(model_path, std::ios::binary);
  if (!file) return "unknown";
  file.seekg(-8, std::ios::end);
  std::array<unsigned char, 8> bytes{};
  if (!file.read(reinterpret_cast<char*>(bytes.data()), bytes.size())) return "unknown";
  static const char* digits = "0123456789abcdef";
  std::string hex;
  for (auto it = bytes.rbegin(); it != bytes.rend(); ++it) {
    hex += digits[*it >> 4];
    hex += digits[*it & 15];
  }
  return hex;
}

}  // namespace

ModelSnapshot::ModelSnapshot() = default;
ModelSnapshot::~ModelSnapshot() = default;

PrecomputeOutcome precompute_snapshot(const ModelSnapshot& snapshot, int depth, std::size_t max_bytes,
                                      const std::function<bool()>& keep_going) {
  PrecomputeOutcome outcome;
  const Recommender& recommender = *snapshot.recommender;
  outcome.bytes = PrecomputedRecommendations::bytes_for(recommender.mappings().users.size(), depth);
  if (depth < 1) {
    outcome.reason = "disabled (--precompute-k 0)";
    return outcome;
  }
  if (recommender.kind() != ModelKind::Als) {
    outcome.reason = "only for als models (ease and item-knn score from each user's history)";
    return outcome;
  }
  if (snapshot.precomputed() != nullptr) {
    outcome.reason = "already computed";
    return outcome;
  }
  if (outcome.bytes > max_bytes) {
    outcome.reason = "the table would take " + std::to_string(outcome.bytes >> 20) + " MiB, over the limit of " +
                     std::to_string(max_bytes >> 20) + " MiB (--precompute-max-mb)";
    return outcome;
  }
  const auto started = std::chrono::steady_clock::now();
  auto table = PrecomputedRecommendations::compute(recommender, depth, keep_going);
  outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (!table) {
    outcome.result = PrecomputeOutcome::Result::Stopped;
    return outcome;
  }
  snapshot.precomputed_info_ = ModelSnapshot::PrecomputedInfo{depth, table->bytes(), outcome.seconds};
  snapshot.precomputed_owner_ = std::move(table);
  snapshot.precomputed_.store(snapshot.precomputed_owner_.get(), std::memory_order_release);
  outcome.result = PrecomputeOutcome::Result::Published;
  return outcome;
}

std::shared_ptr<const ModelSnapshot> load_snapshot(const std::string& directory, const SnapshotOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  std::error_code error;
  if (!std::filesystem::is_directory(directory, error)) {
    throw IoError("model directory '" + directory + "' does not exist or is not a directory");
  }
  auto snapshot = std::make_shared<ModelSnapshot>();
  snapshot->directory = directory;
  snapshot->resolved_directory = std::filesystem::canonical(directory, error).string();
  if (error) snapshot->resolved_directory = directory;
  // Resolve once, so every file comes from the same target even if a `current` link moves.
  const ArtifactPaths paths = resolve_artifact_paths(snapshot->resolved_directory, "", "",
                                                     find_model_file(snapshot->resolved_directory));
  SimilarRetrieval retrieval;
  retrieval.mode = parse_retrieval(options.retrieval);
  retrieval.ef = options.ef;
  retrieval.index_path = (std::filesystem::path(snapshot->resolved_directory) / kAnnIndexFileName).string();
  snapshot->recommender =
      Recommender::load(paths, options.pruned_scan ? ScanMode::Pruned : ScanMode::Full, retrieval,
                        options.popularity_penalty);
  snapshot->version = model_version(paths.model);
  snapshot->users = snapshot->recommender->mappings().users.size();
  snapshot->videos = snapshot->recommender->mappings().videos.size();
  snapshot->popular = std::make_shared<const PopularVideos>(popular_videos_for(
      snapshot->resolved_directory, snapshot->recommender->watched(), snapshot->recommender->mappings().videos));
  snapshot->load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  snapshot->loaded_at_unix =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  return snapshot;
}

ScanTotals scan_totals(const ModelSnapshot& snapshot) {
  const ScanCounters counters = snapshot.recommender->scan_counters();
  return ScanTotals{counters.queries, counters.videos_scored, counters.catalog_videos};
}

std::string model_fingerprint(const std::string& directory) {
  std::error_code error;
  const auto resolved = std::filesystem::canonical(directory, error);
  if (error) return {};
  std::string fingerprint = resolved.string();
  std::string model_path;
  try {
    model_path = find_model_file(resolved.string());
  } catch (const InvalidInput&) {
    return {};
  }
  for (const std::string& path : {(resolved / kRatingsFileName).string(), (resolved / kMappingsFileName).string(), model_path}) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) return {};
    fingerprint += '|' + std::to_string(info.st_ino) + ':' + std::to_string(info.st_size) + ':' +
                   std::to_string(info.st_mtim.tv_sec) + '.' + std::to_string(info.st_mtim.tv_nsec);
  }
  // The similar-video index is optional, but a new one (or its removal) reloads too, so the
  // model and its index are always swapped together.
  struct stat info {};
  if (::stat((resolved / kAnnIndexFileName).c_str(), &info) == 0) {
    fingerprint += "|index:" + std::to_string(info.st_ino) + ':' + std::to_string(info.st_size) + ':' +
                   std::to_string(info.st_mtim.tv_sec) + '.' + std::to_string(info.st_mtim.tv_nsec);
  }
  return fingerprint;
}

}  // namespace vr
