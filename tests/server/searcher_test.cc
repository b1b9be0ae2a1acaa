#include "server/searcher.h"

#include <algorithm>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "index/faiss_index.h"
#include "tests/server/test_fakes.h"
#include "tests/testing/temp_files.h"

namespace sketch {
namespace {

using ::sketch::testing::FakeEmbedder;
using ::sketch::testing::FakeFeature;
using ::sketch::testing::FakeIndex;
using ::sketch::testing::MakeFakeIndex;
using ::sketch::testing::MakeSketch;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::vector<std::string> kClasses = {"cat", "dog", "fish"};
constexpr int kDim = 8;

// Six indexed sketches, two per class; key_id 105 appears twice (different classes).
std::vector<Sketch> IndexedSketches() {
  return {MakeSketch(100, "cat", 1, 0),    MakeSketch(101, "cat", 1, 30),
          MakeSketch(102, "dog", 2, 60),   MakeSketch(103, "dog", 2, 90),
          MakeSketch(104, "fish", 3, 120), MakeSketch(105, "fish", 3, 150),
          MakeSketch(105, "cat", 1, 200)};
}

std::vector<int64_t> Ids(const SearchResult& result) {
  std::vector<int64_t> ids;
  for (const SearchHit& hit : result.hits) ids.push_back(hit.id);
  return ids;
}

class SearcherTest : public ::testing::Test {
 protected:
  SearcherTest() : embedder_(kClasses, kDim), pool_(1) {
    BatcherOptions options;
    options.max_queue_delay = absl::ZeroDuration();
    batcher_ = *DynamicBatcher::Create(&embedder_, options, nullptr);
    index_ = MakeFakeIndex(IndexedSketches(), kClasses, kDim);
    auto searcher = Searcher::Create(batcher_.get(), index_.get(), kClasses, kDim, &pool_);
    EXPECT_TRUE(searcher.ok()) << searcher.status();
    searcher_ = *std::move(searcher);
  }

  SearchQuery Query(int k) {
    SearchQuery query;
    query.sketch = MakeSketch(1, "", 1, 0);  // identical to indexed sketch 0
    query.k = k;
    return query;
  }

