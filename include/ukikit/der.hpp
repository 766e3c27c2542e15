// ASN.1 DER: a reader for the few structures ukikit parses itself
// (Authenticode's SpcIndirectDataContent, EFI signature data) and a writer
// for the ones it builds (PKCS#7 SignedData), so their bytes are exactly
// what we decide. Certificates and signatures themselves go through OpenSSL.
//
// Only single-byte tags and definite lengths (X.690 §8.1.2, §8.1.3): that
// is all DER allows for the structures we read.
#pragma once

#include "bytes.hpp"
#include "result.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace ukikit::der {

// Tags (X.690 identifier octets).
inline constexpr std::uint8_t tag_integer = 0x02;
inline constexpr std::uint8_t tag_bit_string = 0x03;
inline constexpr std::uint8_t tag_octet_string = 0x04;
inline constexpr std::uint8_t tag_null = 0x05;
inline constexpr std::uint8_t tag_oid = 0x06;
inline constexpr std::uint8_t tag_utc_time = 0x17;
inline constexpr std::uint8_t tag_sequence = 0x30;
inline constexpr std::uint8_t tag_set = 0x31;
// Context-specific tags: [n] constructed is 0xa0 + n, [n] primitive 0x80 + n.
constexpr std::uint8_t context(unsigned n, bool constructed = true) noexcept {
  return static_cast<std::uint8_t>((constructed ? 0xa0 : 0x80) + n);
}

// Nesting limit for readers that recurse; far beyond any real structure.
inline constexpr unsigned max_depth = 32;

struct tlv {
  std::uint8_t tag = 0;
  byte_span content; // the value octets
  byte_span whole;   // tag, length and value
  std::uint64_t offset = 0;
};

// Read one TLV at the cursor. DER rules: definite, minimal lengths.
inline result<tlv> read(cursor& c, std::string_view what = "DER value") {
  tlv t;
  t.offset = c.offset();
  const std::size_t start = c.position();
  UKIKIT_TRY_ASSIGN(std::uint8_t tag, c.u8(what));
  if ((tag & 0x1f) == 0x1f)
    return error(errc::unsupported, std::string(what) + " uses a multi-byte tag", t.offset);
  UKIKIT_TRY_ASSIGN(std::uint8_t first, c.u8(what));
  std::uint64_t length = first;
  if (first == 0x80)
    return error(errc::malformed, std::string(what) + " has an indefinite length (BER, not DER)",
                 t.offset);
  if (first > 0x80) {
    unsigned n = first & 0x7f;
    if (n > 4)
      return error(errc::limit_exceeded,
                   std::string(what) + " length has " + std::to_string(n) + " bytes (at most 4)",
                   t.offset);
    length = 0;
    for (unsigned i = 0; i < n; ++i) {
      UKIKIT_TRY_ASSIGN(std::uint8_t b, c.u8(what));
      if (i == 0 && b == 0)
        return error(errc::malformed, std::string(what) + " length is not minimal", t.offset);
      length = (length << 8) | b;
    }
    if (length < 0x80)
      return error(errc::malformed, std::string(what) + " length is not minimal", t.offset);
  }
  UKIKIT_TRY_ASSIGN(t.content, c.bytes(length, what));
  t.tag = tag;
  t.whole = c.data().subspan(start, c.position() - start);
  return t;
}

// Read one TLV and require its tag.
inline result<tlv> expect(cursor& c, std::uint8_t tag, std::string_view what) {
  const std::uint64_t at = c.offset();
  UKIKIT_TRY_ASSIGN(tlv t, read(c, what));
  if (t.tag != tag)
    return error(errc::malformed,
                 std::string(what) + ": expected tag " + hex(tag) + ", found " + hex(t.tag), at);
  return t;
}

// A cursor over a TLV's content, with absolute offsets.
inline cursor inside(const tlv& t) {
  return cursor(t.content,
                t.offset + static_cast<std::uint64_t>(t.whole.size() - t.content.size()));
}

// Dotted form of an OBJECT IDENTIFIER's content octets ("1.2.840.113549").
inline std::string oid_string(byte_span content) {
  std::string out;
  std::uint64_t v = 0;
  bool first = true;
  for (std::byte b : content) {
    if (v > (UINT64_MAX >> 7)) return "(oid too long)";
    v = (v << 7) | (std::to_integer<std::uint8_t>(b) & 0x7f);
    if (std::to_integer<std::uint8_t>(b) & 0x80) continue;
    if (first) {
      std::uint64_t a = v < 40 ? 0 : v < 80 ? 1 : 2;
      out = std::to_string(a) + "." + std::to_string(v - 40 * a);
      first = false;
    } else {
      out += "." + std::to_string(v);
    }
    v = 0;
  }
  return out;
}

// ---- writer ------------------------------------------------------------------

using bytes = std::vector<std::byte>;

inline void append(bytes& out, byte_span b) { out.insert(out.end(), b.begin(), b.end()); }

inline bytes encode(std::uint8_t tag, byte_span content) {
  bytes out;
  out.reserve(content.size() + 6);
  out.push_back(static_cast<std::byte>(tag));
  const std::size_t n = content.size();
  if (n < 0x80) {
    out.push_back(static_cast<std::byte>(n));
  } else {
    unsigned len_bytes = 0;
    for (std::size_t v = n; v; v >>= 8) ++len_bytes;
    out.push_back(static_cast<std::byte>(0x80 | len_bytes));
    for (unsigned i = len_bytes; i-- > 0;)
      out.push_back(static_cast<std::byte>((n >> (8 * i)) & 0xff));
  }
  append(out, content);
  return out;
}

// A constructed value from already-encoded parts.
inline bytes constructed(std::uint8_t tag, std::initializer_list<byte_span> parts) {
  bytes content;
  for (byte_span p : parts) append(content, p);
  return encode(tag, content);
}

inline bytes sequence(std::initializer_list<byte_span> parts) {
  return constructed(tag_sequence, parts);
}

// DER order of encodings: octet by octet, a prefix first (X.690 §11.6).
// (A loop, not operator<: g++ 12 warns falsely on memcmp in that one.)
inline bool encoding_less(const bytes& a, const bytes& b) noexcept {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i)
    if (a[i] != b[i]) return a[i] < b[i];
  return a.size() < b.size();
}

// SET OF: DER sorts the encodings.
inline bytes set_of(std::uint8_t tag, std::vector<bytes> elements) {
  std::sort(elements.begin(), elements.end(), encoding_less);
  bytes content;
  for (const auto& e : elements) append(content, e);
  return encode(tag, content);
}

// An OBJECT IDENTIFIER from its content octets.
inline bytes oid(byte_span content) { return encode(tag_oid, content); }

inline bytes null() { return encode(tag_null, {}); }

inline bytes octet_string(byte_span b) { return encode(tag_octet_string, b); }

// A non-negative INTEGER from big-endian magnitude bytes.
inline bytes unsigned_integer(byte_span magnitude) {
  while (magnitude.size() > 1 && magnitude[0] == std::byte{0}) magnitude = magnitude.subspan(1);
  bytes content;
  if (magnitude.empty() || (std::to_integer<std::uint8_t>(magnitude[0]) & 0x80))
    content.push_back(std::byte{0});
  append(content, magnitude);
  return encode(tag_integer, content);
}

inline bytes small_integer(std::uint8_t v) {
  std::byte b{v};
  return unsigned_integer(byte_span(&b, 1));
}

} // namespace ukikit::der
