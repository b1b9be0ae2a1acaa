#include "index/faiss_index.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "core/random.h"
#include "gtest/gtest.h"
#include "index/leave_one_out.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;

struct Fixture {
  int dim = 8;
  int64_t n = 200;
  std::vector<float> features;
  std::vector<IndexedSketch> metadata;
};

Fixture MakeFixture(int64_t n = 200, int dim = 8, int classes = 5) {
  Fixture f;
  f.n = n;
  f.dim = dim;
  Rng rng(3);
  for (int64_t i = 0; i < n; ++i) {
    const int label = static_cast<int>(i % classes);
    for (int j = 0; j < dim; ++j) {
      // Quantized values make exact distance ties, which must be ordered by id.
      f.features.push_back(static_cast<float>(rng.Uniform(4)) + (j == label ? 2.0f : 0.0f));
    }
    f.metadata.push_back({static_cast<uint64_t>(1000 + i), label, "c" + std::to_string(label)});
  }
  return f;
}

// Brute force: every id ordered by (squared L2 distance, id).
std::vector<Neighbor> Reference(const Fixture& f, const float* q) {
  std::vector<Neighbor> all;
  for (int64_t i = 0; i < f.n; ++i) {
    float d = 0;
    for (int j = 0; j < f.dim; ++j) {
      const float diff = q[j] - f.features[i * f.dim + j];
      d += diff * diff;
    }
    all.push_back({i, d});
  }
  std::sort(all.begin(), all.end(), [](const Neighbor& a, const Neighbor& b) {
    return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
  });
  return all;
}

TEST(FaissIndexTest, SearchMatchesBruteForce) {
  const Fixture f = MakeFixture();
  auto index = FaissIndex::Build(f.features, f.dim, f.metadata);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ((*index)->size(), f.n);
  EXPECT_EQ((*index)->dimension(), f.dim);
  auto results = (*index)->Search(f.features, static_cast<int>(f.n));
  ASSERT_TRUE(results.ok()) << results.status();
  for (int64_t q = 0; q < f.n; ++q) {
    const auto expected = Reference(f, &f.features[q * f.dim]);
    ASSERT_EQ((*results)[q].size(), expected.size());
    for (size_t r = 0; r < expected.size(); ++r) {
      EXPECT_EQ((*results)[q][r].id, expected[r].id) << "query " << q << " rank " << r;
      EXPECT_FLOAT_EQ((*results)[q][r].distance, expected[r].distance);
    }
  }
}

TEST(FaissIndexTest, FilterExcludesIdsAndRestrictsLabels) {
  const Fixture f = MakeFixture();
  auto index = FaissIndex::Build(f.features, f.dim, f.metadata);
  ASSERT_TRUE(index.ok());
  SearchFilter filter;
  filter.excluded_ids = {0, 5, 10};
  filter.allowed_labels = {0, 2};
  auto results = (*index)->Search(absl::MakeSpan(f.features.data(), f.dim), 50, filter);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ((*results)[0].size(), 50u);
  for (const Neighbor& nb : (*results)[0]) {
    EXPECT_NE(nb.id, 0);
    EXPECT_NE(nb.id, 5);
    EXPECT_TRUE(f.metadata[nb.id].label == 0 || f.metadata[nb.id].label == 2);
  }
  filter.allowed_labels = {4};  // 40 items of label 4: fewer than k
  results = (*index)->Search(absl::MakeSpan(f.features.data(), f.dim), 100, filter);
  ASSERT_TRUE(results.ok());
  EXPECT_EQ((*results)[0].size(), 40u);
}

