#include "vr/framed_file.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

#include "vr/errors.h"

namespace vr {
namespace {

void write_u32(std::ostream& output, std::uint32_t value) {
  std::array<char, 4> bytes{};
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  output.write(bytes.data(), bytes.size());
}

void write_u64(std::ostream& output, std::uint64_t value) {
  std::array<char, 8> bytes{};
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  output.write(bytes.data(), bytes.size());
}

bool read_exact(std::istream& input, char* destination, std::size_t count) {
  input.read(destination, static_cast<std::streamsize>(count));
  return static_cast<std::size_t>(input.gcount()) == count;
}

std::uint64_t decode_le(const char* bytes, int width) {
  std::uint64_t value = 0;
  for (int i = width - 1; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

}  // namespace

std::uint64_t fnv1a64(std::string_view bytes) { return fnv1a64_update(kFnv1a64Start, bytes); }

std::uint64_t fnv1a64_update(std::uint64_t hash, std::string_view bytes) {
  for (unsigned char byte : bytes) {
    hash ^= byte;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

FramedWriter::FramedWriter(std::ostream& output, std::string_view magic, std::uint32_t version,
                           std::uint64_t payload_size)
    : output_(output), expected_size_(payload_size) {
  output_.write(magic.data(), static_cast<std::streamsize>(magic.size()));
  write_u32(output_, version);
  write_u64(output_, payload_size);
}

void FramedWriter::write(std::string_view bytes) {
  output_.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  hash_ = fnv1a64_update(hash_, bytes);
  written_ += bytes.size();
}

void FramedWriter::finish() {
  if (written_ != expected_size_) {
    throw std::logic_error("framed payload of " + std::to_string(written_) + " bytes, announced " +
                           std::to_string(expected_size_));
  }
  write_u64(output_, hash_);
}

void write_framed(std::ostream& output, std::string_view magic, std::uint32_t version,
                  std::string_view payload) {
  output.write(magic.data(), static_cast<std::streamsize>(magic.size()));
  write_u32(output, version);
  write_u64(output, payload.size());
  output.write(payload.data(), static_cast<std::streamsize>(payload.size()));
  write_u64(output, fnv1a64(payload));
}

namespace {

struct FramedHeader {
  std::uint32_t version = 0;
  std::uint64_t length = 0;
};

FramedHeader read_header(std::istream& input, const std::string& prefix, std::string_view magic,
                         std::uint32_t newest_version, std::string_view what) {
  std::string found_magic(magic.size(), '\0');
  if (!read_exact(input, found_magic.data(), found_magic.size())) {
    throw CorruptFile(prefix + "too short to be a " + std::string(what) + " file");
  }
  if (found_magic != magic) {
    throw CorruptFile(prefix + "not a " + std::string(what) + " file (wrong magic)");
  }
  char header[12];
  if (!read_exact(input, header, sizeof header)) {
    throw CorruptFile(prefix + "truncated " + std::string(what) + " file (header)");
  }
  FramedHeader result;
  result.version = static_cast<std::uint32_t>(decode_le(header, 4));
  result.length = decode_le(header + 4, 8);
  if (result.version == 0 || result.version > newest_version) {
    throw CorruptFile(prefix + std::string(what) + " format version " +
                      std::to_string(result.version) + " is newer than this vr understands (" +
                      std::to_string(newest_version) + "); upgrade vr");
  }
  return result;
}

// The checksum and the end of the file, after a payload whose hash is `payload_hash`.
void check_trailer(std::istream& input, const std::string& prefix, std::string_view what, std::uint64_t payload_hash) {
  char checksum_bytes[8];
  if (!read_exact(input, checksum_bytes, sizeof checksum_bytes)) {
    throw CorruptFile(prefix + "truncated " + std::string(what) + " file (checksum missing)");
  }
  if (decode_le(checksum_bytes, 8) != payload_hash) {
    throw CorruptFile(prefix + "corrupt " + std::string(what) + " file (checksum mismatch)");
  }
  if (input.peek() != std::char_traits<char>::eof()) {
    throw CorruptFile(prefix + "corrupt " + std::string(what) + " file (trailing bytes)");
  }
}

std::string truncated_payload(const std::string& prefix, std::string_view what, std::uint64_t length) {
  return prefix + "truncated " + std::string(what) + " file (expected " + std::to_string(length) + " payload bytes)";
}

}  // namespace

FramedPayload read_framed(std::istream& input, const std::string& source_name,
                          std::string_view magic, std::uint32_t newest_version,
                          std::string_view what) {
  const std::string prefix = "'" + source_name + "': ";
  const FramedHeader header = read_header(input, prefix, magic, newest_version, what);
  FramedPayload result;
  result.version = header.version;
  const std::uint64_t length = header.length;
  // Read in chunks so a corrupt length cannot make us allocate terabytes up front.
  constexpr std::size_t kChunk = 1 << 20;
  while (result.bytes.size() < length) {
    const std::size_t want = static_cast<std::size_t>(
        std::min<std::uint64_t>(kChunk, length - result.bytes.size()));
    const std::size_t old_size = result.bytes.size();
    result.bytes.resize(old_size + want);
    if (!read_exact(input, result.bytes.data() + old_size, want)) throw CorruptFile(truncated_payload(prefix, what, length));
  }
  check_trailer(input, prefix, what, fnv1a64(result.bytes));
  return result;
}

// The next bytes of the payload, a buffer at a time, hashed as they are handed out.
class FramedReader::PayloadBuffer : public std::streambuf {
 public:
  PayloadBuffer(std::istream& input, std::uint64_t length) : input_(input), remaining_(length), buffer_(1 << 16) {}
  std::uint64_t hash() const { return hash_; }
  // Whether the file ended before the announced payload did.
  bool short_read() const { return short_read_; }

 protected:
  int_type underflow() override {
    if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
    if (remaining_ == 0 || short_read_) return traits_type::eof();
    const auto want = static_cast<std::streamsize>(std::min<std::uint64_t>(buffer_.size(), remaining_));
    input_.read(buffer_.data(), want);
    const std::streamsize got = input_.gcount();
    if (got < want) short_read_ = true;
    if (got <= 0) return traits_type::eof();
    remaining_ -= static_cast<std::uint64_t>(got);
    hash_ = fnv1a64_update(hash_, std::string_view(buffer_.data(), static_cast<std::size_t>(got)));
    setg(buffer_.data(), buffer_.data(), buffer_.data() + got);
    return traits_type::to_int_type(*gptr());
  }

 private:
  std::istream& input_;
  std::uint64_t remaining_;
  std::vector<char> buffer_;
  std::uint64_t hash_ = kFnv1a64Start;
  bool short_read_ = false;
};

FramedReader::FramedReader(std::istream& input, const std::string& source_name, std::string_view magic,
                           std::uint32_t newest_version, std::string_view what)
    : input_(input), prefix_("'" + source_name + "': "), what_(what) {
  const FramedHeader header = read_header(input, prefix_, magic, newest_version, what);
  version_ = header.version;
  payload_size_ = header.length;
  // A file shorter than the announced payload is named as truncated now, before a reader sizes
  // its buffers by an announced length that the file cannot hold (read_framed finds it by
  // reading; a stream that cannot seek is checked by finish()).
  const std::istream::pos_type here = input_.tellg();
  if (here != std::istream::pos_type(-1) && input_.seekg(0, std::ios::end)) {
    const std::istream::pos_type end = input_.tellg();
    input_.seekg(here);
    if (end != std::istream::pos_type(-1) && static_cast<std::uint64_t>(end - here) < payload_size_) {
      throw CorruptFile(truncated_payload(prefix_, what_, payload_size_));
    }
  }
  input_.clear();
  buffer_ = std::make_unique<PayloadBuffer>(input_, payload_size_);
  payload_ = std::make_unique<std::istream>(buffer_.get());
}

FramedReader::~FramedReader() = default;

std::istream& FramedReader::payload() { return *payload_; }

void FramedReader::finish() {
  payload_->clear();
  payload_->ignore(std::numeric_limits<std::streamsize>::max());
  if (buffer_->short_read()) throw CorruptFile(truncated_payload(prefix_, what_, payload_size_));
  check_trailer(input_, prefix_, what_, buffer_->hash());
}

}  // namespace vr
