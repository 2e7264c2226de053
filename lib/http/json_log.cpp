#include "json_log.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <limits>
#include <utility>

namespace vr::http {

namespace {

using nlohmann::json;

// Appends `text` to `out` as a JSON string. Invalid UTF-8 (a path is whatever the client sent)
// is replaced, never thrown.
void append_json_string(std::string& out, std::string_view text) {
  const bool plain = std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\'; });
  if (plain) {
    out += '"';
    out += text;
    out += '"';
  } else {
    out += json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::replace);
  }
}

}  // namespace

// The time now as ISO 8601 UTC with milliseconds. Every logged request asks: the date and time
// part is formatted once a second per thread, as snprintf and gmtime_r took a tenth of a plain
// request's own CPU time.
std::string utc_now() {
  const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const int millis =
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count());
  thread_local std::time_t formatted_second = std::numeric_limits<std::time_t>::min();
  thread_local std::array<char, 96> formatted{};  // room for the widest ints GCC's -Wformat-truncation assumes
  thread_local std::size_t formatted_size = 0;
  const std::time_t second = static_cast<std::time_t>(seconds.count());
  if (second != formatted_second) {
    std::tm parts{};
    gmtime_r(&second, &parts);
    const int written = std::snprintf(formatted.data(), formatted.size(), "%04d-%02d-%02dT%02d:%02d:%02d",
                                      parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour,
                                      parts.tm_min, parts.tm_sec);
    formatted_size = written > 0 ? std::min(static_cast<std::size_t>(written), formatted.size() - 1) : 0;
    formatted_second = second;
  }
  std::string text(formatted.data(), formatted_size);
  const char fraction[] = {'.', static_cast<char>('0' + millis / 100), static_cast<char>('0' + millis / 10 % 10),
                           static_cast<char>('0' + millis % 10), 'Z'};
  text.append(fraction, sizeof fraction);
  return text;
}

JsonLog::JsonLog() {
  // The writer starts with every signal blocked: SIGTERM, SIGINT and SIGHUP belong to the
  // server's signal thread, and a thread that left them unblocked would take them (and die of
  // SIGTERM's default action) before the server blocks them in run().
  sigset_t all;
  sigset_t previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  writer_ = std::thread([this] { write_loop(); });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

JsonLog::~JsonLog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  writer_.join();
}

void JsonLog::drain() {
  std::unique_lock lock(mutex_);
  draining_ = true;
  wake_.notify_all();
  drained_.wait(lock, [this] { return queued_.empty() && !writing_; });
  draining_ = false;
}

void JsonLog::write(const json& line) {
  json out = {{"time", utc_now()}};
  out.update(line);
  emit(out.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
}

void JsonLog::write_request(const RequestLogLine& request) {
  std::string text;
  text.reserve(256 + request.path.size());
  std::array<char, 64> number{};
  text += R"({"bytes":)";
  text += std::to_string(request.bytes);
  text += R"(,"duration_ms":)";
  text.append(number.data(),
              nlohmann::detail::to_chars(number.data(), number.data() + number.size(), request.duration_ms));
  text += R"(,"event":"request","method":)";
  append_json_string(text, request.method);
  if (!request.model_version.empty()) {
    text += R"(,"model_version":)";
    append_json_string(text, request.model_version);
  }
  text += R"(,"path":)";
  append_json_string(text, request.path);
  text += R"(,"remote":)";
  append_json_string(text, request.remote);
  text += R"(,"status":)";
  text += std::to_string(request.status);
  text += R"(,"time":)";
  append_json_string(text, utc_now());
  text += "}\n";
  emit(text);
}

void JsonLog::emit(const std::string& text) {
  bool was_empty = false;
  {
    std::lock_guard lock(mutex_);
    if (queued_.size() + text.size() > kMaxQueuedBytes) {
      ++dropped_;
      return;
    }
    was_empty = queued_.empty();
    queued_ += text;
  }
  // Only the first line of a batch wakes the writer; it then gathers the rest itself.
  if (was_empty) wake_.notify_one();
}

void JsonLog::write_loop() {
  std::string writing;
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queued_.empty(); });
    if (queued_.empty() && stopping_) return;
    // Gather for a moment: one write per batch, and the request threads' notify finds no
    // waiter (no wake-up, no system call) while this thread sleeps here.
    wake_.wait_for(lock, kGatherTime, [this] { return stopping_ || draining_; });
    writing.swap(queued_);
    std::uint64_t dropped = std::exchange(dropped_, 0);
    writing_ = true;
    lock.unlock();
    if (dropped > 0) {
      writing += json{{"time", utc_now()}, {"level", "warning"}, {"event", "log_lines_dropped"}, {"count", dropped}}.dump() + "\n";
    }
    std::fwrite(writing.data(), 1, writing.size(), stderr);
    std::fflush(stderr);
    writing.clear();
    lock.lock();
    writing_ = false;
    if (queued_.empty()) drained_.notify_all();
  }
}

}  // namespace vr::http
