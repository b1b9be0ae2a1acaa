#include "server/bundle_loader.h"

#include <ATen/Parallel.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "core/torch_runtime.h"
#include "index/leave_one_out.h"
#include "server/torch_embedder.h"
#include "trainer/model_bundle.h"

namespace sketch {
namespace {

// An index of L2-normalized features that scales each query to unit norm before searching.
// Whether queries need it is a property of the bundle, known only once it is loaded, while
// SketchServer fixes the Searcher's options (l2_normalize_queries) at Start, before loading; so
// the index carries it. L2NormalizeRows is the function that normalized the indexed rows offline,
// so a drawing of the test set finds itself at distance 0 exactly as in the offline mAP.
class QueryNormalizingIndex : public FeatureIndex {
 public:
  explicit QueryNormalizingIndex(std::unique_ptr<const FeatureIndex> index)
      : index_(std::move(index)) {}

  int dimension() const override { return index_->dimension(); }
  int64_t size() const override { return index_->size(); }
  const IndexedSketch& metadata(int64_t id) const override { return index_->metadata(id); }

  absl::StatusOr<std::vector<std::vector<Neighbor>>> Search(
      absl::Span<const float> queries, int k, const SearchFilter& filter) const override {
    std::vector<float> normalized(queries.begin(), queries.end());
    L2NormalizeRows(&normalized, index_->dimension());
    return index_->Search(normalized, k, filter);
  }

 private:
  std::unique_ptr<const FeatureIndex> index_;
};

absl::Status InDir(const std::string& dir, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat("bundle ", dir, ": ", status.message()));
}

}  // namespace

absl::StatusOr<ServableBundle> LoadServableBundle(const std::string& dir,
                                                  const ModelServingOptions& options) {
  absl::StatusOr<Precision> precision = ParsePrecision(options.precision);
  if (!precision.ok()) return precision.status();
  // Before the model exists, so the warm-up already runs with the serving thread count.
  SetTorchThreads(options.threads);
  // Every batch allocates tens of MB of activations: reuse heap memory instead of faulting in
  // fresh mmap-ed pages each time (bench/models_bench.cc --malloc; ~25% more images per CPU-s).
  KeepLargeAllocationsInHeap();

  absl::StatusOr<ModelBundle> bundle = LoadBundle(dir);
  if (!bundle.ok()) return bundle.status();  // its messages name the directory already
  TorchEmbedderOptions embedder_options;
  embedder_options.precision = *precision;
  embedder_options.warmup_batch_size = options.warmup_batch_size;
  absl::StatusOr<std::unique_ptr<TorchEmbedder>> embedder =
      TorchEmbedder::Create(bundle->model, embedder_options);
  if (!embedder.ok()) return InDir(dir, embedder.status());

  ServableBundle servable;
  const BundleManifest& manifest = bundle->manifest;
  servable.precision = std::string(PrecisionName((*embedder)->precision()));
  servable.threads = at::get_num_threads();
  servable.embedder = *std::move(embedder);
  servable.index_l2_normalized = manifest.index_l2_normalized;
  if (manifest.index_l2_normalized) {
    servable.index = std::make_unique<QueryNormalizingIndex>(std::move(bundle->index));
  } else {
    servable.index = std::move(bundle->index);
  }
  servable.architecture = manifest.architecture;
  servable.bundle_hash = bundle->bundle_hash;
  servable.recipe = manifest.recipe;
  servable.metrics = manifest.metrics;
  return servable;
}

}  // namespace sketch
