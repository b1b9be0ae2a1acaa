// BundleReloader: takes a new model bundle while the server serves. On request (SIGHUP) and, with
// a watch interval, whenever the bundle path changes (a directory whose manifest changes, or a
// `current` symlink that a publisher re-points: deploy/publish_bundle.sh), it loads and verifies
// the bundle on its own thread, warmed up, and swaps it in (SketchServer::SwapBundle: no call
// fails, calls in flight finish on the old bundle). A bundle that fails to load, verify or
// install leaves the old one serving; every attempt is logged with its reason and counted
// (sketchsearch_bundle_reloads_total{result="ok|failed|unchanged"}).
//
// What counts as a change: the directory the path resolves to, or its bundle hash (the SHA-256 of
// its manifest.json). A bundle whose hash is the one serving is not loaded ("unchanged"). The
// watch tries each change once: a failed bundle is tried again when the path changes again or on
// SIGHUP (which always looks).
#ifndef SKETCH_SERVER_BUNDLE_RELOADER_H_
#define SKETCH_SERVER_BUNDLE_RELOADER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/bundle_loader.h"
#include "server/server.h"

namespace sketch {

struct BundleReloaderOptions {
  // A bundle directory or a symlink to one; resolved at each look, and the bundle is loaded from
  // the directory it resolved to (a symlink flipped during a load does not mix two bundles).
  std::string bundle_path;
  // How often the path is looked at; zero: never (reload on request only).
  absl::Duration watch_interval = absl::ZeroDuration();
};

// How to read a bundle: main passes ReadBundleHash and LoadServableBundle (server/bundle_loader.h);
// tests pass fakes. Both are called on the reloader's thread.
struct BundleSource {
  std::function<absl::StatusOr<std::string>(const std::string& dir)> read_hash;
  std::function<absl::StatusOr<ServableBundle>(const std::string& dir)> load;
};

enum class ReloadResult { kOk, kFailed, kUnchanged };
// "ok", "failed", "unchanged": the metric's label values.
absl::string_view ReloadResultName(ReloadResult result);

class BundleReloader {
 public:
  // Starts the reloader's thread. `server` must be serving (SketchServer::Serve) the bundle now
  // at options.bundle_path and outlive the reloader. `log` (may be empty) gets one line per
  // attempt, from the reloader's thread.
  BundleReloader(SketchServer* server, BundleReloaderOptions options, BundleSource source,
                 std::function<void(const std::string& line)> log = {});
  // Stops the thread; a reload in progress finishes first.
  ~BundleReloader();

  BundleReloader(const BundleReloader&) = delete;
  BundleReloader& operator=(const BundleReloader&) = delete;

  // Asks the thread for a reload and returns at once (a signal-waiting loop calls it). One
  // reload runs at a time; requests made while one runs queue exactly one more. Thread-safe.
  void RequestReload();

  // Reloads from the path now, on the calling thread, after any reload in progress. Thread-safe.
  ReloadResult ReloadNow();

  // Reload attempts finished so far (every result). Thread-safe.
  int64_t attempts() const;
  // Waits until attempts() >= `count`; false if `timeout` passed first. Thread-safe.
  bool WaitForAttempts(int64_t count, absl::Duration timeout) const;

 private:
  // What the path is now: the directory it resolves to and that bundle's hash (or why not).
  struct Observed {
    std::string dir;
    absl::StatusOr<std::string> hash;
    std::string Fingerprint() const;
  };
  Observed Observe() const;
  ReloadResult Reload(const Observed& observed, absl::string_view trigger);
  void Run();

  SketchServer* const server_;
  const BundleReloaderOptions options_;
  const BundleSource source_;
  const std::function<void(const std::string&)> log_;

  absl::Mutex reload_mu_;  // held through one reload
  std::string last_seen_;  // the watch's last fingerprint; the thread's alone
  mutable absl::Mutex mu_;
  bool requested_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t attempts_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;  // last: starts once everything above is set
};

}  // namespace sketch

#endif  // SKETCH_SERVER_BUNDLE_RELOADER_H_
