// Trust anchors and dbx: EFI signature lists (UEFI 2.10 §32.4.1) and the
// signature database that PEM, DER or EFI signature list files load into.
// Included by ukikit/authenticode.hpp; include that instead.
#pragma once

#include "../bytes.hpp"
#include "../crypto.hpp"
#include "../hash.hpp"
#include "../result.hpp"
#include "pkcs7.hpp"

#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ukikit::authenticode {

// ---- trust anchors and dbx ------------------------------------------------------

// EFI_SIGNATURE_LIST types (UEFI 2.10 §32.4.1, EFI_CERT_*_GUID), as the
// bytes of the GUID (first three fields little-endian).
inline constexpr std::array<std::uint8_t, 16> efi_cert_x509_guid{
    // a5c059a1-94e4-4aa7-87b5-…
    0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a, 0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72};
inline constexpr std::array<std::uint8_t, 16> efi_cert_sha1_guid{
    // 826ca512-cf10-4ac9-b187-…
    0x12, 0xa5, 0x6c, 0x82, 0x10, 0xcf, 0xc9, 0x4a, 0xb1, 0x87, 0xbe, 0x01, 0x49, 0x66, 0x31, 0xbd};
inline constexpr std::array<std::uint8_t, 16> efi_cert_sha256_guid{
    // c1c41626-504c-4092-aca9-…
    0x26, 0x16, 0xc4, 0xc1, 0x4c, 0x50, 0x92, 0x40, 0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93, 0x43, 0x28};
inline constexpr std::array<std::uint8_t, 16> efi_cert_sha384_guid{
    // ff3e5307-9fd0-48c9-85f1-…
    0x07, 0x53, 0x3e, 0xff, 0xd0, 0x9f, 0xc9, 0x48, 0x85, 0xf1, 0x8a, 0xd5, 0x6c, 0x70, 0x1e, 0x01};
inline constexpr std::array<std::uint8_t, 16> efi_cert_sha512_guid{
    // 093e0fae-a6c4-4f50-9f1b-…
    0xae, 0x0f, 0x3e, 0x09, 0xc4, 0xa6, 0x50, 0x4f, 0x9f, 0x1b, 0xd4, 0x1b, 0x2b, 0x89, 0xc1, 0x9a};
inline constexpr std::array<std::uint8_t, 16> efi_cert_x509_sha256_guid{
    // 3bd2a492-96c0-4079-…
    0x92, 0xa4, 0xd2, 0x3b, 0xc0, 0x96, 0x79, 0x40, 0xb4, 0x20, 0xfc, 0xf9, 0x8e, 0xf1, 0x03, 0xed};
inline constexpr std::array<std::uint8_t, 16> efi_cert_x509_sha384_guid{
    // 7076876e-80c2-4ee6-…
    0x6e, 0x87, 0x76, 0x70, 0xc2, 0x80, 0xe6, 0x4e, 0xaa, 0xd2, 0x28, 0xb3, 0x49, 0xa6, 0x86, 0x5b};
inline constexpr std::array<std::uint8_t, 16> efi_cert_x509_sha512_guid{
    // 446dbf63-2502-4cda-…
    0x63, 0xbf, 0x6d, 0x44, 0x02, 0x25, 0xda, 0x4c, 0xbc, 0xfa, 0x24, 0x65, 0xd2, 0xb0, 0xfe, 0x9d};
// WIN_CERTIFICATE_UEFI_GUID CertType of a PKCS#7 entry: EFI_CERT_TYPE_PKCS7_GUID
// 4aafd29d-68df-49ee-8aa9-347d375665a7.
inline constexpr std::array<std::uint8_t, 16> efi_cert_type_pkcs7_guid{
    0x9d, 0xd2, 0xaf, 0x4a, 0xdf, 0x68, 0xee, 0x49, 0x8a, 0xa9, 0x34, 0x7d, 0x37, 0x56, 0x65, 0xa7};

struct efi_signature_list_header {
  std::array<std::uint8_t, 16> signature_type;
  le32 signature_list_size;
  le32 signature_header_size;
  le32 signature_size;
};
static_assert(sizeof(efi_signature_list_header) == 28);

// Every EFI_SIGNATURE_DATA starts with its SignatureOwner, an EFI_GUID.
inline constexpr std::size_t signature_owner_size = 16;

// EFI_CERT_X509_SHA256/384/512 entries: the hash of a certificate's
// TBSCertificate followed by an EFI_TIME TimeOfRevocation (16 bytes).
inline constexpr std::size_t efi_time_size = 16;

// A certificate listed by the hash of its TBSCertificate.
struct certificate_hash {
  hash::digest digest;
  std::array<std::byte, efi_time_size> revocation_time{}; // EFI_TIME; all zero: always revoked
};

// What a db or dbx holds: certificates (EFI_CERT_X509), image digests
// (EFI_CERT_SHA1/256/384/512) and certificate hashes (EFI_CERT_X509_SHA*).
struct signature_database {
  std::vector<crypto::x509_ptr> certificates;
  std::vector<hash::digest> image_digests;
  std::vector<certificate_hash> certificate_hashes;

  bool empty() const noexcept {
    return certificates.empty() && image_digests.empty() && certificate_hashes.empty();
  }
  // Take everything `other` holds (several --cert or --dbx files make one database).
  void merge(signature_database&& other) {
    for (auto& c : other.certificates) certificates.push_back(std::move(c));
    image_digests.insert(image_digests.end(), other.image_digests.begin(),
                         other.image_digests.end());
    certificate_hashes.insert(certificate_hashes.end(), other.certificate_hashes.begin(),
                              other.certificate_hashes.end());
  }
};

