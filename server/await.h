// AwaitResult: the blocking form of a call that reports its result through a callback. The
// service uses the callback forms (a waiting call holds no thread); tools and tests that want
// the answer on the calling thread wrap them with this.
#ifndef SKETCH_SERVER_AWAIT_H_
#define SKETCH_SERVER_AWAIT_H_

#include <functional>
#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"

namespace sketch {

// Calls start(done) and blocks until `done` has been called (once, on any thread), then returns
// what it was given. `start` must arrange for `done` to be called exactly once.
template <typename T>
absl::StatusOr<T> AwaitResult(
    const std::function<void(std::function<void(absl::StatusOr<T>)>)>& start) {
  // Shared with the callback, which may still be returning from Notify when the wait ends.
  struct State {
    absl::StatusOr<T> result;
    absl::Notification finished;
  };
  auto state = std::make_shared<State>();
  start([state](absl::StatusOr<T> result) {
    state->result = std::move(result);
    state->finished.Notify();
  });
  state->finished.WaitForNotification();
  return std::move(state->result);
}

}  // namespace sketch

#endif  // SKETCH_SERVER_AWAIT_H_
