// Typed exceptions thrown by libvr. Each tool's main catches them once and maps them to exit
// codes; vr-serve maps them to HTTP statuses in one function.
#pragma once

#include <stdexcept>
#include <string>

namespace vr {

// Bad user data: a malformed CSV row, an unknown event name, an invalid option value.
// Messages name the file, line and field where there is one.
class InvalidInput : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// A binary file (model, mappings) that is not ours, is truncated, corrupt or too new.
class CorruptFile : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A user or video id the model does not know.
class NotFound : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The maths failed: a matrix that is not positive definite, a NaN factor.
class NumericalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The job needs more memory than the process may still use (RAM, cgroup or ulimit -v):
// refused before anything large is allocated, with the estimate in the message.
class InsufficientMemory : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reading or writing a file failed (missing, unwritable, disk full).
class IoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace vr
