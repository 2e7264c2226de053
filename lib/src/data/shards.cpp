#include "vr/shards.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <streambuf>

#include "vr/artifacts.h"
#include "vr/atomic_file.h"
#include "vr/csv.h"
#include "vr/errors.h"
#include "vr/framed_file.h"
#include "vr/mappings.h"

namespace vr {
namespace {

std::string hex64(std::uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof text, "%016" PRIx64, value);
  return text;
}

// Passes bytes on to `target`, except the first `skip` ones, counting and hashing what it
// passes: a shard after the first is ratings.csv's writer output without its header line.
class HashingStreambuf : public std::streambuf {
 public:
  HashingStreambuf(std::ostream& target, std::uint64_t skip) : target_(target), skip_(skip) {}
  std::uint64_t bytes() const { return bytes_; }
  std::uint64_t checksum() const { return hash_; }

 protected:
  std::streamsize xsputn(const char* data, std::streamsize count) override {
    std::streamsize skipped = 0;
    if (skip_ > 0) {
      skipped = static_cast<std::streamsize>(std::min<std::uint64_t>(skip_, static_cast<std::uint64_t>(count)));
      skip_ -= static_cast<std::uint64_t>(skipped);
    }
    const std::string_view kept(data + skipped, static_cast<std::size_t>(count - skipped));
    target_.write(kept.data(), static_cast<std::streamsize>(kept.size()));
    if (!target_) return 0;
    hash_ = fnv1a64_update(hash_, kept);
    bytes_ += kept.size();
    return count;
  }
  int_type overflow(int_type character) override {
    if (traits_type::eq_int_type(character, traits_type::eof())) return traits_type::not_eof(character);
    const char byte = traits_type::to_char_type(character);
    return xsputn(&byte, 1) == 1 ? character : traits_type::eof();
  }

 private:
  std::ostream& target_;
  std::uint64_t skip_;
  std::uint64_t bytes_ = 0;
  std::uint64_t hash_ = kFnv1a64Start;
};

// The columns of a ratings header line.
struct RatingColumns {
  std::size_t user = 0, video = 0, rating = 0, needed = 0;
};

RatingColumns parse_header(const std::string& line, const std::string& source_name) {
  std::istringstream input(line + "\n");
  CsvReader reader(input, source_name);
  std::vector<std::string_view> fields;
  if (!reader.next_row(fields)) throw InvalidInput(source_name + ":1: empty header (expected user_idx,video_idx,rating)");
  const std::vector<std::string> names(fields.begin(), fields.end());
  const std::vector<std::string_view> header(names.begin(), names.end());
  const auto user = find_column(header, "user_idx", source_name);
  const auto video = find_column(header, "video_idx", source_name);
  const auto rating = find_column(header, "rating", source_name);
  if (!user || !video || !rating) throw InvalidInput(source_name + ":1: expected columns user_idx, video_idx and rating");
  return RatingColumns{*user, *video, *rating, std::max({*user, *video, *rating}) + 1};
}

// Parses data rows (no header) as read_ratings_csv does; `first_line` gives the line number of
// the input's first line in its file, asked only when a row is bad.
void read_rating_rows(std::istream& input, const std::string& source_name, const RatingColumns& columns,
                      const std::function<std::uint64_t()>& first_line, std::vector<Rating>& ratings) {
  CsvReader reader(input, source_name);
  std::vector<std::string_view> fields;
  auto fail = [&](const std::string& detail) {
    return InvalidInput(source_name + ":" + std::to_string(first_line() + reader.line_number() - 1) + ": " + detail);
  };
  while (reader.next_row(fields)) {
    if (fields.size() < columns.needed) {
      throw fail("expected " + std::to_string(columns.needed) + " fields, found " + std::to_string(fields.size()));
    }
    const auto user = parse_unsigned(fields[columns.user]);
    if (!user || *user >= UINT32_MAX) throw fail("field 'user_idx': '" + std::string(fields[columns.user]) + "' is not an index");
    const auto video = parse_unsigned(fields[columns.video]);
    if (!video || *video >= UINT32_MAX) throw fail("field 'video_idx': '" + std::string(fields[columns.video]) + "' is not an index");
    const auto value = parse_finite_number(fields[columns.rating]);
    if (!value || std::fabs(*value) > 3.0e38) {
      throw fail("field 'rating': '" + std::string(fields[columns.rating]) + "' is not a finite number");
    }
    const auto rating = static_cast<float>(*value);
    if (rating == 0.0f) throw fail("field 'rating': a zero rating carries no information");
    ratings.push_back(Rating{static_cast<std::uint32_t>(*user), static_cast<std::uint32_t>(*video), rating});
  }
}

// Reads a string in place (std::istringstream would copy it: the text of a whole shard).
class StringReader : public std::streambuf {
 public:
  explicit StringReader(const std::string& text) {
    char* begin = const_cast<char*>(text.data());
    setg(begin, begin, begin + text.size());
  }
};

// Reads `length` bytes of `file` from its current position, a buffer at a time.
class FileRangeReader : public std::streambuf {
 public:
  FileRangeReader(std::ifstream& file, std::uint64_t length) : file_(file), remaining_(length), buffer_(1 << 20) {}

