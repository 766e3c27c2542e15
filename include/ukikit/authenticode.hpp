// Authenticode for PE images: the image digest as a list of byte ranges,
// the certificate table walked as EDK2 walks it, PKCS#7 SignedData parsed
// and verified as firmware does (no time check, chain to any trust anchor),
// and signing that gives identical bytes when repeated (RSA keys).
//
// Rules: reference/uki-signing-pcr.md §4 (Microsoft Authenticode PE spec,
// EDK2 DxeImageVerificationLib, sbsigntools, go-uefi).
#pragma once

#include "bytes.hpp"
#include "crypto.hpp"
#include "der.hpp"
#include "diagnostics.hpp"
#include "hash.hpp"
#include "pe.hpp"
#include "result.hpp"

#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ukikit::authenticode {

// ---- the image digest ------------------------------------------------------------

// Bytes that no hashed range covers and that are not zero: a signed image can
// carry them unnoticed (sbsign: "gap in section table").
struct unhashed_gap {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  bool nonzero = false;
};

struct hashed_ranges {
  std::vector<byte_span> ranges; // in hashing order
  std::size_t zero_padding = 0;  // zero bytes hashed after the ranges
  std::vector<unhashed_gap> gaps;
};

namespace detail {
inline bool all_zero(byte_span b) {
  return std::all_of(b.begin(), b.end(), [](std::byte x) { return x == std::byte{0}; });
}
} // namespace detail

// The Authenticode byte ranges of an image, numbered after the steps of the
// specification. Fails when a range the digest needs lies outside the file.
inline result<hashed_ranges> compute_ranges(const pe::image& img) {
  hashed_ranges out;
  const byte_span file = img.file;
  const std::uint64_t size_of_headers = img.size_of_headers;
  if (size_of_headers > file.size())
    return error(errc::out_of_range,
                 "SizeOfHeaders " + hex(size_of_headers) + " is past end of file (" +
                     hex(file.size()) + ")",
                 img.optional_header_offset + pe::opt_size_of_headers_offset);
  const std::uint64_t checksum = img.checksum_offset();
  if (checksum + 4 > size_of_headers)
    return error(errc::out_of_range, "CheckSum field lies past SizeOfHeaders", checksum);

  // 1. From the start of the file to the CheckSum field.
  out.ranges.push_back(file.first(static_cast<std::size_t>(checksum)));
  if (img.has_security_directory_entry()) {
    const std::uint64_t secdir = img.security_directory_offset();
    if (secdir + sizeof(pe::data_directory) > size_of_headers)
      return error(errc::out_of_range, "certificate table entry lies past SizeOfHeaders", secdir);
    // 2. From after CheckSum to the certificate table entry.
    out.ranges.push_back(file.subspan(static_cast<std::size_t>(checksum + 4),
                                      static_cast<std::size_t>(secdir - checksum - 4)));
    // 3. From after the entry to the end of the headers.
    const std::uint64_t after = secdir + sizeof(pe::data_directory);
    out.ranges.push_back(file.subspan(static_cast<std::size_t>(after),
                                      static_cast<std::size_t>(size_of_headers - after)));
  } else {
    // No certificate table entry (NumberOfRvaAndSizes <= 4): EDK2 hashes
    // the rest of the headers in one piece.
    out.ranges.push_back(file.subspan(static_cast<std::size_t>(checksum + 4),
                                      static_cast<std::size_t>(size_of_headers - checksum - 4)));
  }
  std::uint64_t sum = size_of_headers;

  // 4. Sections sorted by PointerToRawData, empty ones skipped; gaps between
  //    them are not hashed.
  std::vector<const pe::section*> sorted;
  for (const auto& s : img.sections)
    if (s.size_of_raw_data != 0) sorted.push_back(&s);
  std::stable_sort(sorted.begin(), sorted.end(), [](const pe::section* a, const pe::section* b) {
    return a->pointer_to_raw_data < b->pointer_to_raw_data;
  });
  std::uint64_t covered = size_of_headers; // end of the hashed prefix, for gap detection
  for (const pe::section* s : sorted) {
    UKIKIT_TRY_ASSIGN(byte_span raw, subview(file, s->pointer_to_raw_data, s->size_of_raw_data,
                                             "section " + s->name + " raw data"));
    if (s->pointer_to_raw_data > covered) {
      byte_span gap = file.subspan(static_cast<std::size_t>(covered),
                                   static_cast<std::size_t>(s->pointer_to_raw_data - covered));
      out.gaps.push_back({covered, gap.size(), !detail::all_zero(gap)});
    }
    covered = std::max(covered, s->raw_end());
    out.ranges.push_back(raw);
    sum += s->size_of_raw_data;
  }

  // 5. Data after SUM up to the certificate table, from SUM (not from the
  //    end of the last section: the specification's quirk everyone copies),
  //    then zeros up to a multiple of 8, as signers pad before appending.
  const std::uint64_t cert_size = img.directories.size() > pe::dir_security
                                      ? img.directories[pe::dir_security].size.value()
                                      : 0;
  const std::uint64_t end = file.size() >= cert_size ? file.size() - cert_size : 0;
  if (end > sum) {
    out.ranges.push_back(
        file.subspan(static_cast<std::size_t>(sum), static_cast<std::size_t>(end - sum)));
    if (end % 8 != 0) out.zero_padding = static_cast<std::size_t>(8 - end % 8);
  }
  if (end > covered && sum > covered) {
    // Bytes between the last section and SUM's range start are never hashed.
    byte_span gap = file.subspan(static_cast<std::size_t>(covered),
                                 static_cast<std::size_t>(std::min(end, sum) - covered));
    if (!gap.empty()) out.gaps.push_back({covered, gap.size(), !detail::all_zero(gap)});
  }
  return out;
}

