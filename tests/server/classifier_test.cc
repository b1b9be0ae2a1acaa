#include "server/classifier.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/test_fakes.h"

namespace sketch {
namespace {

using ::sketch::testing::FakeEmbedder;
using ::sketch::testing::MakeSketch;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::vector<std::string> kClasses = {"cat", "dog", "fish", "star"};

class ClassifierTest : public ::testing::Test {
 protected:
  ClassifierTest() : embedder_(kClasses, 8) {
    BatcherOptions options;
    options.max_queue_delay = absl::ZeroDuration();
    batcher_ = *DynamicBatcher::Create(&embedder_, options, nullptr);
    classifier_ = std::make_unique<Classifier>(batcher_.get(), kClasses);
  }

  FakeEmbedder embedder_;
  std::unique_ptr<DynamicBatcher> batcher_;
  std::unique_ptr<Classifier> classifier_;
};

TEST(TopClassesTest, OrdersByProbabilityThenLabel) {
  const std::vector<float> p = {0.1f, 0.4f, 0.1f, 0.4f};
  auto top = TopClasses(p, 3, kClasses);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].word, "dog");
  EXPECT_EQ(top[1].word, "star");
  EXPECT_EQ(top[2].label, 0);
  EXPECT_FLOAT_EQ(top[2].probability, 0.1f);
}

TEST_F(ClassifierTest, ReturnsTheKMostProbableClasses) {
  auto scores = classifier_->Classify({MakeSketch(1, "fish"), 2}, {});
  ASSERT_TRUE(scores.ok()) << scores.status();
  ASSERT_EQ(scores->size(), 2u);
  EXPECT_EQ((*scores)[0].word, "fish");
  EXPECT_EQ((*scores)[0].label, 2);
  EXPECT_FLOAT_EQ((*scores)[0].probability, 5.0f / 8);
  EXPECT_EQ((*scores)[1].word, "cat");  // ties broken by label
}

TEST_F(ClassifierTest, KMayBeAllClasses) {
  auto scores = classifier_->Classify({MakeSketch(1, "fish"), 4}, {});
  ASSERT_TRUE(scores.ok());
  EXPECT_EQ(scores->size(), 4u);
}

TEST_F(ClassifierTest, RejectsKOutOfRangeBeforeRunningTheModel) {
  for (int k : {0, -1, 5}) {
    auto scores = classifier_->Classify({MakeSketch(1, "fish"), k}, {});
    EXPECT_EQ(scores.status().code(), absl::StatusCode::kInvalidArgument) << k;
    EXPECT_THAT(scores.status().message(), HasSubstr("k: "));
  }
  EXPECT_THAT(embedder_.batch_sizes(), IsEmpty());
}

TEST_F(ClassifierTest, BatchAnswersInOrderAndNamesTheBadRequest) {
  std::vector<ClassifyQuery> queries;
  queries.push_back({MakeSketch(1, "star"), 1});
  queries.push_back({MakeSketch(2, "dog"), 1});
  auto results = classifier_->ClassifyBatch(std::move(queries), {});
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 2u);
  EXPECT_EQ((*results)[0][0].word, "star");
  EXPECT_EQ((*results)[1][0].word, "dog");

  std::vector<ClassifyQuery> bad;
  bad.push_back({MakeSketch(1, "star"), 1});
  bad.push_back({MakeSketch(2, "dog"), 9});
  auto status = classifier_->ClassifyBatch(std::move(bad), {}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("requests[1].k: 9 is outside 1..4"));
}

TEST_F(ClassifierTest, EmbedReturnsTheFeature) {
  auto feature = classifier_->Embed(MakeSketch(1, "cat", 2), {});
  ASSERT_TRUE(feature.ok());
  EXPECT_EQ(feature->size(), 8u);
  EXPECT_FLOAT_EQ((*feature)[2], 0.2f);  // two strokes
}

TEST_F(ClassifierTest, ExpiredDeadlineSkipsTheModel) {
  CallContext expired;
  expired.deadline = absl::Now() - absl::Seconds(1);
  auto scores = classifier_->Classify({MakeSketch(1, "fish"), 1}, expired);
  EXPECT_EQ(scores.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(embedder_.batch_sizes(), IsEmpty());
}

}  // namespace
}  // namespace sketch
