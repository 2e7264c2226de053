// This file includes httplib.h and must never include Eigen (see server.cpp).
#include "bounded_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

#include "vr/service.h"

namespace vr::http {

namespace {

using Clock = std::chrono::steady_clock;

thread_local bool deadline_passed_on_this_thread = false;

// How often deadlines are checked: a request may overrun its deadline by this much.
constexpr std::chrono::milliseconds kSweepInterval{50};
// After an error answer sent before the whole request was read, what the client still sends is
// read and dropped for this long (or until it closes): closing with unread data would reset
// the connection, and a client still sending could lose the answer.
constexpr std::chrono::seconds kLingerTime{2};
constexpr std::size_t kReadChunk = 16 * 1024;
// How long a worker waits for a connection's next request before handing the connection back
// to the watcher. A keep-alive client's next request usually follows its answer within a
// millisecond or two; the trip through the watcher (two thread wake-ups) cost about 40% of
// /ping's requests/s on 2 cores. Bounded, so idle connections cannot hold the workers.
constexpr std::chrono::milliseconds kWorkerKeepTime{20};

// Waits until `fd` is ready for `events` or `deadline` passes; whether it is ready.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left < 0) return false;
    pollfd target{fd, events, 0};
    const int ready = ::poll(&target, 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return false;
  }
}

std::string address_text(const sockaddr_storage& address) {
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (address.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(address).sin_addr, text.data(), text.size());
  } else if (address.ss_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(address).sin6_addr, text.data(), text.size());
  }
  return text.data();
}

int address_port(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port);
  if (address.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(address).sin6_port);
  return 0;
}

void peer_address(int fd, bool local, std::string& ip, int& port) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  const int got = local ? ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length)
                        : ::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length);
  if (got != 0) return;
  ip = address_text(address);
  port = address_port(address);
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(text[i]) != lower(prefix[i])) return false;
  }
  return true;
}

// One client connection, owned by the watcher while it waits and by a worker while answered.
struct Connection {
  int fd = -1;
  std::string buffer;           // received, not yet consumed by a request
  // The head scan of the request at the front of `buffer`.
  std::size_t scanned = 0;      // bytes looked at
  std::size_t line_start = 0;   // where the line being scanned starts
  std::size_t lines = 0;        // complete lines (the request line included)
  bool mid_request = false;     // bytes of a request have arrived since the last answer
  bool lingering = false;       // answered with an error; reading and dropping until closed
  Clock::time_point deadline;   // of the request, of the idle wait, or of the lingering
  std::size_t answered = 0;     // requests answered on this connection

  void start_next_request(std::chrono::seconds idle_timeout, std::chrono::microseconds request_timeout) {
    scanned = line_start = lines = 0;
    // Line ends left over by a request the library refused before reading its headers start
    // no next request.
    buffer.erase(0, std::min(buffer.size(), buffer.find_first_not_of("\r\n")));
    mid_request = !buffer.empty();
    deadline = Clock::now() + (mid_request ? std::chrono::duration_cast<Clock::duration>(request_timeout)
                                           : std::chrono::duration_cast<Clock::duration>(idle_timeout));
  }
};

// What the scan of a request head found.
struct HeadScan {
  enum class Result { Incomplete, Complete, Refused } result = Result::Incomplete;
  int status = 0;      // when refused: 400, 414 or 431
  std::string detail;  // when refused: why
};

HeadScan refuse(int status, std::string detail) {
  return HeadScan{HeadScan::Result::Refused, status, std::move(detail)};
}

