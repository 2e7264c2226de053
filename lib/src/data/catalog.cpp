#include "vr/catalog.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>

#include "vr/atomic_file.h"
#include "vr/csv.h"
#include "vr/errors.h"
#include "vr/framed_file.h"
#include "vr/timestamp.h"

namespace vr {
namespace {

std::string_view trim_spaces(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

std::string hex64(std::uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(value));
  return text;
}

// "travel| food ||travel" -> {"travel", "food"}.
std::vector<std::string> split_categories(std::string_view text) {
  std::vector<std::string> categories;
  while (true) {
    const auto bar = text.find('|');
    const std::string_view name = trim_spaces(text.substr(0, bar));
    if (!name.empty() && std::find(categories.begin(), categories.end(), name) == categories.end()) {
      categories.emplace_back(name);
    }
    if (bar == std::string_view::npos) break;
    text.remove_prefix(bar + 1);
  }
  return categories;
}

std::optional<bool> parse_boolean(std::string_view text) {
  std::string lowered(trim_spaces(text));
  std::transform(lowered.begin(), lowered.end(), lowered.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lowered.empty() || lowered == "false" || lowered == "0" || lowered == "no") return false;
  if (lowered == "true" || lowered == "1" || lowered == "yes") return true;
  return std::nullopt;
}

}  // namespace

bool CatalogVideo::has_category(std::string_view name) const {
  return std::find(categories.begin(), categories.end(), name) != categories.end();
}

const CatalogVideo* Catalog::find(std::string_view video_id) const {
  const auto it = index.find(std::string(video_id));
  return it == index.end() ? nullptr : &videos[it->second];
}

std::size_t Catalog::hidden_count() const {
  return static_cast<std::size_t>(
      std::count_if(videos.begin(), videos.end(), [](const CatalogVideo& video) { return video.hidden; }));
}

std::shared_ptr<const Catalog> read_catalog_csv(std::istream& input, const std::string& source_name) {
  // Read whole first: the version is the checksum of exactly the bytes parsed.
  std::ostringstream buffer;
  buffer << input.rdbuf();
  if (input.bad()) throw IoError("cannot read '" + source_name + "'");
  const std::string bytes = buffer.str();
  std::istringstream text(bytes);

  auto catalog = std::make_shared<Catalog>();
  catalog->source = source_name;
  catalog->version = hex64(fnv1a64(bytes));
  CsvReader reader(text, source_name, 0);
  std::vector<std::string_view> fields;
  if (!reader.next_row(fields)) throw InvalidInput(source_name + ": empty file (expected a header with video_id)");
  const std::vector<std::string> header_names(fields.begin(), fields.end());
  const std::vector<std::string_view> header(header_names.begin(), header_names.end());
  const auto id_column = find_column(header, "video_id", source_name);
  if (!id_column) throw InvalidInput(source_name + ":1: missing column 'video_id' in the header");
  const auto title_column = find_column(header, "title", source_name);
  const auto categories_column = find_column(header, "categories", source_name);
  const auto from_column = find_column(header, "available_from", source_name);
  const auto to_column = find_column(header, "available_to", source_name);
  const auto hidden_column = find_column(header, "hidden", source_name);
  std::vector<std::size_t> attribute_columns;
  for (std::size_t column = 0; column < header.size(); ++column) {
    if (column == *id_column || column == title_column || column == categories_column || column == from_column ||
        column == to_column || column == hidden_column) {
      continue;
    }
    attribute_columns.push_back(column);
    catalog->attribute_names.emplace_back(trim_spaces(header[column]));
  }

  std::unordered_map<std::string, std::uint64_t> first_line;
  while (reader.next_row(fields)) {
    const std::string where = source_name + ":" + std::to_string(reader.line_number()) + ": ";
    if (fields.size() < header.size()) {
      throw InvalidInput(where + "too few fields (" + std::to_string(fields.size()) + ", the header has " +
                         std::to_string(header.size()) + ")");
    }
    CatalogVideo video;
    video.video_id = std::string(trim_spaces(fields[*id_column]));
    if (video.video_id.empty()) throw InvalidInput(where + "field video_id is empty");
    if (const auto [it, inserted] = first_line.emplace(video.video_id, reader.line_number()); !inserted) {
      throw InvalidInput(where + "field video_id: '" + video.video_id + "' is listed twice (first on line " +
                         std::to_string(it->second) + ")");
    }
    if (title_column) video.title = std::string(fields[*title_column]);
    if (categories_column) video.categories = split_categories(fields[*categories_column]);
    const auto read_time = [&](std::optional<std::size_t> column, const char* name) -> std::optional<double> {
      if (!column) return std::nullopt;
      const std::string_view value = trim_spaces(fields[*column]);
      if (value.empty()) return std::nullopt;
      const auto seconds = parse_timestamp(value);
      if (!seconds) {
        throw InvalidInput(where + "field " + name + ": '" + std::string(value) +
                           "' is not a time (ISO 8601 such as 2026-12-01T09:00:00Z, or epoch seconds)");
      }
      return seconds;
    };
    video.available_from = read_time(from_column, "available_from");
    video.available_to = read_time(to_column, "available_to");
    if (video.available_from && video.available_to && !(*video.available_from < *video.available_to)) {
      throw InvalidInput(where + "field available_to: must be after available_from");
    }
    if (hidden_column) {
      const auto hidden = parse_boolean(fields[*hidden_column]);
      if (!hidden) {
        throw InvalidInput(where + "field hidden: '" + std::string(fields[*hidden_column]) +
                           "' is not true or false");
      }
      video.hidden = *hidden;
    }
    for (const std::size_t column : attribute_columns) video.attributes.emplace_back(fields[column]);
    catalog->index.emplace(video.video_id, catalog->videos.size());
    catalog->videos.push_back(std::move(video));
  }
  return catalog;
}

std::shared_ptr<const Catalog> load_catalog(const std::string& path) {
  auto input = open_input_file(path);
  return read_catalog_csv(input, path);
}

double parse_reference_time(const std::string& text, const std::string& what) {
  if (text == "now") return current_unix_time();
  const auto seconds = parse_timestamp(text);
  if (!seconds) {
    throw InvalidInput(what + ": '" + text + "' is not a time (ISO 8601 such as 2026-12-01T09:00:00Z, epoch seconds, or now)");
  }
  return *seconds;
}

double current_unix_time() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace vr
