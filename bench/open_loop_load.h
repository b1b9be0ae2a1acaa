// Open-loop load by the MLPerf Inference "server" scenario: Classify calls sent at Poisson
// arrival times from a seeded RNG over gRPC's callback API (a send never waits for earlier
// calls), each call's latency counted from its scheduled send time, so a client that falls
// behind counts against the server. Benchmark support, not product code.
#ifndef SKETCH_BENCH_OPEN_LOOP_LOAD_H_
#define SKETCH_BENCH_OPEN_LOOP_LOAD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "sketchsearch/v1/sketch_search.grpc.pb.h"

namespace sketch {

struct TrialOptions {
  double rate = 10;  // mean arrivals per second
  // A trial schedules max(min_queries, rate * min_duration_s) queries (MLPerf: both minimums
  // must be met).
  double min_duration_s = 20;
  int64_t min_queries = 1000;
  // The p99 latency bound. The trial stops early, cancelling the calls in flight, once more
  // than 1 % of its scheduled queries are over it (answered late, failed, or still unanswered
  // past it): its p99 can no longer meet the bound.
  absl::Duration bound = absl::Milliseconds(100);
  // Each call's deadline, counted from its scheduled send time.
  absl::Duration call_timeout = absl::Seconds(10);
  // Seeds the arrival times and the choice of request. The same seed gives every trial the
  // same arrival pattern, scaled by its rate, and the same requests in the same order.
  uint64_t seed = 1;
};

struct TrialResult {
  double rate = 0;
  int64_t scheduled = 0;  // queries the trial would send
  int64_t sent = 0;
  int64_t errors = 0;  // calls that failed (not counting those the early stop cancelled)
  std::string first_error;
  int64_t over_bound = 0;  // answered later than the bound, or failed
  bool stopped_early = false;
  // Latency percentiles (nearest rank) over the calls sent, a failed call counting as
  // infinitely late; meaningful when !stopped_early.
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
  double send_lag_p99_ms = 0;  // how late the client sent, against the schedule
  double seconds = 0;          // wall time, first scheduled send to the last answer
  double bound_ms = 0;

  // Every scheduled query sent and p99 within the bound.
  bool passed() const { return !stopped_early && sent == scheduled && p99_ms <= bound_ms; }
};

// Runs one trial: Classify(requests[j]) with j drawn uniformly, each call on the next of `stubs`
// in turn. Returns once every call it sent has finished. `stubs` and `requests` must be
// non-empty and outlive the call. Not for concurrent use on the same server: trials would
// measure each other.
TrialResult RunPoissonTrial(const std::vector<sketchsearch::v1::SketchSearch::Stub*>& stubs,
                            const std::vector<sketchsearch::v1::ClassifyRequest>& requests,
                            const TrialOptions& options);

// Nearest-rank percentile, q in (0, 1], of ascending `sorted`; NaN when empty.
double Percentile(const std::vector<double>& sorted, double q);

}  // namespace sketch

#endif  // SKETCH_BENCH_OPEN_LOOP_LOAD_H_
