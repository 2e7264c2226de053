#include "vr/training.h"

#include <filesystem>
#include <iostream>

#include "vr/atomic_file.h"
#include "vr/errors.h"
#include "vr/mappings.h"
#include "vr/version.h"

namespace vr {

SparseMatrix load_ratings_matrix(const std::string& ratings_path, const std::string& mappings_path) {
  std::vector<Rating> ratings;  // freed on return: only the matrix stays
  if (ratings_path == "-") {
    ratings = read_ratings_csv(std::cin, "<stdin>");
  } else {
    auto input = open_input_file(ratings_path);
    ratings = read_ratings_csv(input, ratings_path);
  }
  std::uint32_t users = max_user_count(ratings);
  std::uint32_t videos = max_video_count(ratings);
  if (!mappings_path.empty()) {
    const Mappings mappings = load_mappings(mappings_path);
    if (users > mappings.users.size() || videos > mappings.videos.size()) {
      throw InvalidInput("'" + ratings_path + "' refers to user or video indices that '" + mappings_path +
                         "' does not have (" + std::to_string(users) + " users, " + std::to_string(videos) +
                         " videos needed; mappings hold " + std::to_string(mappings.users.size()) + " and " +
                         std::to_string(mappings.videos.size()) + "); were they made by the same vr-features run?");
    }
    users = static_cast<std::uint32_t>(mappings.users.size());
    videos = static_cast<std::uint32_t>(mappings.videos.size());
  }
  return build_sparse_matrix(ratings, users, videos);
}

Model run_training(const TrainJob& job, const IterationCallback& on_iteration) {
  validate(job.config);
  const auto parent = std::filesystem::path(job.model_path).parent_path();
  if (!parent.empty()) ensure_directory(parent.string());
  AtomicFileWriter model_writer(job.model_path);

  SparseMatrix ratings = load_ratings_matrix(job.ratings_path, job.mappings_path);
  if (ratings.nnz() == 0) throw InvalidInput("'" + job.ratings_path + "' holds no ratings; nothing to train on");

  Model model;
  model.info.vr_version = kVersion;
  model.info.kind = "als";
  model.info.config = job.config;
  model.info.config.threads = 0;  // not part of the model: any thread count gives the same one
  model.info.n_users = ratings.rows;
  model.info.n_videos = ratings.cols;
  model.info.n_ratings = ratings.nnz();
  model.factors = train_als(std::move(ratings), job.config, [&](const IterationReport& report) {
    if (report.loss == report.loss) model.info.loss_history.push_back(report.loss);  // skip NaN
    if (on_iteration) on_iteration(report);
  });
  write_model(model_writer.stream(), model);
  model_writer.commit();
  return model;
}

}  // namespace vr
