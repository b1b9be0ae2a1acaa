// Who may call the server: TLS (optionally mutual) for the gRPC port, and bearer tokens checked
// on every SketchSearch call (health stays open: load balancers and orchestrators probe it).
#ifndef SKETCH_SERVER_CREDENTIALS_H_
#define SKETCH_SERVER_CREDENTIALS_H_

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sketch {

struct TlsFiles {
  std::string cert;       // PEM certificate chain of the server; empty: no TLS (plaintext)
  std::string key;        // PEM private key of that certificate
  std::string client_ca;  // PEM CA bundle; when set, clients must present a certificate it signed
};

// Plaintext credentials when `files.cert` is empty; otherwise TLS with the server's certificate
// and key, and mutual TLS when `client_ca` is set. InvalidArgument naming the file when one is
// missing, unreadable or not PEM, or when a key is given without a certificate (or the reverse).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files);

// The tokens of a token file: one a line, surrounding blanks trimmed, empty lines and lines
// starting with '#' skipped. InvalidArgument naming the file when it cannot be read or holds no
// token, or a token shorter than 16 characters (a guessable secret).
absl::StatusOr<std::vector<std::string>> ReadTokenFile(const std::string& path);

// Whether the value of an `authorization` header is "Bearer <t>" for one of `tokens`, compared
// in time independent of where the first difference is.
bool BearerTokenMatches(absl::string_view authorization, const std::vector<std::string>& tokens);

}  // namespace sketch

#endif  // SKETCH_SERVER_CREDENTIALS_H_
