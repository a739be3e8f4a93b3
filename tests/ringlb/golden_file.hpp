// tests/ringlb/golden_file.hpp: compare output with a file under tests/ringlb/golden/.
//
//   EXPECT_GOLDEN("simulate_ring_10.txt", ringlb::tools::format_table(result, {.timing = false}));
//
// RINGLB_UPDATE_GOLDEN=1 rewrites the files instead of comparing (then review the diff:
// a changed placement golden means keys would move in production).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace ringlb::testing {

inline std::string golden_path(const std::string& name) { return std::string{RINGLB_TEST_DATA_DIR} + "/golden/" + name; }

inline ::testing::AssertionResult matches_golden(const std::string& name, const std::string& actual) {
    const std::string path = golden_path(name);
    if (std::getenv("RINGLB_UPDATE_GOLDEN") != nullptr) {
        std::ofstream{path, std::ios::binary} << actual;
        return ::testing::AssertionSuccess() << "updated " << path;
    }
    std::ifstream in{path, std::ios::binary};
    if (!in) return ::testing::AssertionFailure() << "missing " << path << " (run with RINGLB_UPDATE_GOLDEN=1)";
    std::stringstream expected;
    expected << in.rdbuf();
    if (expected.str() == actual) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << path << " differs; actual output:\n" << actual;
}

}  // namespace ringlb::testing

#define EXPECT_GOLDEN(name, actual) EXPECT_TRUE(::ringlb::testing::matches_golden((name), (actual)))
