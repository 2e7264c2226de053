// What GET /openapi.json, /docs and /redoc answer. The Swagger UI and ReDoc assets come from
// the npm packages swagger-ui-dist and redoc, copied by the build into share/vr/docs and
// served under kDocsAssetsPath, so the pages work with no internet.
#pragma once

#include <string>

namespace vr::http {

// The URL path under which the asset folder is served.
inline constexpr const char* kDocsAssetsPath = "/docs/assets";
// The title shown by both documentation pages.
inline constexpr const char* kApiTitle = "vr Video Recommender API";

// The OpenAPI 3 description of every endpoint, request and error, as JSON text.
const std::string& openapi_json();
// The Swagger UI page (loads swagger-ui-bundle.js and swagger-ui.css from the assets).
const std::string& swagger_ui_html();
// The ReDoc page (loads redoc.standalone.js from the assets).
const std::string& redoc_html();

// The asset folder to serve: `configured` if non-empty, else the first of
// <executable dir>/../share/vr/docs and the installed data dir that holds
// swagger-ui-bundle.js; empty if none does.
std::string find_docs_directory(const std::string& configured);

}  // namespace vr::http
