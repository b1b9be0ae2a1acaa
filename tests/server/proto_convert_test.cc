#include "server/proto_convert.h"

#include <google/protobuf/util/message_differencer.h>

#include <cmath>
#include <limits>
#include <string>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/drawing_convert.h"

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::Drawing Simplified(std::vector<std::vector<float>> xs, std::vector<std::vector<float>> ys) {
  v1::Drawing drawing;
  drawing.mutable_ink()->set_frame(v1::FRAME_SIMPLIFIED);
  for (size_t s = 0; s < xs.size(); ++s) {
    v1::Stroke* stroke = drawing.mutable_ink()->add_strokes();
    for (float x : xs[s]) stroke->add_x(x);
    for (float y : ys[s]) stroke->add_y(y);
  }
  return drawing;
}

v1::Drawing ValidDrawing() { return Simplified({{0, 10, 255}}, {{0, 20, 30}}); }

// The error of converting `drawing`, expected to be InvalidArgument.
std::string Error(const v1::Drawing& drawing, const RequestLimits& limits = {}) {
  auto sketch = DrawingToSketch(drawing, limits, "drawing");
  EXPECT_EQ(sketch.status().code(), absl::StatusCode::kInvalidArgument) << sketch.status();
  return std::string(sketch.status().message());
}

TEST(DrawingToSketchTest, ConvertsSimplifiedInkWithMetadata) {
  v1::Drawing drawing = ValidDrawing();
  drawing.set_key_id(5152802093400064);
  drawing.set_word("cat");
  auto sketch = DrawingToSketch(drawing, {}, "drawing");
  ASSERT_TRUE(sketch.ok()) << sketch.status();
  EXPECT_EQ(sketch->frame, StrokeFrame::kSimplified);
  EXPECT_EQ(sketch->key_id, 5152802093400064u);
  EXPECT_EQ(sketch->word, "cat");
  ASSERT_EQ(sketch->strokes.size(), 1u);
  EXPECT_THAT(sketch->strokes[0].x, ElementsAre(0, 10, 255));
}

TEST(DrawingToSketchTest, NormalizesRawInk) {
  v1::Drawing drawing;
  drawing.mutable_ink()->set_frame(v1::FRAME_RAW);
  v1::Stroke* stroke = drawing.mutable_ink()->add_strokes();
  for (float v : {-500.0f, 0.0f, 1500.0f}) stroke->add_x(v);
  for (float v : {100.5f, 300.25f, 700.0f}) stroke->add_y(v);
  for (float v : {0.0f, 15.0f, 40.0f}) stroke->add_t(v);
  auto sketch = DrawingToSketch(drawing, {}, "drawing");
  ASSERT_TRUE(sketch.ok()) << sketch.status();
  EXPECT_EQ(sketch->frame, StrokeFrame::kSimplified);
  for (const Stroke& s : sketch->strokes) {
    for (size_t i = 0; i < s.size(); ++i) {
      EXPECT_GE(s.x[i], 0);
      EXPECT_LE(s.x[i], 255);
      EXPECT_EQ(s.y[i], std::floor(s.y[i]));
    }
  }
}

TEST(DrawingToSketchTest, NormalizesDegenerateRawInk) {
  for (int points : {1, 4}) {  // a single point; several identical points
    v1::Drawing drawing;
    drawing.mutable_ink()->set_frame(v1::FRAME_RAW);
    v1::Stroke* stroke = drawing.mutable_ink()->add_strokes();
    for (int i = 0; i < points; ++i) {
      stroke->add_x(-7.5f);
      stroke->add_y(3.0f);
    }
    auto sketch = DrawingToSketch(drawing, {}, "drawing");
    ASSERT_TRUE(sketch.ok()) << sketch.status();
    for (const Stroke& s : sketch->strokes) {
      for (float v : s.x) EXPECT_TRUE(std::isfinite(v));
    }
  }
}

TEST(DrawingToSketchTest, ConvertsBitmaps) {
  v1::Drawing drawing;
  drawing.mutable_bitmap()->set_size(28);
  drawing.mutable_bitmap()->set_pixels(std::string(28 * 28, '\x7f'));
  auto sketch = DrawingToSketch(drawing, {}, "drawing");
  ASSERT_TRUE(sketch.ok()) << sketch.status();
  EXPECT_TRUE(sketch->is_bitmap());
  EXPECT_EQ(sketch->bitmap.pixels.size(), 784u);
  EXPECT_EQ(sketch->bitmap.pixels[5], 0x7f);
}

