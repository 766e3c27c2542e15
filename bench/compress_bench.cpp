// Compression throughput: decoding zstd, xz and gzip into a discarding sink
// (what reading an initramfs or a layer costs), and zstd encoding at levels 3
// and 19. Bytes per second are decompressed bytes. Anchors: formats.md §4.5.
#include <ukikit/compress.hpp>

#include "../tests/support.hpp"

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

namespace cz = ukikit::compress;
using ukikit::byte_span;

constexpr std::size_t MiB = std::size_t{1} << 20;

using ukikit::test::sample_bytes;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "compress bench: %s\n", what.c_str());
  std::abort();
}

std::vector<std::byte> packed(const std::vector<std::byte>& original, const cz::encode_options& o) {
  auto out = cz::compress(original, o);
  if (!out) fail(out.error().message());
  return std::move(*out);
}

// Before timing: the packed input decodes to the original.
void check_round_trip(const std::vector<std::byte>& packed,
                      const std::vector<std::byte>& original) {
  auto back = cz::decompress(packed, {.max_output = original.size()});
  if (!back) fail(back.error().message());
  if (*back != original) fail("round trip mismatch");
}

void decode(benchmark::State& state, cz::format f, std::size_t size, int level) {
  auto original = sample_bytes(size);
  auto input = packed(original, {.fmt = f, .level = level});
  check_round_trip(input, original);
  std::uint64_t seen = 0;
  auto sink = [&seen](byte_span chunk) -> ukikit::result<void> {
    seen += chunk.size();
    return ukikit::success();
  };
  for (auto _ : state) {
    auto stats = cz::decode(f, input, {.max_output = size}, sink);
    if (!stats || stats->produced != size) fail("decode failed");
    benchmark::DoNotOptimize(seen);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(size));
  state.counters["ratio"] = static_cast<double>(size) / static_cast<double>(input.size());
}

void encode(benchmark::State& state, cz::format f, std::size_t size, int level) {
  auto original = sample_bytes(size);
  check_round_trip(packed(original, {.fmt = f, .level = level}), original);
  for (auto _ : state) {
    auto out = cz::compress(original, {.fmt = f, .level = level});
    if (!out) fail(out.error().message());
    benchmark::DoNotOptimize(out->data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(size));
}

// Decoders: the packed inputs are made once per benchmark with our encoders
// at the tools' default levels (zstd 3, xz 6, gzip 6).
void BM_zstd_decode_16MiB(benchmark::State& s) { decode(s, cz::format::zstd, 16 * MiB, 3); }
void BM_xz_decode_16MiB(benchmark::State& s) { decode(s, cz::format::xz, 16 * MiB, 6); }
void BM_gzip_decode_16MiB(benchmark::State& s) { decode(s, cz::format::gzip, 16 * MiB, 6); }

// Encoders: the level is the argument; level 19 runs on a smaller input.
void BM_zstd_encode_16MiB(benchmark::State& s) {
  encode(s, cz::format::zstd, 16 * MiB, static_cast<int>(s.range(0)));
}
void BM_zstd_encode_1MiB(benchmark::State& s) {
  encode(s, cz::format::zstd, MiB, static_cast<int>(s.range(0)));
}

} // namespace

BENCHMARK(BM_zstd_decode_16MiB)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_xz_decode_16MiB)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_gzip_decode_16MiB)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_zstd_encode_16MiB)->ArgName("level")->Arg(3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_zstd_encode_1MiB)->ArgName("level")->Arg(19)->Unit(benchmark::kMillisecond);
