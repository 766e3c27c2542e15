// Keys and certificates from files: what every signer (Authenticode,
// .pcrsig) loads before it signs. The bytes are mapped (file.hpp) and read
// as PEM or DER (crypto.hpp); errors name the path.
//
// keys::source says where a key lives (a file, or an OpenSSL engine's or
// provider's designation such as a PKCS#11 URI); signers take the loaded
// EVP_PKEY, so they do not care which.
#pragma once

#include "crypto.hpp"
#include "file.hpp"
#include "result.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ukikit::keys {

// A private key file: PEM (PKCS#8, traditional RSA/EC) or DER (PKCS#8).
inline result<crypto::pkey_ptr> load_private_key(const std::filesystem::path& path) {
  UKIKIT_TRY_ASSIGN(auto f, file::mapped_file::open(path));
  return crypto::load_private_key(f.bytes(), path.string());
}

// A public key file: PEM ("PUBLIC KEY") or DER SubjectPublicKeyInfo.
inline result<crypto::pkey_ptr> load_public_key(const std::filesystem::path& path) {
  UKIKIT_TRY_ASSIGN(auto f, file::mapped_file::open(path));
  return crypto::load_public_key(f.bytes(), path.string());
}

// The first certificate of a PEM file, or a DER certificate.
inline result<crypto::x509_ptr> load_certificate(const std::filesystem::path& path) {
  UKIKIT_TRY_ASSIGN(auto f, file::mapped_file::open(path));
  return crypto::load_certificate(f.bytes(), path.string());
}

// Every certificate of a PEM file, or one DER certificate.
inline result<std::vector<crypto::x509_ptr>> load_certificates(const std::filesystem::path& path) {
  UKIKIT_TRY_ASSIGN(auto f, file::mapped_file::open(path));
  return crypto::load_certificates(f.bytes(), path.string());
}

// Where a private key or a certificate lives. ukify's names: a path, or with
// --signing-engine/--signing-provider (--certificate-provider) a designation
// the engine or provider resolves.
struct source {
  enum class kind : std::uint8_t { file, engine, provider };
  kind where = kind::file;
  std::string location; // the path, or the engine's or provider's designation
  std::string module;   // the engine or provider; empty for a file

  static source from_file(const std::filesystem::path& p) { return {kind::file, p.string(), {}}; }
  bool is_file() const noexcept { return where == kind::file; }
  // "FILE", "engine ENGINE: KEY" or "provider PROVIDER: KEY".
  std::string describe() const {
    switch (where) {
    case kind::file: return location;
    case kind::engine: return "engine " + module + ": " + location;
    case kind::provider: return "provider " + module + ": " + location;
    }
    return location;
  }
};

namespace detail {
inline error not_a_file(const source& s, std::string_view what) {
  return error(errc::unsupported,
               std::string(what) + " from " + s.describe() + ": only key files are supported yet");
}
} // namespace detail

inline result<crypto::pkey_ptr> load_private_key(const source& s) {
  if (!s.is_file()) return detail::not_a_file(s, "private key");
  return load_private_key(std::filesystem::path(s.location));
}

inline result<crypto::x509_ptr> load_certificate(const source& s) {
  if (!s.is_file()) return detail::not_a_file(s, "certificate");
  return load_certificate(std::filesystem::path(s.location));
}

} // namespace ukikit::keys
