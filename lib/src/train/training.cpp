#include "vr/training.h"

#include <atomic>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "vr/atomic_file.h"
#include "vr/csv.h"
#include "vr/errors.h"
#include "vr/mappings.h"
#include "vr/parallel.h"
#include "vr/shards.h"
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

Model train_model(SparseMatrix ratings, ModelKind kind, const TrainConfig& config,
                  const ItemModelConfig& item_config, const IterationCallback& on_iteration,
                  const PhaseCallback& on_phase) {
  Model model;
  model.info.vr_version = kVersion;
  model.info.kind = to_string(kind);
  model.info.config = config;
  model.info.config.threads = 0;  // not part of the model: any thread count gives the same one
  model.info.item_config = item_config;
  model.info.item_config.threads = 0;
  model.info.n_users = ratings.rows;
  model.info.n_videos = ratings.cols;
  model.info.n_ratings = ratings.nnz();
  switch (kind) {
    case ModelKind::Als:
      validate(config);
      model.factors = train_als(std::move(ratings), config, [&](const IterationReport& report) {
        if (report.loss == report.loss) model.info.loss_history.push_back(report.loss);  // skip NaN
        if (on_iteration) on_iteration(report);
      });
      break;
    case ModelKind::Ease:
      validate(item_config);
      model.item_weights = train_ease(ratings, item_config.ease_regularization, item_config.threads, on_phase);
      break;
    case ModelKind::ItemKnn:
      validate(item_config);
      model.neighbours = train_item_knn(ratings, item_config);
      break;
  }
  return model;
}

void prepare_training(const TrainJob& job) {
  if (job.kind == ModelKind::Als) {
    validate(job.config);
  } else {
    validate(job.item_config);
  }
  const auto parent = std::filesystem::path(job.model_path).parent_path();
  if (!parent.empty()) ensure_directory(parent.string());
}

namespace {

// The end of every training job: checks what was read from `source`, trains, and commits the
// model file (opened before reading, so a folder that cannot take it fails first).
Model train_and_commit(const TrainJob& job, SparseMatrix ratings, const std::string& source,
                       AtomicFileWriter& model_writer, const IterationCallback& on_iteration,
                       const WarningCallback& on_warning = {}, const PhaseCallback& on_phase = {}) {
  if (ratings.nnz() == 0) throw InvalidInput("'" + source + "' holds no ratings; nothing to train on");
  if (job.kind == ModelKind::Ease && ratings.cols > kEaseMaxVideos) {
    throw InvalidInput("'" + source + "' has " + std::to_string(ratings.cols) +
                       " videos; EASE keeps dense videos x videos matrices and is limited to " +
                       std::to_string(kEaseMaxVideos) + " (use --model item-knn or als)");
  }
  if (job.kind == ModelKind::Als && on_warning) {
    if (const auto warning = heavy_tail_warning(ratings, job.config)) on_warning(*warning);
  }
  Model model = train_model(std::move(ratings), job.kind, job.config, job.item_config, on_iteration, on_phase);
  write_model(model_writer.stream(), model);
  model_writer.commit();
  return model;
}

}  // namespace

Model run_training(const TrainJob& job, const IterationCallback& on_iteration, const WarningCallback& on_warning,
                   const PhaseCallback& on_phase) {
  prepare_training(job);
  AtomicFileWriter model_writer(job.model_path);

  return train_and_commit(job, load_ratings_matrix(job.ratings_path, job.mappings_path), job.ratings_path,
                          model_writer, on_iteration, on_warning, on_phase);
}

namespace {

std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  const auto last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

// The shortest decimal form that reads back to the same float (0.1f -> "0.1").
std::string shortest(float value) {
  char buffer[32];
  const auto end = std::to_chars(buffer, buffer + sizeof(buffer), value).ptr;
  return std::string(buffer, end);
}

}  // namespace

