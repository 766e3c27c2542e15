// Authenticode digest throughput over a synthetic PE image: a minimal
// PE32+ header built here and one large section, hashed through the same
// range list ukiverify uses.
#include <ukikit/authenticode.hpp>
#include <ukikit/pe.hpp>

#include <benchmark/benchmark.h>

#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

using namespace ukikit;

// A PE32+ image: headers in the first 0x400 bytes, one section of `payload`
// bytes after them.
std::vector<std::byte> make_image(std::size_t payload) {
  constexpr std::size_t headers = 0x400, lfanew = 0x80;
  std::vector<std::byte> file(headers + payload);
  pe::dos_header dos{};
  dos.e_magic = pe::dos_magic;
  dos.e_lfanew = lfanew;
  pe::coff_header coff{};
  coff.machine = pe::machine_x86_64;
  coff.number_of_sections = 1;
  coff.size_of_optional_header = sizeof(pe::optional_header64) + 16 * sizeof(pe::data_directory);
  pe::optional_header64 opt{};
  opt.magic = pe::pe32plus_magic;
  opt.section_alignment = 0x1000;
  opt.file_alignment = 0x200;
  opt.size_of_headers = headers;
  opt.size_of_image =
      static_cast<std::uint32_t>(0x1000 + ((payload + 0xfff) & ~std::size_t{0xfff}));
  opt.subsystem = pe::subsystem_efi_application;
  opt.number_of_rva_and_sizes = 16;
  pe::section_header sec{};
  std::memcpy(sec.name.data(), ".initrd", 7);
  sec.virtual_size = static_cast<std::uint32_t>(payload);
  sec.virtual_address = 0x1000;
  sec.size_of_raw_data = static_cast<std::uint32_t>(payload);
  sec.pointer_to_raw_data = headers;
  sec.characteristics = pe::scn_mem_read | pe::scn_cnt_initialized_data;
  auto put = [&](std::size_t at, auto bytes) {
    std::copy(bytes.begin(), bytes.end(), file.begin() + at);
  };
  put(0, bytes_of(dos));
  le32 sig{};
  sig = pe::pe_signature;
  put(lfanew, bytes_of(sig));
  put(lfanew + 4, bytes_of(coff));
  put(lfanew + 24, bytes_of(opt));
  put(lfanew + 24 + coff.size_of_optional_header.value(), bytes_of(sec));
  std::uint32_t x = 1;
  for (std::size_t i = headers; i < file.size(); ++i) {
    x = x * 1664525u + 1013904223u;
    file[i] = static_cast<std::byte>(x >> 24);
  }
  return file;
}

void BM_authenticode_digest_200MiB(benchmark::State& state) {
  const auto file = make_image(200u << 20);
  auto img = pe::parse(file, pe::strictness::strict);
  if (!img || img->findings.has_errors()) {
    std::fprintf(stderr, "authenticode bench: synthetic image does not parse\n");
    std::abort();
  }
  // Before timing: the digest equals SHA-256 over the file minus the
  // CheckSum field and the certificate-table entry (the section is
  // contiguous and 8-byte aligned), computed with OpenSSL directly.
  const std::size_t cs = static_cast<std::size_t>(img->checksum_offset());
  const std::size_t dd = static_cast<std::size_t>(img->security_directory_offset());
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned char md[32];
  unsigned n = 0;
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx, file.data(), cs);
  EVP_DigestUpdate(ctx, file.data() + cs + 4, dd - cs - 4);
  EVP_DigestUpdate(ctx, file.data() + dd + 8, file.size() - dd - 8);
  EVP_DigestFinal_ex(ctx, md, &n);
  EVP_MD_CTX_free(ctx);
  auto d = authenticode::image_digest(*img, hash::algorithm::sha256);
  if (!d || std::memcmp(d->bytes().data(), md, 32) != 0) {
    std::fprintf(stderr, "authenticode bench: digest mismatch\n");
    std::abort();
  }
  for (auto _ : state) {
    auto r = authenticode::image_digest(*img, hash::algorithm::sha256);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(file.size()));
}
BENCHMARK(BM_authenticode_digest_200MiB)->Unit(benchmark::kMillisecond);

void BM_pe_parse_headers(benchmark::State& state) {
  const auto file = make_image(1u << 20);
  for (auto _ : state) {
    auto img = pe::parse(file, pe::strictness::strict);
    benchmark::DoNotOptimize(img);
  }
}
BENCHMARK(BM_pe_parse_headers);

} // namespace
