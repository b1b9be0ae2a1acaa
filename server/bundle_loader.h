// Loading a model bundle (bundle/model_bundle.h) for serving: verify it, set torch's threads,
// build the warmed-up TorchEmbedder and pair the index with the query normalization it was built
// for (index/query_normalizing_index.h). Torch-free header, so the server's main stays a light TU.
#ifndef SKETCH_SERVER_BUNDLE_LOADER_H_
#define SKETCH_SERVER_BUNDLE_LOADER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "index/feature_index.h"
#include "server/embedder.h"
#include "server/search_backend.h"

namespace sketch {

struct ModelServingOptions {
  // auto | fp32 | bf16 (see server/torch_embedder.h). fp32 reproduces the bundle's offline
  // figures; bf16 trades a little feature accuracy for speed on CPUs with native bf16.
  std::string precision = "fp32";
  // cpu | cuda | cuda:N: where the CNN runs (search stays on the CPU). FailedPrecondition when
  // this build or machine cannot use the GPU.
  std::string device = "cpu";
  // Torch intra-op threads for the one batcher worker; <= 0: every CPU this process may use.
  int threads = 0;
  // Warm-up batches of every size 1..N (TorchEmbedderOptions); the server passes
  // WarmupMaxBatchSizeFor(its batcher's max batch size). 0: no warm-up.
  int warmup_max_batch_size = 1;
  // The index's default search knobs (--nprobe, --ef-search); 0 keeps the bundle's.
  SearchKnobs default_knobs;
};

// What a loaded bundle gives the server.
struct ServableBundle {
  std::unique_ptr<Embedder> embedder;         // a TorchEmbedder, warmed up
  std::unique_ptr<const FeatureIndex> index;  // a QueryNormalizingIndex when the bundle's
                                              // features were L2-normalized (or whitened)
  bool index_l2_normalized = false;
  int index_whitening_dims = 0;  // 0: not whitened
  BundleInfo info;        // architecture, bundle hash, recipe, the manifest's metrics
  std::string precision;  // resolved: "fp32" or "bf16"
  int threads = 0;        // torch intra-op threads in effect
};

// Loads and verifies `dir` (LoadBundle: NotFound when there is no bundle, DataLoss for a corrupt
// one, InvalidArgument for a newer format), then builds the embedder (InvalidArgument for a bad
// precision name or a negative default knob, Internal when the model fails its warm-up). Errors
// name the directory. The first call also sets torch's process-wide thread count and allocation
// policy from `options`; later calls (hot reloads, while the first bundle serves) leave them as
// they are, so it is safe to call again from any thread.
absl::StatusOr<ServableBundle> LoadServableBundle(const std::string& dir,
                                                  const ModelServingOptions& options);

// The warm-up a server whose batcher forms batches of up to `max_batch_size` (>= 1) drawings
// asks for: every size, up to 64. The warm-up runs 1 + 2 + ... + N drawings, so beyond 64 (2,080
// drawings, seconds) its cost would grow quadratically into every start and swap.
int WarmupMaxBatchSizeFor(int max_batch_size);

// The bundle hash of `dir` (the SHA-256 of its manifest.json, ServableBundle::info.bundle_hash)
// without loading it: what a reload compares with the bundle serving. Errors as HashBundleFile
// (NotFound, DataLoss), naming the file. Thread-safe.
absl::StatusOr<std::string> ReadBundleHash(const std::string& dir);

}  // namespace sketch

#endif  // SKETCH_SERVER_BUNDLE_LOADER_H_
