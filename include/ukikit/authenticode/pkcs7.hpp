// Authenticode PKCS#7: the object identifiers, SpcIndirectDataContent, the
// SignedData of a certificate table entry, and its content check.
// Included by ukikit/authenticode.hpp; include that instead.
//
// Rules: reference/uki-signing-pcr.md §4 (Microsoft Authenticode PE spec).
#pragma once

#include "../bytes.hpp"
#include "../crypto.hpp"
#include "../der.hpp"
#include "../hash.hpp"
#include "../pe.hpp"
#include "../result.hpp"

#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ukikit::authenticode {

// ---- PKCS#7 -------------------------------------------------------------------------

namespace oid {
// Content octets of the object identifiers Authenticode uses.
inline constexpr std::array<std::uint8_t, 9> signed_data{0x2a, 0x86, 0x48, 0x86, 0xf7,
                                                         0x0d, 0x01, 0x07, 0x02};
inline constexpr std::array<std::uint8_t, 10> spc_indirect_data{0x2b, 0x06, 0x01, 0x04, 0x01,
                                                                0x82, 0x37, 0x02, 0x01, 0x04};
inline constexpr std::array<std::uint8_t, 10> spc_pe_image_data{0x2b, 0x06, 0x01, 0x04, 0x01,
                                                                0x82, 0x37, 0x02, 0x01, 0x0f};
inline constexpr std::array<std::uint8_t, 10> spc_sp_opus_info{0x2b, 0x06, 0x01, 0x04, 0x01,
                                                               0x82, 0x37, 0x02, 0x01, 0x0c};
inline constexpr std::array<std::uint8_t, 10> spc_nested_signature{0x2b, 0x06, 0x01, 0x04, 0x01,
                                                                   0x82, 0x37, 0x02, 0x04, 0x01};
inline constexpr std::array<std::uint8_t, 9> content_type{0x2a, 0x86, 0x48, 0x86, 0xf7,
                                                          0x0d, 0x01, 0x09, 0x03};
inline constexpr std::array<std::uint8_t, 9> message_digest{0x2a, 0x86, 0x48, 0x86, 0xf7,
                                                            0x0d, 0x01, 0x09, 0x04};
inline constexpr std::array<std::uint8_t, 9> signing_time{0x2a, 0x86, 0x48, 0x86, 0xf7,
                                                          0x0d, 0x01, 0x09, 0x05};
inline constexpr std::array<std::uint8_t, 9> rsa_encryption{0x2a, 0x86, 0x48, 0x86, 0xf7,
                                                            0x0d, 0x01, 0x01, 0x01};
inline constexpr std::array<std::uint8_t, 8> ecdsa_with_sha256{0x2a, 0x86, 0x48, 0xce,
                                                               0x3d, 0x04, 0x03, 0x02};
inline constexpr std::array<std::uint8_t, 8> ecdsa_with_sha384{0x2a, 0x86, 0x48, 0xce,
                                                               0x3d, 0x04, 0x03, 0x03};
inline constexpr std::array<std::uint8_t, 8> ecdsa_with_sha512{0x2a, 0x86, 0x48, 0xce,
                                                               0x3d, 0x04, 0x03, 0x04};
inline constexpr std::array<std::uint8_t, 5> sha1{0x2b, 0x0e, 0x03, 0x02, 0x1a};
inline constexpr std::array<std::uint8_t, 9> sha256{0x60, 0x86, 0x48, 0x01, 0x65,
                                                    0x03, 0x04, 0x02, 0x01};
inline constexpr std::array<std::uint8_t, 9> sha384{0x60, 0x86, 0x48, 0x01, 0x65,
                                                    0x03, 0x04, 0x02, 0x02};
inline constexpr std::array<std::uint8_t, 9> sha512{0x60, 0x86, 0x48, 0x01, 0x65,
                                                    0x03, 0x04, 0x02, 0x03};

template <std::size_t N> byte_span bytes(const std::array<std::uint8_t, N>& a) {
  return {reinterpret_cast<const std::byte*>(a.data()), N};
}
template <std::size_t N> bool equals(byte_span content, const std::array<std::uint8_t, N>& a) {
  return content.size() == N && std::equal(content.begin(), content.end(), bytes(a).begin());
}

inline byte_span of(hash::algorithm a) {
  switch (a) {
  case hash::algorithm::sha1: return bytes(sha1);
  case hash::algorithm::sha256: return bytes(sha256);
  case hash::algorithm::sha384: return bytes(sha384);
  case hash::algorithm::sha512: return bytes(sha512);
  }
  return {};
}

inline std::optional<hash::algorithm> digest_algorithm(byte_span content) {
  for (hash::algorithm a : hash::all_algorithms)
    if (std::equal(content.begin(), content.end(), of(a).begin(), of(a).end())) return a;
  return std::nullopt;
}
} // namespace oid

