// authenticode_fuzzer: the parse-level Authenticode API on the input as a PE
// image, as a detached PKCS#7 blob, as SpcIndirectDataContent and as EFI
// signature lists, with the properties each result must have checked (a
// violated one traps):
// - walk_certificate_table: every entry lies inside the certificate table
//   (itself inside the file), starts 8-aligned from the table's start after
//   the previous entry's padded end, and its payload is the dwLength - 8
//   bytes after its header;
// - compute_ranges: every range and gap lies inside the file; the header
//   ranges are [0, SizeOfHeaders) without the CheckSum field and the
//   certificate table entry, then each section's raw data in file order,
//   then [SUM, start of the certificate table) padded to 8; a gap's nonzero
//   flag is true to its bytes; header and section ranges do not overlap
//   when the sections' raw data neither overlap each other nor the headers;
//   image_digest() equals a one-shot OpenSSL digest of ranges and padding;
// - parse_signature: the signature's digest and OIDs are those that
//   parse_indirect_data finds in its indirect_der, and OpenSSL's i2d_PKCS7
//   re-encoding parses to the same signature and re-encodes to itself;
// - parse_indirect_data: its TLVs are the ones OpenSSL's own decoder
//   (ASN1_get_object) finds, and its dotted OIDs are OBJ_obj2txt's;
// - parse_signature_lists: each SHA-256 entry is 32 bytes of the input and
//   each certificate survives an i2d/d2i round trip; load_trust agrees
//   when the input is neither PEM nor one DER certificate.
// verify() must never pass against an empty trust store.
#include <ukikit/authenticode.hpp>
#include <ukikit/pe.hpp>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace ukikit;

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) __builtin_trap();                                                                 \
  } while (0)

bool within(byte_span inner, byte_span outer) {
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}
bool same_bytes(byte_span a, byte_span b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}
std::uint64_t at(byte_span inner, byte_span file) {
  return static_cast<std::uint64_t>(inner.data() - file.data());
}

// ---- certificate table ---------------------------------------------------------------

void check_walk(const pe::image& img, const authenticode::table_walk& walk) {
  if (!img.has_certificate_table()) {
    CHECK(walk.entries.empty());
    return;
  }
  const std::uint64_t begin = img.certificate_table_offset;
  const std::uint64_t end = begin + img.certificate_table_size;
  CHECK(end <= img.file.size());
  std::uint64_t next = begin; // where the next entry may start at the earliest
  for (const auto& e : walk.entries) {
    CHECK(e.offset >= next);
    CHECK((e.offset - begin) % 8 == 0);
    CHECK(e.length > sizeof(pe::win_certificate));
    CHECK(e.offset + e.length <= end);
    CHECK(e.payload.size() == e.length - sizeof(pe::win_certificate));
    CHECK(within(e.payload, img.file));
    CHECK(at(e.payload, img.file) == e.offset + sizeof(pe::win_certificate));
    next = e.offset + ((std::uint64_t{e.length} + 7) & ~std::uint64_t{7});
    CHECK(next <= end);
  }
}

// ---- image digest ranges -------------------------------------------------------------

