# vr's front door. Every target installs missing Debian packages first, so on a fresh
# Debian 12 machine `make pipeline` and `make test` are all the set-up there is.
#
#   make pipeline        build the three pipeline tools, then features -> train -> recommend on data/
#   make test            build and run every test (ctest), on the release build and again
#                        under AddressSanitizer + UBSan (build-asan/)
#   make test-asan       only the sanitizer pass, every test (build-asan/)
#   make test-tsan       server and multithreaded tests under ThreadSanitizer (build-tsan/)
#   make bench           benchmarks that print figures (never pass/fail on time)
#   make fuzz            run every libFuzzer target for FUZZ_SECONDS each
#   make reliability     kill-at-random-moments harness, many runs
#   make container-test  build and run the Docker image with podman, then install the .deb in
#                        a clean Debian 12 container (scripts/package-test.sh)
#   make package         the Debian package build-package/vr_<version>_amd64.deb (portable
#                        binaries, man pages, bash completion, systemd units)
#   make lint            static checks (Dockerfile)
#   make clean           remove build output

BUILD_DIR ?= build
JOBS ?= $(shell nproc)
BIN := $(BUILD_DIR)/bin
ARTIFACTS ?= artifacts
FUZZ_SECONDS ?= 600
CMAKE_FLAGS ?=

.PHONY: all deps build build-asan pipeline test test-asan test-tsan bench fuzz reliability container-test package lint clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD_DIR) -j$(JOBS)

# The pipeline builds only the three tools it runs, not the test programs.
PIPELINE_TOOLS := vr-features vr-train vr-recommend

pipeline: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD_DIR) -j$(JOBS) --target $(PIPELINE_TOOLS)
	$(BIN)/vr-features data/interactions.csv --dir $(ARTIFACTS)
	$(BIN)/vr-train --dir $(ARTIFACTS)
	$(BIN)/vr-recommend --dir $(ARTIFACTS) --user u002 -k 5 --titles data/videos.csv

# Sanitizer settings for every run under build-asan: a leak, a memory error or undefined
# behaviour fails the test that hit it.
ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# The whole suite twice: on the release build, then on the AddressSanitizer + UBSan build
# (tests that do not run this build's binaries, labelled build_independent, only once).
# A test that cannot run is listed as skipped at the end of each pass; under CI=true it fails.
test: build build-asan
	scripts/ctest-run.sh --test-dir $(BUILD_DIR) --output-on-failure -j$(JOBS)
	$(ASAN_ENV) scripts/ctest-run.sh --test-dir build-asan --output-on-failure -j$(JOBS) -LE build_independent

# -O1 -g1 rather than RelWithDebInfo's -O2 -g: compiling takes about half the time (test_serve.cpp
# 69 -> 37 s), the tests run as fast under ASan, reports keep file and line, and less inlining
# leaves fewer dead temporaries optimised away (it caught a test reading a freed string).
ASAN_CMAKE_FLAGS := -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" -DVR_SANITIZE=ON

build-asan: deps
	@cmake -S . -B build-asan $(ASAN_CMAKE_FLAGS) >/dev/null
	@cmake --build build-asan -j$(JOBS)

# Every test under the sanitizers, the build-independent ones included.
test-asan: build-asan
	$(ASAN_ENV) scripts/ctest-run.sh --test-dir build-asan --output-on-failure -j$(JOBS)

test-tsan: deps
	scripts/test-tsan.sh

bench: build
	scripts/bench.sh $(BIN)

fuzz: deps
	scripts/fuzz.sh $(FUZZ_SECONDS)

reliability: build
	scripts/reliability.sh $(BIN)

container-test: deps
	scripts/container-test.sh
	scripts/package-test.sh

# A separate build folder: -DVR_NATIVE=OFF (no -march=native), installed under /usr.
PACKAGE_CMAKE_FLAGS := -DCMAKE_BUILD_TYPE=Release -DVR_NATIVE=OFF -DVR_BUILD_TESTS=OFF -DCMAKE_INSTALL_PREFIX=/usr

package: deps
	@cmake -S . -B build-package $(PACKAGE_CMAKE_FLAGS) $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-package -j$(JOBS)
	@cd build-package && cpack -G DEB >/dev/null
	@ls build-package/vr_*_amd64.deb

lint: deps
	scripts/lint.sh

clean:
	rm -rf $(BUILD_DIR) build-asan build-tsan build-fuzz build-package
