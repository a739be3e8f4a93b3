#include "ringlb/tls/server_context.hpp"

#include "ringlb/common/text.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>

namespace ringlb {

namespace {

// Mozilla's "intermediate" TLS 1.2 suites: forward secret, AEAD only, no DHE (it would need
// dhparams); TLS 1.3 keeps OpenSSL's defaults (all three are fine).
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr unsigned char http11[] = "http/1.1";
constexpr std::size_t ticket_file_bytes = 80;

// The index under which every SSL_CTX of ours keeps its tls_server_context.
int owner_index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

const tls_server_context* owner_of(SSL* s) {
    return static_cast<const tls_server_context*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(s), owner_index()));
}

// What OpenSSL said went wrong, and the queue emptied for whoever calls it next.
std::string openssl_reason() {
    std::string out;
    while (const unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out.empty() ? "unknown OpenSSL error" : out;
}

int on_server_name(SSL* s, int* alert, void*) {
    const tls_server_context* self = owner_of(s);
    const char* name = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
    SSL_CTX* ctx = name != nullptr ? self->context_for(name) : nullptr;
    if (ctx == nullptr) {
        if (!self->strict_sni()) return SSL_TLSEXT_ERR_OK;  // the default certificate
        *alert = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    if (ctx != SSL_get_SSL_CTX(s)) SSL_set_SSL_CTX(s, ctx);
    return SSL_TLSEXT_ERR_OK;
}

int on_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
            unsigned int inlen, void*) {
    // The client's list: length-prefixed protocol names. Only HTTP/1.1 is spoken here.
    for (unsigned int i = 0; i < inlen;) {
        const unsigned int n = in[i];
        if (i + 1 + n > inlen) break;
        if (n == sizeof http11 - 1 && std::memcmp(in + i + 1, http11, n) == 0) {
            *out = in + i + 1;
            *outlen = static_cast<unsigned char>(n);
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + n;
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;  // no_application_protocol (RFC 7301 3.2)
}

int on_ticket(SSL* s, unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
              int encrypt) {
    const auto& keys = owner_of(s)->ticket_keys();
    const auto use = [&](const tls_server_context::ticket_key& k, bool enc) {
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(k.hmac.data()),
                                              k.hmac.size()),
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
            OSSL_PARAM_construct_end()};
        const int ok = enc ? EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, k.aes.data(), iv)
                           : EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, k.aes.data(), iv);
        return ok == 1 && EVP_MAC_CTX_set_params(mac, params) == 1;
    };
    if (encrypt != 0) {
        const auto& k = keys.front();
        std::memcpy(key_name, k.name.data(), k.name.size());
        if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1) return -1;
        return use(k, true) ? 1 : -1;
    }
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (std::memcmp(key_name, keys[i].name.data(), keys[i].name.size()) != 0) continue;
        if (!use(keys[i], false)) return -1;
        // 2 asks for a new ticket: for one under an older key (renewed under the current
        // one), and always in TLS 1.3, whose clients use a ticket once: without a new one
        // every other handshake would be a full one.
        return i == 0 && SSL_version(s) != TLS1_3_VERSION ? 1 : 2;
    }
    return 0;  // a key no longer held: a full handshake
}

std::vector<std::string> certificate_names(SSL_CTX* ctx) {
    std::vector<std::string> names;
    X509* x = SSL_CTX_get0_certificate(ctx);
    if (x == nullptr) return names;
    auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
    if (sans != nullptr) {
        for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
            const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
            if (g->type != GEN_DNS) continue;
            const auto* data = reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.dNSName));
            names.push_back(
                to_lower(std::string_view{data, static_cast<std::size_t>(ASN1_STRING_length(g->d.dNSName))}));
        }
        GENERAL_NAMES_free(sans);
    }
    if (names.empty()) {
        char cn[256] = {};
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn) > 0)
            names.push_back(to_lower(cn));
    }
    return names;
}

bool read_ticket_key(const std::string& path, tls_server_context::ticket_key& k, std::string& error) {
    std::ifstream in{path, std::ios::binary};
    if (!in) {
        error = "tls.ticket_keys: cannot read " + path;
        return false;
    }
    std::string bytes{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
    if (bytes.size() != ticket_file_bytes) {
        error = "tls.ticket_keys: " + path + " is " + std::to_string(bytes.size()) +
                " bytes; expected 80 random bytes (openssl rand 80 > " + path + ")";
        return false;
    }
    std::memcpy(k.name.data(), bytes.data(), 16);
    std::memcpy(k.hmac.data(), bytes.data() + 16, 32);
    std::memcpy(k.aes.data(), bytes.data() + 48, 32);
    return true;
}

}  // namespace

void tls_server_context::ctx_deleter::operator()(ssl_ctx_st* c) const noexcept {
    SSL_CTX_free(c);
}

tls_server_context::~tls_server_context() = default;

