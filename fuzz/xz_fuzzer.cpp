// xz_fuzzer: decodes arbitrary bytes as xz with a 1 MiB output limit, on one thread and
// on two (the same outcome), and round-trips the input through the xz encoder (level 0)
// and decoder.
#include "compress_fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ukikit::byte_span in = compress_fuzz::input(data, size);
  compress_fuzz::decode_any(ukikit::compress::format::xz, in);
  compress_fuzz::same_on_threads(ukikit::compress::format::xz, in);
  compress_fuzz::round_trip(ukikit::compress::format::xz, 0, in);
  return 0;
}
