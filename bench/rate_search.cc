#include "bench/rate_search.h"

#include <cmath>

namespace sketch {

RateSearch::RateSearch(double start_rate, double tolerance, int max_trials, double max_rate)
    : tolerance_(tolerance),
      max_trials_(max_trials),
      max_rate_(max_rate),
      lo_(start_rate),
      hi_(NAN),
      best_(NAN) {
  if (max_trials <= 0 || !(start_rate > 0)) phase_ = Phase::kDone;
}

double RateSearch::next_rate() const {
  switch (phase_) {
    case Phase::kFindLow:
      return lo_;
    case Phase::kDouble:
      return 2 * lo_;
    case Phase::kBisect:
      return std::sqrt(lo_ * hi_);
    case Phase::kDone:
      break;
  }
  return NAN;
}

void RateSearch::Record(bool passed) {
  const double rate = next_rate();
  ++trials_;
  if (passed) {
    lo_ = best_ = rate;
  } else {
    hi_ = rate;
  }
  if (phase_ == Phase::kFindLow && !passed) {
    if (++halvings_ > 2) {
      phase_ = Phase::kDone;
    } else {
      lo_ = rate / 2;
    }
  } else if (phase_ == Phase::kFindLow || phase_ == Phase::kDouble) {
    phase_ = std::isnan(hi_) ? Phase::kDouble : Phase::kBisect;
  }
  if (phase_ == Phase::kDouble && 2 * lo_ > max_rate_) phase_ = Phase::kDone;
  if (phase_ == Phase::kBisect && hi_ / lo_ <= 1 + tolerance_) phase_ = Phase::kDone;
  if (trials_ >= max_trials_) phase_ = Phase::kDone;
}

}  // namespace sketch