TEST(FaissIndexTest, RejectsBadShapesAndK) {
  const Fixture f = MakeFixture();
  EXPECT_FALSE(FaissIndex::Build(f.features, f.dim + 1, f.metadata).ok());
  EXPECT_FALSE(FaissIndex::Build({}, f.dim, {}).ok());
  std::vector<float> nan_features = f.features;
  nan_features[3] = std::nanf("");
  EXPECT_FALSE(FaissIndex::Build(nan_features, f.dim, f.metadata).ok());
  auto index = FaissIndex::Build(f.features, f.dim, f.metadata);
  ASSERT_TRUE(index.ok());
  const auto query = absl::MakeSpan(f.features.data(), f.dim);
  EXPECT_EQ((*index)->Search(query, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*index)->Search(query, f.n + 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*index)->Search(absl::MakeSpan(f.features.data(), f.dim - 1), 3).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FaissIndexTest, SaveLoadRoundTripAndCorruptFiles) {
  const Fixture f = MakeFixture();
  auto index = FaissIndex::Build(f.features, f.dim, f.metadata);
  ASSERT_TRUE(index.ok());
  const std::string dir = (fs::path(testing::TempDir()) / "flat_index").string();
  fs::remove_all(dir);
  fs::create_directories(dir);
  ASSERT_TRUE((*index)->Save(dir).ok());
  auto loaded = FaissIndex::Load(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->size(), f.n);
  EXPECT_EQ((*loaded)->metadata(7).key_id, 1007u);
  EXPECT_EQ((*loaded)->metadata(7).word, "c2");
  EXPECT_EQ((*loaded)->Reconstruct(7),
            std::vector<float>(&f.features[7 * f.dim], &f.features[8 * f.dim]));

  fs::resize_file(dir + "/index.faiss", fs::file_size(dir + "/index.faiss") / 2);
  EXPECT_EQ(FaissIndex::Load(dir).status().code(), absl::StatusCode::kDataLoss);
  ASSERT_TRUE((*index)->Save(dir).ok());
  std::ofstream(dir + "/index_metadata.tsv", std::ios::app) << "oops\n";
  EXPECT_EQ(FaissIndex::Load(dir).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(FaissIndex::Load(dir + "/nope").status().code(), absl::StatusCode::kNotFound);
}

TEST(LeaveOneOutTest, MatchesBruteForceRankings) {
  const Fixture f = MakeFixture(120, 6, 4);
  std::vector<int> labels;
  for (const auto& m : f.metadata) labels.push_back(m.label);
  std::vector<std::vector<int64_t>> rankings(f.n);
  for (int64_t q = 0; q < f.n; ++q) {
    for (const Neighbor& nb : Reference(f, &f.features[q * f.dim])) {
      if (nb.id != q) rankings[q].push_back(nb.id);
    }
  }
  auto expected = LeaveOneOutMap(labels, rankings);
  ASSERT_TRUE(expected.ok());
  LeaveOneOutOptions options;
  options.chunk = 7;
  auto actual = LeaveOneOutMapOfFeatures(f.features, f.dim, labels, options);
  ASSERT_TRUE(actual.ok()) << actual.status();
  EXPECT_DOUBLE_EQ(actual->mean_average_precision, expected->mean_average_precision);
  EXPECT_GT(actual->mean_average_precision, 0.25);  // the label bump makes classes separable-ish
  EXPECT_EQ(actual->precision_at_10, expected->precision_at_10);
  EXPECT_DOUBLE_EQ(actual->mean_precision_at_10, expected->mean_precision_at_10);
}

TEST(LeaveOneOutTest, PerfectlySeparatedClassesScoreOne) {
  // Two tight clusters far apart: every ranking puts the own class first.
  const std::vector<float> features = {0, 0, 0.1f, 0, 0, 0.1f, 10, 10, 10.1f, 10, 10, 10.1f};
  const std::vector<int> labels = {0, 0, 0, 1, 1, 1};
  auto report = LeaveOneOutMapOfFeatures(features, 2, labels, {});
  ASSERT_TRUE(report.ok());
  EXPECT_DOUBLE_EQ(report->mean_average_precision, 1.0);
  // 5 others, the 2 of its own class first: precision@10 over the 5 there are.
  EXPECT_DOUBLE_EQ(report->mean_precision_at_10, 0.4);
  LeaveOneOutOptions l2;
  l2.l2_normalize = true;
  auto normalized = LeaveOneOutMapOfFeatures(features, 2, labels, l2);
  ASSERT_TRUE(normalized.ok());
  EXPECT_LT(normalized->mean_average_precision, 1.0);  // unit norm merges the two directions
}

// Label -1 in a filter admits the rows of words the model never saw (a gallery's unseen words),
// alone or beside the model's labels.
TEST(FaissIndexTest, FiltersOnTheUnseenLabel) {
  Fixture f = MakeFixture();
  for (int64_t id : {3, 10, 17}) f.metadata[id].label = -1;
  auto index = FaissIndex::Build(f.features, f.dim, f.metadata);
  ASSERT_TRUE(index.ok()) << index.status();
  SearchFilter unseen;
  unseen.allowed_labels = {-1};
  auto hits = (*index)->Search(absl::MakeSpan(f.features).subspan(0, f.dim), 10, unseen);
  ASSERT_TRUE(hits.ok()) << hits.status();
  ASSERT_EQ((*hits)[0].size(), 3u);
  for (const Neighbor& n : (*hits)[0]) EXPECT_EQ(f.metadata[n.id].label, -1) << n.id;
  SearchFilter mixed;
  mixed.allowed_labels = {-1, 0};
  hits = (*index)->Search(absl::MakeSpan(f.features).subspan(0, f.dim), 10, mixed);
  ASSERT_TRUE(hits.ok()) << hits.status();
  ASSERT_EQ((*hits)[0].size(), 10u);
  for (const Neighbor& n : (*hits)[0]) {
    EXPECT_TRUE(f.metadata[n.id].label == -1 || f.metadata[n.id].label == 0) << n.id;
  }
}

TEST(FaissIndexTest, KeepsSourcesAndUnseenWordsAndRefusesTabs) {
  Fixture f = MakeFixture();
  f.metadata[3].label = -1;
  f.metadata[3].word = "unseen word";
  f.metadata[3].source = "full_simplified_unseen word.ndjson";
  auto index = FaissIndex::Build(f.features, f.dim, f.metadata);
  ASSERT_TRUE(index.ok()) << index.status();
  const std::string dir = (fs::path(testing::TempDir()) / "flat_index_sources").string();
  fs::remove_all(dir);
  fs::create_directories(dir);
  ASSERT_TRUE((*index)->Save(dir).ok());
  auto loaded = FaissIndex::Load(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->metadata(3).label, -1);
  EXPECT_EQ((*loaded)->metadata(3).word, "unseen word");
  EXPECT_EQ((*loaded)->metadata(3).source, "full_simplified_unseen word.ndjson");
  EXPECT_EQ((*loaded)->metadata(4).source, "");

  // A four-column metadata file (before sources were recorded) still loads.
  std::ofstream(dir + "/index_metadata.tsv", std::ios::trunc) << [&] {
    std::string text = "id\tkey_id\tlabel\tword\n";
    for (int64_t i = 0; i < f.n; ++i) {
      text += std::to_string(i) + "\t" + std::to_string(f.metadata[i].key_id) + "\t" +
              std::to_string(f.metadata[i].label) + "\t" + f.metadata[i].word + "\n";
    }
    return text;
  }();
  loaded = FaissIndex::Load(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->metadata(3).label, -1);

  f.metadata[5].source = "a\tb";
  EXPECT_EQ(FaissIndex::Build(f.features, f.dim, f.metadata).status().code(),
            absl::StatusCode::kInvalidArgument);
  f.metadata[5].source = "";
  f.metadata[5].label = -2;
  EXPECT_EQ(FaissIndex::Build(f.features, f.dim, f.metadata).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sketch
