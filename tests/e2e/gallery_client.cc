// sketch_gallery_client: checks a running sketch-server that serves a gallery bundle. Each of
// the first drawings of an input file, sent as a query with include_drawings, must come back as
// its own nearest hit carrying exactly the drawing that was indexed (key_id, word, frame,
// strokes), with its source file; GetInfo must say the index has drawings and list the words.
// Exits 0 when every check passes, 1 naming the first that fails.
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "core/sketch_reader.h"
#include "proto/drawing_convert.h"
#include "sketchsearch/v1/sketch_search.grpc.pb.h"

namespace sketch {
namespace {

namespace v1 = ::sketchsearch::v1;

struct Flags {
  std::string target, drawings, unseen_word;
  int count = 5;
};

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
}

// "" when the drawing returned equals the one indexed, else what differs.
std::string Compare(const v1::Drawing& got, const v1::Drawing& want) {
  if (got.key_id() != want.key_id()) return absl::StrCat("key_id ", got.key_id());
  if (got.word() != want.word()) return absl::StrCat("word ", got.word());
  if (got.ink().frame() != want.ink().frame()) return "frame";
  if (got.ink().strokes_size() != want.ink().strokes_size()) return "stroke count";
  for (int s = 0; s < want.ink().strokes_size(); ++s) {
    const v1::Stroke& a = got.ink().strokes(s);
    const v1::Stroke& b = want.ink().strokes(s);
    if (a.x().size() != b.x().size() || a.y().size() != b.y().size() ||
        !std::equal(a.x().begin(), a.x().end(), b.x().begin()) ||
        !std::equal(a.y().begin(), a.y().end(), b.y().begin())) {
      return absl::StrCat("stroke ", s);
    }
  }
  return "";
}

int Run(const Flags& flags) {
  auto stub = v1::SketchSearch::NewStub(
      grpc::CreateChannel(flags.target, grpc::InsecureChannelCredentials()));
  v1::GetInfoResponse info;
  {
    grpc::ClientContext context;
    SetDeadline(&context);
    const grpc::Status status = stub->GetInfo(&context, v1::GetInfoRequest(), &info);
    if (!status.ok()) return std::cerr << "GetInfo: " << status.error_message() << "\n", 1;
  }
  const auto& words = info.index().words();
  if (!info.index().has_drawings() ||
      std::find(words.begin(), words.end(), flags.unseen_word) == words.end()) {
    std::cerr << "GetInfo: has_drawings false or no word " << flags.unseen_word << "\n";
    return 1;
  }
  auto reader = OpenSketchReader(flags.drawings);
  if (!reader.ok()) return std::cerr << reader.status() << "\n", 1;
  const std::string source = std::filesystem::path(flags.drawings).filename().string();
  Sketch sketch;
  for (int i = 0; i < flags.count; ++i) {
    auto got = (*reader)->Next(&sketch);
    if (!got.ok() || !*got) return std::cerr << "cannot read drawing " << i << "\n", 1;
    v1::SearchRequest request;
    *request.mutable_drawing() = SketchToDrawing(sketch);
    request.set_k(3);
    request.set_include_drawings(true);
    request.add_classes(sketch.word);  // any gallery word filters, unseen ones included
    v1::SearchResponse response;
    grpc::ClientContext context;
    SetDeadline(&context);
    const grpc::Status status = stub->Search(&context, request, &response);
    if (!status.ok()) return std::cerr << "Search: " << status.error_message() << "\n", 1;
    if (response.hits_size() == 0) return std::cerr << "drawing " << i << ": no hits\n", 1;
    const v1::SearchHit& top = response.hits(0);
    const std::string differs = Compare(top.drawing(), request.drawing());
    if (top.key_id() != sketch.key_id || !differs.empty() || top.source() != source ||
        top.label() != -1) {
      std::cerr << "drawing " << i << " (key_id " << sketch.key_id << "): top hit key_id "
                << top.key_id() << ", source '" << top.source() << "', label " << top.label()
                << ", drawing differs: " << differs << "\n";
      return 1;
    }
  }
  std::cout << "gallery: " << flags.count << " drawings returned as indexed\n";
  return 0;
}

}  // namespace
}  // namespace sketch

int main(int argc, char** argv) {
  sketch::Flags flags;
  CLI::App app{"sketch_gallery_client: drawings returned by a gallery bundle's server"};
  app.add_option("--target", flags.target)->required();
  app.add_option("--drawings", flags.drawings, "an indexed ndjson file of an unseen word")
      ->required();
  app.add_option("--unseen-word", flags.unseen_word)->required();
  app.add_option("--count", flags.count)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return sketch::Run(flags);
}
