#include "server/bundle_loader.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bundle/bundle_files.h"
#include "bundle/model_bundle.h"
#include "core/status_macros.h"
#include "index/query_expanding_index.h"
#include "index/query_normalizing_index.h"
#include "models/torch_runtime.h"
#include "server/torch_embedder.h"

namespace sketch {
namespace {

absl::Status InDir(const std::string& dir, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat("bundle ", dir, ": ", status.message()));
}

}  // namespace

absl::StatusOr<ServableBundle> LoadServableBundle(const std::string& dir,
                                                  const ModelServingOptions& options) {
  absl::StatusOr<Precision> precision = ParsePrecision(options.precision);
  if (!precision.ok()) return precision.status();
  // Process-wide, so once: a reload must not change them under the model serving meanwhile.
  static std::once_flag process_settings;
  std::call_once(process_settings, [&options] {
    // Before the model exists, so the warm-up already runs with the serving thread count.
    SetTorchThreads(options.threads);
    // Every batch allocates tens of MB of activations: reuse heap memory instead of faulting in
    // fresh mmap-ed pages each time (bench/models_bench.cc --malloc; ~25% more images per CPU-s).
    KeepLargeAllocationsInHeap();
  });

  absl::StatusOr<ModelBundle> bundle = LoadBundle(dir);
  if (!bundle.ok()) return bundle.status();  // its messages name the directory already
  TorchEmbedderOptions embedder_options;
  embedder_options.precision = *precision;
  embedder_options.device = options.device;
  embedder_options.warmup_max_batch_size = options.warmup_max_batch_size;
  absl::StatusOr<std::unique_ptr<TorchEmbedder>> embedder =
      TorchEmbedder::Create(bundle->model, embedder_options);
  if (!embedder.ok()) return InDir(dir, embedder.status());

  ServableBundle servable;
  const BundleManifest& manifest = bundle->manifest;
  servable.precision = std::string(PrecisionName((*embedder)->precision()));
  servable.threads = at::get_num_threads();
  servable.embedder = *std::move(embedder);
  servable.index_l2_normalized = manifest.index_l2_normalized;
  servable.index_whitening_dims = manifest.index_whitening_dims;
  if (absl::Status knobs = bundle->index->SetDefaultKnobs(options.default_knobs); !knobs.ok()) {
    return InDir(dir, knobs);
  }
  const IndexDescription index_description{manifest.index_type,
                                           bundle->index->exact(),
                                           manifest.index_recall_at_10,
                                           bundle->index->default_knobs(),
                                           manifest.index_query_expansion_neighbors,
                                           manifest.index_query_expansion_alpha};
  // A query is normalized (QueryNormalizingIndex), then expanded (QueryExpandingIndex, which the
  // manifest allows only over L2-normalized rows), then searched.
  std::unique_ptr<const FeatureIndex> searched;
  if (manifest.index_query_expansion_neighbors > 0) {
    absl::StatusOr<std::unique_ptr<QueryExpandingIndex>> expanding = QueryExpandingIndex::Create(
        std::move(bundle->index),
        {manifest.index_query_expansion_neighbors, manifest.index_query_expansion_alpha});
    if (!expanding.ok()) return InDir(dir, expanding.status());
    searched = *std::move(expanding);
  } else {
    searched = std::move(bundle->index);
  }
  if (manifest.index_l2_normalized) {
    servable.index =
        std::make_unique<QueryNormalizingIndex>(std::move(searched), bundle->whitening);
  } else {
    servable.index = std::move(searched);
  }
  servable.info = BundleInfo{manifest.architecture,
                             bundle->bundle_hash,
                             manifest.recipe,
                             manifest.metrics,
                             index_description,
                             std::move(bundle->drawings),
                             ViewCount(bundle->model.preprocessing.test_time)};
  return servable;
}

int WarmupMaxBatchSizeFor(int max_batch_size) {
  constexpr int kLargestWarmedUp = 64;
  return std::clamp(max_batch_size, 1, kLargestWarmedUp);
}

absl::StatusOr<std::string> ReadBundleHash(const std::string& dir) {
  return HashBundleFile(dir, "manifest.json", BundleLimits());  // its errors name the file
}

}  // namespace sketch
