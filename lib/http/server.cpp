// This file includes httplib.h and must never include Eigen (directly or through
// vr/recommender.h): glibc's <resolv.h>, pulled in by httplib.h, defines a macro `_res`
// that breaks Eigen's headers.
#include "server.h"

#include <httplib.h>
#include <pthread.h>
#include <sys/socket.h>
#include <signal.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <limits>
#include <ctime>
#include <map>
#include <mutex>
#include <semaphore>
#include <string_view>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "docs.h"
#include "catalog_watch.h"
#include "metrics.h"
#include "ui.h"
#include "vr/version.h"

namespace vr::http {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// The method each route answers; any other method on it gets 405.
const std::map<std::string, std::string>& route_methods() {
  static const std::map<std::string, std::string> methods{
      {"/ping", "GET"},    {"/invocations", "POST"}, {"/execution-parameters", "GET"}, {"/metrics", "GET"},
      {"/openapi.json", "GET"}, {"/docs", "GET"},    {"/redoc", "GET"},
      {"/ui", "GET"}, {"/ui/dashboard.js", "GET"}, {"/ui/dashboard.css", "GET"}, {"/ui/api/model", "GET"},
      {"/ui/api/live", "GET"}, {"/ui/api/user", "GET"}, {"/ui/api/video", "GET"}};
  return methods;
}

// A bounded label for metrics: a known route, the assets folder, or "other".
std::string route_label(const std::string& path) {
  if (route_methods().count(path) != 0) return path;
  if (path.rfind(kDocsAssetsPath, 0) == 0) return kDocsAssetsPath;
  return "other";
}

// Where the answers of one /invocations reply came from (X-Answer-Source): "precomputed",
// "scored" or "popular", "mixed" for a batch with several, "none" when nothing was answered.
const char* answer_source(const AnswerCounts& answers) {
  const int sources = (answers.precomputed > 0) + (answers.scored > 0) + (answers.popular > 0);
  if (sources > 1) return "mixed";
  if (answers.popular > 0) return "popular";
  if (answers.precomputed > 0) return "precomputed";
  return answers.scored > 0 ? "scored" : "none";
}

// The time now as ISO 8601 UTC with milliseconds. Every logged request asks: the date and time
// part is formatted once a second per thread, as snprintf and gmtime_r took a tenth of a plain
// request's own CPU time.
std::string utc_now() {
  const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const int millis =
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count());
  thread_local std::time_t formatted_second = std::numeric_limits<std::time_t>::min();
  thread_local std::array<char, 96> formatted{};  // room for the widest ints GCC's -Wformat-truncation assumes
  thread_local std::size_t formatted_size = 0;
  const std::time_t second = static_cast<std::time_t>(seconds.count());
  if (second != formatted_second) {
    std::tm parts{};
    gmtime_r(&second, &parts);
    const int written = std::snprintf(formatted.data(), formatted.size(), "%04d-%02d-%02dT%02d:%02d:%02d",
                                      parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour,
                                      parts.tm_min, parts.tm_sec);
    formatted_size = written > 0 ? std::min(static_cast<std::size_t>(written), formatted.size() - 1) : 0;
    formatted_second = second;
  }
  std::string text(formatted.data(), formatted_size);
  const char fraction[] = {'.', static_cast<char>('0' + millis / 100), static_cast<char>('0' + millis / 10 % 10),
                           static_cast<char>('0' + millis % 10), 'Z'};
  text.append(fraction, sizeof fraction);
  return text;
}

// Whether two header names are equal ignoring ASCII case. cpp-httplib's own look-ups call
// libc's tolower for every character compared, which made header look-ups a tenth of a plain
// request's CPU time; names are compared here by length first.
bool same_header_name(std::string_view name, std::string_view wanted) {
  if (name.size() != wanted.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(name[i]) != lower(wanted[i])) return false;
  }
  return true;
}

// The value of the first header named `name`, or "" (as get_header_value gives).
const std::string& header_value(const httplib::Headers& headers, std::string_view name) {
  static const std::string none;
  for (const auto& [header, value] : headers) {
    if (same_header_name(header, name)) return value;
  }
  return none;
}

