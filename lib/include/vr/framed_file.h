// The envelope shared by vr's binary files: magic, format version, payload length, payload,
// checksum. Format-specific headers (model.h, mappings.h) document their own payloads.
#pragma once

#include <cstdint>
#include <istream>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>

namespace vr {

// A payload read back from a framed file, with the format version it was written with.
struct FramedPayload {
  std::uint32_t version = 0;
  std::string bytes;
};

// Writes magic (exactly 8 bytes), version, payload length, payload and checksum.
void write_framed(std::ostream& output, std::string_view magic, std::uint32_t version,
                  std::string_view payload);

// Reads and checks a framed file. Throws CorruptFile naming `source_name` for a wrong
// magic, a version above `newest_version`, a truncated file, or a checksum mismatch.
FramedPayload read_framed(std::istream& input, const std::string& source_name,
                          std::string_view magic, std::uint32_t newest_version,
                          std::string_view what);

// FNV-1a 64-bit hash of `bytes`.
std::uint64_t fnv1a64(std::string_view bytes);
// The same hash continued over more bytes: fnv1a64(a + b) == fnv1a64_update(fnv1a64(a), b).
inline constexpr std::uint64_t kFnv1a64Start = 0xcbf29ce484222325ULL;
std::uint64_t fnv1a64_update(std::uint64_t hash, std::string_view bytes);

// write_framed for a payload too large to hold in memory: the header goes out at once, the
// payload in pieces, the checksum at finish(). The file is the one write_framed would write.
class FramedWriter {
 public:
  // Writes magic, version and `payload_size`, the exact number of bytes write() will get.
  FramedWriter(std::ostream& output, std::string_view magic, std::uint32_t version, std::uint64_t payload_size);
  // Appends payload bytes.
  void write(std::string_view bytes);
  // Writes the checksum. Throws std::logic_error if the payload was not payload_size bytes.
  void finish();

 private:
  std::ostream& output_;
  std::uint64_t expected_size_;
  std::uint64_t written_ = 0;
  std::uint64_t hash_ = kFnv1a64Start;
};

// read_framed for a payload too large to hold in memory (the mirror of FramedWriter): the
// constructor reads and checks the magic, version and length as read_framed does; payload()
// yields at most the announced bytes, hashing them as they are read; finish() reads whatever
// of them is left, then checks the checksum and that nothing follows. Every failure throws
// CorruptFile naming `source_name`, with read_framed's messages.
class FramedReader {
 public:
  FramedReader(std::istream& input, const std::string& source_name, std::string_view magic,
               std::uint32_t newest_version, std::string_view what);
  ~FramedReader();
  FramedReader(const FramedReader&) = delete;
  FramedReader& operator=(const FramedReader&) = delete;

  std::uint32_t version() const { return version_; }
  // The announced payload length in bytes.
  std::uint64_t payload_size() const { return payload_size_; }
  // The payload: end of stream after payload_size() bytes, or earlier if the file is short.
  std::istream& payload();
  void finish();

 private:
  class PayloadBuffer;
  std::istream& input_;
  std::string prefix_;  // "'<source_name>': "
  std::string what_;
  std::uint32_t version_ = 0;
  std::uint64_t payload_size_ = 0;
  std::unique_ptr<PayloadBuffer> buffer_;
  std::unique_ptr<std::istream> payload_;
};

}  // namespace vr
