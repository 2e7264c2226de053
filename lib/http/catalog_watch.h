// vr-serve's catalog (videos.csv, vr/catalog.h): loaded at start-up, then reloaded on its own
// thread when the file changes (polled every interval) or on request (SIGHUP), without touching
// the model. A reload swaps the whole catalog at once; a file that does not parse is logged
// and the previous catalog keeps answering.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "change_watch.h"
#include "vr/catalog_store.h"
#include "vr/service.h"

namespace vr::http {

class CatalogWatcher {
 public:
  using Log = std::function<void(const nlohmann::json&)>;
  using CurrentModel = std::function<std::shared_ptr<const ModelSnapshot>()>;

  // `path` empty = no catalog (every call below then does nothing). `interval_seconds` <= 0
  // watches only for request_reload(). `current_model` gives the model being served, whose
  // rules are built right after each load so that requests never wait for them.
  CatalogWatcher(std::string path, double interval_seconds, Log log, CurrentModel current_model);
  ~CatalogWatcher();
  CatalogWatcher(const CatalogWatcher&) = delete;
  CatalogWatcher& operator=(const CatalogWatcher&) = delete;

  bool enabled() const { return !path_.empty(); }
  // Loads the catalog for the first time. Throws (InvalidInput naming file, line and field,
  // IoError) when it is missing or broken: vr-serve then does not start.
  void load_first();
  // Starts the watching thread; stop() (or the destructor) ends it.
  void start();
  void stop();
  // Reloads now, whether or not the file changed (SIGHUP).
  void request_reload();

  // Binds the current catalog to `snapshot`, a model about to be published (the first one and
  // each reload), so that its first request finds the rules ready. Returns what to add to the
  // model's load line: the catalog's version and how many of its videos the model does not
  // know and knows ({} without a catalog); logs a warning when the model knows none of them.
  nlohmann::json bind(const ModelSnapshot& snapshot);

  // What a request is answered with: the current catalog's rules for `snapshot` at the clock's
  // time; rules null when there is no catalog.
  CatalogContext context_for(const ModelSnapshot& snapshot) const;
  // The current catalog's version ("" without one), for the X-Catalog-Version header.
  std::string version() const;
  // Prometheus lines (vr_catalog_*) for /metrics; "" without a catalog.
  std::string render_metrics(const ModelSnapshot* snapshot) const;

 private:
  // Loads the file and swaps it in; logs and counts a failure, keeping the old catalog, and
  // then returns false.
  bool reload(const std::string& trigger);

  std::string path_;
  double interval_seconds_;
  Log log_;
  CurrentModel current_model_;
  CatalogStore store_;
  std::string first_fingerprint_;  // the file as load_first() found it
  ChangeWatcher watcher_;          // of the file, run on thread_
  std::thread thread_;

  mutable std::mutex counters_mutex_;
  std::uint64_t reloads_ok_ = 0;
  std::uint64_t reloads_failed_ = 0;
  double loaded_at_unix_ = 0;
  std::string last_error_;
};

}  // namespace vr::http
