#include "vr/model.h"

#include <cereal/archives/portable_binary.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include <iomanip>
#include <sstream>

#include "vr/atomic_file.h"
#include "vr/errors.h"
#include "vr/framed_file.h"
#include "vr/version.h"

namespace vr {
namespace {

constexpr std::string_view kModelMagic{"VRMODEL\0", 8};

// A factor matrix in the archive: rows, cols, then the float32 values row by row.
struct FactorBlock {
  FactorMatrix* matrix;
  std::size_t payload_size;  // bytes available, to refuse absurd shapes before allocating
};

template <class Archive>
void save(Archive& archive, const FactorBlock& block) {
  const std::uint64_t rows = static_cast<std::uint64_t>(block.matrix->rows());
  const std::uint64_t cols = static_cast<std::uint64_t>(block.matrix->cols());
  archive(rows, cols);
  archive(cereal::binary_data(block.matrix->data(), static_cast<std::size_t>(rows * cols) * sizeof(float)));
}

template <class Archive>
void load(Archive& archive, FactorBlock& block) {
  std::uint64_t rows = 0, cols = 0;
  archive(rows, cols);
  if (cols == 0 || cols > 4096 || rows > block.payload_size / sizeof(float) ||
      rows * cols > block.payload_size / sizeof(float)) {
    throw CorruptFile("factor matrix shape " + std::to_string(rows) + " x " + std::to_string(cols) +
                      " does not fit the file");
  }
  block.matrix->resize(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
  archive(cereal::binary_data(block.matrix->data(), static_cast<std::size_t>(rows * cols) * sizeof(float)));
}


// The payload size, attached to the input archive: a string or vector whose stored length
// exceeds it is refused before anything is allocated (cereal's own loaders would first
// allocate whatever length a crafted file claims; found by tests/fuzz/fuzz_model).
class ModelInputArchive : public cereal::PortableBinaryInputArchive {
 public:
  ModelInputArchive(std::istream& payload, std::size_t payload_size)
      : cereal::PortableBinaryInputArchive(payload), payload_size_(payload_size) {}
  std::size_t payload_size() const { return payload_size_; }

 private:
  std::size_t payload_size_;
};

// Reads a length cereal stored as a size tag, refusing one that needs more than the payload.
template <class Archive>
std::size_t load_length(Archive& archive, std::size_t element_size, const char* what) {
  cereal::size_type length = 0;
  archive(cereal::make_size_tag(length));
  // cereal hands nested loaders the base archive type; the object is always ours.
  const auto* limited = dynamic_cast<const ModelInputArchive*>(&archive);
  if (limited == nullptr || length > limited->payload_size() / element_size) {
    throw CorruptFile(std::string(what) + " length " + std::to_string(length) + " larger than the file");
  }
  return static_cast<std::size_t>(length);
}

template <class Archive>
void load_string(Archive& archive, std::string& text) {
  text.resize(load_length(archive, 1, "string"));
  archive(cereal::binary_data(text.data(), text.size()));
}

template <class Archive>
void load_doubles(Archive& archive, std::vector<double>& values) {
  values.resize(load_length(archive, sizeof(double), "list"));
  archive(cereal::binary_data(values.data(), values.size() * sizeof(double)));
}

}  // namespace

template <class Archive>
void save(Archive& archive, const TrainConfig& config, const std::uint32_t /*version*/) {
  archive(config.factors, config.regularization, config.alpha, config.iterations, to_string(config.solver),
          config.cg_steps, to_string(config.scaling), config.eps, config.seed);
}

template <class Archive>
void load(Archive& archive, TrainConfig& config, const std::uint32_t /*version*/) {
  std::string solver;
  std::string scaling;
  archive(config.factors, config.regularization, config.alpha, config.iterations);
  load_string(archive, solver);
  archive(config.cg_steps);
  load_string(archive, scaling);
  archive(config.eps, config.seed);
  config.solver = parse_solver(solver);
  config.scaling = parse_scaling(scaling);
  config.threads = 0;
}

template <class Archive>
void save(Archive& archive, const ModelInfo& info, const std::uint32_t /*version*/) {
  archive(info.vr_version, info.kind, info.config, info.n_users, info.n_videos, info.n_ratings,
          info.loss_history);
}

template <class Archive>
void load(Archive& archive, ModelInfo& info, const std::uint32_t /*version*/) {
  load_string(archive, info.vr_version);
  load_string(archive, info.kind);
  archive(info.config, info.n_users, info.n_videos, info.n_ratings);
  load_doubles(archive, info.loss_history);
}

}  // namespace vr

CEREAL_CLASS_VERSION(vr::TrainConfig, 1)
CEREAL_CLASS_VERSION(vr::ModelInfo, 1)

namespace vr {

void write_model(std::ostream& output, const Model& model) {
  std::ostringstream payload(std::ios::binary);
  {
    cereal::PortableBinaryOutputArchive archive(payload);
    archive(model.info);
    FactorMatrix& users = const_cast<FactorMatrix&>(model.factors.user_factors);
    FactorMatrix& items = const_cast<FactorMatrix&>(model.factors.item_factors);
    archive(FactorBlock{&users, 0}, FactorBlock{&items, 0});
  }
  write_framed(output, kModelMagic, kModelFormatVersion, payload.str());
}

Model read_model(std::istream& input, const std::string& source_name) {
  const FramedPayload framed = read_framed(input, source_name, kModelMagic, kModelFormatVersion, "vr model");
  Model model;
  try {
    std::istringstream payload(framed.bytes, std::ios::binary);
    ModelInputArchive archive(payload, framed.bytes.size());
    archive(model.info);
    FactorBlock users{&model.factors.user_factors, framed.bytes.size()};
    FactorBlock items{&model.factors.item_factors, framed.bytes.size()};
    archive(users, items);
  } catch (const CorruptFile& error) {
    throw CorruptFile("'" + source_name + "': corrupt vr model file: " + error.what());
  } catch (const std::exception& error) {
    throw CorruptFile("'" + source_name + "': corrupt vr model file: " + error.what());
  }
  const auto& info = model.info;
  const auto& factors = model.factors;
  if (factors.user_factors.rows() != info.n_users || factors.item_factors.rows() != info.n_videos ||
      factors.user_factors.cols() != info.config.factors ||
      factors.item_factors.cols() != info.config.factors) {
    throw CorruptFile("'" + source_name + "': factor shapes disagree with the model's data shape");
  }
  return model;
}

Model load_model(const std::string& path) {
  auto file = open_input_file(path);
  return read_model(file, path);
}

void save_model(const std::string& path, const Model& model) {
  AtomicFileWriter writer(path);
  write_model(writer.stream(), model);
  writer.commit();
}

std::string describe(const ModelInfo& info) {
  std::ostringstream out;
  out << "model kind:      " << info.kind << "\n"
      << "trained by:      vr " << info.vr_version << " (model format " << kModelFormatVersion << ")\n"
      << "data shape:      " << info.n_users << " users x " << info.n_videos << " videos, "
      << info.n_ratings << " ratings\n"
      << "factors:         " << info.config.factors << "\n"
      << "regularization:  " << info.config.regularization << "\n"
      << "alpha:           " << info.config.alpha << "\n"
      << "scaling:         " << to_string(info.config.scaling);
  if (info.config.scaling == ConfidenceScaling::Log) out << " (eps " << info.config.eps << ")";
  out << "\n"
      << "iterations:      " << info.config.iterations << "\n"
      << "solver:          " << to_string(info.config.solver);
  if (info.config.solver == Solver::ConjugateGradient) out << " (" << info.config.cg_steps << " steps)";
  out << "\n"
      << "seed:            " << info.config.seed << "\n";
  if (!info.loss_history.empty()) {
    out << "final loss:      " << std::setprecision(6) << info.loss_history.back() << "\n";
  }
  return out.str();
}

}  // namespace vr
