#include "vr/retrieval_evaluation.h"

#include <algorithm>
#include <ctime>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <nlohmann/json.hpp>

#include "vr/ann_index.h"
#include "vr/atomic_file.h"
#include "vr/errors.h"
#include "vr/video_panels.h"

namespace vr {
namespace {

// The measuring thread's CPU time, not wall time: the checks run on one thread, and on a
// machine busy with other work wall time would count the time the thread waited for a core.
struct Clock {
  using time_point = double;
  static double now() {
    timespec spec{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec);
    return static_cast<double>(spec.tv_sec) + 1e-9 * static_cast<double>(spec.tv_nsec);
  }
};

double seconds_since(Clock::time_point start) { return Clock::now() - start; }

// `count` indices spread evenly over [0, total), the first 0: a sample that covers popular and
// rare rows alike (vr-generate and vr-features number neither by popularity).
std::vector<std::uint32_t> spread_sample(std::size_t total, std::size_t count) {
  std::vector<std::uint32_t> sample;
  const std::size_t taken = std::min(total, count);
  sample.reserve(taken);
  for (std::size_t i = 0; i < taken; ++i) sample.push_back(static_cast<std::uint32_t>(i * total / taken));
  return sample;
}

std::vector<std::uint32_t> watched_row(const SparseMatrix& watched, std::uint32_t user) {
  return {watched.col_indices.begin() + static_cast<std::ptrdiff_t>(watched.row_offsets[user]),
          watched.col_indices.begin() + static_cast<std::ptrdiff_t>(watched.row_offsets[user + 1])};
}

bool same_answer(const std::vector<ScoredVideo>& a, const std::vector<ScoredVideo>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    // Bit for bit: the pruned scan promises the very floats of the full scan.
    if (a[i].video != b[i].video || std::memcmp(&a[i].score, &b[i].score, sizeof(float)) != 0) return false;
  }
  return true;
}

void check_top_k(const Recommender& recommender, const RetrievalEvaluationConfig& config, RetrievalEvaluation& out) {
  const FactorMatrix& users = recommender.model().factors.user_factors;
  const FactorMatrix& items = recommender.model().factors.item_factors;
  const VideoPanels full(items, ScanMode::Full);
  const VideoPanels pruned(items, ScanMode::Pruned);
  const auto sample = spread_sample(static_cast<std::size_t>(users.rows()), config.users);
  std::vector<double> shares;
  double full_seconds = 0, pruned_seconds = 0;
  for (const std::uint32_t user : sample) {
    const float* factor = users.row(user).data();
    auto start = Clock::now();
    const auto expected = full.top_k(factor, config.k, watched_row(recommender.watched(), user));
    full_seconds += seconds_since(start);
    std::uint64_t scored = 0;
    start = Clock::now();
    const auto answer = pruned.top_k(factor, config.k, watched_row(recommender.watched(), user), &scored);
    pruned_seconds += seconds_since(start);
    shares.push_back(static_cast<double>(scored) / static_cast<double>(items.rows()));
    if (!same_answer(answer, expected)) ++out.answers_differing;
  }
  out.users_sampled = sample.size();
  const auto count = static_cast<double>(sample.size());
  out.full_ms_per_answer = 1000 * full_seconds / count;
  out.pruned_ms_per_answer = 1000 * pruned_seconds / count;
  std::sort(shares.begin(), shares.end());
  const auto quantile = [&](double q) { return shares[static_cast<std::size_t>(q * static_cast<double>(shares.size() - 1))]; };
  out.share_median = quantile(0.5);
  out.share_p90 = quantile(0.9);
  out.share_max = shares.back();
  double sum = 0;
  for (const double share : shares) sum += share;
  out.share_mean = sum / count;
}

void check_similar(const Recommender& recommender, const AnnIndex* index, const RetrievalEvaluationConfig& config,
                   RetrievalEvaluation& out) {
  const auto videos = static_cast<std::size_t>(recommender.model().factors.item_factors.rows());
  const auto sample = spread_sample(videos, config.queries);
  out.videos_sampled = sample.size();
  // The exact answers, from the served path: the k most similar other videos.
  std::vector<std::vector<std::uint32_t>> exact;
  exact.reserve(sample.size());
  const auto start = Clock::now();
  for (const std::uint32_t video : sample) {
    RecommendOptions options;
    options.k = config.k;
    options.exclude = {recommender.mappings().videos.id(video)};
    std::vector<std::uint32_t> top;
    for (const auto& found : recommender.similar(options.exclude.front(), options)) {
      top.push_back(*recommender.mappings().videos.find(found.video_id));
    }
    std::sort(top.begin(), top.end());
    exact.push_back(std::move(top));
  }
  out.exact_queries_per_second = static_cast<double>(sample.size()) / seconds_since(start);
  if (index == nullptr) return;
  // The index's neighbours are the served answer's (vr-serve rescores them with the model's
  // cosine, which orders but does not change the set), so their recall is the answer's.
  const auto wanted = static_cast<std::size_t>(config.k) + 1;
  for (const std::size_t ef : config.ef) {
    std::size_t found = 0, expected = 0;
    const auto ef_start = Clock::now();
    for (std::size_t q = 0; q < sample.size(); ++q) {
      std::size_t others = 0;
      for (const auto& neighbour : index->nearest(sample[q], wanted, std::max(ef, wanted))) {
        if (neighbour.video == sample[q] || others == static_cast<std::size_t>(config.k)) continue;
        ++others;
        found += std::binary_search(exact[q].begin(), exact[q].end(), neighbour.video) ? 1 : 0;
      }
      expected += exact[q].size();
    }
    const double seconds = seconds_since(ef_start);
    AnnEfResult result;
    result.ef = ef;
    result.queries_per_second = static_cast<double>(sample.size()) / seconds;
    result.recall = expected == 0 ? 1.0 : static_cast<double>(found) / static_cast<double>(expected);
    out.ann.push_back(result);
  }
}

}  // namespace

