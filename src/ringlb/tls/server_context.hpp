// ringlb/tls/server_context.hpp: the OpenSSL side of a TLS listener, built from [tls].
//
//   std::string error;
//   auto tls = ringlb::tls_server_context::build(rule, error);  // control thread; null + why
//   SSL* ssl = tls->new_connection();                           // a worker, per accepted client
//
// One SSL_CTX per certificate. A ClientHello's server name picks the certificate whose
// names (subjectAltName DNS entries, else the subject's CN; "*.example.com" matches one
// label) hold it; a name no certificate holds gets the first one, or with strict_sni the
// handshake is refused (unrecognized_name). ALPN answers "http/1.1" and refuses a client
// that offers only other protocols (h2: ringlb does not speak it). TLS 1.2 (forward-secret
// AEAD suites only) and 1.3; no renegotiation; no server-side session cache: resumption is
// by tickets, encrypted with the keys of `ticket_keys` (nginx's 80-byte format: 16 bytes of
// name, 32 of HMAC key, 32 of AES key; the first encrypts, every one decrypts, so keys
// rotate, and instances given the same files resume each other's sessions), or without
// them with a random key of this context's own. Buffers are released while a connection
// is idle (SSL_MODE_RELEASE_BUFFERS).
//
// Everything is loaded and checked here, before anything is swapped in: a reload with a bad
// file fails whole and the running context serves on.
//
// Thread-safety: immutable after build; new_connection may be called from any thread. An
// SSL made by it refers to this context (the name and ticket callbacks): keep the context
// alive while any of its connections is.
#pragma once

#include "ringlb/common/tls_rule.hpp"

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct ssl_ctx_st;
struct ssl_st;

namespace ringlb {

class tls_server_context {
public:
    [[nodiscard]] static std::shared_ptr<const tls_server_context> build(const tls_rule& rule,
                                                                         std::string& error);
    ~tls_server_context();
    tls_server_context(const tls_server_context&) = delete;
    tls_server_context& operator=(const tls_server_context&) = delete;

    /// A new server-side SSL in accept state, or nullptr (out of memory).
    [[nodiscard]] ssl_st* new_connection() const noexcept;

    /// The names each certificate answers for, in config order (for the log and tests).
    [[nodiscard]] const std::vector<std::vector<std::string>>& names() const noexcept { return names_; }

    // The OpenSSL callbacks (public for their C trampolines; not an API).
    struct ticket_key {
        std::array<unsigned char, 16> name;
        std::array<unsigned char, 32> hmac;
        std::array<unsigned char, 32> aes;
    };
    [[nodiscard]] ssl_ctx_st* context_for(std::string_view server_name) const noexcept;
    [[nodiscard]] bool strict_sni() const noexcept { return strict_sni_; }
    [[nodiscard]] const std::vector<ticket_key>& ticket_keys() const noexcept { return tickets_; }

private:
    tls_server_context() = default;

    struct ctx_deleter {
        void operator()(ssl_ctx_st* c) const noexcept;
    };
    std::vector<std::unique_ptr<ssl_ctx_st, ctx_deleter>> contexts_;  // [0] is the default
    std::vector<std::vector<std::string>> names_;                     // lower case
    std::vector<std::pair<std::string, std::size_t>> by_name_;        // sorted: name -> context
    std::vector<ticket_key> tickets_;
    bool strict_sni_ = false;
};

/// An established TLS connection's OpenSSL state while no session serves it (a parked
/// connection: proxy/parking_lot.hpp), with the context its SSL refers to. Frees the SSL
/// (without a close_notify) unless it was handed back.
struct tls_held {
    ssl_st* ssl = nullptr;
    std::shared_ptr<const tls_server_context> context;

    tls_held() = default;
    ~tls_held();
    /// Sends a close_notify, best effort (the socket is non-blocking): before the lot closes
    /// an idle connection, so the client sees a clean end rather than a truncation.
    void notify_close() noexcept;
    tls_held(const tls_held&) = delete;
    tls_held& operator=(const tls_held&) = delete;
};

}  // namespace ringlb
