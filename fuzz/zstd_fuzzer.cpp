// zstd_fuzzer: decodes arbitrary bytes as zstd with a 1 MiB output limit, and round-trips the
// input through the zstd encoder (level 1) and decoder.
#include "compress_fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ukikit::byte_span in = compress_fuzz::input(data, size);
  compress_fuzz::decode_any(ukikit::compress::format::zstd, in);
  compress_fuzz::round_trip(ukikit::compress::format::zstd, 1, in);
  return 0;
}
