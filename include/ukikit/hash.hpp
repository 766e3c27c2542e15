// Hashing: streaming OpenSSL EVP digests over any number of spans, without
// copying, and digest values that know their algorithm.
//
// A digest is built only by hashing or by a validating parse: from raw bytes
// of the right length, from exact-length lowercase hex, or from the OCI form
// "sha256:<hex>" checked against the OCI image-spec digest grammar.
#pragma once

#include "bytes.hpp"
#include "result.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace ukikit::hash {

enum class algorithm : std::uint8_t { sha1, sha256, sha384, sha512 };

inline constexpr algorithm all_algorithms[] = {algorithm::sha1, algorithm::sha256,
                                               algorithm::sha384, algorithm::sha512};

// The largest digest (sha512).
inline constexpr std::size_t max_digest_size = 64;

constexpr std::string_view name(algorithm a) noexcept {
  switch (a) {
  case algorithm::sha1: return "sha1";
  case algorithm::sha256: return "sha256";
  case algorithm::sha384: return "sha384";
  case algorithm::sha512: return "sha512";
  }
  return "unknown";
}

constexpr std::size_t digest_size(algorithm a) noexcept {
  switch (a) {
  case algorithm::sha1: return 20;
  case algorithm::sha256: return 32;
  case algorithm::sha384: return 48;
  case algorithm::sha512: return 64;
  }
  return 0;
}

constexpr std::optional<algorithm> parse_algorithm(std::string_view s) noexcept {
  for (algorithm a : all_algorithms)
    if (name(a) == s) return a;
  return std::nullopt;
}

namespace detail {

inline const EVP_MD* evp(algorithm a) noexcept {
  switch (a) {
  case algorithm::sha1: return EVP_sha1();
  case algorithm::sha256: return EVP_sha256();
  case algorithm::sha384: return EVP_sha384();
  case algorithm::sha512: return EVP_sha512();
  }
  return nullptr;
}

// OCI image-spec descriptor.md:
//   algorithm-component ::= [a-z0-9]+
//   algorithm-separator ::= [+._-]
//   algorithm           ::= component (separator component)*
constexpr bool valid_oci_algorithm(std::string_view s) noexcept {
  bool need_component = true;
  for (char c : s) {
    bool component = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    bool separator = c == '+' || c == '.' || c == '_' || c == '-';
    if (component) need_component = false;
    else if (separator && !need_component) need_component = true;
    else return false;
  }
  return !need_component;
}

//   encoded ::= [a-zA-Z0-9=_-]+
constexpr bool valid_oci_encoded(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '=' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

struct md_ctx_free {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};

} // namespace detail

class digest {
public:
  // Raw digest bytes; the length must be the algorithm's.
  static result<digest> from_bytes(algorithm a, byte_span bytes) {
    if (bytes.size() != digest_size(a)) {
      return error(errc::invalid_argument, std::string(name(a)) + " digest must be " +
                                               std::to_string(digest_size(a)) + " bytes, not " +
                                               std::to_string(bytes.size()));
    }
    digest d(a);
    std::copy(bytes.begin(), bytes.end(), d.bytes_.begin());
    return d;
  }

  // Exact-length lowercase hex, as OCI requires and as sha256sum prints.
  static result<digest> from_hex(algorithm a, std::string_view hex) {
    const std::size_t want = 2 * digest_size(a);
    if (hex.size() != want) {
      return error(errc::malformed, std::string(name(a)) + " digest must be " +
                                        std::to_string(want) + " hex digits, not " +
                                        std::to_string(hex.size()));
    }
    digest d(a);
    for (std::size_t i = 0; i < hex.size(); ++i) {
      int v = hex_digit(hex[i]);
      if (v < 0) {
        return error(errc::malformed, std::string(name(a)) +
                                          " digest has a character that is not lowercase hex "
                                          "at position " +
                                          std::to_string(i));
      }
      d.bytes_[i / 2] = static_cast<std::byte>((std::to_integer<int>(d.bytes_[i / 2]) << 4) | v);
    }
    return d;
  }

