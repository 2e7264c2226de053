// vr-serve end to end: the real binary on a free loopback port, a real HTTP client. Also the
// HTTP layer's metrics rendering, and the /docs and /redoc pages in headless Chromium.
// This file includes httplib.h, so it must never include Eigen (vr/recommender.h).
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "metrics.h"
#include "support/test_support.h"

using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Trains a model on the 5x5 example into `directory` with the given seed.
void make_model(const std::string& directory, int seed = 42) {
  fs::create_directories(directory);
  auto features = vr::test::run_command(
      {vr::test::tool("vr-features"), vr::test::source_path("data/interactions.csv"), "--dir", directory});
  REQUIRE(features.exit_code == 0);
  auto train = vr::test::run_command({vr::test::tool("vr-train"), "--dir", directory, "--quiet", "--factors", "8",
                                      "--iterations", "10", "--seed", std::to_string(seed)});
  REQUIRE(train.exit_code == 0);
}

// A port nobody listens on right now (bound, read, released).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// A raw client connection on loopback, for requests sent in pieces and connections left idle.
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    REQUIRE(fd_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  }
  ~RawConnection() { ::close(fd_); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  void send(const std::string& bytes) {
    REQUIRE(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size()));
  }

  // One response (headers and a Content-Length body), waiting at most `limit`; "" if none came.
  std::string read_response(std::chrono::seconds limit = 10s) {
    set_timeout(limit);
    std::string data;
    std::size_t headers_end = std::string::npos;
    std::size_t length = 0;
    for (;;) {
      if (headers_end == std::string::npos && (headers_end = data.find("\r\n\r\n")) != std::string::npos) {
        const std::regex content_length(R"((?:^|\r\n)content-length: *(\d+))", std::regex::icase);
        std::smatch match;
        const std::string headers = data.substr(0, headers_end);
        if (std::regex_search(headers, match, content_length)) length = std::stoul(match[1]);
      }
      if (headers_end != std::string::npos && data.size() >= headers_end + 4 + length) return data;
      char buffer[4096];
      const ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
      if (got <= 0) return data;
      data.append(buffer, static_cast<std::size_t>(got));
    }
  }

  // Whether the server closes the connection (end of stream) within `limit` without sending
  // anything more.
  bool closed_by_server(std::chrono::seconds limit) {
    set_timeout(limit);
    char byte = 0;
    return ::recv(fd_, &byte, 1, 0) == 0;
  }

 private:
  void set_timeout(std::chrono::seconds limit) {
    timeval timeout{static_cast<time_t>(limit.count()), 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  int fd_;
};

// The real vr-serve, started with its stderr in a file; stopped with SIGTERM when it goes away.
class ServerProcess {
 public:
  ServerProcess(const std::vector<std::string>& args, const std::string& log_path,
                const std::vector<std::string>& extra_env = {})
      : log_path_(log_path) {
    std::vector<std::string> argv_strings = {vr::test::tool("vr-serve")};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<std::string> env_strings;
    for (char** entry = environ; *entry != nullptr; ++entry) env_strings.emplace_back(*entry);
    env_strings.insert(env_strings.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> argv;
    for (auto& arg : argv_strings) argv.push_back(arg.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& entry : env_strings) envp.push_back(entry.data());
    envp.push_back(nullptr);
    const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE(log_fd >= 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::dup2(log_fd, STDERR_FILENO);
      ::dup2(log_fd, STDOUT_FILENO);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(log_fd);
  }
  ~ServerProcess() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  pid_t pid() const { return pid_; }
  std::string log() const { return vr::test::read_file(log_path_); }

  // The port from the "listening" log line (waits up to 10 s for it).
  int port() {
    if (port_ > 0) return port_;
    const std::regex listening(R"re("event":"listening".*"port":(\d+))re");
    for (int attempt = 0; attempt < 1000; ++attempt) {
      std::smatch match;
      const std::string text = log();
      if (std::regex_search(text, match, listening)) return port_ = std::stoi(match[1]);
      if (has_exited()) break;
      std::this_thread::sleep_for(10ms);
    }
    FAIL("vr-serve did not log a listening line:\n" << log());
    return -1;
  }

  httplib::Client client() {
    httplib::Client client("127.0.0.1", port());
    client.set_read_timeout(30, 0);
    client.set_connection_timeout(5, 0);
    // One connection per client, as real clients keep: its requests are then handled in order
    // by one server thread, so /metrics always includes the requests before it.
    client.set_keep_alive(true);
    // cpp-httplib writes a request's headers and body separately; with Nagle's algorithm on,
    // the body then waits for the server's delayed ACK (40 ms) on every kept-alive POST.
    client.set_tcp_nodelay(true);
    return client;
  }

  // Waits until /ping answers 200 (up to 30 s).
  void wait_ready() {
    auto http = client();
    for (int attempt = 0; attempt < 3000; ++attempt) {
      auto response = http.Get("/ping");
      if (response && response->status == 200) return;
      if (has_exited()) FAIL("vr-serve exited (code " << exit_code_ << ") before it was ready:\n" << log());
      std::this_thread::sleep_for(10ms);
    }
    FAIL("vr-serve never became ready:\n" << log());
  }

  // Whether the log holds `text`, waiting up to 5 s for it: vr-serve's lines are written by a
  // writer thread a moment after the event.
  bool logged(const std::string& text) {
    for (int attempt = 0; attempt < 1000 && log().find(text) == std::string::npos; ++attempt) {
      std::this_thread::sleep_for(5ms);
    }
    return log().find(text) != std::string::npos;
  }

  bool has_exited() {
    if (exited_) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return exited_;
  }

  // Waits for the process to end on its own (up to `limit`); its exit code, or -1 if it did not.
  int wait_exit(std::chrono::milliseconds limit = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!has_exited() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
    return exited_ ? exit_code_ : -1;
  }

  void signal(int number) { ::kill(pid_, number); }

  // SIGTERM, then the exit code.
  int stop() {
    signal(SIGTERM);
    return wait_exit();
  }

 private:
  std::string log_path_;
  pid_t pid_ = -1;
  int port_ = -1;
  bool exited_ = false;
  int exit_code_ = -1;
};

httplib::Result post_json(httplib::Client& client, const std::string& body) {
  return client.Post("/invocations", body, "application/json");
}

// The value of one metric line, e.g. metric(text, "vr_model_reloads_total{result=\"ok\"}").
double metric(const std::string& text, const std::string& name) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

// Repoints `link` at `target` atomically (a new link renamed over the old one).
void repoint(const std::string& link, const std::string& target) {
  const std::string temporary = link + ".new";
  fs::remove(temporary);
  fs::create_directory_symlink(target, temporary);
  fs::rename(temporary, link);
}

// The access log's request lines.
std::vector<json> request_lines(const std::string& log) {
  std::vector<json> lines;
  std::istringstream input(log);
  std::string line;
  while (std::getline(input, line)) {
    const json parsed = json::parse(line, nullptr, false);
    if (!parsed.is_discarded() && parsed.value("event", "") == "request") lines.push_back(parsed);
  }
  return lines;
}

}  // namespace

TEST_CASE("vr-serve answers every endpoint with the original shapes and JSON errors") {
  vr::test::TempDir temp;
  make_model(temp.file("model"));
  ServerProcess server({"serve", "--model-dir", temp.file("model"), "--host", "127.0.0.1", "--port", "0"},
                       temp.file("serve.log"));
  server.wait_ready();
  auto http = server.client();

  SECTION("GET /ping") {
    auto response = http.Get("/ping");
    REQUIRE(response);
    CHECK(response->status == 200);
    CHECK(json::parse(response->body) == json{{"status", "ok"}});
    CHECK(response->get_header_value("Content-Type") == "application/json");
  }

  SECTION("POST /invocations: the original request and response shape, keys in order") {
    auto response = post_json(http, R"({"user_id": "u001", "k": 3})");
    REQUIRE(response);
    CHECK(response->status == 200);
    CHECK(response->get_header_value("Content-Type") == "application/json");
    CHECK(!response->get_header_value("X-Model-Version").empty());
    CHECK(response->body.rfind(R"({"userId":"u001","recommendations":[{"videoId":")", 0) == 0);
    const json body = json::parse(response->body);
    REQUIRE(body.size() == 2);
    REQUIRE(body["recommendations"].size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
      const json& item = body["recommendations"][i];
      CHECK(item.size() == 2);
      CHECK(item["videoId"].get<std::string>().rfind('v', 0) == 0);
      CHECK(item["score"].is_number_float());
      if (i > 0) CHECK(item["score"].get<double>() <= body["recommendations"][i - 1]["score"].get<double>());
    }
    // u001 watched v001 and v002 in the example; they are not recommended by default.
    for (const auto& item : body["recommendations"]) {
      CHECK(item["videoId"] != "v001");
      CHECK(item["videoId"] != "v002");
    }
  }

  SECTION("k defaults to 5, capped by what the user has not watched") {
    auto response = post_json(http, R"({"user_id": "u001"})");
    REQUIRE(response);
    CHECK(response->status == 200);
    CHECK(json::parse(response->body)["recommendations"].size() == 3);
    auto with_watched = post_json(http, R"({"user_id": "u001", "include_watched": true})");
    CHECK(json::parse(with_watched->body)["recommendations"].size() == 5);
  }

  SECTION("unknown user: 404 with FastAPI's detail") {
    auto response = post_json(http, R"({"user_id": "u999", "k": 3})");
    REQUIRE(response);
    CHECK(response->status == 404);
    CHECK(response->body == R"({"detail":"User 'u999' not found"})");
  }

  SECTION("validation errors: 422 in FastAPI's shape") {
    auto missing = post_json(http, R"({"k": 3})");
    REQUIRE(missing);
    CHECK(missing->status == 422);
    const json detail = json::parse(missing->body)["detail"];
    REQUIRE(detail.size() == 1);
    CHECK(detail[0]["loc"] == json::array({"body", "user_id"}));
    CHECK(detail[0]["type"] == "missing");
    CHECK(detail[0]["msg"] == "Field required");

    auto wrong_types = post_json(http, R"({"user_id": 7, "k": "many", "explain": [1]})");
    CHECK(wrong_types->status == 422);
    const json issues = json::parse(wrong_types->body)["detail"];
    REQUIRE(issues.size() == 3);
    CHECK(issues[0]["loc"] == json::array({"body", "user_id"}));
    CHECK(issues[0]["type"] == "string_type");
    CHECK(issues[1]["loc"] == json::array({"body", "k"}));
    CHECK(issues[1]["type"] == "int_parsing");
    CHECK(issues[2]["loc"] == json::array({"body", "explain"}));
    CHECK(issues[2]["type"] == "bool_type");

    for (const char* bad_k : {"0", "1001", "2.5", "true", "null_is_fine"}) {
      if (std::string(bad_k) == "null_is_fine") {
        CHECK(post_json(http, R"({"user_id": "u001", "k": null})")->status == 200);
        continue;
      }
      auto response = post_json(http, std::string(R"({"user_id": "u001", "k": )") + bad_k + "}");
      CAPTURE(bad_k, response->body);
      CHECK(response->status == 422);
      CHECK(json::parse(response->body)["detail"][0]["loc"] == json::array({"body", "k"}));
    }
    auto history_type = post_json(http, R"({"history": ["v001", 3]})");
    CHECK(history_type->status == 422);
    CHECK(json::parse(history_type->body)["detail"][0]["loc"] == json::array({"body", "history", 1}));

    auto broken = post_json(http, R"({"user_id": "u001",)");
    CHECK(broken->status == 422);
    CHECK(json::parse(broken->body)["detail"][0]["type"] == "json_invalid");

    auto not_object = post_json(http, R"(["u001"])");
    CHECK(not_object->status == 422);
    CHECK(json::parse(not_object->body)["detail"][0]["type"] == "model_attributes_type");
  }

  SECTION("a body that is not JSON at all: 400; empty: 422") {
    auto response = post_json(http, "user_id=u001");
    REQUIRE(response);
    CHECK(response->status == 400);
    CHECK(json::parse(response->body).contains("detail"));
    auto empty = post_json(http, "");
    CHECK(empty->status == 422);
    CHECK(json::parse(empty->body)["detail"][0]["loc"] == json::array({"body"}));
  }

  SECTION("size, media type and Accept") {
    const std::string big(6 * 1024 * 1024 + 1, ' ');
    auto too_large = post_json(http, big);
    REQUIRE(too_large);
    CHECK(too_large->status == 413);
    CHECK(json::parse(too_large->body).contains("detail"));

    auto just_under = post_json(http, std::string(6 * 1024 * 1024 - 40, ' ') + R"({"user_id": "u001"})");
    REQUIRE(just_under);
    CHECK(just_under->status == 200);

    httplib::Client fresh = server.client();
    auto text = fresh.Post("/invocations", R"({"user_id": "u001"})", "text/plain");
    REQUIRE(text);
    CHECK(text->status == 415);
    CHECK(json::parse(text->body).contains("detail"));

    auto charset = fresh.Post("/invocations", R"({"user_id": "u001"})", "application/json; charset=utf-8");
    CHECK(charset->status == 200);

    auto html_only = fresh.Post("/invocations", {{"Accept", "text/html"}}, R"({"user_id": "u001"})", "application/json");
    CHECK(html_only->status == 406);
    auto any = fresh.Post("/invocations", {{"Accept", "*/*"}, {"X-Amzn-SageMaker-Custom", "x"}}, R"({"user_id": "u001"})",
                          "application/json");
    CHECK(any->status == 200);
  }

  SECTION("unknown routes and methods: JSON 404 and 405") {
    auto unknown = http.Get("/nope");
    REQUIRE(unknown);
    CHECK(unknown->status == 404);
    CHECK(json::parse(unknown->body) == json{{"detail", "Not Found"}});
    auto wrong_method = http.Get("/invocations");
    CHECK(wrong_method->status == 405);
    CHECK(wrong_method->get_header_value("Allow") == "POST");
    CHECK(json::parse(wrong_method->body) == json{{"detail", "Method Not Allowed"}});
    auto post_ping = http.Post("/ping", "", "application/json");
    CHECK(post_ping->status == 405);
  }

  SECTION("fold-in, explanations, exclusions and similar videos") {
    auto fold_in = post_json(http, R"({"history": ["v001", "v003"], "k": 2, "explain": true})");
    REQUIRE(fold_in->status == 200);
    const json body = json::parse(fold_in->body);
    CHECK(body["userId"].is_null());
    REQUIRE(body["recommendations"].size() == 2);
    for (const auto& item : body["recommendations"]) {
      CHECK(item["videoId"] != "v001");
      CHECK(item["videoId"] != "v003");
      REQUIRE(item.contains("because"));
      CHECK(!item["because"].empty());
    }
    auto unknown_history = post_json(http, R"({"history": ["v999"]})");
    CHECK(unknown_history->status == 404);

    auto refreshed = post_json(http, R"({"user_id": "u001", "history": ["v003"], "k": 5})");
    REQUIRE(refreshed->status == 200);
    // Keep the parsed answer alive: a range-for over a member of a temporary dangles (ASan).
    const json refreshed_answer = json::parse(refreshed->body);
    for (const auto& item : refreshed_answer["recommendations"]) {
      CHECK(item["videoId"] != "v003");
      CHECK(item["videoId"] != "v001");
    }

    auto excluded = post_json(http, R"({"user_id": "u001", "exclude": ["v003"], "k": 5})");
    const json excluded_answer = json::parse(excluded->body);
    for (const auto& item : excluded_answer["recommendations"]) CHECK(item["videoId"] != "v003");

    auto similar = post_json(http, R"({"similar_to": "v003", "k": 3})");
    REQUIRE(similar->status == 200);
    const json similar_body = json::parse(similar->body);
    CHECK(similar_body["similarTo"] == "v003");
    REQUIRE(similar_body["recommendations"].size() == 3);
    CHECK(similar_body["recommendations"][0]["videoId"] == "v003");
    CHECK(post_json(http, R"({"similar_to": "v999"})")->status == 404);
    CHECK(post_json(http, R"({"similar_to": "v003", "user_id": "u001"})")->status == 422);
  }

  SECTION("batch: instances -> predictions, a failed instance replaced by its error") {
    auto response = post_json(http, R"({"instances": [{"user_id": "u001", "k": 2}, {"user_id": "u999"}, {"k": 0}]})");
    REQUIRE(response->status == 200);
    const json predictions = json::parse(response->body)["predictions"];
    REQUIRE(predictions.size() == 3);
    CHECK(predictions[0]["userId"] == "u001");
    CHECK(predictions[0]["recommendations"].size() == 2);
    CHECK(predictions[1] == json{{"status", 404}, {"detail", "User 'u999' not found"}});
    CHECK(predictions[2]["status"] == 422);
    CHECK(predictions[2]["detail"][0]["loc"] == json::array({"body", "instances", 2, "k"}));
    CHECK(post_json(http, R"({"instances": {"user_id": "u001"}})")->status == 422);
  }

  SECTION("GET /execution-parameters") {
    auto response = http.Get("/execution-parameters");
    REQUIRE(response->status == 200);
    const json body = json::parse(response->body);
    CHECK(body["BatchStrategy"] == "MULTI_RECORD");
    CHECK(body["MaxPayloadInMB"] == 6);
    CHECK(body["MaxConcurrentTransforms"].get<int>() >= 1);
  }

  SECTION("GET /metrics: Prometheus text with requests, latency and the model") {
    post_json(http, R"({"user_id": "u001"})");
    post_json(http, R"({"user_id": "u999"})");
    auto response = http.Get("/metrics");
    REQUIRE(response->status == 200);
    CHECK(response->get_header_value("Content-Type").rfind("text/plain", 0) == 0);
    const std::string& text = response->body;
    CHECK(metric(text, R"(vr_http_requests_total{route="/invocations",status="200"})") >= 1);
    CHECK(metric(text, R"(vr_http_requests_total{route="/invocations",status="404"})") >= 1);
    CHECK(metric(text, R"(vr_http_request_duration_seconds_count{route="/invocations"})") >= 2);
    CHECK(text.find("# TYPE vr_http_request_duration_seconds histogram") != std::string::npos);
    CHECK(metric(text, "vr_model_users") == 5);
    CHECK(metric(text, "vr_model_videos") == 5);
    CHECK(metric(text, "vr_model_load_seconds") >= 0);
    CHECK(metric(text, "vr_model_ready") == 1);
    CHECK(std::regex_search(text, std::regex(R"(vr_model_info\{version="[0-9a-f]{16}",directory="model"\} 1)")));
    CHECK(text.find(fs::canonical(temp.file("model")).string()) == std::string::npos);
  }

  SECTION("GET /openapi.json, /docs, /redoc and their assets") {
    auto spec_response = http.Get("/openapi.json");
    REQUIRE(spec_response->status == 200);
    const json spec = json::parse(spec_response->body);
    CHECK(spec["openapi"].get<std::string>().rfind("3.", 0) == 0);
    for (const char* path : {"/ping", "/invocations", "/execution-parameters", "/metrics", "/openapi.json", "/docs", "/redoc"}) {
      CAPTURE(path);
      CHECK(spec["paths"].contains(path));
    }
    CHECK(spec["paths"]["/invocations"]["post"]["responses"].contains("422"));
    for (const char* page : {"/docs", "/redoc"}) {
      auto response = http.Get(page);
      REQUIRE(response->status == 200);
      CHECK(response->get_header_value("Content-Type").rfind("text/html", 0) == 0);
      CHECK(response->body.find("vr Video Recommender API") != std::string::npos);
    }
    for (const char* asset : {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css",
                              "/docs/assets/redoc.standalone.js"}) {
      auto response = http.Get(asset);
      CAPTURE(asset);
      REQUIRE(response);
      CHECK(response->status == 200);
      CHECK(response->body.size() > 10000);
    }
    CHECK(http.Get("/docs/assets/nope.js")->status == 404);
  }

  SECTION("the access log: JSON lines, never /ping; SIGTERM stops with 0") {
    http.Get("/ping");
    post_json(http, R"({"user_id": "u001"})");
    http.Get("/ping");
    CHECK(server.stop() == 0);
    const auto lines = request_lines(server.log());
    REQUIRE(!lines.empty());
    bool saw_invocation = false;
    for (const auto& line : lines) {
      CHECK(line["path"] != "/ping");
      if (line["path"] == "/invocations") {
        saw_invocation = true;
        CHECK(line["status"] == 200);
        CHECK(line["method"] == "POST");
        CHECK(line.contains("duration_ms"));
        CHECK(line.contains("model_version"));
      }
    }
    CHECK(saw_invocation);
    CHECK(server.log().find(R"("event":"stopped")") != std::string::npos);
  }
}

TEST_CASE("vr-serve: JSON Lines batch answers one line per line with a bad line in the middle") {
  vr::test::TempDir temp;
  make_model(temp.file("model"));
  ServerProcess server({"--model-dir", temp.file("model"), "--host", "127.0.0.1", "--port", "0"}, temp.file("serve.log"));
  server.wait_ready();
  auto http = server.client();
  const std::string body =
      "{\"user_id\": \"u001\", \"k\": 2}\n"
      "{\"user_id\": \"u002\", \"k\": \n"
      "{\"user_id\": \"u999\"}\n"
      "\n"
      "{\"history\": [\"v001\"], \"k\": 1}\r\n"
      "{\"user_id\": \"u003\", \"k\": 1}\n";
  auto response = http.Post("/invocations", body, "application/jsonlines");
  REQUIRE(response);
  CHECK(response->status == 200);
  CHECK(response->get_header_value("Content-Type") == "application/jsonlines");
  std::vector<json> lines;
  std::istringstream output(response->body);
  std::string line;
  while (std::getline(output, line)) lines.push_back(json::parse(line));
  REQUIRE(lines.size() == 6);
  CHECK(response->body.back() == '\n');
  CHECK(lines[0]["userId"] == "u001");
  CHECK(lines[0]["recommendations"].size() == 2);
  CHECK(lines[1]["status"] == 422);
  CHECK(lines[1]["detail"][0]["type"] == "json_invalid");
  CHECK(lines[2] == json{{"status", 404}, {"detail", "User 'u999' not found"}});
  CHECK(lines[3]["status"] == 422);
  CHECK(lines[4]["recommendations"].size() == 1);
  CHECK(lines[5]["userId"] == "u003");

  auto ndjson = http.Post("/invocations", "{\"user_id\": \"u001\"}", "application/x-ndjson");
  CHECK(ndjson->status == 200);
  CHECK(ndjson->body.find('\n') == ndjson->body.size() - 1);

  // Header names match in any case (vr-serve looks them up itself, not through cpp-httplib).
  auto lower_case = http.Post("/invocations", httplib::Headers{{"content-type", "application/jsonlines"}},
                              "{\"user_id\": \"u001\"}\n{\"user_id\": \"u002\"}\n", "");
  REQUIRE(lower_case);
  CHECK(lower_case->status == 200);
  CHECK(std::count(lower_case->body.begin(), lower_case->body.end(), '\n') == 2);
  auto refused = http.Post("/invocations", httplib::Headers{{"CONTENT-TYPE", "text/plain"}}, "{\"user_id\": \"u001\"}", "");
  REQUIRE(refused);
  CHECK(refused->status == 415);
  auto not_acceptable = http.Post("/invocations", httplib::Headers{{"aCCEPT", "text/csv"}}, "{\"user_id\": \"u001\"}",
                                  "application/json");
  REQUIRE(not_acceptable);
  CHECK(not_acceptable->status == 406);
}

TEST_CASE("vr-serve: /ping is 503 until the model is loaded and 200 after") {
  vr::test::TempDir temp;
  make_model(temp.file("trained"));
  // The model file is a FIFO: loading blocks on it until the test writes the real bytes, so
  // the "loading" window is as long as the test needs, with no sleeps or hooks.
  fs::create_directories(temp.file("model"));
  fs::copy_file(temp.file("trained/ratings.csv"), temp.file("model/ratings.csv"));
  fs::copy_file(temp.file("trained/mappings.bin"), temp.file("model/mappings.bin"));
  REQUIRE(::mkfifo(temp.file("model/als_model.bin").c_str(), 0644) == 0);

  ServerProcess server({"--model-dir", temp.file("model"), "--host", "127.0.0.1", "--port", "0"}, temp.file("serve.log"));
  auto http = server.client();
  auto before = http.Get("/ping");
  REQUIRE(before);
  CHECK(before->status == 503);
  CHECK(json::parse(before->body).contains("detail"));
  auto early = post_json(http, R"({"user_id": "u001"})");
  CHECK(early->status == 503);
  CHECK(json::parse(early->body)["detail"] == "Model is loading");
  CHECK(metric(http.Get("/metrics")->body, "vr_model_ready") == 0);

  {
    std::ofstream fifo(temp.file("model/als_model.bin"), std::ios::binary);
    fifo << vr::test::read_file(temp.file("trained/als_model.bin"));
  }
  server.wait_ready();
  CHECK(http.Get("/ping")->status == 200);
  CHECK(post_json(http, R"({"user_id": "u001"})")->status == 200);
  CHECK(server.stop() == 0);
}

TEST_CASE("vr-serve: a model that cannot be loaded is logged and exits 1") {
  vr::test::TempDir temp;
  make_model(temp.file("model"));
  const std::string model = vr::test::read_file(temp.file("model/als_model.bin"));
  vr::test::write_file(temp.file("model/als_model.bin"), model.substr(0, model.size() / 2));
  ServerProcess server({"--model-dir", temp.file("model"), "--host", "127.0.0.1", "--port", "0"}, temp.file("serve.log"));
  CHECK(server.wait_exit() == 1);
  const std::string log = server.log();
  CHECK(log.find(R"("event":"model_load_failed")") != std::string::npos);
  CHECK(log.find("als_model.bin") != std::string::npos);

  ServerProcess missing({"--model-dir", temp.file("nowhere"), "--host", "127.0.0.1", "--port", "0"},
                        temp.file("missing.log"));
  CHECK(missing.wait_exit() == 1);
}

TEST_CASE("vr-serve: SAGEMAKER_BIND_TO_PORT overrides --port and a taken port exits 1") {
  vr::test::TempDir temp;
  make_model(temp.file("model"));
  const int port = free_port();
  ServerProcess server({"serve", "--model-dir", temp.file("model"), "--host", "127.0.0.1", "--port", "1"},
                       temp.file("serve.log"), {"SAGEMAKER_BIND_TO_PORT=" + std::to_string(port)});
  CHECK(server.port() == port);
  server.wait_ready();

  ServerProcess second({"--model-dir", temp.file("model"), "--host", "127.0.0.1", "--port", std::to_string(port)},
                       temp.file("second.log"));
  CHECK(second.wait_exit() == 1);
  CHECK(second.log().find(R"("event":"bind_failed")") != std::string::npos);
  CHECK(server.stop() == 0);
}

TEST_CASE("vr-serve: 20 hot reloads under concurrent load fail no request and a corrupt model keeps the old one") {
  vr::test::TempDir temp;
  make_model(temp.file("a"), 1);
  make_model(temp.file("b"), 2);
  fs::create_directories(temp.file("broken"));
  for (const char* name : {"ratings.csv", "mappings.bin"}) fs::copy_file(temp.file(std::string("a/") + name), temp.file(std::string("broken/") + name));
  const std::string model = vr::test::read_file(temp.file("a/als_model.bin"));
  std::string corrupt = model;
  corrupt[corrupt.size() / 2] ^= 0x55;  // the checksum catches it
  vr::test::write_file(temp.file("broken/als_model.bin"), corrupt);
  repoint(temp.file("current"), temp.file("a"));

  ServerProcess server({"--model-dir", temp.file("current"), "--host", "127.0.0.1", "--port", "0", "--watch-interval",
                        "0", "--no-access-log"},
                       temp.file("serve.log"));
  server.wait_ready();
  auto control = server.client();
  const std::string version_a = post_json(control, R"({"user_id": "u001"})")->get_header_value("X-Model-Version");

  std::atomic<bool> running{true};
  std::atomic<int> failures{0};
  std::atomic<int> answered{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      auto http = server.client();
      while (running) {
        auto response = post_json(http, R"({"user_id": "u002", "k": 3})");
        if (!response || response->status != 200 || json::parse(response->body)["recommendations"].size() != 3) {
          ++failures;
        } else {
          ++answered;
        }
      }
    });
  }

  const auto reload_count = [&](const char* result) {
    auto response = control.Get("/metrics");
    if (!response) FAIL("GET /metrics failed (" << httplib::to_string(response.error()) << "):\n" << server.log());
    return metric(response->body, std::string(R"(vr_model_reloads_total{result=")") + result + "\"}");
  };
  const auto reloads_ok = [&] { return reload_count("ok"); };
  const auto reloads_failed = [&] { return reload_count("failed"); };
  const auto wait_for = [&](const std::function<bool()>& condition) {
    for (int attempt = 0; attempt < 2000 && !condition(); ++attempt) std::this_thread::sleep_for(5ms);
    return condition();
  };

  std::string version_b;
  for (int swap = 1; swap <= 20; ++swap) {
    repoint(temp.file("current"), temp.file(swap % 2 == 1 ? "b" : "a"));
    server.signal(SIGHUP);
    REQUIRE(wait_for([&] { return reloads_ok() == swap; }));
    const std::string served = post_json(control, R"({"user_id": "u001"})")->get_header_value("X-Model-Version");
    if (swap % 2 == 1) {
      version_b = served;
      CHECK(served != version_a);
    } else {
      CHECK(served == version_a);
    }
    std::this_thread::sleep_for(20ms);
  }

  // A corrupt model: rejected, logged, and the current one (a) keeps answering.
  repoint(temp.file("current"), temp.file("broken"));
  server.signal(SIGHUP);
  REQUIRE(wait_for([&] { return reloads_failed() == 1; }));
  std::this_thread::sleep_for(100ms);
  running = false;
  for (auto& client : clients) client.join();

  CHECK(failures == 0);
  CHECK(answered > 100);
  auto after = post_json(control, R"({"user_id": "u001"})");
  REQUIRE(after->status == 200);
  CHECK(after->get_header_value("X-Model-Version") == version_a);
  CHECK(server.stop() == 0);
  const std::string log = server.log();
  CHECK(log.find(R"("event":"model_reload_failed")") != std::string::npos);
  CHECK(log.find(R"("event":"model_reloaded")") != std::string::npos);
}

TEST_CASE("vr-serve: repointing the model directory's link reloads without a signal") {
  vr::test::TempDir temp;
  make_model(temp.file("a"), 1);
  make_model(temp.file("b"), 2);
  repoint(temp.file("current"), temp.file("a"));
  ServerProcess server({"--model-dir", temp.file("current"), "--host", "127.0.0.1", "--port", "0", "--watch-interval",
                        "0.1"},
                       temp.file("serve.log"));
  server.wait_ready();
  auto http = server.client();
  const std::string version_a = post_json(http, R"({"user_id": "u001"})")->get_header_value("X-Model-Version");
  repoint(temp.file("current"), temp.file("b"));
  std::string served = version_a;
  for (int attempt = 0; attempt < 1000 && served == version_a; ++attempt) {
    std::this_thread::sleep_for(10ms);
    served = post_json(http, R"({"user_id": "u001"})")->get_header_value("X-Model-Version");
  }
  CHECK(served != version_a);
  CHECK(server.logged(R"("trigger":"directory change")"));
  CHECK(server.stop() == 0);
}

TEST_CASE("vr-serve: SIGTERM closes idle keep-alive connections at once and still answers requests in flight") {
  vr::test::TempDir temp;
  make_model(temp.file("model"));
  // Idle connections would otherwise hold the exit for the whole keep-alive timeout.
  ServerProcess server({"--model-dir", temp.file("model"), "--host", "127.0.0.1", "--port", "0",
                        "--keep-alive-timeout", "300"},
                       temp.file("serve.log"));
  server.wait_ready();
  const std::string ping = "GET /ping HTTP/1.1\r\nHost: test\r\n\r\n";
  const std::string body = R"({"user_id": "u001", "k": 2})";
  const std::string invocation = "POST /invocations HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                                 "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;

  RawConnection idle(server.port());  // answered once, then kept alive with nothing to do
  idle.send(ping);
  CHECK(idle.read_response().rfind("HTTP/1.1 200", 0) == 0);
  RawConnection silent(server.port());  // connected, nothing sent yet
  RawConnection first_request(server.port());  // its first request half sent at the stop
  first_request.send(invocation.substr(0, invocation.size() - 10));
  RawConnection next_request(server.port());  // answered once, its next request half sent at the stop
  next_request.send(ping);
  CHECK(next_request.read_response().rfind("HTTP/1.1 200", 0) == 0);
  // The server tells "the client spoke after our answer" by the kernel's per-connection times,
  // in clock ticks (at most 10 ms): the next request starts a tick after the answer.
  std::this_thread::sleep_for(50ms);
  next_request.send(invocation.substr(0, 40));

  server.signal(SIGTERM);
  CHECK(idle.closed_by_server(10s));
  CHECK(silent.closed_by_server(10s));
  first_request.send(invocation.substr(invocation.size() - 10));
  next_request.send(invocation.substr(40));
  for (RawConnection* connection : {&first_request, &next_request}) {
    const std::string answer = connection->read_response();
    CHECK(answer.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(answer.find(R"({"userId":"u001","recommendations":[{"videoId":")") != std::string::npos);
  }
  CHECK(server.wait_exit() == 0);
  const std::regex closed_count(R"re("event":"stopped".*"idle_connections_closed":(\d+))re");
  std::smatch match;
  const std::string log = server.log();
  REQUIRE(std::regex_search(log, match, closed_count));
  CHECK(std::stoi(match[1]) >= 2);
}

TEST_CASE("vr-serve: plain requests are answered from the precomputed table, exactly as scored") {
  vr::test::TempDir temp;
  make_model(temp.file("model"));
  ServerProcess table_server({"--model-dir", temp.file("model"), "--host", "127.0.0.1", "--port", "0",
                              "--precompute-k", "3"},
                             temp.file("table.log"));
  ServerProcess scoring_server({"--model-dir", temp.file("model"), "--host", "127.0.0.1", "--port", "0",
                                "--precompute-k", "0"},
                               temp.file("scoring.log"));
  table_server.wait_ready();
  scoring_server.wait_ready();
  auto with_table = table_server.client();
  auto scoring = scoring_server.client();
  const auto metrics_of = [](httplib::Client& http) {
    auto response = http.Get("/metrics");
    REQUIRE(response);
    return response->body;
  };
  for (int attempt = 0; attempt < 2000 && metric(metrics_of(with_table), "vr_precomputed_ready") != 1; ++attempt) {
    std::this_thread::sleep_for(5ms);
  }
  const std::string table_metrics = metrics_of(with_table);
  REQUIRE(metric(table_metrics, "vr_precomputed_ready") == 1);
  CHECK(metric(table_metrics, "vr_precomputed_depth") == 3);
  CHECK(metric(table_metrics, "vr_precomputed_bytes") == 5 * (3 * 8 + 4));
  CHECK(table_server.logged(R"("event":"precomputed")"));
  CHECK(metric(metrics_of(scoring), "vr_precomputed_ready") == 0);
  CHECK(scoring_server.logged(R"("event":"precompute_skipped")"));

  std::vector<std::string> plain;
  for (const std::string user : {"u001", "u002", "u003", "u004", "u005"}) {
    for (const int k : {1, 3}) plain.push_back(R"({"user_id": ")" + user + R"(", "k": )" + std::to_string(k) + "}");
  }
  const std::vector<std::string> scored = {R"({"user_id": "u001", "k": 4})", R"({"user_id": "u002", "exclude": ["v001"]})",
                                           R"({"user_id": "u003", "k": 2, "include_watched": true})",
                                           R"({"history": ["v002"], "k": 2})"};
  for (const auto& body : plain) {
    for (const auto& more : scored) {
      for (const auto& request : {body, more}) {
        auto expected = post_json(scoring, request);
        auto answered = post_json(with_table, request);
        REQUIRE(expected);
        REQUIRE(answered);
        CHECK(answered->status == 200);
        CHECK(answered->body == expected->body);
      }
    }
  }
  const std::string after = metrics_of(with_table);
  const double from_table = metric(after, R"(vr_invocation_answers_total{source="precomputed"})");
  const double from_scoring = metric(after, R"(vr_invocation_answers_total{source="scored"})");
  CHECK(from_table == static_cast<double>(plain.size() * scored.size()));
  CHECK(from_scoring == static_cast<double>(plain.size() * scored.size()));
  CHECK(metric(metrics_of(scoring), R"(vr_invocation_answers_total{source="precomputed"})") == 0);
  CHECK(table_server.stop() == 0);
  CHECK(scoring_server.stop() == 0);
}

TEST_CASE("vr-serve --unknown-user popular: popular videos for unknown users, with the source in a header and /metrics") {
  vr::test::TempDir temp;
  make_model(temp.file("model"));
  ServerProcess popular_server({"--model-dir", temp.file("model"), "--host", "127.0.0.1", "--port", "0",
                                "--unknown-user", "popular"},
                               temp.file("popular.log"));
  ServerProcess default_server({"--model-dir", temp.file("model"), "--host", "127.0.0.1", "--port", "0"},
                               temp.file("default.log"));
  popular_server.wait_ready();
  default_server.wait_ready();
  auto popular = popular_server.client();
  auto plain = default_server.client();

  // data/interactions.csv: v001 has two users, v002..v005 one each (ties go to the lower index).
  auto unknown = post_json(popular, R"({"user_id": "nobody", "k": 3})");
  REQUIRE(unknown);
  CHECK(unknown->status == 200);
  CHECK(unknown->get_header_value("X-Answer-Source") == "popular");
  CHECK(json::parse(unknown->body) == json::parse(R"({"userId": "nobody", "recommendations": [
          {"videoId": "v001", "score": 2}, {"videoId": "v002", "score": 1}, {"videoId": "v003", "score": 1}]})"));
  auto excluded = post_json(popular, R"({"user_id": "nobody", "k": 1, "exclude": ["v001"]})");
  REQUIRE(excluded);
  CHECK(json::parse(excluded->body)["recommendations"] == json::parse(R"([{"videoId": "v002", "score": 1}])"));

  auto not_found = post_json(plain, R"({"user_id": "nobody", "k": 3})");
  REQUIRE(not_found);
  CHECK(not_found->status == 404);
  CHECK_FALSE(not_found->has_header("X-Answer-Source"));

  // Known users and histories (also of unknown users: fold-in) are answered as without the option.
  for (const std::string request : {R"({"user_id": "u001", "k": 2})", R"({"user_id": "nobody", "history": ["v003"]})",
                                    R"({"history": ["v002"], "k": 2})"}) {
    auto answered = post_json(popular, request);
    auto expected = post_json(plain, request);
    REQUIRE(answered);
    REQUIRE(expected);
    CHECK(answered->status == 200);
    CHECK(answered->body == expected->body);
    CHECK(answered->get_header_value("X-Answer-Source") != "popular");
  }
  auto batch = post_json(popular, R"({"instances": [{"user_id": "u001"}, {"user_id": "nobody"}]})");
  REQUIRE(batch);
  CHECK(batch->get_header_value("X-Answer-Source") == "mixed");
  CHECK(json::parse(batch->body)["predictions"][1]["recommendations"][0]["videoId"] == "v001");

  auto metrics = popular.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metric(metrics->body, R"(vr_invocation_answers_total{source="popular"})") == 3);
  auto default_metrics = plain.Get("/metrics");
  REQUIRE(default_metrics);
  CHECK(default_metrics->body.find(R"(source="popular")") == std::string::npos);
  CHECK(popular_server.stop() == 0);
  CHECK(default_server.stop() == 0);

  // A popular.csv in the folder (vr-features --popular-window) replaces the all-time counts;
  // ids the model does not have are left out.
  std::filesystem::copy(temp.file("model"), temp.file("recent"));
  vr::test::write_file(temp.file("recent/popular.csv"), "video_id,users\nv004,5\nunknown-video,4\nv002,3\n");
  ServerProcess recent_server({"--model-dir", temp.file("recent"), "--host", "127.0.0.1", "--port", "0",
                               "--unknown-user", "popular"},
                              temp.file("recent.log"));
  recent_server.wait_ready();
  auto recent_client = recent_server.client();
  auto recent = post_json(recent_client, R"({"user_id": "nobody", "k": 3})");
  REQUIRE(recent);
  CHECK(recent->get_header_value("X-Answer-Source") == "popular");
  CHECK(json::parse(recent->body) == json::parse(R"({"userId": "nobody", "recommendations": [
          {"videoId": "v004", "score": 5}, {"videoId": "v002", "score": 3}]})"));
  CHECK(recent_server.stop() == 0);
}