TEST(DrawingToSketchTest, RejectsAnEmptyDrawing) {
  EXPECT_EQ(Error(v1::Drawing()), "drawing: has neither ink nor bitmap");
  v1::Drawing no_strokes;
  no_strokes.mutable_ink()->set_frame(v1::FRAME_SIMPLIFIED);
  EXPECT_THAT(Error(no_strokes), HasSubstr("drawing.ink: drawing has no strokes"));
  EXPECT_THAT(Error(Simplified({{}}, {{}})), HasSubstr("drawing.ink: stroke 0 is empty"));
}

TEST(DrawingToSketchTest, RequiresAFrame) {
  v1::Drawing drawing = ValidDrawing();
  drawing.mutable_ink()->clear_frame();
  EXPECT_THAT(Error(drawing),
              HasSubstr("drawing.ink.frame: must be FRAME_SIMPLIFIED or FRAME_RAW"));
}

TEST(DrawingToSketchTest, RejectsLengthMismatches) {
  EXPECT_THAT(Error(Simplified({{1, 2}, {1, 2, 3}}, {{1, 2}, {1, 2}})),
              HasSubstr("drawing.ink: stroke 1 has 3 x but 2 y values"));
  v1::Drawing drawing = ValidDrawing();
  drawing.mutable_ink()->mutable_strokes(0)->add_t(0);
  EXPECT_THAT(Error(drawing), HasSubstr("3 points but 1 times"));
}

TEST(DrawingToSketchTest, RejectsNonFiniteCoordinates) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_THAT(Error(Simplified({{1, nan}}, {{1, 2}})),
              HasSubstr("drawing.ink: stroke 0 point 1 x is not finite"));
  EXPECT_THAT(Error(Simplified({{1, 2}}, {{1, -inf}})), HasSubstr("point 1 y is not finite"));
}

TEST(DrawingToSketchTest, RejectsCoordinatesOutsideTheFrame) {
  EXPECT_THAT(Error(Simplified({{1, 256}}, {{1, 2}})), HasSubstr("not a simplified coordinate"));
  EXPECT_THAT(Error(Simplified({{1, -1}}, {{1, 2}})), HasSubstr("not a simplified coordinate"));
  EXPECT_THAT(Error(Simplified({{1, 2.5f}}, {{1, 2}})), HasSubstr("not a simplified coordinate"));
  v1::Drawing raw = Simplified({{0, 2e9f}}, {{0, 1}});
  raw.mutable_ink()->set_frame(v1::FRAME_RAW);
  EXPECT_THAT(Error(raw), HasSubstr("exceeds the raw limit"));
}

TEST(DrawingToSketchTest, RejectsTooManyStrokesBeforeCopyingThem) {
  v1::Drawing drawing;
  drawing.mutable_ink()->set_frame(v1::FRAME_SIMPLIFIED);
  for (int i = 0; i < 1025; ++i) drawing.mutable_ink()->add_strokes();
  EXPECT_EQ(Error(drawing), "drawing.ink.strokes: 1025 strokes exceed the limit of 1024");
}

TEST(DrawingToSketchTest, RejectsTooManyPoints) {
  v1::Drawing one_long_stroke;
  one_long_stroke.mutable_ink()->set_frame(v1::FRAME_SIMPLIFIED);
  v1::Stroke* stroke = one_long_stroke.mutable_ink()->add_strokes();
  stroke->mutable_x()->Resize(70000, 1.0f);
  stroke->mutable_y()->Resize(70000, 1.0f);
  EXPECT_THAT(Error(one_long_stroke), HasSubstr("stroke 0 has 70000 points, the limit is 65535"));

  v1::Drawing millions;
  millions.mutable_ink()->set_frame(v1::FRAME_SIMPLIFIED);
  for (int s = 0; s < 40; ++s) {
    v1::Stroke* st = millions.mutable_ink()->add_strokes();
    st->mutable_x()->Resize(60000, 1.0f);
    st->mutable_y()->Resize(60000, 1.0f);
  }
  EXPECT_THAT(Error(millions), HasSubstr("more than 200000 points in total"));
}

TEST(DrawingToSketchTest, RejectsBadBitmaps) {
  v1::Drawing drawing;
  drawing.mutable_bitmap()->set_size(0);
  EXPECT_EQ(Error(drawing), "drawing.bitmap.size: 0 is outside 1..1024");
  drawing.mutable_bitmap()->set_size(2048);
  EXPECT_EQ(Error(drawing), "drawing.bitmap.size: 2048 is outside 1..1024");
  drawing.mutable_bitmap()->set_size(28);
  drawing.mutable_bitmap()->set_pixels(std::string(100, '\0'));
  EXPECT_EQ(Error(drawing), "drawing.bitmap.pixels: 100 bytes, expected size * size = 784");
}