std::shared_ptr<const tls_server_context> tls_server_context::build(const tls_rule& rule,
                                                                    std::string& error) {
    ERR_clear_error();
    std::shared_ptr<tls_server_context> self{new tls_server_context};
    self->strict_sni_ = rule.strict_sni;
    for (const std::string& path : rule.ticket_keys) {
        ticket_key k{};
        if (!read_ticket_key(path, k, error)) return nullptr;
        self->tickets_.push_back(k);
    }
    for (const tls_certificate& c : rule.certificates) {
        std::unique_ptr<SSL_CTX, ctx_deleter> ctx{SSL_CTX_new(TLS_server_method())};
        if (!ctx) {
            error = "tls: " + openssl_reason();
            return nullptr;
        }
        SSL_CTX* x = ctx.get();
        SSL_CTX_set_min_proto_version(
            x, rule.min_version == tls_version::v1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
        SSL_CTX_set_options(x,
                            SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
        SSL_CTX_set_mode(x, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                                SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        SSL_CTX_set_session_cache_mode(x, SSL_SESS_CACHE_OFF);  // tickets only: no per-instance cache
        SSL_CTX_set_num_tickets(x, 1);
        static constexpr unsigned char sid[] = "ringlb";
        SSL_CTX_set_session_id_context(x, sid, sizeof sid - 1);
        // An encrypted key would make OpenSSL prompt on the terminal: refuse it instead.
        SSL_CTX_set_default_passwd_cb(x, [](char*, int, int, void*) { return 0; });
        if (SSL_CTX_set_cipher_list(x, tls12_ciphers) != 1) {
            error = "tls: " + openssl_reason();
            return nullptr;
        }
        if (SSL_CTX_use_certificate_chain_file(x, c.cert.c_str()) != 1) {
            error = "tls: certificate " + c.cert + ": " + openssl_reason();
            return nullptr;
        }
        if (SSL_CTX_use_PrivateKey_file(x, c.key.c_str(), SSL_FILETYPE_PEM) != 1) {
            const bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
            error = mismatch ? "tls: key " + c.key + " does not match certificate " + c.cert
                             : "tls: key " + c.key + ": " + openssl_reason() +
                                   " (an unencrypted PEM key is expected)";
            ERR_clear_error();
            return nullptr;
        }
        if (SSL_CTX_check_private_key(x) != 1) {
            error = "tls: key " + c.key + " does not match certificate " + c.cert;
            ERR_clear_error();
            return nullptr;
        }
        SSL_CTX_set_ex_data(x, owner_index(), self.get());
        // (The macro for this casts C-style; the call it stands for, spelt out.)
        SSL_CTX_callback_ctrl(x, SSL_CTRL_SET_TLSEXT_SERVERNAME_CB,
                              reinterpret_cast<void (*)()>(on_server_name));
        SSL_CTX_set_alpn_select_cb(x, on_alpn, nullptr);
        if (!self->tickets_.empty()) SSL_CTX_set_tlsext_ticket_key_evp_cb(x, on_ticket);
        auto names = certificate_names(x);
        for (const std::string& n : names) {
            const bool taken = std::any_of(self->by_name_.begin(), self->by_name_.end(),
                                           [&](const auto& e) { return e.first == n; });
            if (!taken) self->by_name_.emplace_back(n, self->contexts_.size());  // the first certificate wins
        }
        self->names_.push_back(std::move(names));
        self->contexts_.push_back(std::move(ctx));
    }
    if (self->contexts_.empty()) {
        error = "tls: no certificate";
        return nullptr;
    }
    std::sort(self->by_name_.begin(), self->by_name_.end());
    return self;
}

ssl_ctx_st* tls_server_context::context_for(std::string_view server_name) const noexcept {
    if (server_name.empty() || server_name.size() > 253) return nullptr;
    char lower[254];
    for (std::size_t i = 0; i < server_name.size(); ++i) lower[i] = ascii_lower(server_name[i]);
    const std::string_view name{lower, server_name.size()};
    const auto find = [&](std::string_view n) -> ssl_ctx_st* {
        const auto it = std::lower_bound(by_name_.begin(), by_name_.end(), n,
                                         [](const auto& e, std::string_view v) { return e.first < v; });
        return it != by_name_.end() && it->first == n ? contexts_[it->second].get() : nullptr;
    };
    if (ssl_ctx_st* c = find(name)) return c;
    // "*.example.com" answers for one label in front of example.com.
    const std::size_t dot = name.find('.');
    if (dot == std::string_view::npos || dot == 0) return nullptr;
    char wild[256] = "*";
    std::memcpy(wild + 1, name.data() + dot, name.size() - dot);
    return find(std::string_view{wild, name.size() - dot + 1});
}

tls_held::~tls_held() {
    if (ssl != nullptr) SSL_free(ssl);
}

void tls_held::notify_close() noexcept {
    if (ssl == nullptr) return;
    ERR_clear_error();
    SSL_shutdown(ssl);
    ERR_clear_error();
}

ssl_st* tls_server_context::new_connection() const noexcept {
    ERR_clear_error();
    SSL* s = SSL_new(contexts_.front().get());
    if (s != nullptr) SSL_set_accept_state(s);
    return s;
}

}  // namespace ringlb
