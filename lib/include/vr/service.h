// The HTTP-free logic of vr-serve: request bodies in, response bodies out, plus the model
// holder that hot reload swaps. The HTTP layer (lib/http) only moves bytes and headers, so
// this file must stay free of httplib, and it must not include recommender.h either (that
// pulls in Eigen, which the HTTP translation units never see).
//
// Request shapes (POST /invocations), all fields but one of the first three optional:
//   {"user_id": "u001", "k": 3}                      top-k for a known user
//   {"history": ["v001", "v003"], "k": 3}            fold-in for a user the model never saw
//   {"user_id": "u001", "history": ["v004"]}         a known user refreshed with recent watches
//   {"similar_to": "v003", "k": 3}                   videos similar to one video
//   plus "exclude": [ids], "include_watched": bool, "explain": bool,
//   "categories": [names], "exclude_categories": [names], "fields": ["title", "categories"]
//   {"instances": [request, ...]}                    batch -> {"predictions": [answer, ...]}
//   application/jsonlines: one request per line      -> one answer line per line
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "vr/catalog_store.h"
#include "vr/errors.h"

namespace vr {

class Recommender;
class PrecomputedRecommendations;
class PopularVideos;

// ---------------------------------------------------------------------------------------------
// Errors with an HTTP meaning. error_reply() below is the one place that maps exceptions
// (these and libvr's own) to statuses.

// One FastAPI/pydantic-style validation problem.
struct ValidationIssue {
  nlohmann::json loc;          // path to the offending value, e.g. ["body", "k"]
  std::string msg;             // e.g. "Input should be a valid integer"
  std::string type;            // pydantic error type, e.g. "int_type", "missing"
  nlohmann::json input;        // the offending value when it is a scalar, else null (omitted)
  nlohmann::json ctx;          // extra context, e.g. {"ge": 1}; null when none (omitted)
};

// A request that parsed but does not validate: 422 {"detail": [issues]}.
class ValidationError : public InvalidInput {
 public:
  explicit ValidationError(std::vector<ValidationIssue> issues);
  const std::vector<ValidationIssue>& issues() const { return issues_; }

