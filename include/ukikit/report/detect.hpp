// Input detection: what a file is, from its bytes. The tools decide with it
// how to read a file (a PE image or UKI, or an initramfs, raw or
// compressed), and so can an embedder:
//
//   auto what = ukikit::report::detect(bytes);
//   if (what.kind == input_kind::pe || what.kind == input_kind::bad_pe) …  // read as PE
//   else …                                                            // as initramfs
//
// and initrd_bytes() gives the initramfs of a file: the .initrd section of a
// UKI, else the whole file.
#pragma once

#include "../bytes.hpp"
#include "../compress/common.hpp"
#include "../cpio.hpp"
#include "../pe.hpp"
#include "../result.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

namespace ukikit::report {

enum class input_kind : std::uint8_t {
  pe,         // 'MZ' and a PE image pe::parse reads: a PE image or a UKI
  bad_pe,     // 'MZ', but not a PE image pe::parse reads (a DOS program, a
              // damaged PE): tools that read PE images report why
  cpio,       // a cpio header: a raw cpio archive or initramfs
  compressed, // a compressed stream (compress::detect): a compressed initramfs
  unknown,    // none of these (an initramfs walk says why the kernel would stop)
};

constexpr std::string_view name(input_kind k) noexcept {
  switch (k) {
  case input_kind::pe: return "pe";
  case input_kind::bad_pe: return "bad-pe";
  case input_kind::cpio: return "cpio";
  case input_kind::compressed: return "compressed";
  case input_kind::unknown: return "unknown";
  }
  return "unknown";
}

struct detection {
  input_kind kind = input_kind::unknown;
  std::optional<cpio::format> cpio_format;               // kind cpio: which format
  compress::format compression = compress::format::none; // kind compressed: which
  std::optional<error> pe_error;                         // kind bad_pe: why pe::parse refused

  // 'MZ': a file the tools read as a PE image (pe or bad_pe).
  bool starts_as_pe() const noexcept {
    return kind == input_kind::pe || kind == input_kind::bad_pe;
  }
  // A file the tools read as an initramfs: everything that is not 'MZ'.
  bool initramfs() const noexcept { return !starts_as_pe(); }
};

// The DOS header's magic, "MZ", at the start of every PE image.
inline constexpr std::string_view mz_magic = "MZ";

// What `bytes` (a whole file) is. A PE image is parsed (headers and section
// table only, permissively) to tell pe from bad_pe; the other kinds are told
// by their magic at offset 0.
inline detection detect(byte_span bytes) {
  detection d;
  if (as_chars(bytes).starts_with(mz_magic)) {
    auto img = pe::parse(bytes, pe::strictness::permissive);
    if (img) {
      d.kind = input_kind::pe;
    } else {
      d.kind = input_kind::bad_pe;
      d.pe_error = img.error();
    }
    return d;
  }
  if (auto f = cpio::detect(bytes)) {
    d.kind = input_kind::cpio;
    d.cpio_format = f;
    return d;
  }
  if (auto c = compress::detect(bytes); c != compress::format::none) {
    d.kind = input_kind::compressed;
    d.compression = c;
  }
  return d;
}

// Whether the kernel would find an initramfs in `bytes` at all: nothing but
// zero padding, or zero padding and then a cpio header or a compressed
// stream (the start of a file of kind unknown is neither: a text file, an
// ELF binary). A tool that reads several kinds of file names such a file as
// none of them instead of walking it as an initramfs of 0 segments.
inline bool looks_like_initramfs(byte_span bytes) {
  std::size_t i = 0;
  while (i < bytes.size() && bytes[i] == std::byte{0}) ++i;
  if (i == bytes.size()) return true;
  const byte_span rest = bytes.subspan(i);
  return cpio::detect(rest).has_value() || compress::detect(rest) != compress::format::none;
}

// The initramfs bytes of a file: the .initrd section of a PE image (a UKI),
// else the whole file. A file that starts as a PE image but is not one
// pe::parse reads, or has no .initrd section, is an error.
inline result<byte_span> initrd_bytes(byte_span file) {
  if (!as_chars(file).starts_with(mz_magic)) return file;
  UKIKIT_TRY_ASSIGN(auto img, pe::parse(file, pe::strictness::permissive));
  const pe::section* s = img.find(".initrd");
  if (s == nullptr) return error(errc::invalid_argument, "PE image without an .initrd section");
  return s->data();
}

} // namespace ukikit::report