 protected:
  int_type underflow() override {
    if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
    if (remaining_ == 0) return traits_type::eof();
    const auto want = static_cast<std::streamsize>(std::min<std::uint64_t>(buffer_.size(), remaining_));
    file_.read(buffer_.data(), want);
    const std::streamsize got = file_.gcount();
    if (got <= 0) return traits_type::eof();
    remaining_ -= static_cast<std::uint64_t>(got);
    setg(buffer_.data(), buffer_.data(), buffer_.data() + got);
    return traits_type::to_int_type(*gptr());
  }

 private:
  std::ifstream& file_;
  std::uint64_t remaining_;
  std::vector<char> buffer_;
};

std::string read_whole_file(const std::string& path) {
  auto input = open_input_file(path);
  std::string bytes;
  input.seekg(0, std::ios::end);
  const auto size = input.tellg();
  input.seekg(0);
  if (size > 0) {
    bytes.resize(static_cast<std::size_t>(size));
    input.read(bytes.data(), size);
    if (input.gcount() != size) throw IoError("cannot read '" + path + "': short read");
  }
  return bytes;
}

// The first position >= `position` at which a line starts (or the file's size).
std::uint64_t line_start_at_or_after(std::istream& file, std::uint64_t position, std::uint64_t size) {
  if (position == 0 || position >= size) return std::min(position, size);
  file.clear();
  file.seekg(static_cast<std::streamoff>(position - 1));
  std::uint64_t at = position - 1;
  char buffer[4096];
  while (at < size) {
    file.read(buffer, sizeof buffer);
    const auto got = static_cast<std::uint64_t>(file.gcount());
    if (got == 0) break;
    const char* newline = static_cast<const char*>(std::memchr(buffer, '\n', got));
    if (newline != nullptr) return at + static_cast<std::uint64_t>(newline - buffer) + 1;
    at += got;
  }
  return size;
}

std::string header_line(const std::string& path, std::istream& file) {
  file.clear();
  file.seekg(0);
  std::string line;
  if (!std::getline(file, line)) throw InvalidInput(path + ": empty ratings file (expected header user_idx,video_idx,rating)");
  return line;
}

}  // namespace

std::string shard_file_name(int index, int count) {
  char name[64];
  std::snprintf(name, sizeof name, "ratings-%05d-of-%05d.csv", index, count);
  return name;
}