TEST_CASE("metrics: Prometheus text with cumulative histogram buckets") {
  vr::http::Metrics metrics;
  metrics.record("/invocations", 200, 0.0007);
  metrics.record("/invocations", 200, 0.003);
  metrics.record("/invocations", 404, 20.0);
  metrics.record_reload(false);
  vr::http::ModelGauges model;
  model.ready = true;
  model.version = "00ff";
  model.directory = "/srv/models/m";
  model.users = 7;
  model.videos = 9;
  const std::string text = metrics.render(model);
  CHECK(metric(text, R"(vr_http_requests_total{route="/invocations",status="200"})") == 2);
  CHECK(metric(text, R"(vr_http_requests_total{route="/invocations",status="404"})") == 1);
  CHECK(metric(text, R"(vr_http_request_duration_seconds_bucket{route="/invocations",le="0.0005"})") == 0);
  CHECK(metric(text, R"(vr_http_request_duration_seconds_bucket{route="/invocations",le="0.001"})") == 1);
  CHECK(metric(text, R"(vr_http_request_duration_seconds_bucket{route="/invocations",le="0.005"})") == 2);
  CHECK(metric(text, R"(vr_http_request_duration_seconds_bucket{route="/invocations",le="10"})") == 2);
  CHECK(metric(text, R"(vr_http_request_duration_seconds_bucket{route="/invocations",le="+Inf"})") == 3);
  CHECK(metric(text, R"(vr_http_request_duration_seconds_count{route="/invocations"})") == 3);
  CHECK(metric(text, R"(vr_model_reloads_total{result="failed"})") == 1);
  // Only the directory's name: no absolute path leaves the host.
  CHECK(metric(text, R"(vr_model_info{version="00ff",directory="m"})") == 1);
  CHECK(text.find("/srv") == std::string::npos);
  CHECK(metric(text, "vr_model_users") == 7);
  CHECK(metric(text, "vr_model_videos") == 9);
}

