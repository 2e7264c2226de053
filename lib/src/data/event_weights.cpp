#include "vr/interactions.h"

#include <algorithm>
#include <string_view>

#include "vr/csv.h"
#include "vr/errors.h"
#include "vr/interaction_rows.h"

namespace vr {
namespace {

std::string_view trim_spaces(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace

std::map<std::string, double> parse_event_weights(const std::string& text) {
  std::map<std::string, double> weights;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string_view item = trim_spaces(std::string_view(text).substr(start, comma - start));
    const std::size_t equals = item.find('=');
    if (equals == std::string_view::npos || equals == 0) {
      throw InvalidInput("--weights: expected name=weight, got '" + std::string(item) + "'");
    }
    const std::string name(trim_spaces(item.substr(0, equals)));
    const auto weight = parse_finite_number(item.substr(equals + 1));
    if (!weight) {
      throw InvalidInput("--weights: weight of '" + name + "' is not a finite number");
    }
    for (const auto& [known, known_weight] : weights) {
      // Event names match in any letter case, so "Like" and "like" would be one event.
      if (equal_ignoring_case(known, name)) throw InvalidInput("--weights: event '" + name + "' given twice");
    }
    weights.emplace(name, *weight);
    start = comma + 1;
  }
  return weights;
}

}  // namespace vr