void check_ranges(const pe::image& img) {
  auto r = authenticode::compute_ranges(img);
  if (!r) return;
  const byte_span file = img.file;
  for (byte_span range : r->ranges) CHECK(within(range, file));
  for (const auto& g : r->gaps) {
    CHECK(g.size > 0 && g.offset + g.size <= file.size());
    byte_span bytes =
        file.subspan(static_cast<std::size_t>(g.offset), static_cast<std::size_t>(g.size));
    CHECK(g.nonzero == !authenticode::detail::all_zero(bytes));
  }

  // The header ranges: [0, SizeOfHeaders) without CheckSum and, when the
  // directory has it, the certificate table entry.
  const bool secdir = img.has_security_directory_entry();
  const std::size_t header_ranges = secdir ? 3 : 2;
  CHECK(r->ranges.size() >= header_ranges);
  const std::uint64_t checksum = img.checksum_offset();
  CHECK(r->ranges[0].data() == file.data() && r->ranges[0].size() == checksum);
  CHECK(at(r->ranges[1], file) == checksum + 4);
  std::uint64_t header_end = at(r->ranges[1], file) + r->ranges[1].size();
  if (secdir) {
    const std::uint64_t entry = img.security_directory_offset();
    CHECK(header_end == entry);
    CHECK(at(r->ranges[2], file) == entry + sizeof(pe::data_directory));
    header_end = at(r->ranges[2], file) + r->ranges[2].size();
  }
  CHECK(header_end == img.size_of_headers);

  // Then each section's raw data, in file order, empty ones skipped.
  std::vector<const pe::section*> raw;
  for (const auto& s : img.sections)
    if (s.size_of_raw_data != 0) raw.push_back(&s);
  std::stable_sort(raw.begin(), raw.end(), [](const pe::section* a, const pe::section* b) {
    return a->pointer_to_raw_data < b->pointer_to_raw_data;
  });
  CHECK(r->ranges.size() >= header_ranges + raw.size());
  std::uint64_t sum = img.size_of_headers;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    byte_span range = r->ranges[header_ranges + i];
    CHECK(at(range, file) == raw[i]->pointer_to_raw_data &&
          range.size() == raw[i]->size_of_raw_data);
    sum += raw[i]->size_of_raw_data;
  }
  // Then, from SUM (headers plus raw sizes) to the certificate table, the
  // rest of the file (which overlaps the last sections when gaps lie
  // between them, as the specification has it), padded to 8.
  const std::uint64_t cert_size = img.directories.size() > pe::dir_security
                                      ? img.directories[pe::dir_security].size.value()
                                      : 0;
  const std::uint64_t end = file.size() >= cert_size ? file.size() - cert_size : 0;
  if (end > sum) {
    CHECK(r->ranges.size() == header_ranges + raw.size() + 1);
    CHECK(at(r->ranges.back(), file) == sum && r->ranges.back().size() == end - sum);
    CHECK(r->zero_padding == (8 - end % 8) % 8);
  } else {
    CHECK(r->ranges.size() == header_ranges + raw.size());
    CHECK(r->zero_padding == 0);
  }

  // Headers and sections do not overlap when the sections neither overlap
  // each other nor the headers.
  bool disjoint = raw.empty() || raw.front()->pointer_to_raw_data >= img.size_of_headers;
  for (std::size_t i = 1; i < raw.size(); ++i)
    disjoint = disjoint && raw[i]->pointer_to_raw_data >= raw[i - 1]->raw_end();
  if (disjoint) {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> spans;
    for (std::size_t i = 0; i < header_ranges + raw.size(); ++i) {
      byte_span range = r->ranges[i];
      if (!range.empty()) spans.emplace_back(at(range, file), at(range, file) + range.size());
    }
    std::sort(spans.begin(), spans.end());
    for (std::size_t i = 1; i < spans.size(); ++i) CHECK(spans[i].first >= spans[i - 1].second);
  }

  // image_digest() streams the ranges in pieces; OpenSSL in one go agrees.
  auto d = authenticode::image_digest(*r, hash::algorithm::sha256);
  CHECK(d);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  CHECK(ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1);
  for (byte_span range : r->ranges) CHECK(EVP_DigestUpdate(ctx, range.data(), range.size()) == 1);
  static constexpr std::array<unsigned char, 8> zeros{};
  CHECK(EVP_DigestUpdate(ctx, zeros.data(), r->zero_padding) == 1);
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned md_len = 0;
  CHECK(EVP_DigestFinal_ex(ctx, md.data(), &md_len) == 1);
  EVP_MD_CTX_free(ctx);
  CHECK(same_bytes(d->bytes(), byte_span(reinterpret_cast<const std::byte*>(md.data()), md_len)));
  auto whole = authenticode::image_digest(img, hash::algorithm::sha256);
  CHECK(whole && same_bytes(whole->bytes(), d->bytes()));
}

// ---- SpcIndirectDataContent, against OpenSSL's TLV decoder ----------------------------

// One TLV as ASN1_get_object reads it: the tag byte rebuilt, and the content.
struct ossl_tlv {
  int tag_byte = -1;
  byte_span content;
  byte_span rest; // what follows it in the enclosing content
};

ossl_tlv ossl_read(byte_span in) {
  ossl_tlv t;
  if (in.empty()) return t;
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  long length = 0;
  int tag = 0, cls = 0;
  int ret = ASN1_get_object(&p, &length, &tag, &cls, static_cast<long>(in.size()));
  if (ret & 0x80) {
    ERR_clear_error();
    return t;
  }
  if (ret == 0x21 || tag > 30) return t; // indefinite length, multi-byte tag: not DER
  const std::size_t header =
      static_cast<std::size_t>(p - reinterpret_cast<const unsigned char*>(in.data()));
  t.tag_byte = cls | (ret & V_ASN1_CONSTRUCTED) | tag;
  t.content = in.subspan(header, static_cast<std::size_t>(length));
  t.rest = in.subspan(header + static_cast<std::size_t>(length));
  return t;
}

