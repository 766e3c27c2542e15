// OpenSSL glue shared by Authenticode and .pcrsig: owning handles, the
// library's error queue as a message, and loading certificates and keys
// from PEM or DER bytes (no file I/O here: callers map files).
#pragma once

#include "bytes.hpp"
#include "hash.hpp"
#include "result.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <climits>
#include <memory>
#include <string>
#include <vector>

namespace ukikit::crypto {

namespace detail {
template <auto Free> struct deleter {
  template <class T> void operator()(T* p) const noexcept { Free(p); }
};
} // namespace detail

using bio_ptr = std::unique_ptr<BIO, detail::deleter<BIO_free>>;
using bio_chain_ptr = std::unique_ptr<BIO, detail::deleter<BIO_free_all>>;
using x509_ptr = std::unique_ptr<X509, detail::deleter<X509_free>>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, detail::deleter<EVP_PKEY_free>>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, detail::deleter<EVP_MD_CTX_free>>;
using store_ptr = std::unique_ptr<X509_STORE, detail::deleter<X509_STORE_free>>;
using store_ctx_ptr = std::unique_ptr<X509_STORE_CTX, detail::deleter<X509_STORE_CTX_free>>;

// Take OpenSSL's queued errors as "what (reason; reason)", clearing the queue.
inline error openssl_error(std::string what, errc code = errc::crypto) {
  std::string reasons;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!reasons.empty()) reasons += "; ";
    reasons += buf;
  }
  if (!reasons.empty()) what += " (" + reasons + ")";
  return error(code, std::move(what));
}

// A read-only memory BIO over bytes (no copy).
inline result<bio_ptr> memory_bio(byte_span b) {
  if (b.size() > static_cast<std::size_t>(INT_MAX))
    return error(errc::limit_exceeded, "input too large for OpenSSL (" + hex(b.size()) + " > " +
                                           hex(static_cast<std::uint64_t>(INT_MAX)) + " bytes)");
  bio_ptr bio(BIO_new_mem_buf(b.data(), static_cast<int>(b.size())));
  if (!bio) return openssl_error("cannot create memory BIO");
  return bio;
}

inline bool looks_like_pem(byte_span b) {
  return as_chars(b).find("-----BEGIN ") != std::string_view::npos;
}

// Every certificate in PEM bytes (one or many), or one DER certificate.
inline result<std::vector<x509_ptr>> load_certificates(byte_span b,
                                                       std::string_view what = "certificate") {
  std::vector<x509_ptr> out;
  if (looks_like_pem(b)) {
    UKIKIT_TRY_ASSIGN(bio_ptr bio, memory_bio(b));
    while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(c);
    ERR_clear_error(); // the end of the PEM stream is reported as an error
    if (out.empty())
      return error(errc::malformed, std::string(what) + ": no certificate in PEM data");
    return out;
  }
  const unsigned char* p = reinterpret_cast<const unsigned char*>(b.data());
  if (b.size() > static_cast<std::size_t>(LONG_MAX))
    return error(errc::limit_exceeded, std::string(what) + " too large (" + hex(b.size()) + " > " +
                                           hex(static_cast<std::uint64_t>(LONG_MAX)) + " bytes)");
  x509_ptr c(d2i_X509(nullptr, &p, static_cast<long>(b.size())));
  if (!c)
    return openssl_error(std::string(what) + ": neither PEM nor a DER certificate",
                         errc::malformed);
  out.push_back(std::move(c));
  return out;
}

inline result<x509_ptr> load_certificate(byte_span b, std::string_view what = "certificate") {
  UKIKIT_TRY_ASSIGN(auto certs, load_certificates(b, what));
  return std::move(certs.front());
}

// A private key in PEM (PKCS#8, traditional RSA/EC) or DER (PKCS#8).
inline result<pkey_ptr> load_private_key(byte_span b, std::string_view what = "private key") {
  UKIKIT_TRY_ASSIGN(bio_ptr bio, memory_bio(b));
  EVP_PKEY* k = looks_like_pem(b) ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)
                                  : d2i_PrivateKey_bio(bio.get(), nullptr);
  if (!k)
    return openssl_error(std::string(what) + ": cannot read (unencrypted PEM or DER expected)",
                         errc::malformed);
  return pkey_ptr(k);
}

// A public key in PEM ("PUBLIC KEY" SubjectPublicKeyInfo) or DER.
inline result<pkey_ptr> load_public_key(byte_span b, std::string_view what = "public key") {
  UKIKIT_TRY_ASSIGN(bio_ptr bio, memory_bio(b));
  EVP_PKEY* k = looks_like_pem(b) ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr)
                                  : d2i_PUBKEY_bio(bio.get(), nullptr);
  if (!k) return openssl_error(std::string(what) + ": cannot read", errc::malformed);
  return pkey_ptr(k);
}

inline std::string name_string(const X509_NAME* n) {
  if (!n) return {};
  bio_ptr bio(BIO_new(BIO_s_mem()));
  if (!bio) return {};
  X509_NAME_print_ex(bio.get(), n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return len > 0 ? std::string(data, static_cast<std::size_t>(len)) : std::string();
}

inline std::string subject(const X509* c) { return name_string(X509_get_subject_name(c)); }
inline std::string issuer(const X509* c) { return name_string(X509_get_issuer_name(c)); }

// DER bytes of a certificate.
inline result<std::vector<std::byte>> to_der(const X509* c) {
  int n = i2d_X509(c, nullptr);
  if (n <= 0) return openssl_error("cannot encode certificate");
  std::vector<std::byte> out(static_cast<std::size_t>(n));
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  i2d_X509(c, &p);
  return out;
}

// Digest of a certificate's DER encoding (dbx entries, fingerprints).
inline result<hash::digest> certificate_digest(const X509* c, hash::algorithm a) {
  UKIKIT_TRY_ASSIGN(auto der, to_der(c));
  return hash::compute(a, der);
}

} // namespace ukikit::crypto
