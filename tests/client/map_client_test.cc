#include "client/map_client.h"

#include <cstdio>
#include <sstream>
#include <thread>

#include "client/cli.h"
#include "core/dataset.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/client/fake_server.h"
#include "tests/client/flaky_server.h"

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;
using ::sketch::testing::FakeFeature;
using ::sketch::testing::Flakiness;
using ::sketch::testing::FlakyServer;
using ::sketch::testing::MakeFakeIndex;
using ::sketch::testing::QuickRetries;
using ::sketch::testing::Refuse;
using ::sketch::testing::ServeFakes;
using ::sketch::testing::StartFakeServer;
using ::sketch::testing::TestData;
using ::testing::AllOf;
using ::testing::Ge;
using ::testing::HasSubstr;
using ::testing::Le;

const std::vector<std::string> kClasses = {"cat", "eye", "map", "guitar"};

std::vector<std::string> Files() {
  std::vector<std::string> files;
  for (const std::string& c : kClasses) files.push_back(TestData("simplified/" + c + ".ndjson"));
  return files;
}

// numpy_bitmap key_ids are row numbers, so every class has key_ids 0..59.
std::vector<std::string> NumpyBitmapFiles() {
  std::vector<std::string> files;
  for (const char* c : {"cat", "circle", "star"}) {
    files.push_back(TestData(std::string("numpy_bitmap/") + c + ".npy"));
  }
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
  // `index`: what the server's GetInfo says of its index (the fake index itself is exact).
  absl::StatusOr<MapReport> RunMap(const MapInput& input, float class_weight,
                                   const std::vector<Sketch>* indexed = nullptr, int batch = 8,
                                   const IndexDescription& index = {}) {
    server_ = StartFakeServer({}, input.class_names, 8, class_weight, /*serve=*/false);
    ServeFakes(server_.get(), indexed ? *indexed : input.sketches, input.class_names, 8,
               class_weight, {}, index);
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
  auto input = LoadMapInputFromFiles(NumpyBitmapFiles());
  ASSERT_TRUE(input.ok()) << input.status();
  auto report = RunMap(*input, /*class_weight=*/0);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_NEAR(report->retrieval.mean_average_precision, OfflineMap(*input, 8, 0), 1e-9);
}

// A server that expands queries cannot leave a drawing out of its own expansion unless it can
// exclude it by key_id: shared key_ids are refused there, and only there.
TEST_F(MapClientTest, SharedKeyIdsAreRefusedWhenTheServerExpandsQueries) {
  auto input = LoadMapInputFromFiles(NumpyBitmapFiles());
  ASSERT_TRUE(input.ok()) << input.status();
  IndexDescription expanding;
  expanding.query_expansion_neighbors = 3;
  expanding.query_expansion_alpha = 3;
  auto report = RunMap(*input, /*class_weight=*/0, nullptr, /*batch=*/8, expanding);
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(report.status().message(), HasSubstr("query expansion needs unique key_ids"));
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
  EXPECT_EQ(json["exact_index"], true);
  EXPECT_FALSE(json.contains("offline_map"));
}

TEST(FormatMapReportTest, AnApproximateIndexShowsTheLiveFigureBesideTheExactOne) {
  MapReport report;
  report.retrieval.mean_average_precision = 0.5;
  report.class_names = {"cat", "dog"};
  report.queries = 40;
  report.seconds = 1;
  report.index_type = "IVF64,PQ16";
  report.exact_index = false;
  report.index_recall_at_10 = 0.81;
  EXPECT_EQ(FormatMapReport(report, false, false),
            "mAP 0.5000 over 40 queries (2 classes) in 1.0 s\n"
            "approximate index IVF64,PQ16 (recall@10 0.8100): live mAP 0.5000, the bundle records "
            "no exact (offline) mAP\n");
  report.offline_map = 0.625;
  EXPECT_EQ(FormatMapReport(report, false, false),
            "mAP 0.5000 over 40 queries (2 classes) in 1.0 s\n"
            "approximate index IVF64,PQ16 (recall@10 0.8100): live mAP 0.5000, exact (offline) "
            "mAP 0.6250, live - exact -0.1250\n");
  const nlohmann::json json = nlohmann::json::parse(FormatMapReport(report, false, true));
  EXPECT_EQ(json["index_type"], "IVF64,PQ16");
  EXPECT_EQ(json["exact_index"], false);
  EXPECT_DOUBLE_EQ(json["index_recall_at_10"].get<double>(), 0.81);
  EXPECT_DOUBLE_EQ(json["offline_map"].get<double>(), 0.625);
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
  CliEnvironment env{&in, &out, &err,
                     [this](const std::string&) {
                       return std::shared_ptr<grpc::ChannelInterface>(server_->InProcessChannel());
                     },
                     TextGridOptions{}};
  ASSERT_EQ(RunSketchCli(static_cast<int>(argv.size()), argv.data(), env), kExitOk) << err.str();
  const nlohmann::json json = nlohmann::json::parse(out.str());
  EXPECT_DOUBLE_EQ(json["map"].get<double>(), 1.0);
  EXPECT_EQ(json["queries"], 480);
  EXPECT_EQ(json["per_class_map"].size(), 4u);
}

// `sketch map` through a FlakySketchSearch on loopback (a real client channel, MakeChannel) in
// front of a fake server that indexes the 480 test drawings: 60 batches of 8.
class MapOverFlakyServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto input = LoadMapInputFromFiles(Files());
    ASSERT_TRUE(input.ok()) << input.status();
    input_ = *std::move(input);
    // Class weight 0: a mAP far from 0 and 1, which any lost or doubled answer would move.
    backend_ = StartFakeServer(input_.sketches, input_.class_names, 8, /*class_weight=*/0);
  }

  void StartFlaky(Flakiness flakiness) {
    flaky_ = std::make_unique<FlakyServer>(backend_->InProcessChannel(), flakiness);
  }

  absl::StatusOr<MapReport> RunMap(Flakiness flakiness, int concurrency, RetryOptions retry) {
    StartFlaky(flakiness);
    auto stub = v1::SketchSearch::NewStub(MakeChannel(flaky_->address()));
    SketchClient client(stub.get(), absl::Seconds(30), retry);
    return RunLeaveOneOutMap(client, input_, Options(concurrency));
  }

  static MapOptions Options(int concurrency) {
    MapOptions options;
    options.progress = false;
    options.batch_size = 8;
    options.concurrency = concurrency;
    return options;
  }

  // `sketch map -q <args> <files>` against the flaky front; stdout and stderr in out_, err_.
  int RunCli(std::vector<std::string> args) {
    args.insert(args.begin(), {"sketch", "map", "-q"});
    for (const std::string& f : Files()) args.push_back(f);
    std::vector<const char*> argv;
    for (const std::string& a : args) argv.push_back(a.c_str());
    std::istringstream in;
    out_.str("");
    err_.str("");
    CliEnvironment env{
        &in, &out_, &err_,
        [this](const std::string&) {
          return std::shared_ptr<grpc::ChannelInterface>(MakeChannel(flaky_->address()));
        },
        TextGridOptions{}};
    return RunSketchCli(static_cast<int>(argv.size()), argv.data(), env);
  }

  MapInput input_;
  std::unique_ptr<SketchServer> backend_;
  std::unique_ptr<FlakyServer> flaky_;
  std::ostringstream out_, err_;
};

