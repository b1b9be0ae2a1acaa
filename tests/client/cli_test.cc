#include "client/cli.h"

#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/sketch_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/client/decode_png.h"
#include "tests/client/fake_server.h"
#include "tests/client/gallery_fake.h"
#include "tests/testing/temp_files.h"

namespace sketch {
namespace {

using ::sketch::testing::ServeFakes;
using ::sketch::testing::StartFakeServer;
using ::sketch::testing::TestData;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

const std::vector<std::string> kClasses = {"cat", "eye", "map"};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(/*serve=*/true); }

  // Indexes the first `per_class` drawings of each class file (all of them when negative).
  void Start(bool serve, int per_class = 10, std::map<std::string, double> metrics = {}) {
    gallery_.reset();
    // Class weight 0.5: features mix class and noise, so the mAP is neither 0 nor 1.
    server_ = StartFakeServer(Indexed(per_class), kClasses, 8, per_class < 0 ? 0.5f : 10.0f, serve,
                              std::move(metrics));
  }

  static std::vector<Sketch> Indexed(int per_class) {
    std::vector<Sketch> indexed;
    for (const std::string& c : kClasses) {
      std::vector<Sketch> all = ReadAll(TestData("simplified/" + c + ".ndjson"));
      indexed.insert(indexed.end(), all.begin(),
                     per_class < 0 ? all.end() : all.begin() + per_class);
    }
    return indexed;
  }

  // Runs `sketch args...` against the in-process server; stdout and stderr land in out_, err_.
  int Run(std::vector<std::string> args, const std::string& stdin_text = "") {
    args.insert(args.begin(), "sketch");
    std::vector<const char*> argv;
    for (const std::string& a : args) argv.push_back(a.c_str());
    std::istringstream in(stdin_text);
    out_.str("");
    err_.str("");
    CliEnvironment env;
    env.in = &in;
    env.out = &out_;
    env.err = &err_;
    env.terminal = terminal_;
    env.connect = [this](const std::string& target) -> std::shared_ptr<grpc::ChannelInterface> {
      last_target_ = target;
      if (target == "unreachable") return MakeChannel("127.0.0.1:1");
      if (gallery_ != nullptr) return gallery_->InProcessChannel();
      return server_->InProcessChannel();
    };
    return RunSketchCli(static_cast<int>(argv.size()), argv.data(), env);
  }

  // From now on the CLI talks to a GalleryFakeServer over server_ (declared after it: stopped
  // first).
  void StartGallery(testing::GalleryFakeOptions options) {
    gallery_.reset();
    gallery_ = std::make_unique<testing::GalleryFakeServer>(server_->InProcessChannel(),
                                                            std::move(options));
  }

  std::unique_ptr<SketchServer> server_;
  std::unique_ptr<testing::GalleryFakeServer> gallery_;
  std::ostringstream out_, err_;
  std::string last_target_;
  TextGridOptions terminal_;  // what main.cc would find out about the terminal
};