namespace {

// Debian's chromium, or empty.
std::string find_chromium() {
  for (const char* candidate : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"}) {
    if (::access(candidate, X_OK) == 0) return candidate;
  }
  return {};
}

// The DOM of `url` after its scripts ran, from headless Chromium with every host name but
// 127.0.0.1 unresolvable, so nothing can leave loopback.
vr::test::CommandResult render_page(const std::string& chromium, const std::string& url, const std::string& profile) {
  return vr::test::run_command({"timeout", "90", chromium, "--headless", "--no-sandbox", "--disable-gpu",
                                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                                "--disable-sync", "--disable-default-apps", "--disable-extensions",
                                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                                "--user-data-dir=" + profile, "--virtual-time-budget=15000", "--dump-dom", url});
}

}  // namespace

TEST_CASE("vr-serve: /docs (Swagger UI) and /redoc (ReDoc) render in headless Chromium") {
  const std::string chromium = find_chromium();
  if (chromium.empty()) {
    vr::test::skip_test("chromium not found (scripts/install-deps.sh installs Debian's chromium)");
  }
  vr::test::TempDir temp;
  make_model(temp.file("model"));
  ServerProcess server({"--model-dir", temp.file("model"), "--host", "127.0.0.1", "--port", "0"}, temp.file("serve.log"));
  server.wait_ready();
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());

  SECTION("Swagger UI") {
    const auto page = render_page(chromium, base + "/docs", temp.file("profile-docs"));
    CAPTURE(page.err.substr(0, 2000));
    REQUIRE(page.exit_code == 0);
    // Rendered by swagger-ui-bundle.js from /openapi.json, not present in the static HTML.
    CHECK(page.out.find("class=\"title\"") != std::string::npos);
    CHECK(page.out.find("vr Video Recommender API") != std::string::npos);
    CHECK(page.out.find("/invocations") != std::string::npos);
    CHECK(page.out.find("opblock-summary-path") != std::string::npos);
  }
  SECTION("ReDoc") {
    const auto page = render_page(chromium, base + "/redoc", temp.file("profile-redoc"));
    CAPTURE(page.err.substr(0, 2000));
    REQUIRE(page.exit_code == 0);
    CHECK(page.out.find("<h1") != std::string::npos);
    CHECK(page.out.find("vr Video Recommender API") != std::string::npos);
    CHECK(page.out.find("/invocations") != std::string::npos);
    CHECK(page.out.find("Get recommendations") != std::string::npos);
  }
  // Every request the pages made reached this server: the access log holds their assets and spec.
  std::this_thread::sleep_for(100ms);
  bool spec_fetched = false;
  for (const auto& line : request_lines(server.log())) {
    if (line["path"] == "/openapi.json") spec_fetched = true;
  }
  CHECK(spec_fetched);
  CHECK(server.stop() == 0);
}

