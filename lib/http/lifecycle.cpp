#include "lifecycle.h"

#include <pthread.h>

#include <chrono>
#include <csignal>

namespace vr::http {
namespace {

// Signals a thread that does not block them took (see block_server_signals), one flag each.
volatile std::sig_atomic_t noted_sigterm = 0;
volatile std::sig_atomic_t noted_sigint = 0;
volatile std::sig_atomic_t noted_sighup = 0;

extern "C" void note_server_signal(int signal) {
  if (signal == SIGTERM) noted_sigterm = 1;
  if (signal == SIGINT) noted_sigint = 1;
  if (signal == SIGHUP) noted_sighup = 1;
}

// The next signal noted by the handler (clearing its flag), or 0.
int take_noted_signal() {
  for (auto [flag, signal] : {std::pair{&noted_sigterm, SIGTERM}, {&noted_sigint, SIGINT}, {&noted_sighup, SIGHUP}}) {
    if (*flag) {
      *flag = 0;
      return signal;
    }
  }
  return 0;
}

}  // namespace

sigset_t block_server_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  struct sigaction action {};
  action.sa_handler = note_server_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (const int signal : {SIGTERM, SIGINT, SIGHUP}) sigaction(signal, &action, nullptr);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  return signals;
}

ModelLifecycle::ModelLifecycle(const ServerConfig& config, ModelStore& store, Metrics& metrics, JsonLog& log)
    : config_(config),
      store_(store),
      metrics_(metrics),
      log_(log),
      watcher_(config.watch_interval_seconds, std::chrono::milliseconds(100), "directory change",
               [this] { return model_fingerprint(config_.model_dir); },
               [this](const std::string& trigger) { return reload(trigger); }) {}

std::optional<std::string> ModelLifecycle::load_first() {
  const std::string fingerprint = model_fingerprint(config_.model_dir);
  try {
    auto snapshot = load_snapshot(config_.model_dir, config_.snapshot);
    const nlohmann::json bound = before_publish_ ? before_publish_(*snapshot) : nlohmann::json::object();
    store_.set(snapshot);
    metrics_.record_first_load(snapshot->version);
    nlohmann::json line = {{"event", "model_loaded"},
                           {"model_dir", snapshot->resolved_directory},
                           {"version", snapshot->version},
                           {"load_seconds", snapshot->load_seconds},
                           {"users", snapshot->users},
                           {"videos", snapshot->videos}};
    line.update(bound);
    log_.write(line);
    return fingerprint;
  } catch (const std::exception& error) {
    log_.write({{"level", "error"},
                {"event", "model_load_failed"},
                {"model_dir", config_.model_dir},
                {"error", std::string("cannot load the model: ") + error.what()}});
    return std::nullopt;
  }
}

void ModelLifecycle::precompute(const ModelSnapshot& snapshot) {
  // Stop as soon as the server is stopping; a table half computed is dropped.
  const auto keep_going = [this] { return !shutting_down(); };
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

void ModelLifecycle::reload_loop(std::string loaded_fingerprint) { watcher_.run(std::move(loaded_fingerprint)); }

bool ModelLifecycle::reload(const std::string& trigger) {
  const auto previous = store_.get();
  try {
    auto snapshot = load_snapshot(config_.model_dir, config_.snapshot);
    // The new model gets its table before it is swapped in, so answers never slow down
    // across a reload; the old model (with its table) serves meanwhile.
    precompute(*snapshot);
    const nlohmann::json bound = before_publish_ ? before_publish_(*snapshot) : nlohmann::json::object();
    store_.set(snapshot);
    metrics_.record_reload(true, trigger, snapshot->version);
    nlohmann::json line = {{"event", "model_reloaded"},
                           {"trigger", trigger},
                           {"model_dir", snapshot->resolved_directory},
                           {"version", snapshot->version},
                           {"previous_version", previous ? previous->version : ""},
                           {"load_seconds", snapshot->load_seconds},
                           {"users", snapshot->users},
                           {"videos", snapshot->videos}};
    line.update(bound);
    log_.write(line);
    return true;
  } catch (const std::exception& error) {
    metrics_.record_reload(false, trigger);
    log_.write({{"level", "error"},
                {"event", "model_reload_failed"},
                {"trigger", trigger},
                {"model_dir", config_.model_dir},
                {"error", error.what()},
                {"serving_version", previous ? previous->version : ""}});
    return false;
  }
}

void ModelLifecycle::watch_signals(const sigset_t& signals, const std::function<void()>& on_reload_signal) {
  const timespec tick{0, 200 * 1000 * 1000};
  while (!shutting_down()) {
    int signal = sigtimedwait(&signals, nullptr, &tick);
    if (signal <= 0) signal = take_noted_signal();
    if (signal == SIGTERM || signal == SIGINT) {
      log_.write({{"event", "stopping"}, {"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
      request_stop();
    } else if (signal == SIGHUP) {
      if (on_reload_signal) on_reload_signal();
      watcher_.request();
    }
  }
}

void ModelLifecycle::request_stop() {
  std::lock_guard lock(mutex_);
  stop_requested_ = true;
  changed_.notify_all();
}

void ModelLifecycle::wait_for_stop_request() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return stop_requested_; });
}

void ModelLifecycle::shut_down() {
  {
    std::lock_guard lock(mutex_);
    shutting_down_ = true;
    changed_.notify_all();
  }
  watcher_.stop();
}

bool ModelLifecycle::shutting_down() {
  std::lock_guard lock(mutex_);
  return shutting_down_;
}

}  // namespace vr::http