// Scans what arrived of the request head at the front of the connection's buffer, from where
// the last scan stopped, against the limits. Lines end with LF (CRLF counts as LF) and the
// head with an empty line, as cpp-httplib reads them.
HeadScan scan_head(Connection& connection, const RequestLimits& limits) {
  std::string& buffer = connection.buffer;
  if (connection.lines == 0 && connection.line_start == 0) {
    // Empty lines before a request line are ignored (RFC 9112 2.2).
    const std::size_t first = buffer.find_first_not_of("\r\n");
    buffer.erase(0, first == std::string::npos ? buffer.size() : first);
    connection.scanned = 0;
    // Every method starts with a capital letter: anything else (a TLS handshake on this plain
    // port, binary noise) is refused at once rather than waited on until the deadline.
    if (!buffer.empty() && !(buffer[0] >= 'A' && buffer[0] <= 'Z')) {
      return refuse(400, "Bad Request: not an HTTP/1.1 request (this port does not speak TLS)");
    }
  }
  const std::string too_large = "Request header fields too large: ";
  for (; connection.scanned < buffer.size(); ++connection.scanned) {
    if (buffer[connection.scanned] != '\n') continue;
    std::size_t length = connection.scanned - connection.line_start;
    if (length > 0 && buffer[connection.scanned - 1] == '\r') --length;
    connection.line_start = connection.scanned + 1;
    if (length == 0) {
      ++connection.scanned;
      if (connection.scanned > limits.max_header_bytes) {
        return refuse(431, too_large + "the request head is larger than " + std::to_string(limits.max_header_bytes) +
                               " bytes");
      }
      return HeadScan{HeadScan::Result::Complete, 0, {}};
    }
    ++connection.lines;
    if (connection.lines == 1 && length > limits.max_request_line_bytes) {
      return refuse(414, "URI too long: the request line is longer than " +
                             std::to_string(limits.max_request_line_bytes) + " bytes");
    }
    if (connection.lines > 1 && length > limits.max_header_line_bytes) {
      return refuse(431, too_large + "a header line is longer than " + std::to_string(limits.max_header_line_bytes) +
                             " bytes");
    }
    if (connection.lines - 1 > limits.max_header_count) {
      return refuse(431, too_large + "more than " + std::to_string(limits.max_header_count) + " headers");
    }
  }
  const std::size_t partial = buffer.size() - connection.line_start;
  if (connection.lines == 0 && partial > limits.max_request_line_bytes) {
    return refuse(414, "URI too long: the request line is longer than " +
                           std::to_string(limits.max_request_line_bytes) + " bytes");
  }
  if (connection.lines > 0 && partial > limits.max_header_line_bytes) {
    return refuse(431, too_large + "a header line is longer than " + std::to_string(limits.max_header_line_bytes) +
                           " bytes");
  }
  if (buffer.size() > limits.max_header_bytes) {
    return refuse(431, too_large + "the request head is larger than " + std::to_string(limits.max_header_bytes) +
                           " bytes");
  }
  return HeadScan{};
}