void write_shard_manifest(std::ostream& output, const ShardManifest& manifest) {
  nlohmann::ordered_json json;
  json["format"] = "vr-ratings-shards";
  json["version"] = 1;
  json["header"] = manifest.header;
  json["users"] = manifest.users;
  json["videos"] = manifest.videos;
  json["ratings"] = manifest.ratings;
  json["mappings_fnv1a64"] = hex64(manifest.mappings_checksum);
  json["shards"] = nlohmann::ordered_json::array();
  for (const auto& shard : manifest.shards) {
    json["shards"].push_back({{"name", shard.name}, {"bytes", shard.bytes}, {"rows", shard.rows},
                              {"fnv1a64", hex64(shard.checksum)}});
  }
  output << json.dump(1) << "\n";
}

ShardManifest read_shard_manifest(std::istream& input, const std::string& source_name) {
  const auto fail = [&](const std::string& why) { return CorruptFile("'" + source_name + "': not a vr shard manifest: " + why); };
  const auto hex = [&](const nlohmann::json& value) {
    const std::string text = value.get<std::string>();
    std::uint64_t parsed = 0;
    if (text.size() != 16 || std::sscanf(text.c_str(), "%16" SCNx64, &parsed) != 1) throw fail("bad checksum '" + text + "'");
    return parsed;
  };
  ShardManifest manifest;
  try {
    const auto json = nlohmann::json::parse(input);
    if (json.value("format", "") != "vr-ratings-shards") throw fail("no \"format\": \"vr-ratings-shards\"");
    if (json.at("version").get<int>() != 1) throw fail("version " + json.at("version").dump() + " is not 1; upgrade vr");
    manifest.header = json.at("header").get<std::string>();
    manifest.users = json.at("users").get<std::uint32_t>();
    manifest.videos = json.at("videos").get<std::uint32_t>();
    manifest.ratings = json.at("ratings").get<std::uint64_t>();
    manifest.mappings_checksum = hex(json.at("mappings_fnv1a64"));
    std::uint64_t rows = 0;
    for (const auto& entry : json.at("shards")) {
      ShardEntry shard{entry.at("name").get<std::string>(), entry.at("bytes").get<std::uint64_t>(),
                       entry.at("rows").get<std::uint64_t>(), hex(entry.at("fnv1a64"))};
      if (shard.name != shard_file_name(static_cast<int>(manifest.shards.size()), static_cast<int>(json.at("shards").size()))) {
        throw fail("unexpected shard name '" + shard.name + "'");
      }
      rows += shard.rows;
      manifest.shards.push_back(std::move(shard));
    }
    if (manifest.shards.empty()) throw fail("no shards");
    if (rows != manifest.ratings) throw fail("shard rows do not add up to \"ratings\"");
  } catch (const nlohmann::json::exception& error) {
    throw fail(error.what());
  }
  return manifest;
}

ShardManifest load_shard_manifest(const std::string& path) {
  auto input = open_input_file(path);
  return read_shard_manifest(input, path);
}

std::uint64_t file_checksum(const std::string& path) {
  auto input = open_input_file(path);
  std::uint64_t hash = kFnv1a64Start;
  std::vector<char> buffer(1 << 20);
  while (input) {
    input.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    hash = fnv1a64_update(hash, std::string_view(buffer.data(), static_cast<std::size_t>(input.gcount())));
  }
  if (input.bad()) throw IoError("cannot read '" + path + "'");
  return hash;
}

void check_shard_mappings(const ShardManifest& manifest, const std::string& manifest_path,
                          const std::string& mappings_path) {
  if (file_checksum(mappings_path) != manifest.mappings_checksum) {
    throw InvalidInput("'" + mappings_path + "' is not the mappings.bin the shards of '" + manifest_path +
                       "' were made with (checksum differs); use the mappings.bin of the same vr-features run");
  }
}