TEST(ToSearchQueryTest, CopiesTheOptions) {
  v1::SearchRequest request;
  *request.mutable_drawing() = ValidDrawing();
  request.set_k(10);
  request.add_exclude_key_ids(42);
  request.add_classes("cat");
  request.set_include_top_class(true);
  auto query = ToSearchQuery(request, {});
  ASSERT_TRUE(query.ok()) << query.status();
  EXPECT_EQ(query->k, 10);
  EXPECT_THAT(query->excluded_key_ids, ElementsAre(42));
  EXPECT_THAT(query->classes, ElementsAre("cat"));
  EXPECT_TRUE(query->include_top_class);
}

TEST(ToSearchQueryTest, EnforcesTheLimits) {
  v1::SearchRequest request;
  *request.mutable_drawing() = ValidDrawing();
  request.set_k(0);
  EXPECT_EQ(ToSearchQuery(request, {}).status().message(), "k: 0 is outside 1..100000");
  request.set_k(100001);
  EXPECT_EQ(ToSearchQuery(request, {}).status().code(), absl::StatusCode::kInvalidArgument);
  request.set_k(5);
  RequestLimits limits;
  limits.max_excluded_key_ids = 2;
  limits.max_class_filters = 1;
  for (int i = 0; i < 3; ++i) request.add_exclude_key_ids(i);
  EXPECT_EQ(ToSearchQuery(request, limits).status().message(),
            "exclude_key_ids: 3 entries exceed the limit of 2");
  request.clear_exclude_key_ids();
  request.add_classes("a");
  request.add_classes("b");
  EXPECT_THAT(ToSearchQuery(request, limits).status().message(), HasSubstr("classes: 2 entries"));
}

TEST(ToBatchTest, ChecksTheBatchSizeAndNamesTheBadRequest) {
  v1::ClassifyBatchRequest empty;
  EXPECT_EQ(ToClassifyQueries(empty, {}).status().message(), "requests: 0 is outside 1..256");

  v1::ClassifyBatchRequest batch;
  for (int i = 0; i < 3; ++i) {
    v1::ClassifyRequest* r = batch.add_requests();
    *r->mutable_drawing() = ValidDrawing();
    r->set_k(1);
  }
  auto queries = ToClassifyQueries(batch, {});
  ASSERT_TRUE(queries.ok());
  EXPECT_EQ(queries->size(), 3u);
  batch.mutable_requests(2)->mutable_drawing()->mutable_ink()->mutable_strokes(0)->set_x(
      1, std::numeric_limits<float>::quiet_NaN());
  EXPECT_THAT(ToClassifyQueries(batch, {}).status().message(),
              HasSubstr("requests[2].drawing.ink: stroke 0 point 1 x is not finite"));
  RequestLimits limits;
  limits.max_batch_requests = 2;
  EXPECT_EQ(ToClassifyQueries(batch, limits).status().message(), "requests: 3 is outside 1..2");
}

TEST(ToBatchTest, BoundsTheTotalHitsOfASearchBatch) {
  v1::SearchBatchRequest batch;
  for (int i = 0; i < 3; ++i) {
    v1::SearchRequest* r = batch.add_requests();
    *r->mutable_drawing() = ValidDrawing();
    r->set_k(400);
  }
  RequestLimits limits;
  limits.max_batch_hits = 1000;
  EXPECT_EQ(ToSearchQueries(batch, limits).status().message(),
            "requests.k: 1200 hits in total exceed the limit of 1000");
  batch.mutable_requests(1)->set_k(0);
  EXPECT_EQ(ToSearchQueries(batch, limits).status().message(),
            "requests[1].k: 0 is outside 1..100000");
}

