// A SketchSearch in front of a fake server (tests/client/fake_server.h) that plays a gallery
// bundle: it fills SearchHit.drawing from the drawings it was given when a request asks for them,
// and can say its index is approximate. In-process only. What `sketch search --show/--png` and
// `sketch map` on approximate indexes are tested against until the server itself stores drawings.
#ifndef SKETCH_TESTS_CLIENT_GALLERY_FAKE_H_
#define SKETCH_TESTS_CLIENT_GALLERY_FAKE_H_

#include <grpcpp/client_context.h>
#include <grpcpp/server_builder.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "core/sketch.h"
#include "gtest/gtest.h"
#include "proto/drawing_convert.h"
#include "sketchsearch/v1/sketch_search.grpc.pb.h"

namespace sketch::testing {

struct GalleryFakeOptions {
  std::vector<Sketch> drawings;         // what hits carry, matched by (word, key_id)
  std::set<uint64_t> withheld_key_ids;  // hits with these key_ids come without a drawing
  std::optional<sketchsearch::v1::IndexInfo> index;  // GetInfo's index, when set
  // Hits past this many are dropped from every answer (an approximate index that finds fewer);
  // negative: all kept.
  int max_hits = -1;
};

class GallerySketchSearch final : public sketchsearch::v1::SketchSearch::Service {
 public:
  GallerySketchSearch(const std::shared_ptr<grpc::ChannelInterface>& backend,
                      GalleryFakeOptions options)
      : backend_(sketchsearch::v1::SketchSearch::NewStub(backend)), options_(std::move(options)) {
    for (const Sketch& s : options_.drawings) drawing_of_[{s.word, s.key_id}] = &s;
  }

  grpc::Status GetInfo(grpc::ServerContext* context,
                       const sketchsearch::v1::GetInfoRequest* request,
                       sketchsearch::v1::GetInfoResponse* response) override {
    grpc::ClientContext forward;
    forward.set_deadline(context->deadline());
    grpc::Status status = backend_->GetInfo(&forward, *request, response);
    if (!status.ok()) return status;
    // A gallery stores its drawings (the backend behind it does not).
    response->mutable_index()->set_has_drawings(true);
    if (options_.index.has_value()) *response->mutable_index() = *options_.index;
    return status;
  }

  grpc::Status SearchBatch(grpc::ServerContext* context,
                           const sketchsearch::v1::SearchBatchRequest* request,
                           sketchsearch::v1::SearchBatchResponse* response) override {
    // The backend stores no drawings: it is asked without include_drawings.
    sketchsearch::v1::SearchBatchRequest plain = *request;
    for (auto& r : *plain.mutable_requests()) r.set_include_drawings(false);
    grpc::ClientContext forward;
    forward.set_deadline(context->deadline());
    grpc::Status status = backend_->SearchBatch(&forward, plain, response);
    if (!status.ok()) return status;
    for (int i = 0; i < response->responses_size() && i < request->requests_size(); ++i) {
      auto* hits = response->mutable_responses(i)->mutable_hits();
      if (options_.max_hits >= 0 && hits->size() > options_.max_hits) {
        hits->DeleteSubrange(options_.max_hits, hits->size() - options_.max_hits);
      }
      if (!request->requests(i).include_drawings()) continue;
      for (auto& hit : *hits) {
        const auto it = drawing_of_.find({hit.word(), hit.key_id()});
        if (it == drawing_of_.end() || options_.withheld_key_ids.count(hit.key_id()) > 0) {
          continue;
        }
        *hit.mutable_drawing() = SketchToDrawing(*it->second);
        hit.set_source(hit.word() + ".ndjson");
      }
    }
    return status;
  }

 private:
  const std::unique_ptr<sketchsearch::v1::SketchSearch::Stub> backend_;
  const GalleryFakeOptions options_;
  std::map<std::pair<std::string, uint64_t>, const Sketch*> drawing_of_;
};

// GallerySketchSearch served in-process.
class GalleryFakeServer {
 public:
  GalleryFakeServer(const std::shared_ptr<grpc::ChannelInterface>& backend,
                    GalleryFakeOptions options)
      : service_(backend, std::move(options)) {
    grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    EXPECT_NE(server_, nullptr);
  }
  ~GalleryFakeServer() {
    server_->Shutdown();
    server_->Wait();
  }

  std::shared_ptr<grpc::Channel> InProcessChannel() {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);  // full rankings with drawings
    return server_->InProcessChannel(args);
  }

 private:
  GallerySketchSearch service_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace sketch::testing

#endif  // SKETCH_TESTS_CLIENT_GALLERY_FAKE_H_
