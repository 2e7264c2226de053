// vr-features' id resolution: rows' user and video ids interned in batches, so that the
// cache misses of their look-ups overlap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "vr/id_interner.h"
#include "vr/pair_accumulator.h"

namespace vr {

// Ids, event names and the like are a few bytes long: comparing and copying them with two
// overlapping loads of 1, 4 or 8 bytes beats a call into libc, whose memcmp was 7% of the
// 20M-event run. Neither reads outside [data, data + size).
inline bool equal_bytes(const char* left, const char* right, std::size_t size) {
  const auto load8 = [](const char* bytes) {
    std::uint64_t word;
    std::memcpy(&word, bytes, 8);
    return word;
  };
  const auto load4 = [](const char* bytes) {
    std::uint32_t word;
    std::memcpy(&word, bytes, 4);
    return word;
  };
  if (size >= 8) {
    if (size > 16) return std::memcmp(left, right, size) == 0;
    return ((load8(left) ^ load8(right)) | (load8(left + size - 8) ^ load8(right + size - 8))) == 0;
  }
  if (size >= 4) return ((load4(left) ^ load4(right)) | (load4(left + size - 4) ^ load4(right + size - 4))) == 0;
  if (size == 0) return true;
  return left[0] == right[0] && left[size / 2] == right[size / 2] && left[size - 1] == right[size - 1];
}

inline bool equal_bytes(std::string_view left, std::string_view right) {
  return left.size() == right.size() && equal_bytes(left.data(), right.data(), left.size());
}

inline void copy_bytes(char* to, const char* from, std::size_t size) {
  if (size >= 8 && size <= 16) {
    std::uint64_t head;
    std::uint64_t tail;
    std::memcpy(&head, from, 8);
    std::memcpy(&tail, from + size - 8, 8);
    std::memcpy(to, &head, 8);
    std::memcpy(to + size - 8, &tail, 8);
    return;
  }
  std::memcpy(to, from, size);
}

// Resolves the user and video ids of a batch of rows to indices together, so that the cache
// misses of their id-map look-ups overlap instead of coming one after the other. Ids are
// copied in (the CSV reader's line buffer moves on), and rows are resolved in input order, so
// indices are handed out exactly as one-at-a-time interning would.
class RowBatch {
 public:
  static constexpr std::size_t kRows = 64;

  // `same_user` = this row's user id equals the previous row's (logs are often grouped by
  // user): its look-up is skipped.
  void add(std::string_view user_id, bool same_user, std::string_view video_id, float weight) {
    Row& row = rows_[count_++];
    row.same_user = same_user;
    if (!same_user) row.user = append(user_id);
    row.video = append(video_id);
    row.weight = weight;
  }
  bool full() const { return count_ == kRows; }

  // Interns every row's ids and adds its pair to `pairs`; empties the batch.
  void resolve(IdInterner& users, IdInterner& videos, PairAccumulator& pairs) {
    for (std::size_t i = 0; i < count_; ++i) {
      Row& row = rows_[i];
      if (!row.same_user) start_look_up(row.user, users);
      start_look_up(row.video, videos);
    }
    for (std::size_t i = 0; i < count_; ++i) {
      const Row& row = rows_[i];
      if (!row.same_user) last_user_index_ = users.intern(text(row.user), row.user.hash);
      pairs.add(last_user_index_, videos.intern(text(row.video), row.video.hash), row.weight);
    }
    count_ = 0;
    bytes_used_ = 0;
  }

 private:
  struct Id {
    std::size_t offset = 0;
    std::size_t length = 0;
    std::uint64_t hash = 0;
  };
  struct Row {
    Id user;
    Id video;
    float weight = 0;
    bool same_user = false;
  };

  Id append(std::string_view id) {
    Id appended;
    appended.offset = bytes_used_;
    appended.length = id.size();
    if (bytes_used_ + id.size() > bytes_.size()) bytes_.resize(std::max(2 * bytes_.size(), bytes_used_ + id.size()));
    copy_bytes(bytes_.data() + bytes_used_, id.data(), id.size());
    bytes_used_ += id.size();
    return appended;
  }
  std::string_view text(const Id& id) const { return std::string_view(bytes_.data() + id.offset, id.length); }

  void start_look_up(Id& id, const IdInterner& ids) {
    id.hash = IdInterner::hash(text(id));
    ids.prefetch(id.hash);
  }

  Row rows_[kRows];
  std::size_t count_ = 0;
  std::vector<char> bytes_;
  std::size_t bytes_used_ = 0;
  std::uint32_t last_user_index_ = 0;  // the user of the last row resolved
};

}  // namespace vr
