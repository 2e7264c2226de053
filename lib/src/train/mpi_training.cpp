#include "vr/mpi_training.h"

#include <malloc.h>
#include <mpi.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <functional>
#include <memory>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <limits>
#include <string_view>

#include "vr/atomic_file.h"
#include "vr/errors.h"
#include "vr/framed_file.h"
#include "vr/gram_panels.h"
#include "vr/mappings.h"
#include "vr/parallel.h"
#include "vr/shards.h"
#include "vr/version.h"

namespace vr::mpi {
namespace {

// Factor rows sent to the writing process per message (~16 MiB at 64 factors).
constexpr std::uint64_t kWriteChunkBytes = std::uint64_t{16} << 20;

// Blocks of at least this many bytes are mapped for themselves and unmapped when freed.
constexpr std::size_t kMappedBlockBytes = std::size_t{1} << 20;

// glibc moves its mmap threshold up to the size of the largest mapped block freed so far (up
// to 32 MiB). Reading the ratings frees one array of ratings as the next of about the same
// size is made: a process whose next array came out smaller (at -np 2 on the benchmark set,
// process 0, whose half of ratings.csv held more lines than its users have ratings) took it
// from the heap, and once freed it stayed there as a hole the size of the ratings, counted in
// its memory to the end. A fixed threshold turns the adjustment off: every array of the
// ratings or factors is unmapped when freed, on every process.
void unmap_large_blocks_when_freed() {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMappedBlockBytes));
#endif
}

void check(int status, const char* what) {
  if (status != MPI_SUCCESS) throw std::runtime_error(std::string("MPI failure in ") + what);
}

int as_count(std::uint64_t count, const char* what) {
  if (count > static_cast<std::uint64_t>(std::numeric_limits<int>::max())) {
    throw std::runtime_error(std::string(what) + ": more than 2^31 elements in one message; use more processes");
  }
  return static_cast<int>(count);
}

// Contiguous ranges of `rows` rows for `parts` processes, on boundaries of blocks of
// `block_rows` rows. The blocks are the panels of the single-process YtY (gram_panels.h):
// ranges start on block boundaries and every sum runs block by block in row order, so the
// factors do not depend on the number of processes and equal the single-process ones.
class Partition {
 public:
  Partition(std::uint32_t rows, int parts, std::uint32_t block_rows)
      : first_(static_cast<std::size_t>(parts) + 1), block_rows_(block_rows) {
    const std::uint64_t blocks = (static_cast<std::uint64_t>(rows) + block_rows - 1) / block_rows;
    for (int part = 0; part <= parts; ++part) {
      const std::uint64_t block = blocks * static_cast<std::uint64_t>(part) / static_cast<std::uint64_t>(parts);
      first_[static_cast<std::size_t>(part)] =
          static_cast<std::uint32_t>(std::min<std::uint64_t>(rows, block * block_rows));
    }
  }
  std::uint32_t block_rows() const { return block_rows_; }
  std::uint32_t begin(int part) const { return first_[static_cast<std::size_t>(part)]; }
  std::uint32_t end(int part) const { return first_[static_cast<std::size_t>(part) + 1]; }
  std::uint32_t size(int part) const { return end(part) - begin(part); }
  int owner(std::uint32_t row) const {
    return static_cast<int>(std::upper_bound(first_.begin(), first_.end(), row) - first_.begin()) - 1;
  }

 private:
  std::vector<std::uint32_t> first_;
  std::uint32_t block_rows_;
};

// An MPI datatype of `bytes` contiguous bytes, freed with the object.
class ContiguousType {
 public:
  explicit ContiguousType(int bytes) {
    check(MPI_Type_contiguous(bytes, MPI_BYTE, &type_), "MPI_Type_contiguous");
    check(MPI_Type_commit(&type_), "MPI_Type_commit");
  }
  ~ContiguousType() { MPI_Type_free(&type_); }
  ContiguousType(const ContiguousType&) = delete;
  ContiguousType& operator=(const ContiguousType&) = delete;
  MPI_Datatype get() const { return type_; }

 private:
  MPI_Datatype type_ = MPI_DATATYPE_NULL;
};

struct World {
  int rank = 0;
  int size = 1;
};

