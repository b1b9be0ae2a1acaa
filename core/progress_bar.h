// A terminal progress bar for long offline jobs (prepare, train, evaluate): done/total, rate,
// ETA and a free-form status. Redraws in place on a TTY; elsewhere (CI logs) prints a line
// every few seconds so logs stay short.
#ifndef SKETCH_CORE_PROGRESS_BAR_H_
#define SKETCH_CORE_PROGRESS_BAR_H_

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

namespace sketch {

class ProgressBar {
 public:
  // `total` <= 0 means unknown (no percentage or ETA). `unit` names what is counted ("img").
  // Writes to `out` (stderr by default); `enabled` false makes every call a no-op.
  ProgressBar(std::string label, int64_t total, std::string unit, bool enabled = true,
              std::FILE* out = stderr);
  ~ProgressBar();

  // Sets the count done so far and the status text; redraws at most ~10 times a second.
  // Thread-safe.
  void Update(int64_t done, const std::string& status = "");
  void Add(int64_t delta, const std::string& status = "");

  // Draws the final state and ends the line. Idempotent; the destructor calls it.
  void Finish();

 private:
  using Clock = std::chrono::steady_clock;
  void DrawLocked(bool final_draw);

  std::string label_;
  int64_t total_;
  std::string unit_;
  bool enabled_;
  std::FILE* out_;
  bool is_tty_;
  std::mutex mu_;
  int64_t done_ = 0;
  std::string status_;
  Clock::time_point start_;
  Clock::time_point last_draw_;
  bool finished_ = false;
};

// "1h02m", "3m05s", "12s".
std::string FormatDuration(double seconds);

}  // namespace sketch

#endif  // SKETCH_CORE_PROGRESS_BAR_H_
