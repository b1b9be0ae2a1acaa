#include "bundle/manifest.h"

#include <string>
#include <tuple>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace sketch {
namespace {

using ::testing::HasSubstr;

nlohmann::json ValidManifest() {
  BundleManifest m;
  m.architecture = "sknet";
  m.input_size = 48;
  m.classes = {"cat", "dog"};
  m.num_train = 10;
  m.num_test = 4;
  m.index_size = 4;
  m.feature_dim = 1024;
  m.file_sha256["model.pt"] = std::string(64, 'a');
  return nlohmann::json::parse(*ManifestToJson(m));
}

TEST(ManifestTest, RoundTrips) {
  auto m = ManifestFromJson(ValidManifest().dump(), "m.json");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->input_size, 48);
  EXPECT_EQ(m->num_test, 4);
  EXPECT_EQ(m->file_sha256.at("model.pt"), std::string(64, 'a'));
}

TEST(ManifestTest, RecordsTheIndexTypeRecallAndKnobs) {
  nlohmann::json j = ValidManifest();
  EXPECT_EQ(j["index"]["type"], "Flat");
  EXPECT_EQ(j["index"]["recall_at_10"], 1.0);
  j["index"]["type"] = "OPQ64,IVF1024,PQ64";
  j["index"]["recall_at_10"] = 0.83;
  j["index"]["nprobe"] = 16;
  auto m = ManifestFromJson(j.dump(), "m.json");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->index_type, "OPQ64,IVF1024,PQ64");
  EXPECT_DOUBLE_EQ(m->index_recall_at_10, 0.83);
  EXPECT_EQ(m->index_nprobe, 16);
  EXPECT_EQ(m->index_ef_search, 0);
  EXPECT_EQ(nlohmann::json::parse(*ManifestToJson(*m))["index"]["type"], "OPQ64,IVF1024,PQ64");
}

// Bundles written before index types: "flat_l2" and neither recall nor knobs.
TEST(ManifestTest, ManifestsBeforeIndexTypesReadAsExactFlat) {
  nlohmann::json j = ValidManifest();
  j["index"] = {{"type", "flat_l2"}, {"size", 4}, {"dimension", 1024}, {"l2_normalized", true}};
  auto m = ManifestFromJson(j.dump(), "m.json");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->index_type, "Flat");
  EXPECT_DOUBLE_EQ(m->index_recall_at_10, 1.0);
  EXPECT_EQ(m->index_nprobe, 0);
  EXPECT_EQ(m->index_ef_search, 0);
}

// Numbers that get<>() would truncate, wrap or (a huge float) cast with undefined behaviour, and a
// format of the wrong type, which used to throw out of the parser.
TEST(ManifestTest, MistypedFieldsAreDataLossNamingTheField) {
  struct Case {
    const char* pointer;
    nlohmann::json value;
    const char* expected;
  };
  const Case cases[] = {
      {"/format", 5, "is not a bundle manifest"},
      {"/input_size", 48.5, "input_size"},
      {"/input_size", int64_t{1} << 40, "input_size"},
      {"/dataset/num_train", 1e300, "num_train"},
      {"/dataset/num_test", -1, "num_test"},
      {"/index/size", "4", "size"},
      {"/index/dimension", 1e20, "dimension"},
      {"/format_version", 0, "format_version"},
      {"/index/recall_at_10", 1.5, "recall_at_10"},
      {"/index/recall_at_10", "1", "recall_at_10"},
      {"/index/type", "LSH", "index.type"},
      {"/index/nprobe", -1, "nprobe"},
      {"/index/ef_search", 2.5, "ef_search"},
  };
  for (const Case& c : cases) {
    nlohmann::json j = ValidManifest();
    j[nlohmann::json::json_pointer(c.pointer)] = c.value;
    auto m = ManifestFromJson(j.dump(), "m.json");
    EXPECT_EQ(m.status().code(), absl::StatusCode::kDataLoss) << c.pointer << " " << m.status();
    EXPECT_THAT(std::string(m.status().message()), HasSubstr(c.expected)) << c.pointer;
    EXPECT_THAT(std::string(m.status().message()), HasSubstr("m.json")) << c.pointer;
  }
}

