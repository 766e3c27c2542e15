// lzma_fuzzer: decodes arbitrary bytes as lzma-alone (.lzma) with a 1 MiB output limit.
// ukikit does not write .lzma, so there is no round trip.
#include "compress_fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ukikit::byte_span in = compress_fuzz::input(data, size);
  compress_fuzz::decode_any(ukikit::compress::format::lzma, in);
  return 0;
}