  FakeEmbedder embedder_;
  ThreadPool pool_;  // before the batcher: its draining callbacks schedule searches here
  std::unique_ptr<DynamicBatcher> batcher_;
  std::unique_ptr<FakeIndex> index_;
  std::unique_ptr<Searcher> searcher_;
};

TEST_F(SearcherTest, CreateChecksTheIndexAgainstTheModel) {
  EXPECT_THAT(
      Searcher::Create(batcher_.get(), index_.get(), kClasses, 16, &pool_).status().message(),
      HasSubstr("dimension 8 but the model makes 16"));
  EXPECT_THAT(Searcher::Create(batcher_.get(), index_.get(), {"cat", "dog"}, kDim, &pool_)
                  .status()
                  .message(),
              HasSubstr("label 2 outside the model's 2 classes"));
  FakeIndex empty({}, kDim, {});
  EXPECT_EQ(Searcher::Create(batcher_.get(), &empty, kClasses, kDim, &pool_).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Searcher::Create(batcher_.get(), index_.get(), kClasses, kDim, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SearcherTest, ReturnsNearestFirstWithMetadata) {
  auto result = searcher_->Search(Query(3), {});
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->hits.size(), 3u);
  EXPECT_THAT(Ids(*result), ElementsAre(0, 1, 2));
  EXPECT_EQ(result->hits[0].key_id, 100u);
  EXPECT_EQ(result->hits[0].word, "cat");
  EXPECT_FLOAT_EQ(result->hits[0].distance, 0.0f);
  EXPECT_EQ(result->hits[2].label, 1);
  EXPECT_FALSE(result->top_class.has_value());
}

TEST_F(SearcherTest, KCanRankTheWholeIndex) {
  auto result = searcher_->Search(Query(7), {});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->hits.size(), 7u);
}

TEST_F(SearcherTest, RejectsKOutsideTheIndexBeforeRunningTheModel) {
  for (int k : {0, -3, 8}) {
    auto result = searcher_->Search(Query(k), {});
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(result.status().message(), HasSubstr("outside 1..7 (the index size)"));
  }
  EXPECT_THAT(embedder_.batch_sizes(), IsEmpty());
}

TEST_F(SearcherTest, ExcludesEveryIndexedSketchWithAnExcludedKeyId) {
  SearchQuery query = Query(7);
  query.excluded_key_ids = {100, 105, 999};  // 999 is not indexed: ignored
  auto result = searcher_->Search(std::move(query), {});
  ASSERT_TRUE(result.ok());
  EXPECT_THAT(Ids(*result), ElementsAre(1, 2, 3, 4));
}

TEST_F(SearcherTest, RestrictsToTheGivenClasses) {
  SearchQuery query = Query(7);
  query.classes = {"fish", "dog"};
  auto result = searcher_->Search(std::move(query), {});
  ASSERT_TRUE(result.ok());
  EXPECT_THAT(Ids(*result), ElementsAre(2, 3, 4, 5));
}

TEST_F(SearcherTest, UnknownClassIsInvalidArgument) {
  SearchQuery query = Query(2);
  query.classes = {"cat", "unicorn"};
  auto result = searcher_->Search(std::move(query), {});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("classes[1]: unknown class \"unicorn\""));
  EXPECT_THAT(embedder_.batch_sizes(), IsEmpty());
}

TEST_F(SearcherTest, ReturnsTheTopClassWhenAsked) {
  SearchQuery query = Query(1);
  query.sketch.word = "dog";
  query.include_top_class = true;
  auto result = searcher_->Search(std::move(query), {});
  ASSERT_TRUE(result.ok());
  ASSERT_TRUE(result->top_class.has_value());
  EXPECT_EQ(result->top_class->word, "dog");
  EXPECT_FLOAT_EQ(result->top_class->probability, 4.0f / 6);
}

TEST_F(SearcherTest, BatchAnswersInOrderAndNamesTheBadRequest) {
  std::vector<SearchQuery> queries;
  queries.push_back(Query(1));
  queries.push_back(Query(2));
  queries.back().sketch = MakeSketch(2, "", 3, 150);  // identical to indexed sketch 5
  auto results = searcher_->SearchBatch(std::move(queries), {});
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_THAT(Ids((*results)[0]), ElementsAre(0));
  EXPECT_THAT(Ids((*results)[1]), ElementsAre(5, 4));
  EXPECT_THAT(embedder_.batch_sizes(), ElementsAre(2));  // one model run for the batch

  std::vector<SearchQuery> bad;
  bad.push_back(Query(1));
  bad.push_back(Query(1));
  bad.back().classes = {"bird"};
  EXPECT_THAT(searcher_->SearchBatch(std::move(bad), {}).status().message(),
              HasSubstr("requests[1].classes[0]: unknown class"));
}

TEST_F(SearcherTest, CancelledCallIsNotSearched) {
  CallContext cancelled;
  cancelled.is_cancelled = [] { return true; };
  EXPECT_EQ(searcher_->Search(Query(1), cancelled).status().code(), absl::StatusCode::kCancelled);
}

// Records the thread and the filter of each search, and otherwise searches the wrapped index.
class RecordingIndex : public FeatureIndex {
 public:
  explicit RecordingIndex(const FeatureIndex* index) : index_(index) {}
  int dimension() const override { return index_->dimension(); }
  int64_t size() const override { return index_->size(); }
  const IndexedSketch& metadata(int64_t id) const override { return index_->metadata(id); }
  absl::StatusOr<std::vector<std::vector<Neighbor>>> Search(
      absl::Span<const float> queries, int k, const SearchFilter& filter) const override {
    absl::MutexLock lock(&mu_);
    threads_.push_back(std::this_thread::get_id());
    filters_.push_back(filter);
    return index_->Search(queries, k, filter);
  }
  std::vector<std::thread::id> threads() const {
    absl::MutexLock lock(&mu_);
    return threads_;
  }
  std::vector<SearchFilter> filters() const {
    absl::MutexLock lock(&mu_);
    return filters_;
  }

