// als_model.bin: a trained model (ALS, EASE or item-knn) and how it was made.
//
// File layout (all integers little-endian):
//   1. magic, 8 bytes: "VRMODEL\0"
//   2. format version, uint32: 3 for an ALS model whose unobserved weight or regularisation
//      exponent is not the default (1, 0), else 2 (kModelFormatVersion is the newest; version 1
//      files, ALS only, still load)
//   3. payload length in bytes, uint64
//   4. payload: a cereal portable binary archive (CEREAL_CLASS_VERSION'd structs):
//      a. ModelInfo: vr version, model kind ("als", "ease", "item-knn"), ALS training config
//         and seed, data shape, loss per iteration; from class version 2 also the EASE and
//         item-knn config (ItemModelConfig)
//      a'. from format version 3: the ALS unobserved weight and regularisation exponent,
//         float32 each (format 2 files have 1 and 0)
//      b. the user factor matrix and the item factor matrix, each as rows, cols and rows*cols
//         float32 values in row-major order (0 x 0 for EASE and item-knn)
//      c. from format version 2: the item-item weights, as a dense block (rows, cols,
//         row-major float32; EASE's videos x videos B, 0 x 0 otherwise), then a sparse block
//         (rows, cols, nnz, rows+1 uint64 row offsets, nnz uint32 columns, nnz float32 values;
//         item-knn's videos x videos neighbours, 0 x 0 otherwise)
//   5. FNV-1a 64-bit checksum of the payload, uint64
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <ostream>
#include <string>
#include <vector>

#include "vr/als.h"
#include "vr/item_models.h"

namespace vr {

// How a model was made. Deliberately free of wall-clock times and thread counts, so the same
// data, config and seed always give a byte-identical file.
struct ModelInfo {
  std::string vr_version;            // library version that trained it
  std::string kind = "als";          // model family: to_string(ModelKind)
  TrainConfig config;                // ALS hyperparameters and seed (threads not recorded)
  ItemModelConfig item_config;       // EASE / item-knn hyperparameters (threads not recorded)
  std::uint32_t n_users = 0;         // rows of the ratings matrix
  std::uint32_t n_videos = 0;        // columns of the ratings matrix
  std::uint64_t n_ratings = 0;       // stored (user, video) pairs
  std::vector<double> loss_history;  // training loss after each iteration (may be empty)
};

struct Model {
  ModelInfo info;
  AlsFactors factors;        // ALS: n_users x factors and n_videos x factors; empty otherwise
  FactorMatrix item_weights;  // EASE: n_videos x n_videos B (zero diagonal); empty otherwise
  SparseMatrix neighbours;    // item-knn: n_videos x n_videos similarities; empty otherwise

  ModelKind kind() const { return parse_model_kind(info.kind); }
};

// Writes the model file format to `output`.
void write_model(std::ostream& output, const Model& model);
// Hands factor rows, in order, to `emit(rows, count)` (row-major, `factors` floats a row),
// in pieces of any size; the pieces together must be exactly the matrix's rows.
using FactorRowEmitter = std::function<void(const float* rows, std::uint64_t count)>;
using FactorRowSource = std::function<void(const FactorRowEmitter& emit)>;

// Writes an ALS model without holding its factors: `info` (n_users, n_videos and
// config.factors give the shapes), then the user rows and the video rows as the sources hand
// them over. The file is byte for byte the one write_model writes for the same model.
// Throws std::logic_error if a source hands over the wrong number of rows.
void write_als_model_streamed(std::ostream& output, const ModelInfo& info, const FactorRowSource& user_rows,
                              const FactorRowSource& video_rows);

// Reads a model file. Throws CorruptFile naming `source_name` on a wrong magic, a newer
// version, a truncated or corrupt file, or factor shapes that disagree with the info.
Model read_model(std::istream& input, const std::string& source_name);

// Path wrappers: load from a file / write atomically.
Model load_model(const std::string& path);
void save_model(const std::string& path, const Model& model);

// A human-readable multi-line description of how the model was made.
std::string describe(const ModelInfo& info);

}  // namespace vr
