# ringlb: the commands a user types. `make test` is what CI runs (.ci/run).
#
#   make build    configure and build (RelWithDebInfo) into build/release
#   make test     install missing deps, build, run every test; then again under ASan+UBSan;
#                 then every libFuzzer target for a few seconds (clang, ASan+UBSan)
#   make fuzz     every libFuzzer target for FUZZ_SECONDS (default 600) each, two at a time
#   make run      build Release and start `ringlb demo` (4 demo backends + the balancer)
#   make bench    build Release and run chash_bench
#   make format   clang-format every C++ file
SHELL := /bin/bash
JOBS ?= $(shell nproc)
# Warnings are errors in CI (CI=true) and wherever WERROR=ON is given.
WERROR ?= $(if $(CI),ON,OFF)
CMAKE_FLAGS := -G Ninja -DRINGLB_WERROR=$(WERROR)
CTEST_FLAGS := --output-on-failure --timeout 900 -j$(JOBS)
FUZZ_SECONDS ?= 600
FUZZ_FLAGS := -G Ninja -DRINGLB_WERROR=$(WERROR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DRINGLB_FUZZ=ON -DRINGLB_SANITIZE=ON \
  -DRINGLB_BUILD_TESTS=OFF -DRINGLB_BUILD_BENCH=OFF

.PHONY: all deps build test test-release test-asan test-fuzz fuzz bench run format clean

all: build

deps:
	@scripts/install-deps

build: deps
	cmake -S . -B build/release $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build/release -j$(JOBS)

test: test-release test-asan test-fuzz

test-release: build
	ctest --test-dir build/release $(CTEST_FLAGS)

test-asan: deps
	cmake -S . -B build/asan $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=Debug -DRINGLB_SANITIZE=ON -DRINGLB_BUILD_BENCH=OFF
	cmake --build build/asan -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir build/asan $(CTEST_FLAGS)

test-fuzz: deps
	cmake -S . -B build/fuzz $(FUZZ_FLAGS) -DRINGLB_FUZZ_SECONDS=5
	cmake --build build/fuzz -j$(JOBS) --target ringlb_fuzzers
	ctest --test-dir build/fuzz $(CTEST_FLAGS)

fuzz: deps
	cmake -S . -B build/fuzz $(FUZZ_FLAGS) -DRINGLB_FUZZ_SECONDS=$(FUZZ_SECONDS)
	cmake --build build/fuzz -j$(JOBS) --target ringlb_fuzzers
	ctest --test-dir build/fuzz --output-on-failure --timeout $$(( $(FUZZ_SECONDS) + 300 )) -j$(JOBS) --verbose

run: deps
	cmake -S . -B build/run $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=Release -DRINGLB_BUILD_TESTS=OFF -DRINGLB_BUILD_BENCH=OFF
	cmake --build build/run -j$(JOBS) --target ringlb
	build/run/src/ringlb/ringlb demo $(ARGS)

bench: deps
	cmake -S . -B build/bench $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=Release -DRINGLB_BUILD_TESTS=OFF
	cmake --build build/bench -j$(JOBS) --target chash_bench
	build/bench/bench/chash/chash_bench

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf build
