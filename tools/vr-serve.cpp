// vr-serve: the HTTP recommendation server on the Amazon SageMaker inference contract.
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "cli_common.h"
#include "server.h"
#include "vr/artifacts.h"

namespace {

// SageMaker unpacks model.tar.gz here; elsewhere the tools' artifacts directory is used.
constexpr const char* kSageMakerModelDirectory = "/opt/ml/model";

struct Options {
  std::string command;
  std::string model_dir;
  std::string host = "0.0.0.0";
  int port = 8080;
  int threads = 0;
  int io_threads = 128;
  int max_body_mb = 6;
  int max_k = 1000;
  std::size_t max_batch = 10000;
  double watch_interval = 2.0;
  int keep_alive_timeout = 5;
  std::string docs_dir;
  bool no_access_log = false;
  bool no_ui = false;
  std::string titles;
  int read_timeout = 30;
  int precompute_k = 20;
  int precompute_max_mb = 1024;
  std::size_t max_headers = 100;
  int max_header_kb = 64;
  std::size_t max_request_items = 1000000;
  std::size_t max_explained_items = 100000;
  std::string unknown_user = "404";
  std::string scan = "pruned";
  double popularity_penalty = 0;
  std::string retrieval = "auto";
  std::size_t ef = 128;
  std::string catalog;
  double catalog_watch_interval = 1.0;
};

// The ranges of the values SageMaker may set in the environment, the same as the flags'.
const CLI::Validator kPortRange = vr::cli::InRange(0, 65535);
const CLI::Validator kBodyMbRange = vr::cli::InRange(1, 100);
const CLI::Validator kTransformsRange = vr::cli::InRange(1, 4096);
const CLI::IsMember kBatchStrategies({"SINGLE_RECORD", "MULTI_RECORD"});

// The value of environment variable `name`, checked by `check` as a flag's value is: nullopt
// when unset or empty; a bad value fails the start as a bad flag does, naming the variable.
// `whole_number`: the value must be digits (a flag gets that check from CLI11's conversion).
std::optional<std::string> checked_env(const char* name, const CLI::Validator& check, bool whole_number = true) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  std::string text = value;
  if (whole_number && (text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos)) {
    throw CLI::ValidationError(name, "value " + text + " is not a whole number");
  }
  if (const std::string problem = check(text); !problem.empty()) throw CLI::ValidationError(name, problem);
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "vr-serve: serve recommendations over HTTP on the SageMaker inference contract:\n"
      "GET /ping, POST /invocations (JSON, batch \"instances\", JSON Lines), GET /execution-parameters,\n"
      "GET /metrics (Prometheus), GET /openapi.json, /docs (Swagger UI), /redoc (ReDoc), /ui (dashboard).\n"
      "Binds first, then loads the model (/ping answers 503 until it is ready). SIGTERM/SIGINT stop\n"
      "cleanly after in-flight requests; SIGHUP or a change in the model directory reloads the\n"
      "model in the background, keeping the old one if the new one is broken.\n"
      "Environment: SAGEMAKER_BIND_TO_PORT overrides --port; SAGEMAKER_MAX_PAYLOAD_IN_MB sets the\n"
      "default of --max-body-mb; SAGEMAKER_MAX_CONCURRENT_TRANSFORMS (1-4096) and SAGEMAKER_BATCH_STRATEGY\n"
      "(SINGLE_RECORD or MULTI_RECORD) are reported by /execution-parameters. Each is checked as its flag\n"
      "is: a value out of range stops the start with an error naming the variable."};
  Options options;
  std::error_code error;
  options.model_dir = std::filesystem::is_directory(kSageMakerModelDirectory, error)
                          ? kSageMakerModelDirectory
                          : vr::kDefaultArtifactsDirectory;

  app.add_option("command", options.command, "SageMaker starts containers with `serve`; accepted and ignored")
      ->check(CLI::IsMember({"serve"}));
  app.add_option("--model-dir", options.model_dir,
                 "Model directory (ratings.csv, mappings.bin, als_model.bin); /opt/ml/model when it exists, "
                 "else artifacts")
      ->capture_default_str();
  app.add_option("--host", options.host, "Address to listen on")->capture_default_str();
  app.add_option("--port", options.port, "TCP port (0 = any free port, logged); SAGEMAKER_BIND_TO_PORT overrides")
      ->capture_default_str()
      ->check(kPortRange);
  app.add_option("--threads", options.threads, "Requests scoring at once (0 = number of cores)")
      ->capture_default_str()
      ->check(vr::cli::InRange(0, 4096));
  app.add_option("--io-threads", options.io_threads,
                 "Threads reading request bodies and answering (a connection that is idle or still sending its "
                 "headers holds none)")
      ->capture_default_str()
      ->check(vr::cli::InRange(2, 16384));
  app.add_option("--max-body-mb", options.max_body_mb,
                 "Largest request body in MiB (larger: 413); SAGEMAKER_MAX_PAYLOAD_IN_MB sets the default")
      ->capture_default_str()
      ->check(kBodyMbRange);
  app.add_option("--max-k", options.max_k, "Largest k a request may ask for")->capture_default_str()->check(vr::cli::InRange(1, 100000));
  app.add_option("--max-batch", options.max_batch, "Most instances (or JSON lines) in one request")
      ->capture_default_str()
      ->check(vr::cli::InRange(1, 10000000));
  app.add_option("--watch-interval", options.watch_interval,
                 "Seconds between checks of the model directory for a new model (0 = reload on SIGHUP only)")
      ->capture_default_str()
      ->check(vr::cli::InRange(0.0, 86400.0));
  app.add_option("--keep-alive-timeout", options.keep_alive_timeout, "Seconds an idle keep-alive connection stays open")
      ->capture_default_str()
      ->check(vr::cli::InRange(1, 3600));
  app.add_option("--read-timeout", options.read_timeout,
                 "Seconds a whole request (headers and body, from its first byte) may take to arrive; later: 408 "
                 "and the connection is closed")
      ->capture_default_str()
      ->check(vr::cli::InRange(1, 3600));
  app.add_option("--max-headers", options.max_headers, "Most header lines in one request (more: 431)")
      ->capture_default_str()
      ->check(vr::cli::InRange(1, 10000));
  app.add_option("--max-header-kb", options.max_header_kb,
                 "Largest request head (request line and headers) in KiB (larger: 431; one header line over 8 KiB: "
                 "431, a request line over 8 KiB: 414)")
      ->capture_default_str()
      ->check(vr::cli::InRange(1, 1024));
  app.add_option("--max-request-items", options.max_request_items,
                 "Most recommendations one request may ask for: the sum of k over a batch's instances or a JSON Lines "
                 "body's lines (more: 413)")
      ->capture_default_str()
      ->check(vr::cli::InRange(1, 1000000000));
  app.add_option("--max-explained-items", options.max_explained_items,
                 "Most explained recommendations one request may ask for: the sum of k over its requests with "
                 "\"explain\" (more: 413)")
      ->capture_default_str()
      ->check(vr::cli::InRange(1, 1000000000));
  app.add_option("--precompute-k", options.precompute_k,
                 "After each model load, compute every known user's top N videos (one background thread; at "
                 "start-up while requests are already scored, on a reload before the new model is swapped in); "
                 "plain requests with k <= N are then answered from that table, identically to scoring. 0 = always "
                 "score")
      ->capture_default_str()
      ->check(vr::cli::InRange(0, 100000));
  app.add_option("--precompute-max-mb", options.precompute_max_mb,
                 "Skip the precomputed table (and log why) when it would take more memory than this; it takes "
                 "users x (8 N + 4) bytes")
      ->capture_default_str()
      ->check(vr::cli::InRange(1, 1 << 20));
  vr::cli::add_scan_flag(app, options.scan, "How scored requests search the catalog");
  vr::cli::add_popularity_penalty_flag(app, options.popularity_penalty);
  app.add_option("--retrieval", options.retrieval,
                 "Similar videos: exact (cosine with every video), ann (the model directory's ann_index.bin, built by "
                 "vr-index; a model without one is refused) or auto (the index when there is one). Model and index "
                 "are loaded, and reloaded, together")
      ->capture_default_str()
      ->check(CLI::IsMember({"exact", "ann", "auto"}));
  app.add_option("--ef", options.ef, "Similar videos with an index: the search's candidate list (more = better recall)")
      ->capture_default_str()
      ->check(vr::cli::InRange(1, 100000));
  app.add_option("--docs-dir", options.docs_dir,
                 "Swagger UI / ReDoc assets (default: share/vr/docs beside the binary's folder, then the install prefix)");
  app.add_flag("--no-access-log", options.no_access_log, "Do not write a JSON access log line per request on stderr");
  app.add_option("--unknown-user", options.unknown_user,
                 "A request for a user the model does not know (and no history): 404, or popular = the most popular "
                 "videos of the training data in the usual shape, with the header X-Answer-Source and a "
                 "source=\"popular\" count in /metrics (requests with a history are folded in either way)")
      ->capture_default_str()
      ->check(CLI::IsMember({"404", "popular"}));
  app.add_flag("--no-ui", options.no_ui, "Do not serve the read-only dashboard at /ui");
  app.add_option("--titles", options.titles, "Videos CSV (video_id,title,...) whose titles the dashboard shows")
      ->check(CLI::ExistingFile);
  app.add_option("--catalog", options.catalog,
                 "Videos CSV (video_id, and optionally title, categories, available_from, available_to, hidden):\n"
                 "a hidden video or one outside its availability window is never returned, and requests may\n"
                 "filter by category; reloaded when the file changes or on SIGHUP, without reloading the model")
      ->check(CLI::ExistingFile);
  app.add_option("--catalog-watch-interval", options.catalog_watch_interval,
                 "Seconds between checks of the catalog file for changes (0 = reload only on SIGHUP)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  vr::cli::add_version_flag(app);
  // Checked while parsing, so a bad value exits as a bad flag does.
  std::optional<std::string> port_env;
  std::optional<std::string> transforms_env;
  std::optional<std::string> strategy_env;
  app.callback([&] {
    if (const auto payload = checked_env("SAGEMAKER_MAX_PAYLOAD_IN_MB", kBodyMbRange);
        payload && app.count("--max-body-mb") == 0) {
      options.max_body_mb = std::stoi(*payload);
    }
    port_env = checked_env("SAGEMAKER_BIND_TO_PORT", kPortRange);
    transforms_env = checked_env("SAGEMAKER_MAX_CONCURRENT_TRANSFORMS", kTransformsRange);
    strategy_env = checked_env("SAGEMAKER_BATCH_STRATEGY", kBatchStrategies, /*whole_number=*/false);
  });

  return vr::cli::run(app, argc, argv, [&] {
    vr::http::ServerConfig config;
    config.model_dir = options.model_dir;
    config.host = options.host;
    config.port = port_env ? std::stoi(*port_env) : options.port;
    config.threads = options.threads;
    config.io_threads = options.io_threads;
    config.max_body_bytes = static_cast<std::size_t>(options.max_body_mb) * 1024 * 1024;
    config.limits.max_k = options.max_k;
    config.limits.max_batch = options.max_batch;
    config.limits.max_request_items = options.max_request_items;
    config.limits.max_explained_items = options.max_explained_items;
    config.request_limits.max_header_count = options.max_headers;
    config.request_limits.max_header_bytes = static_cast<std::size_t>(options.max_header_kb) * 1024;
    config.watch_interval_seconds = options.watch_interval;
    config.keep_alive_timeout_seconds = options.keep_alive_timeout;
    config.docs_dir = options.docs_dir;
    config.read_timeout_seconds = options.read_timeout;
    config.precompute_k = options.precompute_k;
    config.unknown_user_popular = options.unknown_user == "popular";
    config.precompute_max_bytes = static_cast<std::size_t>(options.precompute_max_mb) * 1024 * 1024;
    config.access_log = !options.no_access_log;
    config.ui = !options.no_ui;
    config.titles_path = options.titles;
    config.snapshot.pruned_scan = options.scan == "pruned";
    config.snapshot.popularity_penalty = options.popularity_penalty;
    config.snapshot.retrieval = options.retrieval;
    config.snapshot.ef = options.ef;
    config.catalog_path = options.catalog;
    config.catalog_watch_interval_seconds = options.catalog_watch_interval;
    config.max_concurrent_transforms = transforms_env ? std::stoi(*transforms_env) : 0;
    if (strategy_env) config.batch_strategy = *strategy_env;
    return vr::http::run_server(config);
  });
}
