// vr-train's job: ratings.csv (+ mappings.bin for the shape) -> als_model.bin, for any
// model kind; and the hyperparameter file that vr-evaluate --tune writes and vr-train reads.
#pragma once

#include <istream>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "vr/als.h"
#include "vr/heavy_tail.h"
#include "vr/item_models.h"
#include "vr/model.h"
#include "vr/topk.h"

namespace vr {

struct TrainJob {
  std::string ratings_path;   // ratings.csv, or "-" for stdin
  std::string mappings_path;  // mappings.bin; empty = shape from the largest indices
  std::string model_path;     // where als_model.bin goes
  ModelKind kind = ModelKind::Als;
  TrainConfig config;          // used by ALS
  ItemModelConfig item_config;  // used by EASE and item-knn
};

// Trains a model of `kind` on a users x videos ratings matrix and fills its info (version,
// kind, configs without thread counts, data shape, loss history). on_iteration is called
// after each ALS iteration (EASE and item-knn have none), on_phase after each of EASE's phases.
Model train_model(SparseMatrix ratings, ModelKind kind, const TrainConfig& config,
                  const ItemModelConfig& item_config, const IterationCallback& on_iteration = {},
                  const PhaseCallback& on_phase = {});

// A hyperparameter file: one `key = value` per line, '#' starts a comment. Keys: model,
// factors, regularization, alpha, iterations, solver, cg_steps, scaling, eps, seed,
// unobserved_weight, reg_exponent (written only when not 1 and 0), ease_regularization, neighbours, similarity, bm25_k1, bm25_b.
struct HyperparameterFile {
  ModelKind kind = ModelKind::Als;
  TrainConfig config;
  ItemModelConfig item_config;
  std::set<std::string> keys;  // the keys the file set
};

// Reads a hyperparameter file over `defaults` (keys not in the file keep their values).
// Throws InvalidInput naming `source_name`, the line and the key on an unknown key or a bad
// value, and for an out-of-range config.
HyperparameterFile read_hyperparameters(std::istream& input, const std::string& source_name,
                                        const HyperparameterFile& defaults = {});
HyperparameterFile load_hyperparameters(const std::string& path, const HyperparameterFile& defaults = {});
// Writes every key of `file` relevant to its kind, after `comment` lines (each prefixed "# ").
void write_hyperparameters(std::ostream& output, const HyperparameterFile& file, const std::string& comment = "");

// What every training run checks before it reads anything: the job's config for its kind is
// valid, and the model's folder exists (created if missing).
void prepare_training(const TrainJob& job);

// Loads the ratings, trains and saves the model atomically (the output is opened before
// training starts). Throws InvalidInput when ratings refer to indices the mappings lack.
// `on_warning` hears, before ALS trains, heavy_tail_warning's advice (vr/heavy_tail.h);
// `on_phase` EASE's phases (train_ease).
Model run_training(const TrainJob& job, const IterationCallback& on_iteration = {},
                   const WarningCallback& on_warning = {}, const PhaseCallback& on_phase = {});

// run_training with the ratings read from the shards of `directory` (job.ratings_path unused;
// job.mappings_path must be the shards' mappings.bin). The model is the one run_training
// writes from the shards' concatenation.
Model run_sharded_training(const TrainJob& job, const std::string& directory, const IterationCallback& on_iteration = {});

// Loads ratings.csv as a users x videos matrix. With a mappings file, the shape is the
// mappings' (and indices beyond it are an error); without, the largest indices + 1.
SparseMatrix load_ratings_matrix(const std::string& ratings_path, const std::string& mappings_path);

}  // namespace vr
