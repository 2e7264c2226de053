// Retrieval figures on one artifacts directory, one thread: pruned against full top-k (share
// of the catalog scored, time per answer, batch users/s, fold-in answers/s) and, when
// ann_index.bin is there, similar-video queries/s and recall@10 at several ef against the
// exact cosine scan. Prints figures; never fails on time.
// Usage: bench_retrieval DIR [USERS=2000] [BATCH_USERS=4096]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "vr/ann_index.h"
#include "vr/recommender.h"
#include "vr/video_panels.h"

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::vector<std::uint32_t> watched_row(const vr::SparseMatrix& watched, std::uint32_t user) {
  return {watched.col_indices.begin() + static_cast<std::ptrdiff_t>(watched.row_offsets[user]),
          watched.col_indices.begin() + static_cast<std::ptrdiff_t>(watched.row_offsets[user + 1])};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_retrieval DIR [USERS] [BATCH_USERS]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const std::size_t sample = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 2000;
  const std::size_t batch_sample = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 4096;
  auto load_start = Clock::now();
  const auto recommender = vr::Recommender::load(vr::resolve_artifact_paths(dir), vr::ScanMode::Pruned);
  const double load_seconds = seconds_since(load_start);
  const vr::FactorMatrix& items = recommender->model().factors.item_factors;
  const vr::FactorMatrix& users = recommender->model().factors.user_factors;
  const vr::SparseMatrix& watched = recommender->watched();
  const vr::VideoPanels full(items, vr::ScanMode::Full);
  const vr::VideoPanels pruned(items, vr::ScanMode::Pruned);
  std::printf("model: %td users x %td videos x %td factors (load with pruned packing %.1f s)\n", users.rows(), items.rows(),
              items.cols(), load_seconds);

  // Single answers, k = 10, watched videos excluded, one thread.
  const std::size_t step = std::max<std::size_t>(1, static_cast<std::size_t>(users.rows()) / sample);
  std::vector<std::uint32_t> sampled;
  for (std::size_t user = 0; user < static_cast<std::size_t>(users.rows()) && sampled.size() < sample; user += step) {
    sampled.push_back(static_cast<std::uint32_t>(user));
  }
  std::vector<double> shares;
  std::size_t mismatches = 0;
  double full_seconds = 0, pruned_seconds = 0;
  for (const std::uint32_t user : sampled) {
    const float* factor = users.row(user).data();
    auto start = Clock::now();
    const auto expected = full.top_k(factor, 10, watched_row(watched, user));
    full_seconds += seconds_since(start);
    std::uint64_t scored = 0;
    start = Clock::now();
    const auto answer = pruned.top_k(factor, 10, watched_row(watched, user), &scored);
    pruned_seconds += seconds_since(start);
    shares.push_back(static_cast<double>(scored) / static_cast<double>(items.rows()));
    for (std::size_t i = 0; i < answer.size(); ++i) {
      if (answer.size() != expected.size() || answer[i].video != expected[i].video || answer[i].score != expected[i].score) {
        ++mismatches;
        break;
      }
    }
  }
  std::sort(shares.begin(), shares.end());
  const auto quantile = [&](double q) { return shares[static_cast<std::size_t>(q * static_cast<double>(shares.size() - 1))]; };
  double mean_share = 0;
  for (const double share : shares) mean_share += share;
  mean_share /= static_cast<double>(shares.size());
  std::printf("top-10, %zu users, 1 thread: full %.3f ms/answer, pruned %.3f ms/answer (%.1fx); share scanned "
              "median %.2f%%, p90 %.2f%%, max %.2f%%, mean %.2f%%; answers differing: %zu\n",
              sampled.size(), 1000 * full_seconds / static_cast<double>(sampled.size()),
              1000 * pruned_seconds / static_cast<double>(sampled.size()), full_seconds / pruned_seconds,
              100 * quantile(0.5), 100 * quantile(0.9), 100 * shares.back(), 100 * mean_share, mismatches);

  // Batches of 64 users (--all-users and the precomputed table), one thread.
  const std::size_t batch_users = std::min<std::size_t>(batch_sample, static_cast<std::size_t>(users.rows()));
  for (const auto* panels : {&full, &pruned}) {
    const auto start = Clock::now();
    std::uint64_t scored = 0;
    for (std::size_t begin = 0; begin < batch_users; begin += 64) {
      std::vector<const float*> block;
      for (std::size_t user = begin; user < std::min(batch_users, begin + 64); ++user) block.push_back(users.row(static_cast<Eigen::Index>(user)).data());
      panels->top_k_block(
          block, 10,
          [&](std::size_t i, std::vector<std::uint32_t>& out) { out = watched_row(watched, static_cast<std::uint32_t>(begin + i)); },
          [](std::size_t, std::vector<vr::ScoredVideo>&&) {}, &scored);
    }
    const double seconds = seconds_since(start);
    std::printf("batch top-10 (blocks of 64), first %zu users, 1 thread, %s: %.0f users/s, share scanned %.2f%%\n", batch_users,
                vr::scan_mode_name(panels->mode()), static_cast<double>(batch_users) / seconds,
                100.0 * static_cast<double>(scored) / (static_cast<double>(batch_users) * static_cast<double>(items.rows())));
  }

  // Fold-in (the /invocations "history" path: exact solve + search), in-process, one thread.
  {
    vr::RecommendOptions options;
    options.k = 10;
    const std::size_t count = std::min<std::size_t>(500, sampled.size());
    const auto start = Clock::now();
    for (std::size_t i = 0; i < count; ++i) {
      std::vector<std::string> history;
      for (const std::uint32_t video : watched_row(watched, sampled[i])) history.push_back(recommender->mappings().videos.id(video));
      if (!history.empty()) (void)recommender->recommend_for_history(history, options);
    }
    const double seconds = seconds_since(start);
    std::printf("fold-in (history) top-10, pruned, in-process, 1 thread: %.0f answers/s (%.3f ms each)\n",
                static_cast<double>(count) / seconds, 1000 * seconds / static_cast<double>(count));
  }

  const std::string index_path = (std::filesystem::path(dir) / vr::kAnnIndexFileName).string();
  if (!std::filesystem::exists(index_path)) {
    std::printf("no %s: similar-video figures skipped (build it with vr-index)\n", index_path.c_str());
    return 0;
  }
  load_start = Clock::now();
  const auto index = vr::AnnIndex::load(index_path);
  std::printf("ann index: %zu videos, M %d, ef-construction %d, %.1f MiB, loaded in %.1f s\n", index->videos(), index->m(),
              index->ef_construction(), static_cast<double>(std::filesystem::file_size(index_path)) / (1024.0 * 1024.0),
              seconds_since(load_start));
  vr::FactorMatrix normalised = items;
  for (Eigen::Index i = 0; i < normalised.rows(); ++i) {
    const float norm = normalised.row(i).norm();
    if (norm > 0) normalised.row(i) /= norm;
  }
  const std::size_t queries = 500;
  const std::size_t video_step = std::max<std::size_t>(1, static_cast<std::size_t>(items.rows()) / queries);
  std::vector<std::set<std::uint32_t>> exact;
  auto start = Clock::now();
  for (std::size_t video = 0; video < static_cast<std::size_t>(items.rows()) && exact.size() < queries; video += video_step) {
    const Eigen::VectorXf cosines = normalised * normalised.row(static_cast<Eigen::Index>(video)).transpose();
    std::set<std::uint32_t> top;
    for (const auto& scored : vr::select_top_k(cosines.data(), static_cast<std::uint32_t>(cosines.size()), 10,
                                               {static_cast<std::uint32_t>(video)})) {
      top.insert(scored.video);
    }
    exact.push_back(std::move(top));
  }
  const double exact_rate = static_cast<double>(exact.size()) / seconds_since(start);
  std::printf("similar videos, exact cosine scan, 1 thread: %.0f queries/s\n", exact_rate);
  for (const std::size_t ef : {16, 32, 64, 128, 256}) {
    std::size_t found = 0, wanted = 0;
    start = Clock::now();
    std::size_t q = 0;
    for (std::size_t video = 0; q < exact.size(); video += video_step, ++q) {
      for (const auto& scored : index->nearest(static_cast<std::uint32_t>(video), 11, ef)) {
        if (scored.video != video) found += exact[q].count(scored.video);
      }
      wanted += exact[q].size();
    }
    const double rate = static_cast<double>(exact.size()) / seconds_since(start);
    std::printf("similar videos, HNSW ef %zu, 1 thread: %.0f queries/s (%.0fx exact), recall@10 %.3f\n", ef, rate,
                rate / exact_rate, static_cast<double>(found) / static_cast<double>(wanted));
  }
  return 0;
}
