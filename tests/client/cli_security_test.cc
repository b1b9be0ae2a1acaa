// `sketch` against a server that requires TLS (and mutual TLS) and bearer tokens: the flags that
// make it through, and the exit codes when something is missing.
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/cli.h"
#include "client/sketch_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/client/fake_server.h"
#include "tests/testing/temp_files.h"
#include "tests/testing/test_pki.h"

namespace sketch {
namespace {

using ::sketch::testing::ServeFakes;
using ::sketch::testing::TestPki;
using ::testing::HasSubstr;

const std::vector<std::string> kClasses = {"cat", "eye", "map"};
constexpr char kToken[] = "cli-test-token-0123456789";

class CliSecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(pki_.ok()) << "openssl could not make the test certificates";
    token_file_ = TempPath("cli_security_token");
    std::ofstream(token_file_) << "# the service's token\n" << kToken << "\n";
  }

  void StartServer(bool mutual) {
    ServerOptions options;
    options.address = "127.0.0.1:0";
    options.tls = {pki_.path("server.pem"), pki_.path("server.key"),
                   mutual ? pki_.path("ca.pem") : ""};
    options.auth_tokens = {kToken};
    auto server = SketchServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ServeFakes(server_.get(), {testing::MakeSketch(1, "cat")}, kClasses, 8, 1.0f);
  }

  // Runs `sketch ARGS info` against the server; the exit code, with stdout and stderr kept.
  int Run(std::vector<std::string> args) {
    std::vector<std::string> argv = {
        "sketch",        "--target", absl::StrCat("127.0.0.1:", server_->port()), "--retries", "0",
        "--deadline-ms", "5000"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("info");
    std::vector<const char*> pointers;
    for (const std::string& a : argv) pointers.push_back(a.c_str());
    out_.str("");
    err_.str("");
    CliEnvironment env;
    env.out = &out_;
    env.err = &err_;
    env.connect = [](const std::string& target) -> std::shared_ptr<grpc::ChannelInterface> {
      return MakeChannel(target);
    };
    return RunSketchCli(static_cast<int>(pointers.size()), pointers.data(), env);
  }

  TestPki pki_;
  std::string token_file_;
  std::unique_ptr<SketchServer> server_;
  std::ostringstream out_, err_;
};

TEST_F(CliSecurityTest, TlsAndATokenGetAnAnswer) {
  StartServer(/*mutual=*/false);
  EXPECT_EQ(Run({"--ca", pki_.path("ca.pem"), "--tls-server-name", "localhost", "--token-file",
                 token_file_}),
            0)
      << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("sknet"));
}

TEST_F(CliSecurityTest, WithoutTheTokenTheServerRefuses) {
  StartServer(/*mutual=*/false);
  EXPECT_EQ(Run({"--ca", pki_.path("ca.pem"), "--tls-server-name", "localhost"}), 3);
  EXPECT_THAT(err_.str(), HasSubstr("UNAUTHENTICATED"));
}

TEST_F(CliSecurityTest, PlaintextToATlsServerIsUnavailable) {
  StartServer(/*mutual=*/false);
  EXPECT_EQ(Run({"--token-file", token_file_}), 4);
}

TEST_F(CliSecurityTest, MutualTlsNeedsTheClientCertificate) {
  StartServer(/*mutual=*/true);
  const std::vector<std::string> tls = {"--ca",      pki_.path("ca.pem"), "--tls-server-name",
                                        "localhost", "--token-file",      token_file_};
  EXPECT_EQ(Run(tls), 4);
  std::vector<std::string> mutual = tls;
  mutual.insert(mutual.end(),
                {"--cert", pki_.path("client.pem"), "--key", pki_.path("client.key")});
  EXPECT_EQ(Run(mutual), 0) << err_.str();
}

TEST_F(CliSecurityTest, BadFilesAreUsageErrorsNamingTheFile) {
  StartServer(/*mutual=*/false);
  EXPECT_EQ(Run({"--ca", "/nonexistent/ca.pem"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("cannot read /nonexistent/ca.pem"));
  EXPECT_EQ(Run({"--tls", "--cert", pki_.path("client.pem")}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("needs its key"));
  EXPECT_EQ(Run({"--token-file", "/nonexistent/token"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("cannot read /nonexistent/token"));
}

}  // namespace
}  // namespace sketch
