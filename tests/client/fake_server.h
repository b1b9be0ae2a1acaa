// An in-process sketchsearch server over the serving fakes, for client tests.
#ifndef SKETCH_TESTS_CLIENT_FAKE_SERVER_H_
#define SKETCH_TESTS_CLIENT_FAKE_SERVER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/sketch.h"
#include "core/sketch_reader.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/server/test_fakes.h"
#include "tests/testing/read_all.h"

namespace sketch::testing {

inline std::string TestData(const std::string& relative) {
  return std::string(SKETCH_TEST_DATA_DIR) + "/quickdraw/" + relative;
}

// Makes `server` serve FakeEmbedder(classes, dimension, class_weight) and an index of `indexed`
// (their FakeFeatures): what a real server does once its bundle is loaded. `index` is what
// GetInfo says of the index (e.g. that it expands queries); the fake index itself is exact.
inline void ServeFakes(SketchServer* server, const std::vector<Sketch>& indexed,
                       const std::vector<std::string>& classes, int dimension, float class_weight,
                       std::map<std::string, double> metrics = {}, IndexDescription index = {}) {
  const absl::Status status =
      server->Serve(std::make_unique<FakeEmbedder>(classes, dimension, class_weight),
                    MakeFakeIndex(indexed, classes, dimension, class_weight),
                    BundleInfo{"sknet", "h", "", std::move(metrics), std::move(index)});
  EXPECT_TRUE(status.ok()) << status;
}

// Serves the fakes of ServeFakes, without a network port unless `address` names one (loopback,
// e.g. "127.0.0.1:0"). Start with serve = false to stay NOT_SERVING.
inline std::unique_ptr<SketchServer> StartFakeServer(const std::vector<Sketch>& indexed,
                                                     const std::vector<std::string>& classes,
                                                     int dimension, float class_weight,
                                                     bool serve = true,
                                                     std::map<std::string, double> metrics = {},
                                                     const std::string& address = "") {
  ServerOptions options;
  options.address = address;
  options.backend.batcher.max_queue_delay = absl::Microseconds(200);
  auto server = SketchServer::Start(options);
  EXPECT_TRUE(server.ok()) << server.status();
  if (serve) {
    ServeFakes(server->get(), indexed, classes, dimension, class_weight, std::move(metrics));
  }
  return *std::move(server);
}

}  // namespace sketch::testing

#endif  // SKETCH_TESTS_CLIENT_FAKE_SERVER_H_
