#include "bundle/sha256.h"

#include <openssl/evp.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"

namespace sketch {

absl::StatusOr<std::string> Sha256Stream(
    const std::function<absl::StatusOr<size_t>(char* buffer, size_t capacity)>& read) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("SHA-256 unavailable");
  }
  std::vector<char> buffer(1 << 16);
  while (true) {
    absl::StatusOr<size_t> got = read(buffer.data(), buffer.size());
    if (!got.ok()) return got.status();
    if (*got == 0) break;
    EVP_DigestUpdate(ctx.get(), buffer.data(), *got);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

absl::StatusOr<std::string> Sha256Bytes(std::string_view bytes) {
  return Sha256Stream([&bytes](char* buffer, size_t capacity) -> absl::StatusOr<size_t> {
    const size_t n = std::min(capacity, bytes.size());
    bytes.copy(buffer, n);
    bytes.remove_prefix(n);
    return n;
  });
}

absl::StatusOr<std::string> Sha256File(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  return Sha256Stream([&](char* buffer, size_t capacity) -> absl::StatusOr<size_t> {
    in.read(buffer, static_cast<std::streamsize>(capacity));
    if (in.bad()) return absl::InternalError(absl::StrCat("read error on ", path));
    return static_cast<size_t>(in.gcount());
  });
}

}  // namespace sketch
