#include "core/retrieval_metrics.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace sketch {

double AveragePrecision(absl::Span<const int> ranked_labels, int query_label, int num_relevant) {
  if (num_relevant <= 0) return 0.0;
  double sum = 0.0;
  int hits = 0;
  for (size_t k = 0; k < ranked_labels.size(); ++k) {
    if (ranked_labels[k] != query_label) continue;
    ++hits;
    sum += static_cast<double>(hits) / static_cast<double>(k + 1);
  }
  return sum / num_relevant;
}

double PrecisionAtK(absl::Span<const int> ranked_labels, int query_label, int k) {
  const size_t considered = std::min(ranked_labels.size(), static_cast<size_t>(std::max(k, 1)));
  if (considered == 0) return 0.0;
  const auto first = ranked_labels.begin();
  const auto hits = std::count(first, first + considered, query_label);
  return static_cast<double>(hits) / static_cast<double>(considered);
}

LeaveOneOutMapAccumulator::LeaveOneOutMapAccumulator(std::vector<int> labels)
    : labels_(std::move(labels)),
      average_precision_(labels_.size(), 0.0),
      precision_at_10_(labels_.size(), 0.0),
      done_(labels_.size(), false),
      seen_(labels_.size(), -1) {
  int num_classes = 0;
  for (int label : labels_) num_classes = std::max(num_classes, label + 1);
  class_size_.assign(num_classes, 0);
  for (int label : labels_) {
    if (label >= 0) ++class_size_[label];
  }
}

absl::Status LeaveOneOutMapAccumulator::AddRanking(int64_t query,
                                                   absl::Span<const int64_t> ranking) {
  const int64_t n = static_cast<int64_t>(labels_.size());
  if (query < 0 || query >= n || done_[query]) {
    return absl::InvalidArgumentError(absl::StrCat("query ", query, " is out of range or repeated"));
  }
  if (labels_[query] < 0) return absl::InvalidArgumentError("negative label");
  if (static_cast<int64_t>(ranking.size()) != n - 1) {
    return absl::InvalidArgumentError(absl::StrCat("ranking of query ", query, " has ",
                                                   ranking.size(), " items, expected ", n - 1));
  }
  ranked_labels_.clear();
  for (int64_t id : ranking) {
    if (id < 0 || id >= n || id == query || seen_[id] == query) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ranking of query ", query, " holds ", id, ": not a permutation of the other items"));
    }
    seen_[id] = query;
    ranked_labels_.push_back(labels_[id]);
  }
  const int label = labels_[query];
  average_precision_[query] = AveragePrecision(ranked_labels_, label, class_size_[label] - 1);
  precision_at_10_[query] = PrecisionAtK(ranked_labels_, label, kPrecisionAtK);
  done_[query] = true;
  return absl::OkStatus();
}

absl::StatusOr<RetrievalReport> LeaveOneOutMapAccumulator::Finish() const {
  RetrievalReport report;
  const int num_classes = static_cast<int>(class_size_.size());
  std::vector<double> class_sum(num_classes, 0.0);
  double total = 0, total_precision_at_10 = 0;
  for (size_t q = 0; q < labels_.size(); ++q) {
    if (!done_[q]) {
      return absl::FailedPreconditionError(absl::StrCat("query ", q, " has no ranking yet"));
    }
    total += average_precision_[q];
    total_precision_at_10 += precision_at_10_[q];
    class_sum[labels_[q]] += average_precision_[q];
  }
  report.average_precision = average_precision_;
  report.mean_average_precision = labels_.empty() ? 0.0 : total / labels_.size();
  report.precision_at_10 = precision_at_10_;
  report.mean_precision_at_10 = labels_.empty() ? 0.0 : total_precision_at_10 / labels_.size();
  report.per_class_map.assign(num_classes, std::nan(""));
  for (int c = 0; c < num_classes; ++c) {
    if (class_size_[c] > 0) report.per_class_map[c] = class_sum[c] / class_size_[c];
  }
  return report;
}

absl::StatusOr<RetrievalReport> LeaveOneOutMap(absl::Span<const int> labels,
                                               const std::vector<std::vector<int64_t>>& rankings) {
  if (rankings.size() != labels.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(rankings.size(), " rankings for ", labels.size(), " labelled items"));
  }
  LeaveOneOutMapAccumulator accumulator(std::vector<int>(labels.begin(), labels.end()));
  for (size_t q = 0; q < rankings.size(); ++q) {
    RETURN_IF_ERROR(accumulator.AddRanking(static_cast<int64_t>(q), rankings[q]));
  }
  return accumulator.Finish();
}

}  // namespace sketch