TEST_CASE("vr-serve: model and ANN index are reloaded together, a stale index keeps the old pair, /metrics reports the share scanned") {
  vr::test::TempDir temp;
  make_model(temp.file("a"), 1);
  make_model(temp.file("b"), 2);
  REQUIRE(vr::test::run_command({vr::test::tool("vr-index"), "--dir", temp.file("a"), "--quiet"}).exit_code == 0);
  // b with a's index: a new model beside an old index, as while a pipeline is still writing.
  fs::copy_file(temp.file("a/ann_index.bin"), temp.file("b/ann_index.bin"));
  repoint(temp.file("current"), temp.file("a"));
  ServerProcess server({"--model-dir", temp.file("current"), "--host", "127.0.0.1", "--port", "0", "--watch-interval",
                        "0", "--no-access-log", "--retrieval", "ann", "--precompute-k", "0"},
                       temp.file("serve.log"));
  server.wait_ready();
  auto http = server.client();
  const auto metrics = [&] {
    auto response = http.Get("/metrics");
    REQUIRE(response);
    return response->body;
  };
  const auto wait_for = [&](const std::function<bool()>& condition) {
    for (int attempt = 0; attempt < 2000 && !condition(); ++attempt) std::this_thread::sleep_for(5ms);
    return condition();
  };
  const auto similar = post_json(http, R"({"similar_to": "v001", "k": 3})");
  REQUIRE(similar);
  CHECK(similar->status == 200);
  const std::string version_a = similar->get_header_value("X-Model-Version");
  REQUIRE(post_json(http, R"({"history": ["v001", "v002"], "k": 2})")->status == 200);
  CHECK(metric(metrics(), "vr_scan_searches") >= 1);
  CHECK(metric(metrics(), "vr_scan_share") > 0);

  repoint(temp.file("current"), temp.file("b"));
  server.signal(SIGHUP);
  REQUIRE(wait_for([&] { return metric(metrics(), R"(vr_model_reloads_total{result="failed"})") == 1; }));
  CHECK(post_json(http, R"({"similar_to": "v001", "k": 3})")->get_header_value("X-Model-Version") == version_a);
  CHECK(server.logged("ann_index.bin"));

  REQUIRE(vr::test::run_command({vr::test::tool("vr-index"), "--dir", temp.file("b"), "--quiet"}).exit_code == 0);
  server.signal(SIGHUP);
  REQUIRE(wait_for([&] { return metric(metrics(), R"(vr_model_reloads_total{result="ok"})") == 1; }));
  const auto after = post_json(http, R"({"similar_to": "v001", "k": 3})");
  REQUIRE(after->status == 200);
  CHECK(after->get_header_value("X-Model-Version") != version_a);
  CHECK(server.stop() == 0);
}

