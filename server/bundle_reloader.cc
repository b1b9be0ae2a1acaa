#include "server/bundle_reloader.h"

#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"

namespace sketch {
namespace {

// For the log: a hash cut to the length people compare at a glance.
std::string Short(const std::string& hash) { return hash.empty() ? "(none)" : hash.substr(0, 12); }

}  // namespace

absl::string_view ReloadResultName(ReloadResult result) {
  switch (result) {
    case ReloadResult::kOk:
      return "ok";
    case ReloadResult::kFailed:
      return "failed";
    case ReloadResult::kUnchanged:
      return "unchanged";
  }
  return "failed";
}

std::string BundleReloader::Observed::Fingerprint() const {
  return absl::StrCat(dir, "\n", hash.ok() ? *hash : hash.status().ToString());
}

BundleReloader::BundleReloader(SketchServer* server, BundleReloaderOptions options,
                               BundleSource source, std::function<void(const std::string&)> log)
    : server_(server),
      options_(std::move(options)),
      source_(std::move(source)),
      log_(std::move(log)),
      last_seen_(Observe().Fingerprint()),
      thread_([this] { Run(); }) {}

BundleReloader::~BundleReloader() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void BundleReloader::RequestReload() {
  absl::MutexLock lock(&mu_);
  requested_ = true;
}

ReloadResult BundleReloader::ReloadNow() { return Reload(Observe(), "requested"); }

int64_t BundleReloader::attempts() const {
  absl::MutexLock lock(&mu_);
  return attempts_;
}

bool BundleReloader::WaitForAttempts(int64_t count, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  const auto done = [this, count]()
                        ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return attempts_ >= count; };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

BundleReloader::Observed BundleReloader::Observe() const {
  std::error_code error;
  const std::filesystem::path dir = std::filesystem::canonical(options_.bundle_path, error);
  if (error) {
    return {options_.bundle_path,
            absl::NotFoundError(absl::StrCat(options_.bundle_path, ": ", error.message()))};
  }
  return {dir.string(), source_.read_hash(dir.string())};
}

ReloadResult BundleReloader::Reload(const Observed& observed, absl::string_view trigger) {
  absl::MutexLock reload_lock(&reload_mu_);
  const std::string serving = server_->bundle_hash();
  ReloadResult result = ReloadResult::kFailed;
  std::string outcome;
  if (!observed.hash.ok()) {
    outcome = observed.hash.status().ToString();
  } else if (*observed.hash == serving) {
    result = ReloadResult::kUnchanged;
    outcome = "already serving it";
  } else {
    absl::StatusOr<ServableBundle> bundle = source_.load(observed.dir);
    if (!bundle.ok()) {
      outcome = bundle.status().ToString();
    } else if (bundle->info.bundle_hash == serving) {  // re-published as it was, meanwhile
      result = ReloadResult::kUnchanged;
      outcome = "already serving it";
    } else {
      const std::string hash = bundle->info.bundle_hash;
      const absl::Status swapped = server_->SwapBundle(
          std::move(bundle->embedder), std::move(bundle->index), std::move(bundle->info));
      if (swapped.ok()) {
        result = ReloadResult::kOk;
        outcome = absl::StrCat("now serving bundle ", Short(hash));
      } else {
        outcome = swapped.ToString();
      }
    }
  }
  server_->metrics().RecordBundleReload(ReloadResultName(result));
  if (log_) {
    log_(absl::StrCat("reload (", trigger, ") of ", observed.dir, ": ", ReloadResultName(result),
                      ", ", outcome,
                      result == ReloadResult::kOk ? absl::StrCat(" (was ", Short(serving), ")")
                                                  : absl::StrCat("; serving ", Short(serving))));
  }
  absl::MutexLock lock(&mu_);
  ++attempts_;
  return result;
}

void BundleReloader::Run() {
  const auto wanted = [this]()
                          ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return requested_ || stopping_; };
  const bool watching = options_.watch_interval > absl::ZeroDuration();
  mu_.Lock();
  while (true) {
    if (watching) {
      mu_.AwaitWithTimeout(absl::Condition(&wanted), options_.watch_interval);
    } else {
      mu_.Await(absl::Condition(&wanted));
    }
    if (stopping_) break;
    const bool requested = std::exchange(requested_, false);
    mu_.Unlock();
    const Observed observed = Observe();
    const std::string fingerprint = observed.Fingerprint();
    // A request always reloads; the watch only on a change, so a broken bundle is tried once.
    if (requested || fingerprint != last_seen_) {
      last_seen_ = fingerprint;
      Reload(observed, requested ? "requested" : "watch");
    }
    mu_.Lock();
  }
  mu_.Unlock();
}

}  // namespace sketch
