// LoadTarget: one sketch-server configuration under test for the latency benchmark: the server
// as a child process (bench/child_server.h) with the client channels that drive it, for
// sequential calls, bursts and open-loop trials (bench/open_loop_load.h), each trial measured
// together with the server's own metrics. Benchmark support, not product code.
#ifndef SKETCH_BENCH_LOAD_TARGET_H_
#define SKETCH_BENCH_LOAD_TARGET_H_

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/child_server.h"
#include "bench/open_loop_load.h"
#include "sketchsearch/v1/sketch_search.grpc.pb.h"

namespace sketch {

// The sketch-server flags that differ between configurations, and the client's channels.
struct ServerLaunch {
  std::string binary;  // sketch-server
  std::string bundle;
  std::string precision = "fp32";
  int threads = 0;
  int max_batch_size = 1;
  int max_queue_delay_us = 2000;
  int channels = 4;  // client channels, each its own TCP connection
};

struct TrialRecord {
  TrialResult result;
  double mean_batch = NAN;    // drawings per model run over the trial (server metrics)
  double busy = NAN;          // share of the trial's wall time the model computed
  double server_cores = NAN;  // the server's CPU-s per s over the trial
  std::string load;           // 1-minute load average at the end of the trial
};

class LoadTarget {
 public:
  // Starts the server on 127.0.0.1 (ports 0) and connects the channels. The server runs under
  // bash with its stdout also copied by tee to a temporary file, so that its "serving" line
  // (which ChildServer reads and does not keep) can be shown; bash execs the server, so the
  // child's pid is the server's. Errors: ChildServer::Launch's.
  static absl::StatusOr<std::unique_ptr<LoadTarget>> Start(const ServerLaunch& launch);

  // What the server printed when it started serving: bundle, precision, threads; "" if unseen.
  const std::string& served() const { return served_; }

  absl::StatusOr<sketchsearch::v1::GetInfoResponse> Info();

  // `count` sequential Classify calls, one in flight, after 10 unmeasured: ms, ascending; a
  // failed call counts as infinitely slow.
  std::vector<double> SingleRequestLatencies(
      const std::vector<sketchsearch::v1::ClassifyRequest>& requests, int count);

  // `size` Classify calls sent at once (one batch when the batcher's worker is idle): the wall
  // ms until the last is answered.
  double Burst(int size, const std::vector<sketchsearch::v1::ClassifyRequest>& requests);

  // Waits until the server's model queue is empty (at most 10 s: a stopped trial's cancelled
  // calls may still be queued) and 300 ms more, then runs RunPoissonTrial, with the change of
  // the server's batch metrics and CPU time over it.
  TrialRecord Trial(const std::vector<sketchsearch::v1::ClassifyRequest>& requests,
                    const TrialOptions& options);

 private:
  LoadTarget(std::unique_ptr<ChildServer> child, std::string served, int channels);
  void WaitIdle();

  std::unique_ptr<ChildServer> child_;
  std::string served_;
  std::vector<std::unique_ptr<sketchsearch::v1::SketchSearch::Stub>> stubs_;
  std::vector<sketchsearch::v1::SketchSearch::Stub*> raw_stubs_;
};

}  // namespace sketch

#endif  // SKETCH_BENCH_LOAD_TARGET_H_
