#include "server/credentials.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "sketchsearch/v1/sketch_search.grpc.pb.h"
#include "tests/server/test_fakes.h"
#include "tests/testing/temp_files.h"
#include "tests/testing/test_pki.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;
namespace v1 = ::sketchsearch::v1;
using ::sketch::testing::FakeEmbedder;
using ::sketch::testing::MakeFakeIndex;
using ::sketch::testing::MakeSketch;
using ::sketch::testing::TestPki;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::vector<std::string> kClasses = {"cat", "dog"};
constexpr char kToken[] = "0123456789abcdef-token";

std::unique_ptr<SketchServer> StartServing(ServerOptions options) {
  options.backend.batcher.max_queue_delay = absl::ZeroDuration();
  auto server = SketchServer::Start(options);
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return nullptr;
  std::vector<Sketch> indexed = {MakeSketch(1, "cat"), MakeSketch(2, "dog")};
  EXPECT_TRUE((*server)
                  ->Serve(std::make_unique<FakeEmbedder>(kClasses, 8),
                          MakeFakeIndex(indexed, kClasses, 8), BundleInfo{"sknet", "h", "", {}, {}})
                  .ok());
  return *std::move(server);
}

grpc::Status Classify(const std::shared_ptr<grpc::Channel>& channel,
                      const std::string& authorization = "") {
  auto stub = v1::SketchSearch::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  if (!authorization.empty()) context.AddMetadata("authorization", authorization);
  v1::ClassifyRequest request;
  request.mutable_drawing()->mutable_ink()->set_frame(v1::FRAME_SIMPLIFIED);
  v1::Stroke* stroke = request.mutable_drawing()->mutable_ink()->add_strokes();
  stroke->add_x(0);
  stroke->add_x(255);
  stroke->add_y(0);
  stroke->add_y(255);
  request.set_k(1);
  v1::ClassifyResponse response;
  return stub->Classify(&context, request, &response);
}

std::shared_ptr<grpc::Channel> TlsChannel(int port, const TestPki& pki, bool client_cert) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = pki.pem("ca.pem");
  if (client_cert) {
    ssl.pem_private_key = pki.pem("client.key");
    ssl.pem_cert_chain = pki.pem("client.pem");
  }
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port), grpc::SslCredentials(ssl),
                                   args);
}

TEST(ReadTokenFileTest, ReadsTokensSkippingBlanksAndComments) {
  const std::string file = TempPath("tokens_ok");
  std::ofstream(file) << "# service tokens\n\n  " << kToken << "  \nsecond-token-of-16+\n";
  auto tokens = ReadTokenFile(file);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_THAT(*tokens, ElementsAre(kToken, "second-token-of-16+"));
}

TEST(ReadTokenFileTest, RefusesMissingEmptyAndShortTokensNamingTheFile) {
  EXPECT_THAT(ReadTokenFile("/nonexistent/tokens").status().message(),
              HasSubstr("cannot read /nonexistent/tokens"));
  const std::string empty = TempPath("tokens_empty");
  std::ofstream(empty) << "# nothing\n";
  EXPECT_THAT(ReadTokenFile(empty).status().message(), HasSubstr("holds no token"));
  const std::string shorty = TempPath("tokens_short");
  std::ofstream(shorty) << kToken << "\nshort\n";
  EXPECT_THAT(ReadTokenFile(shorty).status().message(),
              HasSubstr(":2: a token shorter than 16 characters"));
}

TEST(BearerTokenMatchesTest, NeedsTheSchemeAndAnExactToken) {
  const std::vector<std::string> tokens = {kToken, "another-token-0123456"};
  EXPECT_TRUE(BearerTokenMatches(absl::StrCat("Bearer ", kToken), tokens));
  EXPECT_TRUE(BearerTokenMatches("Bearer another-token-0123456", tokens));
  EXPECT_FALSE(BearerTokenMatches(kToken, tokens));
  EXPECT_FALSE(BearerTokenMatches(absl::StrCat("Basic ", kToken), tokens));
  EXPECT_FALSE(BearerTokenMatches(absl::StrCat("Bearer ", kToken, "x"), tokens));
  EXPECT_FALSE(BearerTokenMatches("Bearer 0123456789abcdef-toke", tokens));
  EXPECT_FALSE(BearerTokenMatches("Bearer ", tokens));
}

TEST(ServerAuthTest, EverySketchSearchCallNeedsATokenButHealthDoesNot) {
  ServerOptions options;
  options.address = "";
  options.auth_tokens = {kToken};
  auto server = StartServing(options);
  ASSERT_NE(server, nullptr);
  auto channel = server->InProcessChannel();
  EXPECT_EQ(Classify(channel).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Classify(channel, "Bearer wrong-token-0000000000").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  const grpc::Status ok = Classify(channel, absl::StrCat("Bearer ", kToken));
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_THAT(server->metrics().Serialize(),
              HasSubstr("sketchsearch_requests_total{code=\"UNAUTHENTICATED\",method=\"Classify\","
                        "protocol=\"grpc\"} 2"));
}

TEST(ServerTlsTest, ServesOverTlsAndRefusesPlaintext) {
  TestPki pki;
  ASSERT_TRUE(pki.ok()) << "openssl could not make the test certificates";
  ServerOptions options;
  options.address = "127.0.0.1:0";
  options.tls = {pki.path("server.pem"), pki.path("server.key"), ""};
  auto server = StartServing(options);
  ASSERT_NE(server, nullptr);
  const grpc::Status tls = Classify(TlsChannel(server->port(), pki, /*client_cert=*/false));
  EXPECT_TRUE(tls.ok()) << tls.error_message();
  const grpc::Status plain = Classify(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", server->port()), grpc::InsecureChannelCredentials()));
  EXPECT_EQ(plain.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST(ServerTlsTest, MutualTlsNeedsAClientCertificateFromTheCa) {
  TestPki pki;
  ASSERT_TRUE(pki.ok()) << "openssl could not make the test certificates";
  ServerOptions options;
  options.address = "127.0.0.1:0";
  options.tls = {pki.path("server.pem"), pki.path("server.key"), pki.path("ca.pem")};
  options.auth_tokens = {kToken};
  auto server = StartServing(options);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(Classify(TlsChannel(server->port(), pki, /*client_cert=*/false),
                     absl::StrCat("Bearer ", kToken))
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
  const grpc::Status mutual = Classify(TlsChannel(server->port(), pki, /*client_cert=*/true),
                                       absl::StrCat("Bearer ", kToken));
  EXPECT_TRUE(mutual.ok()) << mutual.error_message();
  // TLS and a token together: the certificate alone is not enough.
  EXPECT_EQ(Classify(TlsChannel(server->port(), pki, /*client_cert=*/true)).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST(ServerTlsTest, BadFilesFailTheStartNamingTheFile) {
  ServerOptions options;
  options.address = "127.0.0.1:0";
  options.tls = {"/nonexistent/server.pem", "/nonexistent/server.key", ""};
  EXPECT_THAT(SketchServer::Start(options).status().message(),
              HasSubstr("cannot read /nonexistent/server.pem"));
  options.tls = {"/nonexistent/server.pem", "", ""};
  EXPECT_EQ(SketchServer::Start(options).status().code(), absl::StatusCode::kInvalidArgument);
  const std::string not_pem = TempPath("not_pem.pem");
  std::ofstream(not_pem) << "hello";
  options.tls = {not_pem, not_pem, ""};
  EXPECT_THAT(SketchServer::Start(options).status().message(), HasSubstr("is not a PEM file"));
}

}  // namespace
}  // namespace sketch