TEST(ToBatchTest, BoundsTheHitsThatCarryDrawings) {
  v1::SearchRequest request;
  *request.mutable_drawing() = ValidDrawing();
  request.set_k(30);
  request.set_include_drawings(true);
  RequestLimits limits;
  limits.max_drawing_hits = 50;
  auto query = ToSearchQuery(request, limits);
  ASSERT_TRUE(query.ok()) << query.status();
  EXPECT_TRUE(query->include_drawings);
  request.set_k(51);
  EXPECT_EQ(ToSearchQuery(request, limits).status().message(),
            "k: 51 hits with drawings exceed the limit of 50");
  request.set_include_drawings(false);
  EXPECT_TRUE(ToSearchQuery(request, limits).ok());  // without drawings k is not bound by it

  v1::SearchBatchRequest batch;
  for (bool drawings : {true, false, true}) {
    v1::SearchRequest* r = batch.add_requests();
    *r->mutable_drawing() = ValidDrawing();
    r->set_k(30);
    r->set_include_drawings(drawings);
  }
  EXPECT_EQ(ToSearchQueries(batch, limits).status().message(),
            "requests.k: 60 hits with drawings in total exceed the limit of 50");
  batch.mutable_requests(2)->set_include_drawings(false);
  EXPECT_TRUE(ToSearchQueries(batch, limits).ok());
}

