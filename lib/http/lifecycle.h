// The model's life in vr-serve, apart from answering requests: the first load, precomputing
// each loaded model's table, reloading on SIGHUP or when the model directory changes, and the
// stop requested by SIGTERM or SIGINT.
//
// Threads: the signal thread (watch_signals) takes SIGTERM, SIGINT and SIGHUP with
// sigtimedwait; the reload thread precomputes the first model's table and then runs
// reload_loop. Both end when shut_down() is called.
#pragma once

#include <signal.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "change_watch.h"
#include "json_log.h"
#include "metrics.h"
#include "server.h"

namespace vr::http {

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread, and so in every thread it starts
// from then on, so that only watch_signals takes them; ignores SIGPIPE (a client that went
// away must not end the server). Returns the set for watch_signals.
// Threads that a shared library started before main (OpenBLAS starts its workers when it is
// loaded) do not block them, and the kernel may hand them a signal sent to the process: a
// handler installed here notes such a signal for watch_signals instead of letting the
// default action end the server.
sigset_t block_server_signals();

class ModelLifecycle {
 public:
  ModelLifecycle(const ServerConfig& config, ModelStore& store, Metrics& metrics, JsonLog& log);

  // Called with each loaded model (the first and every reload) before it is published, on the
  // thread that loaded it; what it returns is added to the model_loaded / model_reloaded log
  // line. vr-serve binds the catalog here, so a new model's first request pays nothing for it.
  using BeforePublish = std::function<nlohmann::json(const ModelSnapshot&)>;
  void set_before_publish(BeforePublish hook) { before_publish_ = std::move(hook); }

  // Loads the model directory and publishes it in the store, logging either way. Returns the
  // directory's fingerprint at the time of loading (what reload_loop compares against), or
  // nothing if the model could not be loaded.
  std::optional<std::string> load_first();

  // Computes the snapshot's precomputed table (vr/precomputed.h) unless it is switched off or
  // too large, and logs what happened; gives up as soon as shut_down() is called.
  void precompute(const ModelSnapshot& snapshot);

  // Until shut_down(): reloads the model on SIGHUP, or when the directory's fingerprint has
  // changed and held still for a moment. A model that fails to load is logged, counted and
  // not retried until the directory changes again; the previous one keeps serving.
  // (change_watch.h)
  void reload_loop(std::string loaded_fingerprint);

  // Until shut_down(): SIGTERM or SIGINT request a stop, SIGHUP a reload (and calls
  // `on_reload_signal` when set: the catalog reloads on SIGHUP too).
  void watch_signals(const sigset_t& signals, const std::function<void()>& on_reload_signal = {});

  void request_stop();
  void wait_for_stop_request();
  void shut_down();  // tells watch_signals, reload_loop and precompute to end

 private:
  bool shutting_down();
  // Loads the model directory, precomputes its table and publishes it; logs and counts the
  // outcome. False when it could not be loaded (the previous model keeps serving).
  bool reload(const std::string& trigger);

  const ServerConfig& config_;
  ModelStore& store_;
  Metrics& metrics_;
  JsonLog& log_;
  BeforePublish before_publish_;
  ChangeWatcher watcher_;  // of the model directory

  std::mutex mutex_;
  std::condition_variable changed_;
  bool stop_requested_ = false;
  bool shutting_down_ = false;
};

}  // namespace vr::http