// A whitened index records its dims and shrink; unwhitened ones write nothing, and a bad value
// is DataLoss naming the field.
TEST(ManifestTest, TheWhiteningIsOptionalAndChecked) {
  auto plain = ManifestFromJson(ValidManifest().dump(), "m.json");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->index_whitening_dims, 0);
  EXPECT_FALSE(ValidManifest()["index"].contains("whitening"));

  BundleManifest m = *plain;
  m.index_whitening_dims = 128;
  m.index_whitening_shrink = 0.1;
  const nlohmann::json written = nlohmann::json::parse(*ManifestToJson(m));
  EXPECT_EQ(written["index"]["whitening"]["dims"], 128);
  auto again = ManifestFromJson(written.dump(), "m.json");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->index_whitening_dims, 128);
  EXPECT_DOUBLE_EQ(again->index_whitening_shrink, 0.1);

  for (const auto& [field, value] : {std::pair<const char*, nlohmann::json>{"dims", 0},
                                     {"dims", "128"},
                                     {"shrink", -0.5},
                                     {"shrink", "x"}}) {
    nlohmann::json j = written;
    j["index"]["whitening"][field] = value;
    auto bad = ManifestFromJson(j.dump(), "m.json");
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss) << field;
    EXPECT_THAT(std::string(bad.status().message()), HasSubstr(field)) << field;
  }
}

// Query expansion is recorded only when on, read back, and checked: neighbours >= 1, alpha a
// finite number >= 0, and only over L2-normalized rows of an index that is not IVF.
TEST(ManifestTest, QueryExpansionIsOptionalAndChecked) {
  auto plain = ManifestFromJson(ValidManifest().dump(), "m.json");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->index_query_expansion_neighbors, 0);
  EXPECT_FALSE(ValidManifest()["index"].contains("query_expansion"));

  BundleManifest m = *plain;
  m.index_l2_normalized = true;
  m.index_query_expansion_neighbors = 5;
  m.index_query_expansion_alpha = 3;
  const nlohmann::json written = nlohmann::json::parse(*ManifestToJson(m));
  EXPECT_EQ(written["index"]["query_expansion"]["neighbors"], 5);
  auto again = ManifestFromJson(written.dump(), "m.json");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->index_query_expansion_neighbors, 5);
  EXPECT_DOUBLE_EQ(again->index_query_expansion_alpha, 3);

  for (const auto& [pointer, value, expected] :
       {std::tuple<const char*, nlohmann::json, const char*>{"/index/query_expansion/neighbors", 0,
                                                             "neighbors"},
        {"/index/query_expansion/alpha", -1, "alpha"},
        {"/index/query_expansion/alpha", "3", "alpha"},
        {"/index/l2_normalized", false, "l2_normalized"},
        {"/index/type", "IVF16,Flat", "IVF"}}) {
    nlohmann::json j = written;
    j[nlohmann::json::json_pointer(pointer)] = value;
    auto bad = ManifestFromJson(j.dump(), "m.json");
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss) << pointer;
    EXPECT_THAT(std::string(bad.status().message()), HasSubstr(expected)) << pointer;
  }
}

// The gallery section is optional: absent in the study's bundles (and older ones), round-tripped
// when present, and DataLoss naming the field when mistyped.
TEST(ManifestTest, GallerySectionIsOptionalAndChecked) {
  auto plain = ManifestFromJson(ValidManifest().dump(), "m.json");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->gallery.has_value());
  EXPECT_FALSE(ValidManifest().contains("gallery"));

  BundleManifest m = *plain;
  m.gallery = GalleryInfo{{"data/simplified", "extra.npy"}, 4, true};
  auto again = ManifestFromJson(*ManifestToJson(m), "m.json");
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_TRUE(again->gallery.has_value());
  EXPECT_EQ(again->gallery->sources, m.gallery->sources);
  EXPECT_EQ(again->gallery->entries, 4);
  EXPECT_TRUE(again->gallery->has_drawings);

  for (const auto& [field, value] : {std::pair<const char*, nlohmann::json>{"entries", -1},
                                     {"has_drawings", "yes"},
                                     {"sources", 3}}) {
    nlohmann::json j = nlohmann::json::parse(*ManifestToJson(m));
    j["gallery"][field] = value;
    auto bad = ManifestFromJson(j.dump(), "m.json");
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss) << field;
    EXPECT_THAT(std::string(bad.status().message()), HasSubstr("m.json")) << field;
  }
}

}  // namespace
}  // namespace sketch
