// kernel_fuzzer: kernel_facts() over x86 setup headers, arm64 Image headers
// and EFI zboot headers with their compressed payloads (output bounded to
// 4 MiB so that runs stay fast), with and without the x86 payload scan.
#include <ukikit/uki.hpp>

#include <cstddef>
#include <cstdint>

namespace {

void exercise(ukikit::byte_span in, bool x86_payload) {
  using namespace ukikit::uki;
  kernel_options options;
  options.max_decompressed = std::uint64_t{4} << 20;
  options.x86_payload = x86_payload;
  auto info = kernel_facts(in, options);
  if (!info) return;
  if (info->decompressed > options.max_decompressed * 2) __builtin_trap();
  for (const auto& v : info->versions) {
    if (v.version.size() > max_kernel_version_length) __builtin_trap();
    if (v.version.compare(0, v.uname.size(), v.uname) != 0) __builtin_trap();
    if (v.how.empty()) __builtin_trap();
  }
  if (info->format == kernel_format::efi_zboot && !info->zboot) __builtin_trap();
  if (info->format == kernel_format::x86_bzimage && !info->x86) __builtin_trap();
  if (info->format == kernel_format::arm64_image && !info->arm64) __builtin_trap();
  volatile std::size_t sink = 0;
  for (const auto& f : info->findings) sink = sink + f.text().size();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ukikit::byte_span in(reinterpret_cast<const std::byte*>(data), size);
  exercise(in, false);
  exercise(in, true);
  return 0;
}
