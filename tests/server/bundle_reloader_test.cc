#include "server/bundle_reloader.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/test_fakes.h"
#include "tests/testing/temp_files.h"

namespace sketch {
namespace {

namespace fs = std::filesystem;
using ::sketch::testing::FakeEmbedder;
using ::sketch::testing::MakeFakeIndex;
using ::sketch::testing::MakeSketch;
using ::testing::HasSubstr;

const std::vector<std::string> kClasses = {"cat", "dog"};

// Fake bundles: a directory whose file "hash" holds its bundle hash; one with a file "corrupt"
// fails to load. The served path is a `current` symlink re-pointed as a publisher does it.
class BundleReloaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = TempPath(::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    MakeBundle("a", "aaa");
    Point("a");
    ServerOptions options;
    options.address = "127.0.0.1:0";
    auto server = SketchServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    auto loaded = Load(current());
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    ASSERT_TRUE(
        server_->Serve(std::move(loaded->embedder), std::move(loaded->index), loaded->info).ok());
    loads_ = 0;
  }

  std::string current() const { return root_ + "/current"; }

  void MakeBundle(const std::string& name, const std::string& hash, bool corrupt = false) {
    fs::create_directories(root_ + "/" + name);
    std::ofstream(root_ + "/" + name + "/hash") << hash;
    if (corrupt) std::ofstream(root_ + "/" + name + "/corrupt") << "x";
  }

  // ln -s NAME current.tmp && mv -T current.tmp current: the symlink flips atomically.
  void Point(const std::string& name) {
    fs::remove(root_ + "/current.tmp");
    fs::create_directory_symlink(name, root_ + "/current.tmp");
    fs::rename(root_ + "/current.tmp", current());
  }

  BundleSource Source() {
    return {[](const std::string& dir) -> absl::StatusOr<std::string> {
              const std::string hash = ReadFileBytes(dir + "/hash");
              if (hash.empty()) return absl::NotFoundError(dir + "/hash: missing");
              return hash;
            },
            [this](const std::string& dir) { return Load(dir); }};
  }

  absl::StatusOr<ServableBundle> Load(const std::string& dir) {
    ++loads_;
    if (load_gate_ != nullptr) {
      load_entered_.Notify();
      load_gate_->WaitForNotification();
    }
    if (fs::exists(dir + "/corrupt")) {
      return absl::DataLossError(dir + "/model.pt: SHA-256 does not match the manifest");
    }
    ServableBundle bundle;
    bundle.embedder = std::make_unique<FakeEmbedder>(kClasses, 8);
    bundle.index = MakeFakeIndex({MakeSketch(1, "cat"), MakeSketch(2, "dog")}, kClasses, 8);
    bundle.info.bundle_hash = ReadFileBytes(dir + "/hash");
    return bundle;
  }

  std::unique_ptr<BundleReloader> Reloader(absl::Duration watch) {
    BundleReloaderOptions options;
    options.bundle_path = current();
    options.watch_interval = watch;
    return std::make_unique<BundleReloader>(server_.get(), options, Source(),
                                            [this](const std::string& line) {
                                              absl::MutexLock lock(&log_mu_);
                                              log_.push_back(line);
                                            });
  }

  std::string Log() {
    absl::MutexLock lock(&log_mu_);
    std::string all;
    for (const std::string& line : log_) all += line + "\n";
    return all;
  }

