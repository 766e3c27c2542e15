// json_fuzzer: the strict JSON reader (json.hpp) under tight limits. What it
// accepts must be written by dump() as text it accepts again, to an equal
// value and the same text (one spelling per value); what it refuses must
// say where (an offset inside the input).
#include <ukikit/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  ukikit::json::limits lim;
  lim.max_size = 1 << 16;
  lim.max_depth = 32;
  auto v = ukikit::json::parse(text, lim);
  if (!v) {
    if (v.error().has_offset() && v.error().offset() > size) __builtin_trap();
    return 0;
  }
  const std::string once = ukikit::json::dump(*v);
  ukikit::json::limits wide;
  wide.max_size = once.size() + 1;
  auto again = ukikit::json::parse(once, wide);
  if (!again || !(*again == *v) || ukikit::json::dump(*again) != once) __builtin_trap();
  return 0;
}
