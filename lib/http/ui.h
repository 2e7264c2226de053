// vr-serve's dashboard: GET /ui (one page, its script and style, all built into the binary, so
// it works offline) and the read-only JSON it reads under /ui/api/:
//   model              the model card (vr/dashboard.h)
//   live               the last minutes of traffic per route and the reload history
//   user?id=ID&k=K     a user's history and recommendations with explanations
//   video?id=ID&k=K    a video's most similar videos and how often it is recommended
// Unknown ids answer 404 {"detail": ...}; nothing answered holds a file path.
#pragma once

#include <functional>
#include <memory>

#include "metrics.h"
#include "vr/dashboard.h"
#include "vr/service.h"

namespace httplib {
class Server;
}

namespace vr::http {

// Where the dashboard reads from; everything it points at outlives the server.
struct UiSources {
  std::function<std::shared_ptr<const ModelSnapshot>()> model;  // null while loading
  const Metrics* metrics = nullptr;
  std::shared_ptr<const VideoTitles> titles;                    // null: no titles configured
  ScoringGate* gate = nullptr;                                  // taken while scoring
};

// The path every dashboard route starts with (a bounded metrics label).
inline constexpr const char* kUiPath = "/ui";

// Registers the dashboard's routes on `server`.
void register_ui(httplib::Server& server, UiSources sources);

}  // namespace vr::http
