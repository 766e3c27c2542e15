// Writing signed images (the certificate table replaced, CheckSum recomputed)
// and Authenticode signing that gives identical bytes when repeated (RSA keys).
// Included by ukikit/authenticode.hpp; include that instead.
//
// Rules: reference/uki-signing-pcr.md §4 (sbsigntools, go-uefi).
#pragma once

#include "../bytes.hpp"
#include "../crypto.hpp"
#include "../der.hpp"
#include "../hash.hpp"
#include "../pe.hpp"
#include "../result.hpp"
#include "pkcs7.hpp"
#include "ranges.hpp"
#include "table.hpp"

#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

namespace ukikit::authenticode {

// ---- writing signed images ------------------------------------------------------

// An image to write, as three pieces: the headers (a patched copy), the
// unchanged body (a span of the input), and the tail (padding and the
// certificate table). Nothing large is copied.
struct image_pieces {
  std::vector<std::byte> headers;
  byte_span body;
  std::vector<std::byte> tail;

  std::array<byte_span, 3> pieces() const { return {headers, body, tail}; }
  std::uint64_t size() const noexcept { return headers.size() + body.size() + tail.size(); }
};

// Where the image data ends: at the certificate table, which must be the
// last thing in the file, or at the end of the file.
inline result<std::uint64_t> end_of_image_data(const pe::image& img) {
  if (!img.has_certificate_table()) return img.file.size();
  if (std::uint64_t{img.certificate_table_offset} + img.certificate_table_size != img.file.size())
    return error(errc::malformed,
                 "certificate table is not at the end of the file; refusing to rewrite it",
                 img.certificate_table_offset);
  return img.certificate_table_offset;
}

// The image with its certificate table replaced by `entries` (PKCS#7 DER
// each; none removes the table). The data is zero-padded to 8 bytes first,
// as signers do; existing padding stays. The CheckSum is recomputed.
inline result<image_pieces> with_certificates(const pe::image& img,
                                              const std::vector<byte_span>& entries) {
  if (!img.has_security_directory_entry())
    return error(errc::unsupported, "image has no certificate table entry (NumberOfRvaAndSizes " +
                                        std::to_string(img.number_of_rva_and_sizes) + " < 5)");
  UKIKIT_TRY_ASSIGN(std::uint64_t data_end, end_of_image_data(img));
  const std::uint64_t header_end = std::min<std::uint64_t>(img.size_of_headers, data_end);
  const std::uint64_t fields_end =
      std::max(img.security_directory_offset() + sizeof(pe::data_directory),
               img.checksum_offset() + sizeof(le32));
  if (fields_end > header_end)
    return error(errc::malformed, "headers are too short to hold the certificate table entry (" +
                                      hex(fields_end) + " > " + hex(header_end) + ")");
  image_pieces out;
  out.headers.assign(img.file.begin(), img.file.begin() + static_cast<std::ptrdiff_t>(header_end));
  out.body = img.file.subspan(static_cast<std::size_t>(header_end),
                              static_cast<std::size_t>(data_end - header_end));
  // The data end is inside the file, so rounding it up cannot wrap.
  const auto aligned_end = checked_align_up<std::uint64_t>(data_end, entry_alignment);
  if (!aligned_end)
    return error(errc::limit_exceeded, "image data end " + hex(data_end) +
                                           " cannot be aligned to " +
                                           std::to_string(entry_alignment) + " bytes");
  out.tail.resize(static_cast<std::size_t>(*aligned_end - data_end));
  const std::uint64_t table_offset = data_end + out.tail.size();
  for (byte_span der : entries) {
    const std::uint64_t length = sizeof(pe::win_certificate) + der.size();
    if (length > UINT32_MAX)
      return error(errc::limit_exceeded, "signature too large for a certificate entry (" +
                                             hex(length) + " > " + hex(UINT32_MAX) + ")");
    pe::win_certificate h{};
    h.length = static_cast<std::uint32_t>(length);
    h.revision = pe::win_cert_revision_2_0;
    h.certificate_type = pe::win_cert_type_pkcs_signed_data;
    auto hb = bytes_of(h);
    out.tail.insert(out.tail.end(), hb.begin(), hb.end());
    out.tail.insert(out.tail.end(), der.begin(), der.end());
    out.tail.resize(out.tail.size() +
                    static_cast<std::size_t>(padded_entry_length(h.length.value()) - length));
  }
  const std::uint64_t table_size = out.tail.size() - (table_offset - data_end);
  if (table_offset > UINT32_MAX || table_size > UINT32_MAX)
    return error(errc::limit_exceeded, "certificate table would lie beyond 4 GiB (" +
                                           hex(table_offset) + " + " + hex(table_size) + " > " +
                                           hex(UINT32_MAX) + ")");
  pe::data_directory dir{};
  if (!entries.empty()) {
    dir.virtual_address = static_cast<std::uint32_t>(table_offset);
    dir.size = static_cast<std::uint32_t>(table_size);
  } else {
    out.tail.clear(); // unsigned: no table, no padding beyond the data
  }
  auto db = bytes_of(dir);
  std::copy(db.begin(), db.end(),
            out.headers.begin() + static_cast<std::ptrdiff_t>(img.security_directory_offset()));
  le32 zero{};
  auto zb = bytes_of(zero);
  std::copy(zb.begin(), zb.end(),
            out.headers.begin() + static_cast<std::ptrdiff_t>(img.checksum_offset()));
  le32 sum{};
  sum = pe::compute_checksum(out.pieces(), img.checksum_offset());
  auto sb = bytes_of(sum);
  std::copy(sb.begin(), sb.end(),
            out.headers.begin() + static_cast<std::ptrdiff_t>(img.checksum_offset()));
  return out;
}

// ---- signing -------------------------------------------------------------------

struct sign_options {
  hash::algorithm digest = hash::algorithm::sha256;
  // signingTime makes every signature different; off unless asked for.
  std::optional<std::int64_t> signing_time; // seconds since the epoch
};

namespace detail {

inline der::bytes algorithm_identifier(hash::algorithm a) {
  return der::sequence({der::oid(oid::of(a)), der::null()});
}

inline result<der::bytes> utc_time(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  if (!gmtime_r(&tt, &tm) || tm.tm_year < 50 || tm.tm_year >= 150)
    return error(errc::invalid_argument, "signing time must lie between 1950 and 2049 (UTCTime)");
  char buf[64];
  std::snprintf(buf, sizeof buf, "%02d%02d%02d%02d%02d%02dZ", tm.tm_year % 100, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return der::encode(der::tag_utc_time, as_bytes(std::string_view(buf, 13)));
}

// The signer's key decides the signature algorithm field.
inline result<der::bytes> signature_algorithm(EVP_PKEY* key, hash::algorithm a) {
  switch (EVP_PKEY_get_base_id(key)) {
  case EVP_PKEY_RSA: return der::sequence({der::oid(oid::bytes(oid::rsa_encryption)), der::null()});
  case EVP_PKEY_EC:
    switch (a) {
    case hash::algorithm::sha256:
      return der::sequence({der::oid(oid::bytes(oid::ecdsa_with_sha256))});
    case hash::algorithm::sha384:
      return der::sequence({der::oid(oid::bytes(oid::ecdsa_with_sha384))});
    case hash::algorithm::sha512:
      return der::sequence({der::oid(oid::bytes(oid::ecdsa_with_sha512))});
    default: break;
    }
    return error(errc::unsupported, "ECDSA signing needs sha256, sha384 or sha512");
  default: break;
  }
  return error(errc::unsupported, "signing key must be RSA or ECDSA");
}

} // namespace detail

// RSA 2048–4096 bits, ECDSA P-256 or P-384: what firmware and shim accept.
inline result<void> check_signing_key(EVP_PKEY* key) {
  const int bits = EVP_PKEY_get_bits(key);
  switch (EVP_PKEY_get_base_id(key)) {
  case EVP_PKEY_RSA:
    if (bits < 2048 || bits > 4096)
      return error(errc::unsupported,
                   "RSA key has " + std::to_string(bits) + " bits; use 2048 to 4096");
    return {};
  case EVP_PKEY_EC: {
    char group[64] = {};
    std::size_t len = 0;
    EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &len);
    std::string g(group);
    if (g != "prime256v1" && g != "secp384r1")
      return error(errc::unsupported,
                   "EC key on curve " + g + "; use P-256 (prime256v1) or P-384 (secp384r1)");
    return {};
  }
  default: break;
  }
  return error(errc::unsupported, "signing key must be RSA or ECDSA");
}

// SpcIndirectDataContent for a PE image digest, as sbsign and signtool
// write it: SpcPeImageData with no flags and the "<<<Obsolete>>>" link.
inline der::bytes make_indirect_data(const hash::digest& d) {
  static constexpr std::array<std::uint8_t, 3> no_flags{der::tag_bit_string, 0x01, 0x00};
  der::bytes obsolete; // BMPString "<<<Obsolete>>>" as [0] IMPLICIT
  for (char ch : std::string_view("<<<Obsolete>>>")) {
    obsolete.push_back(std::byte{0});
    obsolete.push_back(static_cast<std::byte>(ch));
  }
  der::bytes link = der::encode(
      der::context(0), der::encode(der::context(2), der::encode(der::context(0, false), obsolete)));
  der::bytes pe_image_data = der::sequence({oid::bytes(no_flags), link});
  der::bytes data = der::sequence({der::oid(oid::bytes(oid::spc_pe_image_data)), pe_image_data});
  der::bytes digest_info =
      der::sequence({detail::algorithm_identifier(d.alg()), der::octet_string(d.bytes())});
  return der::sequence({data, digest_info});
}

// The authenticated attributes, DER-sorted. Their encoding as a SET (tag
// 0x31) is what the signer signs; in the SignerInfo they carry tag [0].
inline result<std::vector<der::bytes>> signed_attributes(byte_span indirect_der,
                                                         const sign_options& opt) {
  cursor c(indirect_der);
  UKIKIT_TRY_ASSIGN(der::tlv top, der::expect(c, der::tag_sequence, "SpcIndirectDataContent"));
  UKIKIT_TRY_ASSIGN(hash::digest md, hash::compute(opt.digest, top.content));
  std::vector<der::bytes> attrs;
  attrs.push_back(
      der::sequence({der::oid(oid::bytes(oid::content_type)),
                     der::set_of(der::tag_set, {der::oid(oid::bytes(oid::spc_indirect_data))})}));
  attrs.push_back(der::sequence({der::oid(oid::bytes(oid::message_digest)),
                                 der::set_of(der::tag_set, {der::octet_string(md.bytes())})}));
  attrs.push_back(der::sequence({der::oid(oid::bytes(oid::spc_sp_opus_info)),
                                 der::set_of(der::tag_set, {der::sequence({})})}));
  if (opt.signing_time) {
    UKIKIT_TRY_ASSIGN(der::bytes t, detail::utc_time(*opt.signing_time));
    attrs.push_back(
        der::sequence({der::oid(oid::bytes(oid::signing_time)), der::set_of(der::tag_set, {t})}));
  }
  std::sort(attrs.begin(), attrs.end(), der::encoding_less);
  return attrs;
}

// The bytes a signer signs (an HSM signs their digest with opt.digest).
inline der::bytes to_be_signed(const std::vector<der::bytes>& attrs) {
  return der::set_of(der::tag_set, attrs);
}

// Assemble PKCS#7 SignedData from a signature made over to_be_signed().
inline result<der::bytes> assemble(byte_span indirect_der, const std::vector<der::bytes>& attrs,
                                   X509* cert, byte_span raw_signature, const sign_options& opt) {
  EVP_PKEY* pub = X509_get0_pubkey(cert);
  if (!pub) return crypto::openssl_error("certificate has no usable public key");
  UKIKIT_TRY_ASSIGN(der::bytes sig_alg, detail::signature_algorithm(pub, opt.digest));
  UKIKIT_TRY_ASSIGN(der::bytes cert_der, crypto::to_der(cert));

  // issuerAndSerialNumber: the issuer Name and serial as the certificate has them.
  int issuer_len = i2d_X509_NAME(X509_get_issuer_name(cert), nullptr);
  int serial_len = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), nullptr);
  if (issuer_len <= 0 || serial_len <= 0)
    return crypto::openssl_error("cannot encode the certificate issuer");
  der::bytes issuer(static_cast<std::size_t>(issuer_len)),
      serial(static_cast<std::size_t>(serial_len));
  auto* ip = reinterpret_cast<unsigned char*>(issuer.data());
  auto* sp = reinterpret_cast<unsigned char*>(serial.data());
  i2d_X509_NAME(X509_get_issuer_name(cert), &ip);
  i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &sp);

  der::bytes attrs_content;
  for (const auto& a : attrs) der::append(attrs_content, a);
  der::bytes signer_info = der::sequence({der::small_integer(1), der::sequence({issuer, serial}),
                                          detail::algorithm_identifier(opt.digest),
                                          der::encode(der::context(0), attrs_content), sig_alg,
                                          der::octet_string(raw_signature)});
  der::bytes content_info = der::sequence(
      {der::oid(oid::bytes(oid::spc_indirect_data)), der::encode(der::context(0), indirect_der)});
  der::bytes signed_data = der::sequence(
      {der::small_integer(1), der::set_of(der::tag_set, {detail::algorithm_identifier(opt.digest)}),
       content_info, der::encode(der::context(0), cert_der),
       der::set_of(der::tag_set, {signer_info})});
  return der::sequence(
      {der::oid(oid::bytes(oid::signed_data)), der::encode(der::context(0), signed_data)});
}