TEST(ToBatchTest, StopsConvertingOnceTheDeadlineHasPassed) {
  v1::ClassifyBatchRequest classify;
  v1::SearchBatchRequest search;
  for (int i = 0; i < 3; ++i) {
    v1::ClassifyRequest* c = classify.add_requests();
    c->set_k(1);
    c->mutable_drawing()->mutable_ink()->set_frame(v1::FRAME_SIMPLIFIED);
    v1::Stroke* stroke = c->mutable_drawing()->mutable_ink()->add_strokes();
    stroke->add_x(0);
    stroke->add_x(255);
    stroke->add_y(0);
    stroke->add_y(255);
    v1::SearchRequest* s = search.add_requests();
    s->set_k(1);
    *s->mutable_drawing() = c->drawing();
  }
  const RequestLimits limits;
  EXPECT_TRUE(ToClassifyQueries(classify, limits, absl::Now() + absl::Hours(1)).ok());
  const absl::Time past = absl::Now() - absl::Seconds(1);
  const absl::Status classify_late = ToClassifyQueries(classify, limits, past).status();
  EXPECT_EQ(classify_late.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(classify_late.message(), HasSubstr("requests[0]"));
  EXPECT_EQ(ToSearchQueries(search, limits, past).status().code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST(ToProtoTest, HitsCarryTheirStoredDrawing) {
  Sketch raw;
  raw.key_id = 5;
  raw.word = "ant";
  raw.frame = StrokeFrame::kRaw;
  raw.strokes = {{{-3.5f, 10.25f}, {7, 8}, {0, 16}}};
  Sketch bitmap;
  bitmap.key_id = 6;
  bitmap.word = "star";
  bitmap.bitmap = {2, {0, 255, 128, 0}};
  SearchResult result;
  result.hits.push_back({0, 5, -1, "ant", 0.1f, "ant.ndjson", raw});
  result.hits.push_back({1, 6, -1, "star", 0.2f, "star.npy", bitmap});
  result.hits.push_back({2, 7, -1, "ant", 0.3f, "ant.ndjson", std::nullopt});
  v1::SearchResponse response;
  ToProto(result, &response);
  ASSERT_EQ(response.hits_size(), 3);
  // The mapping itself is SketchToDrawing's (tests/proto/drawing_convert_test.cc).
  EXPECT_TRUE(MessageDifferencer::Equals(response.hits(0).drawing(), SketchToDrawing(raw)));
  EXPECT_TRUE(MessageDifferencer::Equals(response.hits(1).drawing(), SketchToDrawing(bitmap)));
  EXPECT_FALSE(response.hits(2).has_drawing());
  // Back through the request conversion: a returned drawing is a valid query.
  auto again = DrawingToSketch(response.hits(1).drawing(), RequestLimits(), "drawing");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->bitmap.pixels, bitmap.bitmap.pixels);
}

TEST(ToProtoTest, ConvertsResults) {
  SearchResult result;
  result.hits.push_back({3, 77, 1, "dog", 0.5f, "dog.ndjson", std::nullopt});
  result.top_class = ClassScore{1, "dog", 0.9f};
  v1::SearchResponse response;
  ToProto(result, &response);
  ASSERT_EQ(response.hits_size(), 1);
  EXPECT_EQ(response.hits(0).id(), 3);
  EXPECT_EQ(response.hits(0).key_id(), 77u);
  EXPECT_EQ(response.hits(0).word(), "dog");
  EXPECT_EQ(response.hits(0).label(), 1);
  EXPECT_FLOAT_EQ(response.hits(0).distance(), 0.5f);
  EXPECT_EQ(response.hits(0).source(), "dog.ndjson");
  EXPECT_FALSE(response.hits(0).has_drawing());
  EXPECT_EQ(response.top_class().word(), "dog");

  v1::SearchResponse without_top;
  result.top_class.reset();
  ToProto(result, &without_top);
  EXPECT_FALSE(without_top.has_top_class());

  ServiceInfo info;
  info.bundle = {"sknet", "abc123", "{\"epochs\":10}", {{"test_map", 0.61}}, {}, nullptr};
  info.classes = {"cat", "dog"};
  info.input_size = 128;
  info.index_size = 500;
  info.dimension = 1024;
  info.has_drawings = true;
  info.words = {"cat", "dog", "owl"};
  v1::GetInfoResponse out;
  ToProto(info, {}, 1 << 20, &out);
  EXPECT_TRUE(out.index().has_drawings());
  EXPECT_THAT(out.index().words(), ElementsAre("cat", "dog", "owl"));
  EXPECT_EQ(out.limits().max_drawing_hits(), RequestLimits().max_drawing_hits);
  EXPECT_EQ(out.architecture(), "sknet");
  EXPECT_THAT(out.classes(), ElementsAre("cat", "dog"));
  EXPECT_EQ(out.index_size(), 500);
  EXPECT_EQ(out.dimension(), 1024);
  EXPECT_EQ(out.bundle_hash(), "abc123");
  EXPECT_DOUBLE_EQ(out.metrics().at("test_map"), 0.61);
  EXPECT_EQ(out.limits().max_strokes(), 1024);
  EXPECT_EQ(out.limits().max_message_bytes(), 1 << 20);
  EXPECT_EQ(out.limits().max_nprobe(), RequestLimits().max_nprobe);
  EXPECT_EQ(out.limits().max_ef_search(), RequestLimits().max_ef_search);
  EXPECT_EQ(out.index().type(), "Flat");  // a bundle that says nothing: exact
  EXPECT_TRUE(out.index().exact());
  EXPECT_DOUBLE_EQ(out.index().recall_at_10(), 1.0);
  EXPECT_EQ(out.index().query_expansion_neighbors(), 0);  // a bundle that says nothing: none
  info.bundle.index.query_expansion_neighbors = 5;
  info.bundle.index.query_expansion_alpha = 3;
  v1::GetInfoResponse expanded;
  ToProto(info, {}, 1 << 20, &expanded);
  EXPECT_EQ(expanded.index().query_expansion_neighbors(), 5);
  EXPECT_DOUBLE_EQ(expanded.index().query_expansion_alpha(), 3);

  info.bundle.index = {"HNSW32", false, 0.97, {0, 64}};
  v1::GetInfoResponse approximate;
  ToProto(info, {}, 1 << 20, &approximate);
  EXPECT_EQ(approximate.index().type(), "HNSW32");
  EXPECT_FALSE(approximate.index().exact());
  EXPECT_DOUBLE_EQ(approximate.index().recall_at_10(), 0.97);
  EXPECT_EQ(approximate.index().default_params().nprobe(), 0);
  EXPECT_EQ(approximate.index().default_params().ef_search(), 64);
}

TEST(ToSearchQueryTest, SearchParamsWithinTheLimitsReachTheQuery) {
  v1::SearchRequest request;
  *request.mutable_drawing() = ValidDrawing();
  request.set_k(5);
  auto plain = ToSearchQuery(request, {});
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->knobs.nprobe, 0);
  EXPECT_EQ(plain->knobs.ef_search, 0);
  RequestLimits limits;
  limits.max_nprobe = 64;
  limits.max_ef_search = 200;
  request.mutable_params()->set_nprobe(64);
  request.mutable_params()->set_ef_search(200);
  auto tuned = ToSearchQuery(request, limits);
  ASSERT_TRUE(tuned.ok()) << tuned.status();
  EXPECT_EQ(tuned->knobs.nprobe, 64);
  EXPECT_EQ(tuned->knobs.ef_search, 200);
  request.mutable_params()->set_nprobe(65);
  EXPECT_EQ(ToSearchQuery(request, limits).status().message(),
            "params.nprobe: 65 is outside 0..64");
  request.mutable_params()->set_nprobe(1);
  request.mutable_params()->set_ef_search(-1);
  EXPECT_EQ(ToSearchQuery(request, limits).status().message(),
            "params.ef_search: -1 is outside 0..200");
  v1::SearchBatchRequest batch;
  *batch.add_requests() = request;
  EXPECT_EQ(ToSearchQueries(batch, limits).status().message(),
            "requests[0].params.ef_search: -1 is outside 0..200");
}

}  // namespace
}  // namespace sketch