// The image digest with one algorithm.
// Told about each piece of the input once it has been hashed, so a caller
// that mapped the file can release the pages (mapped_file::release).
using consumed_fn = std::function<void(byte_span)>;

// Pieces handed to the hasher at a time, and to consumed_fn after it.
inline constexpr std::size_t digest_piece = std::size_t{8} << 20;

inline result<hash::digest> image_digest(const hashed_ranges& r, hash::algorithm a,
                                         const consumed_fn& consumed = nullptr) {
  static constexpr std::array<std::byte, 8> zeros{};
  UKIKIT_TRY_ASSIGN(hash::hasher h, hash::hasher::create(a));
  for (byte_span range : r.ranges) {
    for (std::size_t off = 0; off < range.size(); off += digest_piece) {
      byte_span piece = range.subspan(off, std::min(digest_piece, range.size() - off));
      h.update(piece);
      if (consumed) consumed(piece);
    }
  }
  h.update(byte_span(zeros).first(r.zero_padding));
  return h.finish();
}

inline result<hash::digest> image_digest(const pe::image& img, hash::algorithm a) {
  UKIKIT_TRY_ASSIGN(auto r, compute_ranges(img));
  return image_digest(r, a);
}

// ---- the certificate table --------------------------------------------------------

// Finding codes of Authenticode checks (README, "Finding codes").
namespace code {
inline constexpr std::string_view pe_invalid = "pe.invalid";
inline constexpr std::string_view digest_unavailable = "authenticode.digest-unavailable";
inline constexpr std::string_view unhashed_data = "authenticode.unhashed-data";
inline constexpr std::string_view not_signed = "authenticode.not-signed";
inline constexpr std::string_view table_corrupt = "authenticode.table-corrupt";
inline constexpr std::string_view entry_revision = "authenticode.entry-revision";
inline constexpr std::string_view entry_type = "authenticode.entry-type";
inline constexpr std::string_view entry_not_signature = "authenticode.entry-not-signature";
inline constexpr std::string_view trailing_data = "authenticode.trailing-data";
inline constexpr std::string_view nonzero_padding = "authenticode.nonzero-padding";
inline constexpr std::string_view signature_invalid = "authenticode.signature-invalid";
inline constexpr std::string_view dbx_certificate = "authenticode.dbx-certificate";
inline constexpr std::string_view dbx_certificate_hash = "authenticode.dbx-certificate-hash";
inline constexpr std::string_view dbx_no_signer = "authenticode.dbx-no-signer";
inline constexpr std::string_view dbx_image_digest = "authenticode.dbx-image-digest";
inline constexpr std::string_view db_anchor_revoked = "authenticode.db-anchor-revoked";
} // namespace code

struct table_walk {
  std::vector<pe::certificate_entry> entries;
  std::vector<finding> findings; // why the walk stopped early (errors), odd entries
};

