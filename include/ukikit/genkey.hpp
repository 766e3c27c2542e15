// New signing keys, as `ukify genkey` makes them: an RSA key with a
// self-signed Secure Boot certificate, and RSA key pairs for .pcrsig.
//
// ukify's choices (src/ukify/ukify.py, generate_key_cert_pair): RSA 2048
// with exponent 65537 (what Microsoft documents for Secure Boot keys); the
// certificate's subject and issuer are one CN, "SecureBoot signing key on
// host FQDN" cut to 64 bytes; valid from now for 3650 days by default; a
// random serial; BasicConstraints CA:FALSE, critical; signed with SHA-256.
// Private keys are written as traditional PEM ("RSA PRIVATE KEY"), public
// keys as SubjectPublicKeyInfo PEM.
#pragma once

#include "crypto.hpp"
#include "result.hpp"

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace ukikit::genkey {

inline constexpr unsigned default_bits = 2048;
inline constexpr unsigned default_validity_days = 3650;
inline constexpr std::size_t max_common_name = 64; // X.520 ub-common-name

// ukify's CN for a host, cut to 64 bytes as ukify cuts it ("…" as "...").
inline std::string secure_boot_common_name(std::string_view host) {
  std::string cn = "SecureBoot signing key on host " + std::string(host);
  if (cn.size() > max_common_name) cn = cn.substr(0, max_common_name - 3) + "...";
  return cn;
}

inline result<crypto::pkey_ptr> rsa_key(unsigned bits = default_bits) {
  crypto::pkey_ptr key(EVP_RSA_gen(bits));
  if (!key) return crypto::openssl_error("cannot generate an RSA key");
  return key;
}

// A self-signed certificate for `key`: subject = issuer = CN, valid from
// `now` for `days` days, a random 159-bit serial, CA:FALSE (critical), SHA-256.
inline result<crypto::x509_ptr> self_signed(EVP_PKEY* key, std::string_view common_name,
                                            unsigned days, std::time_t now) {
  if (common_name.empty() || common_name.size() > max_common_name)
    return error(errc::invalid_argument, "a certificate's common name must have 1 to 64 bytes");
  crypto::x509_ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1)
    return crypto::openssl_error("cannot make a certificate");
  unsigned char serial[20];
  if (RAND_bytes(serial, sizeof serial) != 1) return crypto::openssl_error("no random serial");
  serial[0] &= 0x7f; // positive, as RFC 5280 requires
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  const bool serial_set =
      bn != nullptr && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get())) != nullptr;
  BN_free(bn);
  if (!serial_set) return crypto::openssl_error("cannot set the serial number");
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.data()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), name) != 1)
    return crypto::openssl_error("cannot set the certificate's name");
  if (X509_time_adj_ex(X509_getm_notBefore(cert.get()), 0, 0, &now) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), static_cast<int>(days), 0, &now) == nullptr)
    return crypto::openssl_error("cannot set the certificate's validity");
  if (X509_set_pubkey(cert.get(), key) != 1)
    return crypto::openssl_error("cannot set the certificate's key");
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  X509_EXTENSION* ext =
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_basic_constraints, "critical,CA:FALSE");
  const bool ext_added = ext != nullptr && X509_add_ext(cert.get(), ext, -1) == 1;
  X509_EXTENSION_free(ext);
  if (!ext_added) return crypto::openssl_error("cannot add BasicConstraints");
  if (X509_sign(cert.get(), key, EVP_sha256()) == 0)
    return crypto::openssl_error("cannot sign the certificate");
  return cert;
}

namespace detail {
template <class Write> result<std::string> pem(Write&& write, std::string_view what) {
  crypto::bio_ptr bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1)
    return crypto::openssl_error("cannot write " + std::string(what));
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}
} // namespace detail

// "-----BEGIN RSA PRIVATE KEY-----" for RSA (traditional), unencrypted.
inline result<std::string> private_key_pem(EVP_PKEY* key) {
  return detail::pem(
      [key](BIO* b) {
        return PEM_write_bio_PrivateKey_traditional(b, key, nullptr, nullptr, 0, nullptr, nullptr);
      },
      "private key");
}

inline result<std::string> public_key_pem(EVP_PKEY* key) {
  return detail::pem([key](BIO* b) { return PEM_write_bio_PUBKEY(b, key); }, "public key");
}

inline result<std::string> certificate_pem(X509* cert) {
  return detail::pem([cert](BIO* b) { return PEM_write_bio_X509(b, cert); }, "certificate");
}

} // namespace ukikit::genkey