// Parameterized by the code the flaky front refuses with: UNAVAILABLE, RESOURCE_EXHAUSTED or
// CANCELLED.
class MapRetryTest : public MapOverFlakyServerTest,
                     public ::testing::WithParamInterface<grpc::StatusCode> {};

TEST_P(MapRetryTest, RefusedBatchesAreSentAgainAndTheMapIsUnchanged) {
  auto clean = RunMap(Refuse(0), 3, QuickRetries(4));
  ASSERT_TRUE(clean.ok()) << clean.status();
  EXPECT_EQ(clean->retried_batches, 0);
  EXPECT_EQ(flaky_->service().calls(), 60);

  // One worker: its first batch is refused 3 times, then every batch is answered once.
  auto one = RunMap(Refuse(3, GetParam()), 1, QuickRetries(4));
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->retrieval.mean_average_precision, clean->retrieval.mean_average_precision);
  EXPECT_EQ(one->retrieval.per_class_map, clean->retrieval.per_class_map);
  EXPECT_EQ(one->queries, 480);
  EXPECT_EQ(one->retried_batches, 1);
  EXPECT_EQ(one->retries, 3);
  EXPECT_EQ(flaky_->service().calls(), 60 + 3);

  // Three workers: the 5 refusals fall on several batches in flight; the others' answers stay.
  auto three = RunMap(Refuse(5, GetParam()), 3, QuickRetries(4));
  ASSERT_TRUE(three.ok()) << three.status();
  EXPECT_EQ(three->retrieval.mean_average_precision, clean->retrieval.mean_average_precision);
  EXPECT_EQ(three->retries, 5);
  EXPECT_THAT(three->retried_batches, AllOf(Ge(1), Le(5)));
  EXPECT_EQ(flaky_->service().calls(), 60 + 5);
}

TEST_P(MapRetryTest, CliReportsTheRetries) {
  StartFlaky(Refuse(2, GetParam()));
  ASSERT_EQ(RunCli({"--concurrency", "1", "--retry-backoff-ms", "5"}), kExitOk) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr(" queries (4 classes) in "));
  EXPECT_THAT(out_.str(), HasSubstr("\nretried 1 batch (2 re-sends)\n"));

  StartFlaky(Refuse(4, GetParam()));
  ASSERT_EQ(RunCli({"--json", "--concurrency", "1", "--retry-backoff-ms", "5"}), kExitOk)
      << err_.str();
  const nlohmann::json json = nlohmann::json::parse(out_.str());
  EXPECT_EQ(json["retried_batches"], 1);
  EXPECT_EQ(json["retries"], 4);
}

