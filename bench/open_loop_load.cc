#include "bench/open_loop_load.h"

#include <grpcpp/client_context.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <limits>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;
using Clock = std::chrono::steady_clock;
constexpr double kInfinity = std::numeric_limits<double>::infinity();
// How often the sender looks at the early-stop rule while it waits.
constexpr auto kCheckEvery = std::chrono::milliseconds(10);

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// One call in flight; owned by the trial until the trial returns, so that gRPC's completion
// callback never races the context's destruction.
struct Call {
  grpc::ClientContext context;
  v1::ClassifyResponse response;
};

// One trial. The thread that calls Run schedules, sends and checks the early-stop rule; gRPC's
// callback threads run OnDone, each for its own query index.
class PoissonTrial {
 public:
  PoissonTrial(const std::vector<v1::SketchSearch::Stub*>& stubs,
               const std::vector<v1::ClassifyRequest>& requests, const TrialOptions& options)
      : stubs_(stubs),
        requests_(requests),
        options_(options),
        n_(std::max<int64_t>(options.min_queries, static_cast<int64_t>(std::ceil(
                                                      options.rate * options.min_duration_s)))),
        allowed_over_(n_ - static_cast<int64_t>(std::ceil(0.99 * static_cast<double>(n_)))),
        bound_ms_(absl::ToDoubleMilliseconds(options.bound)),
        due_(n_),
        request_of_(n_),
        latency_ms_(n_, kInfinity),
        lag_ms_(n_, 0),
        done_(new std::atomic<bool>[n_]),
        calls_(n_) {
    for (int64_t i = 0; i < n_; ++i) done_[i].store(false);
  }

  TrialResult Run() {
    Schedule();
    Clock::time_point next_check = Clock::now();
    for (int64_t i = 0; i < n_ && !stopping_.load(); ++i) {
      while (true) {
        const Clock::time_point now = Clock::now();
        if (now >= next_check) {
          if (OverBudget(now)) stopping_.store(true);
          next_check = now + kCheckEvery;
        }
        if (stopping_.load() || now >= due_[i]) break;
        std::this_thread::sleep_until(std::min(due_[i], next_check));
      }
      if (!stopping_.load()) Send(i);
    }
    WaitAllAnswered();
    return Summarize(Clock::now());
  }