TEST_F(CliTest, HelpExitsZero) {
  EXPECT_EQ(Run({"--help"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("classify"));
  EXPECT_THAT(out_.str(), HasSubstr("--retries"));
  EXPECT_THAT(out_.str(), HasSubstr("--wait-for-ready"));
}

TEST_F(CliTest, HelpEndsWithTheExitCodeTable) {
  ASSERT_EQ(Run({"--help"}), kExitOk);
  const std::string help = out_.str();
  const size_t table = help.find("Exit codes");
  ASSERT_NE(table, std::string::npos);
  const size_t three = help.find("\n  3  ", table);
  const size_t four = help.find("\n  4  ", table);
  const size_t five = help.find("\n  5  ", table);
  ASSERT_TRUE(three != std::string::npos && four != std::string::npos && five != std::string::npos)
      << help;
  const std::string server_errors = help.substr(three, four - three);
  const std::string later = help.substr(four, five - four);
  for (const char* code : {"UNAVAILABLE", "RESOURCE_EXHAUSTED", "CANCELLED", "DEADLINE_EXCEEDED"}) {
    EXPECT_THAT(later, HasSubstr(code));
    EXPECT_THAT(server_errors, Not(HasSubstr(code)));
  }
  for (const char* code : {"INVALID_ARGUMENT", "NOT_FOUND", "INTERNAL", "UNIMPLEMENTED"}) {
    EXPECT_THAT(server_errors, HasSubstr(code));
  }
  EXPECT_THAT(later, HasSubstr("NOT_SERVING"));
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Run({}), kExitUsage);
  EXPECT_EQ(Run({"classify"}), kExitUsage);  // no input
  EXPECT_EQ(Run({"classify", "x.ndjson", "--line", "1", "--key-id", "2"}), kExitUsage);
  EXPECT_EQ(Run({"classify", TestData("nope.ndjson")}), kExitUsage);
  EXPECT_THAT(err_.str(), StartsWith("sketch: NOT_FOUND"));
  EXPECT_EQ(Run({"classify", TestData("simplified/cat.ndjson"), "--line", "999"}), kExitUsage);
  EXPECT_EQ(Run({"map"}), kExitUsage);  // neither files nor --dataset
}

TEST_F(CliTest, ClassifiesOneLineAsATable) {
  ASSERT_EQ(Run({"classify", TestData("simplified/eye.ndjson"), "--line", "2", "-k", "2",
                 "--target", "somewhere:1"}),
            kExitOk)
      << err_.str();
  EXPECT_EQ(last_target_, "somewhere:1");
  EXPECT_THAT(out_.str(), HasSubstr("eye.ndjson:line 2"));
  EXPECT_THAT(out_.str(), HasSubstr("    1  eye "));
  EXPECT_THAT(out_.str(), HasSubstr("    2  cat "));
}

TEST_F(CliTest, ClassifiesEveryRecordInBatchesAsJsonLines) {
  ASSERT_EQ(
      Run({"--json", "classify", TestData("simplified/map.ndjson"), "--batch", "7", "-k", "3"}),
      kExitOk)
      << err_.str();
  std::istringstream lines(out_.str());
  int count = 0;
  for (std::string line; std::getline(lines, line); ++count) {
    const nlohmann::json json = nlohmann::json::parse(line);
    EXPECT_EQ(json["word"], "map");
    EXPECT_EQ(json["classes"][0]["word"], "map");
  }
  EXPECT_EQ(count, 120);
}

TEST_F(CliTest, SearchesByKeyIdExcludingItself) {
  const std::vector<Sketch> cats = ReadAll(TestData("simplified/cat.ndjson"));
  const std::string key = std::to_string(cats[0].key_id);
  ASSERT_EQ(Run({"search", TestData("simplified/cat.ndjson"), "--key-id", key, "-k", "3",
                 "--exclude-self", "--top-class", "--json"}),
            kExitOk)
      << err_.str();
  const nlohmann::json json = nlohmann::json::parse(out_.str());
  EXPECT_EQ(json["key_id"], key);
  ASSERT_EQ(json["hits"].size(), 3u);
  for (const auto& hit : json["hits"]) {
    EXPECT_NE(hit["key_id"], key);
    EXPECT_EQ(hit["word"], "cat");
  }
  EXPECT_EQ(json["top_class"]["word"], "cat");
}

TEST_F(CliTest, SearchRestrictedToClasses) {
  ASSERT_EQ(Run({"search", TestData("simplified/cat.ndjson"), "--line", "1", "-k", "4", "--classes",
                 "eye,map"}),
            kExitOk);
  EXPECT_THAT(out_.str(), Not(HasSubstr("  cat\n")));  // hit lines end "<key_id>     <word>"
  EXPECT_THAT(out_.str(), HasSubstr("rank"));
}

TEST_F(CliTest, ReadsStdinAndEmbeds) {
  const std::string line =
      "{\"word\":\"eye\",\"countrycode\":\"US\",\"timestamp\":1,\"recognized\":true,"
      "\"key_id\":\"9\",\"drawing\":[[[10,20,30],[40,50,60]]]}\n";
  ASSERT_EQ(Run({"embed", "-"}, line), kExitOk) << err_.str();
  EXPECT_THAT(out_.str(), StartsWith("<stdin>:line 1  key_id 9  word eye  dimension 8\n"));
}

TEST_F(CliTest, InfoAndHealth) {
  ASSERT_EQ(Run({"info"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("classes        3: cat, eye, map"));
  EXPECT_THAT(out_.str(), HasSubstr("index size     30"));
  ASSERT_EQ(Run({"health"}), kExitOk);
  EXPECT_EQ(out_.str(), "SERVING\n");
  EXPECT_EQ(Run({"health", "--service", "no.such.Service"}), kExitServerError);
}

TEST_F(CliTest, ServerErrorsExitThree) {
  EXPECT_EQ(
      Run({"search", TestData("simplified/cat.ndjson"), "--line", "1", "--classes", "unicorn"}),
      kExitServerError);
  EXPECT_THAT(err_.str(), HasSubstr("INVALID_ARGUMENT: requests[0].classes[0]: unknown class"));
  EXPECT_EQ(Run({"classify", TestData("simplified/cat.ndjson"), "--line", "1", "-k", "9"}),
            kExitServerError);
}

TEST_F(CliTest, UnavailableExitsFour) {
  EXPECT_EQ(
      Run({"info", "--target", "unreachable", "--deadline-ms", "500", "--retry-backoff-ms", "20"}),
      kExitUnavailable);
  EXPECT_THAT(err_.str(), HasSubstr("UNAVAILABLE"));
  Start(/*serve=*/false);  // listening but still loading
  EXPECT_EQ(Run({"health"}), kExitUnavailable);
  EXPECT_EQ(out_.str(), "NOT_SERVING\n");
  EXPECT_EQ(Run({"classify", TestData("simplified/cat.ndjson"), "--line", "1", "--retry-backoff-ms",
                 "20"}),
            kExitUnavailable);
  EXPECT_THAT(err_.str(), HasSubstr("(after 5 attempts of ClassifyBatch)"));
  EXPECT_EQ(Run({"classify", TestData("simplified/cat.ndjson"), "--line", "1", "--retries", "0"}),
            kExitUnavailable);
  EXPECT_THAT(err_.str(), Not(HasSubstr("attempt")));
}

TEST_F(CliTest, WaitForReadyWaitsForTheServerToServe) {
  Start(/*serve=*/false);
  EXPECT_EQ(Run({"info", "--wait-for-ready", "0.3", "--retry-backoff-ms", "20"}), kExitUnavailable);
  EXPECT_THAT(err_.str(), HasSubstr("the server is not serving after 300ms"));
  std::thread loader([this] {
    absl::SleepFor(absl::Milliseconds(300));
    ServeFakes(server_.get(), Indexed(10), kClasses, 8, 10.0f);
  });
  const int code = Run({"info", "--wait-for-ready", "20", "--retry-backoff-ms", "20"});
  loader.join();
  EXPECT_EQ(code, kExitOk) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("index size     30"));
}

TEST_F(CliTest, MapExpectOfflineComparesTheLiveMapWithTheBundles) {
  std::vector<std::string> map_args = {"--json", "map", "-q"};
  for (const std::string& c : kClasses) map_args.push_back(TestData("simplified/" + c + ".ndjson"));
  Start(/*serve=*/true, /*per_class=*/-1);
  ASSERT_EQ(Run(map_args), kExitOk) << err_.str();
  const double live = nlohmann::json::parse(out_.str())["map"].get<double>();
  ASSERT_GT(live, 0.0);
  ASSERT_LT(live, 1.0);

  map_args.push_back("--expect-offline");
  Start(/*serve=*/true, /*per_class=*/-1, {{"map", live + 5e-4}});
  EXPECT_EQ(Run(map_args), kExitOk) << err_.str();
  EXPECT_THAT(err_.str(), HasSubstr("matches the bundle's offline mAP"));

  Start(/*serve=*/true, /*per_class=*/-1, {{"map", live + 0.01}});
  EXPECT_EQ(Run(map_args), kExitMismatch);
  EXPECT_THAT(err_.str(), HasSubstr("differs from the bundle's offline mAP"));
  map_args.insert(map_args.end(), {"--tolerance", "0.02"});
  EXPECT_EQ(Run(map_args), kExitOk) << err_.str();

  Start(/*serve=*/true, /*per_class=*/-1);  // a bundle without the metric
  EXPECT_EQ(Run(map_args), kExitMismatch);
  EXPECT_THAT(err_.str(), HasSubstr("no offline \"map\" metric"));
}

// Options for a gallery that stores every indexed drawing.
testing::GalleryFakeOptions GalleryOf(std::vector<Sketch> drawings) {
  testing::GalleryFakeOptions options;
  options.drawings = std::move(drawings);
  return options;
}

bool HasBraille(const std::string& text) {
  for (const char* lead : {"\xE2\xA0", "\xE2\xA1", "\xE2\xA2", "\xE2\xA3"}) {
    if (text.find(lead) != std::string::npos) return true;
  }
  return false;
}

TEST_F(CliTest, SearchShowDrawsTheQueryAndItsHits) {
  StartGallery(GalleryOf(Indexed(10)));
  ASSERT_EQ(Run({"search", TestData("simplified/cat.ndjson"), "--line", "1", "-k", "3", "--show"}),
            kExitOk)
      << err_.str();
  const std::string out = out_.str();
  EXPECT_THAT(out, HasSubstr("rank"));           // the table first
  EXPECT_THAT(out, HasSubstr(" (cat.ndjson)"));  // with each hit's source
  EXPECT_TRUE(HasBraille(out));
  // Each caption: rank and word, the whole key_id, the distance.
  const nlohmann::json hits = [&] {
    Run({"--json", "search", TestData("simplified/cat.ndjson"), "--line", "1", "-k", "3"});
    return nlohmann::json::parse(out_.str())["hits"];
  }();
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_THAT(out,
              HasSubstr(absl::StrCat(
                  "\nquery             1. cat            2. cat            3. cat\n",
                  "cat               ", hits[0]["key_id"].get<std::string>(), "  ",
                  hits[1]["key_id"].get<std::string>(), "  ", hits[2]["key_id"].get<std::string>(),
                  "\n", "5201136883597312  d 0               d 0.03435         d 0.05767\n")));
  EXPECT_EQ(err_.str(), "");

  terminal_.terminal_columns = 40;
  ASSERT_EQ(Run({"search", TestData("simplified/cat.ndjson"), "--line", "1", "-k", "3", "--show",
                 "--ascii"}),
            kExitOk)
      << err_.str();
  std::istringstream lines(out_.str().substr(out_.str().find("\n\n")));
  for (std::string line; std::getline(lines, line);) {
    EXPECT_LE(line.size(), 40u) << line;  // ASCII: a byte a column
    for (char c : line) EXPECT_GE(static_cast<signed char>(c), 0) << line;
  }
  // The drawings are there, in ASCII: the query's first line is its picture's top.
  const std::string after_table = out_.str().substr(out_.str().find("\n\n") + 2);
  EXPECT_GT(
      std::count_if(after_table.begin(), after_table.begin() + after_table.find("query"),
                    [](char c) { return std::string(".:-=+*#@").find(c) != std::string::npos; }),
      30);
}

TEST_F(CliTest, SearchShowSaysWhenTheServerSendsNoDrawings) {
  // The fake server itself stores no drawings (as servers before galleries).
  ASSERT_EQ(Run({"search", TestData("simplified/cat.ndjson"), "--line", "1", "-k", "2", "--show"}),
            kExitOk)
      << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("no drawing: the"));
  EXPECT_THAT(err_.str(), HasSubstr("sketch: 2 hits came without their drawing"));

  // A gallery that withholds the drawing of the second hit only.
  StartGallery(GalleryOf(Indexed(10)));
  const std::vector<std::string> args = {
      "search", TestData("simplified/cat.ndjson"), "--line", "1", "-k", "3"};
  std::vector<std::string> json_args = args;
  json_args.insert(json_args.begin(), "--json");
  ASSERT_EQ(Run(json_args), kExitOk);
  testing::GalleryFakeOptions options = GalleryOf(Indexed(10));
  options.withheld_key_ids.insert(
      std::stoull(nlohmann::json::parse(out_.str())["hits"][1]["key_id"].get<std::string>()));
  StartGallery(std::move(options));
  std::vector<std::string> show_args = args;
  show_args.push_back("--show");
  ASSERT_EQ(Run(show_args), kExitOk) << err_.str();
  EXPECT_TRUE(HasBraille(out_.str()));
  EXPECT_THAT(out_.str(), HasSubstr("no drawing: the"));
  EXPECT_EQ(err_.str(),
            "sketch: 1 hit came without its drawing: the server sends none (see `sketch info`: "
            "its index must store drawings)\n");
}

TEST_F(CliTest, SearchDrawingsComeBackInJson) {
  StartGallery(GalleryOf(Indexed(10)));
  ASSERT_EQ(Run({"--json", "search", TestData("simplified/eye.ndjson"), "--line", "2", "-k", "2",
                 "--drawings"}),
            kExitOk)
      << err_.str();
  const nlohmann::json json = nlohmann::json::parse(out_.str());
  ASSERT_EQ(json["hits"].size(), 2u);
  EXPECT_EQ(json["hits"][0]["drawing"]["ink"]["frame"], "FRAME_SIMPLIFIED");
  EXPECT_EQ(json["hits"][0]["source"], "eye.ndjson");
  // Without --drawings none are asked for.
  ASSERT_EQ(Run({"--json", "search", TestData("simplified/eye.ndjson"), "--line", "2", "-k", "2"}),
            kExitOk);
  EXPECT_FALSE(nlohmann::json::parse(out_.str())["hits"][0].contains("drawing"));
  // Pictures among JSON lines would break them.
  EXPECT_EQ(Run({"--json", "search", TestData("simplified/eye.ndjson"), "--show"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("--png"));
  EXPECT_EQ(Run({"search", TestData("simplified/eye.ndjson"), "--ascii"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("--ascii requires --show"));
}

TEST_F(CliTest, SearchPngWritesAContactSheetRowPerQuery) {
  StartGallery(GalleryOf(Indexed(10)));
  const std::string path = TempPath("cli_sheet.png");
  std::string two_lines;
  std::istringstream cats(ReadFileBytes(TestData("simplified/cat.ndjson")));
  for (int i = 0; i < 2; ++i) {
    std::string line;
    std::getline(cats, line);
    two_lines += line + "\n";
  }
  ASSERT_EQ(Run({"search", "-", "-k", "3", "--png", path}, two_lines), kExitOk) << err_.str();
  EXPECT_THAT(err_.str(), HasSubstr("wrote the contact sheet " + path));
  EXPECT_THAT(out_.str(), HasSubstr("rank"));  // the tables as without --png
  const GrayImage sheet = testing::DecodePng(ReadFileBytes(path));
  EXPECT_EQ(sheet.width, 4 * (128 + 16));           // the query and 3 hits
  EXPECT_EQ(sheet.height, 2 * (8 + 128 + 4 + 30));  // a row per query
  int ink = 0;
  for (uint8_t p : sheet.pixels) ink += p < 64;
  EXPECT_GT(ink, 8 * 200);  // every picture drawn

  EXPECT_EQ(Run({"search", TestData("simplified/cat.ndjson"), "--line", "1", "--png",
                 TempPath("no/such/dir/x.png")}),
            kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("no/such/dir/x.png"));
}

// A GetInfo index of `type` that is (or is not) exact.
sketchsearch::v1::IndexInfo IndexOf(const std::string& type, bool exact, double recall) {
  sketchsearch::v1::IndexInfo index;
  index.set_type(type);
  index.set_exact(exact);
  index.set_recall_at_10(recall);
  return index;
}

TEST_F(CliTest, MapOnAnApproximateIndexReportsTheLiveMapBesideTheExactOne) {
  std::vector<std::string> map_args = {"map", "-q", "--expect-offline"};
  for (const std::string& c : kClasses) map_args.push_back(TestData("simplified/" + c + ".ndjson"));
  Start(/*serve=*/true, /*per_class=*/-1);
  ASSERT_EQ(Run(map_args), kExitMismatch);  // no offline metric: just the live figure
  std::vector<std::string> json_args = map_args;
  json_args.insert(json_args.begin(), "--json");
  json_args.erase(std::find(json_args.begin(), json_args.end(), "--expect-offline"));
  ASSERT_EQ(Run(json_args), kExitOk);
  const double live = nlohmann::json::parse(out_.str())["map"].get<double>();

  // An approximate index that ranks like the exact one: the figures are shown side by side,
  // and --expect-offline does not compare them.
  Start(/*serve=*/true, /*per_class=*/-1, {{"map", live + 0.05}});
  testing::GalleryFakeOptions options;
  options.index = IndexOf("HNSW32", /*exact=*/false, 0.97);
  StartGallery(options);
  ASSERT_EQ(Run(map_args), kExitOk) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr(absl::StrFormat(
                              "approximate index HNSW32 (recall@10 0.9700): live mAP %.4f, exact "
                              "(offline) mAP %.4f, live - exact -0.0500",
                              live, live + 0.05)));
  EXPECT_THAT(err_.str(), HasSubstr("approximate index HNSW32"));
  EXPECT_THAT(err_.str(), HasSubstr("not expected to equal the exact offline mAP"));
  ASSERT_EQ(Run(json_args), kExitOk);
  nlohmann::json json = nlohmann::json::parse(out_.str());
  EXPECT_EQ(json["exact_index"], false);
  EXPECT_EQ(json["index_type"], "HNSW32");
  EXPECT_DOUBLE_EQ(json["offline_map"].get<double>(), live + 0.05);

  // One that finds only the 40 nearest: the rest ranked last, the live mAP lower.
  options.max_hits = 40;
  StartGallery(options);
  ASSERT_EQ(Run(json_args), kExitOk) << err_.str();
  json = nlohmann::json::parse(out_.str());
  EXPECT_GT(json["map"].get<double>(), 0.0);
  EXPECT_LT(json["map"].get<double>(), live);

  // An exact index must still match, and rank every drawing.
  options.index = IndexOf("Flat", /*exact=*/true, 1.0);
  options.max_hits = -1;
  StartGallery(options);
  EXPECT_EQ(Run(map_args), kExitMismatch);
  EXPECT_THAT(err_.str(), HasSubstr("differs from the bundle's offline mAP"));
  EXPECT_THAT(out_.str(), Not(HasSubstr("approximate")));
  options.max_hits = 40;
  StartGallery(options);
  EXPECT_NE(Run(map_args), kExitOk);
}

}  // namespace
}  // namespace sketch