// Appends `text` to `out` as a JSON string. Invalid UTF-8 (a path is whatever the client sent)
// is replaced, never thrown.
void append_json_string(std::string& out, std::string_view text) {
  const bool plain = std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\'; });
  if (plain) {
    out += '"';
    out += text;
    out += '"';
  } else {
    out += json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::replace);
  }
}

// One JSON object per line on stderr. Lines are queued in memory and written by one writer
// thread, whole lines only, so they never interleave, and a request thread never waits for
// stderr: a log file on a busy disk (dirty-page throttling stalls a write for 100 ms and more)
// or a slow log collector must not become every request's latency. A line reaches stderr
// within microseconds when it is not blocked; if it is blocked for so long that 16 MiB are
// queued, further lines are dropped and a "log_lines_dropped" line says how many.
class Log {
 public:
  Log() {
    // The writer starts with every signal blocked: SIGTERM, SIGINT and SIGHUP belong to the
    // server's signal thread, and a thread that left them unblocked would take them (and die of
    // SIGTERM's default action) before the server blocks them in run().
    sigset_t all;
    sigset_t previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    writer_ = std::thread([this] { write_loop(); });
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  }
  ~Log() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    writer_.join();
  }
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  // Blocks until every line queued so far is written (for an exit that skips destructors).
  void drain() {
    std::unique_lock lock(mutex_);
    draining_ = true;
    wake_.notify_all();
    drained_.wait(lock, [this] { return queued_.empty() && !writing_; });
    draining_ = false;
  }

  void write(json line) {
    json out = {{"time", utc_now()}};
    out.update(line);
    emit(out.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
  }

  // The access log line of one request, written without building a JSON object (it is written
  // for every request): the same keys, in the same order, as write() would give them.
  void write_request(const httplib::Request& request, int status, std::size_t bytes, double duration_ms,
                     const std::string& model_version) {
    std::string text;
    text.reserve(256 + request.path.size());
    std::array<char, 64> number{};
    text += R"({"bytes":)";
    text += std::to_string(bytes);
    text += R"(,"duration_ms":)";
    text.append(number.data(), nlohmann::detail::to_chars(number.data(), number.data() + number.size(), duration_ms));
    text += R"(,"event":"request","method":)";
    append_json_string(text, request.method);
    if (!model_version.empty()) {
      text += R"(,"model_version":)";
      append_json_string(text, model_version);
    }
    text += R"(,"path":)";
    append_json_string(text, request.path);
    text += R"(,"remote":)";
    append_json_string(text, request.remote_addr);
    text += R"(,"status":)";
    text += std::to_string(status);
    text += R"(,"time":)";
    append_json_string(text, utc_now());
    text += "}\n";
    emit(text);
  }

 private:
  static constexpr std::size_t kMaxQueuedBytes = std::size_t{16} << 20;
  static constexpr std::chrono::milliseconds kGatherTime{2};

  void emit(const std::string& text) {
    bool was_empty = false;
    {
      std::lock_guard lock(mutex_);
      if (queued_.size() + text.size() > kMaxQueuedBytes) {
        ++dropped_;
        return;
      }
      was_empty = queued_.empty();
      queued_ += text;
    }
    // Only the first line of a batch wakes the writer; it then gathers the rest itself.
    if (was_empty) wake_.notify_one();
  }

  void write_loop() {
    std::string writing;
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return stopping_ || !queued_.empty(); });
      if (queued_.empty() && stopping_) return;
      // Gather for a moment: one write per batch, and the request threads' notify finds no
      // waiter (no wake-up, no system call) while this thread sleeps here.
      wake_.wait_for(lock, kGatherTime, [this] { return stopping_ || draining_; });
      writing.swap(queued_);
      std::uint64_t dropped = std::exchange(dropped_, 0);
      writing_ = true;
      lock.unlock();
      if (dropped > 0) {
        writing += json{{"time", utc_now()}, {"level", "warning"}, {"event", "log_lines_dropped"}, {"count", dropped}}.dump() + "\n";
      }
      std::fwrite(writing.data(), 1, writing.size(), stderr);
      std::fflush(stderr);
      writing.clear();
      lock.lock();
      writing_ = false;
      if (queued_.empty()) drained_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;     // lines queued, or stopping
  std::condition_variable drained_;  // the queue was written out
  std::string queued_;
  std::uint64_t dropped_ = 0;
  bool writing_ = false;
  bool draining_ = false;
  bool stopping_ = false;
  std::thread writer_;
};