// MPI_Alltoallv of elements of `element_bytes` bytes, `send` grouped by destination with
// `send_counts` per process. Returns the received elements grouped by source, in rank order.
// Adds the bytes sent to other processes to `bytes_sent`.
template <class T>
std::vector<T> exchange(const World& world, const std::vector<T>& send, const std::vector<std::uint64_t>& send_counts,
                        std::size_t elements_per_item, double* bytes_sent = nullptr) {
  const ContiguousType type(as_count(elements_per_item * sizeof(T), "element size"));
  std::vector<int> counts(static_cast<std::size_t>(world.size)), displacements(counts.size());
  std::vector<int> receive_counts(counts.size()), receive_displacements(counts.size());
  std::uint64_t offset = 0;
  for (std::size_t part = 0; part < counts.size(); ++part) {
    counts[part] = as_count(send_counts[part], "exchange");
    displacements[part] = as_count(offset, "exchange");
    offset += send_counts[part];
    if (bytes_sent != nullptr && static_cast<int>(part) != world.rank) {
      *bytes_sent += static_cast<double>(send_counts[part] * elements_per_item * sizeof(T));
    }
  }
  check(MPI_Alltoall(counts.data(), 1, MPI_INT, receive_counts.data(), 1, MPI_INT, MPI_COMM_WORLD), "MPI_Alltoall");
  std::uint64_t received = 0;
  for (std::size_t part = 0; part < counts.size(); ++part) {
    receive_displacements[part] = as_count(received, "exchange");
    received += static_cast<std::uint64_t>(receive_counts[part]);
  }
  std::vector<T> result(static_cast<std::size_t>(received * elements_per_item));
  check(MPI_Alltoallv(send.data(), counts.data(), displacements.data(), type.get(), result.data(),
                      receive_counts.data(), receive_displacements.data(), type.get(), MPI_COMM_WORLD),
        "MPI_Alltoallv");
  return result;
}

// Sends every rating to the process `owner_of` names, in a canonical order on arrival (sorted
// by user, video, value), so that duplicates are summed the same way whatever the partition.
std::vector<Rating> redistribute(const World& world, std::vector<Rating> ratings,
                                 const std::function<int(const Rating&)>& owner_of) {
  std::vector<std::uint64_t> counts(static_cast<std::size_t>(world.size), 0);
  for (const Rating& rating : ratings) ++counts[static_cast<std::size_t>(owner_of(rating))];
  std::vector<std::uint64_t> next(counts.size(), 0);
  for (std::size_t part = 1; part < counts.size(); ++part) next[part] = next[part - 1] + counts[part - 1];
  std::vector<Rating> grouped(ratings.size());
  for (const Rating& rating : ratings) grouped[next[static_cast<std::size_t>(owner_of(rating))]++] = rating;
  std::vector<Rating>().swap(ratings);
  std::vector<Rating> received = exchange(world, grouped, counts, 1);
  std::sort(received.begin(), received.end(), [](const Rating& a, const Rating& b) {
    if (a.user != b.user) return a.user < b.user;
    if (a.video != b.video) return a.video < b.video;
    return a.value < b.value;
  });
  return received;
}

// Which rows of the other side a process's ratings refer to, and how they travel: the rows
// arrive grouped by owner in index order, i.e. sorted, which is the order of the remapped
// column indices of the local CSR.
struct ExchangePlan {
  std::vector<std::uint64_t> receive_counts;  // rows from each owner
  std::vector<std::uint64_t> send_counts;     // rows to each requester
  std::vector<std::uint32_t> send_rows;       // owned rows to send (local indices), grouped by requester
  std::uint64_t received_rows = 0;
};

// Replaces `matrix`'s column indices by their positions in its sorted distinct columns, and
// agrees with the columns' owners which rows each sends.
ExchangePlan plan_exchange(const World& world, SparseMatrix& matrix, const Partition& columns) {
  std::vector<std::uint32_t> referenced(matrix.col_indices);
  std::sort(referenced.begin(), referenced.end());
  referenced.erase(std::unique(referenced.begin(), referenced.end()), referenced.end());
  for (std::uint32_t& column : matrix.col_indices) {
    column = static_cast<std::uint32_t>(std::lower_bound(referenced.begin(), referenced.end(), column) - referenced.begin());
  }
  matrix.cols = static_cast<std::uint32_t>(referenced.size());
  ExchangePlan plan;
  plan.receive_counts.assign(static_cast<std::size_t>(world.size), 0);
  for (const std::uint32_t row : referenced) ++plan.receive_counts[static_cast<std::size_t>(columns.owner(row))];
  plan.received_rows = referenced.size();
  std::vector<std::uint32_t> requested = exchange(world, referenced, plan.receive_counts, 1);
  plan.send_counts.assign(static_cast<std::size_t>(world.size), 0);
  std::vector<int> counts(static_cast<std::size_t>(world.size));
  std::vector<int> request_counts(static_cast<std::size_t>(world.size));
  for (std::size_t part = 0; part < counts.size(); ++part) counts[part] = as_count(plan.receive_counts[part], "plan");
  check(MPI_Alltoall(counts.data(), 1, MPI_INT, request_counts.data(), 1, MPI_INT, MPI_COMM_WORLD), "MPI_Alltoall");
  for (std::size_t part = 0; part < counts.size(); ++part) plan.send_counts[part] = static_cast<std::uint64_t>(request_counts[part]);
  const std::uint32_t first = columns.begin(world.rank);
  for (std::uint32_t& row : requested) row -= first;
  plan.send_rows = std::move(requested);
  return plan;
}

