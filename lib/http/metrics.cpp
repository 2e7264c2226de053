#include "metrics.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <sstream>

namespace vr::http {

namespace {

// Label values are paths and ids of our own making, but escape them as the format requires.
// The last component of a directory path ("/opt/ml/model" -> "model"). /metrics is scraped by
// systems and people with no business knowing the host's file system layout; the name still
// tells releases apart ("current" resolved to "2026-11-30").
std::string directory_name(const std::string& path) {
  std::filesystem::path directory(path);
  if (!directory.has_filename()) directory = directory.parent_path();
  return directory.filename().string();
}

std::string escape_label(const std::string& value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

void Metrics::record(const std::string& route, int status, double seconds) {
  std::lock_guard lock(mutex_);
  ++requests_[{route, status}];
  Histogram& histogram = latency_[route];
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) {
      ++histogram.buckets[i];
      break;
    }
  }
  ++histogram.count;
  histogram.sum += seconds;
  recent_.record(route, status, seconds, unix_now());
}

void Metrics::record_reload(bool succeeded, const std::string& trigger, const std::string& version) {
  {
    std::lock_guard lock(mutex_);
    ++(succeeded ? reloads_ok_ : reloads_failed_);
  }
  recent_.record_reload({static_cast<std::int64_t>(unix_now()), succeeded, trigger, version});
}

void Metrics::record_first_load(const std::string& version) {
  recent_.record_reload({static_cast<std::int64_t>(unix_now()), true, "start-up", version});
}

nlohmann::json Metrics::recent() const { return recent_.window(unix_now(), started_unix_); }

double Metrics::unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void Metrics::record_answers(std::size_t precomputed, std::size_t scored, std::size_t popular) {
  if (popular != 0) answers_popular_.fetch_add(popular, std::memory_order_relaxed);
  if (precomputed != 0) answers_precomputed_.fetch_add(precomputed, std::memory_order_relaxed);
  if (scored != 0) answers_scored_.fetch_add(scored, std::memory_order_relaxed);
}

namespace {

// One gauge with its HELP and TYPE lines.
template <typename Value>
void write_gauge(std::ostream& out, const char* name, const char* help, const Value& value) {
  out << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n" << name << " " << value << "\n";
}

}  // namespace

std::string Metrics::render(const ModelGauges& model) const {
  std::ostringstream out;
  out.precision(17);
  std::lock_guard lock(mutex_);
  out << "# HELP vr_http_requests_total HTTP requests answered, by route and status.\n"
         "# TYPE vr_http_requests_total counter\n";
  for (const auto& [key, count] : requests_) {
    out << "vr_http_requests_total{route=\"" << escape_label(key.first) << "\",status=\"" << key.second << "\"} "
        << count << "\n";
  }
  out << "# HELP vr_http_request_duration_seconds Time from routing a request to writing its response.\n"
         "# TYPE vr_http_request_duration_seconds histogram\n";
  for (const auto& [route, histogram] : latency_) {
    const std::string label = escape_label(route);
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += histogram.buckets[i];
      char bound[32];
      std::snprintf(bound, sizeof bound, "%g", kBuckets[i]);
      out << "vr_http_request_duration_seconds_bucket{route=\"" << label << "\",le=\"" << bound << "\"} "
          << cumulative << "\n";
    }
    out << "vr_http_request_duration_seconds_bucket{route=\"" << label << "\",le=\"+Inf\"} " << histogram.count << "\n";
    out << "vr_http_request_duration_seconds_sum{route=\"" << label << "\"} " << histogram.sum << "\n";
    out << "vr_http_request_duration_seconds_count{route=\"" << label << "\"} " << histogram.count << "\n";
  }
  out << "# HELP vr_model_reloads_total Model reload attempts, by result.\n"
         "# TYPE vr_model_reloads_total counter\n"
      << "vr_model_reloads_total{result=\"ok\"} " << reloads_ok_ << "\n"
      << "vr_model_reloads_total{result=\"failed\"} " << reloads_failed_ << "\n";
  out << "# HELP vr_invocation_answers_total Answers to /invocations requests (each of a batch counts), by source: "
         "the precomputed table or scoring the catalog.\n"
         "# TYPE vr_invocation_answers_total counter\n"
      << "vr_invocation_answers_total{source=\"precomputed\"} " << answers_precomputed_.load() << "\n"
      << "vr_invocation_answers_total{source=\"scored\"} " << answers_scored_.load() << "\n";
  if (show_popular_) out << "vr_invocation_answers_total{source=\"popular\"} " << answers_popular_.load() << "\n";
  write_gauge(out, "vr_model_ready", "1 once a model is loaded and served.", model.ready ? 1 : 0);
  if (model.ready) {
    out << "# HELP vr_model_info The model being served (its version is als_model.bin's checksum).\n"
           "# TYPE vr_model_info gauge\n"
        << "vr_model_info{version=\"" << escape_label(model.version) << "\",directory=\""
        << escape_label(directory_name(model.directory)) << "\"} 1\n";
    write_gauge(out, "vr_model_load_seconds", "Time taken to load the model being served.", model.load_seconds);
    write_gauge(out, "vr_model_loaded_timestamp_seconds", "When the model being served was loaded (Unix time).",
                model.loaded_at_unix);
    write_gauge(out, "vr_model_users", "Users the model knows.", model.users);
    write_gauge(out, "vr_model_videos", "Videos the model knows.", model.videos);
    write_gauge(out, "vr_scan_searches", "Top-k searches of the catalog since the model was loaded.",
                model.scan_queries);
    write_gauge(out, "vr_scan_videos_scored", "Video scores those searches computed (the rest were pruned).",
                model.scan_videos_scored);
    write_gauge(out, "vr_scan_share",
                "Share of the catalog the searches scored since the model was loaded (1 = full scans).",
                model.scan_catalog_videos == 0
                    ? 0.0
                    : static_cast<double>(model.scan_videos_scored) / static_cast<double>(model.scan_catalog_videos));
    write_gauge(out, "vr_precomputed_ready", "1 once the served model's table of every user's top videos is ready.",
                model.precomputed ? 1 : 0);
    if (model.precomputed) {
      write_gauge(out, "vr_precomputed_depth", "Videos per user in the precomputed table (larger k is scored).",
                  model.precomputed_depth);
      write_gauge(out, "vr_precomputed_bytes", "Memory taken by the precomputed table.", model.precomputed_bytes);
      write_gauge(out, "vr_precomputed_seconds", "Time taken to compute the precomputed table.",
                  model.precomputed_seconds);
    }
  }
  return out.str();
}

}  // namespace vr::http