RetrievalEvaluation evaluate_retrieval(const RetrievalEvaluationConfig& config) {
  if (config.k < 1) throw InvalidInput("k must be >= 1");
  if (config.users < 1) throw InvalidInput("users to sample must be >= 1");
  if (config.queries < 1) throw InvalidInput("videos to sample must be >= 1");
  if (config.ef.empty()) throw InvalidInput("at least one ef is needed");
  for (const std::size_t ef : config.ef) {
    if (ef < 1) throw InvalidInput("ef must be >= 1");
  }
  std::error_code error;
  const bool use_index = config.retrieval == Retrieval::Ann ||
                         (config.retrieval == Retrieval::Auto && !config.index_path.empty() &&
                          std::filesystem::exists(config.index_path, error));
  if (use_index && !std::filesystem::exists(config.index_path, error)) {
    throw IoError("retrieval ann needs an ANN index, but '" + config.index_path +
                  "' does not exist (build it with vr-index)");
  }
  // The index is loaded before the model so that a broken one fails fast.
  std::unique_ptr<AnnIndex> index;
  if (use_index) index = AnnIndex::load(config.index_path);
  const auto recommender = Recommender::load(config.artifacts, ScanMode::Pruned);
  if (recommender->kind() != ModelKind::Als) {
    throw InvalidInput("'" + config.artifacts.model + "' is a " + recommender->model().info.kind +
                       " model; the retrieval checks need an als model");
  }
  const FactorMatrix& items = recommender->model().factors.item_factors;
  if (index) index->check_matches(items, config.index_path, config.artifacts.model);
  if (recommender->model().factors.user_factors.rows() == 0 || items.rows() == 0) {
    throw InvalidInput("'" + config.artifacts.model + "' has no users or no videos to search");
  }
  RetrievalEvaluation out;
  out.users = static_cast<std::size_t>(recommender->model().factors.user_factors.rows());
  out.videos = static_cast<std::size_t>(items.rows());
  out.factors = static_cast<std::size_t>(items.cols());
  out.k = config.k;
  out.retrieval = index ? "ann" : "exact";
  if (index) {
    out.index_path = config.index_path;
    out.index_m = index->m();
    out.index_ef_construction = index->ef_construction();
  }
  check_top_k(*recommender, config, out);
  check_similar(*recommender, index.get(), config, out);
  return out;
}

