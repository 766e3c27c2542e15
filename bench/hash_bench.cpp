// Hashing throughput: ukikit::hash::hasher over one big span and over 16 KiB
// pieces (the block size `openssl speed -bytes 16384` uses).
#include <ukikit/hash.hpp>

#include <benchmark/benchmark.h>

#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace ukikit;

std::vector<std::byte> pattern(std::size_t n) {
  std::vector<std::byte> v(n);
  std::uint32_t x = 0x12345678;
  for (auto& b : v) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<std::byte>(x >> 24);
  }
  return v;
}

// Before timing: our streaming digest must equal OpenSSL's one-shot EVP_Digest.
void check(hash::algorithm a, byte_span data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, hash::detail::evp(a), nullptr);
  auto ours = hash::compute(a, data);
  if (!ours || ours->size() != n || std::memcmp(ours->bytes().data(), md, n) != 0) {
    std::fprintf(stderr, "hash bench: %s digest mismatch\n", std::string(hash::name(a)).c_str());
    std::abort();
  }
}

void run(benchmark::State& state, hash::algorithm a, std::size_t size, std::size_t piece) {
  auto data = pattern(size);
  check(a, data);
  auto h = hash::hasher::create(a);
  if (!h) std::abort();
  byte_span all(data);
  for (auto _ : state) {
    for (std::size_t off = 0; off < all.size(); off += piece)
      h->update(all.subspan(off, std::min(piece, all.size() - off)));
    auto d = h->finish();
    benchmark::DoNotOptimize(d);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(size));
}

constexpr std::size_t MiB = 1 << 20;

void BM_sha256_hash_1MiB(benchmark::State& s) { run(s, hash::algorithm::sha256, MiB, MiB); }
void BM_sha256_hash_64MiB(benchmark::State& s) {
  run(s, hash::algorithm::sha256, 64 * MiB, 64 * MiB);
}
void BM_sha256_hash_64MiB_in_16KiB(benchmark::State& s) {
  run(s, hash::algorithm::sha256, 64 * MiB, 16384);
}
void BM_sha512_hash_64MiB(benchmark::State& s) {
  run(s, hash::algorithm::sha512, 64 * MiB, 64 * MiB);
}

BENCHMARK(BM_sha256_hash_1MiB);
BENCHMARK(BM_sha256_hash_64MiB)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_sha256_hash_64MiB_in_16KiB)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_sha512_hash_64MiB)->Unit(benchmark::kMillisecond);

} // namespace
