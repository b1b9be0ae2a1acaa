#include "server/search_backend.h"

#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace sketch {

absl::StatusOr<std::unique_ptr<SearchBackend>> SearchBackend::Create(
    std::unique_ptr<Embedder> embedder, std::unique_ptr<const FeatureIndex> index,
    BundleInfo bundle, const BackendOptions& options, BatcherObserver* observer) {
  if (embedder == nullptr || index == nullptr) {
    return absl::InvalidArgumentError("a backend needs an embedder and an index");
  }
  if (embedder->num_classes() < 1 ||
      embedder->class_names().size() != static_cast<size_t>(embedder->num_classes())) {
    return absl::InvalidArgumentError(absl::StrCat("the embedder has ", embedder->num_classes(),
                                                   " classes but ", embedder->class_names().size(),
                                                   " names"));
  }
  auto backend = std::unique_ptr<SearchBackend>(new SearchBackend());
  int search_threads = options.search_threads;
  if (search_threads <= 0) search_threads = static_cast<int>(std::thread::hardware_concurrency());
  backend->search_pool_ = std::make_unique<ThreadPool>(search_threads);
  ASSIGN_OR_RETURN(backend->batcher_,
                   DynamicBatcher::Create(embedder.get(), options.batcher, observer));
  backend->classifier_ =
      std::make_unique<Classifier>(backend->batcher_.get(), embedder->class_names());
  ASSIGN_OR_RETURN(
      backend->searcher_,
      Searcher::Create(backend->batcher_.get(), index.get(), embedder->class_names(),
                       embedder->dimension(), backend->search_pool_.get(), bundle.drawings.get()));
  backend->embedder_ = std::move(embedder);
  backend->index_ = std::move(index);
  backend->bundle_ = std::move(bundle);
  return backend;
}

SearchBackend::~SearchBackend() { Shutdown(); }

ServiceInfo SearchBackend::Info() const {
  ServiceInfo info;
  info.bundle = bundle_;
  info.classes = embedder_->class_names();
  info.input_size = embedder_->input_size();
  info.index_size = index_->size();
  info.dimension = embedder_->dimension();
  info.has_drawings = searcher_->has_drawings();
  info.words = searcher_->words();
  return info;
}

void SearchBackend::Shutdown() {
  // The batcher first: its last callbacks hand searches to the pool.
  if (batcher_ != nullptr) batcher_->Shutdown();
  if (search_pool_ != nullptr) search_pool_->Shutdown();
}

}  // namespace sketch
