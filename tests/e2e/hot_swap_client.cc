// sketch_hot_swap_client: the client side of tests/e2e/hot_swap_test.sh.
//
//   --record DIR: asks the server (serving one bundle, not swapping) each drawing's Classify (k=3)
//     and Search (k=5) answer and writes them to DIR/<bundle hash>.txt, the hash taken from the
//     answers' "sketchsearch-bundle-hash" trailer.
//   --expected DIR --until-file FILE: clients query continuously (Classify and Search, alternately
//     at random) until FILE exists, while the server swaps bundles. Every call must succeed and
//     carry the trailer, and its answer must be the one recorded for the bundle the trailer
//     names. Passes when no call failed, no answer was wrong and at least two bundles answered.
//
//   sketch_hot_swap_client --target HOST:PORT --data DIR (--record OUT | --expected DIR
//                          --until-file FILE [--clients 4] [--max-seconds 240])
#include <grpcpp/client_context.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <iterator>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/sketch_client.h"
#include "core/sketch_reader.h"
#include "proto/drawing_convert.h"
#include "sketchsearch/v1/sketch_search.grpc.pb.h"
#include "tests/testing/same_ranking.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;
namespace v1 = ::sketchsearch::v1;
using ::sketch::testing::SameRanking;

constexpr char kTrailer[] = "sketchsearch-bundle-hash";

struct Flags {
  std::string target, data, record, expected, until_file;
  int clients = 4;
  double max_seconds = 240;
};

// One answer: class labels or hit ids, with probabilities or distances, in rank order.
struct Ranking {
  std::vector<int64_t> ids;
  std::vector<float> values;
};

// A bundle's answers, by drawing.
struct Answers {
  std::vector<Ranking> classify, search;
};

class HotSwapClient {
 public:
  explicit HotSwapClient(const Flags& flags) : flags_(flags), channel_(MakeChannel(flags.target)) {}

