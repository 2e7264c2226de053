// This file includes httplib.h and must never include Eigen (directly or through
// vr/recommender.h): glibc's <resolv.h>, pulled in by httplib.h, defines a macro `_res`
// that breaks Eigen's headers.
#include "server.h"

#include <httplib.h>
#include <sys/socket.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <future>
#include <map>
#include <semaphore>
#include <string_view>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "catalog_watch.h"
#include "docs.h"
#include "json_log.h"
#include "lifecycle.h"
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

// When the request being handled on this thread was routed; the logger reads it. A request
// rejected before routing (a malformed request line) has none.
thread_local Clock::time_point request_started;
thread_local bool request_timed = false;

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
  JsonLog log_;
  ModelLifecycle lifecycle_{config_, store_, metrics_, log_};
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
  log_.write_request({request.method, request.path, request.remote_addr, response.status, response.body.size(),
                      seconds * 1000, header_value(response.headers, "X-Model-Version")});
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

int Server::run() {
  // Signals are taken by one thread with sigtimedwait; every thread started from here on
  // inherits the blocked mask, so none of them is interrupted by them.
  const sigset_t signals = block_server_signals();

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
  std::thread signal_thread([this, signals] { lifecycle_.watch_signals(signals, [this] { catalog_.request_reload(); }); });
  const auto finish = [&](int code) {
    // Closes the idle connections at once and lets the requests in flight finish.
    server_.stop();
    listener.join();
    lifecycle_.shut_down();
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
  // Each model is bound to the catalog before it is published, not by its first request.
  lifecycle_.set_before_publish([this](const ModelSnapshot& snapshot) { return catalog_.bind(snapshot); });
  const std::optional<std::string> fingerprint = lifecycle_.load_first();
  if (!fingerprint) return finish(1);
  ready_.store(true, std::memory_order_release);
  catalog_.start();

  std::promise<void> reloader_done;
  auto reloader_finished = reloader_done.get_future();
  // At start-up the model is served at once, scored, while its table is computed; reloads are
  // taken only after that.
  std::thread reloader([this, loaded = *fingerprint, done = std::move(reloader_done)]() mutable {
    if (const auto first = store_.get()) lifecycle_.precompute(*first);
    lifecycle_.reload_loop(std::move(loaded));
    done.set_value();
  });
  lifecycle_.wait_for_stop_request();
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