// Sign bytes with a private key: RSA PKCS#1 v1.5 or ECDSA (DER).
inline result<der::bytes> raw_sign(EVP_PKEY* key, hash::algorithm a, byte_span tbs) {
  crypto::md_ctx_ptr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, hash::detail::evp(a), nullptr, key) != 1)
    return crypto::openssl_error("cannot start signing");
  std::size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(tbs.data()),
                     tbs.size()) != 1)
    return crypto::openssl_error("signing failed");
  der::bytes sig(len);
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(tbs.data()), tbs.size()) != 1)
    return crypto::openssl_error("signing failed");
  sig.resize(len);
  return sig;
}

// Make the PKCS#7 signature of an image. RSA signatures are identical every
// time; ECDSA ones differ (OpenSSL 3.0 has no deterministic ECDSA).
inline result<der::bytes> sign(const pe::image& img, EVP_PKEY* key, X509* cert,
                               const sign_options& opt = {}) {
  UKIKIT_TRY(check_signing_key(key));
  if (X509_check_private_key(cert, key) != 1) {
    ERR_clear_error();
    return error(errc::invalid_argument, "private key does not belong to the certificate");
  }
  if (opt.digest == hash::algorithm::sha1)
    return error(errc::unsupported, "refusing to sign with sha1");
  UKIKIT_TRY_ASSIGN(hash::digest d, image_digest(img, opt.digest));
  der::bytes indirect = make_indirect_data(d);
  UKIKIT_TRY_ASSIGN(auto attrs, signed_attributes(indirect, opt));
  UKIKIT_TRY_ASSIGN(der::bytes sig, raw_sign(key, opt.digest, to_be_signed(attrs)));
  return assemble(indirect, attrs, cert, sig, opt);
}

