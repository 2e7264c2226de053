// The server's own TCP connections, found by their file descriptors: cpp-httplib 0.11 does
// not expose its sockets, and stopping needs to reach the idle ones.
#pragma once

#include <set>

namespace vr::http {

// Shuts for reading every idle connection to local `port` that this process holds, adding its
// descriptor to `shut` (descriptors already there are skipped).
//
// Why: cpp-httplib 0.11 waits for a kept-alive connection's next request without looking at
// whether the server is stopping, so each idle connection held the exit for up to
// --keep-alive-timeout (and SageMaker sends SIGKILL 30 s after SIGTERM). Shut for reading, the
// waiting worker sees the end of the stream at once and closes the connection.
//
// Idle means the client has sent nothing yet, or our answer was the last data on it. A client
// that has sent data since our last answer (or before any answer) is mid-request: it is left
// to finish within the read timeout. Data already received stays readable after the shutdown,
// so a next request sent in the same clock tick as our answer is still read, unless it arrives
// in pieces.
void shut_idle_connections(int port, std::set<int>& shut);

}  // namespace vr::http
