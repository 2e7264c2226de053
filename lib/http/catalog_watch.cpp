#include "catalog_watch.h"

#include <chrono>
#include <sstream>

namespace vr::http {

using json = nlohmann::json;

CatalogWatcher::CatalogWatcher(std::string path, double interval_seconds, Log log, CurrentModel current_model)
    : path_(std::move(path)),
      interval_seconds_(interval_seconds),
      log_(std::move(log)),
      current_model_(std::move(current_model)),
      watcher_(interval_seconds_, std::chrono::milliseconds(50), "file change", [this] { return file_fingerprint(path_); },
               [this](const std::string& trigger) { return reload(trigger); }) {}

CatalogWatcher::~CatalogWatcher() { stop(); }

void CatalogWatcher::load_first() {
  if (!enabled()) return;
  first_fingerprint_ = file_fingerprint(path_);
  auto catalog = load_catalog(path_);
  store_.set(catalog);
  {
    std::lock_guard lock(counters_mutex_);
    loaded_at_unix_ = current_unix_time();
  }
  log_({{"event", "catalog_loaded"},
        {"catalog", path_},
        {"version", catalog->version},
        {"videos", catalog->videos.size()},
        {"hidden", catalog->hidden_count()}});
}

void CatalogWatcher::start() {
  if (!enabled() || thread_.joinable()) return;
  thread_ = std::thread([this] { watcher_.run(first_fingerprint_); });
}

void CatalogWatcher::stop() {
  watcher_.stop();
  if (thread_.joinable()) thread_.join();
}

void CatalogWatcher::request_reload() {
  if (!enabled()) return;
  watcher_.request();
}

bool CatalogWatcher::reload(const std::string& trigger) {
  const auto previous = store_.get();
  try {
    auto catalog = load_catalog(path_);
    store_.set(catalog);
    // Bind it to the model now, on this thread, rather than in the first request after.
    std::size_t unknown = 0;
    if (const auto model = current_model_ ? current_model_() : nullptr) {
      if (const auto rules = store_.rules_for(*model)) unknown = rules->unknown_videos();
    }
    {
      std::lock_guard lock(counters_mutex_);
      ++reloads_ok_;
      loaded_at_unix_ = current_unix_time();
      last_error_.clear();
    }
    log_({{"event", "catalog_reloaded"},
          {"trigger", trigger},
          {"catalog", path_},
          {"version", catalog->version},
          {"previous_version", previous ? previous->version : ""},
          {"videos", catalog->videos.size()},
          {"hidden", catalog->hidden_count()},
          {"unknown_to_model", unknown}});
    return true;
  } catch (const std::exception& error) {
    {
      std::lock_guard lock(counters_mutex_);
      ++reloads_failed_;
      last_error_ = error.what();
    }
    log_({{"level", "error"},
          {"event", "catalog_reload_failed"},
          {"trigger", trigger},
          {"catalog", path_},
          {"error", error.what()},
          {"serving_version", previous ? previous->version : ""}});
    return false;
  }
}

json CatalogWatcher::bind(const ModelSnapshot& snapshot) {
  if (!enabled()) return json::object();
  const auto rules = store_.rules_for(snapshot);
  if (!rules) return json::object();
  const Catalog& catalog = rules->catalog();
  if (rules->listed_videos() == 0 && !catalog.videos.empty()) {
    log_({{"level", "warning"},
          {"event", "catalog_matches_no_model_video"},
          {"catalog", path_},
          {"catalog_version", catalog.version},
          {"catalog_videos", catalog.videos.size()},
          {"model_version", snapshot.version},
          {"detail", "none of the catalog's videos is in the model: its rules leave every video eligible"}});
  }
  return {{"catalog_version", catalog.version},
          {"catalog_listed_videos", rules->listed_videos()},
          {"catalog_unknown_videos", rules->unknown_videos()}};
}

CatalogContext CatalogWatcher::context_for(const ModelSnapshot& snapshot) const {
  if (!enabled()) return {};
  return CatalogContext{store_.rules_for(snapshot), current_unix_time()};
}

std::string CatalogWatcher::version() const {
  const auto catalog = store_.get();
  return catalog ? catalog->version : std::string();
}

std::string CatalogWatcher::render_metrics(const ModelSnapshot* snapshot) const {
  if (!enabled()) return {};
  const auto catalog = store_.get();
  if (!catalog) return {};
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
  double loaded_at = 0;
  {
    std::lock_guard lock(counters_mutex_);
    ok = reloads_ok_;
    failed = reloads_failed_;
    loaded_at = loaded_at_unix_;
  }
  std::ostringstream out;
  out << "# HELP vr_catalog_info The catalog being served; version is the FNV-1a checksum of its file.\n"
      << "# TYPE vr_catalog_info gauge\n"
      << "vr_catalog_info{version=\"" << catalog->version << "\"} 1\n"
      << "# HELP vr_catalog_videos Rows in the catalog.\n"
      << "# TYPE vr_catalog_videos gauge\n"
      << "vr_catalog_videos " << catalog->videos.size() << '\n'
      << "# HELP vr_catalog_hidden_videos Catalog rows marked hidden (never recommended).\n"
      << "# TYPE vr_catalog_hidden_videos gauge\n"
      << "vr_catalog_hidden_videos " << catalog->hidden_count() << '\n';
  if (snapshot != nullptr) {
    if (const auto rules = store_.rules_for(*snapshot)) {
      out << "# HELP vr_catalog_unknown_videos Catalog rows whose video the served model does not know.\n"
          << "# TYPE vr_catalog_unknown_videos gauge\n"
          << "vr_catalog_unknown_videos " << rules->unknown_videos() << '\n'
          << "# HELP vr_catalog_ineligible_videos Model videos no request may get now (hidden or outside their window).\n"
          << "# TYPE vr_catalog_ineligible_videos gauge\n"
          << "vr_catalog_ineligible_videos "
          << [&] {
               const auto mask = rules->eligible_at(current_unix_time());
               return mask->size() - mask->eligible_count();
             }()
          << '\n';
    }
  }
  out << "# HELP vr_catalog_loaded_at_seconds When the catalog being served was loaded (Unix time).\n"
      << "# TYPE vr_catalog_loaded_at_seconds gauge\n"
      << "vr_catalog_loaded_at_seconds " << static_cast<std::int64_t>(loaded_at) << '\n'
      << "# HELP vr_catalog_reloads_total Catalog reloads after start-up, by result.\n"
      << "# TYPE vr_catalog_reloads_total counter\n"
      << "vr_catalog_reloads_total{result=\"ok\"} " << ok << '\n'
      << "vr_catalog_reloads_total{result=\"failed\"} " << failed << '\n';
  return out.str();
}

}  // namespace vr::http