TEST_P(MapRetryTest, AServerThatAlwaysRefusesEndsTheRunWithExitFour) {
  StartFlaky(Refuse(-1, GetParam()));
  EXPECT_EQ(RunCli({"--concurrency", "1", "--retries", "2", "--retry-backoff-ms", "5"}),
            kExitUnavailable);
  EXPECT_EQ(out_.str(), "");
  EXPECT_THAT(err_.str(),
              HasSubstr(absl::StatusCodeToString(static_cast<absl::StatusCode>(GetParam()))));
  EXPECT_THAT(err_.str(), HasSubstr("flaky: call 3 refused (after 3 attempts of SearchBatch)"));
  EXPECT_EQ(flaky_->service().calls(), 3);
}

TEST_P(MapRetryTest, TheDeadlineBoundsABatchAndItsRetries) {
  // Each refusal takes 100 ms; the batch's 400 ms allow 3 or 4 attempts of the 21 allowed (a
  // client that gave each attempt its own deadline would take 2.5 s).
  StartFlaky(Refuse(-1, GetParam(), absl::Milliseconds(100)));
  const absl::Time start = absl::Now();
  EXPECT_EQ(RunCli({"--concurrency", "1", "--deadline-ms", "400", "--retries", "20",
                    "--retry-backoff-ms", "5", "--retry-max-backoff-ms", "20"}),
            kExitUnavailable);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(400 + 400));
  EXPECT_THAT(flaky_->service().calls(), AllOf(Ge(2), Le(4)));
}

INSTANTIATE_TEST_SUITE_P(Codes, MapRetryTest,
                         ::testing::Values(grpc::StatusCode::UNAVAILABLE,
                                           grpc::StatusCode::RESOURCE_EXHAUSTED,
                                           grpc::StatusCode::CANCELLED),
                         [](const auto& info) {
                           return absl::StatusCodeToString(
                               static_cast<absl::StatusCode>(info.param));
                         });

TEST_F(MapOverFlakyServerTest, AReplicaRestartingMidRunLosesNothing) {
  auto clean = RunMap(Refuse(0), 1, QuickRetries(0));
  ASSERT_TRUE(clean.ok()) << clean.status();

  StartFlaky(Refuse(0));
  const int port = flaky_->port();
  auto stub = v1::SketchSearch::NewStub(MakeChannel(flaky_->address()));
  RetryOptions retry = QuickRetries(40);
  retry.max_backoff = absl::Milliseconds(200);
  SketchClient client(stub.get(), absl::Seconds(30), retry);
  absl::StatusOr<MapReport> report;
  std::thread run([&] { report = RunLeaveOneOutMap(client, input_, Options(2)); });
  // After 20 answered batches the replica drains (refusing), stops, is down for 300 ms, and
  // comes back loading (its first 2 calls refused) on the same port.
  EXPECT_TRUE(flaky_->service().WaitForCalls(20, absl::Seconds(30)));
  flaky_->service().Drain();
  flaky_->Shutdown(absl::Seconds(1));
  const int first_calls = flaky_->service().calls();
  absl::SleepFor(absl::Milliseconds(300));
  FlakyServer restarted(backend_->InProcessChannel(), Refuse(2), port);
  run.join();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->retrieval.mean_average_precision, clean->retrieval.mean_average_precision);
  EXPECT_EQ(report->retrieval.per_class_map, clean->retrieval.per_class_map);
  EXPECT_GE(report->retried_batches, 1);
  EXPECT_GT(restarted.service().calls(), 2);
  EXPECT_LT(first_calls, 60 + 2);  // the run did not end before the restart
}

TEST_F(MapOverFlakyServerTest, ARealServerDrainingAndRestartingMidRunLosesNothing) {
  // The server itself on a loopback port, stopped as on SIGTERM (Shutdown with a drain), which
  // refuses or cancels the calls that race with it, and started again on the same port.
  auto clean = RunMap(Refuse(0), 1, QuickRetries(0));
  ASSERT_TRUE(clean.ok()) << clean.status();
  auto server =
      StartFakeServer(input_.sketches, input_.class_names, 8, 0, /*serve=*/true, {}, "127.0.0.1:0");
  const std::string address = "127.0.0.1:" + std::to_string(server->port());
  auto stub = v1::SketchSearch::NewStub(MakeChannel(address));
  RetryOptions retry = QuickRetries(40);
  retry.initial_backoff = absl::Milliseconds(20);
  retry.max_backoff = absl::Milliseconds(200);
  SketchClient client(stub.get(), absl::Seconds(30), retry);
  MapOptions options = Options(1);
  options.batch_size = 1;  // 480 calls, about 0.3 s: the stop at 40 ms falls mid-run
  absl::StatusOr<MapReport> report;
  std::thread run([&] { report = RunLeaveOneOutMap(client, input_, options); });
  absl::SleepFor(absl::Milliseconds(40));
  server->Shutdown(absl::Seconds(1));
  absl::SleepFor(absl::Milliseconds(300));
  server = StartFakeServer(input_.sketches, input_.class_names, 8, 0, /*serve=*/true, {}, address);
  run.join();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->retrieval.mean_average_precision, clean->retrieval.mean_average_precision);
  EXPECT_GE(report->retried_batches, 1);
}

}  // namespace
}  // namespace sketch
