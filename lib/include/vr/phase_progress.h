// Progress of a computation made of a few long phases rather than iterations (EASE: the Gram
// matrix, the factorisation, the inverse, the weights), reported to the caller, which decides
// whether and how to print it.
#pragma once

#include <functional>
#include <string>

namespace vr {

struct PhaseReport {
  std::string name;       // what just finished, e.g. "EASE Gram matrix"
  double seconds = 0;     // wall time of this phase
  double total_seconds = 0;  // wall time since the computation started
};

using PhaseCallback = std::function<void(const PhaseReport&)>;

}  // namespace vr