namespace detail {
// The algorithm of an image-digest list type, or of a certificate-hash list type.
inline std::optional<hash::algorithm>
image_digest_type(const std::array<std::uint8_t, 16>& guid) noexcept {
  if (guid == efi_cert_sha1_guid) return hash::algorithm::sha1;
  if (guid == efi_cert_sha256_guid) return hash::algorithm::sha256;
  if (guid == efi_cert_sha384_guid) return hash::algorithm::sha384;
  if (guid == efi_cert_sha512_guid) return hash::algorithm::sha512;
  return std::nullopt;
}
inline std::optional<hash::algorithm>
certificate_hash_type(const std::array<std::uint8_t, 16>& guid) noexcept {
  if (guid == efi_cert_x509_sha256_guid) return hash::algorithm::sha256;
  if (guid == efi_cert_x509_sha384_guid) return hash::algorithm::sha384;
  if (guid == efi_cert_x509_sha512_guid) return hash::algorithm::sha512;
  return std::nullopt;
}
} // namespace detail

// Parse EFI_SIGNATURE_LISTs (as in db/dbx variables and efi-readvar output).
inline result<signature_database> parse_signature_lists(byte_span data) {
  signature_database db;
  cursor c(data);
  while (!c.at_end()) {
    const std::uint64_t list_offset = c.offset();
    UKIKIT_TRY_ASSIGN(auto h, c.read<efi_signature_list_header>("EFI_SIGNATURE_LIST header"));
    const std::uint32_t list_size = h.signature_list_size.value(),
                        header_size = h.signature_header_size.value(),
                        entry_size = h.signature_size.value();
    if (list_size < sizeof(h) + std::uint64_t{header_size})
      return error(errc::malformed,
                   "EFI_SIGNATURE_LIST size " + hex(list_size) + " is smaller than its header (" +
                       hex(sizeof(h)) + " + " + hex(header_size) + ")",
                   list_offset);
    UKIKIT_TRY_ASSIGN(cursor body, c.sub(list_size - sizeof(h), "EFI_SIGNATURE_LIST"));
    UKIKIT_TRY(body.skip(header_size, "EFI_SIGNATURE_LIST header data"));
    if (entry_size <= signature_owner_size)
      return error(errc::malformed,
                   "EFI_SIGNATURE_LIST SignatureSize " + hex(entry_size) +
                       " is too small (the owner GUID alone takes " + hex(signature_owner_size) +
                       ")",
                   list_offset);
    if (body.remaining() % entry_size != 0)
      return error(errc::malformed,
                   "EFI_SIGNATURE_LIST entries do not fill the list evenly (" +
                       hex(body.remaining()) + " bytes of SignatureSize " + hex(entry_size) + ")",
                   list_offset);
    const auto image_alg = detail::image_digest_type(h.signature_type);
    const auto cert_alg = detail::certificate_hash_type(h.signature_type);
    while (!body.at_end()) {
      UKIKIT_TRY(body.skip(signature_owner_size, "signature owner GUID"));
      const std::uint64_t at = body.offset();
      UKIKIT_TRY_ASSIGN(byte_span payload,
                        body.bytes(entry_size - signature_owner_size, "signature data"));
      if (h.signature_type == efi_cert_x509_guid) {
        UKIKIT_TRY_ASSIGN(auto cert, crypto::load_certificate(payload, "EFI_CERT_X509 entry"));
        db.certificates.push_back(std::move(cert));
      } else if (image_alg) {
        auto d = hash::digest::from_bytes(*image_alg, payload);
        if (!d)
          return error(errc::malformed,
                       "EFI_SIGNATURE_LIST " + std::string(hash::name(*image_alg)) + " entry has " +
                           std::to_string(payload.size()) + " bytes, not " +
                           std::to_string(hash::digest_size(*image_alg)),
                       at);
        db.image_digests.push_back(*d);
      } else if (cert_alg) {
        const std::size_t n = hash::digest_size(*cert_alg);
        if (payload.size() != n + efi_time_size)
          return error(errc::malformed,
                       "EFI_SIGNATURE_LIST x509-" + std::string(hash::name(*cert_alg)) +
                           " entry has " + std::to_string(payload.size()) + " bytes, not " +
                           std::to_string(n + efi_time_size) + " (hash and EFI_TIME)",
                       at);
        UKIKIT_TRY_ASSIGN(auto d, hash::digest::from_bytes(*cert_alg, payload.first(n)));
        certificate_hash ch{d, {}};
        std::copy(payload.begin() + static_cast<std::ptrdiff_t>(n), payload.end(),
                  ch.revocation_time.begin());
        db.certificate_hashes.push_back(ch);
      }
      // Other types (EFI_CERT_RSA2048 …) are not used for PE images: EDK2 skips them too.
    }
  }
  return db;
}

// Certificates from PEM, DER, or EFI signature lists.
inline result<signature_database> load_trust(byte_span data, std::string_view what) {
  if (crypto::looks_like_pem(data)) {
    UKIKIT_TRY_ASSIGN(auto certs, crypto::load_certificates(data, what));
    signature_database db;
    db.certificates = std::move(certs);
    return db;
  }
  auto der = crypto::load_certificates(data, what);
  if (der) {
    signature_database db;
    db.certificates = std::move(*der);
    return db;
  }
  auto esl = parse_signature_lists(data);
  if (!esl)
    return error(errc::malformed,
                 std::string(what) +
                     " is neither a PEM or DER certificate nor an EFI signature list (" +
                     esl.error().message() + ")");
  return esl;
}

} // namespace ukikit::authenticode
