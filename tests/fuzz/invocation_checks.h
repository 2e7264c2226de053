// What both /invocations fuzz targets require of a failed request: the single error mapping
// answers it with a 4xx whose JSON body has a "detail" and can be written out.
#pragma once

#include <cstdio>
#include <exception>
#include <string>

#include "fuzz_common.h"
#include "vr/service.h"

inline void check_rejected_as_client_error(std::exception_ptr failure) {
  using vr::fuzz::check;
  const auto reply = vr::error_reply(failure);
  if (reply.status < 400 || reply.status >= 500) {
    std::string what = "not a std::exception";
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& error) {
      what = error.what();
    } catch (...) {
    }
    std::fprintf(stderr, "status %d: %s (%s)\n", reply.status, reply.body.dump().c_str(), what.c_str());
    check(false, "a request was answered with a non-4xx error status");
  }
  check(reply.body.contains("detail"), "an error body without 'detail'");
  (void)reply.body.dump();  // must not throw (e.g. on invalid UTF-8 in the detail)
}

// The property of the precomputed table: a body answered with it is answered, byte for byte,
// as without it, and a body refused without it is refused with it, the same way.
template <typename Invoke>
void check_table_changes_nothing(const Invoke& invoke_with) {
  using vr::fuzz::check;
  std::string scored;
  std::string scored_error;
  try {
    scored = invoke_with(false).body;
  } catch (...) {
    check_rejected_as_client_error(std::current_exception());
    scored_error = vr::error_reply(std::current_exception()).body.dump();
  }
  try {
    const std::string looked_up = invoke_with(true).body;
    check(scored_error.empty(), "a body refused without the precomputed table was answered with it");
    check(looked_up == scored, "the precomputed table changed an answer");
  } catch (...) {
    check(!scored_error.empty(), "a body answered without the precomputed table was refused with it");
    check(vr::error_reply(std::current_exception()).body.dump() == scored_error,
          "the precomputed table changed an error");
  }
}
