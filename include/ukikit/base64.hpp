// base64 (RFC 4648 §4, the standard alphabet with padding): an encoder, and
// a strict decoder that accepts exactly one spelling per value.
#pragma once

#include "bytes.hpp"
#include "result.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ukikit {

namespace detail {
inline constexpr std::string_view base64_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

} // namespace detail

// RFC 4648 §4, with padding, no line breaks.
inline std::string base64_encode(byte_span in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < in.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, in.size() - i);
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 3; ++k)
      v = (v << 8) | (k < n ? std::to_integer<std::uint32_t>(in[i + k]) : 0u);
    for (std::size_t k = 0; k < 4; ++k)
      out += k <= n ? detail::base64_alphabet[(v >> (18 - 6 * k)) & 0x3f] : '=';
  }
  return out;
}

// Strict RFC 4648 §4: whole quanta, padding only at the end, no whitespace,
// and the unused bits of the last quantum zero (one encoding per value).
inline result<std::vector<std::byte>> base64_decode(std::string_view s, std::size_t max_size) {
  if (s.size() % 4 != 0)
    return error(errc::malformed,
                 "base64 length " + std::to_string(s.size()) + " is not a multiple of 4");
  if (s.size() / 4 * 3 > max_size + 2)
    return error(errc::limit_exceeded, "base64 data is longer than " + std::to_string(max_size) +
                                           " bytes (" + std::to_string(s.size()) + " characters)");
  std::vector<std::byte> out;
  out.reserve(s.size() / 4 * 3);
  for (std::size_t i = 0; i < s.size(); i += 4) {
    const bool last = i + 4 == s.size();
    const std::size_t pad = last ? (s[i + 3] == '=') + (s[i + 2] == '=' && s[i + 3] == '=') : 0;
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = s[i + k];
      const auto pos = detail::base64_alphabet.find(c);
      if (k >= 4 - pad) continue; // '=' already counted
      if (c == '=' || pos == std::string_view::npos)
        return error(errc::malformed, "not base64 at character " + std::to_string(i + k));
      v |= static_cast<std::uint32_t>(pos) << (18 - 6 * k);
    }
    const std::uint32_t unused_bits = pad == 2 ? 0xffffu : pad == 1 ? 0xffu : 0u;
    if (v & unused_bits)
      return error(errc::malformed,
                   "base64 has non-zero padding bits at character " + std::to_string(i + 3 - pad));
    for (std::size_t k = 0; k < 3 - pad; ++k)
      out.push_back(static_cast<std::byte>((v >> (16 - 8 * k)) & 0xff));
  }
  if (out.size() > max_size)
    return error(errc::limit_exceeded, "base64 data is longer than " + std::to_string(max_size) +
                                           " bytes (" + std::to_string(out.size()) + ")");
  return out;
}

} // namespace ukikit
