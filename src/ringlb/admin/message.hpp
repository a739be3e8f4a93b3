// ringlb/admin/message.hpp: an admin request as the API sees it, and its answer.
//
//   ringlb::admin::request req{.method = "GET", .path = "/v1/backends", ...};
//   ringlb::admin::response r = ringlb::admin::json_error(404, "no backend \"app-9\"");
//
// The admin listener (server.hpp) parses the bytes into a request: method, path and query
// (decoded, never longer than the head limit), the few headers the API reads, and the body
// (at most max_body bytes). Every answer is a response value; errors are JSON objects
// {"error": {"status": 404, "message": "..."}} with the right status.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ringlb::admin {

inline constexpr std::size_t max_head = 16 * 1024;
inline constexpr std::size_t max_body = 64 * 1024;

struct request {
    std::string method;
    std::string path;   ///< without the query; percent-decoded
    std::string query;  ///< raw, without '?'
    std::string host;
    std::string authorization;
    std::string content_type;
    std::string if_match;
    std::string body;
    bool has_body = false;    ///< a Content-Length was sent (even 0)
    bool keep_alive = false;  ///< the client keeps the connection for another request

    /// A query parameter, percent-decoded; nullopt when absent.
    [[nodiscard]] std::optional<std::string> param(std::string_view name) const;
    [[nodiscard]] bool mutating() const noexcept {
        return method == "POST" || method == "PUT" || method == "DELETE";
    }
};

struct response {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  ///< extra: ETag, Allow, ...
};

/// {"error": {"status": S, "message": M}} with status S.
[[nodiscard]] response json_error(int status, std::string_view message);
/// The reason phrase of a status ringlb's admin API answers with.
[[nodiscard]] std::string_view reason_phrase(int status) noexcept;
/// The whole HTTP/1.1 message for `r` (`keep_alive` false adds Connection: close; `head`:
/// the head alone, as an answer to HEAD).
[[nodiscard]] std::string serialize(const response& r, bool keep_alive, bool head = false);
/// Percent-decodes `s` (and '+' as space in a query); nullopt when malformed or when it
/// decodes to a NUL.
[[nodiscard]] std::optional<std::string> percent_decode(std::string_view s, bool query);

}  // namespace ringlb::admin