 private:
  // Arrival times: exponential gaps of mean 1 / rate; requests: uniform over `requests_`.
  void Schedule() {
    std::mt19937_64 arrivals(options_.seed);
    std::mt19937_64 samples(options_.seed ^ 0x9e3779b97f4a7c15ULL);
    std::exponential_distribution<double> gap(options_.rate);
    std::uniform_int_distribution<size_t> pick(0, requests_.size() - 1);
    start_ = Clock::now() + std::chrono::milliseconds(5);
    double t = 0;
    for (int64_t i = 0; i < n_; ++i) {
      t += gap(arrivals);
      due_[i] =
          start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(t));
      request_of_[i] = pick(samples);
    }
  }

  void Send(int64_t i) {
    calls_[i] = std::make_unique<Call>();
    Call* call = calls_[i].get();
    const Clock::time_point now = Clock::now();
    lag_ms_[i] = Ms(now - due_[i]);
    const auto left = due_[i] + absl::ToChronoNanoseconds(options_.call_timeout) - now;
    call->context.set_deadline(
        std::chrono::system_clock::now() +
        std::chrono::duration_cast<std::chrono::system_clock::duration>(left));
    ++sent_;
    stubs_[static_cast<size_t>(i) % stubs_.size()]->async()->Classify(
        &call->context, &requests_[request_of_[i]], &call->response,
        [this, i](grpc::Status status) { OnDone(i, status); });
  }

  void OnDone(int64_t i, const grpc::Status& status) {
    const Clock::time_point now = Clock::now();
    const bool cancelled_by_us =
        stopping_.load() && status.error_code() == grpc::StatusCode::CANCELLED;
    latency_ms_[i] = status.ok() ? Ms(now - due_[i]) : kInfinity;
    // Counted before done_ is published: OverBudget reads done_ first, then over_bound_.
    if (latency_ms_[i] > bound_ms_) over_bound_.fetch_add(1);
    done_[i].store(true, std::memory_order_release);
    std::lock_guard<std::mutex> lock(mu_);
    if (!status.ok() && !cancelled_by_us && errors_++ == 0) {
      first_error_ = std::to_string(status.error_code()) + ": " + status.error_message();
    }
    ++answered_;
    // Under the lock: once it is released the sender may return and destroy the trial.
    answered_cv_.notify_all();
  }

  // True once more than 1 % of the scheduled queries are over the bound: answered late or
  // failed, or sent (or due) longer than the bound ago and still unanswered. Sender thread only.
  bool OverBudget(Clock::time_point now) {
    while (oldest_pending_ < sent_ && done_[oldest_pending_].load(std::memory_order_acquire)) {
      ++oldest_pending_;
    }
    const Clock::time_point cutoff = now - absl::ToChronoNanoseconds(options_.bound);
    int64_t late = 0;
    for (int64_t i = oldest_pending_; i < n_ && due_[i] < cutoff; ++i) {
      if (i >= sent_ || !done_[i].load(std::memory_order_acquire)) ++late;
    }
    return over_bound_.load() + late > allowed_over_;
  }

  void WaitAllAnswered() {
    bool cancelled = false;
    std::unique_lock<std::mutex> lock(mu_);
    while (answered_ < sent_) {
      lock.unlock();
      if (!stopping_.load() && OverBudget(Clock::now())) stopping_.store(true);
      if (stopping_.load() && !cancelled) {
        for (int64_t i = oldest_pending_; i < sent_; ++i) {
          if (!done_[i].load(std::memory_order_acquire)) calls_[i]->context.TryCancel();
        }
        cancelled = true;
      }
      lock.lock();
      answered_cv_.wait_for(lock, kCheckEvery);
    }
  }

  TrialResult Summarize(Clock::time_point end) {
    TrialResult r;
    r.rate = options_.rate;
    r.scheduled = n_;
    r.sent = sent_;
    r.over_bound = over_bound_.load();
    r.stopped_early = stopping_.load();
    r.bound_ms = bound_ms_;
    {
      std::lock_guard<std::mutex> lock(mu_);
      r.errors = errors_;
      r.first_error = first_error_;
    }
    std::vector<double> latency(latency_ms_.begin(), latency_ms_.begin() + sent_);
    std::vector<double> lag(lag_ms_.begin(), lag_ms_.begin() + sent_);
    std::sort(latency.begin(), latency.end());
    std::sort(lag.begin(), lag.end());
    r.p50_ms = Percentile(latency, 0.5);
    r.p90_ms = Percentile(latency, 0.9);
    r.p99_ms = Percentile(latency, 0.99);
    r.max_ms = latency.empty() ? NAN : latency.back();
    r.send_lag_p99_ms = Percentile(lag, 0.99);
    r.seconds = Ms(end - start_) / 1000;
    return r;
  }

  const std::vector<v1::SketchSearch::Stub*>& stubs_;
  const std::vector<v1::ClassifyRequest>& requests_;
  const TrialOptions options_;
  const int64_t n_;             // scheduled queries
  const int64_t allowed_over_;  // n - ceil(0.99 n): more over the bound and p99 is over it
  const double bound_ms_;
  Clock::time_point start_;
  std::vector<Clock::time_point> due_;  // scheduled send times
  std::vector<size_t> request_of_;
  std::vector<double> latency_ms_;  // [i] written by OnDone(i), read after all answered
  std::vector<double> lag_ms_;
  std::unique_ptr<std::atomic<bool>[]> done_;
  std::vector<std::unique_ptr<Call>> calls_;
  int64_t sent_ = 0;            // sender thread only
  int64_t oldest_pending_ = 0;  // sender thread only: every query before it is answered
  std::atomic<int64_t> over_bound_{0};
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable answered_cv_;
  int64_t answered_ = 0;     // guarded by mu_
  int64_t errors_ = 0;       // guarded by mu_
  std::string first_error_;  // guarded by mu_
};

}  // namespace

double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return NAN;
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

TrialResult RunPoissonTrial(const std::vector<v1::SketchSearch::Stub*>& stubs,
                            const std::vector<v1::ClassifyRequest>& requests,
                            const TrialOptions& options) {
  PoissonTrial trial(stubs, requests, options);
  return trial.Run();
}

}  // namespace sketch
