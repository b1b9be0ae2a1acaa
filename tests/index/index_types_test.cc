// The approximate index types (IVF, OPQ+IVF-PQ, HNSW) through FaissIndex and FaissIndexBuilder:
// knobs per search, filters, save/load, recall against exact search, the builder's errors.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <thread>

#include "core/random.h"
#include "gtest/gtest.h"
#include "index/faiss_index.h"
#include "index/faiss_index_builder.h"
#include "index/index_spec.h"
#include "index/recall.h"
#include "tests/testing/temp_files.h"

namespace sketch {
namespace {

constexpr int kDim = 16;

// Gaussian blobs around 20 centres: clustered like real features, so IVF lists are uneven and
// few probes miss neighbours.
struct Gallery {
  std::vector<float> features;
  std::vector<IndexedSketch> metadata;
};

// Standard normal by Box-Muller over Rng: the same values on every standard library.
double Normal(Rng& rng) {
  const double u = 1.0 - rng.UniformDouble();  // (0, 1]
  return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * rng.UniformDouble());
}

Gallery MakeGallery(int64_t n, uint64_t seed = 7) {
  Rng rng(seed);
  std::vector<float> centres(20 * kDim);
  for (float& c : centres) c = static_cast<float>(Normal(rng) * 4);
  Gallery g;
  for (int64_t i = 0; i < n; ++i) {
    const int blob = static_cast<int>(rng.Uniform(20));
    for (int j = 0; j < kDim; ++j) {
      g.features.push_back(centres[blob * kDim + j] + static_cast<float>(Normal(rng)));
    }
    g.metadata.push_back(
        {static_cast<uint64_t>(5000 + i), blob % 4, "w" + std::to_string(blob % 4)});
  }
  return g;
}

std::vector<int64_t> Ids(const std::vector<Neighbor>& row) {
  std::vector<int64_t> ids;
  for (const Neighbor& n : row) ids.push_back(n.id);
  return ids;
}

std::unique_ptr<FaissIndex> BuildOrDie(const Gallery& g, const std::string& type,
                                       SearchKnobs knobs = {}) {
  IndexSpec spec;
  spec.type = type;
  spec.default_knobs = knobs;
  auto index = FaissIndex::Build(g.features, kDim, g.metadata, spec);
  EXPECT_TRUE(index.ok()) << type << ": " << index.status();
  return index.ok() ? *std::move(index) : nullptr;
}

absl::Span<const float> Row(const Gallery& g, int64_t id) {
  return absl::MakeConstSpan(g.features.data() + id * kDim, kDim);
}

TEST(IndexSpecTest, KindsOfFactoryStrings) {
  EXPECT_EQ(*IndexKindOfType("Flat"), IndexKind::kFlat);
  EXPECT_EQ(*IndexKindOfType("IVF1024,Flat"), IndexKind::kIvf);
  EXPECT_EQ(*IndexKindOfType("OPQ64,IVF4096,PQ64"), IndexKind::kIvf);
  EXPECT_EQ(*IndexKindOfType("OPQ64_256,IVF4096,PQ64x8"), IndexKind::kIvf);
  EXPECT_EQ(*IndexKindOfType("HNSW32"), IndexKind::kHnsw);
  EXPECT_EQ(*IndexKindOfType("HNSW32,Flat"), IndexKind::kHnsw);
  for (const char* bad : {"", "flat", "PQ16", "LSH", "IVF,Flat", "OPQ8,Flat", "HNSW32,PQ8", "IVF16",
                          "Flat,Flat", "IDMap,Flat"}) {
    EXPECT_EQ(IndexKindOfType(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  IndexSpec spec;
  spec.default_knobs.nprobe = -1;
  EXPECT_FALSE(ValidateIndexSpec(spec).ok());
}

TEST(IndexTypesTest, IvfVisitingEveryListEqualsFlatAndOneListFindsLess) {
  const Gallery g = MakeGallery(3000);
  auto flat = BuildOrDie(g, "Flat");
  auto ivf = BuildOrDie(g, "IVF32,Flat");
  ASSERT_TRUE(flat && ivf);
  EXPECT_EQ(ivf->kind(), IndexKind::kIvf);
  EXPECT_FALSE(ivf->exact());
  EXPECT_EQ(ivf->default_knobs().nprobe, 1);  // FAISS's default
  SearchFilter all_lists, one_list;
  all_lists.knobs.nprobe = 32;
  one_list.knobs.nprobe = 1;
  int differing = 0;
  for (int64_t q = 0; q < 100; ++q) {
    auto exact = flat->Search(Row(g, q), 10);
    auto full = ivf->Search(Row(g, q), 10, all_lists);
    auto probed = ivf->Search(Row(g, q), 10, one_list);
    ASSERT_TRUE(exact.ok() && full.ok() && probed.ok());
    EXPECT_EQ(Ids((*full)[0]), Ids((*exact)[0])) << "query " << q;
    differing += Ids((*probed)[0]) != Ids((*exact)[0]);
  }
  EXPECT_GT(differing, 0) << "nprobe 1 of 32 lists never missed a neighbour: knob not applied?";
  EXPECT_EQ(ivf->default_knobs().nprobe, 1) << "a search changed the index's state";
}

TEST(IndexTypesTest, ConcurrentSearchesWithDifferentKnobsDoNotInterfere) {
  const Gallery g = MakeGallery(3000);
  auto ivf = BuildOrDie(g, "IVF32,Flat");
  ASSERT_TRUE(ivf);
  // What each knob gives alone, then the same searches from four threads at once.
  std::vector<std::vector<int64_t>> expected[2];
  const int nprobes[2] = {1, 32};
  for (int t = 0; t < 2; ++t) {
    SearchFilter filter;
    filter.knobs.nprobe = nprobes[t];
    for (int64_t q = 0; q < 50; ++q)
      expected[t].push_back(Ids((*ivf->Search(Row(g, q), 10, filter))[0]));
  }
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      SearchFilter filter;
      filter.knobs.nprobe = nprobes[t % 2];
      for (int round = 0; round < 5; ++round) {
        for (int64_t q = 0; q < 50; ++q) {
          auto result = ivf->Search(Row(g, q), 10, filter);
          if (!result.ok() || Ids((*result)[0]) != expected[t % 2][q]) ++mismatches;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(IndexTypesTest, HnswEfSearchPerCallWidensTheSearchAndLeavesTheDefault) {
  // Uniform random vectors: no clusters to make a narrow graph search easy.
  Rng rng(5);
  Gallery g;
  for (int64_t i = 0; i < 4000; ++i) {
    for (int j = 0; j < kDim; ++j) g.features.push_back(static_cast<float>(rng.UniformDouble()));
    g.metadata.push_back({static_cast<uint64_t>(i), 0, "w0"});
  }
  auto hnsw = BuildOrDie(g, "HNSW4", {0, 10});
  ASSERT_TRUE(hnsw);
  const double narrow = *MeasureRecallAt10(*hnsw, g.features, 300, 2, {0, 10});
  const double wide = *MeasureRecallAt10(*hnsw, g.features, 300, 2, {0, 400});
  EXPECT_GT(wide, narrow + 0.02) << "efSearch per call had no effect";
  EXPECT_EQ(hnsw->default_knobs().ef_search, 10);
  // Threads with either efSearch get what each gets alone.
  std::vector<std::vector<int64_t>> expected[2];
  const int efs[2] = {10, 400};
  for (int t = 0; t < 2; ++t) {
    SearchFilter filter;
    filter.knobs.ef_search = efs[t];
    for (int64_t q = 0; q < 40; ++q)
      expected[t].push_back(Ids((*hnsw->Search(Row(g, q), 10, filter))[0]));
  }
  EXPECT_NE(expected[0], expected[1]);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      SearchFilter filter;
      filter.knobs.ef_search = efs[t % 2];
      for (int64_t q = 0; q < 40; ++q) {
        auto result = hnsw->Search(Row(g, q), 10, filter);
        if (!result.ok() || Ids((*result)[0]) != expected[t % 2][q]) ++mismatches;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(hnsw->default_knobs().ef_search, 10);
}

TEST(IndexTypesTest, FiltersHoldForEveryType) {
  const Gallery g = MakeGallery(3000);
  // Every list visited for IVF: the filter alone decides what is missing. HNSW with a modest
  // efSearch: a quarter of the gallery admitted must still give k (FaissIndex over-fetches).
  const std::pair<const char*, SearchKnobs> cases[] = {
      {"IVF32,Flat", {32, 0}}, {"OPQ4,IVF16,PQ4", {16, 0}}, {"HNSW16", {0, 16}}};
  for (const auto& [type, knobs] : cases) {
    auto index = BuildOrDie(g, type);
    ASSERT_TRUE(index) << type;
    SearchFilter filter;
    filter.allowed_labels = {2};
    filter.knobs = knobs;
    for (int64_t q = 0; q < 30; ++q) {
      filter.excluded_ids = {q};
      auto result = index->Search(Row(g, q), 10, filter);
      ASSERT_TRUE(result.ok()) << type << ": " << result.status();
      EXPECT_EQ((*result)[0].size(), 10u) << type << " query " << q;
      for (const Neighbor& n : (*result)[0]) {
        EXPECT_EQ(g.metadata[n.id].label, 2) << type;
        EXPECT_NE(n.id, q) << type;
      }
    }
  }
}

TEST(IndexTypesTest, SaveLoadKeepsTypeKnobsAndResults) {
  const Gallery g = MakeGallery(3000);
  const std::string dir = TempPath("index_types");
  std::filesystem::create_directories(dir);
  for (const char* type : {"Flat", "IVF32,Flat", "OPQ4,IVF16,PQ4", "HNSW16"}) {
    auto index = BuildOrDie(g, type, {5, 40});
    ASSERT_TRUE(index);
    ASSERT_TRUE(index->Save(dir).ok());
    auto loaded = FaissIndex::Load(dir);
    ASSERT_TRUE(loaded.ok()) << type << ": " << loaded.status();
    EXPECT_EQ((*loaded)->kind(), index->kind()) << type;
    EXPECT_EQ((*loaded)->default_knobs().nprobe, index->default_knobs().nprobe) << type;
    EXPECT_EQ((*loaded)->default_knobs().ef_search, index->default_knobs().ef_search) << type;
    for (int64_t q = 0; q < 20; ++q) {
      EXPECT_EQ(Ids((*(*loaded)->Search(Row(g, q), 10))[0]),
                Ids((*index->Search(Row(g, q), 10))[0]))
          << type << " query " << q;
    }
  }
}

TEST(IndexTypesTest, DefaultKnobsApplyAndSetDefaultKnobsChangesThem) {
  const Gallery g = MakeGallery(2000);
  auto ivf = BuildOrDie(g, "IVF32,Flat", {4, 0});
  auto hnsw = BuildOrDie(g, "HNSW16", {0, 48});
  ASSERT_TRUE(ivf && hnsw);
  EXPECT_EQ(ivf->default_knobs().nprobe, 4);
  EXPECT_EQ(ivf->default_knobs().ef_search, 0);
  EXPECT_EQ(hnsw->default_knobs().ef_search, 48);
  EXPECT_EQ(hnsw->default_knobs().nprobe, 0);
  ASSERT_TRUE(ivf->SetDefaultKnobs({32, 0}).ok());
  EXPECT_EQ(ivf->default_knobs().nprobe, 32);
  // The new default visits every list: results equal an explicit nprobe of 32.
  SearchFilter explicit_all;
  explicit_all.knobs.nprobe = 32;
  EXPECT_EQ(Ids((*ivf->Search(Row(g, 3), 10))[0]),
            Ids((*ivf->Search(Row(g, 3), 10, explicit_all))[0]));
  EXPECT_FALSE(ivf->SetDefaultKnobs({-1, 0}).ok());
  SearchFilter negative;
  negative.knobs.ef_search = -3;
  EXPECT_EQ(hnsw->Search(Row(g, 0), 5, negative).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(IndexTypesTest, RecallAt10IsOneForFlatAndHighForAWideHnswSearch) {
  const Gallery g = MakeGallery(3000);
  auto flat = BuildOrDie(g, "Flat");
  auto hnsw = BuildOrDie(g, "HNSW16");
  auto ivf = BuildOrDie(g, "IVF32,Flat");
  ASSERT_TRUE(flat && hnsw && ivf);
  EXPECT_DOUBLE_EQ(*MeasureRecallAt10(*flat, g.features, 200, 1), 1.0);
  const double hnsw_recall = *MeasureRecallAt10(*hnsw, g.features, 200, 1, {0, 128});
  EXPECT_GE(hnsw_recall, 0.95);
  const double one_probe = *MeasureRecallAt10(*ivf, g.features, 200, 1, {1, 0});
  const double all_probes = *MeasureRecallAt10(*ivf, g.features, 200, 1, {32, 0});
  EXPECT_DOUBLE_EQ(all_probes, 1.0);
  EXPECT_LT(one_probe, all_probes);
  EXPECT_FALSE(MeasureRecallAt10(*flat, absl::MakeConstSpan(g.features).subspan(kDim), 10, 1).ok());
}

TEST(RecallTest, CountsTheExactNeighboursFound) {
  EXPECT_DOUBLE_EQ(*RecallAtK({{1, 2, 3}, {7, 8, 9}}, {{3, 2, 1}, {7, 5, 6}}, 3),
                   (1.0 + 1.0 / 3) / 2);
  EXPECT_DOUBLE_EQ(*RecallAtK({{1}}, {{1, 2}}, 1), 1.0);  // only the first k exact ones count
  EXPECT_FALSE(RecallAtK({}, {}, 10).ok());
  EXPECT_FALSE(RecallAtK({{1}}, {{1}, {2}}, 10).ok());
}

TEST(FaissIndexBuilderTest, ChunkedAddEqualsBuildAndStepsAreChecked) {
  const Gallery g = MakeGallery(2000);
  IndexSpec spec;
  spec.type = "IVF16,Flat";
  auto built = FaissIndex::Build(g.features, kDim, g.metadata, spec);
  ASSERT_TRUE(built.ok()) << built.status();

  auto builder = FaissIndexBuilder::Create(kDim, spec);
  ASSERT_TRUE(builder.ok()) << builder.status();
  EXPECT_TRUE(builder->needs_training());
  EXPECT_EQ(builder->TrainingSampleSize(100000), 16 * 40);
  EXPECT_EQ(builder->TrainingSampleSize(300), 300);
  const auto first = absl::MakeConstSpan(g.features).first(1000 * kDim);
  const std::vector<IndexedSketch> first_rows(g.metadata.begin(), g.metadata.begin() + 1000);
  EXPECT_EQ(builder->Add(first, first_rows).code(), absl::StatusCode::kFailedPrecondition);
  // Build trains on a seeded sample of the same size; train the builder on that same sample.
  ASSERT_TRUE(builder->Train(absl::MakeConstSpan(g.features).first(640 * kDim)).ok());
  ASSERT_TRUE(builder->Add(first, first_rows).ok());
  ASSERT_TRUE(builder
                  ->Add(absl::MakeConstSpan(g.features).subspan(1000 * kDim),
                        {g.metadata.begin() + 1000, g.metadata.end()})
                  .ok());
  auto chunked = std::move(*builder).Finish();
  ASSERT_TRUE(chunked.ok()) << chunked.status();
  EXPECT_EQ((*chunked)->size(), 2000);
  EXPECT_EQ((*chunked)->metadata(1500).key_id, g.metadata[1500].key_id);
  // Every list visited: both are exact, whatever their quantizers.
  SearchFilter all;
  all.knobs.nprobe = 16;
  EXPECT_EQ(Ids((*(*chunked)->Search(Row(g, 9), 10, all))[0]),
            Ids((*(*built)->Search(Row(g, 9), 10, all))[0]));

  auto empty = FaissIndexBuilder::Create(kDim, IndexSpec());
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->needs_training());
  EXPECT_EQ(empty->TrainingSampleSize(1000), 0);
  EXPECT_EQ(std::move(*empty).Finish().status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FaissIndexBuilderTest, RefusesWhatFaissWouldRefuse) {
  const Gallery g = MakeGallery(100);
  IndexSpec spec;
  spec.type = "IVF256,Flat";  // more lists than vectors
  auto index = FaissIndex::Build(g.features, kDim, g.metadata, spec);
  EXPECT_EQ(index.status().code(), absl::StatusCode::kInvalidArgument);
  spec.type = "OPQ5,IVF4,PQ5";  // 16 dimensions do not split into 5 sub-vectors
  EXPECT_EQ(FaissIndexBuilder::Create(kDim, spec).status().code(),
            absl::StatusCode::kInvalidArgument);
  spec.type = "OPQ4,IVF2,PQ4";  // 100 vectors cannot train 256-centroid codebooks
  EXPECT_EQ(FaissIndex::Build(g.features, kDim, g.metadata, spec).status().code(),
            absl::StatusCode::kInvalidArgument);
  spec.type = "PQ4";
  EXPECT_EQ(FaissIndexBuilder::Create(kDim, spec).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(IndexTypesTest, ReconstructGivesTheStoredVectors) {
  const Gallery g = MakeGallery(2000);
  auto ivf = BuildOrDie(g, "IVF16,Flat");
  auto hnsw = BuildOrDie(g, "HNSW16");
  auto pq = BuildOrDie(g, "OPQ4,IVF8,PQ8");
  ASSERT_TRUE(ivf && hnsw && pq);
  const std::vector<float> row(Row(g, 1234).begin(), Row(g, 1234).end());
  EXPECT_EQ(ivf->Reconstruct(1234), row);
  EXPECT_EQ(hnsw->Reconstruct(1234), row);
  // PQ keeps an approximation: nearer the row than the row is to its gallery neighbours.
  const std::vector<float> decoded = pq->Reconstruct(1234);
  ASSERT_EQ(decoded.size(), row.size());
  float error = 0;
  for (int j = 0; j < kDim; ++j) error += (decoded[j] - row[j]) * (decoded[j] - row[j]);
  const auto neighbors = *ivf->Search(row, 2, SearchFilter{{1234}, {}, {16, 0}});
  EXPECT_LT(error, neighbors[0][0].distance * 4);
}

}  // namespace
}  // namespace sketch
