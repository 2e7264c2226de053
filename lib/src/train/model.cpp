#include "vr/model.h"

#include <cereal/archives/portable_binary.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
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
  std::uint64_t max_cols = 4096;  // widest matrix accepted (EASE's B is videos wide)
  bool may_be_empty = false;      // 0 x 0 allowed (the blocks a kind does not use)
};

// A sparse videos x videos matrix in the archive: rows, cols, nnz, then the row offsets
// (uint64), the columns (uint32) and the values (float32).
struct SparseBlock {
  SparseMatrix* matrix;
  std::size_t payload_size;
};

template <class Archive>
void save(Archive& archive, const SparseBlock& block) {
  const SparseMatrix& matrix = *block.matrix;
  const std::uint64_t nnz = matrix.nnz();
  archive(matrix.rows, matrix.cols, nnz);
  archive(cereal::binary_data(matrix.row_offsets.data(), matrix.row_offsets.size() * sizeof(std::uint64_t)));
  archive(cereal::binary_data(matrix.col_indices.data(), matrix.col_indices.size() * sizeof(std::uint32_t)));
  archive(cereal::binary_data(matrix.values.data(), matrix.values.size() * sizeof(float)));
}

template <class Archive>
void load(Archive& archive, SparseBlock& block) {
  SparseMatrix& matrix = *block.matrix;
  std::uint64_t nnz = 0;
  archive(matrix.rows, matrix.cols, nnz);
  if (static_cast<std::uint64_t>(matrix.rows) + 1 > block.payload_size / sizeof(std::uint64_t) ||
      nnz > block.payload_size / (sizeof(std::uint32_t) + sizeof(float))) {
    throw CorruptFile("sparse matrix of " + std::to_string(matrix.rows) + " rows and " + std::to_string(nnz) +
                      " entries does not fit the file");
  }
  matrix.row_offsets.resize(static_cast<std::size_t>(matrix.rows) + (matrix.rows > 0 || nnz > 0 ? 1 : 0));
  matrix.col_indices.resize(static_cast<std::size_t>(nnz));
  matrix.values.resize(static_cast<std::size_t>(nnz));
  archive(cereal::binary_data(matrix.row_offsets.data(), matrix.row_offsets.size() * sizeof(std::uint64_t)));
  archive(cereal::binary_data(matrix.col_indices.data(), matrix.col_indices.size() * sizeof(std::uint32_t)));
  archive(cereal::binary_data(matrix.values.data(), matrix.values.size() * sizeof(float)));
  if (matrix.row_offsets.empty()) return;
  if (matrix.row_offsets.front() != 0 || matrix.row_offsets.back() != nnz) {
    throw CorruptFile("sparse matrix row offsets do not span its entries");
  }
  for (std::uint32_t row = 0; row < matrix.rows; ++row) {
    if (matrix.row_offsets[row] > matrix.row_offsets[row + 1]) throw CorruptFile("sparse matrix row offsets decrease");
  }
  for (const std::uint32_t column : matrix.col_indices) {
    if (column >= matrix.cols) throw CorruptFile("sparse matrix column out of range");
  }
}

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
  if (block.may_be_empty && rows == 0 && cols == 0) {
    block.matrix->resize(0, 0);
    return;
  }
  if (cols == 0 || cols > block.max_cols || rows > block.payload_size / sizeof(float) ||
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
void save(Archive& archive, const ItemModelConfig& config, const std::uint32_t /*version*/) {
  archive(config.ease_regularization, config.neighbours, to_string(config.similarity), config.bm25_k1, config.bm25_b);
}

template <class Archive>
void load(Archive& archive, ItemModelConfig& config, const std::uint32_t /*version*/) {
  std::string similarity;
  archive(config.ease_regularization, config.neighbours);
  load_string(archive, similarity);
  archive(config.bm25_k1, config.bm25_b);
  config.similarity = parse_similarity(similarity);
  config.threads = 0;
}

template <class Archive>
void save(Archive& archive, const ModelInfo& info, const std::uint32_t /*version*/) {
  archive(info.vr_version, info.kind, info.config, info.n_users, info.n_videos, info.n_ratings,
          info.loss_history, info.item_config);
}

template <class Archive>
void load(Archive& archive, ModelInfo& info, const std::uint32_t version) {
  load_string(archive, info.vr_version);
  load_string(archive, info.kind);
  archive(info.config, info.n_users, info.n_videos, info.n_ratings);
  load_doubles(archive, info.loss_history);
  if (version >= 2) archive(info.item_config);  // version 1 (format 1) held ALS models only
}

}  // namespace vr

CEREAL_CLASS_VERSION(vr::TrainConfig, 1)
CEREAL_CLASS_VERSION(vr::ItemModelConfig, 1)
CEREAL_CLASS_VERSION(vr::ModelInfo, 2)