// When the request being handled on this thread was routed; the logger reads it. A request
// rejected before routing (a malformed request line) has none.
thread_local Clock::time_point request_started;
thread_local bool request_timed = false;

// Stop and reload requests from the signal thread, and the wake-ups of the reload thread.
struct Control {
  std::mutex mutex;
  std::condition_variable changed;
  bool stop_requested = false;
  bool reload_requested = false;
  bool shutting_down = false;  // tells the helper threads to end
};

class Server {
 public:
  explicit Server(const ServerConfig& config)
      : config_(config),
        compute_threads_(config.threads > 0 ? config.threads
                                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))),
        compute_(compute_threads_),
        docs_dir_(find_docs_directory(config.docs_dir)) {
    if (config.unknown_user_popular) metrics_.show_popular_answers();
  }

  int run();

 private:
  void register_routes();
  void answer_error(httplib::Response& response, std::exception_ptr error, const httplib::Request& request);
  void invocations(const httplib::Request& request, httplib::Response& response, const std::string& body);
  void log_request(const httplib::Request& request, const httplib::Response& response);
  ModelGauges gauges() const;
  void signal_loop(const sigset_t& signals);
  void reload_loop(std::string loaded_fingerprint);
  void precompute(const ModelSnapshot& snapshot);
  void request_stop();

  // At most compute_threads_ requests score at once (look-ups in the precomputed table do not
  // count).
  class ComputeGate : public ScoringGate {
   public:
    explicit ComputeGate(int permits) : permits_(permits) {}
    void enter() override { permits_.acquire(); }
    void leave() override { permits_.release(); }

   private:
    std::counting_semaphore<1 << 20> permits_;
  };

  const ServerConfig config_;
  const int compute_threads_;
  ComputeGate compute_;
  const std::string docs_dir_;
  BoundedServer server_;
  ModelStore store_;
  std::atomic<bool> ready_{false};
  Metrics metrics_;
  Log log_;
  Control control_;
  // Declared last: its thread logs and reads the model store, so it stops before they go.
  CatalogWatcher catalog_{config_.catalog_path, config_.catalog_watch_interval_seconds,
                          [this](const json& line) { log_.write(line); }, [this] { return store_.get(); }};
};

void Server::answer_error(httplib::Response& response, std::exception_ptr error, const httplib::Request& request) {
  ErrorReply reply = error_reply(error);
  if (reply.status == 500) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log_.write({{"level", "error"}, {"event", "unhandled_exception"}, {"path", request.path}, {"error", what}});
  }
  response.status = reply.status;
  response.set_content(reply.body.dump(), "application/json");
}

void Server::invocations(const httplib::Request& request, httplib::Response& response, const std::string& body) {
  // The model is taken once: a reload during this request does not change what answers it.
  const auto snapshot = store_.get();
  if (!ready_.load(std::memory_order_acquire) || !snapshot) throw ServiceUnavailable("Model is loading");
  const BodyFormat format = parse_content_type(header_value(request.headers, "Content-Type"));
  check_accept(header_value(request.headers, "Accept"), format);
  // The catalog too is taken once, with the time its windows are checked at.
  const CatalogContext catalog = catalog_.context_for(*snapshot);
  Reply reply = invoke(*snapshot->recommender, body, format, config_.limits, snapshot->precomputed(), &compute_,
                       config_.unknown_user_popular ? snapshot->popular.get() : nullptr,
                       catalog.rules ? &catalog : nullptr);
  metrics_.record_answers(reply.answers.precomputed, reply.answers.scored, reply.answers.popular);
  response.status = reply.status;
  response.set_header("X-Model-Version", snapshot->version);
  if (catalog.rules) response.set_header("X-Catalog-Version", catalog.rules->catalog().version);
  if (config_.unknown_user_popular) response.set_header("X-Answer-Source", answer_source(reply.answers));
  response.set_content(std::move(reply.body), reply.content_type.c_str());
}

