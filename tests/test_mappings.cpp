// mappings.bin: the shape read without the ids (read_mappings_shape) against the whole file
// (read_mappings), on good files and on damaged ones.
#include <catch2/catch.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "vr/errors.h"
#include "vr/framed_file.h"
#include "vr/mappings.h"
#include "vr/version.h"

namespace {

std::string mappings_bytes(const std::vector<std::string>& users, const std::vector<std::string>& videos) {
  std::stringstream file;
  vr::write_mappings(file, vr::Mappings{vr::IdMap(users), vr::IdMap(videos)});
  return file.str();
}

vr::MappingsShape shape_of(const std::string& bytes) {
  std::istringstream input(bytes);
  return vr::read_mappings_shape(input, "mappings.bin");
}

// The message each reader throws for `bytes` (empty if it reads them).
std::string shape_error(const std::string& bytes) {
  try {
    shape_of(bytes);
  } catch (const vr::CorruptFile& error) {
    return error.what();
  }
  return "";
}

std::string full_error(const std::string& bytes) {
  std::istringstream input(bytes);
  try {
    vr::read_mappings(input, "mappings.bin");
  } catch (const vr::CorruptFile& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST_CASE("the shape of mappings.bin is the number of ids read_mappings reads") {
  std::vector<std::string> users;
  for (int user = 0; user < 1234; ++user) users.push_back("user-" + std::to_string(user));
  // Ids longer than the piece the shape reader skips at a time.
  users.push_back(std::string(10000, 'u'));
  users.push_back(std::string(4096, 'w'));
  const std::vector<std::string> videos = {"v1", "v2", "v3"};
  const std::string bytes = mappings_bytes(users, videos);
  std::istringstream input(bytes);
  const vr::Mappings mappings = vr::read_mappings(input, "mappings.bin");
  const vr::MappingsShape shape = shape_of(bytes);
  CHECK(shape.users == 1236);
  CHECK(shape.users == mappings.users.size());
  CHECK(shape.videos == 3);
  CHECK(shape.videos == mappings.videos.size());

  const vr::MappingsShape empty = shape_of(mappings_bytes({}, {}));
  CHECK(empty.users == 0);
  CHECK(empty.videos == 0);
}

TEST_CASE("a damaged mappings.bin is refused by the shape reader with read_mappings' message") {
  const std::string bytes = mappings_bytes({"u1", "u2", "u3"}, {"v1", "v2"});
  const std::size_t header = 8 + 4 + 8;

  SECTION("a flipped byte in an id") {
    std::string damaged = bytes;
    damaged[header + 25] ^= 0x20;
    CHECK(shape_error(damaged) == "'mappings.bin': corrupt vr mappings file (checksum mismatch)");
    CHECK(shape_error(damaged) == full_error(damaged));
  }
  SECTION("cut anywhere") {
    for (std::size_t length = 0; length < bytes.size(); ++length) {
      const std::string cut = bytes.substr(0, length);
      INFO("cut after " << length << " bytes");
      CHECK_FALSE(shape_error(cut).empty());
      CHECK(shape_error(cut) == full_error(cut));
    }
  }
  SECTION("bytes after the checksum") {
    CHECK(shape_error(bytes + "x") == "'mappings.bin': corrupt vr mappings file (trailing bytes)");
  }
  SECTION("another file's magic") {
    std::string other = bytes;
    other[0] = 'X';
    CHECK(shape_error(other) == "'mappings.bin': not a vr mappings file (wrong magic)");
  }
  SECTION("a count larger than the file, under a valid checksum") {
    // The payload as cereal writes it: endianness flag, class version, then the user count.
    std::string payload(1, '\1');
    payload += std::string("\1\0\0\0", 4);
    payload += std::string("\xff\xff\xff\0\0\0\0\0", 8);
    std::ostringstream file;
    vr::write_framed(file, std::string_view("VRMAPS\0\0", 8), vr::kMappingsFormatVersion, payload);
    CHECK(shape_error(file.str()) == "'mappings.bin': corrupt vr mappings file: id count larger than the file");
    CHECK(shape_error(file.str()) == full_error(file.str()));
  }
}