std::vector<Rating> read_shard(const std::string& directory, const ShardManifest& manifest, int index) {
  const ShardEntry& entry = manifest.shards.at(static_cast<std::size_t>(index));
  const std::string path = (std::filesystem::path(directory) / entry.name).string();
  if (!std::filesystem::exists(path)) throw IoError("missing shard '" + path + "' (listed in " + kShardManifestFileName + ")");
  const std::string bytes = read_whole_file(path);
  if (bytes.size() != entry.bytes) {
    throw CorruptFile("'" + path + "': corrupt shard: " + std::to_string(bytes.size()) + " bytes, " +
                      kShardManifestFileName + " says " + std::to_string(entry.bytes));
  }
  if (fnv1a64(bytes) != entry.checksum) {
    throw CorruptFile("'" + path + "': corrupt shard or a shard of another vr-features run (checksum differs from " +
                      kShardManifestFileName + ")");
  }
  const RatingColumns columns = parse_header(manifest.header, path);
  StringReader reader(bytes);
  std::istream input(&reader);
  std::uint64_t first_line = 1;
  if (index == 0) {
    std::string header;
    std::getline(input, header);
    if (!header.empty() && header.back() == '\r') header.pop_back();
    if (header != manifest.header) throw InvalidInput(path + ":1: header '" + header + "' differs from the manifest's");
    first_line = 2;
  }
  std::vector<Rating> ratings;
  ratings.reserve(entry.rows);
  read_rating_rows(input, path, columns, [&] { return first_line; }, ratings);
  if (ratings.size() != entry.rows) throw CorruptFile("'" + path + "': row count differs from the manifest's");
  for (const Rating& rating : ratings) {
    if (rating.user >= manifest.users || rating.video >= manifest.videos) {
      throw InvalidInput("'" + path + "' refers to user " + std::to_string(rating.user) + " / video " +
                         std::to_string(rating.video) + " beyond the mappings' " + std::to_string(manifest.users) +
                         " users and " + std::to_string(manifest.videos) + " videos");
    }
  }
  return ratings;
}

AggregatedInteractions run_features_sharded(const FeaturesJob& job, const std::string& directory, int shards,
                                            const ProgressCallback& progress) {
  if (shards < 1 || shards > kMaxShards) throw InvalidInput("--shards must be between 1 and " + std::to_string(kMaxShards));
  if (job.mappings_path == "-") throw InvalidInput("mappings.bin is binary and cannot go to stdout");
  ensure_directory(directory);
  const auto mappings_parent = std::filesystem::path(job.mappings_path).parent_path();
  if (!mappings_parent.empty()) ensure_directory(mappings_parent.string());
  // Every output is opened before the input is read, so an unwritable folder fails at once.
  AtomicFileWriter mappings_writer(job.mappings_path);
  AtomicFileWriter manifest_writer((std::filesystem::path(directory) / kShardManifestFileName).string());
  std::vector<std::unique_ptr<AtomicFileWriter>> shard_writers;
  for (int index = 0; index < shards; ++index) {
    shard_writers.push_back(std::make_unique<AtomicFileWriter>(
        (std::filesystem::path(directory) / shard_file_name(index, shards)).string()));
  }

  AggregatedInteractions aggregated;
  if (job.input_path == "-") {
    aggregated = aggregate_interactions(std::cin, "<stdin>", job.config, progress);
  } else {
    auto input = open_input_file(job.input_path);
    aggregated = aggregate_interactions(input, job.input_path, job.config, progress);
  }
  if (aggregated.pairs == 0) {
    throw InvalidInput((job.input_path == "-" ? std::string("<stdin>") : job.input_path) +
                       ": no valid interactions found; nothing to write");
  }

  ShardManifest manifest;
  std::ostringstream header_stream;
  { RatingsCsvWriter header_only(header_stream); }
  const std::string header_with_newline = header_stream.str();
  manifest.header = header_with_newline.substr(0, header_with_newline.size() - 1);
  const std::uint64_t total = aggregated.ratings.size();
  for (int index = 0; index < shards; ++index) {
    const std::uint64_t begin = total * static_cast<std::uint64_t>(index) / static_cast<std::uint64_t>(shards);
    const std::uint64_t end = total * static_cast<std::uint64_t>(index + 1) / static_cast<std::uint64_t>(shards);
    AtomicFileWriter& writer = *shard_writers[static_cast<std::size_t>(index)];
    HashingStreambuf hashing(writer.stream(), index == 0 ? 0 : header_with_newline.size());
    std::ostream hashed(&hashing);
    {
      RatingsCsvWriter csv(hashed, [&writer] { writer.start_writeback(); });
      for (std::uint64_t row = begin; row < end; ++row) csv.write(aggregated.ratings[row]);
    }
    if (!hashed || !writer.stream()) throw IoError("cannot write '" + writer.path() + "'");
    manifest.shards.push_back(ShardEntry{shard_file_name(index, shards), hashing.bytes(), end - begin, hashing.checksum()});
  }
  manifest.ratings = total;
  std::vector<Rating>().swap(aggregated.ratings);

  Mappings mappings{std::move(aggregated.users), std::move(aggregated.videos)};
  manifest.users = static_cast<std::uint32_t>(mappings.users.size());
  manifest.videos = static_cast<std::uint32_t>(mappings.videos.size());
  {
    HashingStreambuf hashing(mappings_writer.stream(), 0);
    std::ostream hashed(&hashing);
    write_mappings(hashed, mappings);
    hashed.flush();
    manifest.mappings_checksum = hashing.checksum();
  }
  write_shard_manifest(manifest_writer.stream(), manifest);

  mappings_writer.prepare();
  for (auto& writer : shard_writers) writer->prepare();
  manifest_writer.prepare();
  mappings_writer.commit();
  for (auto& writer : shard_writers) writer->commit();
  manifest_writer.commit();
  aggregated.users = std::move(mappings.users);
  aggregated.videos = std::move(mappings.videos);
  return aggregated;
}

