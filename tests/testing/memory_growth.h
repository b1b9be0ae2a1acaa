// How fast a process's memory grows, from samples taken while it runs: for soak tests that
// bound a leak.
#ifndef SKETCH_TESTS_TESTING_MEMORY_GROWTH_H_
#define SKETCH_TESTS_TESTING_MEMORY_GROWTH_H_

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace sketch::testing {

// One sample: when (minutes since some start) and how much (MB).
struct MemorySample {
  double minute = 0;
  double mb = 0;
};

// The least-squares slope (MB per minute) through the samples taken in [from_minute,
// to_minute); NaN with fewer than two such samples at distinct times. One step in the memory (an
// allocator arena growing once) counts as growth spread over the whole window: a step in the
// middle of it as 1.5 times its height over the window's length.
inline double LeastSquaresSlope(const std::vector<MemorySample>& samples, double from_minute,
                                double to_minute = std::numeric_limits<double>::infinity()) {
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const MemorySample& s : samples) {
    if (s.minute < from_minute || s.minute >= to_minute) continue;
    n += 1;
    sx += s.minute;
    sy += s.mb;
    sxx += s.minute * s.minute;
    sxy += s.minute * s.mb;
  }
  const double denominator = n * sxx - sx * sx;
  return n >= 2 && denominator > 0 ? (n * sxy - sx * sy) / denominator : NAN;
}

// The growth (MB per minute) that persists through the samples taken at or after from_minute:
// the smaller of the least-squares slopes of the window's two halves (split at the middle of its
// time span); NaN when a half has fewer than two samples at distinct times. A leak (every call
// keeps a little) climbs at its rate in both halves, so this is its rate; memory that grows once
// and stops (a cache filling, an arena growing) climbs in one half at most, so this stays ~0
// wherever the step falls. Growth that recurs in both halves, steady or in steps, counts.
inline double PersistentSlope(const std::vector<MemorySample>& samples, double from_minute) {
  double first = std::numeric_limits<double>::infinity();
  double last = -std::numeric_limits<double>::infinity();
  for (const MemorySample& s : samples) {
    if (s.minute < from_minute) continue;
    first = std::min(first, s.minute);
    last = std::max(last, s.minute);
  }
  if (!(first < last)) return NAN;
  const double middle = (first + last) / 2;
  const double first_half = LeastSquaresSlope(samples, first, middle);
  const double second_half = LeastSquaresSlope(samples, middle);
  if (std::isnan(first_half) || std::isnan(second_half)) return NAN;
  return std::min(first_half, second_half);
}

}  // namespace sketch::testing

#endif  // SKETCH_TESTS_TESTING_MEMORY_GROWTH_H_
