// base64_fuzzer: strict base64 decoding (.pcrsig `sig`, OCI descriptor
// `data`). Whatever decodes must encode back to the same text (one spelling
// per value: padding required, no whitespace), and never exceed the limit.
#include <ukikit/base64.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  constexpr std::size_t limit = 4096;
  auto decoded = ukikit::base64_decode(text, limit);
  if (!decoded) return 0;
  if (decoded->size() > limit) __builtin_trap();
  if (ukikit::base64_encode(*decoded) != text) __builtin_trap();
  return 0;
}
