#include "client/picture.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/drawing_convert.h"
#include "tests/client/fake_server.h"

namespace sketch {
namespace {

using ::sketch::testing::TestData;
using ::testing::ElementsAre;

TEST(SearchPicturesTest, TheQueryThenEachHitWithItsCaption) {
  const std::vector<Sketch> cats = ReadAll(TestData("simplified/cat.ndjson"));
  InputRecord query{"cat.ndjson:line 1", cats[0]};
  sketchsearch::v1::SearchResponse response;
  sketchsearch::v1::SearchHit* hit = response.add_hits();
  hit->set_word("cat");
  hit->set_key_id(cats[1].key_id);
  hit->set_distance(0.125f);
  *hit->mutable_drawing() = SketchToDrawing(cats[1]);
  hit = response.add_hits();  // no drawing
  hit->set_word("eye");
  hit->set_key_id(42);
  hit->set_distance(2.5f);
  hit = response.add_hits();  // a malformed one
  hit->set_word("map");
  hit->mutable_drawing()->mutable_bitmap()->set_size(3);

  const std::vector<Picture> pictures = SearchPictures(query, response);
  ASSERT_EQ(pictures.size(), 4u);
  EXPECT_TRUE(pictures[0].is_query);
  EXPECT_THAT(pictures[0].caption, ElementsAre("query", "cat", std::to_string(cats[0].key_id)));
  ASSERT_TRUE(pictures[1].drawing.ok());
  EXPECT_EQ(pictures[1].drawing->strokes.size(), cats[1].strokes.size());
  EXPECT_FALSE(pictures[1].is_query);
  EXPECT_THAT(pictures[1].caption,
              ElementsAre("1. cat", std::to_string(cats[1].key_id), "d 0.125"));
  EXPECT_EQ(pictures[2].drawing.status(), absl::NotFoundError("no drawing: the server sent none"));
  EXPECT_THAT(pictures[2].caption, ElementsAre("2. eye", "42", "d 2.5"));
  EXPECT_EQ(pictures[3].drawing.status(),
            absl::InvalidArgumentError("hits[2].drawing.bitmap: 0 pixels for size 3"));
}

}  // namespace
}  // namespace sketch