RetrievalEvaluation run_retrieval_evaluation(const RetrievalEvaluationConfig& config, const std::string& output_path,
                                             bool json) {
  AtomicFileWriter writer(output_path);
  const auto evaluation = evaluate_retrieval(config);
  if (json) {
    write_retrieval_json(writer.stream(), evaluation);
  } else {
    write_retrieval_table(writer.stream(), evaluation);
  }
  writer.commit();
  return evaluation;
}

void write_retrieval_table(std::ostream& output, const RetrievalEvaluation& e) {
  const auto flags = output.flags();
  output << std::fixed;
  output << "model: " << e.users << " users x " << e.videos << " videos x " << e.factors << " factors; k " << e.k
         << "; one thread, times in its CPU time\n";
  output << "top-" << e.k << " of " << e.users_sampled << " users (watched left out), pruned against full scan:\n"
         << "  share of the catalog scored  median " << std::setprecision(2) << 100 * e.share_median << "%, p90 "
         << 100 * e.share_p90 << "%, max " << 100 * e.share_max << "%, mean " << 100 * e.share_mean << "%\n"
         << "  time per answer              full " << std::setprecision(3) << e.full_ms_per_answer << " ms, pruned "
         << e.pruned_ms_per_answer << " ms (" << std::setprecision(1)
         << (e.pruned_ms_per_answer > 0 ? e.full_ms_per_answer / e.pruned_ms_per_answer : 0.0) << "x)\n"
         << "  answers differing            " << e.answers_differing << " of " << e.users_sampled << "\n";
  output << "similar videos, top-" << e.k << " of " << e.videos_sampled << " videos:\n"
         << "  exact cosine scan            " << std::setprecision(0) << e.exact_queries_per_second << " queries/s\n";
  if (e.ann.empty()) {
    output << "  HNSW index                   not measured (retrieval exact, or auto without an index)\n";
  } else {
    output << "  HNSW index " << e.index_path << " (M " << e.index_m << ", ef-construction " << e.index_ef_construction
           << "):\n";
    for (const auto& result : e.ann) {
      output << "  ef " << std::setw(5) << result.ef << "  recall@" << e.k << " " << std::setprecision(3) << result.recall
             << "  " << std::setprecision(0) << result.queries_per_second << " queries/s (" << std::setprecision(1)
             << (e.exact_queries_per_second > 0 ? result.queries_per_second / e.exact_queries_per_second : 0.0)
             << "x exact)\n";
    }
  }
  output.flags(flags);
}

void write_retrieval_json(std::ostream& output, const RetrievalEvaluation& e) {
  nlohmann::json ann = nlohmann::json::array();
  for (const auto& result : e.ann) {
    ann.push_back({{"ef", result.ef}, {"queries_per_second", result.queries_per_second}, {"recall", result.recall}});
  }
  nlohmann::json similar = {{"videos_sampled", e.videos_sampled},
                            {"exact_queries_per_second", e.exact_queries_per_second},
                            {"retrieval", e.retrieval},
                            {"ann", ann}};
  if (!e.index_path.empty()) {
    similar["index"] = {{"path", e.index_path}, {"m", e.index_m}, {"ef_construction", e.index_ef_construction}};
  }
  const nlohmann::json object = {
      {"model", {{"users", e.users}, {"videos", e.videos}, {"factors", e.factors}}},
      {"k", e.k},
      {"top_k",
       {{"users_sampled", e.users_sampled},
        {"full_ms_per_answer", e.full_ms_per_answer},
        {"pruned_ms_per_answer", e.pruned_ms_per_answer},
        {"share_scanned", {{"median", e.share_median}, {"p90", e.share_p90}, {"max", e.share_max}, {"mean", e.share_mean}}},
        {"answers_differing", e.answers_differing}}},
      {"similar", similar}};
  output << object.dump(1) << "\n";
}

}  // namespace vr