// The dotted form OpenSSL gives an OID's content octets, or "" when it
// refuses them or the text is too long to compare.
std::string ossl_oid(byte_span content) {
  std::vector<unsigned char> der{V_ASN1_OBJECT};
  if (content.size() >= 0x80) return {};
  der.push_back(static_cast<unsigned char>(content.size()));
  for (std::byte b : content) der.push_back(std::to_integer<unsigned char>(b));
  const unsigned char* p = der.data();
  ASN1_OBJECT* obj = d2i_ASN1_OBJECT(nullptr, &p, static_cast<long>(der.size()));
  if (!obj) {
    ERR_clear_error();
    return {};
  }
  std::array<char, 256> text{};
  int n = OBJ_obj2txt(text.data(), static_cast<int>(text.size()), obj, 1);
  ASN1_OBJECT_free(obj);
  if (n <= 0 || static_cast<std::size_t>(n) >= text.size()) return {};
  return std::string(text.data(), static_cast<std::size_t>(n));
}

void check_oid(const std::string& ours, byte_span content) {
  const std::string theirs = ossl_oid(content);
  if (theirs.empty() || ours == "(oid too long)") return;
  CHECK(ours == theirs);
}

// Our parse of `der` succeeded: OpenSSL finds the same structure in it.
void check_indirect(const authenticode::indirect_data& ours, byte_span der) {
  CHECK(within(ours.digest, der));
  CHECK(within(ours.content_octets, der));
  if (ours.algorithm) CHECK(ours.digest.size() == hash::digest_size(*ours.algorithm));
  ossl_tlv top = ossl_read(der);
  CHECK(top.tag_byte == der::tag_sequence);
  CHECK(top.content.data() == ours.content_octets.data() &&
        top.content.size() == ours.content_octets.size());
  ossl_tlv data = ossl_read(top.content);
  CHECK(data.tag_byte == der::tag_sequence);
  ossl_tlv type = ossl_read(data.content);
  CHECK(type.tag_byte == der::tag_oid);
  check_oid(ours.data_type, type.content);
  ossl_tlv info = ossl_read(data.rest);
  CHECK(info.tag_byte == der::tag_sequence);
  ossl_tlv alg = ossl_read(info.content);
  CHECK(alg.tag_byte == der::tag_sequence);
  ossl_tlv alg_oid = ossl_read(alg.content);
  CHECK(alg_oid.tag_byte == der::tag_oid);
  check_oid(ours.digest_oid, alg_oid.content);
  CHECK(ours.algorithm == authenticode::oid::digest_algorithm(alg_oid.content));
  ossl_tlv digest = ossl_read(alg.rest);
  CHECK(digest.tag_byte == der::tag_octet_string);
  CHECK(digest.content.data() == ours.digest.data() && digest.content.size() == ours.digest.size());
}

// ---- PKCS#7 ----------------------------------------------------------------------------

bool same_signature(const authenticode::signature& a, const authenticode::signature& b) {
  return same_bytes(a.indirect.digest, b.indirect.digest) && a.indirect_der == b.indirect_der &&
         a.indirect.digest_oid == b.indirect.digest_oid &&
         a.indirect.data_type == b.indirect.data_type &&
         a.indirect.algorithm == b.indirect.algorithm && a.subject == b.subject &&
         a.issuer == b.issuer && a.nested_signatures == b.nested_signatures &&
         a.has_signing_time == b.has_signing_time;
}

std::vector<unsigned char> reencode(PKCS7* p7) {
  unsigned char* out = nullptr;
  int n = i2d_PKCS7(p7, &out);
  if (n <= 0) {
    ERR_clear_error();
    return {};
  }
  std::vector<unsigned char> v(out, out + n);
  OPENSSL_free(out);
  return v;
}

void check_signature(const authenticode::signature& s, const pe::certificate_entry& e) {
  CHECK(s.entry_offset == e.offset);
  // The digest is the one parse_indirect_data finds in the same bytes.
  byte_span own(s.indirect_der);
  auto again = authenticode::parse_indirect_data(own);
  CHECK(again);
  CHECK(within(s.indirect.digest, own));
  CHECK(same_bytes(again->digest, s.indirect.digest));
  CHECK(again->digest_oid == s.indirect.digest_oid && again->data_type == s.indirect.data_type &&
        again->algorithm == s.indirect.algorithm);
  check_indirect(s.indirect, own);

  // DER round trip: what OpenSSL re-encodes parses to the same signature and
  // re-encodes to itself.
  std::vector<unsigned char> der = reencode(s.pkcs7.get());
  if (der.empty()) return;
  pe::certificate_entry re = e;
  re.payload = byte_span(reinterpret_cast<const std::byte*>(der.data()), der.size());
  auto s2 = authenticode::parse_signature(re);
  CHECK(s2);
  CHECK(same_signature(s, *s2));
  CHECK(reencode(s2->pkcs7.get()) == der);
}