ModelGauges Server::gauges() const {
  ModelGauges model;
  const auto snapshot = store_.get();
  model.ready = ready_.load() && snapshot != nullptr;
  if (snapshot) {
    model.version = snapshot->version;
    model.directory = snapshot->resolved_directory;
    model.load_seconds = snapshot->load_seconds;
    model.loaded_at_unix = snapshot->loaded_at_unix;
    model.users = snapshot->users;
    model.videos = snapshot->videos;
    const ScanTotals scan = scan_totals(*snapshot);
    model.scan_queries = scan.queries;
    model.scan_videos_scored = scan.videos_scored;
    model.scan_catalog_videos = scan.catalog_videos;
    if (snapshot->precomputed() != nullptr) {
      model.precomputed = true;
      model.precomputed_depth = snapshot->precomputed_info().depth;
      model.precomputed_bytes = snapshot->precomputed_info().bytes;
      model.precomputed_seconds = snapshot->precomputed_info().seconds;
    }
  }
  return model;
}

void Server::log_request(const httplib::Request& request, const httplib::Response& response) {
  const double seconds =
      request_timed ? std::chrono::duration<double>(Clock::now() - request_started).count() : 0.0;
  request_timed = false;
  metrics_.record(route_label(request.path), response.status, seconds);
  if (!config_.access_log || request.path == "/ping") return;
  log_.write_request(request, response.status, response.body.size(), seconds * 1000,
                     header_value(response.headers, "X-Model-Version"));
}

