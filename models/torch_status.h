// The one wrapper that turns what LibTorch throws into an absl::Status, so no exception crosses
// our headers (docs/STYLE.md, Errors).
#ifndef SKETCH_MODELS_TORCH_STATUS_H_
#define SKETCH_MODELS_TORCH_STATUS_H_

#include <c10/util/Exception.h>

#include <exception>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sketch {

// Runs fn() (returning absl::Status) and returns its status; a c10::Error, or any other
// std::exception torch throws, becomes Internal "<what>: <message>".
template <typename Fn>
absl::Status TorchCall(const std::string& what, Fn&& fn) {
  try {
    return fn();
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat(what, ": ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(what, ": ", e.what()));
  }
}

}  // namespace sketch

#endif  // SKETCH_MODELS_TORCH_STATUS_H_
