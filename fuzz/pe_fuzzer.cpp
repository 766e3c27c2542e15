// pe_fuzzer: the PE parser with its findings in every mode, every section
// span read, the CheckSum, the Authenticode ranges and digest, and the
// section editor planning and re-parsing an image.
#include <ukikit/authenticode.hpp>
#include <ukikit/pe.hpp>
#include <ukikit/pe_writer.hpp>

#include <cstddef>
#include <cstdint>

namespace {

// Touch every byte of a span so ASan sees any out-of-bounds view.
unsigned touch(ukikit::byte_span b) {
  unsigned sum = 0;
  for (std::byte x : b) sum += std::to_integer<unsigned>(x);
  return sum;
}

void exercise(ukikit::byte_span in, ukikit::pe::strictness mode) {
  using namespace ukikit;
  auto img = pe::parse(in, mode);
  if (!img) return;
  volatile unsigned sink = 0;
  for (const auto& s : img->sections) sink = sink + touch(s.raw) + touch(s.data());
  for (const auto& f : img->findings.kept()) {
    if (!f.code.starts_with("pe.")) __builtin_trap(); // every finding names its rule
    if (f.is_error() && mode != pe::strictness::strict) __builtin_trap(); // only strict refuses
    sink = sink + static_cast<unsigned>(f.text().size());
  }
  sink = sink + pe::compute_checksum(*img);
  if (auto r = authenticode::compute_ranges(*img)) {
    for (auto range : r->ranges) sink = sink + touch(range);
    auto d = authenticode::image_digest(*r, hash::algorithm::sha256);
    if (!d) __builtin_trap(); // the ranges were checked; hashing them cannot fail
  }
  if (mode == pe::strictness::permissive) {
    auto e = pe::editor::open(*img);
    if (!e) return;
    static const char payload[] = "console=ttyS0";
    if (!e->append(".cmdline", as_bytes(payload), pe::scn_mem_read | pe::scn_cnt_initialized_data))
      return;
    auto planned = e->build();
    if (!planned) return;
    auto bytes = planned->to_vector();
    if (bytes.size() != planned->size()) __builtin_trap();
    auto again = pe::parse(bytes, pe::strictness::permissive);
    if (!again || !again->find(".cmdline")) __builtin_trap(); // what we write, we read
    if (pe::compute_checksum(*again) != again->checksum) __builtin_trap();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ukikit::byte_span in(reinterpret_cast<const std::byte*>(data), size);
  exercise(in, ukikit::pe::strictness::strict);
  exercise(in, ukikit::pe::strictness::permissive);
  exercise(in, ukikit::pe::strictness::kernel); // no kernel reads PE: permissive
  return 0;
}
