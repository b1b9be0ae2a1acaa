#include "server/credentials.h"

#include <grpcpp/security/server_credentials.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace sketch {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(what, ": cannot read ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string pem = buffer.str();
  if (pem.find("-----BEGIN ") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", path, " is not a PEM file"));
  }
  return pem;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files) {
  if (files.cert.empty() && files.key.empty()) {
    if (!files.client_ca.empty()) {
      return absl::InvalidArgumentError("tls client CA: needs a server certificate and key");
    }
    return grpc::InsecureServerCredentials();
  }
  if (files.cert.empty() || files.key.empty()) {
    return absl::InvalidArgumentError(
        "tls: a certificate needs its key, and a key its certificate");
  }
  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  auto cert = ReadPem(files.cert, "tls certificate");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem(files.key, "tls key");
  if (!key.ok()) return key.status();
  pair.cert_chain = *std::move(cert);
  pair.private_key = *std::move(key);
  options.pem_key_cert_pairs.push_back(std::move(pair));
  if (!files.client_ca.empty()) {
    auto ca = ReadPem(files.client_ca, "tls client CA");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *std::move(ca);
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::vector<std::string>> ReadTokenFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("auth tokens: cannot read ", path));
  std::vector<std::string> tokens;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const std::string token(absl::StripAsciiWhitespace(line));
    if (token.empty() || token[0] == '#') continue;
    if (token.size() < 16) {
      return absl::InvalidArgumentError(
          absl::StrCat("auth tokens: ", path, ":", number, ": a token shorter than 16 characters"));
    }
    tokens.push_back(token);
  }
  if (tokens.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("auth tokens: ", path, " holds no token"));
  }
  return tokens;
}

bool BearerTokenMatches(absl::string_view authorization, const std::vector<std::string>& tokens) {
  constexpr absl::string_view kScheme = "Bearer ";
  if (!absl::StartsWith(authorization, kScheme)) return false;
  const absl::string_view offered = authorization.substr(kScheme.size());
  bool matched = false;
  for (const std::string& token : tokens) {
    // Every byte of every token is compared, whatever matches: no timing hint of a prefix.
    unsigned char difference = offered.size() == token.size() ? 0 : 1;
    for (size_t i = 0; i < token.size(); ++i) {
      const unsigned char a = i < offered.size() ? static_cast<unsigned char>(offered[i]) : 0;
      difference |= a ^ static_cast<unsigned char>(token[i]);
    }
    matched |= difference == 0;
  }
  return matched;
}

}  // namespace sketch
