// Includes httplib.h: must never include Eigen (vr/dashboard.h and vr/service.h do not).
#include "ui.h"

#include <httplib.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "ui_assets.h"

namespace vr::http {

namespace {

// The page's own files only: scripts, styles, images and requests from this server, nothing
// inline, nothing from elsewhere; never framed.
constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

void set_static(httplib::Response& response, const std::string& body, const char* type) {
  response.set_header("Content-Security-Policy", kContentSecurityPolicy);
  response.set_header("X-Content-Type-Options", "nosniff");
  response.set_header("Cache-Control", "no-cache");
  response.set_content(body, type);
}

// k from the query, within [1, 100]; 10 when absent.
int query_k(const httplib::Request& request) {
  if (!request.has_param("k")) return 10;
  const std::string text = request.get_param_value("k");
  char* end = nullptr;
  const long k = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || k < 1 || k > 100) throw InvalidInput("k must be a whole number from 1 to 100");
  return static_cast<int>(k);
}

std::string query_id(const httplib::Request& request) {
  const std::string id = request.has_param("id") ? request.get_param_value("id") : "";
  if (id.empty()) throw InvalidInput("give an id (?id=...)");
  if (id.size() > 1024) throw InvalidInput("the id is longer than 1024 bytes");
  return id;
}

// Runs `answer` for a loaded model and sends its JSON, or the error as {"detail": ...}.
template <typename Answer>
void answer_json(const UiSources& sources, httplib::Response& response, Answer&& answer) {
  try {
    const auto snapshot = sources.model();
    if (!snapshot) throw ServiceUnavailable("Model is loading");
    response.set_content(answer(*snapshot).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                         "application/json");
  } catch (...) {
    const ErrorReply reply = error_reply(std::current_exception());
    response.status = reply.status;
    response.set_content(reply.body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                         "application/json");
  }
  response.set_header("Cache-Control", "no-store");
}

}  // namespace

void register_ui(httplib::Server& server, UiSources sources) {
  server.Get(kUiPath, [](const httplib::Request&, httplib::Response& response) {
    set_static(response, kUiHtml, "text/html; charset=utf-8");
  });
  server.Get("/ui/dashboard.js", [](const httplib::Request&, httplib::Response& response) {
    set_static(response, kUiScript, "text/javascript; charset=utf-8");
  });
  server.Get("/ui/dashboard.css", [](const httplib::Request&, httplib::Response& response) {
    set_static(response, kUiStyle, "text/css; charset=utf-8");
  });
  server.Get("/ui/api/model", [sources](const httplib::Request&, httplib::Response& response) {
    answer_json(sources, response, [](const ModelSnapshot& snapshot) { return dashboard_model(snapshot); });
  });
  server.Get("/ui/api/live", [sources](const httplib::Request&, httplib::Response& response) {
    // Traffic is shown while the model loads too.
    response.set_header("Cache-Control", "no-store");
    response.set_content(sources.metrics->recent().dump(), "application/json");
  });
  server.Get("/ui/api/user", [sources](const httplib::Request& request, httplib::Response& response) {
    answer_json(sources, response, [&](const ModelSnapshot& snapshot) {
      return dashboard_user(snapshot, query_id(request), query_k(request), 50, sources.titles.get(), sources.gate);
    });
  });
  server.Get("/ui/api/video", [sources](const httplib::Request& request, httplib::Response& response) {
    answer_json(sources, response, [&](const ModelSnapshot& snapshot) {
      return dashboard_video(snapshot, query_id(request), query_k(request), sources.titles.get(), sources.gate);
    });
  });
}

}  // namespace vr::http
