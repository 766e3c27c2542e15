// Shared body of the compression fuzzers (zstd, xz, lzma, gzip): decode
// arbitrary bytes into a discarding sink with a small output limit and check
// what decode() promises (for xz: the same on one thread and on two), then
// round-trip the input through our encoder.
// Any broken promise is __builtin_trap(), so libFuzzer and the replay main
// both stop on it.
#pragma once

#include <ukikit/compress.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace compress_fuzz {

namespace cz = ukikit::compress;
using ukikit::byte_span;

// Small limits keep each run fast and bounded: 1 MiB of output, 16 MiB of
// liblzma memory, zstd windows up to 2^24.
inline constexpr std::uint64_t max_output = std::uint64_t{1} << 20;
inline constexpr std::uint64_t memlimit = std::uint64_t{16} << 20;
inline constexpr unsigned zstd_window_log_max = 24;

inline byte_span input(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const std::byte*>(data), size};
}

inline void check(bool ok) {
  if (!ok) __builtin_trap();
}

// Decodes `in`, concatenated or not, and checks the stats against what the
// sink saw and against the input.
inline void decode_any(cz::format f, byte_span in) {
  for (bool concatenated : {true, false}) {
    cz::decode_options options{.max_output = max_output,
                               .memlimit = memlimit,
                               .zstd_window_log_max = zstd_window_log_max,
                               .concatenated = concatenated};
    std::uint64_t seen = 0;
    auto sink = [&seen](byte_span chunk) -> ukikit::result<void> {
      check(!chunk.empty() && chunk.size() <= cz::chunk_size);
      seen += chunk.size();
      return ukikit::success();
    };
    auto r = cz::decode(f, in, options, sink);
    check(seen <= max_output);
    if (r.ok()) {
      check(r->fmt == f && r->produced == seen && r->consumed <= in.size());
      check(r->streams > 0 || f == cz::format::zstd);
      check(concatenated || r->streams <= 1);
    } else {
      check(!r.error().context().empty());
      check(!r.error().has_offset() || r.error().offset() <= in.size());
    }
  }
}

// What one decode gave: the output, and the stats or the error.
struct outcome {
  std::vector<std::byte> out;
  ukikit::result<cz::decode_stats> r = ukikit::error(ukikit::errc::invalid_argument, "not run");
};

inline outcome decode_on(cz::format f, byte_span in, unsigned threads) {
  cz::decode_options options{.max_output = max_output,
                             .memlimit = memlimit,
                             .zstd_window_log_max = zstd_window_log_max,
                             .threads = threads};
  outcome o;
  o.r = cz::decode(f, in, options, [&o](byte_span chunk) -> ukikit::result<void> {
    o.out.insert(o.out.end(), chunk.begin(), chunk.end());
    return ukikit::success();
  });
  return o;
}

// Decoding on several threads (liblzma's threaded xz decoder) gives what one
// thread gives: the same bytes, stats, error, message and offset.
inline void same_on_threads(cz::format f, byte_span in) {
  const outcome one = decode_on(f, in, 1), two = decode_on(f, in, 2);
  check(one.out == two.out);
  check(one.r.ok() == two.r.ok());
  if (one.r.ok()) {
    check(one.r->consumed == two.r->consumed && one.r->produced == two.r->produced &&
          one.r->streams == two.r->streams);
  } else {
    const ukikit::error &a = one.r.error(), &b = two.r.error();
    check(a.code() == b.code() && a.context() == b.context() && a.has_offset() == b.has_offset());
    check(!a.has_offset() || a.offset() == b.offset());
  }
}

// Compresses `in` at `level`, decodes it with our decoder, and compares.
inline void round_trip(cz::format f, int level, byte_span in) {
  auto packed = cz::compress(in, {.fmt = f, .level = level});
  check(packed.ok());
  check(cz::detect(*packed) == f);
  auto back = cz::decompress(*packed, {.max_output = in.size()});
  check(back.ok());
  check(std::equal(back->begin(), back->end(), in.begin(), in.end()));
}

} // namespace compress_fuzz
