// What both /invocations fuzz targets require of a failed request: the single error mapping
// answers it with a 4xx whose JSON body has a "detail" and can be written out.
#pragma once

#include <cstdio>
#include <exception>
#include <optional>
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

// Answers a body without and then with the model's precomputed table (`invoke_with(false)`,
// `invoke_with(true)`) and checks the table's property: the answer is byte for byte the same,
// and a body refused without it is refused with it, the same way (a refusal must be a 4xx).
// Returns the answer, or nothing for a refused body.
template <typename Invoke>
std::optional<vr::Reply> invoke_with_and_without_table(const Invoke& invoke_with) {
  using vr::fuzz::check;
  std::optional<vr::Reply> scored;
  std::string scored_error;
  try {
    scored = invoke_with(false);
  } catch (...) {
    check_rejected_as_client_error(std::current_exception());
    scored_error = vr::error_reply(std::current_exception()).body.dump();
  }
  try {
    const vr::Reply looked_up = invoke_with(true);
    check(scored.has_value(), "a body refused without the precomputed table was answered with it");
    check(looked_up.body == scored->body, "the precomputed table changed an answer");
  } catch (...) {
    check(!scored.has_value(), "a body answered without the precomputed table was refused with it");
    check(vr::error_reply(std::current_exception()).body.dump() == scored_error,
          "the precomputed table changed an error");
  }
  return scored;
}