// Entries start 8-byte aligned: dwLength rounded up (EDK2's ALIGN_SIZE).
inline std::uint64_t padded_entry_length(std::uint32_t length) noexcept {
  return (std::uint64_t{length} + 7) & ~std::uint64_t{7};
}

// Walk the WIN_CERTIFICATE entries as EDK2's DxeImageVerificationHandler
// does: each entry starts 8-byte aligned after the previous one; the walk
// stops when 8 or fewer bytes are left, when dwLength passes the table, or
// when the padding after an entry would. EDK2 then refuses the image unless
// the walk ended exactly at the end of the table (`OffSet != SecDataDirEnd`
// sets IsVerified = FALSE), so every early stop is an error finding.
inline table_walk walk_certificate_table(const pe::image& img) {
  table_walk w;
  if (!img.has_certificate_table()) return w;
  auto stop = [&](std::string msg, std::uint64_t at, std::uint64_t length) {
    w.findings.push_back({severity::error, code::table_corrupt,
                          std::move(msg) + ": firmware refuses the image", at, length});
  };
  const std::uint64_t begin = img.certificate_table_offset;
  const std::uint64_t end = begin + img.certificate_table_size;
  std::uint64_t offset = begin;
  cursor table(img.file);
  while (offset < end) {
    const std::uint64_t left = end - offset;
    if (left <= sizeof(pe::win_certificate)) {
      stop(std::to_string(left) + " stray bytes at the end of the certificate table", offset, left);
      break;
    }
    // The table lies inside the file (pe::parse checked), so these reads succeed.
    if (!table.seek(offset)) break;
    auto hdr = table.read<pe::win_certificate>("WIN_CERTIFICATE");
    if (!hdr) break;
    const std::uint32_t length = hdr->length.value();
    if (length <= sizeof(pe::win_certificate)) {
      stop("certificate entry has dwLength " + std::to_string(length) + " (no signature data)",
           offset, left);
      break;
    }
    if (length > left) {
      stop("certificate entry dwLength " + hex(length) + " passes the end of the table (" +
               hex(left) + " bytes left)",
           offset, left);
      break;
    }
    const std::uint64_t padded = padded_entry_length(length);
    if (padded > left) {
      stop("certificate entry padding passes the end of the table", offset, left);
      break;
    }
    pe::certificate_entry e;
    e.offset = offset;
    e.length = length;
    e.revision = hdr->revision.value();
    e.type = hdr->certificate_type.value();
    e.payload = img.file.subspan(static_cast<std::size_t>(offset + sizeof(pe::win_certificate)),
                                 length - sizeof(pe::win_certificate));
    if (e.revision != pe::win_cert_revision_2_0)
      w.findings.push_back({severity::warning, code::entry_revision,
                            "certificate entry revision " + hex(e.revision) + " is not 0x200",
                            offset});
    w.entries.push_back(e);
    offset += padded;
  }
  return w;
}

// The alignment padding after an entry: the bytes from dwLength up to the
// next multiple of 8 (the walk checked that they lie inside the table).
inline byte_span entry_padding(const pe::image& img, const pe::certificate_entry& e) {
  const std::uint64_t from = e.offset + e.length;
  return img.file.subspan(static_cast<std::size_t>(from),
                          static_cast<std::size_t>(padded_entry_length(e.length) - e.length));
}

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
  unsigned nested_signatures = 0; // unauthenticated 1.3.6.1.4.1.311.2.4.1 values
  bool has_signing_time = false;
  std::size_t der_size = 0; // bytes of the payload the PKCS#7 DER takes; the rest is trailing
};