 private:
  std::vector<ValidationIssue> issues_;
};

// A body that is not JSON text at all (not UTF-8, or cannot start a JSON value): 400.
class MalformedBody : public InvalidInput {
 public:
  using InvalidInput::InvalidInput;
};

// A body larger than the limit: 413.
class PayloadTooLarge : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A request that did not arrive within its deadline: 408.
class RequestTimeout : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A Content-Type the service does not read: 415.
class UnsupportedMediaType : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An Accept header that admits no format the service writes: 406.
class NotAcceptable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The model is not loaded yet: 503.
class ServiceUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Answers keep their keys in the order written ({"userId", "recommendations"}, {"videoId",
// "score"}), as the original service's did.
using OrderedJson = nlohmann::ordered_json;

// An error answer: the HTTP status and the JSON body, always {"detail": ...}.
struct ErrorReply {
  int status = 500;
  OrderedJson body;
};

// THE exception -> HTTP status mapping: ValidationError 422 (detail = list of issues),
// MalformedBody 400, other InvalidInput 422, NotFound 404, PayloadTooLarge 413, RequestTimeout 408,
// UnsupportedMediaType 415, NotAcceptable 406, ServiceUnavailable 503, anything else 500 with
// a generic detail (the real message is for the log, never the client). Never throws.
ErrorReply error_reply(std::exception_ptr error);

// The body for a status produced outside a handler (unknown route 404, 405, 413 from the HTTP
// library...): {"detail": "<reason phrase>"}, as FastAPI answers.
OrderedJson error_body_for_status(int status);

// The standard reason phrase of an HTTP status ("Not Found"), "Error" if unknown.
const char* reason_phrase(int status);

// ---------------------------------------------------------------------------------------------
// Content negotiation.

// The two body formats of /invocations.
enum class BodyFormat { Json, JsonLines };

// The MIME type written for a format ("application/json" or "application/jsonlines").
const char* mime_type(BodyFormat format);

// The format of a Content-Type header value: application/json (or any */*+json, or an empty
// header, which clients such as FastAPI's treat as JSON) -> Json; application/jsonlines,
// application/jsonl, application/x-jsonlines, application/x-ndjson -> JsonLines. Parameters
// (charset) are ignored. Throws UnsupportedMediaType for anything else.
BodyFormat parse_content_type(std::string_view content_type);

// Throws NotAcceptable unless the Accept header (empty = anything) admits `format`.
void check_accept(std::string_view accept, BodyFormat format);

// ---------------------------------------------------------------------------------------------
// Requests and answers.

// Bounds on one request, checked before any scoring.
struct ServiceLimits {
  int max_k = 1000;                      // largest accepted k (the smallest is 1)
  std::size_t max_batch = 10000;         // largest "instances" list / number of JSON lines
  std::size_t max_list_length = 10000;   // largest "history" / "exclude" list
  std::size_t max_json_depth = 64;       // deepest nesting of arrays/objects in a body
  // The work of one POST (a batch, or all the lines of a JSON Lines body), refused with 413
  // before it is exceeded: the sum of k over its requests, and over those with "explain".
  std::size_t max_request_items = 1000000;
  std::size_t max_explained_items = 100000;
};

// One validated request.
struct InvocationRequest {
  std::optional<std::string> user_id;      // a known (or, with history, any) user
  std::vector<std::string> history;        // videos watched, for fold-in
  std::optional<std::string> similar_to;   // a video: answer with similar videos instead
  int k = 5;                               // 1..max_k
  std::vector<std::string> exclude;        // video ids to leave out
  bool include_watched = false;            // keep already-watched videos
  bool explain = false;                    // add "because" lists
  CategoryFilter filter;                   // "categories" (only these) and "exclude_categories"
  bool title_field = false;                // "fields" has "title": add each video's title
  bool categories_field = false;           // "fields" has "categories": add each video's categories
};

// Validates one request object. `loc` is the location prefix of its issues (["body"], or
// ["body", "instances", 3] inside a batch). Throws ValidationError listing every problem.
InvocationRequest parse_request(const nlohmann::json& value, const nlohmann::json& loc,
                                const ServiceLimits& limits);

// Answers one validated request:
//   {"userId": "u001", "recommendations": [{"videoId": "v005", "score": 0.91}, ...]}
//   (userId null for a history-only request; each recommendation gains
//   "because": [{"videoId", "contribution"}] when explain is set), or for similar_to
//   {"similarTo": "v003", "recommendations": [...]}.
// Throws NotFound for an unknown user or video.
// With `precomputed` (the table of this recommender's model), a plain request for a known user
// (no history, exclude, explain or include_watched) with k <= its depth is answered from it,
// identically. Each answer is counted in *counts when given.
// Bounds how many requests score the catalog at once (the server sizes it to the cores, so
// scoring never oversubscribes them); a look-up in the precomputed table needs no permit.
class ScoringGate {
 public:
  virtual ~ScoringGate() = default;
  virtual void enter() = 0;  // blocks until scoring may start
  virtual void leave() = 0;
};

struct AnswerCounts {
  std::size_t precomputed = 0;  // answered from the precomputed table
  std::size_t scored = 0;       // answered by scoring (or fold-in, or similar videos)
  std::size_t popular = 0;      // unknown users answered with the most popular videos
};
// Anything else is computed inside `gate` when one is given. With `popular` (vr-serve
// --unknown-user popular), a request for a user the model does not know and no history is
// answered with the most popular videos (minus "exclude") instead of NotFound.
// With `catalog` (its rules set), no path returns a video the catalog hides or that is outside
// its availability window at catalog->now, nor one the request's category filters leave out:
// the precomputed table is filtered at look-up, and scored when what is left cannot fill k.
// Without a catalog, "categories" matches nothing and "exclude_categories" nothing either
// (no video has a category), and "fields" adds empty titles and categories.
OrderedJson answer(const Recommender& recommender, const InvocationRequest& request,
                   const PrecomputedRecommendations* precomputed = nullptr, AnswerCounts* counts = nullptr,
                   ScoringGate* gate = nullptr, const PopularVideos* popular = nullptr,
                   const CatalogContext* catalog = nullptr);

// A finished answer to POST /invocations.
struct Reply {
  int status = 200;
  std::string body;
  std::string content_type;
  AnswerCounts answers;  // the answers in the body, by source (errors are not counted)
};

// The one request shape nearly all traffic has, read without building a JSON tree (parsing
// into nlohmann's tree and validating it was a sixth of a plain request's CPU time).
struct PlainRequest {
  std::string_view user_id;  // points into the text read
  int k = InvocationRequest{}.k;
};

// Reads `text` when it is exactly an object with a "user_id" string of printable ASCII without
// escapes and at most a "k" integer written plainly (1 to 9 digits, no sign, fraction or
// exponent), each at most once, in either order, with any JSON whitespace. Anything else
// (other fields, nulls, escapes, duplicate keys, invalid JSON...) is nothing, to be parsed and
// validated in full, so this only ever takes a body that parse_json_body and parse_request
// would read as the same request (k is not range-checked here).
std::optional<PlainRequest> read_plain_request(std::string_view text);

// Parses JSON text, throwing MalformedBody for a body that is not JSON at all and a
// ValidationError (type "json_invalid", loc ["body", byte offset]) for broken JSON, or
// "missing" for an empty body, or JSON nested deeper than limits.max_json_depth.
nlohmann::json parse_json_body(std::string_view text, const ServiceLimits& limits);

// The whole of POST /invocations for a body in `format`:
//   Json: a single request (errors are thrown, to be mapped by error_reply) or
//         {"instances": [...]} -> {"predictions": [...]}, each failed instance replaced by its
//         error object {"status": 404, "detail": ...} while the others are answered;
//   JsonLines: exactly one output line per input line (a final newline does not start a
//         line), in order, a failed line answered by its error object.
//   `precomputed`, `gate`, `popular` and `catalog`, when given, are used as answer() says.
Reply invoke(const Recommender& recommender, std::string_view body, BodyFormat format,
             const ServiceLimits& limits, const PrecomputedRecommendations* precomputed = nullptr,
             ScoringGate* gate = nullptr, const PopularVideos* popular = nullptr,
             const CatalogContext* catalog = nullptr);

// ---------------------------------------------------------------------------------------------
// The loaded model and its hot swap.

struct ModelSnapshot;

// What precompute_snapshot did.
struct PrecomputeOutcome {
  enum class Result { Published, Stopped, Skipped } result = Result::Skipped;
  std::string reason;      // why it was skipped
  std::size_t bytes = 0;   // the table's size (also when skipped for size)
  double seconds = 0;      // time spent
};

// Computes `snapshot`'s table of every user's top `depth` videos on the calling thread and
// publishes it (see ModelSnapshot::precomputed). Skipped (with the reason) when depth < 1, for
// a model that is not ALS (EASE and item-knn score from history rows), when it is already
// published, or when the table would take more than `max_bytes`; stopped, with nothing
// published, once `keep_going()` returns false. One thread per snapshot: the server runs it on
// its reload thread.
PrecomputeOutcome precompute_snapshot(const ModelSnapshot& snapshot, int depth, std::size_t max_bytes,
                                      const std::function<bool()>& keep_going);

// A loaded model and what /metrics and the access log say about it. Immutable once loaded,
// but for its precomputed table, which is published once, later.
struct ModelSnapshot {
  std::shared_ptr<const Recommender> recommender;
  std::string directory;           // the model directory as configured
  std::string resolved_directory;  // its canonical path when loaded (follows `current` links)
  std::string version;             // hex checksum stored at the end of als_model.bin
  double load_seconds = 0;         // wall time spent loading
  std::int64_t loaded_at_unix = 0; // when it was loaded, seconds since the epoch
  std::uint64_t users = 0;         // users the model knows
  std::uint64_t videos = 0;        // videos the model knows
  std::shared_ptr<const PopularVideos> popular;  // the most popular videos (--unknown-user popular)

  ModelSnapshot();
  ~ModelSnapshot();  // in service.cpp, where PrecomputedRecommendations is complete
  ModelSnapshot(const ModelSnapshot&) = delete;
  ModelSnapshot& operator=(const ModelSnapshot&) = delete;

  // The precomputed table of this model (see vr/precomputed.h), filled in the background after
  // the model is served: null until then, or if it is not computed. Set once by
  // precompute_snapshot, then read by any thread; freed with the snapshot.
  const PrecomputedRecommendations* precomputed() const { return precomputed_.load(std::memory_order_acquire); }
  // What the table holds; meaningful only once precomputed() is not null.
  struct PrecomputedInfo {
    int depth = 0;           // videos kept per user
    std::size_t bytes = 0;   // memory it takes
    double seconds = 0;      // time taken to compute it
  };
  const PrecomputedInfo& precomputed_info() const { return precomputed_info_; }

 private:
  friend PrecomputeOutcome precompute_snapshot(const ModelSnapshot&, int, std::size_t, const std::function<bool()>&);
  // Written once, before precomputed_ is published (release), so readers that see the pointer
  // (acquire) see these too.
  mutable std::unique_ptr<const PrecomputedRecommendations> precomputed_owner_;
  mutable PrecomputedInfo precomputed_info_;
  mutable std::atomic<const PrecomputedRecommendations*> precomputed_{nullptr};
};

// How a snapshot answers scored requests.
struct SnapshotOptions {
  bool pruned_scan = true;  // search the catalog in order of factor norm (vr/video_panels.h); false = full scan
  std::string retrieval = "auto";  // similar videos: exact, ann (ann_index.bin required) or auto (used if present)
  std::size_t ef = 128;            // the HNSW search's candidate list
  double popularity_penalty = 0;   // beta of the long-tail re-ranking of top-k answers
                                   // (vr/popularity_penalty.h); 0 = off
};

// Loads ratings.csv, mappings.bin and als_model.bin from `directory`. Throws (CorruptFile,
// IoError, InvalidInput) naming the file when anything is missing or broken.
std::shared_ptr<const ModelSnapshot> load_snapshot(const std::string& directory, const SnapshotOptions& options = {});

// How much of the catalog `snapshot`'s scored answers have computed since it was loaded (the
// precomputed table's build is not counted).
struct ScanTotals {
  std::uint64_t queries = 0;         // top-k searches
  std::uint64_t videos_scored = 0;   // scores computed, summed over searches
  std::uint64_t catalog_videos = 0;  // catalog size, summed over searches
};
ScanTotals scan_totals(const ModelSnapshot& snapshot);

// A cheap fingerprint of what `directory` holds now: its canonical path plus each artifact's
// inode, size and modification time. Empty if the directory or a file is missing or is not a
// regular file.
std::string model_fingerprint(const std::string& directory);

// The current model, swapped atomically: readers take a reference and keep the model they
// took alive until they drop it, however many swaps happen meanwhile.
class ModelStore {
 public:
  // The current model, or null before the first one is set.
  std::shared_ptr<const ModelSnapshot> get() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return current_;
  }
  // Makes `snapshot` the current model. The old one is released outside the lock (freeing a big
  // model takes time) and, if requests still hold it, only when the last of them drops it.
  void set(std::shared_ptr<const ModelSnapshot> snapshot) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      current_.swap(snapshot);
    }
  }

 private:
  // A mutex rather than std::atomic<std::shared_ptr>: libstdc++ 12 implements that with a lock
  // bit ThreadSanitizer cannot see (it reports a race on every swap), and an uncontended lock
  // per request costs nothing beside the request.
  mutable std::mutex mutex_;
  std::shared_ptr<const ModelSnapshot> current_;
};

}  // namespace vr
