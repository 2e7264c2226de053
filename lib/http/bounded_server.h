// A cpp-httplib server whose connections hold a thread only while a whole request head has
// arrived and is being answered, with bounds on every request's head and time.
//
// cpp-httplib 0.11 gives each connection a pool thread for its whole life and reads it with a
// timeout per recv() and no limit on the number of headers: 128 clients trickling a byte every
// few seconds held all 128 threads (and /ping with them), and 20,000 headers were all stored.
// Here one thread watches every connection (epoll): it reads each request head into a bounded
// buffer, answers 414/431 when the head breaks a limit (400 when it is not HTTP at all) and 408
// when the request does not arrive within its deadline, and hands only complete heads to the
// worker pool, where the library's own request processing reads the body and answers. An idle keep-alive connection
// goes back to the watcher between requests. A GET /ping without a body finds a spare thread
// when every worker is busy (slow bodies, slow scoring), so the health check always answers.
#pragma once

#include <httplib.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace vr::http {

// Bounds on one request, enforced before it reaches the routes.
struct RequestLimits {
  std::size_t max_request_line_bytes = 8192;     // request line (method, path, version); longer: 414
  std::size_t max_header_line_bytes = 8192;      // one header line; longer: 431
  std::size_t max_header_count = 100;            // header lines; more: 431
  std::size_t max_header_bytes = 64 * 1024;      // request line plus headers; more: 431
};

class BoundedServer : public httplib::Server {
 public:
  // Called for every request refused before routing (400, 408, 414, 431): its status, the detail
  // sent to the client, and the client's address.
  using RejectionLogger = std::function<void(int status, const std::string& detail, const std::string& remote)>;

  BoundedServer();
  ~BoundedServer() override;

  // Set before listening. The deadline of a whole request (head and body, from its first byte)
  // is the library's read timeout (set_read_timeout), the idle time allowed between requests
  // its keep-alive timeout, the answers' send timeout its write timeout.
  void set_request_limits(const RequestLimits& limits);
  // Threads answering requests (>= 1); a request holds one from its complete head to its answer.
  void set_worker_threads(int threads);
  void set_rejection_logger(RejectionLogger logger);

  // Idle connections (nothing of a next request received) closed when the server stopped.
  std::size_t idle_connections_closed_at_stop() const;

  class Watcher;

 private:
  // Called by the library's accept loop, on its thread: the connection goes to the watcher.
  bool process_and_close_socket(socket_t sock) override;

  RequestLimits limits_;
  int worker_threads_ = 8;
  RejectionLogger rejection_logger_;
  std::unique_ptr<Watcher> watcher_;
};

// Whether the request being answered on this thread ran out of its deadline while its body
// was read (the handler then answers 408 rather than blaming a short body).
bool request_deadline_passed();

}  // namespace vr::http
