// Fuzzes the body of POST /invocations as application/json (vr::invoke, BodyFormat::Json), as
// vr-serve receives it, against a small in-memory model. Properties checked on every input:
//   1. invoke either answers or throws; error_reply() maps what it throws to a 4xx status
//      (a 500 would mean an unexpected failure inside a handler) with a {"detail": ...} body.
//   2. An answer is valid JSON: an object, or {"predictions": [...]} for a batch.
//   3. With the model's precomputed table the answer (or the error) is byte for byte the same.
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
  if (reply) {
    check(reply->status == 200, "an answer without status 200");
    const auto parsed = nlohmann::json::parse(reply->body);
    check(parsed.is_object(), "the answer is not a JSON object");
  }
  return 0;
}
