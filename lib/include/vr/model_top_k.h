// Every user's top-k videos from a trained model of any kind (ALS, EASE, item-knn): what
// vr-evaluate ranks and what the precomputed table and batch tools build on.
#pragma once

#include <vector>

#include "vr/model.h"
#include "vr/ratings.h"
#include "vr/topk.h"
#include "vr/video_panels.h"

namespace vr {

// Top-k for every user of `model` (any kind), excluding the videos of each user's row in
// `watched` (users x videos, the history ALS users were trained on and EASE / item-knn
// users are scored from). Result indexed by user. `scan` picks how an ALS model's catalog is
// searched: Pruned (vr/video_panels.h) or Full, the block matrix products of top_k_all_users.
std::vector<std::vector<ScoredVideo>> top_k_for_model(const Model& model, const SparseMatrix& watched, int k,
                                                      int threads, ScanMode scan = ScanMode::Pruned,
                                                      ScanCounters* counters = nullptr);

}  // namespace vr
