// The dashboard's page, script and style (lib/http/ui/), built into the binary by CMake from
// ui_assets.cpp.in.
#pragma once

namespace vr::http {

extern const char* const kUiHtml;
extern const char* const kUiScript;
extern const char* const kUiStyle;

}  // namespace vr::http
