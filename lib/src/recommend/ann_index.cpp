#include "vr/ann_index.h"

#include <algorithm>
#include <chrono>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <hnswlib/hnswlib.h>

#include "vr/atomic_file.h"
#include "vr/errors.h"
#include "vr/model.h"
#include "vr/framed_file.h"
#include "vr/parallel.h"

namespace vr {
namespace {

constexpr const char* kMagic = "VRANNIDX";
// vr-index builds with M in 2..200; a file claiming more is corrupt (and would make the loader
// allocate 2 M links per node for nothing).
constexpr std::uint32_t kMaxM = 200;
// Levels are drawn with probability M^-level: even 10^12 nodes stay far below this.
constexpr std::uint32_t kMaxLevel = 64;

void put_u32(std::string& out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}
void put_u64(std::string& out, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

// Reads the payload front to back; every read is bounds-checked.
class PayloadReader {
 public:
  PayloadReader(const std::string& bytes, const std::string& source) : bytes_(bytes), source_(source) {}
  std::uint64_t u(int width) {
    need(static_cast<std::size_t>(width));
    std::uint64_t value = 0;
    for (int i = width - 1; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes_[offset_ + static_cast<std::size_t>(i)]);
    offset_ += static_cast<std::size_t>(width);
    return value;
  }
  void copy(void* destination, std::size_t count) {
    need(count);
    std::memcpy(destination, bytes_.data() + offset_, count);
    offset_ += count;
  }
  std::size_t remaining() const { return bytes_.size() - offset_; }
  [[noreturn]] void fail(const std::string& what) const {
    throw CorruptFile("'" + source_ + "' is not a valid vr ANN index: " + what + " (rebuild it with vr-index)");
  }

 private:
  void need(std::size_t count) const {
    if (count > remaining()) fail("it ends inside its graph");
  }
  const std::string& bytes_;
  const std::string& source_;
  std::size_t offset_ = 0;
};

// hnswlib 0.6.2's searches prefetch the link slot just after the last link they read
// (`datal + j + 1` in searchBaseLayer and searchKnn). On a node's top layer with a full list
// (M links) that slot lies past the node's upper-layer block, which addPoint allocates as
// size_links_per_element_ per layer plus one byte: the 4-byte read overruns it (AddressSanitizer
// reports it while vr-index builds). Each layer's list starts size_links_per_element_ after the
// one below, so widening that stride by one link before the first node is added gives every
// upper-layer list a spare, zeroed slot after its M links, in the blocks addPoint allocates and
// in those this file's loader allocates. Lists still hold at most M links (maxM_): the graph,
// and so ann_index.bin, is the same; only the memory layout changes.
void reserve_slot_after_upper_links(hnswlib::HierarchicalNSW<float>& hnsw) {
  hnsw.size_links_per_element_ =
      sizeof(hnswlib::linklistsizeint) + (hnsw.maxM_ + 1) * sizeof(hnswlib::tableint);
}

}  // namespace

struct AnnIndex::Graph {
  explicit Graph(std::size_t factors) : space(factors) {}
  hnswlib::InnerProductSpace space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw;
};

AnnIndex::AnnIndex() = default;
AnnIndex::~AnnIndex() = default;

std::size_t AnnIndex::videos() const { return graph_->hnsw->cur_element_count; }
int AnnIndex::m() const { return static_cast<int>(graph_->hnsw->M_); }
int AnnIndex::ef_construction() const { return static_cast<int>(graph_->hnsw->ef_construction_); }

std::uint64_t ann_model_fingerprint(const FactorMatrix& item_factors) {
  // FNV-1a over 64-bit words (eight times fewer multiplications than byte-wise): the factors
  // of a 10M-video model are 2.5 GB.
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  const auto mix = [&](std::uint64_t word) {
    hash ^= word;
    hash *= 0x100000001b3ULL;
  };
  mix(static_cast<std::uint64_t>(item_factors.rows()));
  mix(static_cast<std::uint64_t>(item_factors.cols()));
  const auto* bytes = reinterpret_cast<const unsigned char*>(item_factors.data());
  const std::size_t size = static_cast<std::size_t>(item_factors.size()) * sizeof(float);
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, bytes + i, 8);
    mix(word);
  }
  for (; i < size; ++i) mix(bytes[i]);
  return hash;
}

