// result<T> and error: how every ukikit parser reports bad input.
//
// Parsers never throw and never abort on bad input: they return an error that
// names what was wrong, why, and the absolute byte offset in the input where
// it was found. Printed, an error reads "what (why) at offset 0x1f0".
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace ukikit {

enum class errc : std::uint8_t {
  truncated = 1,     // input ends before a structure it announces
  out_of_range,      // an offset, size or count points outside its container
  overflow,          // arithmetic on sizes read from input would wrap
  malformed,         // bytes do not follow the format's grammar
  unsupported,       // valid, but a variant ukikit does not handle
  limit_exceeded,    // a safety limit (size, count, decompression) was hit
  checksum_mismatch, // a stored checksum or digest disagrees with the data
  io,                // the operating system refused a file operation
  invalid_argument,  // a caller (user or program) passed a bad value
  crypto,            // the crypto library failed
};

constexpr std::string_view errc_name(errc code) noexcept {
  switch (code) {
  case errc::truncated: return "truncated";
  case errc::out_of_range: return "out of range";
  case errc::overflow: return "overflow";
  case errc::malformed: return "malformed";
  case errc::unsupported: return "unsupported";
  case errc::limit_exceeded: return "limit exceeded";
  case errc::checksum_mismatch: return "checksum mismatch";
  case errc::io: return "i/o error";
  case errc::invalid_argument: return "invalid argument";
  case errc::crypto: return "crypto error";
  }
  return "unknown error";
}

// "0x1f0": how offsets and sizes appear in messages.
inline std::string hex(std::uint64_t v) {
  constexpr char digits[] = "0123456789abcdef";
  std::string out = "0x";
  int shift = 60;
  while (shift > 0 && ((v >> shift) & 0xf) == 0) shift -= 4;
  for (; shift >= 0; shift -= 4) out.push_back(digits[(v >> shift) & 0xf]);
  return out;
}

// An error: a code, the absolute offset in the input (if it has one), and a
// short lowercase context such as "section .initrd extends past end of file
// (0x4a000 + 0x200000 > 0x1f0000)".
class error {
public:
  static constexpr std::uint64_t no_offset = std::numeric_limits<std::uint64_t>::max();

  error(errc code, std::string context, std::uint64_t offset = no_offset)
      : code_(code), offset_(offset), context_(std::move(context)) {}

  errc code() const noexcept { return code_; }
  std::uint64_t offset() const noexcept { return offset_; }
  bool has_offset() const noexcept { return offset_ != no_offset; }
  const std::string& context() const noexcept { return context_; }

  // "what (why) at offset 0x…", or just the context when there is no offset.
  std::string message() const {
    if (!has_offset()) return context_;
    return context_ + " at offset " + hex(offset_);
  }

  // The same error seen from an enclosing container: offsets found inside a
  // sub-view become absolute, and the context is prefixed ("in .initrd: …").
  error rebased(std::uint64_t base) const {
    error e = *this;
    if (e.has_offset()) e.offset_ = base + e.offset_;
    return e;
  }
  error prefixed(std::string_view what) const {
    error e = *this;
    e.context_ = std::string(what) + ": " + e.context_;
    return e;
  }

private:
  errc code_;
  std::uint64_t offset_;
  std::string context_;
};

// Value or error. A minimal std::expected for C++20.
template <class T> class [[nodiscard]] result {
  static_assert(!std::is_same_v<std::remove_cv_t<T>, ukikit::error>);

public:
  using value_type = T;

  result(const T& v) : v_(std::in_place_index<0>, v) {}
  result(T&& v) : v_(std::in_place_index<0>, std::move(v)) {}
  template <class U>
    requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::remove_cvref_t<U>, T> &&
             !std::is_same_v<std::remove_cvref_t<U>, ukikit::error> &&
             !std::is_same_v<std::remove_cvref_t<U>, result>)
  result(U&& v) : v_(std::in_place_index<0>, std::forward<U>(v)) {}
  result(ukikit::error e) : v_(std::in_place_index<1>, std::move(e)) {}

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const ukikit::error& error() const& { return std::get<1>(v_); }
  ukikit::error&& error() && { return std::get<1>(std::move(v_)); }

private:
  std::variant<T, ukikit::error> v_;
};

template <> class [[nodiscard]] result<void> {
public:
  result() = default;
  result(ukikit::error e) : e_(std::move(e)) {}

  bool ok() const noexcept { return !e_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  void value() const {}

  const ukikit::error& error() const& { return *e_; }
  ukikit::error&& error() && { return std::move(*e_); }

private:
  std::optional<ukikit::error> e_;
};

inline result<void> success() { return {}; }

} // namespace ukikit

#define UKIKIT_CONCAT_INNER(a, b) a##b
#define UKIKIT_CONCAT(a, b) UKIKIT_CONCAT_INNER(a, b)

// UKIKIT_TRY(expr): return the error of a result<...> expression, if any.
#define UKIKIT_TRY(expr)                                                                           \
  do {                                                                                             \
    if (auto&& ukikit_try_r = (expr); !ukikit_try_r.ok()) return std::move(ukikit_try_r).error();  \
  } while (0)

// UKIKIT_TRY_ASSIGN(decl, expr): `decl = value of expr`, or return its error.
#define UKIKIT_TRY_ASSIGN(decl, expr)                                                              \
  UKIKIT_TRY_ASSIGN_IMPL(UKIKIT_CONCAT(ukikit_r_, __LINE__), decl, expr)
#define UKIKIT_TRY_ASSIGN_IMPL(tmp, decl, expr)                                                    \
  auto tmp = (expr);                                                                               \
  if (!tmp.ok()) return std::move(tmp).error();                                                    \
  decl = std::move(tmp).value()
