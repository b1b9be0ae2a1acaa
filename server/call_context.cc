#include "server/call_context.h"

namespace sketch {

absl::Status CallContext::Check(absl::Time now) const {
  if (now >= deadline) return absl::DeadlineExceededError("the call's deadline has passed");
  if (is_cancelled && is_cancelled()) return absl::CancelledError("the call was cancelled");
  return absl::OkStatus();
}

}  // namespace sketch
