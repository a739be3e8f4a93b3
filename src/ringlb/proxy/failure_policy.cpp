#include "ringlb/proxy/failure_policy.hpp"

namespace ringlb {

namespace {

decision answer(int status, const failure_context& c, bool mark_down = false) noexcept {
    return {
        .what = action::answer, .status = status, .close_client = !c.request_read, .mark_down = mark_down};
}

decision client_fault(int status) noexcept {
    return {.what = action::answer, .status = status, .close_client = true, .mark_down = false};
}

// Nothing reached the backend, or what did cannot have been acted on: the next candidate,
// or `status` when the budget is spent.
decision move_on(int status, const failure_context& c, bool mark_down) noexcept {
    if (c.retries_left) return {.what = action::next_backend, .mark_down = mark_down};
    return answer(status, c, mark_down);
}

}  // namespace

decision decide(failure_phase phase, failure f, const failure_context& c) noexcept {
    switch (f) {
        case failure::client_malformed:
            return client_fault(400);
        case failure::client_too_large:
            return client_fault(413);
        case failure::client_timeout:
            return client_fault(408);
        case failure::client_gone:
            return {.what = action::drop};
        case failure::no_backend:
            return answer(503, c);
        case failure::stray_bytes:
            return {.what = action::retry_fresh};
        default:
            break;
    }
    switch (phase) {
        case failure_phase::select:
            return answer(503, c);
        case failure_phase::connect:
            if (f == failure::refused) return move_on(502, c, true);
            if (f == failure::timeout) return move_on(504, c, true);
            break;
        case failure_phase::send:
            // The deadline passed while writing: a backend that does not read, not a dead one.
            if (f == failure::timeout) return answer(504, c);
            // The head went out whole: the backend may have acted on it; a request that must
            // not be replayed is answered.
            if (f == failure::write_cut && !c.replayable) return answer(502, c, !c.reused);
            // The head did not go out whole: nothing the backend can have acted on.
            if (f != failure::write_failed && f != failure::write_cut) break;
            if (c.reused) return {.what = action::retry_fresh};
            return move_on(502, c, true);
        case failure_phase::body:
            // Part of a streamed body reached the backend: never replayed. (A backend that
            // stops reading may have answered early; the exchange looks for that answer
            // before it asks here.)
            if (f == failure::timeout) return answer(504, c);
            break;
        case failure_phase::response_head:
            if (f == failure::timeout) return answer(504, c);
            if (f == failure::no_response) {
                if (c.replayable && c.reused) return {.what = action::retry_fresh};
                if (c.replayable) return move_on(502, c, true);
                return answer(502, c, !c.reused);
            }
            break;  // bad_response
    }
    return answer(502, c);  // a malformed answer, or a failure this phase cannot have
}

}  // namespace ringlb
