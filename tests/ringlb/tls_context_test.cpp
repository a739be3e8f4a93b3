// The TLS listener's contexts, built from files this test writes (keys and self-signed
// certificates made with OpenSSL's API): the names each certificate answers for, SNI lookup
// (exact, case, one-label wildcards, unknown names), and the errors for a missing file, a
// key that does not match, and a ticket key file of the wrong size. The handshakes
// themselves are e2e.test_tls's.
#include "ringlb/tls/server_context.hpp"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

namespace ringlb {
namespace {

namespace fs = std::filesystem;

class TlsContext : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("ringlb-tls-" + std::to_string(::getpid()) + "-" +
                                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    // A P-256 key and a self-signed certificate for `cn` with `sans` (DNS names).
    tls_certificate make(const std::string& name, const std::string& cn, const std::string& sans) {
        EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
        X509* x = X509_new();
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), 0);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600);
        X509_set_pubkey(x, key);
        X509_NAME* subject = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
        X509_set_issuer_name(x, subject);
        if (!sans.empty()) {
            X509V3_CTX v3;
            X509V3_set_ctx_nodb(&v3);
            X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
            X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, sans.c_str());
            X509_add_ext(x, ext, -1);
            X509_EXTENSION_free(ext);
        }
        X509_sign(x, key, EVP_sha256());
        tls_certificate c{(dir_ / (name + ".pem")).string(), (dir_ / (name + ".key")).string()};
        FILE* f = std::fopen(c.cert.c_str(), "w");
        PEM_write_X509(f, x);
        std::fclose(f);
        f = std::fopen(c.key.c_str(), "w");
        PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
        std::fclose(f);
        X509_free(x);
        EVP_PKEY_free(key);
        return c;
    }

    std::string write(const std::string& name, const std::string& bytes) {
        const std::string path = (dir_ / name).string();
        std::ofstream{path, std::ios::binary} << bytes;
        return path;
    }

    fs::path dir_;
};

TEST_F(TlsContext, NamesComeFromTheAltNamesElseTheCommonName) {
    tls_rule rule;
    rule.certificates = {make("a", "a.test", "DNS:a.test,DNS:*.A.test"), make("b", "B.test", "")};
    std::string error;
    const auto ctx = tls_server_context::build(rule, error);
    ASSERT_TRUE(ctx) << error;
    ASSERT_EQ(ctx->names().size(), 2u);
    EXPECT_EQ(ctx->names()[0], (std::vector<std::string>{"a.test", "*.a.test"}));
    EXPECT_EQ(ctx->names()[1], (std::vector<std::string>{"b.test"}));

    ssl_ctx_st* a = ctx->context_for("a.test");
    ssl_ctx_st* b = ctx->context_for("b.test");
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_NE(a, b);
    EXPECT_EQ(ctx->context_for("A.TEST"), a);
    EXPECT_EQ(ctx->context_for("www.a.test"), a);          // one label under the wildcard
    EXPECT_EQ(ctx->context_for("x.www.a.test"), nullptr);  // ...not two
    EXPECT_EQ(ctx->context_for("c.test"), nullptr);
    EXPECT_EQ(ctx->context_for(""), nullptr);
    EXPECT_EQ(ctx->context_for(std::string(300, 'a')), nullptr);
    SSL* s = ctx->new_connection();
    ASSERT_NE(s, nullptr);
    SSL_free(s);
}

TEST_F(TlsContext, BadFilesAreRefusedWithTheReason) {
    const tls_certificate a = make("a", "a.test", "DNS:a.test");
    const tls_certificate b = make("b", "b.test", "DNS:b.test");
    std::string error;
    tls_rule rule;
    rule.certificates = {{a.cert, b.key}};
    EXPECT_FALSE(tls_server_context::build(rule, error));
    EXPECT_EQ(error, "tls: key " + b.key + " does not match certificate " + a.cert);

    rule.certificates = {{(dir_ / "missing.pem").string(), a.key}};
    EXPECT_FALSE(tls_server_context::build(rule, error));
    EXPECT_EQ(error.rfind("tls: certificate " + (dir_ / "missing.pem").string() + ": ", 0), 0u) << error;

    rule.certificates = {a};
    rule.ticket_keys = {write("short.key", std::string(48, 'k'))};
    EXPECT_FALSE(tls_server_context::build(rule, error));
    EXPECT_EQ(error, "tls.ticket_keys: " + rule.ticket_keys[0] +
                         " is 48 bytes; expected 80 random bytes (openssl rand 80 > " + rule.ticket_keys[0] +
                         ")");

    rule.ticket_keys = {write("good.key", std::string(80, 'k'))};
    EXPECT_TRUE(tls_server_context::build(rule, error)) << error;
    EXPECT_EQ(ERR_peek_error(), 0u) << "an error left in the thread's queue";
}

}  // namespace
}  // namespace ringlb
