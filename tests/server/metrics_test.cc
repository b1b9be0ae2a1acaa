#include "server/metrics.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sketch {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ServerMetricsTest, CountsRequestsAndErrorsByProtocolMethodAndCode) {
  ServerMetrics metrics;
  metrics.RecordRpc("grpc", "Search", absl::StatusCode::kOk, absl::Milliseconds(3));
  metrics.RecordRpc("grpc", "Search", absl::StatusCode::kOk, absl::Milliseconds(4));
  metrics.RecordRpc("grpc", "Search", absl::StatusCode::kInvalidArgument, absl::Milliseconds(1));
  metrics.RecordRpc("http", "Search", absl::StatusCode::kOk, absl::Milliseconds(2));
  const std::string text = metrics.Serialize();
  EXPECT_THAT(text, HasSubstr("sketchsearch_requests_total{code=\"OK\",method=\"Search\","
                              "protocol=\"grpc\"} 2"));
  EXPECT_THAT(text, HasSubstr("sketchsearch_requests_total{code=\"OK\",method=\"Search\","
                              "protocol=\"http\"} 1"));
  EXPECT_THAT(text, HasSubstr("sketchsearch_request_errors_total{code=\"INVALID_ARGUMENT\","
                              "method=\"Search\",protocol=\"grpc\"} 1"));
  EXPECT_THAT(text, Not(HasSubstr("sketchsearch_request_errors_total{code=\"OK\"")));
  EXPECT_THAT(text, HasSubstr("sketchsearch_request_duration_seconds_count{method=\"Search\","
                              "protocol=\"grpc\"} 3"));
  EXPECT_THAT(text, HasSubstr("sketchsearch_request_duration_seconds_count{method=\"Search\","
                              "protocol=\"http\"} 1"));
}

TEST(ServerMetricsTest, RecordsBatcherActivityAndGauges) {
  ServerMetrics metrics;
  metrics.OnQueueLength(17);
  metrics.OnDequeue(absl::Microseconds(300));
  metrics.OnBatch(8, absl::Milliseconds(20));
  metrics.OnSkipped(absl::StatusCode::kDeadlineExceeded);
  metrics.OnRefused("queue_wait", 3);
  metrics.SetIndexSize(1234);
  metrics.SetServing(true);
  const std::string text = metrics.Serialize();
  EXPECT_THAT(text, HasSubstr("sketchsearch_model_batch_size_sum 8"));
  EXPECT_THAT(text, HasSubstr("sketchsearch_model_queue_duration_seconds_count 1"));
  EXPECT_THAT(text, HasSubstr("sketchsearch_model_batch_duration_seconds_count 1"));
  EXPECT_THAT(text,
              HasSubstr("sketchsearch_model_skipped_requests_total{code=\"DEADLINE_EXCEEDED\"} 1"));
  EXPECT_THAT(text, HasSubstr("sketchsearch_model_queue_length 17"));
  EXPECT_THAT(text, HasSubstr("sketchsearch_model_refused_calls_total{reason=\"queue_wait\"} 1"));
  EXPECT_THAT(text, HasSubstr("sketchsearch_index_size 1234"));
  EXPECT_THAT(text, HasSubstr("sketchsearch_serving 1"));
}

TEST(ServerMetricsTest, CountsReloadsByResultFromZeroAndNamesTheServingBundle) {
  ServerMetrics metrics;
  EXPECT_THAT(metrics.Serialize(),
              HasSubstr("sketchsearch_bundle_reloads_total{result=\"failed\"} 0"));
  metrics.RecordBundleReload("ok");
  metrics.RecordBundleReload("failed");
  metrics.RecordBundleReload("failed");
  metrics.SetBundleHash("aaa");
  metrics.SetBundleHash("bbb");
  const std::string text = metrics.Serialize();
  EXPECT_THAT(text, HasSubstr("sketchsearch_bundle_reloads_total{result=\"ok\"} 1"));
  EXPECT_THAT(text, HasSubstr("sketchsearch_bundle_reloads_total{result=\"failed\"} 2"));
  EXPECT_THAT(text, HasSubstr("sketchsearch_bundle_reloads_total{result=\"unchanged\"} 0"));
  EXPECT_THAT(text, HasSubstr("sketchsearch_bundle_info{bundle_hash=\"bbb\"} 1"));
  EXPECT_THAT(text, Not(HasSubstr("bundle_hash=\"aaa\"")));
}

TEST(ServerMetricsTest, ExposerPicksAPortAndStartsOnce) {
  ServerMetrics metrics;
  EXPECT_EQ(metrics.port(), 0);
  ASSERT_TRUE(metrics.StartExposer("127.0.0.1:0").ok());
  EXPECT_GT(metrics.port(), 0);
  EXPECT_EQ(metrics.StartExposer("127.0.0.1:0").code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ServerMetricsTest, UnbindableAddressIsUnavailable) {
  ServerMetrics metrics;
  EXPECT_EQ(metrics.StartExposer("256.1.1.1:99999").code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace sketch
