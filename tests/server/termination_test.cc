#include "server/termination.h"

#include <pthread.h>
#include <signal.h>

#include "gtest/gtest.h"

namespace sketch {
namespace {

// Restores the thread's signal mask when the test ends.
class TerminationTest : public ::testing::Test {
 protected:
  void SetUp() override { pthread_sigmask(SIG_SETMASK, nullptr, &old_mask_); }
  void TearDown() override { pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr); }

 private:
  sigset_t old_mask_;
};

TEST_F(TerminationTest, WaitReturnsTheSignalSentToTheBlockedThread) {
  ASSERT_TRUE(BlockServerSignals().ok());
  // Thread-directed, so only this (blocking) thread can take it, even with others running.
  pthread_kill(pthread_self(), SIGTERM);
  EXPECT_EQ(WaitForTerminationSignal(), SIGTERM);
  pthread_kill(pthread_self(), SIGINT);
  EXPECT_EQ(WaitForTerminationSignal(), SIGINT);
}

TEST_F(TerminationTest, HangupsCallTheReloadHookAndTheWaitGoesOn) {
  ASSERT_TRUE(BlockServerSignals().ok());
  int hangups = 0;
  // A pending SIGHUP is taken once however often it was sent: send, take, send again.
  pthread_kill(pthread_self(), SIGHUP);
  pthread_kill(pthread_self(), SIGTERM);
  // sigwait takes the lowest-numbered pending signal first: SIGHUP (1) before SIGTERM (15).
  EXPECT_EQ(WaitForTerminationSignal([&] {
              ++hangups;
              if (hangups == 1) pthread_kill(pthread_self(), SIGHUP);
            }),
            SIGTERM);
  EXPECT_EQ(hangups, 2);
}

TEST_F(TerminationTest, HangupWithoutAHookIsTakenAndIgnored) {
  ASSERT_TRUE(BlockServerSignals().ok());
  pthread_kill(pthread_self(), SIGHUP);
  pthread_kill(pthread_self(), SIGINT);
  EXPECT_EQ(WaitForTerminationSignal(), SIGINT);
  sigset_t pending;
  sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGHUP));
}

}  // namespace
}  // namespace sketch
