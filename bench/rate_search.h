// RateSearch: the search for the highest arrival rate whose trial passes (MLPerf's server
// scenario, where a trial passes when its p99 latency is within the bound). Benchmark support.
#ifndef SKETCH_BENCH_RATE_SEARCH_H_
#define SKETCH_BENCH_RATE_SEARCH_H_

namespace sketch {

// From `start_rate`: find a passing low rate (halving at most twice after a failure), double it
// until a trial fails, then bisect geometrically between the highest pass and the lowest failure
// until high / low <= 1 + tolerance. Stops after `max_trials`, and never tries above `max_rate`.
// The caller runs a trial at next_rate() and reports it with Record(). Assumes that passing is
// monotone in the rate; a noisy trial only narrows the bracket the wrong way. Not thread-safe.
class RateSearch {
 public:
  RateSearch(double start_rate, double tolerance, int max_trials, double max_rate);

  bool done() const { return phase_ == Phase::kDone; }
  // The rate to try next; meaningful while !done().
  double next_rate() const;
  // The outcome of the trial at next_rate().
  void Record(bool passed);

  double best_rate() const { return best_; }  // highest passing rate; NaN when none passed
  double failed_rate() const { return hi_; }  // lowest failing rate above it; NaN when none
  int trials() const { return trials_; }

 private:
  enum class Phase { kFindLow, kDouble, kBisect, kDone };

  const double tolerance_;
  const int max_trials_;
  const double max_rate_;
  Phase phase_ = Phase::kFindLow;
  double lo_;  // the rate kFindLow tries, then the highest passing rate
  double hi_;  // the lowest failing rate
  double best_;
  int halvings_ = 0;
  int trials_ = 0;
};

}  // namespace sketch

#endif  // SKETCH_BENCH_RATE_SEARCH_H_
