// vr-serve's log: one JSON object per line on stderr (events and the access log).
//
// Lines are queued in memory and written by one writer thread, whole lines only, so they
// never interleave, and a request thread never waits for stderr: a log file on a busy disk
// (dirty-page throttling stalls a write for 100 ms and more) or a slow log collector must not
// become every request's latency. A line reaches stderr within microseconds when it is not
// blocked; if it is blocked for so long that 16 MiB are queued, further lines are dropped and a
// "log_lines_dropped" line says how many.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

namespace vr::http {

// The time now as ISO 8601 UTC with milliseconds, e.g. "2026-12-01T18:45:35.123Z".
std::string utc_now();

// What the access log says about one answered request.
struct RequestLogLine {
  std::string_view method;
  std::string_view path;
  std::string_view remote;
  int status = 0;
  std::size_t bytes = 0;
  double duration_ms = 0.0;
  std::string_view model_version;  // "" = not written
};

class JsonLog {
 public:
  JsonLog();
  ~JsonLog();
  JsonLog(const JsonLog&) = delete;
  JsonLog& operator=(const JsonLog&) = delete;

  // One event line: {"time": now} merged with `line`'s keys.
  void write(const nlohmann::json& line);

  // The access log line of one request, written without building a JSON object (it is written
  // for every request): the same keys, in the same order, as write() would give them.
  void write_request(const RequestLogLine& request);

  // Blocks until every line queued so far is written (for an exit that skips destructors).
  void drain();

 private:
  static constexpr std::size_t kMaxQueuedBytes = std::size_t{16} << 20;
  static constexpr std::chrono::milliseconds kGatherTime{2};

  void emit(const std::string& text);
  void write_loop();

  std::mutex mutex_;
  std::condition_variable wake_;     // lines queued, or stopping
  std::condition_variable drained_;  // the queue was written out
  std::string queued_;
  std::uint64_t dropped_ = 0;
  bool writing_ = false;
  bool draining_ = false;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace vr::http
