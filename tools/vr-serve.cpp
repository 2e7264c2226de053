// vr-serve: the HTTP recommendation server on the Amazon SageMaker inference contract.
#include <cstdlib>
#include <filesystem>
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
  int read_timeout = 30;
  int precompute_k = 20;
  int precompute_max_mb = 1024;
};

// An integer from the environment, or `fallback` when unset or not a number.
int env_int(const char* name, int fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  char* end = nullptr;
  const long parsed = std::strtol(value, &end, 10);
  return *end == '\0' && parsed > 0 && parsed < 1 << 20 ? static_cast<int>(parsed) : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "vr-serve: serve recommendations over HTTP on the SageMaker inference contract:\n"
      "GET /ping, POST /invocations (JSON, batch \"instances\", JSON Lines), GET /execution-parameters,\n"
      "GET /metrics (Prometheus), GET /openapi.json, /docs (Swagger UI), /redoc (ReDoc).\n"
      "Binds first, then loads the model (/ping answers 503 until it is ready). SIGTERM/SIGINT stop\n"
      "cleanly after in-flight requests; SIGHUP or a change in the model directory reloads the\n"
      "model in the background, keeping the old one if the new one is broken.\n"
      "Environment: SAGEMAKER_BIND_TO_PORT overrides --port; SAGEMAKER_MAX_PAYLOAD_IN_MB sets the\n"
      "default of --max-body-mb; SAGEMAKER_MAX_CONCURRENT_TRANSFORMS and SAGEMAKER_BATCH_STRATEGY\n"
      "are reported by /execution-parameters."};
  Options options;
  std::error_code error;
  options.model_dir = std::filesystem::is_directory(kSageMakerModelDirectory, error)
                          ? kSageMakerModelDirectory
                          : vr::kDefaultArtifactsDirectory;
  options.max_body_mb = env_int("SAGEMAKER_MAX_PAYLOAD_IN_MB", options.max_body_mb);

  app.add_option("command", options.command, "SageMaker starts containers with `serve`; accepted and ignored")
      ->check(CLI::IsMember({"serve"}));
  app.add_option("--model-dir", options.model_dir,
                 "Model directory (ratings.csv, mappings.bin, als_model.bin); /opt/ml/model when it exists, "
                 "else artifacts")
      ->capture_default_str();
  app.add_option("--host", options.host, "Address to listen on")->capture_default_str();
  app.add_option("--port", options.port, "TCP port (0 = any free port, logged); SAGEMAKER_BIND_TO_PORT overrides")
      ->capture_default_str()
      ->check(vr::cli::InRange(0, 65535));
  app.add_option("--threads", options.threads, "Requests scoring at once (0 = number of cores)")
      ->capture_default_str()
      ->check(vr::cli::InRange(0, 4096));
  app.add_option("--io-threads", options.io_threads,
                 "Connection threads: one per open keep-alive connection, so at least the expected connections")
      ->capture_default_str()
      ->check(vr::cli::InRange(2, 16384));
  app.add_option("--max-body-mb", options.max_body_mb, "Largest request body in MiB (larger: 413)")
      ->capture_default_str()
      ->check(vr::cli::InRange(1, 100));
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
                 "Seconds a client may take to send a request (headers and body) before its connection is closed")
      ->capture_default_str()
      ->check(vr::cli::InRange(1, 3600));
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
  app.add_option("--docs-dir", options.docs_dir,
                 "Swagger UI / ReDoc assets (default: share/vr/docs beside the binary's folder, then the install prefix)");
  app.add_flag("--no-access-log", options.no_access_log, "Do not write a JSON access log line per request on stderr");
  vr::cli::add_version_flag(app);

  return vr::cli::run(app, argc, argv, [&] {
    vr::http::ServerConfig config;
    config.model_dir = options.model_dir;
    config.host = options.host;
    config.port = env_int("SAGEMAKER_BIND_TO_PORT", options.port);
    config.threads = options.threads;
    config.io_threads = options.io_threads;
    config.max_body_bytes = static_cast<std::size_t>(options.max_body_mb) * 1024 * 1024;
    config.limits.max_k = options.max_k;
    config.limits.max_batch = options.max_batch;
    config.watch_interval_seconds = options.watch_interval;
    config.keep_alive_timeout_seconds = options.keep_alive_timeout;
    config.docs_dir = options.docs_dir;
    config.read_timeout_seconds = options.read_timeout;
    config.precompute_k = options.precompute_k;
    config.precompute_max_bytes = static_cast<std::size_t>(options.precompute_max_mb) * 1024 * 1024;
    config.access_log = !options.no_access_log;
    config.max_concurrent_transforms = env_int("SAGEMAKER_MAX_CONCURRENT_TRANSFORMS", 0);
    if (const char* strategy = std::getenv("SAGEMAKER_BATCH_STRATEGY"); strategy != nullptr && *strategy != '\0') {
      config.batch_strategy = strategy;
    }
    return vr::http::run_server(config);
  });
}