  bool LoadDrawings() {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(flags_.data)) files.push_back(entry.path());
    std::sort(files.begin(), files.end());  // the same drawings, in the same order, every run
    for (const fs::path& file : files) {
      auto reader = OpenSketchReader(file.string());
      if (!reader.ok()) continue;
      Sketch s;
      for (int i = 0; i < 4 && (*reader)->Next(&s).value_or(false); ++i) {
        drawings_.push_back(SketchToDrawing(s));
      }
    }
    return !drawings_.empty();
  }

  // One call; false with `error` set when it failed or carried no trailer.
  bool Call(v1::SketchSearch::Stub* stub, size_t i, bool search, Ranking* ranking,
            std::string* hash, std::string* error) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    grpc::Status status;
    if (search) {
      v1::SearchRequest request;
      *request.mutable_drawing() = drawings_[i];
      request.set_k(5);
      v1::SearchResponse response;
      status = stub->Search(&context, request, &response);
      for (const auto& hit : response.hits()) {
        ranking->ids.push_back(hit.id());
        ranking->values.push_back(hit.distance());
      }
    } else {
      v1::ClassifyRequest request;
      *request.mutable_drawing() = drawings_[i];
      request.set_k(3);
      v1::ClassifyResponse response;
      status = stub->Classify(&context, request, &response);
      for (const auto& c : response.classes()) {
        ranking->ids.push_back(c.label());
        ranking->values.push_back(c.probability());
      }
    }
    if (!status.ok()) {
      *error = absl::StrCat(search ? "Search" : "Classify", ": code ", status.error_code(), " ",
                            status.error_message());
      return false;
    }
    const auto& trailers = context.GetServerTrailingMetadata();
    const auto found = trailers.find(kTrailer);
    if (found == trailers.end()) {
      *error = absl::StrCat(search ? "Search" : "Classify", ": no ", kTrailer, " trailer");
      return false;
    }
    hash->assign(found->second.data(), found->second.size());
    return true;
  }

  int Record() {
    auto stub = v1::SketchSearch::NewStub(channel_);
    std::string bundle_hash;
    std::ostringstream out;
    out << std::setprecision(9);  // every bit of a float
    for (size_t i = 0; i < drawings_.size(); ++i) {
      for (const bool search : {false, true}) {
        Ranking ranking;
        std::string hash, error;
        if (!Call(stub.get(), i, search, &ranking, &hash, &error)) return Fail(error);
        if (!bundle_hash.empty() && hash != bundle_hash) {
          return Fail("the bundle changed while recording");
        }
        bundle_hash = hash;
        out << (search ? 's' : 'c') << ' ' << i;
        for (size_t r = 0; r < ranking.ids.size(); ++r) {
          out << ' ' << ranking.ids[r] << ' ' << ranking.values[r];
        }
        out << '\n';
      }
    }
    fs::create_directories(flags_.record);
    std::ofstream(fs::path(flags_.record) / (bundle_hash + ".txt")) << out.str();
    std::cout << "recorded " << drawings_.size() << " drawings' answers of bundle " << bundle_hash
              << std::endl;
    return 0;
  }

  bool LoadExpected() {
    for (const auto& entry : fs::directory_iterator(flags_.expected)) {
      Answers answers;
      answers.classify.resize(drawings_.size());
      answers.search.resize(drawings_.size());
      std::ifstream in(entry.path());
      std::string line;
      while (std::getline(in, line)) {
        std::istringstream fields(line);
        char kind;
        size_t i;
        if (!(fields >> kind >> i) || i >= drawings_.size()) return false;
        Ranking& ranking = kind == 's' ? answers.search[i] : answers.classify[i];
        int64_t id;
        float value;
        while (fields >> id >> value) {
          ranking.ids.push_back(id);
          ranking.values.push_back(value);
        }
      }
      expected_[entry.path().stem().string()] = std::move(answers);
    }
    return expected_.size() >= 2;
  }

  // Drawings whose answers differ between the first two bundles: without any, a mix-up between
  // them could not be seen.
  int DistinguishingDrawings() const {
    const Answers& a = expected_.begin()->second;
    const Answers& b = std::next(expected_.begin())->second;
    int differ = 0;
    for (size_t i = 0; i < drawings_.size(); ++i) {
      differ +=
          !SameRanking(a.classify[i].ids, a.classify[i].values, b.classify[i].ids,
                       b.classify[i].values) ||
          !SameRanking(a.search[i].ids, a.search[i].values, b.search[i].ids, b.search[i].values);
    }
    return differ;
  }

  void Client(int index, absl::Time end) {
    auto stub = v1::SketchSearch::NewStub(channel_);
    std::mt19937 rng(77 + index);
    while (absl::Now() < end && !fs::exists(flags_.until_file)) {
      const size_t i = rng() % drawings_.size();
      const bool search = rng() % 2 == 0;
      Ranking got;
      std::string hash, error;
      ++calls_;
      if (!Call(stub.get(), i, search, &got, &hash, &error)) {
        Note(&failures_, error);
        continue;
      }
      const auto expected = expected_.find(hash);
      if (expected == expected_.end()) {
        Note(&wrong_, "answered by an unknown bundle " + hash);
        continue;
      }
      const Ranking& want = search ? expected->second.search[i] : expected->second.classify[i];
      if (!SameRanking(want.ids, want.values, got.ids, got.values)) {
        Note(&wrong_, absl::StrCat(search ? "Search" : "Classify", " answer differs from bundle ",
                                   hash.substr(0, 12), "'s"));
        continue;
      }
      std::lock_guard<std::mutex> lock(mu_);
      ++answered_by_[hash];
    }
  }

  int Run() {
    if (!LoadExpected()) return Fail("need the recorded answers of two bundles in --expected");
    const int distinguishing = DistinguishingDrawings();
    if (distinguishing == 0) return Fail("the two bundles answer every drawing alike");
    const absl::Time end = absl::Now() + absl::Seconds(flags_.max_seconds);
    std::vector<std::thread> clients;
    for (int c = 0; c < flags_.clients; ++c) clients.emplace_back([=] { Client(c, end); });
    for (std::thread& t : clients) t.join();
    std::lock_guard<std::mutex> lock(mu_);
    std::cout << "hot swap: " << flags_.clients << " clients, " << calls_ << " calls, "
              << distinguishing << " of " << drawings_.size()
              << " drawings tell the bundles apart\n";
    for (const auto& [hash, count] : answered_by_) {
      std::cout << "  answered by bundle " << hash.substr(0, 12) << ": " << count << "\n";
    }
    for (const auto& [what, count] : failures_)
      std::cout << "  FAILED " << what << ": " << count << "\n";
    for (const auto& [what, count] : wrong_)
      std::cout << "  WRONG " << what << ": " << count << "\n";
    const bool timed_out = !fs::exists(flags_.until_file);
    if (timed_out) std::cout << "  the test never said stop (" << flags_.until_file << ")\n";
    const bool passed =
        failures_.empty() && wrong_.empty() && answered_by_.size() >= 2 && !timed_out;
    std::cout << "hot swap: " << (passed ? "PASS" : "FAIL") << std::endl;
    return passed ? 0 : 1;
  }

 private:
  void Note(std::map<std::string, int>* counts, const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    ++(*counts)[what];
  }
  static int Fail(const std::string& why) {
    std::cerr << "sketch_hot_swap_client: " << why << std::endl;
    return 1;
  }

  const Flags flags_;
  std::shared_ptr<grpc::Channel> channel_;
  std::vector<v1::Drawing> drawings_;
  std::map<std::string, Answers> expected_;  // by bundle hash
  std::atomic<int64_t> calls_{0};
  std::mutex mu_;
  std::map<std::string, int> failures_, wrong_, answered_by_;
};

int Main(int argc, char** argv) {
  CLI::App app{"sketch_hot_swap_client: answers across hot bundle swaps"};
  Flags flags;
  app.add_option("--target", flags.target)->required();
  app.add_option("--data", flags.data, "folder of drawings (the requests)")->required();
  app.add_option("--record", flags.record, "write the answers of the bundle serving here");
  app.add_option("--expected", flags.expected, "recorded answers, one file per bundle hash");
  app.add_option("--until-file", flags.until_file, "query until this file exists");
  app.add_option("--clients", flags.clients)->capture_default_str();
  app.add_option("--max-seconds", flags.max_seconds)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  HotSwapClient client(flags);
  if (!client.LoadDrawings()) {
    std::cerr << "sketch_hot_swap_client: no drawings in " << flags.data << std::endl;
    return 1;
  }
  if (!flags.record.empty()) return client.Record();
  if (flags.expected.empty() || flags.until_file.empty()) {
    std::cerr << "sketch_hot_swap_client: --record, or --expected with --until-file\n";
    return 2;
  }
  return client.Run();
}

}  // namespace
}  // namespace sketch

int main(int argc, char** argv) { return sketch::Main(argc, argv); }