HyperparameterFile read_hyperparameters(std::istream& input, const std::string& source_name,
                                        const HyperparameterFile& defaults) {
  HyperparameterFile file = defaults;
  file.keys.clear();
  std::string line;
  int line_number = 0;
  while (std::getline(input, line)) {
    ++line_number;
    const auto comment = line.find('#');
    if (comment != std::string::npos) line.resize(comment);
    line = trimmed(line);
    if (line.empty()) continue;
    const std::string where = source_name + ":" + std::to_string(line_number);
    const auto equals = line.find('=');
    if (equals == std::string::npos) throw InvalidInput(where + ": expected 'key = value', got '" + line + "'");
    const std::string key = trimmed(line.substr(0, equals));
    const std::string value = trimmed(line.substr(equals + 1));
    const auto number = [&]() {
      const auto parsed = parse_finite_number(value);
      if (!parsed) throw InvalidInput(where + ": '" + key + "' must be a number, got '" + value + "'");
      return *parsed;
    };
    const auto integer = [&]() {
      const double parsed = number();
      if (parsed != std::floor(parsed) || std::abs(parsed) > 1e15) {
        throw InvalidInput(where + ": '" + key + "' must be a whole number, got '" + value + "'");
      }
      return static_cast<long long>(parsed);
    };
    try {
      if (key == "model") file.kind = parse_model_kind(value);
      else if (key == "factors") file.config.factors = static_cast<int>(integer());
      else if (key == "regularization") file.config.regularization = static_cast<float>(number());
      else if (key == "alpha") file.config.alpha = static_cast<float>(number());
      else if (key == "iterations") file.config.iterations = static_cast<int>(integer());
      else if (key == "solver") file.config.solver = parse_solver(value);
      else if (key == "cg_steps") file.config.cg_steps = static_cast<int>(integer());
      else if (key == "scaling") file.config.scaling = parse_scaling(value);
      else if (key == "eps") file.config.eps = static_cast<float>(number());
      else if (key == "unobserved_weight") file.config.unobserved_weight = static_cast<float>(number());
      else if (key == "reg_exponent") file.config.reg_exponent = static_cast<float>(number());
      else if (key == "seed") {
        const long long seed = integer();
        if (seed < 0) throw InvalidInput("'seed' must be >= 0");
        file.config.seed = static_cast<std::uint64_t>(seed);
      }
      else if (key == "ease_regularization") file.item_config.ease_regularization = static_cast<float>(number());
      else if (key == "neighbours") file.item_config.neighbours = static_cast<int>(integer());
      else if (key == "similarity") file.item_config.similarity = parse_similarity(value);
      else if (key == "bm25_k1") file.item_config.bm25_k1 = static_cast<float>(number());
      else if (key == "bm25_b") file.item_config.bm25_b = static_cast<float>(number());
      else throw InvalidInput("unknown key '" + key + "'");
    } catch (const InvalidInput& error) {
      const std::string message = error.what();
      if (message.rfind(source_name + ":", 0) == 0) throw;
      throw InvalidInput(where + ": " + message);
    }
    file.keys.insert(key);
  }
  try {
    validate(file.config);
    validate(file.item_config);
  } catch (const InvalidInput& error) {
    throw InvalidInput(source_name + ": " + error.what());
  }
  return file;
}

HyperparameterFile load_hyperparameters(const std::string& path, const HyperparameterFile& defaults) {
  auto input = open_input_file(path);
  return read_hyperparameters(input, path, defaults);
}

void write_hyperparameters(std::ostream& output, const HyperparameterFile& file, const std::string& comment) {
  std::istringstream lines(comment);
  std::string line;
  while (std::getline(lines, line)) output << "# " << line << "\n";
  output << "model = " << to_string(file.kind) << "\n";
  if (file.kind == ModelKind::Als) {
    const TrainConfig& config = file.config;
    output << "factors = " << config.factors << "\n"
           << "regularization = " << shortest(config.regularization) << "\n"
           << "alpha = " << shortest(config.alpha) << "\n"
           << "iterations = " << config.iterations << "\n"
           << "scaling = " << to_string(config.scaling) << "\n"
           << "eps = " << shortest(config.eps) << "\n"
           << "solver = " << to_string(config.solver) << "\n"
           << "cg_steps = " << config.cg_steps << "\n"
           << "seed = " << config.seed << "\n";
    // Only when set: files of implicit's settings stay as they were.
    if (config.unobserved_weight != 1.0f) output << "unobserved_weight = " << shortest(config.unobserved_weight) << "\n";
    if (config.reg_exponent != 0.0f) output << "reg_exponent = " << shortest(config.reg_exponent) << "\n";
  } else if (file.kind == ModelKind::Ease) {
    output << "ease_regularization = " << shortest(file.item_config.ease_regularization) << "\n";
  } else {
    const ItemModelConfig& config = file.item_config;
    output << "neighbours = " << config.neighbours << "\n"
           << "similarity = " << to_string(config.similarity) << "\n"
           << "bm25_k1 = " << shortest(config.bm25_k1) << "\n"
           << "bm25_b = " << shortest(config.bm25_b) << "\n";
  }
}

Model run_sharded_training(const TrainJob& job, const std::string& directory, const IterationCallback& on_iteration) {
  if (job.mappings_path.empty()) throw InvalidInput("training from shards needs their mappings.bin");
  prepare_training(job);
  AtomicFileWriter model_writer(job.model_path);
  const std::string manifest_path = (std::filesystem::path(directory) / kShardManifestFileName).string();
  const ShardManifest manifest = load_shard_manifest(manifest_path);
  return train_and_commit(
      job, build_sparse_matrix(read_all_shards(directory, job.mappings_path), manifest.users, manifest.videos),
      manifest_path, model_writer, on_iteration);
}

}  // namespace vr