 private:
  const FeatureIndex* index_;
  mutable absl::Mutex mu_;
  mutable std::vector<std::thread::id> threads_;
  mutable std::vector<SearchFilter> filters_;
};

TEST_F(SearcherTest, SearchesRunOnThePoolNotOnTheCallersOrTheModelsThread) {
  RecordingIndex recording(index_.get());
  auto searcher = Searcher::Create(batcher_.get(), &recording, kClasses, kDim, &pool_);
  ASSERT_TRUE(searcher.ok());
  std::thread::id pool_thread;
  absl::Notification seen;
  pool_.Schedule([&] {
    pool_thread = std::this_thread::get_id();
    seen.Notify();
  });
  seen.WaitForNotification();
  ASSERT_TRUE((*searcher)->Search(Query(1), {}).ok());
  std::vector<SearchQuery> batch;
  batch.push_back(Query(1));
  batch.push_back(Query(2));
  ASSERT_TRUE((*searcher)->SearchBatch(std::move(batch), {}).ok());
  EXPECT_THAT(recording.threads(), ElementsAre(pool_thread, pool_thread, pool_thread));
}

TEST_F(SearcherTest, RepeatedClassesAndKeyIdsReachTheIndexOnce) {
  RecordingIndex recording(index_.get());
  auto searcher = Searcher::Create(batcher_.get(), &recording, kClasses, kDim, &pool_);
  ASSERT_TRUE(searcher.ok());
  SearchQuery query = Query(7);
  for (int i = 0; i < 1000; ++i) {
    query.classes.push_back(i % 2 ? "fish" : "cat");
    query.excluded_key_ids.push_back(105);  // two indexed sketches
  }
  auto result = (*searcher)->Search(std::move(query), {});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(Ids(*result), ElementsAre(0, 1, 4));
  ASSERT_EQ(recording.filters().size(), 1u);
  EXPECT_THAT(recording.filters()[0].allowed_labels, ElementsAre(0, 2));
  EXPECT_THAT(recording.filters()[0].excluded_ids, ElementsAre(5, 6));
}

TEST_F(SearcherTest, AsyncSearchCallsBackOnceWithTheResult) {
  absl::Notification done;
  int calls = 0;
  absl::StatusOr<SearchResult> got;
  searcher_->SearchAsync(Query(2), {}, [&](absl::StatusOr<SearchResult> result) {
    ++calls;
    got = std::move(result);
    done.Notify();
  });
  done.WaitForNotification();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(Ids(*got), ElementsAre(0, 1));
  // A bad query is answered inline, before anything is queued.
  bool answered_inline = false;
  searcher_->SearchAsync(Query(0), {}, [&](absl::StatusOr<SearchResult> result) {
    answered_inline = result.status().code() == absl::StatusCode::kInvalidArgument;
  });
  EXPECT_TRUE(answered_inline);
  EXPECT_EQ(calls, 1);
}

TEST_F(SearcherTest, TheQuerysKnobsReachTheIndex) {
  RecordingIndex recording(index_.get());
  auto searcher = Searcher::Create(batcher_.get(), &recording, kClasses, kDim, &pool_);
  ASSERT_TRUE(searcher.ok());
  SearchQuery query = Query(3);
  query.knobs = {12, 80};
  ASSERT_TRUE((*searcher)->Search(std::move(query), {}).ok());
  ASSERT_TRUE((*searcher)->Search(Query(3), {}).ok());
  ASSERT_EQ(recording.filters().size(), 2u);
  EXPECT_EQ(recording.filters()[0].knobs.nprobe, 12);
  EXPECT_EQ(recording.filters()[0].knobs.ef_search, 80);
  EXPECT_EQ(recording.filters()[1].knobs.nprobe, 0);  // the index's default
  EXPECT_EQ(recording.filters()[1].knobs.ef_search, 0);
}

TEST_F(SearcherTest, WorksOverTheFaissIndex) {
  std::vector<float> features;
  std::vector<IndexedSketch> metadata;
  for (const Sketch& s : IndexedSketches()) {
    std::vector<float> f = FakeFeature(s, kDim, kClasses, 0);
    features.insert(features.end(), f.begin(), f.end());
    metadata.push_back(index_->metadata(static_cast<int64_t>(metadata.size())));
  }
  auto flat = FaissIndex::Build(features, kDim, metadata);
  ASSERT_TRUE(flat.ok()) << flat.status();
  auto searcher = Searcher::Create(batcher_.get(), flat->get(), kClasses, kDim, &pool_);
  ASSERT_TRUE(searcher.ok());
  SearchQuery query = Query(7);
  query.excluded_key_ids = {100};
  query.classes = {"cat", "dog"};
  auto result = (*searcher)->Search(std::move(query), {});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(Ids(*result), ElementsAre(1, 2, 3, 6));
}

// A gallery: the model's classes and words it never saw (label -1), with stored drawings.
class GallerySearcherTest : public ::testing::Test {
 protected:
  GallerySearcherTest() : embedder_(kClasses, kDim), pool_(1) {
    BatcherOptions options;
    options.max_queue_delay = absl::ZeroDuration();
    batcher_ = *DynamicBatcher::Create(&embedder_, options, nullptr);
    sketches_ = {MakeSketch(200, "cat", 1, 0), MakeSketch(201, "owl", 2, 30),
                 MakeSketch(202, "owl", 2, 60), MakeSketch(203, "yak", 3, 90),
                 MakeSketch(204, "dog", 1, 120)};
    std::vector<float> features;
    std::vector<IndexedSketch> rows;
    for (const Sketch& s : sketches_) {
      const std::vector<float> f = FakeFeature(s, kDim, kClasses, 0);
      features.insert(features.end(), f.begin(), f.end());
      const auto it = std::find(kClasses.begin(), kClasses.end(), s.word);
      const int label = it == kClasses.end() ? -1 : static_cast<int>(it - kClasses.begin());
      rows.push_back({s.key_id, label, s.word, s.word + ".ndjson"});
    }
    index_ = std::make_unique<FakeIndex>(std::move(features), kDim, std::move(rows));
    size_t next = 0;
    const std::string path = TempPath("gallery_searcher.skdw");
    EXPECT_TRUE(WriteDrawingStore(path, [&](Sketch* s) -> absl::StatusOr<bool> {
                  if (next == sketches_.size()) return false;
                  *s = sketches_[next++];
                  return true;
                }).ok());
    store_ = *DrawingStore::Open(path);
  }