void Server::register_routes() {
  server_.set_pre_routing_handler([this](const httplib::Request& request, httplib::Response& response) {
    request_started = Clock::now();
    request_timed = true;
    // A declared body far over the limit (more than 4x) is refused before any of it is read:
    // cpp-httplib would first read and discard it all, until the read timeout for a client that
    // declares 10 GB and sends little. A body just over the limit is still read and discarded
    // first, as clients that send the whole body before reading (most) would otherwise see the
    // connection reset instead of the 413.
    if (const std::string& declared = header_value(request.headers, "Content-Length"); !declared.empty()) {
      char* end = nullptr;
      errno = 0;
      const unsigned long long length = std::strtoull(declared.c_str(), &end, 10);
      const bool number = *end == '\0' && declared.find('-') == std::string::npos;
      if (number && (errno == ERANGE || length / 4 > config_.max_body_bytes)) {
        response.status = 413;
        response.set_header("Connection", "close");
        response.set_content(json{{"detail", "Request body is larger than " + std::to_string(config_.max_body_bytes) +
                                                 " bytes"}}.dump(),
                             "application/json");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  server_.Get("/ping", [this](const httplib::Request&, httplib::Response& response) {
    if (ready_.load(std::memory_order_acquire)) {
      response.set_content(R"({"status":"ok"})", "application/json");
    } else {
      response.status = 503;
      response.set_content(R"({"detail":"Model is loading"})", "application/json");
    }
  });

  // Bodies are read here rather than by the library so a chunked upload is held to the
  // limit too; a Content-Length over it is refused by the library before reading.
  server_.Post("/invocations", [this](const httplib::Request& request, httplib::Response& response,
                                      const httplib::ContentReader& read_content) {
    std::string body;
    bool too_large = false;
    const bool read = read_content([&](const char* data, std::size_t length) {
      if (body.size() + length > config_.max_body_bytes) {
        too_large = true;
        return false;
      }
      body.append(data, length);
      return true;
    });
    try {
      if (too_large || response.status == 413) {
        response.set_header("Connection", "close");
        throw PayloadTooLarge("Request body is larger than " + std::to_string(config_.max_body_bytes) + " bytes");
      }
      if (!read && request_deadline_passed()) {
        response.set_header("Connection", "close");
        throw RequestTimeout("Request timeout: the request did not arrive within " +
                             std::to_string(config_.read_timeout_seconds) + " s");
      }
      // A POST without Content-Length reads as a failed empty read: treat it as an empty body.
      if (!read && !body.empty()) throw MalformedBody("the body could not be read");
      invocations(request, response, body);
    } catch (...) {
      answer_error(response, std::current_exception(), request);
    }
  });
  // A POST with no body at all does not reach the content-reader handler.
  server_.Post("/invocations", [this](const httplib::Request& request, httplib::Response& response) {
    try {
      invocations(request, response, request.body);
    } catch (...) {
      answer_error(response, std::current_exception(), request);
    }
  });

  server_.Get("/execution-parameters", [this](const httplib::Request&, httplib::Response& response) {
    const int transforms = config_.max_concurrent_transforms > 0 ? config_.max_concurrent_transforms : compute_threads_;
    const json parameters = {{"MaxConcurrentTransforms", transforms},
                             {"BatchStrategy", config_.batch_strategy},
                             {"MaxPayloadInMB", std::max<std::size_t>(1, config_.max_body_bytes / (1024 * 1024))}};
    response.set_content(parameters.dump(), "application/json");
  });

  server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    const auto snapshot = ready_.load(std::memory_order_acquire) ? store_.get() : nullptr;
    response.set_content(metrics_.render(gauges()) + catalog_.render_metrics(snapshot.get()),
                         "text/plain; version=0.0.4; charset=utf-8");
  });

  server_.Get("/openapi.json", [](const httplib::Request&, httplib::Response& response) {
    response.set_content(openapi_json(), "application/json");
  });

  const auto docs_page = [this](const std::string& html) {
    return [this, &html](const httplib::Request&, httplib::Response& response) {
      if (docs_dir_.empty()) {
        response.status = 503;
        response.set_content(json{{"detail", "API documentation assets are not installed (share/vr/docs); "
                                             "build the vr_docs_assets target or pass --docs-dir"}}
                                 .dump(),
                             "application/json");
        return;
      }
      response.set_content(html, "text/html; charset=utf-8");
    };
  };
  server_.Get("/docs", docs_page(swagger_ui_html()));
  server_.Get("/redoc", docs_page(redoc_html()));
  if (!docs_dir_.empty()) {
    server_.set_mount_point(kDocsAssetsPath, docs_dir_, {{"Cache-Control", "public, max-age=86400"}});
    server_.set_file_extension_and_mimetype_mapping("map", "application/json");
  }
  if (config_.ui) {
    register_ui(server_, {[this] { return ready_.load(std::memory_order_acquire) ? store_.get() : nullptr; }, &metrics_,
                          config_.titles_path.empty() ? nullptr : load_dashboard_titles(config_.titles_path),
                          &compute_});
  }

  // Every error answer is JSON. Handlers set their own bodies; this fills in the rest (404 for
  // unknown routes, 405, and the library's own 400/413/414 answers).
  server_.set_error_handler(httplib::Server::HandlerWithResponse(
      [](const httplib::Request& request, httplib::Response& response) {
    if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (response.status == 404) {
      const auto route = route_methods().find(request.path);
      // (A known route asked with its own method was not registered: /ui under --no-ui.)
      if (route != route_methods().end() && request.method != route->second &&
          !(route->second == "GET" && request.method == "HEAD")) {
        response.status = 405;
        response.set_header("Allow", route->second);
      }
    }
    response.set_content(error_body_for_status(response.status).dump(), "application/json");
    return httplib::Server::HandlerResponse::Handled;
  }));
  server_.set_exception_handler(
      [this](const httplib::Request& request, httplib::Response& response, std::exception_ptr error) {
        answer_error(response, error, request);
      });
  server_.set_logger([this](const httplib::Request& request, const httplib::Response& response) {
    log_request(request, response);
  });
}

void Server::request_stop() {
  std::lock_guard lock(control_.mutex);
  control_.stop_requested = true;
  control_.changed.notify_all();
}

void Server::signal_loop(const sigset_t& signals) {
  const timespec tick{0, 200 * 1000 * 1000};
  for (;;) {
    {
      std::lock_guard lock(control_.mutex);
      if (control_.shutting_down) return;
    }
    const int signal = sigtimedwait(&signals, nullptr, &tick);
    if (signal == SIGTERM || signal == SIGINT) {
      log_.write({{"event", "stopping"}, {"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
      request_stop();
    } else if (signal == SIGHUP) {
      catalog_.request_reload();
      std::lock_guard lock(control_.mutex);
      control_.reload_requested = true;
      control_.changed.notify_all();
    }
  }
}

void Server::reload_loop(std::string loaded_fingerprint) {
  std::string failed_fingerprint;
  const auto interval = std::chrono::duration<double>(config_.watch_interval_seconds);
  for (;;) {
    bool forced = false;
    {
      std::unique_lock lock(control_.mutex);
      const auto wake = [this] { return control_.shutting_down || control_.reload_requested; };
      if (config_.watch_interval_seconds > 0) {
        control_.changed.wait_for(lock, interval, wake);
      } else {
        control_.changed.wait(lock, wake);
      }
      if (control_.shutting_down) return;
      forced = control_.reload_requested;
      control_.reload_requested = false;
    }
    std::string fingerprint = model_fingerprint(config_.model_dir);
    if (!forced) {
      if (fingerprint.empty() || fingerprint == loaded_fingerprint || fingerprint == failed_fingerprint) continue;
      // Let a writer finish: load only once the directory has held still for a moment.
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (model_fingerprint(config_.model_dir) != fingerprint) continue;
    }
    const auto previous = store_.get();
    try {
      auto snapshot = load_snapshot(config_.model_dir, config_.snapshot);
      // The new model gets its table before it is swapped in, so answers never slow down
      // across a reload; the old model (with its table) serves meanwhile.
      precompute(*snapshot);
      store_.set(snapshot);
      loaded_fingerprint = fingerprint;
      failed_fingerprint.clear();
      metrics_.record_reload(true, forced ? "SIGHUP" : "directory change", snapshot->version);
      log_.write({{"event", "model_reloaded"},
                  {"trigger", forced ? "SIGHUP" : "directory change"},
                  {"model_dir", snapshot->resolved_directory},
                  {"version", snapshot->version},
                  {"previous_version", previous ? previous->version : ""},
                  {"load_seconds", snapshot->load_seconds},
                  {"users", snapshot->users},
                  {"videos", snapshot->videos}});
    } catch (const std::exception& error) {
      failed_fingerprint = fingerprint;
      metrics_.record_reload(false, forced ? "SIGHUP" : "directory change");
      log_.write({{"level", "error"},
                  {"event", "model_reload_failed"},
                  {"trigger", forced ? "SIGHUP" : "directory change"},
                  {"model_dir", config_.model_dir},
                  {"error", error.what()},
                  {"serving_version", previous ? previous->version : ""}});
    }
  }
}

void Server::precompute(const ModelSnapshot& snapshot) {
  // Stop as soon as the server is stopping; a table half computed is dropped.
  const auto keep_going = [this] {
    std::lock_guard lock(control_.mutex);
    return !control_.shutting_down;
  };
  const auto outcome = precompute_snapshot(snapshot, config_.precompute_k, config_.precompute_max_bytes, keep_going);
  switch (outcome.result) {
    case PrecomputeOutcome::Result::Published:
      log_.write({{"event", "precomputed"},
                  {"version", snapshot.version},
                  {"users", snapshot.users},
                  {"depth", config_.precompute_k},
                  {"bytes", outcome.bytes},
                  {"seconds", outcome.seconds}});
      break;
    case PrecomputeOutcome::Result::Stopped:
      log_.write({{"event", "precompute_abandoned"}, {"version", snapshot.version}, {"seconds", outcome.seconds}});
      break;
    case PrecomputeOutcome::Result::Skipped:
      log_.write({{"event", "precompute_skipped"}, {"version", snapshot.version}, {"reason", outcome.reason}});
      break;
  }
}

int Server::run() {
  // Signals are taken by one thread with sigtimedwait; every thread started from here on
  // inherits the blocked mask, so none of them is interrupted by them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  register_routes();
  server_.set_tcp_nodelay(true);
  server_.set_payload_max_length(config_.max_body_bytes);
  server_.set_keep_alive_timeout(config_.keep_alive_timeout_seconds);
  server_.set_keep_alive_max_count(static_cast<std::size_t>(std::max(1, config_.keep_alive_max_requests)));
  server_.set_read_timeout(config_.read_timeout_seconds, 0);
  // The library's default also sets SO_REUSEPORT, which would let a second server bind the
  // same port silently and share its traffic; SO_REUSEADDR alone keeps restarts quick.
  int listening_socket = -1;
  server_.set_socket_options([&listening_socket](int socket) {
    int yes = 1;
    ::setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listening_socket = socket;  // the last socket offered is the one that gets bound
  });
  const int io_threads = std::max(2, config_.io_threads);
  server_.set_worker_threads(io_threads);
  server_.set_request_limits(config_.request_limits);
  server_.set_rejection_logger([this](int status, const std::string& detail, const std::string& remote) {
    metrics_.record("other", status, 0.0);
    if (config_.access_log) {
      log_.write({{"event", "request_refused"}, {"status", status}, {"detail", detail}, {"remote", remote}});
    }
  });

  int port = config_.port;
  if (port == 0) {
    port = server_.bind_to_any_port(config_.host);
  } else if (!server_.bind_to_port(config_.host, port)) {
    port = -1;
  }
  if (port > 0 && listening_socket >= 0) {
    // cpp-httplib 0.11 listens with a backlog of 5: 64 clients connecting at once overflow it,
    // and the dropped SYNs are retried after 1 s, 3 s... (wrk counted 2 s timeouts at the start
    // of each run). Calling listen() again on Linux just raises the backlog.
    ::listen(listening_socket, SOMAXCONN);
  }
  if (port <= 0) {
    log_.write({{"level", "error"},
                {"event", "bind_failed"},
                {"error", "cannot listen on " + config_.host + ":" + std::to_string(config_.port) +
                              " (port in use, or not allowed)"}});
    return 1;
  }
  log_.write({{"event", "listening"},
              {"host", config_.host},
              {"port", port},
              {"io_threads", io_threads},
              {"compute_threads", compute_threads_},
              {"precompute_k", config_.precompute_k},
              {"max_body_bytes", config_.max_body_bytes},
              {"docs_dir", docs_dir_},
              {"version", kVersion}});

  std::thread listener([this] { server_.listen_after_bind(); });
  // stop() only acts on a running server: make sure the accept loop has started, so a stop
  // right after (a model that fails to load) cannot be lost.
  while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::thread signal_thread([this, signals] { signal_loop(signals); });
  const auto finish = [&](int code) {
    // Closes the idle connections at once and lets the requests in flight finish.
    server_.stop();
    listener.join();
    {
      std::lock_guard lock(control_.mutex);
      control_.shutting_down = true;
      control_.changed.notify_all();
    }
    signal_thread.join();
    catalog_.stop();
    log_.write({{"event", "stopped"}, {"exit_code", code}, {"idle_connections_closed", server_.idle_connections_closed_at_stop()}});
    return code;
  };

  try {
    catalog_.load_first();
  } catch (const std::exception& error) {
    log_.write({{"level", "error"},
                {"event", "catalog_load_failed"},
                {"catalog", config_.catalog_path},
                {"error", std::string("cannot load the catalog: ") + error.what()}});
    return finish(1);
  }
  const std::string fingerprint = model_fingerprint(config_.model_dir);
  try {
    auto snapshot = load_snapshot(config_.model_dir, config_.snapshot);
    store_.set(snapshot);
    ready_.store(true, std::memory_order_release);
    metrics_.record_first_load(snapshot->version);
    log_.write({{"event", "model_loaded"},
                {"model_dir", snapshot->resolved_directory},
                {"version", snapshot->version},
                {"load_seconds", snapshot->load_seconds},
                {"users", snapshot->users},
                {"videos", snapshot->videos}});
  } catch (const std::exception& error) {
    log_.write({{"level", "error"},
                {"event", "model_load_failed"},
                {"model_dir", config_.model_dir},
                {"error", std::string("cannot load the model: ") + error.what()}});
    return finish(1);
  }
  catalog_.start();

  std::promise<void> reloader_done;
  auto reloader_finished = reloader_done.get_future();
  // At start-up the model is served at once, scored, while its table is computed; reloads are
  // taken only after that.
  std::thread reloader([this, fingerprint, done = std::move(reloader_done)]() mutable {
    if (const auto first = store_.get()) precompute(*first);
    reload_loop(fingerprint);
    done.set_value();
  });
  {
    std::unique_lock lock(control_.mutex);
    control_.changed.wait(lock, [this] { return control_.stop_requested; });
  }
  // server_.stop() closes the listening socket; the pool then finishes the requests in
  // flight (keep-alive connections end after their current request) before listen returns.
  const int code = finish(0);
  // A reload stuck in the file system (a hung mount) must not hold the exit: nothing is being
  // served any more, so leave without it.
  if (reloader_finished.wait_for(std::chrono::seconds(2)) != std::future_status::ready) {
    log_.write({{"level", "warning"}, {"event", "exit_during_reload"}});
    log_.drain();
    std::_Exit(code);
  }
  reloader.join();
  return code;
}

}  // namespace

int run_server(const ServerConfig& config) {
  Server server(config);
  return server.run();
}

}  // namespace vr::http
