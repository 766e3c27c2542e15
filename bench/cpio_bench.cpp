// cpio and initramfs throughput: parsing a raw newc archive in one span (the
// zero-copy reader), walking a zstd initramfs as the kernel reads it (the
// cost of `ukikit initrd list`), and writing an archive (the cost of
// `ukikit initrd create` before compression). Bytes per second are archive
// bytes, uncompressed. The goals are in issue 5 and bench/compare_initrd.sh.
#include <ukikit/compress.hpp>
#include <ukikit/cpio.hpp>
#include <ukikit/cpio_writer.hpp>
#include <ukikit/initrd.hpp>

#include "../tests/support.hpp"

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using ukikit::byte_span;
namespace cpio = ukikit::cpio;

constexpr std::size_t MiB = std::size_t{1} << 20;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "cpio bench: %s\n", what.c_str());
  std::abort();
}

// An archive of `total` bytes of file data in files of `file_size` bytes,
// one directory per 64 files, like a distribution initramfs.
struct sample {
  std::vector<std::byte> archive;
  std::size_t files = 0;
};

sample make_archive(std::size_t total, std::size_t file_size) {
  sample s;
  const auto data = ukikit::test::sample_bytes(total); // each file its own slice
  auto sink = [&s](byte_span b) -> ukikit::result<void> {
    s.archive.insert(s.archive.end(), b.begin(), b.end());
    return ukikit::success();
  };
  auto w = cpio::writer::create({}, sink);
  if (!w) fail(w.error().message());
  cpio::entry_fields dir{.mode = 040755, .nlink = 2};
  cpio::entry_fields reg{.mode = 0100644};
  for (std::size_t i = 0; (i + 1) * file_size <= total; ++i) {
    const std::string d = "usr/lib/d" + std::to_string(i / 64);
    if (i % 64 == 0 && !w->add(d, dir, {})) fail("add dir");
    reg.ino = i + 1;
    const byte_span slice = byte_span(data).subspan(i * file_size, file_size);
    if (!w->add(d + "/f" + std::to_string(i) + ".ko", reg, slice)) fail("add file");
    ++s.files;
  }
  if (!w->finish()) fail("finish");
  return s;
}

struct counter {
  std::uint64_t entries = 0, bytes = 0;
  ukikit::result<void> begin(const cpio::entry&) { return ukikit::success(); }
  ukikit::result<void> data(const cpio::entry&, byte_span piece) {
    bytes += piece.size();
    return ukikit::success();
  }
  ukikit::result<bool> end(const cpio::entry& e) {
    if (!e.is_trailer()) ++entries;
    return true;
  }
};

void BM_cpio_list_64MiB(benchmark::State& state) {
  const auto s = make_archive(64 * MiB, 64 * 1024);
  for (auto _ : state) {
    cpio::reader r(s.archive);
    std::size_t n = 0;
    for (;;) {
      auto e = r.next();
      if (!e) fail(e.error().message());
      if (!*e) break;
      ++n;
      benchmark::DoNotOptimize((*e)->data.data());
    }
    if (n < s.files) fail("entries missing");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * s.archive.size()));
}
BENCHMARK(BM_cpio_list_64MiB)->Unit(benchmark::kMillisecond);

void BM_initrd_list_zstd_64MiB(benchmark::State& state) {
  const auto s = make_archive(64 * MiB, 64 * 1024);
  auto packed = ukikit::compress::compress(s.archive, {.fmt = ukikit::compress::format::zstd});
  if (!packed) fail(packed.error().message());
  for (auto _ : state) {
    counter c;
    auto rep = ukikit::initrd::walk(*packed, {}, c);
    if (!rep || rep->failure || rep->segments.size() != 1) fail("walk failed");
    if (c.entries < s.files) fail("entries missing");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * s.archive.size()));
}
BENCHMARK(BM_initrd_list_zstd_64MiB)->Unit(benchmark::kMillisecond);

// Zero padding after an archive, as a hostile or careless initramfs has it:
// the walker must skip it at memory speed (issue 12: 8 GiB of zeros in a
// 263 KiB zstd file took 29 s to list). Raw: padding between segments;
// zstd: padding between archives inside one stream.
std::vector<std::byte> padded(std::size_t zeros) {
  auto out = make_archive(MiB, 64 * 1024).archive;
  out.resize(out.size() + zeros);
  return out;
}

void check_padding(const ukikit::result<ukikit::initrd::report>& rep, std::size_t files) {
  if (!rep || rep->failure || rep->segments.size() != 1 || rep->entries() < files)
    fail("walk of the padded archive failed");
}

void BM_initrd_list_raw_padding_256MiB(benchmark::State& state) {
  const auto input = padded(256 * MiB);
  const std::size_t files = make_archive(MiB, 64 * 1024).files;
  for (auto _ : state) {
    auto rep = ukikit::initrd::examine(input);
    check_padding(rep, files);
    if (rep->padding != 256 * MiB) fail("padding not counted");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * input.size()));
}
BENCHMARK(BM_initrd_list_raw_padding_256MiB)->Unit(benchmark::kMillisecond);

void BM_initrd_list_zstd_padding_256MiB(benchmark::State& state) {
  const auto input = padded(256 * MiB);
  const std::size_t files = make_archive(MiB, 64 * 1024).files;
  auto packed = ukikit::compress::compress(input, {.fmt = ukikit::compress::format::zstd});
  if (!packed) fail(packed.error().message());
  for (auto _ : state) {
    auto rep = ukikit::initrd::examine(*packed);
    check_padding(rep, files);
    if (rep->segments[0].size != input.size()) fail("padding not decompressed");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * input.size()));
}
BENCHMARK(BM_initrd_list_zstd_padding_256MiB)->Unit(benchmark::kMillisecond);

void BM_cpio_write_64MiB(benchmark::State& state) {
  const auto data = ukikit::test::sample_bytes(64 * 1024);
  std::uint64_t total = 0;
  for (auto _ : state) {
    std::uint64_t written = 0;
    auto sink = [&written](byte_span b) -> ukikit::result<void> {
      written += b.size();
      benchmark::DoNotOptimize(b.data());
      return ukikit::success();
    };
    auto w = cpio::writer::create({}, sink);
    if (!w) fail(w.error().message());
    cpio::entry_fields reg{.mode = 0100644};
    for (std::size_t i = 0; i < 1024; ++i)
      if (!w->add("usr/lib/f" + std::to_string(i), reg, data)) fail("add");
    if (!w->finish()) fail("finish");
    total = written;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * total));
}
BENCHMARK(BM_cpio_write_64MiB)->Unit(benchmark::kMillisecond);

} // namespace
