#include "vr/mappings.h"

#include <cereal/archives/portable_binary.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include <algorithm>
#include <array>
#include <sstream>

#include "vr/atomic_file.h"
#include "vr/errors.h"
#include "vr/framed_file.h"
#include "vr/version.h"

namespace vr {
namespace {
constexpr std::string_view kMappingsMagic{"VRMAPS\0\0", 8};

// The persisted form: ids in index order. Each list is a count then (length, bytes) per id;
// counts and lengths are checked against the payload size before anything is allocated, so a
// corrupt file cannot ask for terabytes.
struct MappingsRecord {
  std::vector<std::string> user_ids;   // filled by load
  std::vector<std::string> video_ids;  // filled by load
  std::size_t payload_size = 0;        // bytes available to load from
  const Mappings* source = nullptr;    // what save writes (read in place, never copied)

  template <class Archive>
  void save(Archive& archive, const std::uint32_t /*version*/) const {
    save_ids(archive, source->users);
    save_ids(archive, source->videos);
  }
  template <class Archive>
  void load(Archive& archive, const std::uint32_t /*version*/) {
    load_ids(archive, user_ids);
    load_ids(archive, video_ids);
  }

 private:
  template <class Archive>
  static void save_ids(Archive& archive, const IdMap& ids) {
    archive(static_cast<std::uint64_t>(ids.size()));
    for (std::uint32_t index = 0; index < ids.size(); ++index) {
      const std::string& id = ids.id(index);
      archive(static_cast<std::uint64_t>(id.size()));
      archive(cereal::binary_data(id.data(), id.size()));
    }
  }
  template <class Archive>
  void load_ids(Archive& archive, std::vector<std::string>& ids) const {
    std::uint64_t count = 0;
    archive(count);
    if (count > payload_size) throw CorruptFile("id count larger than the file");
    ids.resize(static_cast<std::size_t>(count));
    for (auto& id : ids) {
      std::uint64_t length = 0;
      archive(length);
      if (length > payload_size) throw CorruptFile("id length larger than the file");
      id.resize(static_cast<std::size_t>(length));
      archive(cereal::binary_data(id.data(), id.size()));
    }
  }
};

// MappingsRecord's layout, read for the number of ids in each list only: the ids are skipped a
// piece at a time, never held.
struct MappingsShapeRecord {
  MappingsShape shape;
  std::uint64_t payload_size = 0;  // bytes available to load from

  template <class Archive>
  void load(Archive& archive, const std::uint32_t /*version*/) {
    shape.users = skip_ids(archive);
    shape.videos = skip_ids(archive);
  }

 private:
  template <class Archive>
  std::uint64_t skip_ids(Archive& archive) const {
    std::uint64_t count = 0;
    archive(count);
    if (count > payload_size) throw CorruptFile("id count larger than the file");
    std::array<char, 4096> piece{};
    for (std::uint64_t index = 0; index < count; ++index) {
      std::uint64_t length = 0;
      archive(length);
      if (length > payload_size) throw CorruptFile("id length larger than the file");
      while (length > 0) {
        const std::size_t bytes = static_cast<std::size_t>(std::min<std::uint64_t>(length, piece.size()));
        archive(cereal::binary_data(piece.data(), bytes));
        length -= bytes;
      }
    }
    return count;
  }
};
}  // namespace
}  // namespace vr

// One version for both: they read the same layout.
CEREAL_CLASS_VERSION(vr::MappingsRecord, 1)
CEREAL_CLASS_VERSION(vr::MappingsShapeRecord, 1)

namespace vr {

void write_mappings(std::ostream& output, const Mappings& mappings) {
  MappingsRecord record;
  record.source = &mappings;
  std::ostringstream payload(std::ios::binary);
  {
    cereal::PortableBinaryOutputArchive archive(payload);
    archive(record);
  }
  write_framed(output, kMappingsMagic, kMappingsFormatVersion, payload.str());
}

Mappings read_mappings(std::istream& input, const std::string& source_name) {
  const FramedPayload framed =
      read_framed(input, source_name, kMappingsMagic, kMappingsFormatVersion, "vr mappings");
  MappingsRecord record;
  record.payload_size = framed.bytes.size();
  try {
    std::istringstream payload(framed.bytes, std::ios::binary);
    cereal::PortableBinaryInputArchive archive(payload);
    archive(record);
  } catch (const std::exception& error) {
    throw CorruptFile("'" + source_name + "': corrupt vr mappings file: " + error.what());
  }
  try {
    return Mappings{IdMap(record.user_ids), IdMap(record.video_ids)};
  } catch (const InvalidInput& error) {
    throw CorruptFile("'" + source_name + "': corrupt vr mappings file: " + error.what());
  }
}

MappingsShape read_mappings_shape(std::istream& input, const std::string& source_name) {
  FramedReader framed(input, source_name, kMappingsMagic, kMappingsFormatVersion, "vr mappings");
  MappingsShapeRecord record;
  record.payload_size = framed.payload_size();
  try {
    cereal::PortableBinaryInputArchive archive(framed.payload());
    archive(record);
  } catch (const std::exception& error) {
    framed.finish();  // a truncated file or a wrong checksum is named as such first
    throw CorruptFile("'" + source_name + "': corrupt vr mappings file: " + error.what());
  }
  framed.finish();
  return record.shape;
}

MappingsShape load_mappings_shape(const std::string& path) {
  auto file = open_input_file(path);
  return read_mappings_shape(file, path);
}

Mappings load_mappings(const std::string& path) {
  auto file = open_input_file(path);
  return read_mappings(file, path);
}

void save_mappings(const std::string& path, const Mappings& mappings) {
  AtomicFileWriter writer(path);
  write_mappings(writer.stream(), mappings);
  writer.commit();
}

}  // namespace vr
