// Helpers shared by the test files: temporary folders, files, running the built tools, and
// generated ratings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vr/ratings.h"

namespace vr::test {

// A fresh folder under /tmp, removed with everything in it when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // path() + "/" + name
  std::string file(const std::string& name) const;

 private:
  std::string path_;
};

// What a finished command did.
struct CommandResult {
  int exit_code = -1;   // the exit status, or 128 + signal number if killed
  std::string out;      // everything on stdout
  std::string err;      // everything on stderr
};

// Runs `argv` (argv[0] a path or a name on PATH) with `stdin_text` on its standard input and
// waits for it. Never goes through a shell, so arguments need no quoting.
CommandResult run_command(const std::vector<std::string>& argv, const std::string& stdin_text = "");

// The path of a built tool, e.g. tool("vr-train") -> <build>/bin/vr-train.
std::string tool(const std::string& name);
// A path inside the repository, e.g. source_path("data/interactions.csv").
std::string source_path(const std::string& relative);
// The exit code CTest reads as "skipped" (SKIP_RETURN_CODE on every test).
inline constexpr int kSkipExitCode = 77;

// Ends the running test as skipped: prints "SKIP: <reason>" and exits with kSkipExitCode, so
// CTest lists it under "did not run" instead of counting it as passed. Under CI=true every
// optional dependency (MovieLens, Chromium, wrk, podman) is meant to be there, so a skip is a
// failure instead: it prints the reason and exits 1.
[[noreturn]] void skip_test(const std::string& reason);

// The folder holding MovieLens 100K's u.data: $VR_MOVIELENS_DIR, else the build's default
// (CMake's VR_MOVIELENS_DIR).
std::string movielens_dir();

// MovieLens 100K's u.data as an interactions CSV (user_id,video_id,value,timestamp; every
// rating a positive weighted by its stars), or nullopt when u.data is not in movielens_dir().
std::optional<std::string> movielens_interactions_csv();
// The same, or skip_test() naming the folder that was searched.
std::string require_movielens_interactions_csv();

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& content);
bool file_exists(const std::string& path);
// Names of the entries in a folder, sorted.
std::vector<std::string> list_dir(const std::string& path);

// The ratings matrix vr-features makes of vr-generate's events (`users` users, `videos` videos,
// about `events` events, 5 planted tastes, `seed`), aggregated with the default weights: users x
// videos as they appear in the events. Same arguments, same matrix.
SparseMatrix generated_ratings(std::uint32_t users, std::uint32_t videos, std::uint64_t events, std::uint64_t seed);

}  // namespace vr::test
