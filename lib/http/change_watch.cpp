#include "change_watch.h"

#include <thread>
#include <utility>

namespace vr::http {

ChangeWatcher::ChangeWatcher(double interval_seconds, std::chrono::milliseconds hold_still, std::string change_trigger,
                             Fingerprint fingerprint, Load load)
    : interval_seconds_(interval_seconds),
      hold_still_(hold_still),
      change_trigger_(std::move(change_trigger)),
      fingerprint_(std::move(fingerprint)),
      load_(std::move(load)) {}

void ChangeWatcher::run(std::string loaded_fingerprint) {
  std::string failed_fingerprint;
  const auto interval = std::chrono::duration<double>(interval_seconds_);
  for (;;) {
    bool forced = false;
    {
      std::unique_lock lock(mutex_);
      const auto wake = [this] { return stopping_ || requested_; };
      if (interval_seconds_ > 0) {
        changed_.wait_for(lock, interval, wake);
      } else {
        changed_.wait(lock, wake);
      }
      if (stopping_) return;
      forced = requested_;
      requested_ = false;
    }
    const std::string fingerprint = fingerprint_();
    if (!forced) {
      if (fingerprint.empty() || fingerprint == loaded_fingerprint || fingerprint == failed_fingerprint) continue;
      // Let a writer finish: load only once the fingerprint has held still for a moment (an
      // editor rewriting a file in place; a rename into place is atomic anyway).
      std::this_thread::sleep_for(hold_still_);
      if (fingerprint_() != fingerprint) continue;
    }
    if (load_(forced ? "SIGHUP" : change_trigger_)) {
      loaded_fingerprint = fingerprint;
      failed_fingerprint.clear();
    } else {
      failed_fingerprint = fingerprint;
    }
  }
}

void ChangeWatcher::request() {
  std::lock_guard lock(mutex_);
  requested_ = true;
  changed_.notify_all();
}

void ChangeWatcher::stop() {
  std::lock_guard lock(mutex_);
  stopping_ = true;
  changed_.notify_all();
}

}  // namespace vr::http
