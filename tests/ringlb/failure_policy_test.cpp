// The failure policy, row by row: every failure at every phase it can happen in, with the
// context bits that change the outcome; then properties over every combination.
#include "ringlb/proxy/failure_policy.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using ringlb::action;
using ringlb::decide;
using ringlb::decision;
using ringlb::failure;
using ringlb::failure_context;
using ringlb::failure_phase;

struct row {
    const char* what;
    failure_phase phase;
    failure f;
    failure_context c;
    decision expected;
};

constexpr failure_context fresh_get{
    .replayable = true, .reused = false, .retries_left = true, .request_read = true};
constexpr failure_context fresh_get_last{
    .replayable = true, .reused = false, .retries_left = false, .request_read = true};
constexpr failure_context reused_get{
    .replayable = true, .reused = true, .retries_left = true, .request_read = true};
constexpr failure_context fresh_post{
    .replayable = false, .reused = false, .retries_left = true, .request_read = true};
constexpr failure_context reused_post{
    .replayable = false, .reused = true, .retries_left = true, .request_read = true};
constexpr failure_context streaming{
    .replayable = false, .reused = false, .retries_left = true, .request_read = false};

constexpr decision next_marked{.what = action::next_backend, .mark_down = true};
constexpr decision fresh_again{.what = action::retry_fresh};
constexpr decision drop{.what = action::drop};
constexpr decision answer(int status, bool close, bool mark = false) {
    return {.what = action::answer, .status = status, .close_client = close, .mark_down = mark};
}

const std::vector<row>& table() {
    static const std::vector<row> rows = {
        // select
        {"no eligible backend: 503, the connection kept", failure_phase::select, failure::no_backend,
         fresh_get, answer(503, false)},
        {"no eligible backend mid-upload: 503 and close", failure_phase::select, failure::no_backend,
         streaming, answer(503, true)},
        // connect: nothing reached the backend, any method moves on
        {"refused: next candidate, marked", failure_phase::connect, failure::refused, fresh_post,
         next_marked},
        {"refused, budget spent: 502, marked", failure_phase::connect, failure::refused, fresh_get_last,
         answer(502, false, true)},
        {"connect timeout: next candidate, marked", failure_phase::connect, failure::timeout, fresh_get,
         next_marked},
        {"connect timeout, budget spent: 504, marked", failure_phase::connect, failure::timeout,
         fresh_get_last, answer(504, false, true)},
        {"refused while the body waits unread: 502 and close",
         failure_phase::connect,
         failure::refused,
         {.replayable = false, .reused = false, .retries_left = false, .request_read = false},
         answer(502, true, true)},
        // send
        {"pooled connection with stray bytes: a fresh one", failure_phase::send, failure::stray_bytes,
         reused_post, fresh_again},
        {"write to a pooled connection failed: a fresh one", failure_phase::send, failure::write_failed,
         reused_post, fresh_again},
        {"write to a fresh connection failed: next, marked", failure_phase::send, failure::write_failed,
         fresh_post, next_marked},
        {"write failed, budget spent: 502, marked", failure_phase::send, failure::write_failed,
         fresh_get_last, answer(502, false, true)},
        {"POST, head written whole, then the write failed: 502, marked, not replayed", failure_phase::send,
         failure::write_cut, fresh_post, answer(502, false, true)},
        {"POST on a pooled connection, head written whole, then the write failed: 502, not replayed",
         failure_phase::send, failure::write_cut, reused_post, answer(502, false)},
        {"GET, head written whole, then the write failed: next, marked", failure_phase::send,
         failure::write_cut, fresh_get, next_marked},
        {"client left while we sent 100 Continue: drop", failure_phase::send, failure::client_gone, streaming,
         drop},
        {"head written whole as the deadline passed: 504, not replayed, not marked", failure_phase::send,
         failure::timeout, reused_get, answer(504, false)},
        // body: part of the body reached the backend, never replayed
        {"backend took no body for backend_response: 504 and close", failure_phase::body, failure::timeout,
         streaming, answer(504, true)},
        {"bad chunk: 400 and close", failure_phase::body, failure::client_malformed, streaming,
         answer(400, true)},
        {"body over the limit: 413 and close", failure_phase::body, failure::client_too_large, streaming,
         answer(413, true)},
        {"client stalls mid-body: 408 and close", failure_phase::body, failure::client_timeout, streaming,
         answer(408, true)},
        {"client gone mid-body: drop", failure_phase::body, failure::client_gone, streaming, drop},
        // response head
        {"backend too slow: 504, not marked", failure_phase::response_head, failure::timeout, fresh_get,
         answer(504, false)},
        {"backend too slow after an upload cut short: 504 and close", failure_phase::response_head,
         failure::timeout, streaming, answer(504, true)},
        {"GET, fresh connection closed before a byte: next, marked", failure_phase::response_head,
         failure::no_response, fresh_get, next_marked},
        {"GET, budget spent: 502, marked", failure_phase::response_head, failure::no_response, fresh_get_last,
         answer(502, false, true)},
        {"GET, pooled connection closed before a byte: a fresh one", failure_phase::response_head,
         failure::no_response, reused_get, fresh_again},
        {"POST, fresh connection closed before a byte: 502, marked, not replayed",
         failure_phase::response_head, failure::no_response, fresh_post, answer(502, false, true)},
        {"POST, pooled connection closed before a byte: 502, not marked", failure_phase::response_head,
         failure::no_response, reused_post, answer(502, false)},
        {"streamed body, backend closed: 502 and close, marked", failure_phase::response_head,
         failure::no_response, streaming, answer(502, true, true)},
        {"malformed response head: 502, not marked", failure_phase::response_head, failure::bad_response,
         fresh_get, answer(502, false)},
        {"malformed response head after an upload cut short: 502 and close", failure_phase::response_head,
         failure::bad_response, streaming, answer(502, true)},
    };
    return rows;
}

