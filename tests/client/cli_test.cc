#include "client/cli.h"

#include <sstream>
#include <thread>

#include "client/sketch_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/client/fake_server.h"

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
    env.connect = [this](const std::string& target) -> std::shared_ptr<grpc::ChannelInterface> {
      last_target_ = target;
      if (target == "unreachable") return MakeChannel("127.0.0.1:1");
      return server_->InProcessChannel();
    };
    return RunSketchCli(static_cast<int>(argv.size()), argv.data(), env);
  }

  std::unique_ptr<SketchServer> server_;
  std::ostringstream out_, err_;
  std::string last_target_;
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

}  // namespace
}  // namespace sketch