inline result<signature> parse_signature(const pe::certificate_entry& entry) {
  const std::uint64_t at = entry.offset;
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
                 "certificate entry holds no valid PKCS#7 (truncated or corrupt DER)", at + 8);
  }
  // d2i advanced p past the DER it used; OpenSSL ignores what follows.
  s.der_size =
      static_cast<std::size_t>(p - reinterpret_cast<const unsigned char*>(entry.payload.data()));
  PKCS7* p7 = s.pkcs7.get();
  if (!PKCS7_type_is_signed(p7) || !p7->d.sign || !p7->d.sign->contents)
    return error(errc::malformed, "PKCS#7 is not SignedData", at + 8);
  PKCS7* contents = p7->d.sign->contents;
  if (OBJ_obj2nid(contents->type) != NID_undef || !contents->d.other ||
      contents->d.other->type != V_ASN1_SEQUENCE) {
    // SpcIndirectDataContent has no OpenSSL NID; anything with one is not it.
    return error(errc::malformed, "PKCS#7 content is not SpcIndirectDataContent", at + 8);
  }
  std::array<unsigned char, 32> oid_buf{};
  int oid_len = i2d_ASN1_OBJECT(contents->type, nullptr);
  if (oid_len <= 0 || static_cast<std::size_t>(oid_len) > oid_buf.size())
    return error(errc::malformed, "PKCS#7 content type is not SpcIndirectDataContent", at + 8);
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
                 at + 8);

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
                 at + 8);
  PKCS7_SIGNER_INFO* si = sk_PKCS7_SIGNER_INFO_value(infos, 0);
  crypto::detail::deleter<ASN1_OBJECT_free> free_obj;
  ASN1_OBJECT* nested = OBJ_txt2obj("1.3.6.1.4.1.311.2.4.1", 1);
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
                   "EFI_SIGNATURE_LIST size " + hex(list_size) + " is smaller than its header",
                   list_offset);
    UKIKIT_TRY_ASSIGN(cursor body, c.sub(list_size - sizeof(h), "EFI_SIGNATURE_LIST"));
    UKIKIT_TRY(body.skip(header_size, "EFI_SIGNATURE_LIST header data"));
    if (entry_size <= 16)
      return error(errc::malformed,
                   "EFI_SIGNATURE_LIST SignatureSize " + hex(entry_size) + " is too small",
                   list_offset);
    if (body.remaining() % entry_size != 0)
      return error(errc::malformed, "EFI_SIGNATURE_LIST entries do not fill the list evenly",
                   list_offset);
    const auto image_alg = detail::image_digest_type(h.signature_type);
    const auto cert_alg = detail::certificate_hash_type(h.signature_type);
    while (!body.at_end()) {
      UKIKIT_TRY(body.skip(16, "signature owner GUID"));
      const std::uint64_t at = body.offset();
      UKIKIT_TRY_ASSIGN(byte_span payload, body.bytes(entry_size - 16, "signature data"));
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

// ---- verification ------------------------------------------------------------------
//
// The decision follows EDK2's DxeImageVerificationHandler
// (SecurityPkg/Library/DxeImageVerificationLib/DxeImageVerificationLib.c),
// which walks every certificate table entry in order and, for each entry it
// can hash by (a PKCS#7 whose DigestInfo names sha1/256/384/512):
//   1. IsForbiddenByDbx: the image is refused outright (whatever the other
//      entries say) when
//      a. an EFI_CERT_X509 certificate in dbx verifies the signature as a
//         trust anchor (AuthenticodeVerify with that certificate as root:
//         the chain may end at the signer or at any issuer, the signature
//         must verify and the signed digest must be the image's), or
//      b. the signature has no signer certificate (Pkcs7GetSigners fails), or
//      c. the hash of the signer's TBSCertificate is in an
//         EFI_CERT_X509_SHA256/384/512 list and no dbt timestamp clears it
//         (ukikit has no dbt: a listed hash always refuses; so does EDK2
//         when the revocation time is zero or dbt is absent);
//   2. IsAllowedByDb (only until one entry passed): the first db certificate
//      that verifies the signature as a trust anchor allows the image, unless
//      that db certificate's own TBSCertificate hash is in dbx;
//   3. the image digest in this entry's algorithm listed in dbx
//      (EFI_CERT_SHA1/256/384/512) refuses the image;
//   4. the same digest listed in db allows it.
// Entries of another wCertificateType, and entries that do not parse, are
// skipped. The walk must end exactly at the end of the table.
//
// ukiverify is stricter than the firmware where unsigned bytes could ride
// along: in strict mode every byte of the certificate table must belong to a
// verifiable signature (or be zero padding), and an image passes only through
// a signature that chains to a given certificate (not through a db digest).

struct verify_options {
  // sha1 image digests are weak; firmware may still accept them.
  bool allow_sha1 = false;
  // Strict (the gate): unsigned data in the certificate table and unhashed
  // data are errors. Permissive (inspect): they are warnings.
  bool strict = true;
  // Told about each hashed piece of the file (see image_digest).
  consumed_fn consumed;
};

struct signature_result {
  std::uint64_t entry_offset = 0;
  std::string subject, issuer;
  std::string digest_algorithm; // name or dotted OID
  std::string claimed;          // hex of the digest in the signature
  std::string computed;         // hex of the image digest we computed
  bool digest_matches = false;
  bool signature_valid = false; // messageDigest and signer signature
  bool trusted = false;         // chains to a trust anchor
  bool revoked = false;         // dbx refuses it (and with it the image)
  bool refused = false;         // policy refuses it (sha1, unknown algorithm)
  unsigned nested_signatures = 0;
  std::vector<std::string> problems; // why it does not pass
  std::vector<std::string> notes;    // worth knowing, not a failure

  bool passed() const noexcept {
    return digest_matches && signature_valid && trusted && !revoked && !refused;
  }
};

struct verify_report {
  std::optional<hash::digest> sha256; // the image digest, when computable
  std::vector<signature_result> signatures;
  std::vector<finding> findings; // about the image and its certificate table

  bool any_signature_passed() const noexcept {
    return std::any_of(signatures.begin(), signatures.end(),
                       [](const signature_result& s) { return s.passed(); });
  }
  bool passed() const noexcept { return !has_errors(findings) && any_signature_passed(); }

  // Why the image does not pass: the error findings, then, when no signature
  // passed, each signature's problems. Empty when it passes.
  std::vector<std::string> reasons() const {
    std::vector<std::string> out;
    for (const auto& f : findings)
      if (f.is_error()) out.push_back(f.text());
    if (!any_signature_passed()) {
      for (const auto& s : signatures)
        for (const auto& p : s.problems) out.push_back(p);
      if (out.empty()) out.push_back("no signature passed");
    }
    return out;
  }
};

namespace detail {

inline bool listed(const std::vector<hash::digest>& digests, const hash::digest& d) {
  return std::find(digests.begin(), digests.end(), d) != digests.end();
}

// The TBSCertificate of a certificate, as encoded in it (EDK2 X509GetTBSCert).
inline result<std::vector<std::byte>> tbs_certificate(X509* cert) {
  UKIKIT_TRY_ASSIGN(der::bytes whole, crypto::to_der(cert));
  cursor c(whole);
  UKIKIT_TRY_ASSIGN(der::tlv top, der::expect(c, der::tag_sequence, "Certificate"));
  cursor body = der::inside(top);
  UKIKIT_TRY_ASSIGN(der::tlv tbs, der::expect(body, der::tag_sequence, "TBSCertificate"));
  return std::vector<std::byte>(tbs.whole.begin(), tbs.whole.end());
}

// Is the certificate listed in dbx by the hash of its TBSCertificate
// (EDK2 IsCertHashFoundInDbx)? A certificate that cannot be hashed counts
// as listed, as EDK2 treats a search error.
inline bool certificate_hash_listed(X509* cert, const signature_database& dbx) {
  if (dbx.certificate_hashes.empty()) return false;
  auto tbs = tbs_certificate(cert);
  if (!tbs) return true;
  for (const auto& h : dbx.certificate_hashes) {
    auto d = hash::compute(h.digest.alg(), *tbs);
    if (!d || *d == h.digest) return true;
  }
  return false;
}

// Does `cert` chain to `anchor` (or is it `anchor`)? No time check, any
// purpose, partial chains allowed, as EDK2's Pkcs7Verify sets its store.
inline bool chains_to(X509* cert, STACK_OF(X509) * untrusted, X509* anchor, std::string* why) {
  crypto::store_ptr store(X509_STORE_new());
  crypto::store_ctx_ptr ctx(X509_STORE_CTX_new());
  if (!store || !ctx) return false;
  X509_STORE_add_cert(store.get(), anchor);
  if (X509_STORE_CTX_init(ctx.get(), store.get(), cert, untrusted) != 1) return false;
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_NO_CHECK_TIME);
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_ANY);
  bool ok = X509_verify_cert(ctx.get()) == 1;
  if (!ok && why) *why = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
  ERR_clear_error();
  return ok;
}

