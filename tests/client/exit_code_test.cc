#include "client/cli.h"
#include "gtest/gtest.h"

namespace sketch {
namespace {

TEST(ExitCodeForRpcErrorTest, UnreachableIsUnavailableElseServerError) {
  EXPECT_EQ(ExitCodeForRpcError(absl::UnavailableError("down")), kExitUnavailable);
  EXPECT_EQ(ExitCodeForRpcError(absl::DeadlineExceededError("slow")), kExitUnavailable);
  EXPECT_EQ(ExitCodeForRpcError(absl::InvalidArgumentError("k")), kExitServerError);
  EXPECT_EQ(ExitCodeForRpcError(absl::InternalError("bug")), kExitServerError);
}

TEST(ExitCodeForRpcErrorTest, OverloadedOrCancelledIsUnavailableToo) {
  // A full model queue: wait or go elsewhere, as for UNAVAILABLE; not a bad request.
  EXPECT_EQ(ExitCodeForRpcError(absl::ResourceExhaustedError("queue full")), kExitUnavailable);
  // The client never cancels: a server shutting down did.
  EXPECT_EQ(ExitCodeForRpcError(absl::CancelledError("")), kExitUnavailable);
}

TEST(ExitCodeForRpcErrorTest, TheDocumentedTable) {
  // README "Exit codes" and `sketch --help` list the same.
  for (int c = 1; c <= 16; ++c) {
    const auto code = static_cast<absl::StatusCode>(c);
    const bool later =
        code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kResourceExhausted ||
        code == absl::StatusCode::kCancelled || code == absl::StatusCode::kDeadlineExceeded;
    EXPECT_EQ(ExitCodeForRpcError(absl::Status(code, "")),
              later ? kExitUnavailable : kExitServerError)
        << absl::StatusCodeToString(code);
  }
}

}  // namespace
}  // namespace sketch
