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

}  // namespace
}  // namespace sketch
