// Every user's top-k videos from a trained model of any kind (ALS, EASE, item-knn): what
// vr-evaluate ranks and what the precomputed table and batch tools build on.
#pragma once

#include <vector>

#include "vr/model.h"
#include "vr/ratings.h"
#include "vr/topk.h"
#include "vr/video_panels.h"

namespace vr {

class EligibleVideos;

// Top-k for every user of `model` (any kind), excluding the videos of each user's row in
// `watched` (users x videos, the history ALS users were trained on and EASE / item-knn
// users are scored from). Result indexed by user. `scan` picks how an ALS model's catalog is
// searched: Pruned (vr/video_panels.h) or Full, the block matrix products of top_k_all_users.
// With `eligible` (vr/eligibility.h, one flag per video), the videos it does not allow are left
// out as watched ones are, on every kind and scan. With `penalties` (one per video, each >= 0,
// vr/popularity_penalty.h; null or empty = none), videos are ranked by score - penalty; an ALS
// model is then searched by the packed panels in either scan mode (same answers).
std::vector<std::vector<ScoredVideo>> top_k_for_model(const Model& model, const SparseMatrix& watched, int k,
                                                      int threads, ScanMode scan = ScanMode::Pruned,
                                                      ScanCounters* counters = nullptr,
                                                      const EligibleVideos* eligible = nullptr,
                                                      const std::vector<float>* penalties = nullptr);

// top_k_all_users excluding each user's row of `watched` and, when `eligible` is not null,
// every video it does not allow (top_k_all_users itself when it is null).
std::vector<std::vector<ScoredVideo>> top_k_all_users_eligible(const FactorMatrix& user_factors,
                                                               const FactorMatrix& item_factors, int k,
                                                               const SparseMatrix& watched, int threads,
                                                               const EligibleVideos* eligible);

}  // namespace vr
