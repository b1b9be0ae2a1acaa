// TestPki: a certificate authority, a server certificate for localhost / 127.0.0.1 and a client
// certificate, made when a test asks, with the openssl program (no key or certificate is kept
// in the repository).
#ifndef SKETCH_TESTS_TESTING_TEST_PKI_H_
#define SKETCH_TESTS_TESTING_TEST_PKI_H_

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/strings/str_cat.h"

namespace sketch::testing {

// A CA, a server certificate for localhost / 127.0.0.1 and a client certificate, made now with
// the openssl program (EC P-256 keys, valid one day) in a directory of their own.
class TestPki {
 public:
  TestPki() : dir_(std::filesystem::temp_directory_path() / NextName()) {
    std::filesystem::create_directories(dir_);
    const std::string d = dir_.string();
    const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    std::ofstream(dir_ / "server.ext") << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
    const std::string script = absl::StrCat(
        "set -e; cd ", d, "; ", "openssl req -x509 ", key,
        " -keyout ca.key -out ca.pem -days 1 -subj /CN=sketch-test-ca; ", "openssl req ", key,
        " -keyout server.key -out server.csr -subj /CN=localhost; ",
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 ",
        "-extfile server.ext -out server.pem; ", "openssl req ", key,
        " -keyout client.key -out client.csr -subj /CN=sketch-client; ",
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 ",
        "-out client.pem");
    ok_ = std::system(absl::StrCat("bash -c '", script, "' >/dev/null 2>&1").c_str()) == 0;
  }
  ~TestPki() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  bool ok() const { return ok_; }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string pem(const std::string& name) const {
    std::ifstream in(dir_ / name);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

 private:
  static std::string NextName() {
    static int count = 0;
    return absl::StrCat("sketch_pki_", getpid(), "_", count++);
  }

  std::filesystem::path dir_;
  bool ok_ = false;
};

}  // namespace sketch::testing

#endif  // SKETCH_TESTS_TESTING_TEST_PKI_H_
