// vr-serve's HTTP server: the SageMaker inference contract on cpp-httplib.
//
// Routes: GET /ping, POST /invocations, GET /execution-parameters, GET /metrics,
// GET /openapi.json, GET /docs, GET /redoc (+ their assets under /docs/assets), and the
// dashboard under /ui (ui.h) unless turned off. Every error
// is JSON {"detail": ...}. The request and answer logic lives in vr/service.h; this layer
// moves bytes, sizes the thread pools, logs (json_log.h), counts (metrics.h), and loads,
// precomputes and reloads the model on signals and directory changes (lifecycle.h).
//
// Threads: one thread watching every connection until a whole request head has arrived
// (bounded_server.h), `io_threads` threads reading bodies and answering, and at most
// `threads` of them scoring at once (a semaphore sized to the cores), so scoring never
// oversubscribes the CPU and /ping, which never waits for the semaphore, stays fast while
// /invocations saturates it. The reload thread
// also precomputes every user's top `precompute_k` videos (vr/precomputed.h), so plain
// requests become look-ups: at start-up while the model is already served (scored, with the
// same answers, until the table is ready), and on a reload before the new model is swapped in.
#pragma once

#include <cstddef>
#include <string>

#include "bounded_server.h"
#include "vr/service.h"

namespace vr::http {

struct ServerConfig {
  std::string model_dir;                         // directory with ratings.csv, mappings.bin, als_model.bin
  std::string host = "0.0.0.0";                  // address to bind
  int port = 8080;                               // TCP port; 0 = any free port (logged at start-up)
  int threads = 0;                               // requests scoring at once; 0 = number of cores
  int io_threads = 128;                          // threads reading bodies and answering requests, >= 2
  std::size_t max_body_bytes = 6u * 1024 * 1024; // larger bodies get 413
  ServiceLimits limits;                          // k range, batch and list sizes, JSON depth
  double watch_interval_seconds = 2.0;           // how often to check the model directory; 0 = only on SIGHUP
  int keep_alive_timeout_seconds = 5;            // idle keep-alive connections are closed after this
  int keep_alive_max_requests = 100000;          // requests per keep-alive connection
  int read_timeout_seconds = 30;                 // a whole request (head and body) must arrive within this
  RequestLimits request_limits;                  // request line and header bounds (414, 431)
  std::string docs_dir;                          // Swagger UI / ReDoc assets; "" = share/vr/docs beside the binary
  bool access_log = true;                        // JSON access log lines on stderr (never for /ping)
  int max_concurrent_transforms = 0;             // /execution-parameters value; 0 = threads
  std::string batch_strategy = "MULTI_RECORD";   // /execution-parameters value
  int precompute_k = 20;                         // videos per user precomputed after each load; 0 = off
  std::size_t precompute_max_bytes = std::size_t{1} << 30;  // skip the table if it would be larger
  bool unknown_user_popular = false;             // unknown users (no history) get popular videos, not 404
  bool ui = true;                                // serve the dashboard at /ui (lib/http/ui.h)
  std::string titles_path;                       // videos CSV for the dashboard's titles; "" = none
  SnapshotOptions snapshot;                      // how each loaded model answers scored requests
  std::string catalog_path;                      // videos.csv whose rules every answer obeys (vr/catalog.h); "" = none
  double catalog_watch_interval_seconds = 1.0;   // how often to check it for changes; 0 = only on SIGHUP
};

// Binds, loads the model (answering /ping 503 meanwhile), serves until SIGTERM or SIGINT,
// then lets in-flight requests finish. SIGHUP, or a change of the model directory, reloads the
// model in the background; SIGHUP, or a change of the catalog file, reloads the catalog (on its
// own thread, without the model). Returns the process exit code: 0 after a clean stop, 1 if the
// port cannot be bound or the first model or catalog cannot be loaded (logged on stderr).
int run_server(const ServerConfig& config);

}  // namespace vr::http
