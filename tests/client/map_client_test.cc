#include "client/map_client.h"

#include <cstdio>
#include <sstream>

#include "client/cli.h"
#include "core/dataset.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/client/fake_server.h"

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;
using ::sketch::testing::FakeFeature;
using ::sketch::testing::MakeFakeIndex;
using ::sketch::testing::StartFakeServer;
using ::sketch::testing::TestData;
using ::testing::HasSubstr;

const std::vector<std::string> kClasses = {"cat", "eye", "map", "guitar"};

std::vector<std::string> Files() {
  std::vector<std::string> files;
  for (const std::string& c : kClasses) files.push_back(TestData("simplified/" + c + ".ndjson"));
  return files;
}

// The mAP from rankings computed here, by the same exact search the fake server runs.
double OfflineMap(const MapInput& input, int dimension, float class_weight) {
  auto index = MakeFakeIndex(input.sketches, input.class_names, dimension, class_weight);
  std::vector<std::vector<int64_t>> rankings;
  for (size_t q = 0; q < input.sketches.size(); ++q) {
    SearchFilter filter;
    filter.excluded_ids = {static_cast<int64_t>(q)};
    auto found =
        index->Search(FakeFeature(input.sketches[q], dimension, input.class_names, class_weight),
                      static_cast<int>(index->size()), filter);
    EXPECT_TRUE(found.ok());
    rankings.emplace_back();
    for (const Neighbor& n : (*found)[0]) rankings.back().push_back(n.id);
  }
  auto report = LeaveOneOutMap(input.labels, rankings);
  EXPECT_TRUE(report.ok()) << report.status();
  return report.ok() ? report->mean_average_precision : -1;
}

class MapClientTest : public ::testing::Test {
 protected:
  absl::StatusOr<MapReport> RunMap(const MapInput& input, float class_weight,
                                   const std::vector<Sketch>* indexed = nullptr, int batch = 8) {
    server_ =
        StartFakeServer(indexed ? *indexed : input.sketches, input.class_names, 8, class_weight);
    stub_ = v1::SketchSearch::NewStub(server_->InProcessChannel());
    SketchClient client(stub_.get(), absl::Seconds(30));
    MapOptions options;
    options.progress = false;
    options.batch_size = batch;
    options.concurrency = 3;
    return RunLeaveOneOutMap(client, input, options);
  }

  std::unique_ptr<SketchServer> server_;
  std::unique_ptr<v1::SketchSearch::Stub> stub_;
};

TEST(LoadMapInputTest, LabelsFollowSortedWords) {
  auto input = LoadMapInputFromFiles(Files());
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_EQ(input->sketches.size(), 480u);
  EXPECT_EQ(input->class_names, (std::vector<std::string>{"cat", "eye", "guitar", "map"}));
  EXPECT_EQ(input->labels.front(), 0);
  EXPECT_EQ(input->labels.back(), 2);  // guitar.ndjson came last
  EXPECT_FALSE(LoadMapInputFromFiles({TestData("nope.ndjson")}).ok());
}

TEST_F(MapClientTest, PerfectlySeparatedFeaturesGiveMapOne) {
  auto input = LoadMapInputFromFiles(Files());
  ASSERT_TRUE(input.ok());
  auto report = RunMap(*input, /*class_weight=*/10.0f);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_DOUBLE_EQ(report->retrieval.mean_average_precision, 1.0);
  EXPECT_EQ(report->queries, 480);
  for (double ap : report->retrieval.per_class_map) EXPECT_DOUBLE_EQ(ap, 1.0);
}

TEST_F(MapClientTest, LiveMapEqualsTheOfflineComputation) {
  auto input = LoadMapInputFromFiles(Files());
  ASSERT_TRUE(input.ok());
  auto report = RunMap(*input, /*class_weight=*/0, nullptr, /*batch=*/5);
  ASSERT_TRUE(report.ok()) << report.status();
  const double offline = OfflineMap(*input, 8, 0);
  EXPECT_GT(offline, 0.25);  // better than chance with 4 classes, far from perfect
  EXPECT_LT(offline, 0.9);
  EXPECT_NEAR(report->retrieval.mean_average_precision, offline, 1e-9);
}

