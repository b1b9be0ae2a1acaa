#include "server/wire_check.h"

#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sketchsearch/v1/sketch_search.pb.h"

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;
using ::testing::HasSubstr;

absl::Status Check(RequestKind kind, const std::string& bytes, const RequestLimits& limits = {}) {
  google::protobuf::io::ArrayInputStream input(bytes.data(), static_cast<int>(bytes.size()));
  return CheckRequestWire(kind, &input, limits);
}

v1::Drawing DrawingWithStrokes(int strokes) {
  v1::Drawing drawing;
  drawing.mutable_ink()->set_frame(v1::FRAME_SIMPLIFIED);
  for (int i = 0; i < strokes; ++i) {
    v1::Stroke* stroke = drawing.mutable_ink()->add_strokes();
    stroke->add_x(1);
    stroke->add_y(2);
  }
  return drawing;
}

TEST(CheckRequestWireTest, AcceptsRequestsWithinTheLimits) {
  v1::ClassifyRequest classify;
  *classify.mutable_drawing() = DrawingWithStrokes(1024);
  classify.set_k(3);
  EXPECT_TRUE(Check(RequestKind::kClassify, classify.SerializeAsString()).ok());
  v1::SearchBatchRequest batch;
  for (int i = 0; i < 256; ++i) {
    v1::SearchRequest* r = batch.add_requests();
    *r->mutable_drawing() = DrawingWithStrokes(3);
    for (int c = 0; c < 1000; c += 100) r->add_classes("cat");
  }
  EXPECT_TRUE(Check(RequestKind::kSearchBatch, batch.SerializeAsString()).ok());
  EXPECT_TRUE(Check(RequestKind::kGetInfo, "").ok());
}

TEST(CheckRequestWireTest, RefusesTooManyStrokesBeforeDecoding) {
  // 8,000,000 empty strokes are 16 MB on the wire and over 1 GB decoded; here a smaller cousin.
  v1::ClassifyRequest many;
  for (int i = 0; i < 100000; ++i) many.mutable_drawing()->mutable_ink()->add_strokes();
  const absl::Status status = Check(RequestKind::kClassify, many.SerializeAsString());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "drawing.ink.strokes: more than 1024 strokes");
  EXPECT_EQ(Check(RequestKind::kEmbed, many.SerializeAsString()).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CheckRequestWireTest, CountsAcrossRepeatedOccurrencesOfOneMessage) {
  // proto3 merges repeated occurrences of a singular field: two drawings of 600 strokes each are
  // one drawing of 1200.
  v1::ClassifyRequest half;
  *half.mutable_drawing() = DrawingWithStrokes(600);
  const std::string twice = half.SerializeAsString() + half.SerializeAsString();
  EXPECT_THAT(Check(RequestKind::kClassify, twice).message(), HasSubstr("more than 1024"));
}

TEST(CheckRequestWireTest, NamesTheBatchEntryAndBoundsFiltersAndEntries) {
  v1::SearchBatchRequest batch;
  batch.add_requests()->set_k(1);
  v1::SearchRequest* second = batch.add_requests();
  for (int i = 0; i < 1001; ++i) second->add_classes("cat");
  EXPECT_EQ(Check(RequestKind::kSearchBatch, batch.SerializeAsString()).message(),
            "requests[1].classes: more than 1000 entries");

  v1::ClassifyBatchRequest classify;
  *classify.add_requests()->mutable_drawing() = DrawingWithStrokes(2000);
  EXPECT_EQ(Check(RequestKind::kClassifyBatch, classify.SerializeAsString()).message(),
            "requests[0].drawing.ink.strokes: more than 1024 strokes");

  v1::ClassifyBatchRequest too_many;
  for (int i = 0; i < 257; ++i) too_many.add_requests();
  EXPECT_EQ(Check(RequestKind::kClassifyBatch, too_many.SerializeAsString()).message(),
            "requests: more than 256 entries");
}

TEST(CheckRequestWireTest, MalformedBytesAreInvalidArgument) {
  for (const std::string& bytes : {std::string("\x0a\x05\x12", 3), std::string("\xff\xff", 2),
                                   std::string("\x0a\x80\x80\x80\x80\x80\x01", 7)}) {
    EXPECT_EQ(Check(RequestKind::kClassify, bytes).message(),
              "request: not a valid protobuf message");
  }
}

TEST(MaxRequestBytesTest, LeavesRoomForTheLargestValidDrawing) {
  const RequestLimits limits;
  v1::ClassifyRequest largest;
  v1::Ink* ink = largest.mutable_drawing()->mutable_ink();
  ink->set_frame(v1::FRAME_RAW);
  const size_t per_stroke = limits.sketch.max_total_points / limits.sketch.max_strokes;
  for (size_t s = 0; s < limits.sketch.max_strokes; ++s) {
    v1::Stroke* stroke = ink->add_strokes();
    for (size_t p = 0; p < per_stroke; ++p) {
      stroke->add_x(-12345.5f);
      stroke->add_y(12345.5f);
      stroke->add_t(1e9f);
    }
  }
  largest.set_k(100);
  EXPECT_LT(static_cast<int64_t>(largest.ByteSizeLong()),
            MaxRequestBytes(RequestKind::kClassify, limits));
  EXPECT_LT(MaxRequestBytes(RequestKind::kClassify, limits), int64_t{8} << 20);
  EXPECT_GT(MaxRequestBytes(RequestKind::kSearch, limits),
            MaxRequestBytes(RequestKind::kClassify, limits));
  EXPECT_EQ(MaxRequestBytes(RequestKind::kGetInfo, limits), 1024);
}

}  // namespace
}  // namespace sketch