// MPI datatypes built for one exchange, freed with the object.
class DatatypeList {
 public:
  explicit DatatypeList(std::size_t count) : types_(count, MPI_DATATYPE_NULL) {}
  ~DatatypeList() {
    for (MPI_Datatype& type : types_) {
      if (type != MPI_DATATYPE_NULL) MPI_Type_free(&type);
    }
  }
  DatatypeList(const DatatypeList&) = delete;
  DatatypeList& operator=(const DatatypeList&) = delete;
  MPI_Datatype* data() { return types_.data(); }
  MPI_Datatype& operator[](std::size_t index) { return types_[index]; }

 private:
  std::vector<MPI_Datatype> types_;
};

// The rows `plan` says this process needs, from their owners' `owned` rows, received straight
// into the matrix (both sides' counts are known from the plan). The rows to send are picked
// out of `owned` by an indexed datatype per requester (MPI_Alltoallw), not copied into a send
// buffer first: with many requesters that buffer was nearly the size of `owned` again.
FactorMatrix fetch_rows(const World& world, const ExchangePlan& plan, const FactorMatrix& owned, double& bytes_sent) {
  const Eigen::Index factors = owned.cols();
  const int row_bytes = as_count(static_cast<std::uint64_t>(factors) * sizeof(float), "row size");
  const ContiguousType row_type(row_bytes);
  const std::size_t processes = static_cast<std::size_t>(world.size);
  FactorMatrix rows(static_cast<Eigen::Index>(plan.received_rows), factors);
  std::vector<int> send_counts(processes, 0), receive_counts(processes, 0), zero_displacements(processes, 0);
  DatatypeList send_types(processes), receive_types(processes);
  std::uint64_t sent = 0, received = 0;
  for (std::size_t part = 0; part < processes; ++part) {
    const int rows_out = as_count(plan.send_counts[part], "row exchange");
    if (rows_out > 0) {
      std::vector<int> row_indices(plan.send_rows.begin() + static_cast<std::ptrdiff_t>(sent),
                                   plan.send_rows.begin() + static_cast<std::ptrdiff_t>(sent + plan.send_counts[part]));
      check(MPI_Type_create_indexed_block(rows_out, 1, row_indices.data(), row_type.get(), &send_types[part]),
            "MPI_Type_create_indexed_block");
      check(MPI_Type_commit(&send_types[part]), "MPI_Type_commit");
      send_counts[part] = 1;
    } else {
      check(MPI_Type_dup(row_type.get(), &send_types[part]), "MPI_Type_dup");
    }
    const int rows_in = as_count(plan.receive_counts[part], "row exchange");
    // Byte offsets into `rows` as MPI_Aint: int displacements would overflow past 2 GiB.
    const MPI_Aint offset = static_cast<MPI_Aint>(received) * row_bytes;
    check(MPI_Type_create_hindexed_block(1, std::max(rows_in, 0), &offset, row_type.get(), &receive_types[part]),
          "MPI_Type_create_hindexed_block");
    check(MPI_Type_commit(&receive_types[part]), "MPI_Type_commit");
    receive_counts[part] = rows_in > 0 ? 1 : 0;
    sent += plan.send_counts[part];
    received += plan.receive_counts[part];
    if (static_cast<int>(part) != world.rank) {
      bytes_sent += static_cast<double>(plan.send_counts[part]) * static_cast<double>(row_bytes);
    }
  }
  check(MPI_Alltoallw(owned.data(), send_counts.data(), zero_displacements.data(), send_types.data(), rows.data(),
                      receive_counts.data(), zero_displacements.data(), receive_types.data(), MPI_COMM_WORLD),
        "MPI_Alltoallw");
  return rows;
}

