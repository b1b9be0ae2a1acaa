#include "models/preprocessing.h"

#include <torch/torch.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/affine_map.h"
#include "core/status_macros.h"

namespace sketch {
namespace {

constexpr float kInv255 = 1.0f / 255.0f;

}  // namespace

int RotationViewCount(const TestTimeViews& views) { return views.rotation_degrees > 0.0f ? 3 : 1; }

int ViewCount(const TestTimeViews& views) {
  return (views.mirror ? 2 : 1) * RotationViewCount(views);
}

int InputPlaneCount(const Preprocessing& preprocessing) {
  return RasterChannelCount(preprocessing.raster.channels) *
         RotationViewCount(preprocessing.test_time);
}

absl::Status ValidatePreprocessing(const Preprocessing& preprocessing) {
  const Normalization& n = preprocessing.normalization;
  if (!std::isfinite(n.mean) || !std::isfinite(n.std) || n.std <= 0.0f) {
    return absl::InvalidArgumentError(
        absl::StrCat("normalization needs a finite mean and std > 0, got ", n.mean, ", ", n.std));
  }
  const float rotation = preprocessing.test_time.rotation_degrees;
  // Written so that NaN fails too.
  if (!(rotation >= 0.0f && rotation <= kMaxViewRotationDegrees)) {
    return absl::InvalidArgumentError(absl::StrCat("the test-time view rotation must be 0 to ",
                                                   kMaxViewRotationDegrees, " degrees, got ",
                                                   rotation));
  }
  if (n.mean_image.empty()) return absl::OkStatus();
  if (preprocessing.raster.channels != RasterChannels::kInk) {
    return absl::InvalidArgumentError(
        absl::StrCat("a mean image needs raster channels 'ink', not '",
                     RasterChannelsName(preprocessing.raster.channels), "'"));
  }
  const size_t pixels = static_cast<size_t>(preprocessing.raster.size) * preprocessing.raster.size;
  if (preprocessing.raster.size <= 0 || n.mean_image.size() != pixels) {
    return absl::InvalidArgumentError(absl::StrCat("mean image has ", n.mean_image.size(),
                                                   " pixels; raster size ",
                                                   preprocessing.raster.size, " needs ", pixels));
  }
  for (float v : n.mean_image) {
    if (!std::isfinite(v)) return absl::InvalidArgumentError("mean image has non-finite values");
  }
  return absl::OkStatus();
}

namespace {

// One view's planes: `sketch` rasterized and normalized into out[0 .. channels*size*size).
absl::Status RenderView(const Sketch& sketch, const Preprocessing& preprocessing,
                        std::vector<uint8_t>* scratch, float* out) {
  if (auto status = Rasterize(sketch, preprocessing.raster, scratch); !status.ok()) return status;
  const Normalization& n = preprocessing.normalization;
  const float inv_std = 1.0f / n.std;
  const uint8_t* pixels = scratch->data();
  const size_t count = scratch->size();
  if (n.mean_image.empty()) {
    for (size_t p = 0; p < count; ++p) out[p] = (pixels[p] * kInv255 - n.mean) * inv_std;
  } else {
    const float* mean = n.mean_image.data();
    for (size_t p = 0; p < count; ++p) out[p] = (pixels[p] * kInv255 - mean[p]) * inv_std;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RenderInput(const Sketch& sketch, const Preprocessing& preprocessing,
                         std::vector<uint8_t>* scratch, float* out) {
  RETURN_IF_ERROR(RenderView(sketch, preprocessing, scratch, out));
  if (RotationViewCount(preprocessing.test_time) == 1) return absl::OkStatus();
  const float degrees = preprocessing.test_time.rotation_degrees;
  const size_t view_floats = scratch->size();  // the planes Rasterize just wrote
  Sketch rotated;
  for (const float turn : {degrees, -degrees}) {
    RETURN_IF_ERROR(ApplyAffine(sketch, RotationAffine(turn), &rotated));
    out += view_floats;
    RETURN_IF_ERROR(RenderView(rotated, preprocessing, scratch, out));
  }
  return absl::OkStatus();
}

absl::StatusOr<torch::Tensor> RasterizeBatch(const std::vector<const Sketch*>& sketches,
                                             const Preprocessing& preprocessing) {
  if (sketches.empty()) return absl::InvalidArgumentError("RasterizeBatch: no sketches");
  if (auto status = ValidatePreprocessing(preprocessing); !status.ok()) return status;
  const int64_t s = preprocessing.raster.size;
  const int64_t c = InputPlaneCount(preprocessing);
  torch::Tensor images;
  try {
    images = torch::empty({static_cast<int64_t>(sketches.size()), c, s, s}, torch::kFloat);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("RasterizeBatch: ", e.what_without_backtrace()));
  }
  float* data = images.data_ptr<float>();
  std::vector<uint8_t> scratch;
  for (size_t i = 0; i < sketches.size(); ++i) {
    if (sketches[i] == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("RasterizeBatch: sketch ", i, " is null"));
    }
    absl::Status status = RenderInput(*sketches[i], preprocessing, &scratch, data + i * c * s * s);
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("sketch ", i, ": ", status.message()));
    }
  }
  return images;
}

}  // namespace sketch