std::unique_ptr<AnnIndex> AnnIndex::build(const FactorMatrix& item_factors, const AnnBuildConfig& config,
                                          const std::function<void(std::size_t, std::size_t)>& progress) {
  if (config.m < 2 || config.m > 200) throw InvalidInput("--m must be between 2 and 200");
  if (config.ef_construction < 1) throw InvalidInput("--ef-construction must be >= 1");
  std::unique_ptr<AnnIndex> index(new AnnIndex());
  index->fingerprint_ = ann_model_fingerprint(item_factors);
  index->factors_ = static_cast<std::size_t>(item_factors.cols());
  index->graph_ = std::make_unique<Graph>(index->factors_);
  const auto videos = static_cast<std::size_t>(item_factors.rows());
  index->graph_->hnsw = std::make_unique<hnswlib::HierarchicalNSW<float>>(
      &index->graph_->space, std::max<std::size_t>(videos, 1), static_cast<std::size_t>(config.m),
      static_cast<std::size_t>(config.ef_construction), config.seed);
  auto& hnsw = *index->graph_->hnsw;
  reserve_slot_after_upper_links(hnsw);
  std::atomic<std::size_t> done{0};
  const int threads = resolve_thread_count(config.threads);
  const auto insert = [&](std::size_t video) {
    Eigen::VectorXf normalised = item_factors.row(static_cast<Eigen::Index>(video)).transpose();
    const float norm = normalised.norm();
    if (norm > 0) normalised /= norm;
    hnsw.addPoint(normalised.data(), video);
    done.fetch_add(1, std::memory_order_relaxed);
  };
  // The first node on the calling thread: hnswlib's concurrent inserts need an entry point.
  if (videos > 0) insert(0);
  std::atomic<std::size_t> next{1};
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t) {
    workers.emplace_back([&] {
      for (std::size_t video; (video = next.fetch_add(1)) < videos;) insert(video);
    });
  }
  for (std::size_t video; (video = next.fetch_add(1)) < videos;) {
    insert(video);
    if (progress && video % 4096 == 0) progress(done.load(std::memory_order_relaxed), videos);
  }
  for (auto& worker : workers) worker.join();
  if (progress) progress(videos, videos);
  return index;
}

void AnnIndex::write(std::ostream& output) const {
  const auto& hnsw = *graph_->hnsw;
  std::string payload;
  put_u64(payload, fingerprint_);
  put_u32(payload, static_cast<std::uint32_t>(factors_));
  put_u64(payload, hnsw.cur_element_count);
  put_u32(payload, static_cast<std::uint32_t>(hnsw.M_));
  put_u32(payload, static_cast<std::uint32_t>(hnsw.ef_construction_));
  put_u32(payload, hnsw.cur_element_count == 0 ? 0u : static_cast<std::uint32_t>(hnsw.maxlevel_));
  put_u32(payload, hnsw.cur_element_count == 0 ? 0u : static_cast<std::uint32_t>(hnsw.enterpoint_node_));
  for (std::size_t node = 0; node < hnsw.cur_element_count; ++node) {
    const auto id = static_cast<hnswlib::tableint>(node);
    put_u32(payload, static_cast<std::uint32_t>(hnsw.getExternalLabel(id)));
    const int level = hnsw.element_levels_[node];
    put_u32(payload, static_cast<std::uint32_t>(level));
    payload.append(hnsw.getDataByInternalId(id), factors_ * sizeof(float));
    for (int layer = 0; layer <= level; ++layer) {
      hnswlib::linklistsizeint* list = hnsw.get_linklist_at_level(id, layer);
      const unsigned short count = hnsw.getListCount(list);
      put_u32(payload, count);
      const auto* links = reinterpret_cast<const hnswlib::tableint*>(list + 1);
      for (unsigned short i = 0; i < count; ++i) put_u32(payload, links[i]);
    }
  }
  write_framed(output, kMagic, kAnnIndexFormatVersion, payload);
}

