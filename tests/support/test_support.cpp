#include "support/test_support.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "vr/generate.h"
#include "vr/interactions.h"

extern char** environ;

namespace vr::test {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "vr-test-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::file(const std::string& name) const { return path_ + "/" + name; }

CommandResult run_command(const std::vector<std::string>& argv, const std::string& stdin_text) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (::pipe(in_pipe) != 0 || ::pipe(out_pipe) != 0 || ::pipe(err_pipe) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
    posix_spawn_file_actions_addclose(&actions, fd);
  }
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int spawn_error = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (spawn_error != 0) {
    ::close(in_pipe[1]);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(spawn_error));
  }
  // Feed stdin and drain stdout/stderr together, so a chatty child never blocks on a full pipe.
  CommandResult result;
  std::size_t written = 0;
  int stdin_fd = in_pipe[1];
  ::fcntl(stdin_fd, F_SETFL, O_NONBLOCK);
  if (stdin_text.empty()) {
    ::close(stdin_fd);
    stdin_fd = -1;
  }
  bool out_open = true, err_open = true;
  char buffer[65536];
  while (out_open || err_open || stdin_fd >= 0) {
    pollfd fds[3];
    int count = 0;
    if (out_open) fds[count++] = {out_pipe[0], POLLIN, 0};
    if (err_open) fds[count++] = {err_pipe[0], POLLIN, 0};
    if (stdin_fd >= 0) fds[count++] = {stdin_fd, POLLOUT, 0};
    if (::poll(fds, static_cast<nfds_t>(count), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < count; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == stdin_fd) {
        const ssize_t n = ::write(stdin_fd, stdin_text.data() + written, stdin_text.size() - written);
        if (n > 0) written += static_cast<std::size_t>(n);
        if (n < 0 && errno != EAGAIN) written = stdin_text.size();
        if (written >= stdin_text.size()) {
          ::close(stdin_fd);
          stdin_fd = -1;
        }
        continue;
      }
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        (fds[i].fd == out_pipe[0] ? result.out : result.err).append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        (fds[i].fd == out_pipe[0] ? out_open : err_open) = false;
      }
    }
  }
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::string tool(const std::string& name) { return std::string(VR_BIN_DIR) + "/" + name; }

std::string source_path(const std::string& relative) { return std::string(VR_SOURCE_DIR) + "/" + relative; }

void skip_test(const std::string& reason) {
  const char* ci = std::getenv("CI");
  if (ci != nullptr && std::string(ci) == "true") {
    std::fprintf(stderr, "FAILED: this test would be skipped (%s), and CI=true must run it\n", reason.c_str());
    std::fflush(stderr);
    std::_Exit(1);
  }
  std::fprintf(stdout, "SKIP: %s\n", reason.c_str());
  std::fflush(stdout);
  // _Exit: the test stopped in the middle, so destructors and the leak check have nothing to say.
  std::_Exit(kSkipExitCode);
}

std::string movielens_dir() {
  const char* from_environment = std::getenv("VR_MOVIELENS_DIR");
  if (from_environment != nullptr && *from_environment != '\0') return from_environment;
  return VR_MOVIELENS_DIR;
}

std::optional<std::string> movielens_interactions_csv() {
  const std::string path = movielens_dir() + "/u.data";
  if (!std::filesystem::exists(path)) return std::nullopt;
  std::ifstream raw(path);
  std::ostringstream csv;
  csv << "user_id,video_id,value,timestamp\n";
  std::string user, item, rating, timestamp;
  while (raw >> user >> item >> rating >> timestamp) csv << user << "," << item << "," << rating << "," << timestamp << "\n";
  return csv.str();
}

std::string require_movielens_interactions_csv() {
  auto csv = movielens_interactions_csv();
  if (!csv) skip_test("MovieLens 100K's u.data is not in " + movielens_dir() + " (set VR_MOVIELENS_DIR)");
  return std::move(*csv);
}

std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("cannot read " + path);
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << content;
  if (!file) throw std::runtime_error("cannot write " + path);
}

bool file_exists(const std::string& path) { return std::filesystem::exists(path); }

std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(path)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

SparseMatrix generated_ratings(std::uint32_t users, std::uint32_t videos, std::uint64_t events, std::uint64_t seed) {
  GenerateConfig generate;
  generate.users = users;
  generate.videos = videos;
  generate.events = events;
  generate.tastes = 5;
  generate.seed = seed;
  std::stringstream log;
  generate_interactions(log, generate);
  const auto data = aggregate_interactions(log, "generated", FeaturesConfig{});
  return build_sparse_matrix(data.ratings, static_cast<std::uint32_t>(data.users.size()),
                             static_cast<std::uint32_t>(data.videos.size()));
}

}  // namespace vr::test