// Check a PKCS#7 signature on its own: messageDigest over the content and
// the signer's signature (not the chain, not the image).
inline result<void> check_signature(byte_span der) {
  pe::certificate_entry e;
  e.type = pe::win_cert_type_pkcs_signed_data;
  e.payload = der;
  UKIKIT_TRY_ASSIGN(signature s, parse_signature(e));
  return verify_content(s.pkcs7.get(), s.indirect.content_octets);
}

// Check a detached signature (PKCS#7 DER, as `sbsign --detached` and
// `osslsigncode extract-signature` write it) before attaching it to an
// image: it must parse, and the digest it signs must be this image's
// (errc::checksum_mismatch, with both, when it is another image's).
inline result<void> check_detached_signature(const pe::image& img, byte_span der) {
  pe::certificate_entry probe;
  probe.type = pe::win_cert_type_pkcs_signed_data;
  probe.payload = der;
  UKIKIT_TRY_ASSIGN(signature parsed, parse_signature(probe));
  if (!parsed.indirect.algorithm)
    return error(errc::unsupported, "signature uses digest " + parsed.indirect.digest_oid);
  UKIKIT_TRY_ASSIGN(hash::digest d, image_digest(img, *parsed.indirect.algorithm));
  if (to_hex(parsed.indirect.digest) != d.hex())
    return error(errc::checksum_mismatch,
                 "signature is for another image: signed=" + to_hex(parsed.indirect.digest) +
                     ", computed=" + d.hex());
  return {};
}

// The payloads of an image's current signatures, for keeping some of them.
inline std::vector<byte_span> existing_signatures(const pe::image& img) {
  std::vector<byte_span> out;
  for (const auto& e : walk_certificate_table(img).entries) out.push_back(e.payload);
  return out;
}

} // namespace ukikit::authenticode