std::unique_ptr<AnnIndex> AnnIndex::read(std::istream& input, const std::string& source_name) {
  const FramedPayload framed = read_framed(input, source_name, kMagic, kAnnIndexFormatVersion, "vr ANN index");
  PayloadReader reader(framed.bytes, source_name);
  std::unique_ptr<AnnIndex> index(new AnnIndex());
  index->fingerprint_ = reader.u(8);
  const std::uint64_t factors = reader.u(4);
  const std::uint64_t nodes = reader.u(8);
  const std::uint64_t m = reader.u(4);
  const std::uint64_t ef_construction = reader.u(4);
  const std::uint64_t top_level = reader.u(4);
  const std::uint64_t entry_point = reader.u(4);
  if (factors == 0 || factors > 65536) reader.fail("factors out of range");
  if (m < 2 || m > kMaxM) reader.fail("M out of range");
  if (top_level > kMaxLevel) reader.fail("top level out of range");
  // Each node takes at least its label, level, factors and one link count: a node count the
  // payload cannot hold is refused before anything is allocated for it.
  if (nodes > reader.remaining() / (12 + factors * sizeof(float))) reader.fail("more nodes than the file holds");
  if (nodes > 0 && entry_point >= nodes) reader.fail("entry point out of range");

  // Parse and check everything first; hnswlib's structures are filled only from a valid graph.
  struct Node {
    std::uint32_t label = 0;
    std::uint32_t level = 0;
    std::size_t vector_offset = 0;                   // into vectors
    std::vector<std::vector<std::uint32_t>> layers;  // links per layer 0..level
  };
  std::vector<Node> graph(nodes);
  std::vector<float> vectors(nodes * factors);
  std::vector<char> label_seen(nodes, 0);
  for (std::uint64_t node = 0; node < nodes; ++node) {
    Node& current = graph[node];
    current.label = static_cast<std::uint32_t>(reader.u(4));
    if (current.label >= nodes || label_seen[current.label]) reader.fail("video indices are not each listed once");
    label_seen[current.label] = 1;
    current.level = static_cast<std::uint32_t>(reader.u(4));
    if (current.level > top_level) reader.fail("a node above the top level");
    current.vector_offset = node * factors;
    reader.copy(vectors.data() + current.vector_offset, factors * sizeof(float));
    current.layers.resize(current.level + 1);
    for (std::uint32_t layer = 0; layer <= current.level; ++layer) {
      const std::uint64_t count = reader.u(4);
      if (count > (layer == 0 ? 2 * m : m)) reader.fail("a node with too many links");
      if (count * 4 > reader.remaining()) reader.fail("it ends inside its graph");
      current.layers[layer].resize(count);
      for (auto& link : current.layers[layer]) {
        link = static_cast<std::uint32_t>(reader.u(4));
        if (link >= nodes) reader.fail("a link to a node that does not exist");
      }
    }
  }
  if (reader.remaining() != 0) reader.fail("bytes after the graph");
  for (const Node& node : graph) {
    for (std::uint32_t layer = 0; layer < node.layers.size(); ++layer) {
      for (const std::uint32_t link : node.layers[layer]) {
        if (graph[link].level < layer) reader.fail("a link to a node that does not reach its layer");
      }
    }
  }
  if (nodes > 0 && graph[entry_point].level != top_level) reader.fail("the entry point is not on the top level");

  index->factors_ = factors;
  index->graph_ = std::make_unique<Graph>(factors);
  index->graph_->hnsw = std::make_unique<hnswlib::HierarchicalNSW<float>>(
      &index->graph_->space, std::max<std::size_t>(nodes, 1), m, ef_construction);
  auto& hnsw = *index->graph_->hnsw;
  reserve_slot_after_upper_links(hnsw);
  for (std::size_t node = 0; node < nodes; ++node) {
    const Node& source = graph[node];
    char* base = hnsw.data_level0_memory_ + node * hnsw.size_data_per_element_;
    std::memset(base, 0, hnsw.size_data_per_element_);
    std::memcpy(base + hnsw.offsetData_, vectors.data() + source.vector_offset, factors * sizeof(float));
    const hnswlib::labeltype label = source.label;
    std::memcpy(base + hnsw.label_offset_, &label, sizeof(label));
    // hnswlib's search prefetches the slot after a node's last link: zeroed, it names node 0
    // rather than whatever bytes malloc left there.
    std::memset(hnsw.get_linklist0(static_cast<hnswlib::tableint>(node)), 0, hnsw.size_links_level0_);
    hnsw.element_levels_[node] = static_cast<int>(source.level);
    hnsw.linkLists_[node] = nullptr;
    if (source.level > 0) {
      // As hnswlib's loader does, size_links_per_element_ per layer (spare slot included).
      const std::size_t bytes = hnsw.size_links_per_element_ * source.level;
      hnsw.linkLists_[node] = static_cast<char*>(std::calloc(1, bytes));
      if (hnsw.linkLists_[node] == nullptr) throw std::bad_alloc();
    }
    // Counted now, so that the destructor frees what was allocated if a later node throws.
    hnsw.cur_element_count = node + 1;
    for (std::uint32_t layer = 0; layer <= source.level; ++layer) {
      hnswlib::linklistsizeint* list = hnsw.get_linklist_at_level(static_cast<hnswlib::tableint>(node), static_cast<int>(layer));
      hnsw.setListCount(list, static_cast<unsigned short>(source.layers[layer].size()));
      // An empty layer has no data() to copy from (memcpy from null is undefined, even of 0 bytes).
      if (!source.layers[layer].empty()) {
        std::memcpy(list + 1, source.layers[layer].data(), source.layers[layer].size() * sizeof(std::uint32_t));
      }
    }
    hnsw.label_lookup_[label] = static_cast<hnswlib::tableint>(node);
  }
  hnsw.maxlevel_ = nodes == 0 ? -1 : static_cast<int>(top_level);
  hnsw.enterpoint_node_ = static_cast<hnswlib::tableint>(entry_point);
  return index;
}

