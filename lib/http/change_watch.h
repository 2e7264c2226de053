// Watching something on disk for changes and loading it again: vr-serve's model directory
// (lifecycle.h) and its catalog file (catalog_watch.h). run() wakes every interval, or at once
// on request() (SIGHUP); it compares a cheap fingerprint (inode, size, modification time) with
// the one loaded, skips an unchanged one and one that already failed to load (until it
// changes again), waits until a changed one has held still for a moment (a writer still at
// work), and then loads. A request loads whatever is there, changed or not.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

namespace vr::http {

class ChangeWatcher {
 public:
  // The fingerprint of what is on disk now; "" when there is nothing to load (missing).
  using Fingerprint = std::function<std::string()>;
  // Loads what is on disk now and swaps it in; `trigger` is "SIGHUP" for a request, else the
  // change_trigger given below. Returns false when it could not be loaded (the caller logs
  // why and keeps the previous one).
  using Load = std::function<bool(const std::string& trigger)>;

  // `interval_seconds` <= 0 wakes only on request(). `hold_still` is how long a changed
  // fingerprint must stay the same before loading.
  ChangeWatcher(double interval_seconds, std::chrono::milliseconds hold_still, std::string change_trigger,
                Fingerprint fingerprint, Load load);
  ChangeWatcher(const ChangeWatcher&) = delete;
  ChangeWatcher& operator=(const ChangeWatcher&) = delete;

  // Watches until stop(); `loaded_fingerprint` is the fingerprint of what is loaded now.
  void run(std::string loaded_fingerprint);
  // Makes run() load now, changed or not (also when it is called before run() starts).
  void request();
  // Ends run() (for good: a run() started after stop() returns at once).
  void stop();

 private:
  const double interval_seconds_;
  const std::chrono::milliseconds hold_still_;
  const std::string change_trigger_;
  const Fingerprint fingerprint_;
  const Load load_;

  std::mutex mutex_;
  std::condition_variable changed_;
  bool requested_ = false;
  bool stopping_ = false;
};

}  // namespace vr::http
