// Atomic output files: write to a temporary name in the same folder, flush, fsync, rename.
// A crash or kill at any moment leaves either the previous complete file or the new complete
// one at the final path, never a partial one.
#pragma once

#include <fstream>
#include <memory>
#include <ostream>
#include <string>

namespace vr {

class AtomicFileWriter {
 public:
  // Opens a temporary file beside `path` (so the rename stays on one filesystem), first
  // removing temporaries of `path` whose writer process no longer exists (killed by SIGKILL).
  // `path` "-" writes straight to stdout instead, and an existing device, FIFO or socket
  // (e.g. /dev/null) is written in place. Throws IoError if it cannot be created,
  // so callers open their outputs before any long computation.
  explicit AtomicFileWriter(std::string path);
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  // Removes the temporary file if commit() was never reached.
  ~AtomicFileWriter();

  // The stream to write the content to.
  std::ostream& stream();
  // Flushes and fsyncs the temporary file and checks that the final path can be replaced
  // (is not a folder), without renaming yet. Throws IoError on failure (e.g. disk full),
  // leaving the previous file untouched. Writers of several files prepare all of them before
  // committing any, so that a failure leaves every previous file in place and the window in
  // which old and new files sit side by side is only the renames.
  void prepare();
  // Hands what is written so far to the kernel and asks it to start writing it to disk now,
  // without waiting (Linux sync_file_range), so that prepare()'s fsync finds little left to do.
  // For big outputs, called now and then while writing. Best effort: never throws.
  void start_writeback();
  // prepare()s if not done yet, then renames the temporary file into place. Throws IoError
  // on failure, leaving the previous file untouched.
  void commit();
  // The final path this writer produces.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string temporary_path_;
  std::ofstream file_;
  bool to_stdout_ = false;
  bool direct_ = false;  // writing in place to a device or FIFO
  bool prepared_ = false;
  bool committed_ = false;
};

// Creates `directory` (and parents) if missing. Throws IoError when it cannot.
void ensure_directory(const std::string& directory);

// Opens `path` for reading ("-" is not handled here). Throws IoError naming the path.
std::ifstream open_input_file(const std::string& path);

}  // namespace vr