void stream_shard(const std::string& directory, const ShardEntry& entry, std::size_t piece_bytes,
                  const std::function<void(const char*, std::size_t)>& sink) {
  const std::string path = (std::filesystem::path(directory) / entry.name).string();
  if (!std::filesystem::exists(path)) throw IoError("missing shard '" + path + "' (listed in " + kShardManifestFileName + ")");
  auto input = open_input_file(path);
  std::vector<char> piece(std::max<std::size_t>(1, piece_bytes));
  std::uint64_t hash = kFnv1a64Start, bytes = 0;
  while (input) {
    input.read(piece.data(), static_cast<std::streamsize>(piece.size()));
    const auto count = static_cast<std::size_t>(input.gcount());
    if (count == 0) break;
    hash = fnv1a64_update(hash, std::string_view(piece.data(), count));
    bytes += count;
    if (bytes > entry.bytes) break;
    sink(piece.data(), count);
  }
  if (input.bad()) throw IoError("cannot read '" + path + "'");
  if (bytes != entry.bytes) {
    throw CorruptFile("'" + path + "': corrupt shard: " + (bytes > entry.bytes ? "more than " : "") + std::to_string(bytes) +
                      " bytes, " + kShardManifestFileName + " says " + std::to_string(entry.bytes));
  }
  if (hash != entry.checksum) {
    throw CorruptFile("'" + path + "': corrupt shard or a shard of another vr-features run (checksum differs from " +
                      kShardManifestFileName + ")");
  }
}

void write_shard_concatenation(const std::string& directory, const std::string& output_path) {
  const ShardManifest manifest = load_shard_manifest((std::filesystem::path(directory) / kShardManifestFileName).string());
  const auto parent = std::filesystem::path(output_path).parent_path();
  if (!parent.empty()) ensure_directory(parent.string());
  AtomicFileWriter writer(output_path);
  for (const ShardEntry& entry : manifest.shards) {
    stream_shard(directory, entry, std::size_t{1} << 20,
                 [&](const char* bytes, std::size_t count) { writer.stream().write(bytes, static_cast<std::streamsize>(count)); });
  }
  writer.commit();
}