TEST_F(MapClientTest, SharedKeyIdsAreMatchedByWordToo) {
  // numpy_bitmap key_ids are row numbers, so every class has key_ids 0..59.
  std::vector<std::string> files;
  for (const char* c : {"cat", "circle", "star"}) {
    files.push_back(TestData(std::string("numpy_bitmap/") + c + ".npy"));
  }
  auto input = LoadMapInputFromFiles(files);
  ASSERT_TRUE(input.ok()) << input.status();
  auto report = RunMap(*input, /*class_weight=*/0);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_NEAR(report->retrieval.mean_average_precision, OfflineMap(*input, 8, 0), 1e-9);
}

TEST_F(MapClientTest, IndexOfOtherDrawingsIsFailedPrecondition) {
  auto input = LoadMapInputFromFiles(Files());
  ASSERT_TRUE(input.ok());
  std::vector<Sketch> fewer(input->sketches.begin(), input->sketches.end() - 1);
  EXPECT_EQ(RunMap(*input, 0, &fewer).status().code(), absl::StatusCode::kFailedPrecondition);
  std::vector<Sketch> other = input->sketches;
  other[3].key_id += 1;
  auto report = RunMap(*input, 0, &other);
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(report.status().message(), HasSubstr("not among the test drawings"));
}

TEST_F(MapClientTest, ReadsThePreparedDatasetsTestSplit) {
  auto files = LoadMapInputFromFiles(Files());
  ASSERT_TRUE(files.ok());
  Dataset dataset;
  dataset.metadata.classes = files->class_names;
  for (size_t i = 0; i < files->sketches.size(); i += 4) {
    dataset.test.push_back({files->labels[i], files->sketches[i]});
  }
  const std::string path = ::testing::TempDir() + "/map_client_test.skds";
  ASSERT_TRUE(WriteDataset(dataset, path).ok());
  auto input = LoadMapInputFromDataset(path);
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_EQ(input->sketches.size(), 120u);
  auto report = RunMap(*input, 10.0f);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_DOUBLE_EQ(report->retrieval.mean_average_precision, 1.0);
  std::remove(path.c_str());
}

TEST(FormatMapReportTest, TableAndJson) {
  MapReport report;
  report.retrieval.mean_average_precision = 0.61234;
  report.retrieval.per_class_map = {0.5, std::nan(""), 0.75};
  report.class_names = {"cat", "dog", "eye"};
  report.queries = 40;
  report.seconds = 1.25;
  EXPECT_EQ(FormatMapReport(report, true, false),
            "mAP 0.6123 over 40 queries (3 classes) in 1.2 s\n"
            "  cat                      0.5000\n"
            "  eye                      0.7500\n");
  const nlohmann::json json = nlohmann::json::parse(FormatMapReport(report, true, true));
  EXPECT_DOUBLE_EQ(json["map"].get<double>(), 0.61234);
  EXPECT_EQ(json["per_class_map"].size(), 2u);
}

TEST_F(MapClientTest, CliMapPrintsTheScore) {
  auto input = LoadMapInputFromFiles(Files());
  ASSERT_TRUE(input.ok());
  server_ = StartFakeServer(input->sketches, input->class_names, 8, 10.0f);
  std::vector<std::string> args = {"sketch", "map", "--quiet", "--json", "--per-class"};
  for (const std::string& f : Files()) args.push_back(f);
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::istringstream in;
  std::ostringstream out, err;
  CliEnvironment env{&in, &out, &err, [this](const std::string&) {
                       return std::shared_ptr<grpc::ChannelInterface>(server_->InProcessChannel());
                     }};
  ASSERT_EQ(RunSketchCli(static_cast<int>(argv.size()), argv.data(), env), kExitOk) << err.str();
  const nlohmann::json json = nlohmann::json::parse(out.str());
  EXPECT_DOUBLE_EQ(json["map"].get<double>(), 1.0);
  EXPECT_EQ(json["queries"], 480);
  EXPECT_EQ(json["per_class_map"].size(), 4u);
}

}  // namespace
}  // namespace sketch
