// Helpers shared by the test files: temporary folders, files, and running the built tools.
#pragma once

#include <optional>
#include <string>
#include <vector>

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
// ../shared/data/<relative> if it exists, else nullopt (tests then skip visibly with WARN).
std::optional<std::string> shared_data(const std::string& relative);

// MovieLens 100K's u.data as an interactions CSV (user_id,video_id,value,timestamp; every
// rating a positive weighted by its stars, als-semantics.md's protocol), or nullopt when
// ../shared/data/ml-100k is absent.
std::optional<std::string> movielens_interactions_csv();

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& content);
bool file_exists(const std::string& path);
// Names of the entries in a folder, sorted.
std::vector<std::string> list_dir(const std::string& path);

}  // namespace vr::test
