// Test helper: whether a ranking (class labels or index ids, with their probabilities or
// distances) is the expected one, allowing for the last-bit rounding of batches of other sizes.
#ifndef SKETCH_TESTS_TESTING_SAME_RANKING_H_
#define SKETCH_TESTS_TESTING_SAME_RANKING_H_

#include <cmath>
#include <vector>

namespace sketch::testing {

// The same entries in the same order, values within 1e-4; entries whose expected values lie
// within 1e-4 of each other may come in either order.
template <typename Id>
bool SameRanking(const std::vector<Id>& want_ids, const std::vector<float>& want_values,
                 const std::vector<Id>& got_ids, const std::vector<float>& got_values) {
  if (want_ids.size() != got_ids.size() || got_values.size() != got_ids.size()) return false;
  for (size_t i = 0; i < want_ids.size(); ++i) {
    if (std::fabs(want_values[i] - got_values[i]) > 1e-4f) return false;
    if (want_ids[i] == got_ids[i]) continue;
    bool tie = false;
    for (size_t j = 0; j < want_ids.size(); ++j) {
      tie |= want_ids[j] == got_ids[i] && std::fabs(want_values[j] - want_values[i]) <= 1e-4f;
    }
    if (!tie) return false;
  }
  return true;
}

}  // namespace sketch::testing

#endif  // SKETCH_TESTS_TESTING_SAME_RANKING_H_