  std::unique_ptr<Searcher> Make(const DrawingStore* store) {
    auto searcher = Searcher::Create(batcher_.get(), index_.get(), kClasses, kDim, &pool_, store);
    EXPECT_TRUE(searcher.ok()) << searcher.status();
    return *std::move(searcher);
  }

  SearchQuery Query(int k) {
    SearchQuery query;
    query.sketch = MakeSketch(1, "", 1, 0);
    query.k = k;
    return query;
  }

  FakeEmbedder embedder_;
  ThreadPool pool_;
  std::unique_ptr<DynamicBatcher> batcher_;
  std::vector<Sketch> sketches_;
  std::unique_ptr<FakeIndex> index_;
  std::unique_ptr<DrawingStore> store_;
};

TEST_F(GallerySearcherTest, ClassFiltersTakeAnyIndexedWord) {
  auto searcher = Make(nullptr);
  EXPECT_THAT(searcher->words(), ElementsAre("cat", "dog", "owl", "yak"));
  SearchQuery owls = Query(5);
  owls.classes = {"owl"};
  auto result = searcher->Search(std::move(owls), {});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(Ids(*result), ElementsAre(1, 2));
  SearchQuery mixed = Query(5);
  mixed.classes = {"yak", "cat"};
  result = searcher->Search(std::move(mixed), {});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(Ids(*result), ElementsAre(0, 3));
  EXPECT_EQ(result->hits[1].label, -1);
  EXPECT_EQ(result->hits[1].source, "yak.ndjson");
  SearchQuery unknown = Query(1);
  unknown.classes = {"unicorn"};
  EXPECT_EQ(searcher->Search(std::move(unknown), {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(GallerySearcherTest, HitsCarryTheirStoredDrawingsWhenAsked) {
  SearchQuery query = Query(5);
  query.include_drawings = true;
  auto refused = Make(nullptr)->Search(query, {});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("include_drawings"));
  EXPECT_THAT(embedder_.batch_sizes(), IsEmpty());  // refused before the model ran

  auto searcher = Make(store_.get());
  auto result = searcher->Search(query, {});
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->hits.size(), 5u);
  for (const SearchHit& hit : result->hits) {
    ASSERT_TRUE(hit.drawing.has_value());
    const Sketch& indexed = sketches_[hit.id];
    EXPECT_EQ(hit.drawing->word, indexed.word);
    EXPECT_EQ(hit.drawing->key_id, indexed.key_id);
    ASSERT_EQ(hit.drawing->strokes.size(), indexed.strokes.size());
    EXPECT_EQ(hit.drawing->strokes[0].x, indexed.strokes[0].x);
  }
  query.include_drawings = false;
  result = searcher->Search(query, {});
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result->hits[0].drawing.has_value());
}

TEST_F(GallerySearcherTest, AStoreOfAnotherSizeIsRefused) {
  const std::string path = TempPath("gallery_searcher_short.skdw");
  ASSERT_TRUE(WriteDrawingStore(path, [](Sketch*) -> absl::StatusOr<bool> { return false; }).ok());
  auto empty = DrawingStore::Open(path);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(Searcher::Create(batcher_.get(), index_.get(), kClasses, kDim, &pool_, empty->get())
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sketch
