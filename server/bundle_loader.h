// Loading a model bundle (trainer/model_bundle.h) for serving: verify it, set torch's threads,
// build the warmed-up TorchEmbedder and pair the index with the query normalization it was built
// for. Torch-free header, so the server's main stays a light TU.
#ifndef SKETCH_SERVER_BUNDLE_LOADER_H_
#define SKETCH_SERVER_BUNDLE_LOADER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "index/feature_index.h"
#include "server/embedder.h"

namespace sketch {

struct ModelServingOptions {
  // auto | fp32 | bf16 (see server/torch_embedder.h). fp32 reproduces the bundle's offline
  // figures; bf16 trades a little feature accuracy for speed on CPUs with native bf16.
  std::string precision = "fp32";
  // Torch intra-op threads for the one batcher worker; <= 0: every CPU this process may use.
  int threads = 0;
  int warmup_batch_size = 1;  // 0: no warm-up
};

// What a loaded bundle gives the server. The descriptive fields are BundleInfo's
// (server/search_backend.h), copied by the caller: that header cannot share a TU with the
// trainer headers the loader needs (both declare sketch::BatcherOptions).
struct ServableBundle {
  std::unique_ptr<Embedder> embedder;         // a TorchEmbedder, warmed up
  std::unique_ptr<const FeatureIndex> index;  // normalizes queries itself when the bundle's
                                              // features were L2-normalized (see below)
  bool index_l2_normalized = false;
  std::string architecture;
  std::string bundle_hash;
  std::string recipe;
  std::map<std::string, double> metrics;  // the manifest's: test_top1, map, ...
  std::string precision;                  // resolved: "fp32" or "bf16"
  int threads = 0;                        // torch intra-op threads in effect
};

// Loads and verifies `dir` (LoadBundle: NotFound when there is no bundle, DataLoss for a corrupt
// one, InvalidArgument for a newer format), then builds the embedder (InvalidArgument for a bad
// precision name, Internal when the model fails its warm-up). Errors name the directory.
// Sets torch's process-wide thread count: call once, at startup, before serving.
absl::StatusOr<ServableBundle> LoadServableBundle(const std::string& dir,
                                                  const ModelServingOptions& options);

}  // namespace sketch

#endif  // SKETCH_SERVER_BUNDLE_LOADER_H_
