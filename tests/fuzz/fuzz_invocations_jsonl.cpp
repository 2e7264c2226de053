// Fuzzes the body of POST /invocations as application/jsonlines (vr::invoke,
// BodyFormat::JsonLines) against a small in-memory model. Properties checked on every input:
//   1. invoke either answers or throws; error_reply() maps what it throws to a 4xx status.
//   2. An answer has exactly one line per input line (a final newline ends the last line),
//      each a JSON object: an answer, or an error object with "detail".
//   3. With the model's precomputed table the answer (or the error) is byte for byte the same.
#include <algorithm>
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
  // One line per '\n', plus a final line without one.
  std::size_t input_lines = static_cast<std::size_t>(std::count(body.begin(), body.end(), '\n'));
  if (!body.empty() && body.back() != '\n') ++input_lines;
  const auto reply = invoke_with_and_without_table([&](bool with_table) {
    return vr::invoke(*recommender, body, vr::BodyFormat::JsonLines, limits, with_table ? table.get() : nullptr);
  });
  if (reply) {
    check(reply->status == 200, "an answer without status 200");
    std::size_t output_lines = 0;
    std::size_t start = 0;
    while (start < reply->body.size()) {
      const auto end = reply->body.find('\n', start);
      check(end != std::string::npos, "an answer line without its newline");
      const auto line = nlohmann::json::parse(reply->body.substr(start, end - start));
      check(line.is_object(), "an answer line that is not a JSON object");
      ++output_lines;
      start = end + 1;
    }
    check(output_lines == input_lines, "not one answer line per input line");
  }
  return 0;
}