std::unique_ptr<AnnIndex> AnnIndex::load(const std::string& path) {
  std::ifstream input(path, std::ios::binary);
  if (!input) throw IoError("cannot open ANN index '" + path + "'");
  return read(input, path);
}

void AnnIndex::check_matches(const FactorMatrix& item_factors, const std::string& index_path,
                             const std::string& model_path) const {
  if (fingerprint_ != ann_model_fingerprint(item_factors) || videos() != static_cast<std::size_t>(item_factors.rows()) ||
      factors_ != static_cast<std::size_t>(item_factors.cols())) {
    throw InvalidInput("the ANN index '" + index_path + "' was not built from the model '" + model_path +
                       "' (rebuild it with vr-index)");
  }
}

std::vector<ScoredVideo> AnnIndex::nearest(std::uint32_t video, std::size_t count, std::size_t ef) const {
  const auto& hnsw = *graph_->hnsw;
  std::vector<ScoredVideo> result;
  if (hnsw.cur_element_count == 0 || count == 0) return result;
  const auto found = hnsw.label_lookup_.find(video);
  if (found == hnsw.label_lookup_.end()) return result;
  const char* query = hnsw.getDataByInternalId(found->second);
  // hnswlib's searchKnn, minus its unsynchronised metric counters and with the candidate list
  // per call (setEf would change it for every thread at once).
  hnswlib::tableint current = hnsw.enterpoint_node_;
  float current_distance = hnsw.fstdistfunc_(query, hnsw.getDataByInternalId(current), hnsw.dist_func_param_);
  for (int level = hnsw.maxlevel_; level > 0; --level) {
    for (bool changed = true; changed;) {
      changed = false;
      hnswlib::linklistsizeint* list = hnsw.get_linklist(current, level);
      const unsigned short size = hnsw.getListCount(list);
      const auto* links = reinterpret_cast<const hnswlib::tableint*>(list + 1);
      for (unsigned short i = 0; i < size; ++i) {
        const float distance = hnsw.fstdistfunc_(query, hnsw.getDataByInternalId(links[i]), hnsw.dist_func_param_);
        if (distance < current_distance) {
          current_distance = distance;
          current = links[i];
          changed = true;
        }
      }
    }
  }
  auto candidates = hnsw.searchBaseLayerST<false>(current, query, std::max(ef, count));
  while (candidates.size() > count) candidates.pop();
  result.resize(candidates.size());
  for (std::size_t i = candidates.size(); i-- > 0;) {
    const auto [distance, node] = candidates.top();
    candidates.pop();
    result[i] = ScoredVideo{static_cast<std::uint32_t>(hnsw.getExternalLabel(node)), 1.0f - distance};
  }
  return result;
}

AnnIndexSummary run_ann_index(const AnnIndexJob& job, const std::function<void(std::size_t, std::size_t)>& progress) {
  AtomicFileWriter writer(job.output_path);
  const Model model = load_model(job.model_path);
  if (model.kind() != ModelKind::Als) {
    throw InvalidInput("'" + job.model_path + "' is a " + model.info.kind +
                       " model; an ANN index is built from an als model's video factors");
  }
  const auto started = std::chrono::steady_clock::now();
  const auto index = AnnIndex::build(model.factors.item_factors, job.config, progress);
  AnnIndexSummary summary;
  summary.build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  summary.videos = index->videos();
  const auto before = writer.stream().tellp();
  index->write(writer.stream());
  const auto after = writer.stream().tellp();
  summary.bytes = before >= 0 && after >= before ? static_cast<std::size_t>(after - before) : 0;
  writer.commit();
  return summary;
}

}  // namespace vr
