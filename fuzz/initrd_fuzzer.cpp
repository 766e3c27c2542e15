// initrd_fuzzer: the initramfs segment walker as the kernel reads an initrd,
// with decompression capped, in kernel and strict mode; every entry's name,
// data and symlink target is touched, and the report must agree with what
// the handler saw; its findings are notes with cpio codes and warnings with
// initrd codes, and it renders as JSON and text (report/initrd.hpp).
#include <ukikit/initrd.hpp>
#include <ukikit/report/initrd.hpp>

#include <cstddef>
#include <cstdint>

namespace {

struct touching_handler {
  std::uint64_t ends = 0, trailers = 0, sum = 0;
  ukikit::result<void> begin(const ukikit::cpio::entry& e) {
    for (char c : e.name) sum += static_cast<unsigned char>(c);
    return ukikit::success();
  }
  ukikit::result<void> data(const ukikit::cpio::entry&, ukikit::byte_span piece) {
    for (std::byte b : piece) sum += std::to_integer<unsigned>(b);
    return ukikit::success();
  }
  ukikit::result<bool> end(const ukikit::cpio::entry& e) {
    for (char c : e.link_target) sum += static_cast<unsigned char>(c);
    if (e.is_trailer()) ++trailers;
    else ++ends;
    return true;
  }
};

void exercise(ukikit::byte_span in, ukikit::cpio::strictness mode) {
  using namespace ukikit;
  initrd::walk_options o;
  o.mode = mode;
  o.max_output = std::uint64_t{16} << 20; // keep bombs cheap
  o.memlimit = std::uint64_t{64} << 20;
  touching_handler h;
  auto rep = initrd::walk(in, o, h);
  if (!rep) __builtin_trap(); // the handler never fails: input problems are report::failure
  std::uint64_t entries = 0, archives = 0, length = 0;
  for (const auto& s : rep->segments) {
    entries += s.entries;
    archives += s.archives;
    length += s.length;
    if (s.offset > in.size() || s.length > in.size() - s.offset) __builtin_trap();
    if (s.compression == compress::format::none && s.size != s.length) __builtin_trap();
  }
  if (entries != h.ends || archives != h.trailers) __builtin_trap();
  if (length + rep->padding > in.size()) __builtin_trap();
  // A walk that does not fail reads every byte: segments and padding (zero
  // runs are skipped many bytes at a time; none may be lost or read twice).
  if (!rep->failure && length + rep->padding != in.size()) __builtin_trap();
  // A raw archive cut short ends the walk at the end of the input.
  if (rep->truncated && (rep->failure || rep->truncated->code() != errc::truncated ||
                         rep->truncated->offset() != in.size()))
    __builtin_trap();
  volatile std::uint64_t sink = h.sum;
  for (const auto& n : rep->notices) {
    if (n.level != severity::note || !n.code.starts_with("cpio.")) __builtin_trap();
    sink = sink + n.text().size();
  }
  for (const auto& w : rep->warnings) {
    if (w.level != severity::warning || !w.code.starts_with("initrd.")) __builtin_trap();
    sink = sink + w.text().size();
  }
  if (rep->failure) sink = sink + rep->failure->message().size();
  // The report as the tools print it: JSON (names need not be UTF-8) and text.
  const auto j = report::to_json(*rep);
  if (j["findings"].size() != rep->notices.kept().size() + rep->warnings.kept().size())
    __builtin_trap();
  sink = sink + j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace).size();
  sink = sink + report::render_text(*rep, "  ").size();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ukikit::byte_span in(reinterpret_cast<const std::byte*>(data), size);
  exercise(in, ukikit::cpio::strictness::kernel);
  exercise(in, ukikit::cpio::strictness::strict);
  return 0;
}
