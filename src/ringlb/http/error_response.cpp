#include "ringlb/http/error_response.hpp"

#include <array>
#include <string>

namespace ringlb {

namespace {

struct entry {
    int status;
    const char* reason;
    const char* body;
    const char* extra;
};

constexpr std::array<entry, 11> table{{
    {400, "Bad Request", "bad request\n", ""},
    {405, "Method Not Allowed", "method not allowed\n",
     "Allow: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, TRACE\r\n"},
    {408, "Request Timeout", "request timeout\n", ""},
    {413, "Content Too Large", "request body too large\n", ""},
    {414, "URI Too Long", "uri too long\n", ""},
    {417, "Expectation Failed", "expectation failed\n", ""},
    {431, "Request Header Fields Too Large", "request header fields too large\n", ""},
    {500, "Internal Server Error", "internal error\n", ""},
    {502, "Bad Gateway", "bad gateway\n", ""},
    {503, "Service Unavailable", "no backend available\n", "Retry-After: 1\r\n"},
    {504, "Gateway Timeout", "gateway timeout\n", ""},
}};

std::string render(const entry& e, bool close) {
    const std::string body = e.body;
    return "HTTP/1.1 " + std::to_string(e.status) + " " + e.reason +
           "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
           e.extra + (close ? "Connection: close\r\n" : "") + "\r\n" + body;
}

// Rendered once; the hot path only indexes.
struct rendered {
    std::array<std::string, table.size()> keep;
    std::array<std::string, table.size()> close;
    rendered() {
        for (std::size_t i = 0; i < table.size(); ++i) {
            keep[i] = render(table[i], false);
            close[i] = render(table[i], true);
        }
    }
};

}  // namespace

std::string_view error_response(int status, bool close, bool head_request) noexcept {
    static const rendered r;
    std::size_t idx = 7;  // 500
    for (std::size_t i = 0; i < table.size(); ++i)
        if (table[i].status == status) idx = i;
    const std::string_view full = close ? r.close[idx] : r.keep[idx];
    // The head is the response without its one-line body.
    return head_request ? full.substr(0, full.size() - std::string_view{table[idx].body}.size()) : full;
}

}  // namespace ringlb
