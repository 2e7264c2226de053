// What the fuzz targets share: a check that aborts with a message (libFuzzer records the input
// as a crash), and the rule that a rejected input must carry the documented error.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace vr::fuzz {

// Aborts with `what` when `condition` is false. Used for properties, not for expected errors.
inline void check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "fuzz property violated: %s\n", what);
    std::abort();
  }
}

// A rejection message must name the input it came from (the documented error format).
inline void check_names_source(const std::string& message, std::string_view source_name) {
  if (message.find(source_name) == std::string::npos) {
    std::fprintf(stderr, "error message does not name '%.*s': %s\n", static_cast<int>(source_name.size()),
                 source_name.data(), message.c_str());
    std::abort();
  }
}

}  // namespace vr::fuzz
