// Bytes: the one way ukikit touches input.
//
// - checked_add / checked_mul / checked_align_up for sizes and offsets read
//   from input (nullopt on wrap-around);
// - le<T> / be<T>: endian-explicit field types for on-disk structs, alignment
//   1, so a struct of them has exactly its on-disk size (pin it with
//   static_assert) and is loaded by copying bytes, never by reinterpret_cast;
// - subview(): a checked sub-span with an error that shows both numbers;
// - cursor: a bounds-checked reader over std::span<const std::byte> that
//   knows the absolute offset of its first byte, so its errors are absolute;
// - sink_ref: where a writer or decoder hands its output, chunk by chunk.
#pragma once

#include "result.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace ukikit {

using byte_span = std::span<const std::byte>;

inline byte_span as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
inline std::string_view as_chars(byte_span b) noexcept {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Lowercase hex of bytes.
inline std::string to_hex(byte_span b) {
  constexpr char digits[] = "0123456789abcdef";
  std::string out(b.size() * 2, '\0');
  for (std::size_t i = 0; i < b.size(); ++i) {
    auto v = std::to_integer<unsigned>(b[i]);
    out[2 * i] = digits[v >> 4];
    out[2 * i + 1] = digits[v & 0xf];
  }
  return out;
}

// Value of one hex digit, or -1. Accepts upper case only when asked.
constexpr int hex_digit(char c, bool allow_upper = false) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (allow_upper && c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// How many zero bytes `b` starts with. Padding in an initramfs can be
// gigabytes long, so this compares eight bytes at a time (32 per round,
// which compilers turn into vector loads): memory speed, not a byte loop.
inline std::size_t leading_zeros(byte_span b) noexcept {
  constexpr std::size_t word = sizeof(std::uint64_t), round = 4 * word;
  std::size_t i = 0;
  for (; b.size() - i >= round; i += round) {
    std::uint64_t w[4];
    std::memcpy(w, b.data() + i, round);
    if ((w[0] | w[1] | w[2] | w[3]) != 0) break;
  }
  for (; b.size() - i >= word; i += word) {
    std::uint64_t w;
    std::memcpy(&w, b.data() + i, word);
    if (w != 0) break;
  }
  while (i < b.size() && b[i] == std::byte{0}) ++i;
  return i;
}

// ---- text from input, for a terminal ------------------------------------------

namespace detail {
// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF), or 0.
constexpr std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned c = b(0);
  std::size_t n = 0;
  unsigned lo = 0x80, hi = 0xbf; // the range of the second byte
  if (c >= 0xc2 && c <= 0xdf) n = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;      // overlong
    else if (c == 0xed) hi = 0x9f; // surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;      // overlong
    else if (c == 0xf4) hi = 0x8f; // above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() - i < n || b(1) < lo || b(1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if ((b(k) & 0xc0) != 0x80) return 0;
  return n;
}
} // namespace detail

// Text from an input (a section name, a cmdline, a file name in an archive),
// made safe to print: control bytes (C0, DEL), C1 controls (U+0080-U+009F,
// which some terminals obey) and bytes that are not well-formed UTF-8 become
// \xNN, so that an ESC in a UKI cannot reach the terminal. Everything else,
// printable UTF-8 included, is kept; backslashes are kept too, so escaping
// text twice changes nothing. The text output of every tool goes through it.
inline std::string escape_controls(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  auto escape = [&](char c) {
    constexpr char digits[] = "0123456789abcdef";
    const auto v = static_cast<unsigned char>(c);
    out += "\\x";
    out += digits[v >> 4];
    out += digits[v & 0xf];
  };
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += text[i++];
      continue;
    }
    const std::size_t n = c >= 0x80 ? detail::utf8_sequence(text, i) : 0;
    const bool c1 = n == 2 && c == 0xc2 && static_cast<unsigned char>(text[i + 1]) < 0xa0;
    if (n == 0 || c1) {
      for (std::size_t k = 0; k < std::max<std::size_t>(n, 1); ++k) escape(text[i + k]);
      i += std::max<std::size_t>(n, 1);
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

// At most `max` bytes of `text`, escaped; a longer text ends with
// "…(N bytes)" so that a reader sees both its start and its length.
inline std::string excerpt(std::string_view text, std::size_t max = 64) {
  if (text.size() <= max) return escape_controls(text);
  return escape_controls(text.substr(0, max)) + "…(" + std::to_string(text.size()) + " bytes)";
}

// ---- checked arithmetic --------------------------------------------------

template <std::unsigned_integral T> constexpr std::optional<T> checked_add(T a, T b) noexcept {
  T r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

template <std::unsigned_integral T> constexpr std::optional<T> checked_mul(T a, T b) noexcept {
  T r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// Round v up to a multiple of align (any non-zero value; PE and cpio use
// powers of two). nullopt when align is zero or the result would wrap.
template <std::unsigned_integral T>
constexpr std::optional<T> checked_align_up(T v, T align) noexcept {
  if (align == 0) return std::nullopt;
  T rem = v % align;
  if (rem == 0) return v;
  return checked_add<T>(v, static_cast<T>(align - rem));
}

// ---- endian-explicit field types -------------------------------------------

namespace detail {
template <std::integral T, std::endian E> struct endian_field {
  std::array<std::byte, sizeof(T)> raw{};

  constexpr T value() const noexcept {
    using U = std::make_unsigned_t<T>;
    U v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      std::size_t idx = E == std::endian::little ? sizeof(T) - 1 - i : i;
      v = static_cast<U>((v << 8) | std::to_integer<U>(raw[idx]));
    }
    return static_cast<T>(v);
  }
  constexpr operator T() const noexcept { return value(); }

  constexpr void set(T value) noexcept {
    using U = std::make_unsigned_t<T>;
    auto v = static_cast<U>(value);
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      std::size_t idx = E == std::endian::little ? i : sizeof(T) - 1 - i;
      raw[idx] = static_cast<std::byte>(v & 0xff);
      v = static_cast<U>(v >> 8);
    }
  }
  constexpr endian_field& operator=(T value) noexcept {
    set(value);
    return *this;
  }
};
} // namespace detail

template <std::integral T> using le = detail::endian_field<T, std::endian::little>;
template <std::integral T> using be = detail::endian_field<T, std::endian::big>;

using le16 = le<std::uint16_t>;
using le32 = le<std::uint32_t>;
using le64 = le<std::uint64_t>;
using be16 = be<std::uint16_t>;
using be32 = be<std::uint32_t>;
using be64 = be<std::uint64_t>;
static_assert(sizeof(le16) == 2 && sizeof(le32) == 4 && sizeof(le64) == 8);
static_assert(alignof(le64) == 1 && alignof(be64) == 1);

// An on-disk record: trivially copyable with alignment 1, so its size is its
// on-disk size and copying bytes into it is the whole load.
template <class T>
concept record = std::is_trivially_copyable_v<T> && std::is_standard_layout_v<T> &&
                     alignof(T) == 1 &&
                 std::is_default_constructible_v<T>;

// Load a record from bytes the caller has already bounds-checked.
template <record T> T load(byte_span b) noexcept {
  T out{};
  std::memcpy(&out, b.data(), sizeof(T));
  return out;
}

// Store a record's bytes.
template <record T> std::span<const std::byte, sizeof(T)> bytes_of(const T& v) noexcept {
  return std::span<const std::byte, sizeof(T)>(reinterpret_cast<const std::byte*>(&v), sizeof(T));
}

// ---- checked sub-views -------------------------------------------------------

// [offset, offset + length) of data, or an error naming `what` and both
// numbers. `base` is the absolute offset of data[0], for the error.
inline result<byte_span> subview(byte_span data, std::uint64_t offset, std::uint64_t length,
                                 std::string_view what, std::uint64_t base = 0) {
  auto end = checked_add(offset, length);
  if (!end) {
    return error(errc::overflow,
                 std::string(what) + " size overflows (" + hex(offset) + " + " + hex(length) + ")",
                 base + offset);
  }
  if (*end > data.size()) {
    return error(errc::out_of_range,
                 std::string(what) + " extends past end of data (" + hex(offset) + " + " +
                     hex(length) + " > " + hex(data.size()) + ")",
                 base + (offset <= data.size() ? offset : data.size()));
  }
  return data.subspan(static_cast<std::size_t>(offset), static_cast<std::size_t>(length));
}

// A view of `count` consecutive records of type T; elements are loaded on
// access. Built only by cursor::array(), which checks count * sizeof(T).
template <record T> class record_view {
public:
  record_view() = default;
  explicit record_view(byte_span bytes) noexcept : bytes_(bytes) {}

  std::size_t size() const noexcept { return bytes_.size() / sizeof(T); }
  bool empty() const noexcept { return size() == 0; }
  T operator[](std::size_t i) const noexcept { return load<T>(bytes_.subspan(i * sizeof(T))); }
  byte_span bytes() const noexcept { return bytes_; }

  class iterator {
  public:
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    iterator(const record_view* v, std::size_t i) : v_(v), i_(i) {}
    T operator*() const { return (*v_)[i_]; }
    iterator& operator++() {
      ++i_;
      return *this;
    }
    iterator operator++(int) {
      auto t = *this;
      ++i_;
      return t;
    }
    bool operator==(const iterator& o) const { return i_ == o.i_; }

  private:
    const record_view* v_ = nullptr;
    std::size_t i_ = 0;
  };
  iterator begin() const { return {this, 0}; }
  iterator end() const { return {this, size()}; }

private:
  byte_span bytes_;
};

// ---- cursor ------------------------------------------------------------------

class cursor {
public:
  cursor() = default;
  // `base` is the absolute offset of data[0] in the outermost input.
  explicit cursor(byte_span data, std::uint64_t base = 0) noexcept : data_(data), base_(base) {}

  byte_span data() const noexcept { return data_; }
  std::size_t position() const noexcept { return pos_; }
  std::size_t remaining() const noexcept { return data_.size() - pos_; }
  bool at_end() const noexcept { return pos_ == data_.size(); }
  // Absolute offset of the next byte.
  std::uint64_t offset() const noexcept { return base_ + pos_; }
  std::uint64_t base() const noexcept { return base_; }
  byte_span rest() const noexcept { return data_.subspan(pos_); }

  result<void> seek(std::uint64_t position, std::string_view what = "seek") {
    if (position > data_.size()) {
      return error(errc::out_of_range,
                   std::string(what) + " past end of data (" + hex(position) + " > " +
                       hex(data_.size()) + ")",
                   base_ + data_.size());
    }
    pos_ = static_cast<std::size_t>(position);
    return {};
  }

  result<void> skip(std::uint64_t n, std::string_view what = "data") {
    UKIKIT_TRY(bytes(n, what));
    return {};
  }

  // The next n bytes as a span; the cursor moves past them.
  result<byte_span> bytes(std::uint64_t n, std::string_view what = "data") {
    if (n > remaining()) return truncated(what, n);
    byte_span out = data_.subspan(pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return out;
  }

  // The next n bytes without moving.
  result<byte_span> peek(std::uint64_t n, std::string_view what = "data") const {
    if (n > remaining()) return truncated(what, n);
    return data_.subspan(pos_, static_cast<std::size_t>(n));
  }

  // A record (a struct of le<>/be<> fields, or a single field).
  template <record T> result<T> read(std::string_view what = "record") {
    UKIKIT_TRY_ASSIGN(byte_span b, bytes(sizeof(T), what));
    return load<T>(b);
  }

  template <std::integral T> result<T> read_le(std::string_view what = "integer") {
    UKIKIT_TRY_ASSIGN(auto f, read<le<T>>(what));
    return f.value();
  }
  template <std::integral T> result<T> read_be(std::string_view what = "integer") {
    UKIKIT_TRY_ASSIGN(auto f, read<be<T>>(what));
    return f.value();
  }
  result<std::uint8_t> u8(std::string_view what = "byte") { return read_le<std::uint8_t>(what); }
  result<std::uint16_t> u16le(std::string_view what = "u16") {
    return read_le<std::uint16_t>(what);
  }
  result<std::uint32_t> u32le(std::string_view what = "u32") {
    return read_le<std::uint32_t>(what);
  }
  result<std::uint64_t> u64le(std::string_view what = "u64") {
    return read_le<std::uint64_t>(what);
  }
  result<std::uint16_t> u16be(std::string_view what = "u16") {
    return read_be<std::uint16_t>(what);
  }
  result<std::uint32_t> u32be(std::string_view what = "u32") {
    return read_be<std::uint32_t>(what);
  }
  result<std::uint64_t> u64be(std::string_view what = "u64") {
    return read_be<std::uint64_t>(what);
  }

  // `count` records of type T; checks count * sizeof(T) before multiplying.
  template <record T>
  result<record_view<T>> array(std::uint64_t count, std::string_view what = "table") {
    if (count > remaining() / sizeof(T)) {
      auto total = checked_mul<std::uint64_t>(count, sizeof(T));
      if (!total) {
        return error(errc::overflow,
                     std::string(what) + " size overflows (" + std::to_string(count) + " x " +
                         std::to_string(sizeof(T)) + " bytes)",
                     offset());
      }
      return truncated(what, *total);
    }
    UKIKIT_TRY_ASSIGN(byte_span b, bytes(count * sizeof(T), what));
    return record_view<T>(b);
  }

  // A fixed-width string field: n bytes, trailing NULs trimmed.
  result<std::string_view> fixed_string(std::uint64_t n, std::string_view what = "string") {
    UKIKIT_TRY_ASSIGN(byte_span b, bytes(n, what));
    std::string_view s = as_chars(b);
    auto end = s.find('\0');
    return end == std::string_view::npos ? s : s.substr(0, end);
  }

  // A NUL-terminated string of at most `max` bytes before the NUL; the
  // cursor moves past the NUL. Errors when no NUL is found in range.
  result<std::string_view> cstring(std::uint64_t max, std::string_view what = "string") {
    std::uint64_t window = max < remaining() ? max + 1 : remaining();
    std::string_view s = as_chars(data_.subspan(pos_, static_cast<std::size_t>(window)));
    auto nul = s.find('\0');
    if (nul == std::string_view::npos) {
      if (window > max) {
        return error(errc::limit_exceeded,
                     std::string(what) + " is longer than " + std::to_string(max) + " bytes",
                     offset());
      }
      return error(errc::truncated, std::string(what) + " has no terminating NUL", offset());
    }
    pos_ += nul + 1;
    return s.substr(0, nul);
  }

  // A sub-cursor over the next n bytes (absolute offsets kept); this cursor
  // moves past them.
  result<cursor> sub(std::uint64_t n, std::string_view what = "data") {
    std::uint64_t start = offset();
    UKIKIT_TRY_ASSIGN(byte_span b, bytes(n, what));
    return cursor(b, start);
  }

  // Move forward to the next multiple of `align` counted from the base.
  result<void> align(std::uint64_t alignment, std::string_view what = "padding") {
    auto target = checked_align_up<std::uint64_t>(pos_, alignment);
    if (!target) return error(errc::invalid_argument, "alignment must not be zero", offset());
    return skip(*target - pos_, what);
  }

private:
  error truncated(std::string_view what, std::uint64_t need) const {
    return error(errc::truncated,
                 std::string(what) + " is truncated (need " + hex(need) + " bytes, have " +
                     hex(remaining()) + ")",
                 offset());
  }

  byte_span data_;
  std::size_t pos_ = 0;
  std::uint64_t base_ = 0;
};

// ---- sinks ---------------------------------------------------------------------

// A non-owning reference to a callable `result<void>(byte_span chunk)`, like
// function_ref: the callable must outlive the call it is passed to. The chunk
// is valid only during the call; an error from the sink stops the work and is
// returned as is.
class sink_ref {
public:
  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, sink_ref> &&
             std::is_invocable_r_v<result<void>, std::remove_reference_t<F>&, byte_span>)
  sink_ref(F&& f)
  noexcept // NOLINT(google-explicit-constructor): converts like function_ref
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* object, byte_span chunk) -> result<void> {
          return (*static_cast<std::remove_reference_t<F>*>(object))(chunk);
        }) {}

  result<void> operator()(byte_span chunk) const { return call_(object_, chunk); }

private:
  void* object_;
  result<void> (*call_)(void*, byte_span);
};

} // namespace ukikit
