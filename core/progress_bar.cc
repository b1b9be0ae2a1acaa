#include "core/progress_bar.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

namespace sketch {
namespace {

constexpr auto kTtyRedrawInterval = std::chrono::milliseconds(100);
constexpr auto kLogRedrawInterval = std::chrono::seconds(5);
constexpr int kBarWidth = 24;

std::string Bar(double fraction) {
  const int filled = static_cast<int>(std::clamp(fraction, 0.0, 1.0) * kBarWidth);
  return std::string(filled, '#') + std::string(kBarWidth - filled, '.');
}

}  // namespace

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  if (s >= 60) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

ProgressBar::ProgressBar(std::string label, int64_t total, std::string unit, bool enabled,
                         std::FILE* out)
    : label_(std::move(label)),
      total_(total),
      unit_(std::move(unit)),
      enabled_(enabled),
      out_(out),
      is_tty_(isatty(fileno(out)) != 0),
      start_(Clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() { Finish(); }

void ProgressBar::Update(int64_t done, const std::string& status) {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mu_);
  done_ = done;
  if (!status.empty()) status_ = status;
  const auto now = Clock::now();
  if (now - last_draw_ >= (is_tty_ ? kTtyRedrawInterval : kLogRedrawInterval)) {
    last_draw_ = now;
    DrawLocked(false);
  }
}

void ProgressBar::Add(int64_t delta, const std::string& status) {
  if (!enabled_) return;
  int64_t done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done = done_ + delta;
  }
  Update(done, status);
}

void ProgressBar::Finish() {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  finished_ = true;
  DrawLocked(true);
}

void ProgressBar::DrawLocked(bool final_draw) {
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const double rate = elapsed > 0 ? done_ / elapsed : 0.0;
  std::string line = label_;
  if (total_ > 0) {
    const double fraction = static_cast<double>(done_) / total_;
    const double eta = rate > 0 ? (total_ - done_) / rate : NAN;
    line += absl::StrFormat(" [%s] %3.0f%% %d/%d %s | %.1f %s/s | %s | ETA %s", Bar(fraction),
                            100 * fraction, done_, total_, unit_, rate, unit_,
                            FormatDuration(elapsed), final_draw ? "0s" : FormatDuration(eta));
  } else {
    line += absl::StrFormat(" %d %s | %.1f %s/s | %s", done_, unit_, rate, unit_,
                            FormatDuration(elapsed));
  }
  if (!status_.empty()) line += " | " + status_;
  if (is_tty_) {
    std::fprintf(out_, "\r\033[K%s%s", line.c_str(), final_draw ? "\n" : "");
  } else {
    std::fprintf(out_, "%s\n", line.c_str());
  }
  std::fflush(out_);
}

}  // namespace sketch
