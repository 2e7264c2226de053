// Fuzzes the body of POST /invocations as application/json (vr::invoke, BodyFormat::Json), as
// vr-serve receives it, against a small in-memory model. Properties checked on every input:
//   1. invoke either answers or throws; error_reply() maps what it throws to a 4xx status
//      (a 500 would mean an unexpected failure inside a handler) with a {"detail": ...} body.
//   2. An answer is valid JSON: an object, or {"predictions": [...]} for a batch.
//   3. With the model's precomputed table the answer (or the error) is byte for byte the same.
//   4. A body read_plain_request() takes is one the full parser and validator read as the same
//      request (the same user_id and k), or refuse only for a k out of range.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "invocation_checks.h"
#include "tiny_recommender.h"
#include "vr/service.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using vr::fuzz::check;
  static const auto recommender = vr::fuzz::tiny_recommender();
  static const auto table = vr::fuzz::tiny_table(*recommender);
  const vr::ServiceLimits limits;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const auto reply = invoke_with_and_without_table([&](bool with_table) {
    return vr::invoke(*recommender, body, vr::BodyFormat::Json, limits, with_table ? table.get() : nullptr);
  });
  if (const auto plain = vr::read_plain_request(body)) {
    const bool k_in_range = plain->k >= 1 && plain->k <= limits.max_k;
    try {
      const auto request = vr::parse_request(vr::parse_json_body(body, limits), nlohmann::json::array({"body"}), limits);
      check(k_in_range, "the full validator accepted a k read_plain_request read as out of range");
      check(request.user_id && *request.user_id == plain->user_id && request.k == plain->k &&
                request.history.empty() && !request.similar_to && request.exclude.empty() && !request.explain &&
                !request.include_watched,
            "read_plain_request read a body otherwise than the full parser");
    } catch (const vr::ValidationError&) {
      check(!k_in_range, "the full validator refused a body read_plain_request took");
    }
  }
  if (reply) {
    check(reply->status == 200, "an answer without status 200");
    const auto parsed = nlohmann::json::parse(reply->body);
    check(parsed.is_object(), "the answer is not a JSON object");
  }
  return 0;
}
