#include "client/output_format.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;
using ::testing::HasSubstr;
using ::testing::Not;

InputRecord Record() {
  InputRecord record;
  record.position = "cat.ndjson:line 4";
  record.sketch.key_id = 5201136883597312;
  record.sketch.word = "cat";
  return record;
}

v1::SearchResponse Found() {
  v1::SearchResponse response;
  v1::SearchHit* hit = response.add_hits();
  hit->set_id(12);
  hit->set_key_id(4503599627370497);
  hit->set_word("dog");
  hit->set_distance(1.5f);
  hit->set_label(1);
  response.mutable_top_class()->set_word("cat");
  response.mutable_top_class()->set_probability(0.75f);
  return response;
}

TEST(OutputFormatTest, ClassifyTableListsRankClassAndProbability) {
  v1::ClassifyResponse response;
  auto* c = response.add_classes();
  c->set_word("cat");
  c->set_probability(0.91234f);
  const std::string text = FormatClassify(Record(), response, OutputStyle::kTable);
  EXPECT_EQ(text,
            "cat.ndjson:line 4  key_id 5201136883597312  word cat\n"
            "    1  cat                      0.9123\n");
}

TEST(OutputFormatTest, SearchTableHasAHeaderAndOneLinePerHit) {
  const std::string text = FormatSearch(Record(), Found(), OutputStyle::kTable);
  EXPECT_THAT(text, HasSubstr("top class cat (0.7500)\n"));
  EXPECT_THAT(text, HasSubstr("rank      distance        id  key_id               word\n"));
  EXPECT_THAT(text, HasSubstr("     1        1.5000        12  4503599627370497     dog\n"));
  v1::SearchResponse from_gallery = Found();
  from_gallery.mutable_hits(0)->set_source("dog.ndjson");
  EXPECT_THAT(
      FormatSearch(Record(), from_gallery, OutputStyle::kTable),
      HasSubstr("     1        1.5000        12  4503599627370497     dog  (dog.ndjson)\n"));
}

TEST(OutputFormatTest, JsonIsOneObjectPerRecordWithItsIdentity) {
  const std::string text = FormatSearch(Record(), Found(), OutputStyle::kJson);
  ASSERT_EQ(text.back(), '\n');
  EXPECT_EQ(text.find('\n'), text.size() - 1);
  const nlohmann::json json = nlohmann::json::parse(text);
  EXPECT_EQ(json["position"], "cat.ndjson:line 4");
  EXPECT_EQ(json["key_id"], "5201136883597312");  // 64-bit ids as strings, as in ndjson
  EXPECT_EQ(json["word"], "cat");
  EXPECT_EQ(json["hits"][0]["key_id"], "4503599627370497");
  EXPECT_EQ(json["hits"][0]["distance"], 1.5);
  EXPECT_EQ(json["top_class"]["word"], "cat");
}

TEST(OutputFormatTest, EmbedPrintsTheWholeVector) {
  v1::EmbedResponse response;
  for (float v : {0.5f, 0.0f, 2.25f}) response.add_feature(v);
  EXPECT_EQ(FormatEmbed(Record(), response, OutputStyle::kTable),
            "cat.ndjson:line 4  key_id 5201136883597312  word cat  dimension 3\n0.5 0 2.25\n");
  const nlohmann::json json =
      nlohmann::json::parse(FormatEmbed(Record(), response, OutputStyle::kJson));
  EXPECT_EQ(json["feature"].size(), 3u);
}

TEST(OutputFormatTest, InfoAndHealth) {
  v1::GetInfoResponse info;
  info.set_architecture("skresnet");
  info.add_classes("cat");
  info.add_classes("dog");
  info.set_index_size(800);
  (*info.mutable_metrics())["test_map"] = 0.5;
  const std::string text = FormatInfo(info, OutputStyle::kTable);
  EXPECT_THAT(text, HasSubstr("architecture   skresnet\n"));
  EXPECT_THAT(text, HasSubstr("classes        2: cat, dog\n"));
  EXPECT_THAT(text, HasSubstr("index size     800\n"));
  EXPECT_THAT(text, HasSubstr("metric         test_map = 0.5000\n"));
  EXPECT_EQ(nlohmann::json::parse(FormatInfo(info, OutputStyle::kJson))["index_size"], "800");
  EXPECT_THAT(text, Not(HasSubstr("index type")));  // a server that does not say
  EXPECT_THAT(text, Not(HasSubstr("views")));
  info.set_test_time_views(6);
  EXPECT_THAT(FormatInfo(info, OutputStyle::kTable),
              HasSubstr("views          6 forward passes a drawing, averaged\n"));
  v1::IndexInfo* index = info.mutable_index();
  index->set_type("HNSW32");
  index->set_recall_at_10(0.97);
  index->set_has_drawings(true);
  index->add_words("cat");
  EXPECT_THAT(FormatInfo(info, OutputStyle::kTable),
              HasSubstr("index type     HNSW32, approximate (recall@10 0.9700), 1 words, drawings "
                        "stored\n"));
  EXPECT_THAT(FormatInfo(info, OutputStyle::kTable), Not(HasSubstr("query expansion")));
  index->set_query_expansion_neighbors(5);
  index->set_query_expansion_alpha(3);
  EXPECT_THAT(FormatInfo(info, OutputStyle::kTable),
              HasSubstr("query expansion 5 neighbours, alpha 3\n"));

  EXPECT_EQ(FormatHealth("", grpc::health::v1::HealthCheckResponse::SERVING, OutputStyle::kTable),
            "SERVING\n");
  EXPECT_EQ(
      FormatHealth("x", grpc::health::v1::HealthCheckResponse::NOT_SERVING, OutputStyle::kJson),
      "{\"service\":\"x\",\"status\":\"NOT_SERVING\"}\n");
}

}  // namespace
}  // namespace sketch