  std::string root_;
  std::unique_ptr<SketchServer> server_;
  std::atomic<int> loads_{0};
  absl::Notification* load_gate_ = nullptr;
  absl::Notification load_entered_;
  absl::Mutex log_mu_;
  std::vector<std::string> log_;
};

TEST_F(BundleReloaderTest, WatchSwapsInTheBundleTheSymlinkNowPointsTo) {
  auto reloader = Reloader(absl::Milliseconds(10));
  MakeBundle("b", "bbb");
  Point("b");
  ASSERT_TRUE(reloader->WaitForAttempts(1, absl::Seconds(10)));
  EXPECT_EQ(server_->bundle_hash(), "bbb");
  EXPECT_THAT(server_->metrics().Serialize(),
              HasSubstr("sketchsearch_bundle_reloads_total{result=\"ok\"} 1"));
  EXPECT_THAT(Log(), HasSubstr("reload (watch) of " + fs::canonical(root_ + "/b").string() +
                               ": ok, now serving bundle bbb (was aaa)"));
  // Back to the first one: a change too.
  Point("a");
  ASSERT_TRUE(reloader->WaitForAttempts(2, absl::Seconds(10)));
  EXPECT_EQ(server_->bundle_hash(), "aaa");
  EXPECT_EQ(loads_, 2);
}

TEST_F(BundleReloaderTest, ABrokenBundleIsRefusedOnceAndTheOldOneServesOn) {
  auto reloader = Reloader(absl::Milliseconds(10));
  MakeBundle("broken", "ccc", /*corrupt=*/true);
  Point("broken");
  ASSERT_TRUE(reloader->WaitForAttempts(1, absl::Seconds(10)));
  EXPECT_EQ(server_->bundle_hash(), "aaa");
  EXPECT_THAT(server_->metrics().Serialize(),
              HasSubstr("sketchsearch_bundle_reloads_total{result=\"failed\"} 1"));
  EXPECT_THAT(Log(), HasSubstr("failed, DATA_LOSS: "));
  EXPECT_THAT(Log(), HasSubstr("SHA-256 does not match the manifest; serving aaa"));
  // The watch does not try the same broken bundle again and again...
  EXPECT_FALSE(reloader->WaitForAttempts(2, absl::Milliseconds(200)));
  EXPECT_EQ(loads_, 1);
  // ... a request does.
  reloader->RequestReload();
  ASSERT_TRUE(reloader->WaitForAttempts(2, absl::Seconds(10)));
  EXPECT_EQ(loads_, 2);
  EXPECT_EQ(server_->bundle_hash(), "aaa");
}

TEST_F(BundleReloaderTest, AMissingBundleFailsWithItsPath) {
  auto reloader = Reloader(absl::ZeroDuration());
  fs::remove(current());
  EXPECT_EQ(reloader->ReloadNow(), ReloadResult::kFailed);
  EXPECT_THAT(Log(), HasSubstr(current()));
  EXPECT_EQ(server_->bundle_hash(), "aaa");
}

TEST_F(BundleReloaderTest, TheBundleServingIsNotLoadedAgain) {
  auto reloader = Reloader(absl::ZeroDuration());
  EXPECT_EQ(reloader->ReloadNow(), ReloadResult::kUnchanged);
  // A copy with the same hash elsewhere: the same bundle.
  MakeBundle("a_copy", "aaa");
  Point("a_copy");
  EXPECT_EQ(reloader->ReloadNow(), ReloadResult::kUnchanged);
  EXPECT_EQ(loads_, 0);
  EXPECT_THAT(server_->metrics().Serialize(),
              HasSubstr("sketchsearch_bundle_reloads_total{result=\"unchanged\"} 2"));
}

TEST_F(BundleReloaderTest, RequestsDuringAReloadQueueExactlyOneMore) {
  auto reloader = Reloader(absl::ZeroDuration());  // requests only
  MakeBundle("b", "bbb");
  Point("b");
  absl::Notification gate;
  load_gate_ = &gate;
  reloader->RequestReload();
  load_entered_.WaitForNotification();
  for (int i = 0; i < 3; ++i) reloader->RequestReload();
  gate.Notify();
  ASSERT_TRUE(reloader->WaitForAttempts(2, absl::Seconds(10)));
  EXPECT_FALSE(reloader->WaitForAttempts(3, absl::Milliseconds(200)));
  EXPECT_EQ(server_->bundle_hash(), "bbb");
  EXPECT_EQ(loads_, 1);  // the queued one found "bbb" serving: unchanged, not loaded
  EXPECT_THAT(server_->metrics().Serialize(),
              HasSubstr("sketchsearch_bundle_reloads_total{result=\"unchanged\"} 1"));
}

}  // namespace
}  // namespace sketch
