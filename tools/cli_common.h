// What every vr tool's main shares: one try/catch that maps exceptions to exit codes, and
// stderr progress output. Presentation only; the logic lives in libvr.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "vr/als.h"
#include "vr/errors.h"

namespace vr::cli {

// Exit codes, documented in the README.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;       // bad data, I/O or numerical failure
inline constexpr int kExitPartial = 3;       // batch finished, but some users were unknown

// Accepts "-" (stdin) or an existing file.
extern const CLI::Validator ExistingFileOrDash;

// Number ranges whose messages and --help text say the real range ("must be >= 1", "must be
// greater than 0 and less than 1"), where CLI11's PositiveNumber printed "0.000000 to 1797693..."
// (300 digits) and Range(0.0, 1.0) claimed [0 - 1] for options that refuse 0 and 1.
CLI::Validator AtLeast(double minimum);                 // [minimum, inf)
CLI::Validator GreaterThan(double minimum);             // (minimum, inf)
CLI::Validator InRange(double minimum, double maximum);     // [minimum, maximum]
CLI::Validator Between(double minimum, double maximum);     // (minimum, maximum), both excluded

// The ALS training flags vr-train and vr-evaluate share, with the original design's defaults.
struct AlsFlags {
  int factors = 20;
  float regularization = 0.1f;
  float alpha = 1.0f;
  int iterations = 20;
  std::string solver = "cg";
  int cg_steps = 3;
  std::string scaling = "raw";
  float eps = 1.0f;
  int threads = 0;
  std::uint64_t seed = 42;
  float unobserved_weight = 1.0f;
  float reg_exponent = 0.0f;
};

// Adds --factors ... --seed to `app`, bound to `flags`, each showing its default.
void add_als_flags(CLI::App& app, AlsFlags& flags);

// Copies the flags into `config` (threads always; the rest all, or with `only_given` just the
// flags given on the command line, so they override a config file).
void apply_als_flags(const CLI::App& app, const AlsFlags& flags, bool only_given, TrainConfig& config);

// Adds --delimiter (auto, ",", ";" or tab) for interaction files, bound to `value`.
void add_delimiter_flag(CLI::App& app, std::string& value);
// The delimiter --delimiter names: 0 for auto (detect from the header line).
char parse_delimiter_flag(const std::string& value);

// Adds --popularity-penalty BETA (>= 0; 0 = off) of the tools that answer top-k queries
// (vr-recommend, vr-serve), bound to `value`.
void add_popularity_penalty_flag(CLI::App& app, double& value);

// Adds --scan (pruned, the default, or full) of the tools that rank the catalog with an ALS
// model, bound to `value`; `what_is_ranked` starts the help line ("How to search the catalog").
void add_scan_flag(CLI::App& app, std::string& value, const std::string& what_is_ranked);

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
