// Keys and certificates from files: what every signer (Authenticode,
// .pcrsig) loads before it signs. The bytes are mapped (file.hpp) and read
// as PEM or DER (crypto.hpp); errors name the path.
#pragma once

#include "crypto.hpp"
#include "file.hpp"
#include "result.hpp"

#include <filesystem>
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

} // namespace ukikit::keys
