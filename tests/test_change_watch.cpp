// vr-serve's change watcher (lib/http/change_watch.h) on a real file: an unchanged file is not
// loaded again, a change is, a file that failed is not retried until it changes, a request
// loads whatever is there, and stop() ends the watch.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "change_watch.h"
#include "support/test_support.h"
#include "vr/catalog_store.h"

namespace {

// Waits up to five seconds for `done`; false if it never became true.
template <typename Predicate>
bool eventually(Predicate done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace

TEST_CASE("change watcher: loads each change once, does not retry a failure, loads on request, stops") {
  vr::test::TempDir dir;
  const std::string path = dir.file("watched.txt");
  // Writes `text` beside the file and renames it into place (a new inode: a new fingerprint).
  const auto publish = [&](const std::string& text) {
    vr::test::write_file(path + ".new", text);
    REQUIRE(std::rename((path + ".new").c_str(), path.c_str()) == 0);
  };
  publish("good 1");

  std::mutex mutex;
  std::vector<std::string> loads;  // "trigger: content" of each load, in order
  const auto loaded = [&] {
    std::lock_guard lock(mutex);
    return loads;
  };
  vr::http::ChangeWatcher watcher(
      0.01, std::chrono::milliseconds(20), "file change", [&] { return vr::file_fingerprint(path); },
      [&](const std::string& trigger) {
        const std::string content = vr::test::read_file(path);
        std::lock_guard lock(mutex);
        loads.push_back(trigger + ": " + content);
        return content.rfind("good", 0) == 0;
      });
  std::thread thread([&] { watcher.run(vr::file_fingerprint(path)); });

  // What was loaded at the start is not loaded again while it stays the same.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(loaded().empty());

  publish("good 2");
  REQUIRE(eventually([&] { return loaded().size() == 1; }));
  CHECK(loaded()[0] == "file change: good 2");

  // A file that fails to load is tried once, and not again until it changes.
  publish("broken");
  REQUIRE(eventually([&] { return loaded().size() == 2; }));
  CHECK(loaded()[1] == "file change: broken");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(loaded().size() == 2);

  // A request loads what is there, changed or not.
  watcher.request();
  REQUIRE(eventually([&] { return loaded().size() == 3; }));
  CHECK(loaded()[2] == "SIGHUP: broken");

  publish("good 3");
  REQUIRE(eventually([&] { return loaded().size() == 4; }));
  CHECK(loaded()[3] == "file change: good 3");

  // A missing file is nothing to load.
  std::remove(path.c_str());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(loaded().size() == 4);

  watcher.stop();
  thread.join();
  // Once stopped, a new run returns at once.
  watcher.run("");
  CHECK(loaded().size() == 4);
}