TEST(FailurePolicy, EveryRowOfTheTable) {
    for (const row& r : table()) EXPECT_EQ(decide(r.phase, r.f, r.c), r.expected) << r.what;
}

// Properties over every phase x failure x context, whether or not a row names it.
TEST(FailurePolicy, PropertiesHoldForEveryCombination) {
    constexpr failure_phase phases[] = {failure_phase::select, failure_phase::connect, failure_phase::send,
                                        failure_phase::body, failure_phase::response_head};
    constexpr failure failures[] = {
        failure::no_backend,       failure::refused,          failure::timeout,        failure::stray_bytes,
        failure::write_failed,     failure::write_cut,        failure::no_response,    failure::bad_response,
        failure::client_malformed, failure::client_too_large, failure::client_timeout, failure::client_gone};
    for (const auto phase : phases)
        for (const auto f : failures)
            for (int bits = 0; bits < 16; ++bits) {
                const failure_context c{.replayable = (bits & 1) != 0,
                                        .reused = (bits & 2) != 0,
                                        .retries_left = (bits & 4) != 0,
                                        .request_read = (bits & 8) != 0};
                const decision d = decide(phase, f, c);
                const std::string at = "phase " + std::to_string(static_cast<int>(phase)) + " failure " +
                                       std::to_string(static_cast<int>(f)) + " context " +
                                       std::to_string(bits);
                if (d.what == action::next_backend) {
                    EXPECT_TRUE(c.retries_left) << at << ": moved on without budget";
                    EXPECT_TRUE(phase == failure_phase::connect || phase == failure_phase::send ||
                                c.replayable)
                        << at << ": replayed a request the backend may have acted on";
                }
                if (f == failure::write_cut && !c.replayable) {
                    EXPECT_EQ(d.what, action::answer) << at << ": replayed a head the backend received";
                }
                if (d.what == action::retry_fresh) {
                    EXPECT_TRUE(c.reused || f == failure::stray_bytes)
                        << at << ": a fresh retry of a fresh connection";
                }
                if (d.what == action::answer) {
                    EXPECT_TRUE(d.status >= 400 && d.status < 600) << at;
                    EXPECT_TRUE(c.request_read || d.close_client)
                        << at << ": kept a connection with unread bytes";
                }
                if (f == failure::client_malformed || f == failure::client_too_large ||
                    f == failure::client_timeout) {
                    EXPECT_TRUE(d.what == action::answer && d.close_client) << at;
                }
                if (f == failure::client_gone) {
                    EXPECT_EQ(d.what, action::drop) << at;
                }
                if (f == failure::timeout && phase == failure_phase::response_head) {
                    EXPECT_FALSE(d.mark_down) << at << ": a slow backend is not a dead one";
                }
                if (f == failure::bad_response || f == failure::stray_bytes) {
                    EXPECT_FALSE(d.mark_down) << at;
                }
                if (c.reused && phase != failure_phase::connect) {
                    EXPECT_FALSE(d.mark_down) << at << ": an idle connection closed says nothing of health";
                }
            }
}

}  // namespace