// A complete error answer, JSON as every other error: {"detail": ...}.
std::string error_answer(int status, const std::string& detail) {
  const std::string body = nlohmann::json{{"detail", detail}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return "HTTP/1.1 " + std::to_string(status) + " " + vr::reason_phrase(status) +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

// A connection's socket as cpp-httplib's request processing reads and writes it: first the
// bytes the watcher already received, then the socket, but never past the request's deadline.
class DeadlineStream final : public httplib::Stream {
 public:
  DeadlineStream(Connection& connection, std::chrono::microseconds write_timeout)
      : connection_(connection), write_timeout_(write_timeout) {}

  bool is_readable() const override {
    return offset_ < connection_.buffer.size() || wait_for(connection_.fd, POLLIN, connection_.deadline);
  }
  bool is_writable() const override {
    return wait_for(connection_.fd, POLLOUT, Clock::now() + write_timeout_);
  }

  ssize_t read(char* ptr, size_t size) override {
    std::string& buffer = connection_.buffer;
    if (offset_ == buffer.size()) {
      buffer.clear();
      offset_ = 0;
      if (!wait_for(connection_.fd, POLLIN, connection_.deadline)) {
        if (Clock::now() >= connection_.deadline) deadline_passed_on_this_thread = true;
        return -1;
      }
      // Read ahead in chunks: the library reads chunk-size lines a byte at a time.
      buffer.resize(std::max(kReadChunk, size));
      ssize_t got;
      do {
        got = ::recv(connection_.fd, buffer.data(), buffer.size(), 0);
      } while (got < 0 && errno == EINTR);
      buffer.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
      if (got <= 0) return got;
    }
    const std::size_t count = std::min(size, buffer.size() - offset_);
    std::memcpy(ptr, buffer.data() + offset_, count);
    offset_ += count;
    consumed_ += count;
    return static_cast<ssize_t>(count);
  }

  ssize_t write(const char* ptr, size_t size) override {
    const std::string_view data(ptr, size);
    if (data.rfind("HTTP/1.", 0) == 0 && data.find("\r\nConnection: close\r\n") != std::string_view::npos) {
      said_close_ = true;
    }
    if (!is_writable()) return -1;
    ssize_t sent;
    do {
      sent = ::send(connection_.fd, ptr, size, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    return sent;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { peer_address(connection_.fd, false, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { peer_address(connection_.fd, true, ip, port); }
  socket_t socket() const override { return connection_.fd; }

  // Drops the bytes consumed from the connection's buffer: what is left is the next request's.
  void keep_unread() {
    connection_.buffer.erase(0, offset_);
    offset_ = 0;
  }
  // Whether an answer told the client the connection closes.
  bool said_close() const { return said_close_; }
  // Bytes the library has read through this stream.
  std::size_t consumed() const { return consumed_; }

 private:
  Connection& connection_;
  std::chrono::microseconds write_timeout_;
  std::size_t offset_ = 0;
  std::size_t consumed_ = 0;
  bool said_close_ = false;
};

}  // namespace

bool request_deadline_passed() { return deadline_passed_on_this_thread; }

// The one thread that watches every connection between requests, and the worker pools.
class BoundedServer::Watcher {
 public:
  Watcher(BoundedServer& server, const RequestLimits& limits, int worker_threads)
      : server_(server),
        limits_(limits),
        worker_threads_(std::max(1, worker_threads)),
        workers_(static_cast<std::size_t>(worker_threads_)),
        spare_(1),
        epoll_(::epoll_create1(EPOLL_CLOEXEC)),
        wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = wake_;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &event);
    thread_ = std::thread([this] { run(); });
  }

  ~Watcher() {
    stop();
    ::close(epoll_);
    ::close(wake_);
  }

  // A new connection, or one whose request was answered: watched until its next request head.
  void watch(std::unique_ptr<Connection> connection) {
    {
      std::lock_guard lock(mutex_);
      incoming_.push_back(std::move(connection));
    }
    wake();
  }

  // Closes the idle connections, lets those mid-request finish (or time out), and returns once
  // every connection is closed and every worker has finished.
  void stop() {
    if (stopped_) return;
    stopping_.store(true);
    wake();
    thread_.join();
    workers_.shutdown();
    spare_.shutdown();
    stopped_ = true;
  }

  std::size_t idle_closed_at_stop() const { return idle_closed_at_stop_.load(); }

 private:
  void wake() {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto written = ::write(wake_, &one, sizeof one);
  }

  bool stopping() const { return stopping_.load(); }

  std::chrono::microseconds request_timeout() const {
    return std::chrono::seconds(server_.read_timeout_sec_) + std::chrono::microseconds(server_.read_timeout_usec_);
  }
  std::chrono::seconds idle_timeout() const { return std::chrono::seconds(server_.keep_alive_timeout_sec_); }

  void run() {
    std::array<epoll_event, 256> events{};
    auto next_sweep = Clock::now() + kSweepInterval;
    bool closed_idle = false;
    for (;;) {
      const int ready = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()),
                                     static_cast<int>(kSweepInterval.count()));
      for (int i = 0; i < ready; ++i) {
        if (events[static_cast<std::size_t>(i)].data.fd == wake_) {
          std::uint64_t count = 0;
          [[maybe_unused]] const auto got = ::read(wake_, &count, sizeof count);
          take_incoming();
          continue;
        }
        const auto found = watched_.find(events[static_cast<std::size_t>(i)].data.fd);
        if (found != watched_.end()) on_readable(found);
      }
      const bool stop_now = stopping();
      if (stop_now && !closed_idle) {
        // Idle connections would hold the exit for the keep-alive timeout.
        for (auto it = watched_.begin(); it != watched_.end();) {
          if (!it->second->mid_request && !it->second->lingering) {
            ++idle_closed_at_stop_;
            it = close(it);
          } else {
            ++it;
          }
        }
        closed_idle = true;
      }
      const auto now = Clock::now();
      if (now >= next_sweep) {
        sweep(now);
        next_sweep = now + kSweepInterval;
      }
      if (stop_now && watched_.empty() && in_workers_.load() == 0) {
        std::lock_guard lock(mutex_);
        if (incoming_.empty()) return;
      }
    }
  }

  using Watched = std::unordered_map<int, std::unique_ptr<Connection>>;

  void take_incoming() {
    std::deque<std::unique_ptr<Connection>> arrived;
    {
      std::lock_guard lock(mutex_);
      arrived.swap(incoming_);
    }
    for (auto& connection : arrived) {
      const int fd = connection->fd;
      if (stopping() && !connection->mid_request && !connection->lingering) {
        // Answered while stopping, or accepted just before: nothing more is served on it.
        if (connection->answered > 0) ++idle_closed_at_stop_;
        close_socket(fd);
        continue;
      }
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.fd = fd;
      if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event) != 0) {
        close_socket(fd);
        continue;
      }
      const auto it = watched_.emplace(fd, std::move(connection)).first;
      // A pipelined next request may already be whole in the buffer.
      if (!it->second->buffer.empty()) examine(it);
    }
  }

  void on_readable(Watched::iterator it) {
    Connection& connection = *it->second;
    // A client flooding a lingering connection is read a bounded amount per wake-up, so the
    // other connections are not starved.
    for (int dropped_chunks = 0;;) {
      std::array<char, kReadChunk> chunk;
      const ssize_t got = ::recv(connection.fd, chunk.data(), chunk.size(), MSG_DONTWAIT);
      if (got > 0) {
        if (connection.lingering) {
          if (++dropped_chunks == 64) return;
          continue;
        }
        if (!connection.mid_request) {
          connection.mid_request = true;
          connection.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(request_timeout());
        }
        connection.buffer.append(chunk.data(), static_cast<std::size_t>(got));
        // Bounded memory: never more than the head limit and one chunk per connection.
        if (connection.buffer.size() > limits_.max_header_bytes) break;
        continue;
      }
      if (got < 0 && errno == EINTR) continue;
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      // End of stream (or an error): a client that sent its whole request and then shut its
      // sending side still gets its answer; otherwise nobody is left to answer.
      if (got == 0 && !connection.lingering && scan_head(connection, limits_).result == HeadScan::Result::Complete) {
        dispatch(it);
      } else {
        close(it);
      }
      return;
    }
    if (!connection.lingering) examine(it);
  }

  void examine(Watched::iterator it) {
    Connection& connection = *it->second;
    const HeadScan scan = scan_head(connection, limits_);
    if (scan.result == HeadScan::Result::Incomplete) return;
    if (scan.result == HeadScan::Result::Refused) {
      refuse(it, scan.status, scan.detail);
      return;
    }
    dispatch(it);
  }

  // Whether a complete head is a GET (or HEAD) /ping without a body: it may take the spare
  // thread when every worker is busy.
  static bool is_bodiless_ping(const Connection& connection) {
    const std::string_view head(connection.buffer.data(), connection.scanned);
    if (!(head.rfind("GET /ping ", 0) == 0 || head.rfind("HEAD /ping ", 0) == 0)) return false;
    std::size_t start = head.find('\n') + 1;
    while (start < head.size()) {
      const std::size_t end = head.find('\n', start);
      const std::string_view line = head.substr(start, end - start);
      if (starts_with_ignoring_case(line, "content-length:") || starts_with_ignoring_case(line, "transfer-encoding:")) {
        return false;
      }
      start = end + 1;
    }
    return true;
  }

  void dispatch(Watched::iterator it) {
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, it->first, nullptr);
    Connection* connection = it->second.release();
    watched_.erase(it);
    const bool spare = busy_workers_.load() >= worker_threads_ && is_bodiless_ping(*connection);
    ++in_workers_;
    if (spare) {
      spare_.enqueue([this, connection] { answer(std::unique_ptr<Connection>(connection)); });
    } else {
      ++busy_workers_;
      workers_.enqueue([this, connection] {
        answer(std::unique_ptr<Connection>(connection));
        --busy_workers_;
      });
    }
  }

  // On a worker: lets the library read, route and answer the request at the buffer's front,
  // then the connection's next requests while each arrives whole within kWorkerKeepTime.
  void answer(std::unique_ptr<Connection> connection) {
    for (;;) {
      deadline_passed_on_this_thread = false;
      const bool last = stopping() || connection->answered + 1 >= server_.keep_alive_max_count_;
      DeadlineStream stream(*connection, std::chrono::seconds(server_.write_timeout_sec_) +
                                             std::chrono::microseconds(server_.write_timeout_usec_));
      bool closed_by_client = false;
      const std::size_t head_bytes = connection->scanned;
      const bool answered = server_.process_request(stream, last, closed_by_client, nullptr);
      // A request line the library could not parse leaves the headers unread (it answers 400
      // at once); read as requests, each header line would get a 400 of its own.
      const bool head_left_unread = stream.consumed() < head_bytes;
      stream.keep_unread();
      ++connection->answered;
      const bool keep = answered && !closed_by_client && !last && !stream.said_close() &&
                        !deadline_passed_on_this_thread && !head_left_unread;
      if (keep) {
        connection->start_next_request(idle_timeout(), request_timeout());
        if (!stopping() && next_head_arrived(*connection)) continue;
        watch(std::move(connection));
      } else if (answered && (stream.said_close() || deadline_passed_on_this_thread || head_left_unread)) {
        // The client may still be sending what was not read (a refused body): linger.
        ::shutdown(connection->fd, SHUT_WR);
        connection->buffer.clear();
        connection->lingering = true;
        connection->deadline = Clock::now() + kLingerTime;
        watch(std::move(connection));
      } else {
        close_socket(connection->fd);
      }
      break;
    }
    --in_workers_;
    wake();  // a stopping watcher waits for the workers to finish
  }

  // Whether the connection's next request head is whole in its buffer, waiting up to
  // kWorkerKeepTime for its first bytes. A client that answers quickly (most keep-alive
  // clients) is then served on the same thread, without a trip through the watcher; anything
  // else (no request yet, a partial head, a head over the limits, the end of the stream) goes
  // back to the watcher, which scans the head again from its start.
  bool next_head_arrived(Connection& connection) {
    if (connection.buffer.empty()) {
      pollfd ready{connection.fd, POLLIN, 0};
      if (::poll(&ready, 1, static_cast<int>(kWorkerKeepTime.count())) <= 0) return false;
      std::array<char, kReadChunk> chunk;
      const ssize_t got = ::recv(connection.fd, chunk.data(), chunk.size(), MSG_DONTWAIT);
      if (got <= 0) return false;
      connection.buffer.append(chunk.data(), static_cast<std::size_t>(got));
      connection.mid_request = true;
      connection.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(request_timeout());
    }
    if (scan_head(connection, limits_).result == HeadScan::Result::Complete) return true;
    connection.scanned = connection.line_start = connection.lines = 0;
    return false;
  }

  // Answers an error before the request reached the routes, then drops what the client still
  // sends for a moment before closing.
  void refuse(Watched::iterator it, int status, const std::string& detail) {
    Connection& connection = *it->second;
    const std::string text = error_answer(status, detail);
    [[maybe_unused]] const auto sent = ::send(connection.fd, text.data(), text.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ::shutdown(connection.fd, SHUT_WR);
    if (server_.rejection_logger_) {
      std::string ip;
      int port = 0;
      peer_address(connection.fd, false, ip, port);
      server_.rejection_logger_(status, detail, ip);
    }
    connection.buffer.clear();
    connection.buffer.shrink_to_fit();
    connection.lingering = true;
    connection.deadline = Clock::now() + kLingerTime;
  }

  void sweep(Clock::time_point now) {
    for (auto it = watched_.begin(); it != watched_.end();) {
      Connection& connection = *it->second;
      if (now < connection.deadline) {
        ++it;
      } else if (connection.mid_request && !connection.lingering) {
        refuse(it, 408,
               "Request timeout: the request did not arrive within " +
                   std::to_string(std::chrono::duration_cast<std::chrono::seconds>(request_timeout()).count()) + " s");
        ++it;
      } else {
        it = close(it);
      }
    }
  }

  Watched::iterator close(Watched::iterator it) {
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, it->first, nullptr);
    close_socket(it->first);
    return watched_.erase(it);
  }

  static void close_socket(int fd) {
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
  }

  BoundedServer& server_;
  const RequestLimits limits_;
  const int worker_threads_;
  httplib::ThreadPool workers_;
  httplib::ThreadPool spare_;  // one thread for /ping when every worker is busy
  const int epoll_;
  const int wake_;
  std::thread thread_;

  std::mutex mutex_;
  std::deque<std::unique_ptr<Connection>> incoming_;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;  // stop() has run (it runs on the accept thread, then in the destructor)

  Watched watched_;  // the watcher thread's own
  std::atomic<int> busy_workers_{0};
  std::atomic<int> in_workers_{0};
  std::atomic<std::size_t> idle_closed_at_stop_{0};
};

