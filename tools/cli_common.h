// What every vr tool's main shares: one try/catch that maps exceptions to exit codes, and
// stderr progress output. Presentation only; the logic lives in libvr.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "vr/errors.h"

namespace vr::cli {

// Exit codes, documented in the README.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;       // bad data, I/O or numerical failure
inline constexpr int kExitPartial = 3;       // batch finished, but some users were unknown

// Accepts "-" (stdin) or an existing file.
extern const CLI::Validator ExistingFileOrDash;

// Adds --version (prints the vr and model-format versions) to `app`.
void add_version_flag(CLI::App& app);

// Parses argv into `app`, then runs `body`. Catches every exception once: CLI11's parse
// errors exit with CLI11's code (0 for --help), everything else prints one "error: ..."
// line on stderr and returns kExitFailure. `body` returns the exit code.
int run(CLI::App& app, int argc, char** argv, const std::function<int()>& body);

// True when stderr is a terminal (progress bars only then).
bool stderr_is_terminal();

// Draws or updates a one-line progress message on stderr when it is a terminal.
void show_progress(const std::string& line);
// Ends the progress line (a newline) if one was drawn.
void end_progress();

}  // namespace vr::cli