  // The OCI form "algorithm:encoded". Anything outside the grammar is
  // malformed; an algorithm in the grammar but not sha256/sha512 (the ones
  // OCI registers that ukikit computes) is unsupported, so a caller may
  // still pass it through.
  static result<digest> parse(std::string_view s) {
    auto colon = s.find(':');
    if (colon == std::string_view::npos)
      return error(errc::malformed,
                   "digest has no ':' between algorithm and hex (" + quote(s) + ")");
    std::string_view alg = s.substr(0, colon), enc = s.substr(colon + 1);
    if (!detail::valid_oci_algorithm(alg))
      return error(errc::malformed, "digest algorithm is not valid (" + quote(s) + ")");
    if (!detail::valid_oci_encoded(enc))
      return error(errc::malformed, "digest encoding is not valid (" + quote(s) + ")");
    auto a = parse_algorithm(alg);
    if (!a || (*a != algorithm::sha256 && *a != algorithm::sha512))
      return error(errc::unsupported, "digest algorithm " + std::string(alg) + " is not supported");
    auto d = from_hex(*a, enc);
    if (!d) return d.error().prefixed("in " + quote(s));
    return d;
  }

  algorithm alg() const noexcept { return alg_; }
  std::size_t size() const noexcept { return digest_size(alg_); }
  byte_span bytes() const noexcept { return byte_span(bytes_.data(), size()); }
  std::string hex() const { return to_hex(bytes()); }
  // "sha256:<hex>"
  std::string str() const { return std::string(name(alg_)) + ":" + hex(); }

  friend bool operator==(const digest& a, const digest& b) noexcept {
    return a.alg_ == b.alg_ && std::equal(a.bytes().begin(), a.bytes().end(), b.bytes().begin());
  }

private:
  explicit digest(algorithm a) noexcept : alg_(a) {}
  static std::string quote(std::string_view s) {
    constexpr std::size_t max_shown = 80;
    return "\"" + std::string(s.substr(0, max_shown)) + (s.size() > max_shown ? "..." : "") + "\"";
  }
  friend class hasher;

  algorithm alg_;
  std::array<std::byte, max_digest_size> bytes_{};
};

// A streaming digest. update() never copies; failures inside OpenSSL are
// remembered and reported by finish().
class hasher {
public:
  static result<hasher> create(algorithm a) {
    hasher h(a);
    if (!h.ctx_ || EVP_DigestInit_ex(h.ctx_.get(), detail::evp(a), nullptr) != 1)
      return error(errc::crypto, "cannot initialise " + std::string(name(a)));
    return h;
  }

  algorithm alg() const noexcept { return alg_; }

  hasher& update(byte_span data) noexcept {
    if (ok_ && !data.empty()) ok_ = EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) == 1;
    return *this;
  }

  // Any range whose elements convert to byte_span (for example the byte
  // ranges of an Authenticode digest).
  template <class Range> hasher& update_all(const Range& spans) noexcept {
    for (const auto& s : spans) update(byte_span(s));
    return *this;
  }

  // The digest; the hasher is then reset for reuse.
  result<digest> finish() {
    digest d(alg_);
    unsigned int n = 0;
    bool done = ok_ &&
                EVP_DigestFinal_ex(ctx_.get(), reinterpret_cast<unsigned char*>(d.bytes_.data()),
                                   &n) == 1 &&
                n == digest_size(alg_);
    ok_ = EVP_DigestInit_ex(ctx_.get(), detail::evp(alg_), nullptr) == 1;
    if (!done) return error(errc::crypto, std::string(name(alg_)) + " digest failed");
    return d;
  }

private:
  explicit hasher(algorithm a) : alg_(a), ctx_(EVP_MD_CTX_new()) {}

  algorithm alg_;
  std::unique_ptr<EVP_MD_CTX, detail::md_ctx_free> ctx_;
  bool ok_ = true;
};

inline result<digest> compute(algorithm a, byte_span data) {
  UKIKIT_TRY_ASSIGN(hasher h, hasher::create(a));
  return h.update(data).finish();
}

template <class Range> result<digest> compute_all(algorithm a, const Range& spans) {
  UKIKIT_TRY_ASSIGN(hasher h, hasher::create(a));
  return h.update_all(spans).finish();
}

} // namespace ukikit::hash