TEST_CASE("vr-serve --popularity-penalty answers from the table and by scoring exactly as vr-recommend does") {
  vr::test::TempDir temp;
  make_model(temp.file("model"));
  ServerProcess table_server({"--model-dir", temp.file("model"), "--host", "127.0.0.1", "--port", "0",
                              "--precompute-k", "3", "--popularity-penalty", "0.5"},
                             temp.file("table.log"));
  ServerProcess scoring_server({"--model-dir", temp.file("model"), "--host", "127.0.0.1", "--port", "0",
                                "--precompute-k", "0", "--scan", "full", "--popularity-penalty", "0.5"},
                               temp.file("scoring.log"));
  ServerProcess plain_server({"--model-dir", temp.file("model"), "--host", "127.0.0.1", "--port", "0"},
                             temp.file("plain.log"));
  table_server.wait_ready();
  scoring_server.wait_ready();
  plain_server.wait_ready();
  auto with_table = table_server.client();
  auto scoring = scoring_server.client();
  auto plain = plain_server.client();
  for (int attempt = 0; attempt < 2000; ++attempt) {
    auto response = with_table.Get("/metrics");
    REQUIRE(response);
    if (metric(response->body, "vr_precomputed_ready") == 1) break;
    std::this_thread::sleep_for(5ms);
  }
  int changed = 0;
  for (const std::string user : {"u001", "u002", "u003", "u004", "u005"}) {
    INFO(user);
    const std::string request = R"({"user_id": ")" + user + R"(", "k": 3})";
    auto from_table = post_json(with_table, request);
    auto scored = post_json(scoring, request);
    auto unpenalised = post_json(plain, request);
    REQUIRE(from_table);
    REQUIRE(scored);
    REQUIRE(unpenalised);
    CHECK(from_table->status == 200);
    CHECK(from_table->body == scored->body);
    changed += unpenalised->body != scored->body;
    const auto recommend = vr::test::run_command({vr::test::tool("vr-recommend"), "--dir", temp.file("model"), "--user",
                                                  user, "-k", "3", "--format", "json", "--popularity-penalty", "0.5"});
    REQUIRE(recommend.exit_code == 0);
    // The same videos and float scores (the server prints a float's double, vr-recommend its
    // shortest float form).
    const auto expected = json::parse(recommend.out).at("recommendations");
    const auto answered = json::parse(scored->body).at("recommendations");
    REQUIRE(expected.size() == answered.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
      CHECK(expected[i].at("videoId") == answered[i].at("videoId"));
      CHECK(expected[i].at("score").get<float>() == answered[i].at("score").get<float>());
    }
  }
  // On this tiny model (scores about 1e-4) a penalty of 0.5 reorders every list by popularity.
  CHECK(changed > 0);
  CHECK(table_server.stop() == 0);
  CHECK(scoring_server.stop() == 0);
  CHECK(plain_server.stop() == 0);
}
