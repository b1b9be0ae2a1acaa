#include "server/termination.h"

#include <pthread.h>
#include <signal.h>

#include "gtest/gtest.h"

namespace sketch {
namespace {

TEST(TerminationTest, WaitReturnsTheSignalSentToTheBlockedThread) {
  sigset_t old_mask;
  pthread_sigmask(SIG_SETMASK, nullptr, &old_mask);
  ASSERT_TRUE(BlockTerminationSignals().ok());
  // Thread-directed, so only this (blocking) thread can take it, even with others running.
  pthread_kill(pthread_self(), SIGTERM);
  EXPECT_EQ(WaitForTerminationSignal(), SIGTERM);
  pthread_kill(pthread_self(), SIGINT);
  EXPECT_EQ(WaitForTerminationSignal(), SIGINT);
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
}

}  // namespace
}  // namespace sketch
