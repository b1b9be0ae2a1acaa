// Index types benchmark (a program, not a test): recall@10 against exact search, queries/s single
// and batched, build time (train + add) and bytes per vector for each FAISS index type and knob
// setting, on a bundle's real features (--n 0) or on a synthetic gallery of --n vectors made from
// them plus Gaussian noise shaped like the real features (their top principal components),
// generated and added in chunks so that only the index itself is held. One CSV per type under
// --out (rerunning skips the types already measured; the exact ground truth is cached too), and
// bench/plot_index_bench.py turns them into the recall-QPS plot. Figures: docs/results.md.
#include <faiss/VectorTransform.h>
#include <faiss/utils/distances.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "index/faiss_index.h"
#include "index/faiss_index_builder.h"
#include "index/recall.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kK = 10;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// A small counter-based generator: vector i of the gallery depends on (seed, i) alone, so any
// chunk or sample can be made again without the rest.
class SplitMix {
 public:
  SplitMix(uint64_t seed, uint64_t stream) : state_(seed ^ (stream * 0x9E3779B97F4A7C15ULL)) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double Uniform() { return ((Next() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }  // (0, 1)
  double Normal() {
    return std::sqrt(-2.0 * std::log(Uniform())) * std::cos(6.283185307179586 * Uniform());
  }

 private:
  uint64_t state_;
};

struct Options {
  std::string bundle_index;  // directory with index.faiss + index_metadata.tsv (a bundle)
  int64_t n = 0;             // synthetic gallery size; 0: the real features themselves
  int queries = 1000;
  int single_queries = 200;  // timed one at a time (Flat at 1M costs ~0.3 s each)
  int batch = 64;
  double noise = 0.5;  // noise scale relative to the real features' own spread
  int noise_components = 64;
  bool normalize = true;  // L2-normalize generated vectors, like the bundle's features
  std::vector<std::string> types = {"Flat", "IVF1024,Flat", "OPQ64,IVF1024,PQ64", "HNSW32"};
  std::vector<int> nprobes = {1, 4, 16, 64};
  std::vector<int> ef_searches = {16, 32, 64, 128, 256};
  int threads = 1;
  int64_t chunk = 65536;
  uint64_t seed = 11;
  std::string out_dir;
};

// Synthetic vectors: a real feature chosen by the vector's own stream plus noise along the real
// features' principal components (variance `noise`^2 times theirs), optionally L2-normalized.
class Generator {
 public:
  Generator(std::vector<float> real, int d, const Options& o)
      : real_(std::move(real)), d_(d), o_(o) {
    const int64_t m = static_cast<int64_t>(real_.size()) / d;
    const int r = static_cast<int>(std::min<int64_t>(o.noise_components, m - 1));
    faiss::PCAMatrix pca(d, r);
    pca.train(m, real_.data());
    components_.assign(pca.A.begin(), pca.A.begin() + static_cast<size_t>(r) * d);
    for (int j = 0; j < r; ++j)
      scales_.push_back(o.noise * std::sqrt(std::max(0.f, pca.eigenvalues[j])));
  }
  int64_t real_count() const { return static_cast<int64_t>(real_.size()) / d_; }
  // Vector `i` of stream `stream` into out[0..d).
  void Make(uint64_t stream, int64_t i, float* out) const {
    SplitMix rng(o_.seed + stream, static_cast<uint64_t>(i));
    const int64_t base = static_cast<int64_t>(rng.Next() % static_cast<uint64_t>(real_count()));
    std::copy_n(real_.data() + base * d_, d_, out);
    for (size_t j = 0; j < scales_.size(); ++j) {
      const float z = static_cast<float>(rng.Normal()) * scales_[j];
      const float* component = components_.data() + j * d_;
      for (int c = 0; c < d_; ++c) out[c] += z * component[c];
    }
    if (!o_.normalize) return;
    double norm = 0;
    for (int c = 0; c < d_; ++c) norm += double{out[c]} * out[c];
    const float scale = norm > 0 ? static_cast<float>(1.0 / std::sqrt(norm)) : 1.f;
    for (int c = 0; c < d_; ++c) out[c] *= scale;
  }
  std::vector<float> Rows(uint64_t stream, int64_t start, int64_t count) const {
    std::vector<float> rows(static_cast<size_t>(count) * d_);
#pragma omp parallel for
    for (int64_t i = 0; i < count; ++i) Make(stream, start + i, rows.data() + i * d_);
    return rows;
  }

 private:
  std::vector<float> real_;
  int d_;
  const Options& o_;
  std::vector<float> components_;
  std::vector<float> scales_;
};

constexpr uint64_t kGalleryStream = 0, kQueryStream = 1;

// The gallery: the real features, or the generator's stream in chunks.
struct Gallery {
  const Generator* gen = nullptr;  // null: real
  const std::vector<float>* real = nullptr;
  int64_t n = 0;
  int d = 0;
  std::vector<float> Rows(int64_t start, int64_t count) const {
    if (gen != nullptr) return gen->Rows(kGalleryStream, start, count);
    return std::vector<float>(real->begin() + start * d, real->begin() + (start + count) * d);
  }
};

// Exact top-k ids of each query over the gallery, chunk by chunk (merging per-chunk top-k).
std::vector<std::vector<int64_t>> GroundTruth(const Gallery& g, const std::vector<float>& queries,
                                              int64_t chunk) {
  const size_t q = queries.size() / g.d;
  std::vector<std::vector<std::pair<float, int64_t>>> best(q);
  std::vector<float> dist(q * kK);
  std::vector<int64_t> ids(q * kK);
  for (int64_t start = 0; start < g.n; start += chunk) {
    const int64_t count = std::min(chunk, g.n - start);
    const std::vector<float> rows = g.Rows(start, count);
    faiss::knn_L2sqr(queries.data(), rows.data(), g.d, q, count, std::min<int64_t>(kK, count),
                     dist.data(), ids.data());
    for (size_t i = 0; i < q; ++i) {
      for (int j = 0; j < std::min<int64_t>(kK, count); ++j) {
        if (ids[i * kK + j] >= 0) best[i].push_back({dist[i * kK + j], start + ids[i * kK + j]});
      }
      std::sort(best[i].begin(), best[i].end());
      if (best[i].size() > static_cast<size_t>(kK)) best[i].resize(kK);
    }
    std::cerr << "\rground truth " << start + count << "/" << g.n << std::flush;
  }
  std::cerr << "\n";
  std::vector<std::vector<int64_t>> truth(q);
  for (size_t i = 0; i < q; ++i) {
    for (const auto& [d, id] : best[i]) truth[i].push_back(id);
  }
  return truth;
}

std::vector<std::vector<int64_t>> CachedGroundTruth(const Gallery& g,
                                                    const std::vector<float>& queries,
                                                    const std::string& path, int64_t chunk) {
  const size_t q = queries.size() / g.d;
  std::vector<int64_t> flat(q * kK, -1);
  if (std::ifstream in(path, std::ios::binary); in) {
    in.read(reinterpret_cast<char*>(flat.data()), flat.size() * sizeof(int64_t));
    if (in.gcount() == static_cast<std::streamsize>(flat.size() * sizeof(int64_t))) {
      std::vector<std::vector<int64_t>> truth(q);
      for (size_t i = 0; i < q; ++i)
        truth[i].assign(flat.begin() + i * kK, flat.begin() + (i + 1) * kK);
      return truth;
    }
  }
  auto truth = GroundTruth(g, queries, chunk);
  for (size_t i = 0; i < q; ++i) std::copy(truth[i].begin(), truth[i].end(), flat.begin() + i * kK);
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(flat.data()), flat.size() * sizeof(int64_t));
  return truth;
}

struct Built {
  std::unique_ptr<FaissIndex> index;
  double build_s = 0;
  double bytes_per_vector = 0;
};

Built BuildType(const std::string& type, const Gallery& g, const Options& o) {
  IndexSpec spec;
  spec.type = type;
  spec.seed = o.seed;
  auto builder = FaissIndexBuilder::Create(g.d, spec);
  if (!builder.ok()) throw std::runtime_error(std::string(builder.status().message()));
  double build_s = 0;
  if (const int64_t m = builder->TrainingSampleSize(g.n); m > 0) {
    // A seeded random subset of the gallery's ids, made again from their streams.
    std::vector<float> sample(static_cast<size_t>(m) * g.d);
    SplitMix rng(o.seed, 99);
    for (int64_t i = 0; i < m; ++i) {
      const int64_t id = static_cast<int64_t>(rng.Next() % static_cast<uint64_t>(g.n));
      const std::vector<float> row = g.Rows(id, 1);
      std::copy(row.begin(), row.end(), sample.begin() + i * g.d);
    }
    const auto start = Clock::now();
    if (auto s = builder->Train(sample); !s.ok())
      throw std::runtime_error(std::string(s.message()));
    build_s += Seconds(start);
  }
  for (int64_t start = 0; start < g.n; start += o.chunk) {
    const int64_t count = std::min(o.chunk, g.n - start);
    std::vector<float> rows = g.Rows(start, count);
    std::vector<IndexedSketch> meta(count);
    for (int64_t i = 0; i < count; ++i) meta[i].key_id = static_cast<uint64_t>(start + i);
    const auto t = Clock::now();
    if (auto s = builder->Add(rows, std::move(meta)); !s.ok()) {
      throw std::runtime_error(std::string(s.message()));
    }
    build_s += Seconds(t);
    std::cerr << "\r" << type << ": added " << start + count << "/" << g.n << std::flush;
  }
  std::cerr << "\n";
  Built built;
  built.index = *std::move(*builder).Finish();
  built.build_s = build_s;
  const std::string dir = o.out_dir + "/tmp_index";
  fs::create_directories(dir);
  if (auto s = built.index->Save(dir); !s.ok()) throw std::runtime_error(std::string(s.message()));
  built.bytes_per_vector = static_cast<double>(fs::file_size(dir + "/index.faiss")) / g.n;
  fs::remove_all(dir);
  return built;
}

struct Row {
  std::string knob;
  int value = 0;
  double recall = 0, qps_single = 0, qps_batch = 0;
};

Row Measure(const FaissIndex& index, const std::vector<float>& queries, int d,
            const std::vector<std::vector<int64_t>>& truth, SearchFilter filter, const Options& o) {
  const int q = static_cast<int>(queries.size() / d);
  Row row;
  std::vector<std::vector<int64_t>> found;
  auto start = Clock::now();
  for (int b = 0; b < q; b += o.batch) {
    const int count = std::min(o.batch, q - b);
    auto result = index.Search(absl::MakeConstSpan(queries.data() + b * d, count * d), kK, filter);
    if (!result.ok()) throw std::runtime_error(std::string(result.status().message()));
    for (const auto& r : *result) {
      found.emplace_back();
      for (const Neighbor& n : r) found.back().push_back(n.id);
    }
  }
  row.qps_batch = q / Seconds(start);
  row.recall = *RecallAtK(found, truth, kK);
  const int singles = std::min(o.single_queries, q);
  start = Clock::now();
  for (int i = 0; i < singles; ++i) {
    auto result = index.Search(absl::MakeConstSpan(queries.data() + i * d, d), kK, filter);
    if (!result.ok()) throw std::runtime_error(std::string(result.status().message()));
  }
  row.qps_single = singles / Seconds(start);
  return row;
}

std::string FileName(const std::string& type) {
  std::string name = type;
  for (char& c : name) {
    if (c == ',') c = '_';
  }
  return name + ".csv";
}

constexpr char kCsvHeader[] =
    "dataset,n,type,knob,value,recall_at_10,qps_single,qps_batch,batch,build_s,bytes_per_vector,"
    "threads";

int Run(const Options& o) {
  omp_set_num_threads(o.threads);
  auto source = FaissIndex::Load(o.bundle_index);
  if (!source.ok()) {
    std::cerr << "--bundle: " << source.status() << "\n";
    return 1;
  }
  const int d = (*source)->dimension();
  std::vector<float> real;
  for (int64_t id = 0; id < (*source)->size(); ++id) {
    const std::vector<float> v = (*source)->Reconstruct(id);
    real.insert(real.end(), v.begin(), v.end());
  }
  Generator gen(real, d, o);
  Gallery g{o.n > 0 ? &gen : nullptr, &real, o.n > 0 ? o.n : (*source)->size(), d};
  const std::string dataset = o.n > 0 ? "synthetic" : "real";
  // Real gallery: the queries are generated around it too (its own rows would find themselves).
  const int q = o.queries;
  const std::vector<float> queries = gen.Rows(kQueryStream, 0, q);
  fs::create_directories(o.out_dir);
  const auto truth = CachedGroundTruth(g, queries,
                                       absl::StrFormat("%s/truth_%s_%d_q%d_s%d_noise%g.bin",
                                                       o.out_dir, dataset, g.n, q, o.seed, o.noise),
                                       o.chunk);
  for (const std::string& type : o.types) {
    const std::string csv = o.out_dir + "/" + FileName(type);
    if (fs::exists(csv)) {
      std::cerr << type << ": " << csv << " exists, skipped\n";
      continue;
    }
    Built built;
    try {
      built = BuildType(type, g, o);
    } catch (
        const std::exception& e) {  // one type FAISS or FaissIndex refuses: the others still run
      std::cerr << type << ": " << e.what() << "\n";
      continue;
    }
    std::vector<std::pair<std::string, int>> settings = {{"none", 0}};
    if (built.index->kind() == IndexKind::kIvf) {
      settings.clear();
      for (int v : o.nprobes) settings.push_back({"nprobe", v});
    } else if (built.index->kind() == IndexKind::kHnsw) {
      settings.clear();
      for (int v : o.ef_searches) settings.push_back({"ef_search", v});
    }
    std::string lines = std::string(kCsvHeader) + "\n";
    for (const auto& [knob, value] : settings) {
      SearchFilter filter;
      (knob == "nprobe" ? filter.knobs.nprobe : filter.knobs.ef_search) = value;
      Row r = Measure(*built.index, queries, d, truth, filter, o);
      const std::string line =
          absl::StrFormat("%s,%d,\"%s\",%s,%d,%.4f,%.1f,%.1f,%d,%.1f,%.1f,%d", dataset, g.n, type,
                          knob, value, r.recall, r.qps_single, r.qps_batch, o.batch, built.build_s,
                          built.bytes_per_vector, o.threads);
      std::cout << line << std::endl;
      lines += line + "\n";
    }
    std::ofstream(csv) << lines;  // written whole: a killed run leaves no half-measured type
  }
  return 0;
}

}  // namespace
}  // namespace sketch

