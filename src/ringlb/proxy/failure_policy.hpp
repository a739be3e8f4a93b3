// ringlb/proxy/failure_policy.hpp: what happens when a request's exchange fails: one pure
// function, one table.
//
//   const auto d = ringlb::decide(failure_phase::response_head, failure::no_response,
//                                 {.replayable = true, .reused = false, .retries_left = true,
//                                  .request_read = true});
//   // d.action == action::next_backend, d.mark_down == true
//
// Every way an exchange can fail, at every phase, is decided here and nowhere else: whether
// the request moves to a fresh connection, to the next candidate, or is answered (with
// which status, and whether the client connection survives the answer), and whether the
// backend is marked down. The rules:
// - A request moves on only while nothing irreversible has happened: nothing reached the
//   backend (connect failed, or the write failed before the head went out whole: a backend
//   cannot act on a request it did not receive whole), or it is replayable (an idempotent
//   method whose whole body is still in our buffer) and no response byte came back.
// - A deadline that passes while the request is written (head or streamed body) is a 504,
//   never a replay: the backend stopped reading. If it answered before it stopped (a 413
//   or 401 to an upload it will not take), the exchange relays that answer instead and
//   never asks here.
// - A pooled connection that fails before any response byte (or holds bytes nobody asked
//   for) is no evidence against the backend: the backend closed an idle connection as we
//   reused it. Once more on a fresh connection, no retry counted, not marked down.
// - Marked down (passive health): connect failures and timeouts, and a fresh connection
//   closed or reset before any response byte. A slow answer (504) or a malformed one (502)
//   is not a dead server.
// - The client connection can survive an answer only when every byte of its request was
//   read (the next request starts at a known byte): 502, 503 and 504 then keep it, unless
//   the client asked to close, is HTTP/1.0, or the worker drains (the session adds that). Client faults
//   (400, 408, 413) always close it; a client that left gets nothing.
// - A failover that finds no candidate left answers what its last failure would have been
//   answered with had the budget been spent (502, 504), not 503: a backend did fail (the
//   exchange asks decide() again with retries_left = false).
//
// Thread-safety: pure function.
#pragma once

#include <cstdint>

namespace ringlb {

enum class failure_phase : std::uint8_t {
    select,         ///< choosing a backend
    connect,        ///< opening a new connection
    send,           ///< writing the head (and the buffered start of the body)
    body,           ///< streaming the rest of the request body
    response_head,  ///< waiting for and parsing the response head
};

enum class failure : std::uint8_t {
    no_backend,        ///< every candidate is down, tried, or over its cap
    refused,           ///< connect refused or failed
    timeout,           ///< the phase's deadline passed (connect, or backend_response)
    stray_bytes,       ///< a pooled connection holds bytes nobody asked for (before the write)
    write_failed,      ///< the write failed before the head reached the backend whole
    write_cut,         ///< the write failed after the head, before the buffered body, went out
    no_response,       ///< the backend closed or reset before any response byte
    bad_response,      ///< malformed, too large, an unsolicited 101, too many 1xx heads
    client_malformed,  ///< the request body's framing is invalid (a bad chunk)
    client_too_large,  ///< the request body passed max_body_bytes
    client_timeout,    ///< the client stopped sending its body
    client_gone,       ///< the client closed or reset
};

enum class action : std::uint8_t {
    retry_fresh,   ///< same backend, a new connection; no retry counted
    next_backend,  ///< mark tried, count a retry, select again
    answer,        ///< send `status` to the client
    drop,          ///< nothing to send: end the session
};

struct failure_context {
    bool replayable = false;    ///< idempotent, and every request byte is still in our buffer
    bool reused = false;        ///< the connection came from the pool
    bool retries_left = false;  ///< the retry budget allows another backend
    bool request_read = false;  ///< every byte of the request was read from the client
};

struct decision {
    action what = action::answer;
    int status = 0;             ///< for answer
    bool close_client = false;  ///< for answer: close the client connection after it
    bool mark_down = false;     ///< record a failure in the backend's passive health
    friend bool operator==(const decision&, const decision&) = default;
};

/// The decision for `f` during `phase` (see the rules above).
[[nodiscard]] decision decide(failure_phase phase, failure f, const failure_context& c) noexcept;

}  // namespace ringlb
