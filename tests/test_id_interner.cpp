#include "vr/id_interner.h"

#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <string>
#include <vector>

namespace {

// Interns `ids` in order into an interner and a std::map reference, checking every index.
void check_against_map(const std::vector<std::string>& ids) {
  vr::IdInterner interner;
  std::map<std::string, std::uint32_t> reference;
  for (const auto& id : ids) {
    const auto expected = reference.emplace(id, static_cast<std::uint32_t>(reference.size())).first->second;
    REQUIRE(interner.intern(id) == expected);
  }
  REQUIRE(interner.size() == reference.size());
  for (const auto& [id, index] : reference) REQUIRE(interner.id(index) == id);

  const auto order = interner.order_by_id();
  REQUIRE(order.size() == reference.size());
  std::size_t position = 0;
  for (const auto& [id, index] : reference) REQUIRE(order[position++] == index);

  const vr::IdMap sorted = interner.to_id_map(order);
  position = 0;
  for (const auto& entry : reference) REQUIRE(sorted.id(static_cast<std::uint32_t>(position++)) == entry.first);
}

std::vector<std::string> random_ids(std::size_t count, std::size_t max_length, unsigned seed) {
  std::mt19937 random(seed);
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < count; ++i) {
    std::string id(1 + random() % max_length, 'x');
    // A small alphabet makes repeats, shared prefixes and equal 8-byte prefixes common.
    for (char& byte : id) byte = "ab0\x01\xff"[random() % 5];
    ids.push_back(id);
  }
  return ids;
}

}  // namespace

TEST_CASE("IdInterner hands out indices in first-seen order, as a std::map reference does") {
  check_against_map({"u2", "u1", "u2", "u10", "u1", "u3"});
}

TEST_CASE("IdInterner keeps short and long ids apart, including 8 and 9 bytes and NUL bytes") {
  check_against_map({"12345678", "123456789", "1234567", std::string("ab\0", 3), "ab", std::string("ab\0\0", 4),
                     std::string(300, 'q'), std::string(301, 'q'), "123456789", std::string(300, 'q'), "ab"});
}

TEST_CASE("IdInterner matches a std::map over many random ids, through several growths") {
  check_against_map(random_ids(20000, 6, 1));
  check_against_map(random_ids(20000, 20, 2));
}

TEST_CASE("IdInterner tells apart ids with the same hash tag and the same home slot") {
  // A new interner has 16 slots; the home is the top 4 bits of the hash's low half and the
  // tag its top 24 bits. Among enough ids some share both, so a look-up of one meets the other
  // in its probe and only the stored bytes (inline or in the arena) tell them apart.
  for (const std::size_t length : {7, 30}) {
    std::map<std::uint64_t, std::string> first_with_key;
    std::vector<std::string> colliding;
    for (std::uint64_t i = 0; colliding.empty(); ++i) {
      std::string id = std::to_string(i);
      id.insert(0, length - id.size(), 'c');
      const std::uint64_t hash = vr::IdInterner::hash(id);
      const std::uint64_t key = (hash >> 40) << 4 | ((hash & 0xffffffffULL) >> 28);
      const auto [found, added] = first_with_key.emplace(key, id);
      if (!added) colliding = {found->second, id};
    }
    check_against_map({colliding[0], colliding[1], colliding[1], colliding[0]});
  }
}

TEST_CASE("IdInterner starts empty and small") {
  vr::IdInterner interner;
  REQUIRE(interner.size() == 0);
  REQUIRE(interner.order_by_id().empty());
  REQUIRE(interner.to_id_map({}).size() == 0);
  REQUIRE(interner.intern("only") == 0);
  REQUIRE(interner.intern("only") == 0);
  REQUIRE(interner.id(0) == "only");
}
