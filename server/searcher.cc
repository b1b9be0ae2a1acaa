#include "server/searcher.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "server/await.h"

namespace sketch {
namespace {

absl::Status NameRequest(const absl::Status& status, size_t i, bool name_requests) {
  if (!name_requests || status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat("requests[", i, "].", status.message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Searcher>> Searcher::Create(DynamicBatcher* batcher,
                                                           const FeatureIndex* index,
                                                           std::vector<std::string> class_names,
                                                           int dimension, ThreadPool* pool,
                                                           const DrawingStore* drawings) {
  if (batcher == nullptr || index == nullptr || pool == nullptr) {
    return absl::InvalidArgumentError("searcher needs a batcher, an index and a thread pool");
  }
  if (index->dimension() != dimension) {
    return absl::InvalidArgumentError(absl::StrCat("the index holds features of dimension ",
                                                   index->dimension(), " but the model makes ",
                                                   dimension));
  }
  if (index->size() < 1) return absl::InvalidArgumentError("the index is empty");
  if (drawings != nullptr && drawings->size() != index->size()) {
    return absl::InvalidArgumentError(absl::StrCat("the drawing store holds ", drawings->size(),
                                                   " drawings, the index ", index->size()));
  }
  auto searcher = std::unique_ptr<Searcher>(
      new Searcher(batcher, index, std::move(class_names), pool, drawings));
  const int num_classes = static_cast<int>(searcher->class_names_.size());
  absl::flat_hash_set<std::string> words;
  for (int64_t id = 0; id < index->size(); ++id) {
    const IndexedSketch& meta = index->metadata(id);
    if (meta.label < -1 || meta.label >= num_classes) {  // -1: not one of the model's classes
      return absl::InvalidArgumentError(absl::StrCat("indexed sketch ", id, " has label ",
                                                     meta.label, " outside the model's ",
                                                     num_classes, " classes"));
    }
    searcher->ids_by_key_id_[meta.key_id].push_back(id);
    if (meta.label == -1) searcher->unseen_ids_by_word_[meta.word].push_back(id);
    words.insert(meta.word);
  }
  searcher->words_.assign(words.begin(), words.end());
  std::sort(searcher->words_.begin(), searcher->words_.end());
  return searcher;
}

Searcher::Searcher(DynamicBatcher* batcher, const FeatureIndex* index,
                   std::vector<std::string> class_names, ThreadPool* pool,
                   const DrawingStore* drawings)
    : batcher_(batcher),
      index_(index),
      class_names_(std::move(class_names)),
      pool_(pool),
      drawings_(drawings) {
  for (size_t label = 0; label < class_names_.size(); ++label) {
    label_by_class_.emplace(class_names_[label], static_cast<int>(label));
  }
}

absl::StatusOr<SearchFilter> Searcher::MakeFilter(const SearchQuery& query) const {
  if (query.k < 1 || query.k > index_->size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("k: ", query.k, " is outside 1..", index_->size(), " (the index size)"));
  }
  if (query.include_drawings && drawings_ == nullptr) {
    return absl::FailedPreconditionError(
        "include_drawings: the loaded bundle stores no drawings (GetInfo index.has_drawings)");
  }
  SearchFilter filter;
  filter.knobs = query.knobs;
  RETURN_IF_ERROR(AddWordFilter(query, &filter));
  for (uint64_t key_id : query.excluded_key_ids) {
    auto it = ids_by_key_id_.find(key_id);
    if (it == ids_by_key_id_.end()) continue;
    filter.excluded_ids.insert(filter.excluded_ids.end(), it->second.begin(), it->second.end());
  }
  // Repeats cost the index work per indexed row and change nothing: a filter holds each label
  // and id once, so its cost is bounded by the classes and the index, not by the request.
  std::sort(filter.allowed_labels.begin(), filter.allowed_labels.end());
  filter.allowed_labels.erase(
      std::unique(filter.allowed_labels.begin(), filter.allowed_labels.end()),
      filter.allowed_labels.end());
  std::sort(filter.excluded_ids.begin(), filter.excluded_ids.end());
  filter.excluded_ids.erase(std::unique(filter.excluded_ids.begin(), filter.excluded_ids.end()),
                            filter.excluded_ids.end());
  return filter;
}

absl::Status Searcher::AddWordFilter(const SearchQuery& query, SearchFilter* filter) const {
  absl::flat_hash_map<std::string, bool> unseen_wanted;
  for (size_t i = 0; i < query.classes.size(); ++i) {
    const std::string& word = query.classes[i];
    if (auto it = label_by_class_.find(word); it != label_by_class_.end()) {
      filter->allowed_labels.push_back(it->second);
    } else if (unseen_ids_by_word_.count(word)) {
      unseen_wanted[word] = true;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("classes[", i, "]: unknown class \"", word, "\""));
    }
  }
  if (unseen_wanted.empty()) return absl::OkStatus();
  // Label -1 rows are allowed, minus those of the words not asked for: O(unseen rows).
  filter->allowed_labels.push_back(-1);
  for (const auto& [word, ids] : unseen_ids_by_word_) {
    if (unseen_wanted.count(word)) continue;
    filter->excluded_ids.insert(filter->excluded_ids.end(), ids.begin(), ids.end());
  }
  return absl::OkStatus();
}

void Searcher::SearchAsync(SearchQuery query, CallContext context, SearchCallback done) const {
  std::vector<SearchQuery> queries;
  queries.push_back(std::move(query));
  Run(std::move(queries), std::move(context), /*name_requests=*/false,
      [done = std::move(done)](absl::StatusOr<std::vector<SearchResult>> results) {
        if (!results.ok()) return done(results.status());
        done(std::move((*results)[0]));
      });
}

void Searcher::SearchBatchAsync(std::vector<SearchQuery> queries, CallContext context,
                                SearchBatchCallback done) const {
  Run(std::move(queries), std::move(context), /*name_requests=*/true, std::move(done));
}

absl::StatusOr<SearchResult> Searcher::Search(SearchQuery query, const CallContext& context) const {
  return AwaitResult<SearchResult>(
      [&](SearchCallback done) { SearchAsync(std::move(query), context, std::move(done)); });
}

absl::StatusOr<std::vector<SearchResult>> Searcher::SearchBatch(std::vector<SearchQuery> queries,
                                                                const CallContext& context) const {
  return AwaitResult<std::vector<SearchResult>>([&](SearchBatchCallback done) {
    SearchBatchAsync(std::move(queries), context, std::move(done));
  });
}

void Searcher::Run(std::vector<SearchQuery> queries, CallContext context, bool name_requests,
                   SearchBatchCallback done) const {
  // Filters first: a bad k or class name must not cost a model run.
  auto filters = std::make_shared<std::vector<SearchFilter>>();
  filters->reserve(queries.size());
  for (size_t i = 0; i < queries.size(); ++i) {
    absl::StatusOr<SearchFilter> filter = MakeFilter(queries[i]);
    if (!filter.ok()) return done(NameRequest(filter.status(), i, name_requests));
    filters->push_back(*std::move(filter));
  }
  std::vector<Sketch> sketches;
  sketches.reserve(queries.size());
  for (SearchQuery& query : queries) sketches.push_back(std::move(query.sketch));
  // What the search needs once the model has run (the sketches have gone to the batcher).
  auto pending = std::make_shared<std::vector<SearchQuery>>(std::move(queries));
  batcher_->SubmitAll(
      std::move(sketches), context,
      [this, pending, filters, context, name_requests,
       done = std::move(done)](absl::StatusOr<std::vector<Embedding>> embeddings) mutable {
        if (!embeddings.ok()) return done(embeddings.status());
        // Off the batcher's thread: a full-index ranking can cost as much as the model run.
        auto features = std::make_shared<std::vector<Embedding>>(*std::move(embeddings));
        pool_->Schedule(
            [this, pending, filters, features, context, name_requests, done = std::move(done)] {
              std::vector<SearchResult> results;
              results.reserve(pending->size());
              for (size_t i = 0; i < pending->size(); ++i) {
                absl::StatusOr<SearchResult> result =
                    SearchOne((*pending)[i], (*filters)[i], (*features)[i], context);
                if (!result.ok()) return done(NameRequest(result.status(), i, name_requests));
                results.push_back(*std::move(result));
              }
              done(std::move(results));
            });
      });
}

absl::StatusOr<SearchResult> Searcher::SearchOne(const SearchQuery& query,
                                                 const SearchFilter& filter,
                                                 const Embedding& embedding,
                                                 const CallContext& context) const {
  // A full-index ranking costs about as much as the model run: skip it for a caller who left.
  RETURN_IF_ERROR(context.Check());
  ASSIGN_OR_RETURN(auto neighbors, index_->Search(embedding.feature, query.k, filter));
  SearchResult result;
  if (neighbors.size() != 1) {
    return absl::InternalError(
        absl::StrCat("the index answered ", neighbors.size(), " result lists for one query"));
  }
  result.hits.reserve(neighbors[0].size());
  for (const Neighbor& n : neighbors[0]) {
    if (n.id < 0 || n.id >= index_->size()) {
      return absl::InternalError(absl::StrCat("the index returned id ", n.id));
    }
    const IndexedSketch& meta = index_->metadata(n.id);
    SearchHit hit{n.id, meta.key_id, meta.label, meta.word, n.distance, meta.source, {}};
    if (query.include_drawings) {
      ASSIGN_OR_RETURN(hit.drawing, drawings_->Get(n.id));
      hit.drawing->word = meta.word;
    }
    result.hits.push_back(std::move(hit));
  }
  if (query.include_top_class) {
    result.top_class = TopClasses(embedding.probabilities, 1, class_names_)[0];
  }
  return result;
}

}  // namespace sketch
