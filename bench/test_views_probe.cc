// Test-time views of a drawing, measured before any of them becomes a serving option: embeds a
// dataset's test split once per view (a fixed affine map of the strokes: rotation, scale,
// mirror) with a trained model, and writes each view's logits and fc_1 features as .npy, with
// the labels, for bench/test_views_probe.py to average over sets of views (accuracy and
// leave-one-out mAP). A research probe, not part of the product.
//
//   sketch_test_views_probe --model out/runs/s16-sknet-r0 --dataset out/runs/strokes-16.skds
//     --out out/eval/views-r0 [--views id,mirror,rot+10,rot-10,...]
//
// A view is `id` (the drawing as served), `mirror`, `rot<deg>`, `sx<scale>` (x only), `sy<scale>`,
// each optionally prefixed `m` (mirrored as well, e.g. `mrot+10`).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/affine_map.h"
#include "core/atomic_file.h"
#include "core/dataset.h"
#include "core/npy_format.h"
#include "core/status_macros.h"
#include "models/inference_engine.h"
#include "trainer/run_files.h"

namespace sketch {
namespace {

absl::StatusOr<Affine> ParseView(std::string view) {
  bool mirror = false;
  if (view == "mirror") return Affine{-1.0f, 0.0f, 0.0f, 1.0f};
  if (view.size() > 1 && view[0] == 'm') {  // "mirror" itself was answered above
    mirror = true;
    view = view.substr(1);
  }
  Affine a;
  double value = 0.0;
  if (view == "id") {
  } else if (view.rfind("rot", 0) == 0 && absl::SimpleAtod(view.substr(3), &value)) {
    a = RotationAffine(value);
  } else if (view.rfind("sx", 0) == 0 && absl::SimpleAtod(view.substr(2), &value)) {
    a.a = static_cast<float>(value);
  } else if (view.rfind("sy", 0) == 0 && absl::SimpleAtod(view.substr(2), &value)) {
    a.d = static_cast<float>(value);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown view \"", view, "\""));
  }
  if (mirror) {  // a * diag(-1, 1)
    a.a = -a.a;
    a.c = -a.c;
  }
  return a;
}

absl::Status Run(const std::string& model_dir, const std::string& dataset_path,
                 const std::string& out_dir, const std::vector<std::string>& views, int batch) {
  ASSIGN_OR_RETURN(TrainedModel model, LoadTrainedModel(model_dir));
  ASSIGN_OR_RETURN(Dataset dataset, ReadDataset(dataset_path));
  Preprocessing preprocessing = model.preprocessing;
  preprocessing.test_time = TestTimeViews();
  ASSIGN_OR_RETURN(std::unique_ptr<InferenceEngine> engine,
                   InferenceEngine::Create(*model.model, preprocessing, Precision::kFp32));
  const int64_t n = static_cast<int64_t>(dataset.test.size());
  std::vector<float> labels;
  for (const DatasetExample& e : dataset.test) labels.push_back(static_cast<float>(e.label));
  RETURN_IF_ERROR(WriteFileAtomically(out_dir + "/labels.npy", EncodeNpyFloat32(labels, {n})));
  for (const std::string& view : views) {
    ASSIGN_OR_RETURN(const Affine affine, ParseView(view));
    std::vector<float> logits, features;
    std::vector<Sketch> mapped(static_cast<size_t>(batch));
    for (int64_t start = 0; start < n; start += batch) {
      const int64_t count = std::min<int64_t>(batch, n - start);
      std::vector<const Sketch*> pointers;
      for (int64_t i = 0; i < count; ++i) {
        const Sketch& sketch = dataset.test[start + i].sketch;
        if (view == "id") {  // as served: not re-fitted by ApplyAffine (which rounds the points)
          pointers.push_back(&sketch);
          continue;
        }
        RETURN_IF_ERROR(ApplyAffine(sketch, affine, &mapped[i]));
        pointers.push_back(&mapped[i]);
      }
      ASSIGN_OR_RETURN(InferenceOutput out, engine->RunSketches(pointers));
      logits.insert(logits.end(), out.logits.data_ptr<float>(),
                    out.logits.data_ptr<float>() + out.logits.numel());
      features.insert(features.end(), out.features.data_ptr<float>(),
                      out.features.data_ptr<float>() + out.features.numel());
    }
    const int64_t classes = static_cast<int64_t>(logits.size()) / n;
    const int64_t dims = static_cast<int64_t>(features.size()) / n;
    RETURN_IF_ERROR(WriteFileAtomically(absl::StrCat(out_dir, "/logits_", view, ".npy"),
                                        EncodeNpyFloat32(logits, {n, classes})));
    RETURN_IF_ERROR(WriteFileAtomically(absl::StrCat(out_dir, "/features_", view, ".npy"),
                                        EncodeNpyFloat32(features, {n, dims})));
    std::fprintf(stderr, "view %s: %lld drawings\n", view.c_str(), static_cast<long long>(n));
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace sketch

int main(int argc, char** argv) {
  CLI::App app{"embed a dataset's test split under fixed test-time views (a probe)"};
  std::string model, dataset, out, views = "id,mirror,rot+8,rot-8,mrot+8,mrot-8,sx0.9,sy0.9";
  int batch = 64;
  app.add_option("--model", model, "a `train` output directory")->required();
  app.add_option("--dataset", dataset, "the dataset it was trained on")->required();
  app.add_option("--out", out, "an existing directory for the .npy files")->required();
  app.add_option("--views", views, "comma-separated views")->capture_default_str();
  app.add_option("--batch", batch, "inference batch")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  const absl::Status status = sketch::Run(model, dataset, out, absl::StrSplit(views, ','), batch);
  if (!status.ok()) {
    std::fprintf(stderr, "sketch_test_views_probe: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
