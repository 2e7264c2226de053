// als_model.bin and mappings.bin: exact round trips, and clean failures on bad files.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include "support/test_support.h"
#include "vr/errors.h"
#include "vr/mappings.h"
#include "vr/model.h"
#include "vr/version.h"

namespace {

vr::Model sample_model() {
  vr::Model model;
  model.info.vr_version = vr::kVersion;
  model.info.config.factors = 3;
  model.info.config.regularization = 0.25f;
  model.info.config.alpha = 4.0f;
  model.info.config.iterations = 7;
  model.info.config.solver = vr::Solver::Cholesky;
  model.info.config.scaling = vr::ConfidenceScaling::Log;
  model.info.config.eps = 0.5f;
  model.info.config.seed = 99;
  model.info.n_users = 4;
  model.info.n_videos = 2;
  model.info.n_ratings = 5;
  model.info.loss_history = {0.5, 0.25, 0.125};
  model.factors.user_factors = vr::initial_factors(4, 3, 1);
  model.factors.user_factors(1, 2) = -1.0e-30f;
  model.factors.item_factors = vr::initial_factors(2, 3, 2);
  return model;
}

std::string serialize(const vr::Model& model) {
  std::ostringstream out(std::ios::binary);
  vr::write_model(out, model);
  return out.str();
}

std::string load_error(const std::string& bytes) {
  std::istringstream in(bytes, std::ios::binary);
  try {
    vr::read_model(in, "m.bin");
  } catch (const vr::CorruptFile& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a model round-trips exactly, with how it was made") {
  const auto model = sample_model();
  const std::string bytes = serialize(model);
  CHECK(bytes.substr(0, 8) == std::string("VRMODEL\0", 8));
  std::istringstream in(bytes, std::ios::binary);
  const auto back = vr::read_model(in, "m.bin");
  CHECK(back.factors.user_factors == model.factors.user_factors);
  CHECK(back.factors.item_factors == model.factors.item_factors);
  CHECK(back.info.vr_version == model.info.vr_version);
  CHECK(back.info.config.factors == 3);
  CHECK(back.info.config.regularization == 0.25f);
  CHECK(back.info.config.alpha == 4.0f);
  CHECK(back.info.config.iterations == 7);
  CHECK(back.info.config.solver == vr::Solver::Cholesky);
  CHECK(back.info.config.scaling == vr::ConfidenceScaling::Log);
  CHECK(back.info.config.eps == 0.5f);
  CHECK(back.info.config.seed == 99);
  CHECK(back.info.n_users == 4);
  CHECK(back.info.n_videos == 2);
  CHECK(back.info.n_ratings == 5);
  CHECK(back.info.loss_history == model.info.loss_history);
  CHECK(serialize(back) == bytes);
  CHECK_THAT(vr::describe(back.info), Catch::Contains("4 users x 2 videos") && Catch::Contains("seed:            99"));
}

TEST_CASE("bad model files fail cleanly with the file name") {
  const std::string bytes = serialize(sample_model());
  CHECK_THAT(load_error(""), Catch::Contains("m.bin") && Catch::Contains("too short"));
  CHECK_THAT(load_error("PK\x03\x04 not a model at all"), Catch::Contains("m.bin") && Catch::Contains("wrong magic"));
  std::string newer = bytes;
  newer[8] = static_cast<char>(vr::kModelFormatVersion + 1);
  CHECK_THAT(load_error(newer), Catch::Contains("newer"));
  for (std::size_t cut : {std::size_t{10}, std::size_t{20}, bytes.size() / 2, bytes.size() - 1}) {
    INFO("truncated to " << cut);
    CHECK_THAT(load_error(bytes.substr(0, cut)), Catch::Contains("m.bin") && Catch::Contains("truncated"));
  }
  // Flip one bit in every byte of the payload in turn: each must be caught.
  for (std::size_t position = 20; position < bytes.size() - 8; position += 7) {
    std::string corrupt = bytes;
    corrupt[position] = static_cast<char>(corrupt[position] ^ 0x10);
    INFO("flipped byte " << position);
    CHECK_THAT(load_error(corrupt), Catch::Contains("m.bin") && Catch::Contains("corrupt"));
  }
  CHECK_THAT(load_error(bytes + "x"), Catch::Contains("trailing"));
  // A payload length far beyond the file (2^56 bytes) is named as truncated before anything is
  // read or allocated by it.
  std::string longer = bytes;
  longer[19] = '\x01';
  CHECK_THAT(load_error(longer), Catch::Contains("m.bin") && Catch::Contains("truncated") &&
                                     Catch::Contains("expected 7205759403792"));
}

TEST_CASE("a model whose shapes disagree with its info is refused") {
  auto model = sample_model();
  model.info.n_users = 5;
  CHECK_THAT(load_error(serialize(model)), Catch::Contains("shape"));
}

TEST_CASE("save_model writes atomically and load_model reads it back") {
  vr::test::TempDir dir;
  const auto path = dir.file("als_model.bin");
  vr::save_model(path, sample_model());
  CHECK(vr::load_model(path).factors.item_factors == sample_model().factors.item_factors);
  CHECK(vr::test::list_dir(dir.path()) == std::vector<std::string>{"als_model.bin"});
  CHECK_THROWS_AS(vr::load_model(dir.file("missing.bin")), vr::IoError);
  CHECK_THROWS_AS(vr::save_model(dir.file("no/such/dir/m.bin"), sample_model()), vr::IoError);
}

TEST_CASE("mappings round-trip, and bad mappings files fail cleanly") {
  vr::Mappings mappings{vr::IdMap({"u001", "u002", "ü,\"x\""}), vr::IdMap({"v9", std::string(1000, 'v')})};
  std::ostringstream out(std::ios::binary);
  vr::write_mappings(out, mappings);
  const std::string bytes = out.str();
  std::istringstream in(bytes, std::ios::binary);
  const auto back = vr::read_mappings(in, "maps.bin");
  CHECK(back.users.ids() == mappings.users.ids());
  CHECK(back.videos.ids() == mappings.videos.ids());
  CHECK(back.users.find("u002") == 1u);
  CHECK_FALSE(back.videos.find("v8").has_value());

  auto error_of = [](const std::string& data) {
    std::istringstream input(data, std::ios::binary);
    try {
      vr::read_mappings(input, "maps.bin");
    } catch (const vr::CorruptFile& error) {
      return std::string(error.what());
    }
    return std::string();
  };
  CHECK_THAT(error_of(bytes.substr(0, bytes.size() - 3)), Catch::Contains("maps.bin") && Catch::Contains("truncated"));
  std::string model_bytes;
  {
    std::ostringstream model_out(std::ios::binary);
    vr::write_model(model_out, sample_model());
    model_bytes = model_out.str();
  }
  CHECK_THAT(error_of(model_bytes), Catch::Contains("wrong magic"));
  std::string flipped = bytes;
  flipped[30] = static_cast<char>(flipped[30] ^ 1);
  CHECK_THAT(error_of(flipped), Catch::Contains("corrupt"));
}

TEST_CASE("an id map refuses duplicates and sorts like pandas category codes") {
  CHECK_THROWS_AS(vr::IdMap({"a", "b", "a"}), vr::InvalidInput);
  vr::IdMap ids;
  CHECK(ids.intern("v10") == 0);
  CHECK(ids.intern("v02") == 1);
  CHECK(ids.intern("v10") == 0);
  const auto renumbering = ids.sort_ids();
  CHECK(renumbering == std::vector<std::uint32_t>{1, 0});
  CHECK(ids.id(0) == "v02");
  CHECK(ids.find("v10") == 1u);
  const vr::IdMap copy = ids;
  CHECK(copy.find("v02") == 0u);
}

TEST_CASE("writing to /dev/null writes in place and never replaces the device") {
  vr::save_model("/dev/null", sample_model());
  struct stat info {};
  REQUIRE(::stat("/dev/null", &info) == 0);
  CHECK(S_ISCHR(info.st_mode));
  const auto leftovers = vr::test::list_dir("/dev");
  CHECK(std::none_of(leftovers.begin(), leftovers.end(),
                     [](const std::string& name) { return name.rfind("null.tmp.", 0) == 0; }));
}

TEST_CASE("a writer removes the temporaries of killed writers of the same file, and only those") {
  vr::test::TempDir dir;
  // A pid that surely ended: a child that has exited and been reaped.
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  REQUIRE(child > 0);
  REQUIRE(::waitpid(child, nullptr, 0) == child);
  const std::string dead = std::to_string(child);
  const std::string alive = std::to_string(::getppid());
  vr::test::write_file(dir.file("als_model.bin.tmp." + dead + ".0.123456"), "partial");
  vr::test::write_file(dir.file("als_model.bin.tmp." + alive + ".0.123456"), "in progress");
  vr::test::write_file(dir.file("als_model.bin.tmp." + dead + ".x"), "not our name");
  vr::test::write_file(dir.file("mappings.bin.tmp." + dead + ".0.1"), "another file's");
  vr::save_model(dir.file("als_model.bin"), sample_model());
  std::vector<std::string> expected{"als_model.bin", "als_model.bin.tmp." + alive + ".0.123456",
                                    "als_model.bin.tmp." + dead + ".x", "mappings.bin.tmp." + dead + ".0.1"};
  std::sort(expected.begin(), expected.end());
  CHECK(vr::test::list_dir(dir.path()) == expected);
}

TEST_CASE("write_als_model_streamed writes write_model's bytes, whatever the pieces the rows come in") {
  const vr::Model model = sample_model();
  std::ostringstream whole(std::ios::binary);
  vr::write_model(whole, model);
  const auto in_pieces = [](const vr::FactorMatrix& matrix, Eigen::Index piece) {
    return [&matrix, piece](const vr::FactorRowEmitter& emit) {
      for (Eigen::Index row = 0; row < matrix.rows(); row += piece) {
        emit(matrix.row(row).data(), static_cast<std::uint64_t>(std::min(piece, matrix.rows() - row)));
      }
    };
  };
  for (const Eigen::Index piece : {1, 2, 1000}) {
    std::ostringstream streamed(std::ios::binary);
    vr::write_als_model_streamed(streamed, model.info, in_pieces(model.factors.user_factors, piece),
                                 in_pieces(model.factors.item_factors, piece));
    CHECK(streamed.str() == whole.str());
  }
  std::ostringstream short_output(std::ios::binary);
  CHECK_THROWS_AS(vr::write_als_model_streamed(short_output, model.info, [](const vr::FactorRowEmitter&) {},
                                               in_pieces(model.factors.item_factors, 1)),
                  std::logic_error);
}
