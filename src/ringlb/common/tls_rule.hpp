// ringlb/common/tls_rule.hpp: what [tls] asks for. Vocabulary shared by the config (which
// parses it) and the TLS module (which builds OpenSSL contexts from it: tls/server_context.hpp),
// so neither depends on the other.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ringlb {

/// A certificate chain (PEM, leaf first) and its private key (PEM, unencrypted).
struct tls_certificate {
    std::string cert;
    std::string key;
    friend bool operator==(const tls_certificate&, const tls_certificate&) = default;
};

enum class tls_version : std::uint8_t { v1_2, v1_3 };

struct tls_rule {
    std::vector<tls_certificate> certificates;  ///< empty = plain HTTP; the first is the default
    bool strict_sni = false;                    ///< refuse a ClientHello naming no certificate's name
    tls_version min_version = tls_version::v1_2;
    std::vector<std::string> ticket_keys;  ///< files of 80 bytes; the first encrypts, all decrypt

    [[nodiscard]] bool enabled() const noexcept { return !certificates.empty(); }
    friend bool operator==(const tls_rule&, const tls_rule&) = default;
};

}  // namespace ringlb
