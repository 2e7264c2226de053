// The catalog: what is known about each video apart from the model (videos.csv). It says which
// videos may be recommended at all (hidden, availability window) and what request filters
// and answers can use (categories, title, other attributes). It is read independently of the
// model and can change while a model is served: a takedown needs no retraining.
//
// Format (CSV with a header, columns found by name in any order and any case):
//   video_id         required, not empty, unique
//   title            optional text
//   categories       optional, several separated by '|' ("travel|food"); spaces around each
//                    name are dropped, empty names ignored
//   available_from   optional; ISO 8601 or epoch seconds (vr/timestamp.h); empty = always was
//   available_to     optional, same forms; empty = never ends. A video is available while
//                    available_from <= now < available_to.
//   hidden           optional true/false (also 1/0, yes/no; empty = false): never recommended
//   anything else    kept as a string attribute under its header name
#pragma once

#include <cstdint>
#include <istream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace vr {

// One row of videos.csv.
struct CatalogVideo {
  std::string video_id;
  std::string title;                             // "" when the column is missing or empty
  std::vector<std::string> categories;           // in file order, duplicates removed
  std::optional<double> available_from;          // seconds since the epoch; none = no start
  std::optional<double> available_to;            // seconds since the epoch (exclusive); none = no end
  bool hidden = false;                           // never recommended
  std::vector<std::string> attributes;           // one per Catalog::attribute_names, in that order

  // Not hidden and inside its window at `now` (seconds since the epoch).
  bool available_at(double now) const {
    return !hidden && (!available_from || *available_from <= now) && (!available_to || now < *available_to);
  }
  bool has_category(std::string_view name) const;
};

// The parsed videos.csv.
struct Catalog {
  std::vector<CatalogVideo> videos;          // in file order
  std::vector<std::string> attribute_names;  // the columns kept as attributes, in header order
  std::string source;                        // the file it was read from (for messages)
  std::string version;                       // 16 hex digits: FNV-1a of the file's bytes

  // The row of `video_id`, or null.
  const CatalogVideo* find(std::string_view video_id) const;
  // How many rows are hidden.
  std::size_t hidden_count() const;

  // Filled by read_catalog_csv: video id -> index into `videos`.
  std::unordered_map<std::string, std::size_t> index;
};

// Reads videos.csv from `input`; `source_name` names it in messages. Throws InvalidInput naming
// the file, line and field for a missing video_id column, an empty or repeated id, a timestamp
// that does not parse, an available_from not before available_to, a hidden value that is not a
// boolean or a row with too few fields. The returned catalog's version is the FNV-1a of the
// bytes read.
std::shared_ptr<const Catalog> read_catalog_csv(std::istream& input, const std::string& source_name);

// read_catalog_csv of a file. Throws IoError when it cannot be opened.
std::shared_ptr<const Catalog> load_catalog(const std::string& path);

// Parses a --now value: ISO 8601 or epoch seconds (vr/timestamp.h), or "now" for the clock.
// Throws InvalidInput naming `what` otherwise.
double parse_reference_time(const std::string& text, const std::string& what);

// The clock, in seconds since the epoch.
double current_unix_time();

}  // namespace vr
