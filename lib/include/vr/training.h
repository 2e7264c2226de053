// vr-train's job: ratings.csv (+ mappings.bin for the shape) -> als_model.bin.
#pragma once

#include <string>

#include "vr/als.h"
#include "vr/model.h"

namespace vr {

struct TrainJob {
  std::string ratings_path;   // ratings.csv, or "-" for stdin
  std::string mappings_path;  // mappings.bin; empty = shape from the largest indices
  std::string model_path;     // where als_model.bin goes
  TrainConfig config;
};

// Loads the ratings, trains and saves the model atomically (the output is opened before
// training starts). Throws InvalidInput when ratings refer to indices the mappings lack.
Model run_training(const TrainJob& job, const IterationCallback& on_iteration = {});

// Loads ratings.csv as a users x videos matrix. With a mappings file, the shape is the
// mappings' (and indices beyond it are an error); without, the largest indices + 1.
SparseMatrix load_ratings_matrix(const std::string& ratings_path, const std::string& mappings_path);

}  // namespace vr
