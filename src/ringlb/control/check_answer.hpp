// ringlb/control/check_answer.hpp: the verdict on an http health check's answer.
//
//   auto v = ringlb::judge_check_answer(bytes_so_far, /*closed=*/false, check);
//   if (v.what == check_verdict::pending) read_more();  // else v.what is pass or fail
//
// The answer is judged as soon as it can be: interim 1xx heads are skipped (a 103 Early
// Hints is not the answer); the final status must be in `expect_status`; with
// `expect_body`, the body must hold it, judged once the answer ends (its length, its last
// chunk, or the connection closing) or the bytes run out. The body is searched as it
// arrived: a chunked answer's chunk framing is part of it. Anything the parser refuses is
// a failure, never an exception.
//
// Thread-safety: a pure function.
#pragma once

#include "ringlb/config/config.hpp"

#include <string>
#include <string_view>

namespace ringlb {

struct check_verdict {
    enum kind : std::uint8_t { pending, pass, fail } what = pending;
    std::string detail;  ///< why it failed
};

/// Judges `answer`, the bytes a check read so far; `closed`: the backend closed the
/// connection (or the read limit was reached), so no more bytes will come.
[[nodiscard]] check_verdict judge_check_answer(std::string_view answer, bool closed,
                                               const health_check_config& c);

}  // namespace ringlb
