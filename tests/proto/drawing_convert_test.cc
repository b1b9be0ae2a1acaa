#include "proto/drawing_convert.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/proto_convert.h"
#include "tests/testing/read_all.h"

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;
using ::testing::ElementsAre;

std::string TestData(const std::string& relative) {
  return std::string(SKETCH_TEST_DATA_DIR) + "/quickdraw/" + relative;
}

// What the server makes of the client's message for `sketch`.
Sketch ServerView(const Sketch& sketch) {
  auto back = DrawingToSketch(SketchToDrawing(sketch), {}, "drawing");
  EXPECT_TRUE(back.ok()) << back.status();
  return back.ok() ? *back : Sketch();
}

TEST(SketchToDrawingTest, CopiesEveryFieldOfInkAndBitmaps) {
  Sketch raw;
  raw.key_id = 5;
  raw.word = "ant";
  raw.frame = StrokeFrame::kRaw;
  raw.strokes = {{{-3.5f, 10.25f}, {7, 8}, {0, 16}}};
  const v1::Drawing ink = SketchToDrawing(raw);
  EXPECT_EQ(ink.key_id(), 5u);
  EXPECT_EQ(ink.word(), "ant");
  EXPECT_EQ(ink.ink().frame(), v1::FRAME_RAW);
  ASSERT_EQ(ink.ink().strokes_size(), 1);
  EXPECT_THAT(ink.ink().strokes(0).x(), ElementsAre(-3.5f, 10.25f));
  EXPECT_THAT(ink.ink().strokes(0).y(), ElementsAre(7.0f, 8.0f));
  EXPECT_THAT(ink.ink().strokes(0).t(), ElementsAre(0.0f, 16.0f));
  EXPECT_FALSE(ink.has_bitmap());

  Sketch bitmap;
  bitmap.key_id = 6;
  bitmap.word = "star";
  bitmap.bitmap = {2, {0, 255, 128, 0}};
  const v1::Drawing image = SketchToDrawing(bitmap);
  EXPECT_EQ(image.key_id(), 6u);
  EXPECT_EQ(image.word(), "star");
  EXPECT_EQ(image.bitmap().size(), 2);
  EXPECT_EQ(image.bitmap().pixels(), std::string("\x00\xff\x80\x00", 4));
  EXPECT_FALSE(image.has_ink());
}

TEST(SketchToDrawingTest, SimplifiedStrokesSurviveTheTrip) {
  for (const Sketch& sketch : ReadAll(TestData("simplified/cat.ndjson"))) {
    EXPECT_EQ(SketchToDrawing(sketch).ink().frame(), v1::FRAME_SIMPLIFIED);
    const Sketch back = ServerView(sketch);
    EXPECT_EQ(back.key_id, sketch.key_id);
    EXPECT_EQ(back.word, "cat");
    ASSERT_EQ(back.strokes.size(), sketch.strokes.size());
    for (size_t s = 0; s < back.strokes.size(); ++s) {
      EXPECT_EQ(back.strokes[s].x, sketch.strokes[s].x);
      EXPECT_EQ(back.strokes[s].y, sketch.strokes[s].y);
    }
  }
}

TEST(SketchToDrawingTest, RawStrokesKeepTheirFrameAndTimes) {
  const std::vector<Sketch> raw = ReadAll(TestData("raw/bird.ndjson"));
  ASSERT_FALSE(raw.empty());
  const v1::Drawing drawing = SketchToDrawing(raw[0]);
  EXPECT_EQ(drawing.ink().frame(), v1::FRAME_RAW);
  EXPECT_EQ(drawing.ink().strokes(0).t_size(), static_cast<int>(raw[0].strokes[0].t.size()));
  EXPECT_EQ(ServerView(raw[0]).frame, StrokeFrame::kSimplified);  // normalized by the server
}

TEST(SketchToDrawingTest, BitmapsBecomeBitmaps) {
  const std::vector<Sketch> bitmaps = ReadAll(TestData("numpy_bitmap/star.npy"), "star");
  ASSERT_FALSE(bitmaps.empty());
  const Sketch back = ServerView(bitmaps[0]);
  EXPECT_EQ(back.bitmap.size, 28);
  EXPECT_EQ(back.bitmap.pixels, bitmaps[0].bitmap.pixels);
  EXPECT_EQ(back.word, "star");
}

TEST(SketchFromDrawingTest, EveryKindComesBackAsItWent) {
  for (const char* file : {"simplified/cat.ndjson", "raw/bird.ndjson"}) {
    for (const Sketch& sketch : ReadAll(TestData(file))) {
      absl::StatusOr<Sketch> back = SketchFromDrawing(SketchToDrawing(sketch), "hits[0].drawing");
      ASSERT_TRUE(back.ok()) << back.status();
      EXPECT_EQ(back->key_id, sketch.key_id);
      EXPECT_EQ(back->word, sketch.word);
      EXPECT_EQ(back->frame, sketch.frame);
      ASSERT_EQ(back->strokes.size(), sketch.strokes.size());
      for (size_t s = 0; s < back->strokes.size(); ++s) {
        EXPECT_EQ(back->strokes[s].x, sketch.strokes[s].x);
        EXPECT_EQ(back->strokes[s].y, sketch.strokes[s].y);
        EXPECT_EQ(back->strokes[s].t, sketch.strokes[s].t);
      }
    }
  }
  const Sketch star = ReadAll(TestData("numpy_bitmap/star.npy"), "star")[0];
  absl::StatusOr<Sketch> back = SketchFromDrawing(SketchToDrawing(star), "drawing");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->bitmap.size, 28);
  EXPECT_EQ(back->bitmap.pixels, star.bitmap.pixels);
}

TEST(SketchFromDrawingTest, MalformedDrawingsNameTheField) {
  v1::Drawing drawing;
  EXPECT_EQ(SketchFromDrawing(drawing, "hits[2].drawing").status(),
            absl::InvalidArgumentError("hits[2].drawing: neither ink nor bitmap"));
  v1::Stroke* stroke = drawing.mutable_ink()->add_strokes();
  stroke->add_x(1);
  EXPECT_EQ(SketchFromDrawing(drawing, "hits[2].drawing").status(),
            absl::InvalidArgumentError("hits[2].drawing.ink.strokes[0]: 1 x but 0 y"));
  drawing.mutable_bitmap()->set_size(28);
  drawing.mutable_bitmap()->set_pixels(std::string(100, '\0'));
  EXPECT_EQ(SketchFromDrawing(drawing, "d").status(),
            absl::InvalidArgumentError("d.bitmap: 100 pixels for size 28"));
}

}  // namespace
}  // namespace sketch
