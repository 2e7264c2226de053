#include "vr/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "vr/errors.h"

namespace vr {
namespace {

std::string parent_directory(const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// A name nobody else writes to: pid plus a counter plus a clock tick, so two writers of the
// same path (two processes, or two writers in one process) never share a temporary file.
std::string temporary_name_for(const std::string& path) {
  static std::atomic<unsigned> counter{0};
  const auto tick = std::chrono::steady_clock::now().time_since_epoch().count();
  return path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++) + "." +
         std::to_string(tick % 1000000);
}

// The pid in a temporary name of `path` ("<name>.tmp.<pid>.<counter>.<tick>", all digits), or 0
// if `candidate` is not one.
pid_t temporary_owner(const std::string& file_name, const std::string& candidate) {
  const std::string prefix = file_name + ".tmp.";
  if (candidate.size() <= prefix.size() || candidate.compare(0, prefix.size(), prefix) != 0) return 0;
  long long pid = 0;
  int fields = 0;
  bool in_field = false;
  for (std::size_t i = prefix.size(); i < candidate.size(); ++i) {
    const char c = candidate[i];
    if (c >= '0' && c <= '9') {
      if (fields == 0 && pid < (1LL << 31)) pid = pid * 10 + (c - '0');
      in_field = true;
    } else if (c == '.' && in_field) {
      ++fields;
      in_field = false;
    } else {
      return 0;
    }
  }
  if (!in_field || fields != 2 || pid <= 0 || pid >= (1LL << 31)) return 0;
  return static_cast<pid_t>(pid);
}

// Removes temporaries of `path` left by writers that were killed before they could (SIGKILL, a
// crash, power loss): those whose process no longer exists. A temporary of a live process is
// never touched. (Writers on other hosts sharing the folder over NFS could be mistaken for dead
// ones; the worst case is that such a writer fails with an error, losing nothing.)
void remove_stale_temporaries(const std::string& path) {
  const std::filesystem::path final_path(path);
  const std::string file_name = final_path.filename().string();
  std::error_code error;
  std::filesystem::directory_iterator entries(parent_directory(path), error);
  if (error) return;  // best effort: the write itself reports real problems
  for (const auto& entry : entries) {
    const std::string candidate = entry.path().filename().string();
    const pid_t owner = temporary_owner(file_name, candidate);
    if (owner == 0 || owner == ::getpid()) continue;
    if (::kill(owner, 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to judge
    std::filesystem::remove(entry.path(), error);
  }
}

void fsync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) return;  // best effort: some filesystems refuse directories
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

AtomicFileWriter::AtomicFileWriter(std::string path) : path_(std::move(path)) {
  if (path_ == "-") {
    to_stdout_ = true;
    return;
  }
  // A device, FIFO or socket (/dev/null, /dev/stdout, a named pipe) is written in place:
  // renaming a regular file over it would replace the device itself.
  std::error_code error;
  const auto status = std::filesystem::status(path_, error);
  if (!error && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status) &&
      !std::filesystem::is_directory(status)) {
    direct_ = true;
    file_.open(path_, std::ios::binary);
    if (!file_) throw IoError("cannot write '" + path_ + "': " + std::strerror(errno));
    return;
  }
  remove_stale_temporaries(path_);
  temporary_path_ = temporary_name_for(path_);
  file_.open(temporary_path_, std::ios::binary | std::ios::trunc);
  if (!file_) {
    throw IoError("cannot write '" + path_ + "': " + std::strerror(errno));
  }
}

AtomicFileWriter::~AtomicFileWriter() {
  if (!to_stdout_ && !direct_ && !committed_) {
    file_.close();
    std::remove(temporary_path_.c_str());
  }
}

std::ostream& AtomicFileWriter::stream() { return to_stdout_ ? std::cout : file_; }

void AtomicFileWriter::start_writeback() {
  if (to_stdout_ || direct_ || prepared_) return;
  file_.flush();
#ifdef __linux__
  const int fd = ::open(temporary_path_.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  // The page cache is per file, so a second descriptor starts the writeback of what the stream
  // wrote through its own.
  ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
  ::close(fd);
#endif
}

void AtomicFileWriter::prepare() {
  if (to_stdout_ || prepared_) return;
  if (direct_) {
    file_.flush();
    if (!file_) throw IoError("cannot write '" + path_ + "'");
    prepared_ = true;
    return;
  }
  file_.flush();
  const bool write_ok = static_cast<bool>(file_);
  file_.close();
  if (!write_ok || file_.fail()) {
    std::remove(temporary_path_.c_str());
    committed_ = true;
    throw IoError("cannot write '" + path_ + "' (disk full or I/O error); previous file kept");
  }
  // fsync before rename, so that after a power loss the new name never points at an empty
  // file.
  const int fd = ::open(temporary_path_.c_str(), O_RDONLY);
  if (fd >= 0) {
    const int sync_result = ::fsync(fd);
    const int sync_errno = errno;
    ::close(fd);
    if (sync_result != 0 && sync_errno != EINVAL) {
      std::remove(temporary_path_.c_str());
      committed_ = true;
      throw IoError("cannot write '" + path_ + "': " + std::strerror(sync_errno) +
                    "; previous file kept");
    }
  }
  std::error_code error;
  if (std::filesystem::is_directory(path_, error)) {
    std::remove(temporary_path_.c_str());
    committed_ = true;
    throw IoError("cannot replace '" + path_ + "': Is a directory");
  }
  prepared_ = true;
}

void AtomicFileWriter::commit() {
  if (to_stdout_) {
    std::cout.flush();
    if (!std::cout) throw IoError("cannot write to stdout");
    committed_ = true;
    return;
  }
  prepare();
  if (direct_) {
    file_.close();
    committed_ = true;
    if (file_.fail()) throw IoError("cannot write '" + path_ + "'");
    return;
  }
  if (std::rename(temporary_path_.c_str(), path_.c_str()) != 0) {
    const int rename_errno = errno;
    std::remove(temporary_path_.c_str());
    committed_ = true;
    throw IoError("cannot replace '" + path_ + "': " + std::strerror(rename_errno));
  }
  committed_ = true;
  // fsync the folder so the rename itself is durable.
  fsync_path(parent_directory(path_), O_RDONLY | O_DIRECTORY);
}

void ensure_directory(const std::string& directory) {
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error || !std::filesystem::is_directory(directory)) {
    throw IoError("cannot create directory '" + directory + "': " +
                  (error ? error.message() : std::string("not a directory")));
  }
}

std::ifstream open_input_file(const std::string& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    throw IoError("cannot read '" + path + "': is a directory");
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) throw IoError("cannot read '" + path + "': " + std::strerror(errno));
  return file;
}

}  // namespace vr