// What SpcIndirectDataContent says about the image: the digest it signs.
struct indirect_data {
  std::string data_type;                    // 1.3.6.1.4.1.311.2.1.15 for PE images
  std::string digest_oid;                   // dotted form
  std::optional<hash::algorithm> algorithm; // when ukikit knows it
  byte_span digest;                         // the signed image digest
  byte_span content_octets;                 // what messageDigest covers
};

// Parse the DER of SpcIndirectDataContent (the full SEQUENCE).
inline result<indirect_data> parse_indirect_data(byte_span der, std::uint64_t base = 0) {
  cursor c(der, base);
  UKIKIT_TRY_ASSIGN(der::tlv top, der::expect(c, der::tag_sequence, "SpcIndirectDataContent"));
  indirect_data out;
  out.content_octets = top.content;
  cursor body = der::inside(top);
  UKIKIT_TRY_ASSIGN(der::tlv data,
                    der::expect(body, der::tag_sequence, "SpcAttributeTypeAndOptionalValue"));
  cursor dc = der::inside(data);
  UKIKIT_TRY_ASSIGN(der::tlv type,
                    der::expect(dc, der::tag_oid, "SpcIndirectDataContent data type"));
  out.data_type = der::oid_string(type.content);
  UKIKIT_TRY_ASSIGN(der::tlv info, der::expect(body, der::tag_sequence, "DigestInfo"));
  cursor ic = der::inside(info);
  UKIKIT_TRY_ASSIGN(der::tlv alg, der::expect(ic, der::tag_sequence, "DigestInfo algorithm"));
  cursor ac = der::inside(alg);
  UKIKIT_TRY_ASSIGN(der::tlv alg_oid,
                    der::expect(ac, der::tag_oid, "DigestInfo algorithm identifier"));
  out.digest_oid = der::oid_string(alg_oid.content);
  out.algorithm = oid::digest_algorithm(alg_oid.content);
  UKIKIT_TRY_ASSIGN(der::tlv digest, der::expect(ic, der::tag_octet_string, "DigestInfo digest"));
  out.digest = digest.content;
  if (out.algorithm && out.digest.size() != hash::digest_size(*out.algorithm))
    return error(errc::malformed,
                 "DigestInfo digest has " + std::to_string(out.digest.size()) + " bytes, " +
                     std::string(hash::name(*out.algorithm)) + " has " +
                     std::to_string(hash::digest_size(*out.algorithm)),
                 digest.offset);
  return out;
}

using pkcs7_ptr = std::unique_ptr<PKCS7, crypto::detail::deleter<PKCS7_free>>;

// One parsed signature (a certificate table entry's PKCS#7).
struct signature {
  std::uint64_t entry_offset = 0;
  pkcs7_ptr pkcs7;
  indirect_data indirect;
  std::vector<std::byte> indirect_der; // owned copy of SpcIndirectDataContent DER
  std::string subject;                 // signer certificate subject (RFC 2253)
  std::string issuer;
  unsigned nested_signatures = 0; // unauthenticated oid::spc_nested_signature values
  bool has_signing_time = false;
  std::size_t der_size = 0; // bytes of the payload the PKCS#7 DER takes; the rest is trailing
};

