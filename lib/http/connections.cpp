#include "connections.h"

// The kernel's struct tcp_info (glibc's <netinet/tcp.h> stops before the data segment counts).
// This file must not include <netinet/tcp.h>, which httplib.h pulls in: the two define the
// same struct.
#include <arpa/inet.h>
#include <dirent.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdlib>

namespace vr::http {

namespace {

// The kernel's TCP_ESTABLISHED (include/net/tcp_states.h), which its UAPI headers leave out.
constexpr unsigned kTcpEstablished = 1;

int local_port(int fd) {
  sockaddr_storage local{};
  socklen_t length = sizeof local;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) return -1;
  if (local.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(local).sin_port);
  if (local.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(local).sin6_port);
  return -1;
}

bool is_idle(int fd) {
  tcp_info tcp{};
  socklen_t size = sizeof tcp;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &tcp, &size) != 0) return false;
  if (tcp.tcpi_state != kTcpEstablished) return false;  // the listening socket, or closing already
  if (tcp.tcpi_data_segs_in == 0) return true;          // nothing asked yet
  if (tcp.tcpi_data_segs_out == 0) return false;        // asked, not answered yet
  // Milliseconds since the last data each way (clock ticks, so equal when both fell in one):
  // the client has sent since our last answer.
  return tcp.tcpi_last_data_recv >= tcp.tcpi_last_data_sent;
}

}  // namespace

void shut_idle_connections(int port, std::set<int>& shut) {
  DIR* descriptors = ::opendir("/proc/self/fd");
  if (descriptors == nullptr) return;
  while (const dirent* entry = ::readdir(descriptors)) {
    char* end = nullptr;
    const long number = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0') continue;
    const int fd = static_cast<int>(number);
    if (fd == ::dirfd(descriptors) || shut.count(fd) != 0) continue;
    struct stat info {};
    if (::fstat(fd, &info) != 0 || !S_ISSOCK(info.st_mode)) continue;
    if (local_port(fd) != port || !is_idle(fd)) continue;
    if (::shutdown(fd, SHUT_RD) == 0) shut.insert(fd);
  }
  ::closedir(descriptors);
}

}  // namespace vr::http

#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer treats a descriptor as memory written by the thread that created it, so
// looking at connections that cpp-httplib's threads accepted reads as a data race. Nothing is
// shared but the descriptor number; the kernel serialises the calls, and a descriptor closed
// and reused meanwhile is a file (skipped) or is in `shut` already (no connection is accepted
// after the stop). Built into the binary so every way of running it under TSan agrees.
extern "C" const char* __tsan_default_suppressions() { return "race:vr::http::shut_idle_connections\n"; }
#endif