// Adds this process's part of a block-ordered sum to the running total handed along the
// processes in rank order, and gives every process the final total. `add_own` adds this
// process's blocks, in order, to the total it receives.
template <class Total>
void fold_in_rank_order(const World& world, Total& total, int values, MPI_Datatype type,
                        const std::function<void(Total&)>& add_own) {
  if (world.rank > 0) {
    check(MPI_Recv(total.data(), values, type, world.rank - 1, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv");
  }
  add_own(total);
  if (world.rank + 1 < world.size) {
    check(MPI_Send(total.data(), values, type, world.rank + 1, 7, MPI_COMM_WORLD), "MPI_Send");
  }
  check(MPI_Bcast(total.data(), values, type, world.size - 1, MPI_COMM_WORLD), "MPI_Bcast");
}

// YtY over every process's rows (no regularisation), summed panel by panel in row order as
// the single-process regularized_gram sums it (gram_panels.h): the panels' own sums are
// computed in parallel, their running total is handed from process to process.
Eigen::MatrixXf global_gram(const World& world, const FactorMatrix& owned, std::uint32_t panel_rows, int threads) {
  const Eigen::Index factors = owned.cols();
  const std::size_t rows = static_cast<std::size_t>(owned.rows());
  const std::size_t panels = (rows + panel_rows - 1) / panel_rows;
  std::vector<Eigen::MatrixXf> panel_sums(panels);
  parallel_for_blocks(rows, panel_rows, threads, [&](std::size_t begin, std::size_t end) {
    panel_sums[begin / panel_rows] =
        panel_gram(owned.middleRows(static_cast<Eigen::Index>(begin), static_cast<Eigen::Index>(end - begin)));
  });
  Eigen::MatrixXf total = Eigen::MatrixXf::Zero(factors, factors);
  fold_in_rank_order<Eigen::MatrixXf>(world, total, static_cast<int>(factors * factors), MPI_FLOAT,
                                      [&](Eigen::MatrixXf& sum) {
                                        for (const auto& panel : panel_sums) sum += panel;
                                      });
  return total;
}

// The terms of the implicit library's loss, as sums over blocks.
struct LossTerms {
  // weighted error, observed squared, confidence sum, video norm, all squared, user norm, then
  // with frequency-scaled regularisation the users' and videos' sums of lambda_row |x|^2, and
  // the dislikes' confidence
  std::array<double, 9> values{};
  double* data() { return values.data(); }
};

// The loss from the users' side (x_u' YtY x_u and |x_u|^2 over owned users) and the videos'
// side (the observed terms and |y_i|^2 over owned videos, with the fetched user rows): the
// single-process training_loss's terms (als.h), iALS's weights included.
double global_loss(const World& world, const FactorMatrix& users, const FactorMatrix& videos,
                   const SparseMatrix& user_confidence, const SparseMatrix& video_confidence,
                   const FactorMatrix& fetched_users, const Eigen::MatrixXf& video_gram, const SystemWeights& weights,
                   std::uint32_t n_users, std::uint32_t n_videos, std::uint64_t nnz, std::uint32_t user_block_rows,
                   std::uint32_t video_block_rows, int threads) {
  const bool row_lambdas = weights.reg_exponent != 0.0f;
  const Eigen::Index factors = videos.cols();
  using ConstVectorMap = Eigen::Map<const Eigen::VectorXf>;
  const std::size_t user_blocks = (static_cast<std::size_t>(users.rows()) + user_block_rows - 1) / user_block_rows;
  const std::size_t video_blocks = (static_cast<std::size_t>(videos.rows()) + video_block_rows - 1) / video_block_rows;
  std::vector<LossTerms> user_partials(user_blocks), video_partials(video_blocks);
  parallel_for_blocks(static_cast<std::size_t>(users.rows()), user_block_rows, threads, [&](std::size_t begin, std::size_t end) {
    LossTerms& partial = user_partials[begin / user_block_rows];
    Eigen::VectorXf projected(factors);
    for (std::size_t row = begin; row < end; ++row) {
      const ConstVectorMap x(users.row(static_cast<Eigen::Index>(row)).data(), factors);
      projected.noalias() = video_gram * x;
      partial.values[4] += static_cast<double>(x.dot(projected));
      partial.values[5] += static_cast<double>(x.squaredNorm());
      if (row_lambdas) {
        partial.values[6] += static_cast<double>(row_regularization(
                                 weights, user_confidence.row_size(static_cast<std::uint32_t>(row)), n_videos)) *
                             static_cast<double>(x.squaredNorm());
      }
    }
  });
  parallel_for_blocks(static_cast<std::size_t>(videos.rows()), video_block_rows, threads, [&](std::size_t begin, std::size_t end) {
    LossTerms& partial = video_partials[begin / video_block_rows];
    for (std::size_t row = begin; row < end; ++row) {
      const ConstVectorMap y(videos.row(static_cast<Eigen::Index>(row)).data(), factors);
      partial.values[3] += static_cast<double>(y.squaredNorm());
      if (row_lambdas) {
        partial.values[7] += static_cast<double>(row_regularization(
                                 weights, video_confidence.row_size(static_cast<std::uint32_t>(row)), n_users)) *
                             static_cast<double>(y.squaredNorm());
      }
      for (std::uint64_t k = video_confidence.row_offsets[row]; k < video_confidence.row_offsets[row + 1]; ++k) {
        const float c = video_confidence.values[k];
        const ConstVectorMap x(fetched_users.row(video_confidence.col_indices[k]).data(), factors);
        const double score = static_cast<double>(x.dot(y));
        const double preference = c > 0 ? 1.0 : 0.0;
        const double weight = std::fabs(static_cast<double>(c));
        partial.values[0] += weight * (preference - score) * (preference - score);
        partial.values[1] += score * score;
        partial.values[2] += weight;
        if (c < 0) partial.values[8] += weight;
      }
    }
  });
  LossTerms total;
  fold_in_rank_order<LossTerms>(world, total, static_cast<int>(total.values.size()), MPI_DOUBLE, [&](LossTerms& sum) {
    for (const auto& partial : user_partials) {
      for (const std::size_t k : {4, 5, 6}) sum.values[k] += partial.values[k];
    }
    for (const auto& partial : video_partials) {
      for (const std::size_t k : {0, 1, 2, 3, 7, 8}) sum.values[k] += partial.values[k];
    }
  });
  const auto& t = total.values;
  const double unobserved_cells = static_cast<double>(n_users) * static_cast<double>(n_videos) - static_cast<double>(nnz);
  double loss = 0;
  double denominator = 0;
  if (is_implicit(weights)) {
    loss = t[0] + (t[4] - t[1]) + weights.regularization * (t[5] + t[3]);
    denominator = t[2] + unobserved_cells;
  } else {
    const double unobserved_weight = weights.unobserved_weight;
    const double penalty = row_lambdas ? t[6] + t[7] : weights.regularization * (t[5] + t[3]);
    loss = t[0] + unobserved_weight * (t[4] - t[1]) + penalty;
    denominator = t[2] + unobserved_weight * unobserved_cells;
  }
  // implicit's constant term for each dislike (als.cpp, weighted_training_loss).
  if (t[8] > 0) loss += t[8];
  return denominator > 0 ? loss / denominator : 0.0;
}

// Which process reads each shard: the least-loaded (in bytes, so far) of those whose folder
// holds it. Throws IoError naming a shard no process holds.
std::vector<int> assign_shards(const World& world, const ShardManifest& manifest, const std::string& shard_directory,
                               const std::string& manifest_path) {
  const int shards = static_cast<int>(manifest.shards.size());
  std::vector<char> present(static_cast<std::size_t>(shards));
  for (int index = 0; index < shards; ++index) {
    present[static_cast<std::size_t>(index)] = std::filesystem::exists(
        std::filesystem::path(shard_directory) / manifest.shards[static_cast<std::size_t>(index)].name);
  }
  std::vector<char> all_present(static_cast<std::size_t>(shards) * static_cast<std::size_t>(world.size));
  check(MPI_Allgather(present.data(), shards, MPI_CHAR, all_present.data(), shards, MPI_CHAR, MPI_COMM_WORLD),
        "MPI_Allgather");
  std::vector<std::uint64_t> load(static_cast<std::size_t>(world.size), 0);
  std::vector<int> readers(static_cast<std::size_t>(shards), -1);
  for (int index = 0; index < shards; ++index) {
    int chosen = -1;
    for (int rank = 0; rank < world.size; ++rank) {
      if (!all_present[static_cast<std::size_t>(rank) * static_cast<std::size_t>(shards) + static_cast<std::size_t>(index)]) continue;
      if (chosen < 0 || load[static_cast<std::size_t>(rank)] < load[static_cast<std::size_t>(chosen)]) chosen = rank;
    }
    const ShardEntry& entry = manifest.shards[static_cast<std::size_t>(index)];
    if (chosen < 0) {
      throw IoError("missing shard '" + (std::filesystem::path(shard_directory) / entry.name).string() +
                    "': no process has it (listed in " + manifest_path + ")");
    }
    load[static_cast<std::size_t>(chosen)] += entry.bytes;
    readers[static_cast<std::size_t>(index)] = chosen;
  }
  return readers;
}

// This process's ratings, as read from its part of the input.
std::vector<Rating> read_own_ratings(const World& world, const TrainJob& job, const std::string& shard_directory,
                                     std::uint32_t& users, std::uint32_t& videos) {
  std::vector<Rating> ratings;
  if (!shard_directory.empty()) {
    const std::string manifest_path = (std::filesystem::path(shard_directory) / kShardManifestFileName).string();
    const ShardManifest manifest = load_shard_manifest(manifest_path);
    check_shard_mappings(manifest, manifest_path, job.mappings_path);
    users = manifest.users;
    videos = manifest.videos;
    const std::vector<int> readers = assign_shards(world, manifest, shard_directory, manifest_path);
    for (int index = 0; index < static_cast<int>(manifest.shards.size()); ++index) {
      if (readers[static_cast<std::size_t>(index)] != world.rank) continue;
      std::vector<Rating> part = read_shard(shard_directory, manifest, index);
      ratings.insert(ratings.end(), part.begin(), part.end());
    }
    return ratings;
  }
  if (job.ratings_path == "-") throw InvalidInput("several processes cannot share stdin; give a ratings file");
  ratings = read_ratings_csv_part(job.ratings_path, world.rank, world.size);
  std::uint32_t shape[2] = {max_user_count(ratings), max_video_count(ratings)};
  check(MPI_Allreduce(MPI_IN_PLACE, shape, 2, MPI_UINT32_T, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
  users = shape[0];
  videos = shape[1];
  if (!job.mappings_path.empty()) {
    // Only the shape: the ids themselves would take every process gigabytes at 100M users.
    const MappingsShape mappings = load_mappings_shape(job.mappings_path);
    if (users > mappings.users || videos > mappings.videos) {
      throw InvalidInput("'" + job.ratings_path + "' refers to user or video indices that '" + job.mappings_path +
                         "' does not have (" + std::to_string(users) + " users, " + std::to_string(videos) +
                         " videos needed; mappings hold " + std::to_string(mappings.users) + " and " +
                         std::to_string(mappings.videos) + "); were they made by the same vr-features run?");
    }
    users = static_cast<std::uint32_t>(mappings.users);
    videos = static_cast<std::uint32_t>(mappings.videos);
  }
  return ratings;
}

// Streams the factor rows of every process, in order, to process 0's `emit`.
void stream_rows(const World& world, const Partition& partition, const FactorMatrix& owned,
                 const FactorRowEmitter& emit) {
  const Eigen::Index factors = owned.cols();
  const std::uint64_t chunk_rows = std::max<std::uint64_t>(1, kWriteChunkBytes / (static_cast<std::uint64_t>(factors) * sizeof(float)));
  if (world.rank != 0) {
    for (std::uint64_t row = 0; row < static_cast<std::uint64_t>(owned.rows()); row += chunk_rows) {
      const std::uint64_t count = std::min<std::uint64_t>(chunk_rows, static_cast<std::uint64_t>(owned.rows()) - row);
      check(MPI_Send(owned.row(static_cast<Eigen::Index>(row)).data(), as_count(count * static_cast<std::uint64_t>(factors), "write"),
                     MPI_FLOAT, 0, 9, MPI_COMM_WORLD),
            "MPI_Send");
    }
    return;
  }
  if (owned.rows() > 0) emit(owned.data(), static_cast<std::uint64_t>(owned.rows()));
  std::vector<float> buffer;
  for (int rank = 1; rank < world.size; ++rank) {
    const std::uint64_t rows = partition.size(rank);
    for (std::uint64_t row = 0; row < rows; row += chunk_rows) {
      const std::uint64_t count = std::min<std::uint64_t>(chunk_rows, rows - row);
      buffer.resize(count * static_cast<std::uint64_t>(factors));
      check(MPI_Recv(buffer.data(), as_count(buffer.size(), "write"), MPI_FLOAT, rank, 9, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
            "MPI_Recv");
      emit(buffer.data(), count);
    }
  }
}

Model train_distributed_als(const World& world, const TrainJob& job, const std::string& shard_directory,
                            const IterationCallback& on_iteration, ProcessReport& report) {
  const TrainConfig& config = job.config;
  validate(config);
  if (job.kind != ModelKind::Als) {
    throw InvalidInput("only ALS trains on several processes (--model " + to_string(job.kind) + " needs -np 1)");
  }
  if (world.rank == 0) {
    // The output must be writable before any work starts; the file itself is opened only to
    // write it, so a process killed by the job's end during training leaves no temporary.
    const auto parent = std::filesystem::path(job.model_path).parent_path();
    if (!parent.empty()) ensure_directory(parent.string());
    AtomicFileWriter probe(job.model_path);
  }
  const int threads = resolve_thread_count(config.threads);
  const SystemWeights weights = system_weights(config);

  unmap_large_blocks_when_freed();
  std::uint32_t n_users = 0, n_videos = 0;
  std::vector<Rating> ratings = read_own_ratings(world, job, shard_directory, n_users, n_videos);
  // Process 0's panel sizes for everyone: hosts with other cache sizes would pick others.
  std::uint32_t panel_rows[2] = {gram_panel_rows(n_users, config.factors), gram_panel_rows(n_videos, config.factors)};
  check(MPI_Bcast(panel_rows, 2, MPI_UINT32_T, 0, MPI_COMM_WORLD), "MPI_Bcast");
  const Partition user_partition(n_users, world.size, panel_rows[0]);
  const Partition video_partition(n_videos, world.size, panel_rows[1]);
  const std::uint32_t first_user = user_partition.begin(world.rank);
  const std::uint32_t first_video = video_partition.begin(world.rank);
  for (const Rating& rating : ratings) {
    if (rating.user >= n_users || rating.video >= n_videos) {
      throw InvalidInput("rating (" + std::to_string(rating.user) + ", " + std::to_string(rating.video) +
                         ") outside a " + std::to_string(n_users) + " x " + std::to_string(n_videos) + " matrix");
    }
  }

  // Users' side: this process's users' ratings as CSR, then the same ratings to the videos'
  // owners (already summed, so both sides hold the same values).
  ratings = redistribute(world, std::move(ratings), [&](const Rating& r) { return user_partition.owner(r.user); });
  for (Rating& rating : ratings) rating.user -= first_user;
  SparseMatrix user_confidence = build_sparse_matrix(ratings, user_partition.size(world.rank), n_videos);
  ratings = to_ratings(user_confidence);
  for (Rating& rating : ratings) rating.user += first_user;
  ratings = redistribute(world, std::move(ratings), [&](const Rating& r) { return video_partition.owner(r.video); });
  for (Rating& rating : ratings) rating = Rating{rating.video - first_video, rating.user, rating.value};
  SparseMatrix video_confidence = build_sparse_matrix(ratings, video_partition.size(world.rank), n_users);
  std::vector<Rating>().swap(ratings);
  for (float& value : user_confidence.values) value = confidence_of(value, config);
  for (float& value : video_confidence.values) value = confidence_of(value, config);

  std::uint64_t nnz = user_confidence.nnz();
  check(MPI_Allreduce(MPI_IN_PLACE, &nnz, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
  if (nnz == 0) {
    throw InvalidInput("'" + (shard_directory.empty() ? job.ratings_path : shard_directory) +
                       "' holds no ratings; nothing to train on");
  }

  // Initial factors: each process draws its own rows of the single-process sequence.
  FactorMatrix users = initial_factor_rows(first_user, user_partition.size(world.rank), config.factors, config.seed);
  FactorMatrix videos = initial_factor_rows(static_cast<std::uint64_t>(n_users) + first_video,
                                            video_partition.size(world.rank), config.factors, config.seed);
  for (std::uint32_t u = 0; u < user_confidence.rows; ++u) {
    if (user_confidence.row_size(u) == 0) users.row(u).setZero();
  }
  for (std::uint32_t i = 0; i < video_confidence.rows; ++i) {
    if (video_confidence.row_size(i) == 0) videos.row(i).setZero();
  }
  const ExchangePlan video_rows_plan = plan_exchange(world, user_confidence, video_partition);
  const ExchangePlan user_rows_plan = plan_exchange(world, video_confidence, user_partition);

  Model model;
  model.info.vr_version = kVersion;
  model.info.kind = to_string(ModelKind::Als);
  model.info.config = config;
  model.info.config.threads = 0;
  model.info.item_config = job.item_config;
  model.info.item_config.threads = 0;
  model.info.n_users = n_users;
  model.info.n_videos = n_videos;
  model.info.n_ratings = nnz;

  double bytes_sent = 0;
  Eigen::MatrixXf video_gram = global_gram(world, videos, video_partition.block_rows(), threads);
  for (int iteration = 1; iteration <= config.iterations; ++iteration) {
    const auto start = std::chrono::steady_clock::now();
    const FactorMatrix fetched_videos = fetch_rows(world, video_rows_plan, videos, bytes_sent);
    // Each row's system is the single-process one (a full row is local; N is the whole side's
    // count, not the fetched rows'),
    // so the factors are plain vr-train's bit for bit, iALS's weights included.
    Eigen::MatrixXf gram = video_gram;
    add_shared_terms(gram, weights);
    solve_half_iteration_with_gram(user_confidence, fetched_videos, gram, config.solver, config.cg_steps, threads, users,
                                   weights, n_videos);
    const FactorMatrix fetched_users = fetch_rows(world, user_rows_plan, users, bytes_sent);
    gram = global_gram(world, users, user_partition.block_rows(), threads);
    add_shared_terms(gram, weights);
    solve_half_iteration_with_gram(video_confidence, fetched_users, gram, config.solver, config.cg_steps, threads, videos,
                                   weights, n_users);
    video_gram = global_gram(world, videos, video_partition.block_rows(), threads);
    IterationReport progress;
    progress.iteration = iteration;
    progress.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    progress.loss = config.compute_loss
                        ? global_loss(world, users, videos, user_confidence, video_confidence, fetched_users,
                                      video_gram, weights, n_users, n_videos, nnz, user_partition.block_rows(),
                                      video_partition.block_rows(), threads)
                        : std::numeric_limits<double>::quiet_NaN();
    if (progress.loss == progress.loss) model.info.loss_history.push_back(progress.loss);
    if (world.rank == 0 && on_iteration) on_iteration(progress);
  }

  int finite = users.allFinite() && videos.allFinite() ? 1 : 0;
  check(MPI_Allreduce(MPI_IN_PLACE, &finite, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
  if (!finite) {
    throw NumericalError("factors contain NaN or infinite values; the model was not saved "
                         "(try a larger --regularization or a smaller --alpha)");
  }

  if (world.rank == 0) {
    AtomicFileWriter model_writer(job.model_path);
    write_als_model_streamed(
        model_writer.stream(), model.info,
        [&](const FactorRowEmitter& emit) { stream_rows(world, user_partition, users, emit); },
        [&](const FactorRowEmitter& emit) { stream_rows(world, video_partition, videos, emit); });
    model_writer.commit();
  } else {
    stream_rows(world, user_partition, users, {});
    stream_rows(world, video_partition, videos, {});
  }
  // Nobody reports success before the file is in place.
  check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");

  report.rank = world.rank;
  report.first_user = first_user;
  report.end_user = user_partition.end(world.rank);
  report.first_video = first_video;
  report.end_video = video_partition.end(world.rank);
  report.local_ratings = user_confidence.nnz();
  report.bytes_sent_per_iteration = config.iterations > 0 ? bytes_sent / config.iterations : 0.0;
  return model;
}

}  // namespace

bool launched_by_mpirun() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMIX_RANK") != nullptr;
}

Session::Session(int& argc, char**& argv) {
  if (!launched_by_mpirun()) return;
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
    std::cerr << "error: MPI_Init failed\n";
    std::exit(1);
  }
  active_ = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

Session::~Session() {
  if (active_ && !finalized_) MPI_Finalize();
}

int Session::finish(int exit_code) {
  if (!active_) return exit_code;
  if (exit_code != 0 && size_ > 1) {
    std::cerr << "error: process " << rank_ << " of " << size_ << " failed; ending the job\n" << std::flush;
    MPI_Abort(MPI_COMM_WORLD, exit_code);
  }
  finalized_ = true;
  MPI_Finalize();
  return exit_code;
}

Model run_distributed_training(const TrainJob& job, const std::string& shard_directory,
                               const IterationCallback& on_iteration, ProcessReport& report) {
  World world;
  check(MPI_Comm_rank(MPI_COMM_WORLD, &world.rank), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &world.size), "MPI_Comm_size");
  Model model;
  if (world.size == 1) {
    // One process runs the single-process code, so its model is plain vr-train's byte for byte.
    model = shard_directory.empty() ? run_training(job, on_iteration) : run_sharded_training(job, shard_directory, on_iteration);
    report.end_user = model.info.n_users;
    report.end_video = model.info.n_videos;
    report.local_ratings = model.info.n_ratings;
    model.factors = AlsFactors{};
    model.item_weights.resize(0, 0);
    model.neighbours = SparseMatrix{};
  } else {
    model = train_distributed_als(world, job, shard_directory, on_iteration, report);
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  report.peak_rss_bytes = static_cast<double>(usage.ru_maxrss) * 1024.0;
  return model;
}

void write_shard_concatenation(const std::string& shard_directory, const std::string& output_path) {
  World world;
  check(MPI_Comm_rank(MPI_COMM_WORLD, &world.rank), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &world.size), "MPI_Comm_size");
  const std::string manifest_path = (std::filesystem::path(shard_directory) / kShardManifestFileName).string();
  const ShardManifest manifest = load_shard_manifest(manifest_path);
  const std::vector<int> readers = assign_shards(world, manifest, shard_directory, manifest_path);
  std::unique_ptr<AtomicFileWriter> writer;
  if (world.rank == 0) {
    const auto parent = std::filesystem::path(output_path).parent_path();
    if (!parent.empty()) ensure_directory(parent.string());
    writer = std::make_unique<AtomicFileWriter>(output_path);
  }
  std::vector<char> piece;
  for (std::size_t index = 0; index < manifest.shards.size(); ++index) {
    const ShardEntry& entry = manifest.shards[index];
    const int reader = readers[index];
    if (reader == world.rank) {
      // stream_shard checks the size and checksum; a failure here ends the job before process 0
      // can commit, and process 0 checks what it received anyway.
      stream_shard(shard_directory, entry, kWriteChunkBytes, [&](const char* bytes, std::size_t count) {
        if (world.rank == 0) {
          writer->stream().write(bytes, static_cast<std::streamsize>(count));
        } else {
          check(MPI_Send(bytes, as_count(count, "shard copy"), MPI_BYTE, 0, 11, MPI_COMM_WORLD), "MPI_Send");
        }
      });
    } else if (world.rank == 0) {
      // The pieces arrive in the sizes stream_shard reads them in: kWriteChunkBytes, the last one shorter.
      std::uint64_t hash = kFnv1a64Start;
      for (std::uint64_t received = 0; received < entry.bytes;) {
        const std::uint64_t count = std::min<std::uint64_t>(kWriteChunkBytes, entry.bytes - received);
        piece.resize(count);
        check(MPI_Recv(piece.data(), as_count(count, "shard copy"), MPI_BYTE, reader, 11, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
              "MPI_Recv");
        hash = fnv1a64_update(hash, std::string_view(piece.data(), piece.size()));
        writer->stream().write(piece.data(), static_cast<std::streamsize>(piece.size()));
        received += count;
      }
      if (hash != entry.checksum) {
        throw CorruptFile("'" + entry.name + "' as received from process " + std::to_string(reader) +
                          ": checksum differs from " + manifest_path);
      }
    }
  }
  if (writer) writer->commit();
  // Nobody reports success before the file is in place.
  check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

std::vector<ProcessReport> gather_reports(const ProcessReport& report) {
  World world;
  MPI_Comm_rank(MPI_COMM_WORLD, &world.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world.size);
  std::vector<ProcessReport> reports(world.rank == 0 ? static_cast<std::size_t>(world.size) : 0);
  const int bytes = static_cast<int>(sizeof(ProcessReport));
  check(MPI_Gather(&report, bytes, MPI_BYTE, reports.data(), bytes, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Gather");
  return reports;
}

}  // namespace vr::mpi