// ---- EFI signature lists ---------------------------------------------------------------

void check_lists(byte_span in) {
  auto db = authenticode::parse_signature_lists(in);
  if (!db) return;
  const std::string_view text = as_chars(in);
  // Every digest is bytes of the input, of its algorithm's size.
  auto in_input = [&](byte_span b) { return text.find(as_chars(b)) != std::string_view::npos; };
  for (const auto& d : db->image_digests) {
    CHECK(d.bytes().size() == hash::digest_size(d.alg()));
    CHECK(in_input(d.bytes()));
  }
  for (const auto& h : db->certificate_hashes) {
    CHECK(h.digest.alg() != hash::algorithm::sha1);
    CHECK(in_input(h.digest.bytes()));
  }
  for (const auto& c : db->certificates) {
    unsigned char* out = nullptr;
    int n = i2d_X509(c.get(), &out);
    if (n <= 0) {
      ERR_clear_error();
      continue;
    }
    const unsigned char* p = out;
    X509* back = d2i_X509(nullptr, &p, n);
    CHECK(back && p == out + n);
    CHECK(X509_cmp(back, c.get()) == 0);
    X509_free(back);
    OPENSSL_free(out);
  }
  if (!crypto::looks_like_pem(in) && !crypto::load_certificates(in, "fuzz")) {
    auto trust = authenticode::load_trust(in, "fuzz");
    CHECK(trust);
    CHECK(trust->certificates.size() == db->certificates.size());
    CHECK(trust->image_digests == db->image_digests);
    CHECK(trust->certificate_hashes.size() == db->certificate_hashes.size());
  }
  ERR_clear_error();
}

// ---- dbx against every signature ------------------------------------------------------

// With every signer both in db and in dbx, no signature may pass: dbx
// applies to every entry (EDK2), whatever another entry says.
void check_dbx(const pe::image& img, const authenticode::table_walk& walk) {
  authenticode::signature_database trust, dbx;
  for (const auto& e : walk.entries) {
    auto s = authenticode::parse_signature(e);
    if (!s) continue;
    STACK_OF(X509)* signers = PKCS7_get0_signers(s->pkcs7.get(), nullptr, 0);
    if (signers && sk_X509_num(signers) > 0) {
      X509* signer = sk_X509_value(signers, 0);
      trust.certificates.emplace_back(X509_dup(signer));
      dbx.certificates.emplace_back(X509_dup(signer));
    }
    sk_X509_free(signers);
    ERR_clear_error();
  }
  if (dbx.certificates.empty()) return;
  auto report = authenticode::verify(img, trust, &dbx);
  CHECK(!report.passed());
  for (const auto& sig : report.signatures)
    // Trusted means it verified with one of these certificates as root, and
    // dbx holds the same certificates.
    if (sig.signature_valid && sig.digest_matches && sig.trusted) CHECK(sig.revoked);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  byte_span in(reinterpret_cast<const std::byte*>(data), size);

  if (auto img = pe::parse(in, pe::strictness::permissive)) {
    auto walk = authenticode::walk_certificate_table(*img);
    check_walk(*img, walk);
    for (const auto& e : walk.entries)
      if (auto s = authenticode::parse_signature(e)) check_signature(*s, e);
    check_ranges(*img);
    authenticode::signature_database none;
    auto report = authenticode::verify(*img, none);
    CHECK(!report.passed()); // nothing can chain to an empty trust store
    check_dbx(*img, walk);
  }

  pe::certificate_entry blob;
  blob.type = pe::win_cert_type_pkcs_signed_data;
  blob.payload = in;
  if (auto s = authenticode::parse_signature(blob)) {
    check_signature(*s, blob);
    // The signer's signature and messageDigest do not depend on the encoding.
    const bool ok = static_cast<bool>(authenticode::check_signature(in));
    std::vector<unsigned char> der = reencode(s->pkcs7.get());
    if (!der.empty())
      CHECK(ok == static_cast<bool>(authenticode::check_signature(
                      byte_span(reinterpret_cast<const std::byte*>(der.data()), der.size()))));
  }
  if (auto d = authenticode::parse_indirect_data(in)) check_indirect(*d, in);
  check_lists(in);
  ERR_clear_error();
  return 0;
}