int main(int argc, char** argv) {
  sketch::Options o;
  std::string types;
  CLI::App app{"FAISS index types: recall@10 vs exact, QPS, build time, bytes per vector"};
  app.add_option("--bundle", o.bundle_index, "bundle (or index) directory with the real features")
      ->required();
  app.add_option("--n", o.n, "synthetic gallery size (0: the real features)")
      ->capture_default_str();
  app.add_option("--queries", o.queries, "queries (generated around the real features)")
      ->capture_default_str();
  app.add_option("--single-queries", o.single_queries, "queries timed one at a time")
      ->capture_default_str();
  app.add_option("--batch", o.batch, "queries per batched search")->capture_default_str();
  app.add_option(
      "--types", types,
      "index factory strings separated by ';' (default: " + absl::StrJoin(o.types, ";") + ")");
  app.add_option("--nprobe", o.nprobes, "IVF nprobe settings")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--ef-search", o.ef_searches, "HNSW efSearch settings")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--noise", o.noise, "noise scale relative to the real spread")
      ->capture_default_str();
  app.add_option("--threads", o.threads, "OpenMP threads for FAISS")->capture_default_str();
  app.add_option("--chunk", o.chunk, "vectors generated and added per chunk")
      ->capture_default_str();
  app.add_option("--seed", o.seed, "generator seed")->capture_default_str();
  app.add_option("--out", o.out_dir, "directory for the CSVs and the cached ground truth")
      ->required();
  CLI11_PARSE(app, argc, argv);
  if (!types.empty()) o.types = absl::StrSplit(types, ';', absl::SkipEmpty());
  if (o.n < 0 || o.queries < 1 || o.batch < 1 || o.chunk < 1 || o.threads < 1) {
    std::cerr << "--n must be >= 0; --queries, --batch, --chunk and --threads positive\n";
    return 1;
  }
  try {
    return sketch::Run(o);
  } catch (const std::exception& e) {
    std::cerr << "index_bench: " << e.what() << "\n";
    return 1;
  }
}
