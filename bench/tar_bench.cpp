// tar and layer throughput: listing a raw layer in one span (the zero-copy
// reader), listing a raw layer file (pread header by header; the cost of
// `ukikit layer list` on a raw layer), listing a gzip
// layer (decode + push parser), writing a layer from members in memory and
// from a tree of files (walk, plan, mapped data; the cost of `ukikit layer
// create` before compression). Bytes per second are tar bytes, uncompressed.
// The goals are in issue 14 and bench/compare_layer.sh.
#include <ukikit/compress.hpp>
#include <ukikit/file.hpp>
#include <ukikit/report/layer.hpp>
#include <ukikit/tar.hpp>
#include <ukikit/tar_writer.hpp>

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
namespace tar = ukikit::tar;

constexpr std::size_t MiB = std::size_t{1} << 20;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "tar bench: %s\n", what.c_str());
  std::abort();
}

// Members for `total` bytes of file data in files of `file_size` bytes, one
// directory per 64 files, like a distribution's /usr; the data are slices of
// `data`.
tar::member directory(std::string path) {
  tar::member dir;
  dir.path = std::move(path);
  dir.type = tar::entry_type::directory;
  dir.mode = 0755;
  return dir;
}

std::vector<tar::member> make_members(const std::vector<std::byte>& data, std::size_t file_size) {
  std::vector<tar::member> ms{directory("usr"), directory("usr/lib")};
  for (std::size_t i = 0; (i + 1) * file_size <= data.size(); ++i) {
    const std::string d = "usr/lib/d" + std::to_string(i / 64);
    if (i % 64 == 0) ms.push_back(directory(d));
    tar::member f;
    f.path = d + "/f" + std::to_string(i) + ".so";
    f.mode = 0644;
    f.size = file_size;
    f.data = byte_span(data).subspan(i * file_size, file_size);
    ms.push_back(f);
  }
  return ms;
}

std::vector<std::byte> make_archive(const std::vector<std::byte>& data, std::size_t file_size,
                                    std::size_t& entries) {
  auto plan = tar::make_plan(make_members(data, file_size));
  if (!plan) fail(plan.error().message());
  entries = plan->members.size();
  std::vector<std::byte> out;
  out.reserve(plan->size);
  auto sink = [&out](byte_span b) -> ukikit::result<void> {
    out.insert(out.end(), b.begin(), b.end());
    return ukikit::success();
  };
  if (!tar::write(*plan, sink)) fail("write");
  return out;
}

void BM_tar_list_256MiB(benchmark::State& state) {
  const auto data = ukikit::test::sample_bytes(256 * MiB);
  std::size_t entries = 0;
  const auto archive = make_archive(data, 32 * 1024, entries);
  for (auto _ : state) {
    tar::reader r(archive);
    std::size_t n = 0;
    for (;;) {
      auto e = r.next();
      if (!e) fail(e.error().message());
      if (!*e) break;
      ++n;
      benchmark::DoNotOptimize((*e)->data.data());
    }
    if (n != entries) fail("entries missing");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * archive.size()));
}
BENCHMARK(BM_tar_list_256MiB)->Unit(benchmark::kMillisecond);

// `ukikit layer list` on a raw layer file (in the page cache): headers read
// with pread, the data skipped, the tar -t text made.
void BM_layer_list_file_256MiB(benchmark::State& state) {
  const auto data = ukikit::test::sample_bytes(256 * MiB);
  std::size_t entries = 0;
  const auto archive = make_archive(data, 32 * 1024, entries);
  ukikit::test::temp_dir dir;
  ukikit::test::write_file(dir / "layer.tar", archive);
  auto in = ukikit::file::read_file::open(dir / "layer.tar");
  if (!in) fail(in.error().message());
  for (auto _ : state) {
    std::string text;
    auto rep =
        ukikit::report::list_layer_text(*in, {}, ukikit::report::listing_format::names, text);
    if (!rep || text.empty()) fail("listing failed");
    benchmark::DoNotOptimize(text.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * archive.size()));
}
BENCHMARK(BM_layer_list_file_256MiB)->Unit(benchmark::kMillisecond);

void BM_layer_list_gzip_64MiB(benchmark::State& state) {
  const auto data = ukikit::test::sample_bytes(64 * MiB);
  std::size_t entries = 0;
  const auto archive = make_archive(data, 32 * 1024, entries);
  auto packed = ukikit::compress::compress(archive, {.fmt = ukikit::compress::format::gzip});
  if (!packed) fail(packed.error().message());
  for (auto _ : state) {
    auto rep = ukikit::report::list_layer(*packed);
    if (!rep || rep->entries.size() != entries) fail("listing failed");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * archive.size()));
}
BENCHMARK(BM_layer_list_gzip_64MiB)->Unit(benchmark::kMillisecond);

// Plan and write, from members whose data is in memory, into a counting sink.
void BM_tar_write_64MiB(benchmark::State& state) {
  const auto data = ukikit::test::sample_bytes(64 * MiB);
  const auto members = make_members(data, 32 * 1024);
  std::uint64_t total = 0;
  for (auto _ : state) {
    auto plan = tar::make_plan(members);
    if (!plan) fail(plan.error().message());
    std::uint64_t written = 0;
    auto sink = [&written](byte_span b) -> ukikit::result<void> {
      written += b.size();
      benchmark::DoNotOptimize(b.data());
      return ukikit::success();
    };
    auto n = tar::write(*plan, sink);
    if (!n || written != plan->size) fail("write");
    total = written;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * total));
}
BENCHMARK(BM_tar_write_64MiB)->Unit(benchmark::kMillisecond);

// Walk a tree of real files (in the page cache), plan and write it, reading
// every data byte (the sink sums it, as a hash or an encoder would read it).
void BM_tar_write_tree_64MiB(benchmark::State& state) {
  ukikit::test::temp_dir dir;
  const auto data = ukikit::test::sample_bytes(64 * MiB);
  for (const auto& m : make_members(data, 32 * 1024)) {
    if (m.type == tar::entry_type::directory) std::filesystem::create_directories(dir / m.path);
    else ukikit::test::write_file(dir / m.path, m.data);
  }
  std::uint64_t total = 0;
  for (auto _ : state) {
    ukikit::finding_log log;
    auto ms = tar::walk_tree(dir.path(), {}, log);
    if (!ms) fail(ms.error().message());
    auto plan = tar::make_plan(std::move(*ms));
    if (!plan) fail(plan.error().message());
    std::uint64_t written = 0, sum = 0;
    auto sink = [&](byte_span b) -> ukikit::result<void> {
      written += b.size();
      for (std::size_t i = 0; i < b.size(); i += 4096) sum += std::to_integer<unsigned>(b[i]);
      return ukikit::success();
    };
    if (!tar::write(*plan, sink) || written != plan->size) fail("write");
    benchmark::DoNotOptimize(sum);
    total = written;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * total));
}
BENCHMARK(BM_tar_write_tree_64MiB)->Unit(benchmark::kMillisecond);

} // namespace