// The strict gate's check of one certificate table entry: the bytes no
// signature covers (another entry type, a payload that is no Authenticode
// signature, bytes after the DER, non-zero alignment padding). `s` is the
// entry's parsed signature, or null with `parse_error` saying why not.
inline void check_unsigned_bytes(const pe::image& img, const pe::certificate_entry& entry,
                                 const signature* s, const std::string& parse_error, severity level,
                                 std::vector<finding>& findings) {
  const std::uint64_t whole = padded_entry_length(entry.length);
  if (entry.type != pe::win_cert_type_pkcs_signed_data) {
    const bool pkcs7_guid =
        entry.type == pe::win_cert_type_efi_guid &&
        entry.payload.size() > efi_cert_type_pkcs7_guid.size() &&
        std::equal(efi_cert_type_pkcs7_guid.begin(), efi_cert_type_pkcs7_guid.end(),
                   entry.payload.begin(),
                   [](std::uint8_t a, std::byte b) { return std::byte{a} == b; });
    findings.push_back(
        {level, code::entry_type,
         "certificate entry type " + hex(entry.type) +
             (pkcs7_guid ? " (WIN_CERT_TYPE_EFI_GUID with a PKCS#7): firmware would check it as "
                           "a signature, ukikit does not support it"
                         : " is not PKCS_SIGNED_DATA (0x2): firmware skips it") +
             "; the gate refuses its unverified bytes",
         entry.offset, whole});
    return;
  }
  if (!s) {
    findings.push_back({level, code::entry_not_signature,
                        "certificate entry is not an Authenticode signature (" + parse_error +
                            "): firmware skips it and would boot the image through another "
                            "signature; the gate refuses it because no signature covers its bytes",
                        entry.offset, whole});
    return;
  }
  // osslsigncode and signtool count the alignment padding in dwLength: up
  // to 7 zero bytes after the DER that end the entry on a multiple of 8 are
  // that padding, not data.
  const byte_span after_der = entry.payload.subspan(s->der_size);
  const bool padding_in_length =
      after_der.size() < 8 && entry.length % 8 == 0 && all_zero(after_der);
  if (!after_der.empty() && !padding_in_length) {
    const std::uint64_t at = entry.offset + sizeof(pe::win_certificate) + s->der_size;
    findings.push_back({level, code::trailing_data,
                        "certificate entry has bytes after the end of its PKCS#7 (dwLength " +
                            hex(entry.length) + ", the DER ends at " + hex(at) +
                            "): firmware ignores them; the gate refuses them because no "
                            "signature covers them",
                        at, entry.payload.size() - s->der_size});
  }
  byte_span pad = entry_padding(img, entry);
  if (!all_zero(pad))
    findings.push_back({level, code::nonzero_padding,
                        "alignment padding after a certificate entry is not zero: firmware skips "
                        "it; the gate refuses it because no signature covers it",
                        entry.offset + entry.length, pad.size()});
}