inline result<signature> parse_signature(const pe::certificate_entry& entry) {
  const std::uint64_t at = entry.offset;
  const std::uint64_t payload_at = at + sizeof(pe::win_certificate); // the PKCS#7 DER
  if (entry.type != pe::win_cert_type_pkcs_signed_data)
    return error(errc::unsupported,
                 "certificate entry type " + hex(entry.type) + " is not PKCS_SIGNED_DATA (0x2)",
                 at);
  signature s;
  s.entry_offset = at;
  const auto* p = reinterpret_cast<const unsigned char*>(entry.payload.data());
  s.pkcs7.reset(d2i_PKCS7(nullptr, &p, static_cast<long>(entry.payload.size())));
  if (!s.pkcs7) {
    ERR_clear_error();
    return error(errc::malformed,
                 "certificate entry holds no valid PKCS#7 (truncated or corrupt DER)", payload_at);
  }
  // d2i advanced p past the DER it used; OpenSSL ignores what follows.
  s.der_size =
      static_cast<std::size_t>(p - reinterpret_cast<const unsigned char*>(entry.payload.data()));
  PKCS7* p7 = s.pkcs7.get();
  if (!PKCS7_type_is_signed(p7) || !p7->d.sign || !p7->d.sign->contents)
    return error(errc::malformed, "PKCS#7 is not SignedData", payload_at);
  PKCS7* contents = p7->d.sign->contents;
  if (OBJ_obj2nid(contents->type) != NID_undef || !contents->d.other ||
      contents->d.other->type != V_ASN1_SEQUENCE) {
    // SpcIndirectDataContent has no OpenSSL NID; anything with one is not it.
    return error(errc::malformed, "PKCS#7 content is not SpcIndirectDataContent", payload_at);
  }
  std::array<unsigned char, 32> oid_buf{};
  int oid_len = i2d_ASN1_OBJECT(contents->type, nullptr);
  if (oid_len <= 0 || static_cast<std::size_t>(oid_len) > oid_buf.size())
    return error(errc::malformed, "PKCS#7 content type is not SpcIndirectDataContent", payload_at);
  unsigned char* op = oid_buf.data();
  i2d_ASN1_OBJECT(contents->type, &op);
  byte_span oid_der(reinterpret_cast<const std::byte*>(oid_buf.data()),
                    static_cast<std::size_t>(oid_len));
  cursor oc(oid_der);
  UKIKIT_TRY_ASSIGN(der::tlv type_oid, der::expect(oc, der::tag_oid, "content type"));
  if (!oid::equals(type_oid.content, oid::spc_indirect_data))
    return error(errc::malformed,
                 "PKCS#7 content type " + der::oid_string(type_oid.content) +
                     " is not SpcIndirectDataContent",
                 payload_at);

  const ASN1_STRING* seq = contents->d.other->value.sequence;
  byte_span seq_der(reinterpret_cast<const std::byte*>(ASN1_STRING_get0_data(seq)),
                    static_cast<std::size_t>(ASN1_STRING_length(seq)));
  s.indirect_der.assign(seq_der.begin(), seq_der.end());
  UKIKIT_TRY_ASSIGN(s.indirect, parse_indirect_data(s.indirect_der));

  STACK_OF(PKCS7_SIGNER_INFO)* infos = PKCS7_get_signer_info(p7);
  if (!infos || sk_PKCS7_SIGNER_INFO_num(infos) != 1)
    return error(errc::malformed,
                 "PKCS#7 has " + std::to_string(infos ? sk_PKCS7_SIGNER_INFO_num(infos) : 0) +
                     " signer infos; Authenticode needs exactly 1",
                 payload_at);
  PKCS7_SIGNER_INFO* si = sk_PKCS7_SIGNER_INFO_value(infos, 0);
  crypto::detail::deleter<ASN1_OBJECT_free> free_obj;
  ASN1_OBJECT* nested =
      OBJ_txt2obj(der::oid_string(oid::bytes(oid::spc_nested_signature)).c_str(), 1);
  if (nested) {
    int idx = X509at_get_attr_by_OBJ(si->unauth_attr, nested, -1);
    if (idx >= 0)
      s.nested_signatures =
          static_cast<unsigned>(X509_ATTRIBUTE_count(X509at_get_attr(si->unauth_attr, idx)));
    free_obj(nested);
  }
  s.has_signing_time = PKCS7_get_signed_attribute(si, NID_pkcs9_signingTime) != nullptr;

  STACK_OF(X509)* signers = PKCS7_get0_signers(p7, nullptr, 0);
  if (signers && sk_X509_num(signers) > 0) {
    s.subject = crypto::subject(sk_X509_value(signers, 0));
    s.issuer = crypto::issuer(sk_X509_value(signers, 0));
  }
  sk_X509_free(signers);
  ERR_clear_error();
  return s;
}

// messageDigest over `content` and the signer's signature over the signed
// attributes (not the chain). OpenSSL 3.0's PKCS7_verify leaks its private
// copy of a memory BIO when it fails early, so it gets a null filter over
// the memory BIO instead, which it does not copy.
inline result<void> verify_content(PKCS7* p7, byte_span content) {
  UKIKIT_TRY_ASSIGN(crypto::bio_ptr mem, crypto::memory_bio(content));
  crypto::bio_chain_ptr chain(BIO_new(BIO_f_null()));
  if (!chain) return crypto::openssl_error("cannot create BIO");
  BIO_push(chain.get(), mem.release());
  if (PKCS7_verify(p7, nullptr, nullptr, chain.get(), nullptr, PKCS7_BINARY | PKCS7_NOVERIFY) != 1)
    return crypto::openssl_error("signature does not verify", errc::checksum_mismatch);
  return {};
}

} // namespace ukikit::authenticode
