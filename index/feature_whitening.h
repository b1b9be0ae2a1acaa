// FeatureWhitening: a PCA whitening of L2-normalized features, learned without labels from the
// features of a gallery, that makes their distances better at telling words apart (the
// components the features vary most along, shared by all drawings, stop dominating them). A
// vector goes through L2 normalization, the projection onto the `dims` principal axes, each
// scaled by 1 / sqrt(eigenvalue + shrink x the mean kept eigenvalue) (regularized whitening), and
// L2 normalization again. The projection is FAISS's PCAMatrix (eigen_power -0.5, epsilon),
// stored as its linear transform in FAISS's own file format. docs/results.md measures it.
#ifndef SKETCH_INDEX_FEATURE_WHITENING_H_
#define SKETCH_INDEX_FEATURE_WHITENING_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace faiss {
struct LinearTransform;
}

namespace sketch {

struct WhiteningOptions {
  int dims = 0;         // output dimension; 0: no whitening
  double shrink = 0.1;  // regularization, as a fraction of the mean kept eigenvalue; >= 0
  // The fit uses at most this many rows, a seeded random sample of them (a 1024-d covariance
  // costs O(rows x 1024^2)).
  int64_t max_fit_rows = 200000;
  uint64_t seed = 20180416;
};

// InvalidArgument naming the field for dims < 0, shrink < 0 or not finite, max_fit_rows < 1.
absl::Status ValidateWhiteningOptions(const WhiteningOptions& options);

class FeatureWhitening {
 public:
  // Fits on `features` (float [n, dimension], finite; L2-normalized here first). InvalidArgument
  // for a bad shape or options, dims outside 1..dimension, fewer than dims + 1 rows, or features
  // that span fewer than `dims` directions when shrink is 0 (a zero eigenvalue).
  static absl::StatusOr<std::unique_ptr<FeatureWhitening>> Fit(absl::Span<const float> features,
                                                               int dimension,
                                                               const WhiteningOptions& options);
  // Reads a whitening Save wrote. DataLoss naming `path` for anything FAISS cannot read as a
  // linear transform with a bias, or that holds a non-finite value.
  static absl::StatusOr<std::unique_ptr<FeatureWhitening>> Load(const std::string& path);
  ~FeatureWhitening();

  // Writes FAISS's VectorTransform file ("LTra": the matrix and the bias). Internal on I/O error.
  absl::Status Save(const std::string& path) const;

  int input_dimension() const;
  int output_dimension() const;

  // float [n, input_dimension()] -> float [n, output_dimension()]: normalized, whitened and
  // normalized again (the header comment). InvalidArgument for a bad shape or a non-finite value.
  // Thread-safe.
  absl::StatusOr<std::vector<float>> Apply(absl::Span<const float> features) const;

 private:
  explicit FeatureWhitening(std::unique_ptr<faiss::LinearTransform> transform);

  std::unique_ptr<faiss::LinearTransform> transform_;
};

}  // namespace sketch

#endif  // SKETCH_INDEX_FEATURE_WHITENING_H_