// Does the signature verify with `anchor` as its root and sign `digest`
// (EDK2 AuthenticodeVerify)?
inline bool authenticode_verify(const signature& s, bool signature_valid, bool digest_matches,
                                X509* signer, X509* anchor) {
  return signature_valid && digest_matches && signer &&
         chains_to(signer, s.pkcs7->d.sign->cert, anchor, nullptr);
}

} // namespace detail

// Verify every signature of an image against trust anchors (db) and dbx.
// The image passes when no error finding is left (dbx refused nothing, the
// certificate table is intact and, in strict mode, holds no unsigned bytes,
// nothing unhashed hides data) and at least one signature passes.
inline verify_report verify(const pe::image& img, const signature_database& trust,
                            const signature_database* dbx = nullptr,
                            const verify_options& opt = {}) {
  verify_report rep;
  const severity gate = opt.strict ? severity::error : severity::warning;
  for (const auto& d : img.diagnostics)
    if (d.severity == pe::diagnostic::level::error)
      rep.findings.push_back({severity::error, code::pe_invalid, d.message, d.offset});
  auto ranges = compute_ranges(img);
  if (!ranges) {
    rep.findings.push_back({severity::error, code::digest_unavailable, ranges.error().context(),
                            ranges.error().offset()});
    return rep;
  }
  for (const auto& g : ranges->gaps)
    if (g.nonzero)
      rep.findings.push_back({gate, code::unhashed_data,
                              "unhashed data (not covered by the signature)", g.offset, g.size});
  // Each algorithm's digest is computed once, however many signatures use it.
  std::map<hash::algorithm, result<hash::digest>> digests;
  auto digest_for = [&](hash::algorithm a) -> result<hash::digest> {
    auto it = digests.find(a);
    if (it == digests.end()) it = digests.emplace(a, image_digest(*ranges, a, opt.consumed)).first;
    return it->second;
  };
  if (auto d = digest_for(hash::algorithm::sha256)) rep.sha256 = *d;
  // 3. Image digests in dbx. EDK2 looks up the digest of each entry's
  //    algorithm (and the SHA-256 one of an unsigned image); ukikit looks up
  //    every algorithm dbx lists, which refuses at least what EDK2 refuses.
  if (dbx) {
    for (hash::algorithm a : hash::all_algorithms) {
      bool any = std::any_of(dbx->image_digests.begin(), dbx->image_digests.end(),
                             [a](const hash::digest& d) { return d.alg() == a; });
      if (!any) continue;
      auto d = digest_for(a);
      if (d && detail::listed(dbx->image_digests, *d))
        rep.findings.push_back({severity::error, code::dbx_image_digest,
                                "image " + std::string(hash::name(a)) + " digest " + d->hex() +
                                    " is listed in dbx: firmware refuses the image"});
    }
  }
  if (!img.has_certificate_table()) {
    rep.findings.push_back(
        {severity::error, code::not_signed, "image is not signed (no certificate table)"});
    return rep;
  }
  auto walk = walk_certificate_table(img);
  for (auto& f : walk.findings) rep.findings.push_back(std::move(f));
  if (walk.entries.empty())
    rep.findings.push_back(
        {severity::error, code::not_signed, "certificate table holds no signature"});

  for (std::size_t i = 0; i < walk.entries.size(); ++i) {
    const auto& e = walk.entries[i];
    signature_result r;
    r.entry_offset = e.offset;
    const std::string label = "signature " + std::to_string(i + 1);
    auto parsed = parse_signature(e);
    detail::check_unsigned_bytes(img, e, parsed ? &*parsed : nullptr,
                                 parsed ? std::string() : parsed.error().context(), gate,
                                 rep.findings);
    if (!parsed) {
      r.problems.push_back(parsed.error().message());
      rep.signatures.push_back(std::move(r));
      continue; // EDK2: HashPeImageByType fails, the entry is skipped
    }
    signature& s = *parsed;
    r.subject = s.subject;
    r.issuer = s.issuer;
    r.nested_signatures = s.nested_signatures;
    r.claimed = to_hex(s.indirect.digest);
    r.digest_algorithm = s.indirect.algorithm ? std::string(hash::name(*s.indirect.algorithm))
                                              : s.indirect.digest_oid;
    if (r.nested_signatures)
      r.notes.push_back(std::to_string(r.nested_signatures) +
                        " nested signature(s) present: firmware ignores them, only this outer "
                        "signature counts");
    if (!s.indirect.algorithm) {
      r.refused = true;
      r.problems.push_back("unsupported digest algorithm " + s.indirect.digest_oid);
      rep.signatures.push_back(std::move(r));
      continue; // EDK2 cannot hash by it either: skipped
    }
    if (*s.indirect.algorithm == hash::algorithm::sha1 && !opt.allow_sha1) {
      r.refused = true;
      r.problems.push_back("sha1 image digest refused by policy (allow it with --allow-sha1)");
    }
    auto computed = digest_for(*s.indirect.algorithm);
    if (!computed) {
      r.problems.push_back(computed.error().message());
      rep.signatures.push_back(std::move(r));
      continue;
    }
    r.computed = computed->hex();
    r.digest_matches = r.claimed == r.computed;
    if (!r.digest_matches)
      r.problems.push_back("digest mismatch: signed=" + r.claimed + ", computed=" + r.computed);
    // messageDigest over the content octets, and the signer's signature.
    auto valid = verify_content(s.pkcs7.get(), s.indirect.content_octets);
    r.signature_valid = valid.ok();
    if (!valid) {
      r.problems.push_back(valid.error().message());
      rep.findings.push_back({gate, code::signature_invalid,
                              label + " does not verify (" + valid.error().context() +
                                  "): its bytes are authenticated by no key",
                              e.offset, padded_entry_length(e.length)});
    }

    STACK_OF(X509)* signers = PKCS7_get0_signers(s.pkcs7.get(), nullptr, 0);
    X509* signer = signers && sk_X509_num(signers) > 0 ? sk_X509_value(signers, 0) : nullptr;
    ERR_clear_error();
    if (!signer) r.problems.push_back("signer certificate is not in the signature");

    // 1. IsForbiddenByDbx.
    if (dbx) {
      std::string revoked_by;
      std::string_view revoked_code;
      for (const auto& bad : dbx->certificates)
        if (detail::authenticode_verify(s, r.signature_valid, r.digest_matches, signer,
                                        bad.get())) {
          revoked_code = code::dbx_certificate;
          revoked_by = "it verifies with certificate \"" + crypto::subject(bad.get()) +
                       "\", which is listed in dbx";
          break;
        }
      if (revoked_by.empty() && !signer) {
        revoked_code = code::dbx_no_signer;
        revoked_by = "it names no signer certificate, which EDK2 treats as revoked when dbx is set";
      }
      if (revoked_by.empty() && signer && detail::certificate_hash_listed(signer, *dbx)) {
        revoked_code = code::dbx_certificate_hash;
        revoked_by = "the hash of its signer certificate \"" + r.subject + "\" is listed in dbx";
      }
      if (!revoked_by.empty()) {
        r.revoked = true;
        r.problems.push_back("revoked: " + revoked_by);
        rep.findings.push_back({severity::error, revoked_code,
                                label + " (signer \"" + r.subject +
                                    "\") is revoked: " + revoked_by +
                                    "; firmware refuses the image whatever the other "
                                    "signatures say",
                                e.offset, padded_entry_length(e.length)});
      }
    }

    // 2. IsAllowedByDb: the first db certificate that verifies the signature.
    if (signer) {
      std::string why = trust.certificates.empty() ? "no trust anchor given" : "";
      bool anchor_revoked = false;
      for (const auto& anchor : trust.certificates) {
        if (!detail::chains_to(signer, s.pkcs7->d.sign->cert, anchor.get(), &why)) continue;
        if (dbx && detail::certificate_hash_listed(anchor.get(), *dbx)) {
          anchor_revoked = true;
          r.problems.push_back("trust anchor \"" + crypto::subject(anchor.get()) +
                               "\" is listed in dbx by its certificate hash");
          rep.findings.push_back({severity::warning, code::db_anchor_revoked,
                                  label + " chains to \"" + crypto::subject(anchor.get()) +
                                      "\", whose certificate hash is listed in dbx: firmware "
                                      "does not allow the image through it",
                                  e.offset});
        } else {
          r.trusted = true;
        }
        break;
      }
      if (!r.trusted && !anchor_revoked)
        r.problems.push_back("signer \"" + r.subject +
                             "\" does not chain to a given certificate (" + why + ")");
    }
    sk_X509_free(signers);
    rep.signatures.push_back(std::move(r));
  }
  return rep;
}

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
  if (img.security_directory_offset() + 8 > header_end || img.checksum_offset() + 4 > header_end)
    return error(errc::malformed, "headers are too short to hold the certificate table entry");
  image_pieces out;
  out.headers.assign(img.file.begin(), img.file.begin() + static_cast<std::ptrdiff_t>(header_end));
  out.body = img.file.subspan(static_cast<std::size_t>(header_end),
                              static_cast<std::size_t>(data_end - header_end));
  out.tail.resize(static_cast<std::size_t>((8 - data_end % 8) % 8));
  const std::uint64_t table_offset = data_end + out.tail.size();
  for (byte_span der : entries) {
    const std::uint64_t length = sizeof(pe::win_certificate) + der.size();
    if (length > UINT32_MAX)
      return error(errc::limit_exceeded, "signature too large for a certificate entry");
    pe::win_certificate h{};
    h.length = static_cast<std::uint32_t>(length);
    h.revision = pe::win_cert_revision_2_0;
    h.certificate_type = pe::win_cert_type_pkcs_signed_data;
    auto hb = bytes_of(h);
    out.tail.insert(out.tail.end(), hb.begin(), hb.end());
    out.tail.insert(out.tail.end(), der.begin(), der.end());
    out.tail.resize(out.tail.size() + (8 - length % 8) % 8);
  }
  const std::uint64_t table_size = out.tail.size() - (table_offset - data_end);
  if (table_offset > UINT32_MAX || table_size > UINT32_MAX)
    return error(errc::limit_exceeded, "certificate table would lie beyond 4 GiB");
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

// The payloads of an image's current signatures, for keeping some of them.
inline std::vector<byte_span> existing_signatures(const pe::image& img) {
  std::vector<byte_span> out;
  for (const auto& e : walk_certificate_table(img).entries) out.push_back(e.payload);
  return out;
}

} // namespace ukikit::authenticode
