#include "index/feature_whitening.h"

#include <faiss/VectorTransform.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_io.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/random.h"
#include "core/status_macros.h"
#include "index/faiss_index_builder.h"
#include "index/l2_normalize.h"

namespace sketch {
namespace {

using idx_t = faiss::Index::idx_t;

// `features` L2-normalized, all of them or a seeded random sample of `max_rows`, in row order.
std::vector<float> NormalizedSample(absl::Span<const float> features, int dimension,
                                    int64_t max_rows, uint64_t seed) {
  const int64_t n = static_cast<int64_t>(features.size() / dimension);
  std::vector<float> sample;
  if (n <= max_rows) {
    sample.assign(features.begin(), features.end());
  } else {
    std::vector<int64_t> ids(n);
    std::iota(ids.begin(), ids.end(), 0);
    Rng rng(seed);
    rng.Shuffle(&ids);
    ids.resize(max_rows);
    std::sort(ids.begin(), ids.end());
    sample.reserve(static_cast<size_t>(max_rows) * dimension);
    for (int64_t id : ids) {
      sample.insert(sample.end(), features.begin() + id * dimension,
                    features.begin() + (id + 1) * dimension);
    }
  }
  L2NormalizeRows(&sample, dimension);
  return sample;
}

}  // namespace

absl::Status ValidateWhiteningOptions(const WhiteningOptions& options) {
  if (options.dims < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("whitening dims ", options.dims, " must be >= 0 (0: none)"));
  }
  if (!(options.shrink >= 0) || !std::isfinite(options.shrink)) {
    return absl::InvalidArgumentError(
        absl::StrCat("whitening shrink ", options.shrink, " must be a finite number >= 0"));
  }
  if (options.max_fit_rows < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("whitening max_fit_rows ", options.max_fit_rows, " must be >= 1"));
  }
  return absl::OkStatus();
}

FeatureWhitening::FeatureWhitening(std::unique_ptr<faiss::LinearTransform> transform)
    : transform_(std::move(transform)) {}

FeatureWhitening::~FeatureWhitening() = default;

absl::StatusOr<std::unique_ptr<FeatureWhitening>> FeatureWhitening::Fit(
    absl::Span<const float> features, int dimension, const WhiteningOptions& options) {
  RETURN_IF_ERROR(ValidateWhiteningOptions(options));
  if (dimension <= 0 || options.dims < 1 || options.dims > dimension) {
    return absl::InvalidArgumentError(absl::StrCat("whitening to ", options.dims, " dimensions of ",
                                                   dimension, "-d features: dims must be in 1..",
                                                   dimension));
  }
  RETURN_IF_ERROR(CheckRows(features, dimension, "features"));
  const std::vector<float> sample =
      NormalizedSample(features, dimension, options.max_fit_rows, options.seed);
  const idx_t n = static_cast<idx_t>(sample.size() / dimension);
  if (n <= options.dims) {
    return absl::InvalidArgumentError(absl::StrCat("whitening to ", options.dims,
                                                   " dimensions needs at least ", options.dims + 1,
                                                   " features; got ", n));
  }
  auto pca = std::make_unique<faiss::PCAMatrix>(dimension, options.dims, /*eigen_power=*/0.0f);
  pca->max_points_per_d = static_cast<size_t>(n / dimension + 1);  // the sample is all of it
  try {
    pca->train(n, sample.data());
  } catch (const faiss::FaissException& e) {
    return absl::InvalidArgumentError(absl::StrCat("whitening fit failed: ", e.what()));
  }
  // Eigenvalues come sorted, largest first; the regularizer is relative to the kept ones.
  double kept = 0;
  for (int i = 0; i < options.dims; ++i) kept += std::max(0.0f, pca->eigenvalues[i]);
  pca->epsilon = static_cast<float>(options.shrink * kept / options.dims);
  const float smallest = pca->eigenvalues[options.dims - 1] + pca->epsilon;
  if (!(smallest > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the features span fewer than ", options.dims,
                     " directions: whiten to fewer dimensions, or with a shrink above 0"));
  }
  pca->eigen_power = -0.5f;
  pca->prepare_Ab();
  // Only the linear map is kept: the eigenvectors beyond `dims` (4 MB at 1024-d) are not needed.
  auto transform = std::make_unique<faiss::LinearTransform>(dimension, options.dims, true);
  transform->A = std::move(pca->A);
  transform->b = std::move(pca->b);
  transform->is_trained = true;
  return std::unique_ptr<FeatureWhitening>(new FeatureWhitening(std::move(transform)));
}

absl::StatusOr<std::unique_ptr<FeatureWhitening>> FeatureWhitening::Load(const std::string& path) {
  std::unique_ptr<faiss::VectorTransform> read;
  try {
    read.reset(faiss::read_VectorTransform(path.c_str()));
  } catch (const faiss::FaissException& e) {
    return absl::DataLossError(absl::StrCat(path, ": not a FAISS vector transform: ", e.what()));
  }
  auto* linear = dynamic_cast<faiss::LinearTransform*>(read.get());
  if (linear == nullptr || !linear->have_bias || linear->d_in < 1 || linear->d_out < 1 ||
      linear->A.size() != static_cast<size_t>(linear->d_in) * linear->d_out ||
      linear->b.size() != static_cast<size_t>(linear->d_out) || !linear->is_trained) {
    return absl::DataLossError(absl::StrCat(path, ": not a trained linear transform with a bias"));
  }
  if (!CheckFinite(linear->A, "matrix").ok() || !CheckFinite(linear->b, "bias").ok()) {
    return absl::DataLossError(absl::StrCat(path, ": holds a value that is not finite"));
  }
  read.release();
  return std::unique_ptr<FeatureWhitening>(
      new FeatureWhitening(std::unique_ptr<faiss::LinearTransform>(linear)));
}

absl::Status FeatureWhitening::Save(const std::string& path) const {
  try {
    faiss::write_VectorTransform(transform_.get(), path.c_str());
  } catch (const faiss::FaissException& e) {
    return absl::InternalError(absl::StrCat("cannot write ", path, ": ", e.what()));
  }
  return absl::OkStatus();
}

int FeatureWhitening::input_dimension() const { return transform_->d_in; }

int FeatureWhitening::output_dimension() const { return transform_->d_out; }

absl::StatusOr<std::vector<float>> FeatureWhitening::Apply(absl::Span<const float> features) const {
  RETURN_IF_ERROR(CheckRows(features, input_dimension(), "features"));
  std::vector<float> normalized(features.begin(), features.end());
  L2NormalizeRows(&normalized, input_dimension());
  const idx_t n = static_cast<idx_t>(normalized.size() / input_dimension());
  std::vector<float> whitened(static_cast<size_t>(n) * output_dimension());
  transform_->apply_noalloc(n, normalized.data(), whitened.data());
  L2NormalizeRows(&whitened, output_dimension());
  return whitened;
}

}  // namespace sketch