namespace {

// The library's accept loop hands each connection to its task queue: this one passes it to the
// watcher at once (on the accept thread) and, when the loop ends, stops the watcher.
class WatcherQueue final : public httplib::TaskQueue {
 public:
  explicit WatcherQueue(BoundedServer::Watcher& watcher) : watcher_(watcher) {}
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override { watcher_.stop(); }

 private:
  BoundedServer::Watcher& watcher_;
};

}  // namespace

BoundedServer::BoundedServer() {
  new_task_queue = [this]() -> httplib::TaskQueue* {
    watcher_ = std::make_unique<Watcher>(*this, limits_, worker_threads_);
    return new WatcherQueue(*watcher_);
  };
}

BoundedServer::~BoundedServer() = default;

void BoundedServer::set_request_limits(const RequestLimits& limits) { limits_ = limits; }

void BoundedServer::set_worker_threads(int threads) { worker_threads_ = threads; }

void BoundedServer::set_rejection_logger(RejectionLogger logger) { rejection_logger_ = std::move(logger); }

std::size_t BoundedServer::idle_connections_closed_at_stop() const {
  return watcher_ ? watcher_->idle_closed_at_stop() : 0;
}

bool BoundedServer::process_and_close_socket(socket_t sock) {
  auto connection = std::make_unique<Connection>();
  connection->fd = sock;
  connection->deadline = Clock::now() + std::chrono::seconds(keep_alive_timeout_sec_);
  watcher_->watch(std::move(connection));
  return true;
}

}  // namespace vr::http