namespace vr {
namespace {

// The format a model is written in: 3 only when it needs the iALS weights, so that every
// other model stays byte for byte the format 2 file it always was.
std::uint32_t format_version_for(const ModelInfo& info) {
  return info.kind == "als" && !is_implicit(system_weights(info.config)) ? 3 : 2;
}

// Format 3's block after the ModelInfo: the weights that make the trained system iALS's.
template <class Archive>
void save_system_weights(Archive& archive, const ModelInfo& info) {
  if (format_version_for(info) >= 3) archive(info.config.unobserved_weight, info.config.reg_exponent);
}

}  // namespace

void write_model(std::ostream& output, const Model& model) {
  // EASE's videos x videos weights go from the matrix straight to the file: a payload built in
  // memory first would hold them twice more. The bytes are those of one archive of everything.
  static_assert(std::endian::native == std::endian::little, "weights are written as they sit in memory");
  std::ostringstream piece(std::ios::binary);
  std::string head;
  std::string tail;
  const FactorMatrix& weights = model.item_weights;
  {
    cereal::PortableBinaryOutputArchive archive(piece);
    archive(model.info);
    save_system_weights(archive, model.info);
    FactorMatrix& users = const_cast<FactorMatrix&>(model.factors.user_factors);
    FactorMatrix& items = const_cast<FactorMatrix&>(model.factors.item_factors);
    archive(FactorBlock{&users, 0}, FactorBlock{&items, 0});
    archive(static_cast<std::uint64_t>(weights.rows()), static_cast<std::uint64_t>(weights.cols()));
    head = piece.str();
    piece.str("");
    SparseMatrix& neighbours = const_cast<SparseMatrix&>(model.neighbours);
    archive(SparseBlock{&neighbours, 0});
    tail = piece.str();
  }
  const std::uint64_t weight_bytes = static_cast<std::uint64_t>(weights.size()) * sizeof(float);
  FramedWriter framed(output, kModelMagic, format_version_for(model.info), head.size() + weight_bytes + tail.size());
  framed.write(head);
  constexpr std::uint64_t kChunkBytes = 64ull << 20;
  const char* bytes = reinterpret_cast<const char*>(weights.data());
  for (std::uint64_t offset = 0; offset < weight_bytes; offset += kChunkBytes) {
    framed.write(std::string_view(bytes + offset, std::min(kChunkBytes, weight_bytes - offset)));
  }
  framed.write(tail);
  framed.finish();
}

void write_als_model_streamed(std::ostream& output, const ModelInfo& info, const FactorRowSource& user_rows,
                              const FactorRowSource& video_rows) {
  // The payload write_model produces, cut where the factor values go: cereal writes the
  // shapes, the values are raw little-endian float32 in between.
  static_assert(std::endian::native == std::endian::little, "factor rows are written as they sit in memory");
  const std::uint64_t factors = static_cast<std::uint64_t>(info.config.factors);
  std::ostringstream piece(std::ios::binary);
  std::vector<std::string> pieces;
  {
    cereal::PortableBinaryOutputArchive archive(piece);
    archive(info);
    save_system_weights(archive, info);
    archive(static_cast<std::uint64_t>(info.n_users), factors);
    pieces.push_back(piece.str());
    piece.str("");
    archive(static_cast<std::uint64_t>(info.n_videos), factors);
    pieces.push_back(piece.str());
    piece.str("");
    FactorMatrix empty_weights;
    SparseMatrix empty_neighbours;
    archive(FactorBlock{&empty_weights, 0}, SparseBlock{&empty_neighbours, 0});
    pieces.push_back(piece.str());
  }
  const std::uint64_t row_bytes = factors * sizeof(float);
  const std::uint64_t payload_size = pieces[0].size() + info.n_users * row_bytes + pieces[1].size() +
                                     info.n_videos * row_bytes + pieces[2].size();
  FramedWriter framed(output, kModelMagic, format_version_for(info), payload_size);
  const auto write_rows = [&](const FactorRowSource& source, std::uint64_t expected_rows, const char* what) {
    std::uint64_t rows = 0;
    source([&](const float* data, std::uint64_t count) {
      framed.write(std::string_view(reinterpret_cast<const char*>(data), count * row_bytes));
      rows += count;
    });
    if (rows != expected_rows) {
      throw std::logic_error(std::string(what) + " source gave " + std::to_string(rows) + " rows, expected " +
                             std::to_string(expected_rows));
    }
  };
  framed.write(pieces[0]);
  write_rows(user_rows, info.n_users, "user factor");
  framed.write(pieces[1]);
  write_rows(video_rows, info.n_videos, "video factor");
  framed.write(pieces[2]);
  framed.finish();
}

Model read_model(std::istream& input, const std::string& source_name) {
  // Parsed as it is read (the checksum is checked at the end), so loading needs the model's
  // size in memory once, not also a copy of the file.
  FramedReader framed(input, source_name, kModelMagic, kModelFormatVersion, "vr model");
  const std::size_t payload_size = static_cast<std::size_t>(framed.payload_size());
  Model model;
  try {
    ModelInputArchive archive(framed.payload(), payload_size);
    archive(model.info);
    if (framed.version() >= 3) {
      archive(model.info.config.unobserved_weight, model.info.config.reg_exponent);
      const TrainConfig& config = model.info.config;
      if (!(config.unobserved_weight > 0) || !std::isfinite(config.unobserved_weight) ||
          !(config.reg_exponent >= 0 && config.reg_exponent <= 2)) {
        throw CorruptFile("unobserved weight or regularisation exponent out of range");
      }
      // Only such models are written as format 3: anything else would not write back the same.
      if (format_version_for(model.info) != 3) {
        throw CorruptFile("a format 3 file must hold an ALS model with iALS weights other than 1 and 0");
      }
    }
    // Format 1 files hold ALS factors only; from format 2 the kinds that do not use the
    // factors store them as 0 x 0, followed by the item-item blocks.
    const bool has_item_blocks = framed.version() >= 2;
    FactorBlock users{&model.factors.user_factors, payload_size, 4096, has_item_blocks};
    FactorBlock items{&model.factors.item_factors, payload_size, 4096, has_item_blocks};
    archive(users, items);
    if (has_item_blocks) {
      FactorBlock weights{&model.item_weights, payload_size, kEaseMaxVideos, true};
      SparseBlock neighbours{&model.neighbours, payload_size};
      archive(weights, neighbours);
    }
  } catch (const std::exception& error) {
    framed.finish();  // a truncated file or a wrong checksum is named as such first
    throw CorruptFile("'" + source_name + "': corrupt vr model file: " + error.what());
  }
  framed.finish();
  const auto& info = model.info;
  const auto& factors = model.factors;
  ModelKind kind = ModelKind::Als;
  try {
    kind = parse_model_kind(info.kind);
  } catch (const InvalidInput&) {
    throw CorruptFile("'" + source_name + "': unknown model kind '" + info.kind + "'");
  }
  const auto disagree = [&] {
    throw CorruptFile("'" + source_name + "': " + info.kind + " model blocks disagree with the model's data shape");
  };
  const bool no_factors = factors.user_factors.size() == 0 && factors.item_factors.size() == 0;
  const bool no_weights = model.item_weights.size() == 0;
  const bool no_neighbours = model.neighbours.rows == 0 && model.neighbours.nnz() == 0;
  switch (kind) {
    case ModelKind::Als:
      if (factors.user_factors.rows() != info.n_users || factors.item_factors.rows() != info.n_videos ||
          factors.user_factors.cols() != info.config.factors || factors.item_factors.cols() != info.config.factors ||
          !no_weights || !no_neighbours) {
        disagree();
      }
      break;
    case ModelKind::Ease:
      if (model.item_weights.rows() != info.n_videos || model.item_weights.cols() != info.n_videos || !no_factors ||
          !no_neighbours) {
        disagree();
      }
      break;
    case ModelKind::ItemKnn:
      if (model.neighbours.rows != info.n_videos || model.neighbours.cols != info.n_videos ||
          model.neighbours.row_offsets.size() != static_cast<std::size_t>(info.n_videos) + 1 || !no_factors ||
          !no_weights) {
        disagree();
      }
      break;
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
      << "trained by:      vr " << info.vr_version << " (model format " << format_version_for(info) << ")\n"
      << "data shape:      " << info.n_users << " users x " << info.n_videos << " videos, "
      << info.n_ratings << " ratings\n";
  if (info.kind == "ease") {
    out << "regularization:  " << info.item_config.ease_regularization << " (EASE lambda)\n";
    return out.str();
  }
  if (info.kind == "item-knn") {
    out << "similarity:      " << to_string(info.item_config.similarity);
    if (info.item_config.similarity == Similarity::Bm25) {
      out << " (k1 " << info.item_config.bm25_k1 << ", b " << info.item_config.bm25_b << ")";
    }
    out << "\n"
        << "neighbours:      " << info.item_config.neighbours << " per video\n";
    return out.str();
  }
  out << "factors:         " << info.config.factors << "\n"
      << "regularization:  " << info.config.regularization;
  if (info.config.reg_exponent != 0.0f) out << " x (n + alpha0 N)^" << info.config.reg_exponent;
  out << "\n";
  if (info.config.unobserved_weight != 1.0f) {
    out << "alpha0:          " << info.config.unobserved_weight << " (weight of unobserved cells)\n";
  }
  out << "alpha:           " << info.config.alpha << "\n"
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