std::vector<Rating> read_all_shards(const std::string& directory, const std::string& mappings_path) {
  const std::string manifest_path = (std::filesystem::path(directory) / kShardManifestFileName).string();
  const ShardManifest manifest = load_shard_manifest(manifest_path);
  check_shard_mappings(manifest, manifest_path, mappings_path);
  std::vector<Rating> ratings;
  ratings.reserve(manifest.ratings);
  for (int index = 0; index < static_cast<int>(manifest.shards.size()); ++index) {
    const std::vector<Rating> part = read_shard(directory, manifest, index);
    ratings.insert(ratings.end(), part.begin(), part.end());
  }
  return ratings;
}

RatingsSource find_ratings_source(const std::string& directory) {
  const auto csv = std::filesystem::path(directory) / kRatingsFileName;
  const auto manifest = std::filesystem::path(directory) / kShardManifestFileName;
  const bool has_csv = std::filesystem::exists(csv);
  const bool has_manifest = std::filesystem::exists(manifest);
  if (has_csv && has_manifest) {
    throw InvalidInput("'" + directory + "' holds both " + kRatingsFileName + " and " + kShardManifestFileName +
                       " (shards); remove the one that is out of date, or name the input with --ratings");
  }
  if (has_manifest) return RatingsSource::Shards;
  if (has_csv) return RatingsSource::Csv;
  throw IoError("cannot read '" + csv.string() + "': no such file, and no shards (" + kShardManifestFileName +
                ") either (run vr-features first)");
}

std::vector<Rating> read_ratings_csv_part(const std::string& path, int part, int parts) {
  auto file = open_input_file(path);
  file.seekg(0, std::ios::end);
  const auto size = static_cast<std::uint64_t>(file.tellg());
  const std::string header = header_line(path, file);
  const RatingColumns columns = parse_header(header, path);
  const std::uint64_t data_begin = std::min<std::uint64_t>(size, header.size() + 1);
  const auto boundary = [&](int index) {
    if (index >= parts) return size;
    const std::uint64_t target = size * static_cast<std::uint64_t>(index) / static_cast<std::uint64_t>(parts);
    return std::max(data_begin, line_start_at_or_after(file, target, size));
  };
  const std::uint64_t begin = part == 0 ? data_begin : boundary(part);
  const std::uint64_t end = std::max(begin, boundary(part + 1));
  // The range is streamed, never held whole; a first pass counts its lines so that the
  // ratings are allocated once (growing by doubling would hold up to three times as much).
  auto range = open_input_file(path);
  range.seekg(static_cast<std::streamoff>(begin));
  std::uint64_t lines = 0;
  {
    std::vector<char> buffer(1 << 20);
    for (std::uint64_t at = begin; at < end;) {
      const auto want = static_cast<std::streamsize>(std::min<std::uint64_t>(buffer.size(), end - at));
      range.read(buffer.data(), want);
      if (range.gcount() != want) throw IoError("cannot read '" + path + "': short read");
      lines += static_cast<std::uint64_t>(std::count(buffer.data(), buffer.data() + want, '\n'));
      at += static_cast<std::uint64_t>(want);
    }
  }
  range.clear();
  range.seekg(static_cast<std::streamoff>(begin));
  FileRangeReader reader(range, end - begin);
  std::istream input(&reader);
  std::vector<Rating> ratings;
  ratings.reserve(lines + 1);
  read_rating_rows(input, path, columns,
                   [&] {
                     // The real line number, counted only when a row is bad.
                     file.clear();
                     file.seekg(0);
                     std::uint64_t lines = 1;
                     std::vector<char> buffer(1 << 16);
                     std::uint64_t at = 0;
                     while (at < begin) {
                       const auto want = static_cast<std::streamsize>(std::min<std::uint64_t>(buffer.size(), begin - at));
                       file.read(buffer.data(), want);
                       const auto got = file.gcount();
                       if (got <= 0) break;
                       lines += static_cast<std::uint64_t>(std::count(buffer.data(), buffer.data() + got, '\n'));
                       at += static_cast<std::uint64_t>(got);
                     }
                     return lines;
                   },
                   ratings);
  return ratings;
}

}  // namespace vr
