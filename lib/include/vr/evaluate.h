// vr-evaluate's job: split ratings into train and test, train one or more models (ALS, EASE,
// item-knn; ALS optionally tuned on a validation split of the train part) and report ranking
// metrics at several cut-offs beside the most-popular baseline, as a table, JSON, or an HTML
// report. Metrics are ranking_metrics.h's (docs/vr-evaluate.md); the split protocols are below.
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "vr/als.h"
#include "vr/catalog_evaluation.h"
#include "vr/given_split.h"
#include "vr/heavy_tail.h"
#include "vr/ranking_metrics.h"
#include "vr/interaction_rows.h"
#include "vr/interactions.h"
#include "vr/item_models.h"
#include "vr/ratings.h"
#include "vr/timestamp.h"  // parse_timestamp, for the time splits
#include "vr/tuning.h"
#include "vr/video_panels.h"

namespace vr {

// How each user's ratings are divided between train and test.
enum class SplitMethod {
  Random,        // a seeded random test_ratio of each user's ratings (split_per_user_random)
  LeaveLastOut,  // each user's most recent video (needs timestamps)
  LastFraction,  // each user's most recent test_ratio of videos (needs timestamps)
  Given,         // a train file and a test file (given_split.h); not parsed from text
};

std::string to_string(SplitMethod method);
// Parses "random", "leave-last-out", "last-fraction"; throws InvalidInput otherwise.
SplitMethod parse_split_method(const std::string& text);

struct SplitConfig {
  SplitMethod method = SplitMethod::Random;
  double test_ratio = 0.25;  // share of each user's videos held out, in (0, 1); not used by LeaveLastOut
  std::uint64_t seed = 42;   // seeds the Random split
};

// Ratings with, per (user, video), the time of the pair's latest event.
struct TimedRatings {
  SparseMatrix ratings;            // users x videos, summed weights
  std::vector<double> timestamps;  // aligned with ratings.values: seconds since the epoch; empty
                                   // when the input had no timestamp column
  std::vector<std::string> video_ids;  // video index -> id (for --catalog)
};

// Reads raw interactions (the vr-features input: user_id, video_id, event or value, and an
// optional timestamp column) and sums weights per (user, video) as vr-features does, keeping
// each pair's latest timestamp. Pairs whose weights sum to zero are dropped. Throws
// InvalidInput naming `source_name`, the line and the field on the first bad row.
TimedRatings read_timed_interactions(std::istream& input, const std::string& source_name,
                                     const FeaturesConfig& features);

// Per user, the newest videos go to test: one (LeaveLastOut) or round(test_ratio * count)
// (LastFraction), keeping at least one in train; ties in time go by video index. Throws
// InvalidInput when `data` has no timestamps. `train_timestamps`, when given, receives the
// times of the train part's ratings, aligned with its values.
Split split_per_user_by_time(const TimedRatings& data, SplitMethod method, double test_ratio,
                             std::vector<double>* train_timestamps = nullptr);

// The metrics of one model or baseline at each cut-off.
struct MetricsTable {
  std::vector<RankingMetrics> at_k;  // in the order of EvaluateConfig::cutoffs
};

// How the split went.
struct SplitSummary {
  SplitConfig config;
  std::uint32_t users = 0;
  std::uint32_t videos = 0;
  std::uint64_t train_ratings = 0;
  std::uint64_t test_ratings = 0;
  std::uint64_t users_evaluated = 0;  // users with at least one test video
  std::optional<GivenSplitSummary> given;  // with SplitMethod::Given: what was left out
  std::optional<CatalogSplitSummary> catalog;  // with EvaluateConfig::catalog: what it left out
                                               // (test_ratings and users_evaluated are counted after)
};

// One model's ranking re-ranked with a popularity penalty (vr/popularity_penalty.h).
struct PenaltyEvaluation {
  double beta = 0;                         // 0: the model's own ranking
  MetricsTable metrics;                    // at EvaluateConfig::cutoffs
  std::vector<double> long_tail_coverage;  // at each cut-off: share of the long-tail videos (outside
                                           // the 20 % most popular in train) in anyone's top K
};

// One evaluated model (or the baseline) on the test split.
struct ModelEvaluation {
  std::string name;            // "als", "ease", "item-knn", "popularity", "als-defaults"
  MetricsTable metrics;        // at EvaluateConfig::cutoffs
  double train_seconds = 0;    // wall time of training (0 for the baseline)
  std::vector<RankingMetrics> curve;       // K = 1..report_depth (empty without a report)
  std::vector<double> popularity_shares;   // share of its top-report_depth lists in each
                                           // catalog popularity decile (empty without a report)
  double long_tail_coverage = 0;           // share of long-tail videos recommended to anyone
  ScanCounters scan;                       // ALS: how much of the catalog ranking scored
  std::vector<PenaltyEvaluation> penalties;  // with EvaluateConfig::popularity_penalties: beta 0,
                                             // then each beta asked for (the same trained model)
};

struct EvaluationReport {
  MetricsTable model;       // the first model's metrics (the tuned ALS with tuning)
  MetricsTable popularity;
  SplitSummary split;
  TrainConfig train;        // the ALS config behind "model" (the tuned one with tuning)
  std::vector<int> cutoffs;
  double train_seconds = 0;  // wall time of training the first model
  std::vector<ModelEvaluation> models;    // every model asked for, in order
  ModelEvaluation baseline;               // the popularity baseline, named "popularity"
  std::optional<ModelEvaluation> defaults;  // with tuning: ALS with the untuned config
  std::optional<TuningResult> tuning;       // with tuning: the trials and the best config
  ItemModelConfig item_config;              // EASE / item-knn hyperparameters
  std::vector<double> loss_history;         // ALS training loss per iteration (report only)
  int report_depth = 0;                     // K range of the curves (0 = no report data)
  std::vector<double> catalog_shares;       // share of training interactions per popularity decile
  double long_tail_share = 0;               // share of videos counted as long tail
};

struct EvaluateConfig {
  SplitConfig split;
  TrainConfig train;
  std::vector<int> cutoffs{10};  // K of the metrics, each >= 1
  std::vector<ModelKind> models{ModelKind::Als};  // compared on one table, the first is "model"
  ItemModelConfig item_config;                    // for EASE and item-knn
  std::optional<TuneConfig> tune;  // tune ALS on a validation split of train (needs als in models)
  int report_depth = 0;            // > 0: also compute curves at K = 1..report_depth and the
                                   // popularity distribution of the top report_depth, for --report
  ScanMode scan = ScanMode::Pruned;  // how ALS ranks the catalog (same rankings either way)
  std::vector<double> popularity_penalties;  // betas (each >= 0) every model is also re-ranked with,
                                             // score - beta ln(1 + n_i), reported beside beta 0
                                             // with long-tail coverage; empty = none
  std::optional<EvaluationCatalog> catalog;  // rank only the videos it allows and drop the test
                                             // ratings on the others (vr/catalog_evaluation.h);
                                             // its mask has one flag per video of the data
  PhaseCallback on_phase;  // hears EASE's training phases (train_ease); progress only, not in the report
};

// Called for each finished tuning trial.
using TrialCallback = std::function<void(const TrialResult&)>;

// Splits `ratings`, trains on the train part, ranks all videos minus each user's training
// videos, and computes metrics for the model and the most-popular baseline.
EvaluationReport evaluate(const SparseMatrix& ratings, const EvaluateConfig& config,
                          const IterationCallback& on_iteration = {}, const TrialCallback& on_trial = {});
// The same for timestamped data (any split method).
EvaluationReport evaluate(const TimedRatings& data, const EvaluateConfig& config,
                          const IterationCallback& on_iteration = {}, const TrialCallback& on_trial = {});
// The same on a given train/test pair (config.split is ignored; the report's split method is
// Given, with the counts of what the pair left out).
EvaluationReport evaluate(const GivenSplit& given, const EvaluateConfig& config,
                          const IterationCallback& on_iteration = {}, const TrialCallback& on_trial = {});

// Below this many users with a test video, averaged metrics are noise: one user moves them by
// 1/users (a handful of users can score a perfect 1.0).
inline constexpr std::uint64_t kFewestUsersForMeaningfulMetrics = 100;
// True when `split` evaluated fewer than kFewestUsersForMeaningfulMetrics users.
bool too_few_users_to_evaluate(const SplitSummary& split);
// The warning to print then (one line, no "warning:" prefix).
std::string few_users_warning(const SplitSummary& split);

// A fixed-width table: one row per metric and K, a column per model ("model" when only ALS
// was evaluated; with tuning "tuned" and "defaults") and "popularity", then the split and
// training summary lines, and a warning line when too few users were evaluated. With
// popularity penalties, a second table: per model and beta, nDCG, coverage and long-tail
// coverage at each K.
void write_report_table(std::ostream& output, const EvaluationReport& report);
// One JSON object: {"model": {"precision@10": ..., "recall@10", "ndcg@10", "map@10",
// "hit_rate@10", "coverage@10", ... for each K}, "popularity": {same keys}, "models": {name:
// {same keys}} for every model, "split": {...}, "config": {...}}, with tuning also "defaults"
// (the untuned ALS's metrics), "best_config" and "tuning" (the trials); with popularity
// penalties "popularity_penalty": {"formula", "models": {name: [{"beta", metrics..., 
// "long_tail_coverage@K"}]}}; then a newline.
void write_report_json(std::ostream& output, const EvaluationReport& report);
// The report as nlohmann JSON text, with the curves and distributions when computed.
std::string report_json_text(const EvaluationReport& report, bool with_report_data);

// Writes `directory`/report.html (self-contained: inline CSS and SVG charts, no network) and
// `directory`/report.json (the numbers), each atomically; creates the directory.
void write_html_report(const std::string& directory, const EvaluationReport& report);

// What vr-evaluate was asked to do, as plain data.
struct EvaluateJob {
  std::string ratings_path;       // ratings.csv ("-" = stdin); used when interactions_path is empty
  std::string mappings_path;      // mappings.bin for the shape; empty = from the largest indices
  std::string interactions_path;  // raw interactions CSV ("-" = stdin); needed for time splits
  std::string train_path;         // with test_path: a given split (load_given_split), used instead of
  std::string test_path;          // ratings_path and interactions_path; mappings_path gives ratings files' shape
  FeaturesConfig features;        // event weights for interactions_path
  EvaluateConfig config;
  bool json = false;              // write_report_json instead of the table
  std::string output_path = "-";  // "-" = stdout; a file is written atomically
  std::string best_config_path;   // with tuning: write the best hyperparameters here (vr-train --config)
  std::string report_directory;   // non-empty: write report.html and report.json here
  std::string catalog_path;       // non-empty: videos.csv whose rules apply (EvaluateConfig::catalog),
                                  // matched by video id (needs the ids: interactions or mappings.bin)
  double catalog_now = 0;         // the time, in seconds since the epoch, its windows are checked at
};


// Loads the data, evaluates and writes the report (output opened before training). Throws
// InvalidInput for a time split without timestamps or a bad configuration.
// `on_warning` hears, before training, heavy_tail_warning's advice on the training part (not
// with tuning, which searches the scaling itself).
EvaluationReport run_evaluation(const EvaluateJob& job, const IterationCallback& on_iteration = {},
                                const TrialCallback& on_trial = {}, const WarningCallback& on_warning = {});

}  // namespace vr
