// Kernel facts: what a Linux kernel image (a UKI's .linux, or a bare
// vmlinuz) says about itself: its format, its version string and the
// `uname -r` part of it, and where each was found.
// Included by ukikit/uki.hpp; include that instead.
//
// Three formats (ukify's uname detection, reference/uki-signing-pcr.md §2.5,
// reads the same headers):
// - EFI zboot (arm64, riscv64, loongarch64 with CONFIG_EFI_ZBOOT): "MZ",
//   "zimg" at 4, the compressed payload's offset and size, and the name of
//   its compression. The version is the "Linux version X.Y… (" banner in the
//   decompressed payload, which is decoded with an output limit and only as
//   far as the banner.
// - x86 bzImage: the setup header (Documentation/arch/x86/boot.rst) with
//   "HdrS" at 0x202 and kernel_version at 0x20e, a pointer to a NUL-terminated
//   version string at kernel_version + 0x200.
// - arm64 Image (Documentation/arch/arm64/booting.rst): "ARM\x64" at 0x38,
//   text_offset and image_size; the image is not compressed, so the banner
//   is searched in it directly.
#pragma once

#include "../bytes.hpp"
#include "../compress.hpp"
#include "../diagnostics.hpp"
#include "../result.hpp"
#include "text.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ukikit::uki {

// Finding codes of the kernel facts (README, "Finding codes"), one per rule.
// Every one is a warning: the headers were read, a fact is missing or odd.
namespace code {
inline constexpr std::string_view kernel_version_invalid = "uki.kernel-version-invalid";
inline constexpr std::string_view kernel_versions_disagree = "uki.kernel-versions-disagree";
inline constexpr std::string_view kernel_payload_corrupt = "uki.kernel-payload-corrupt";
inline constexpr std::string_view kernel_no_banner = "uki.kernel-no-banner";
inline constexpr std::string_view kernel_zboot_type_unknown = "uki.kernel-zboot-type-unknown";
inline constexpr std::string_view kernel_zboot_type_mismatch = "uki.kernel-zboot-type-mismatch";
inline constexpr std::string_view kernel_compression_unsupported =
    "uki.kernel-compression-unsupported";
inline constexpr std::string_view kernel_no_version_string = "uki.kernel-no-version-string";
inline constexpr std::string_view kernel_version_past_end = "uki.kernel-version-past-end";
inline constexpr std::string_view kernel_version_outside_setup = "uki.kernel-version-outside-setup";
inline constexpr std::string_view kernel_version_unterminated = "uki.kernel-version-unterminated";
inline constexpr std::string_view kernel_boot_flag = "uki.kernel-boot-flag";
inline constexpr std::string_view kernel_no_payload_fields = "uki.kernel-no-payload-fields";
inline constexpr std::string_view kernel_payload_past_end = "uki.kernel-payload-past-end";
inline constexpr std::string_view kernel_image_size = "uki.kernel-image-size";
} // namespace code

// Decompressed output accepted from a kernel payload: an arm64 Image is
// 30-70 MiB, so 256 MiB leaves room and still stops a bomb.
inline constexpr std::uint64_t max_decompressed_kernel = std::uint64_t{256} << 20;
// Longest version string taken: the banner is one line of about 200 bytes.
inline constexpr std::size_t max_kernel_version_length = 512;

// ---- on-disk records -------------------------------------------------------------

// The x86 real-mode setup header from 0x1f1 up to payload_length (boot
// protocol 2.08), Documentation/arch/x86/boot.rst.
inline constexpr std::uint64_t x86_setup_header_offset = 0x1f1;
inline constexpr std::uint32_t x86_header_magic = 0x53726448; // "HdrS"
inline constexpr std::uint16_t x86_boot_flag = 0xaa55;
// kernel_version counts from the start of the setup code, file offset 0x200.
inline constexpr std::uint64_t x86_kernel_version_base = 0x200;
inline constexpr std::uint64_t x86_sector_size = 512;
// setup_sects 0 means 4 (boot.rst).
inline constexpr std::uint8_t x86_default_setup_sects = 4;
inline constexpr std::uint16_t x86_protocol_payload = 0x208;      // payload_offset/length
inline constexpr std::uint16_t x86_protocol_cmdline_size = 0x206; // cmdline_size

struct x86_setup_header {
  std::uint8_t setup_sects;        // 0x1f1
  le16 root_flags;                 // 0x1f2
  le32 syssize;                    // 0x1f4
  le16 ram_size;                   // 0x1f8
  le16 vid_mode;                   // 0x1fa
  le16 root_dev;                   // 0x1fc
  le16 boot_flag;                  // 0x1fe 0xaa55
  le16 jump;                       // 0x200
  le32 header;                     // 0x202 "HdrS"
  le16 version;                    // 0x206 boot protocol
  le32 realmode_swtch;             // 0x208
  le16 start_sys_seg;              // 0x20c
  le16 kernel_version;             // 0x20e string at this + 0x200
  std::uint8_t type_of_loader;     // 0x210
  std::uint8_t loadflags;          // 0x211
  le16 setup_move_size;            // 0x212
  le32 code32_start;               // 0x214
  le32 ramdisk_image;              // 0x218
  le32 ramdisk_size;               // 0x21c
  le32 bootsect_kludge;            // 0x220
  le16 heap_end_ptr;               // 0x224
  std::uint8_t ext_loader_ver;     // 0x226
  std::uint8_t ext_loader_type;    // 0x227
  le32 cmd_line_ptr;               // 0x228
  le32 initrd_addr_max;            // 0x22c
  le32 kernel_alignment;           // 0x230
  std::uint8_t relocatable_kernel; // 0x234
  std::uint8_t min_alignment;      // 0x235
  le16 xloadflags;                 // 0x236
  le32 cmdline_size;               // 0x238
  le32 hardware_subarch;           // 0x23c
  le64 hardware_subarch_data;      // 0x240
  le32 payload_offset;             // 0x248 from the protected-mode code
  le32 payload_length;             // 0x24c
};
static_assert(sizeof(x86_setup_header) == 0x250 - 0x1f1);

// The arm64 Image header (64 bytes at offset 0).
inline constexpr std::uint32_t arm64_image_magic = 0x644d5241; // "ARM\x64"
inline constexpr std::uint64_t arm64_flag_big_endian = 0x1;    // flags bit 0
inline constexpr unsigned arm64_page_size_shift = 1;           // flags bits 1-2
struct arm64_image_header {
  le32 code0;       // 0x00
  le32 code1;       // 0x04
  le64 text_offset; // 0x08
  le64 image_size;  // 0x10 0 before Linux 3.17
  le64 flags;       // 0x18
  le64 res2;        // 0x20
  le64 res3;        // 0x28
  le64 res4;        // 0x30
  le32 magic;       // 0x38 "ARM\x64"
  le32 res5;        // 0x3c PE header offset when built with the EFI stub
};
static_assert(sizeof(arm64_image_header) == 64);

// The EFI zboot header (drivers/firmware/efi/libstub/zboot-header.S).
inline constexpr std::array<char, 4> zboot_image_type{'z', 'i', 'm', 'g'};
struct zboot_header {
  le16 mz_magic;                         // 0x00 "MZ"
  le16 mz_pad;                           // 0x02
  std::array<char, 4> image_type;        // 0x04 "zimg"
  le32 payload_offset;                   // 0x08 from the start of the file
  le32 payload_size;                     // 0x0c
  std::array<le32, 2> reserved;          // 0x10
  std::array<char, 32> compression_type; // 0x18 NUL-terminated: "gzip", "zstd22", …
  le32 linux_pe_magic;                   // 0x38
  le32 pe_header_offset;                 // 0x3c
};
static_assert(sizeof(zboot_header) == 64);

// ---- what kernel_facts() reports -------------------------------------------------

enum class kernel_format : std::uint8_t { x86_bzimage, arm64_image, efi_zboot };

constexpr std::string_view format_name(kernel_format f) noexcept {
  switch (f) {
  case kernel_format::x86_bzimage: return "x86 bzImage";
  case kernel_format::arm64_image: return "arm64 Image";
  case kernel_format::efi_zboot: return "EFI zboot";
  }
  return "unknown";
}

enum class version_source : std::uint8_t {
  x86_boot_header,     // the string the setup header's kernel_version points to
  image_banner,        // "Linux version …" in the (uncompressed) image
  decompressed_banner, // "Linux version …" in the decompressed payload
};

// One place a version was found.
struct kernel_version {
  version_source source;
  std::string version;  // "6.1.0-56-amd64 (debian-kernel@…) #1 SMP …", without "Linux version "
  std::string uname;    // its first word: what `uname -r` prints on that kernel
  std::uint64_t offset; // in the input; for decompressed_banner, in the decompressed payload
  std::string how;      // "x86 boot header: kernel_version 0x42c0 + 0x200 = 0x44c0", …
};

struct x86_facts {
  std::uint16_t protocol = 0; // boot protocol, 0x20f = 2.15
  std::uint8_t setup_sects = 0;
  std::uint16_t kernel_version = 0;
  std::uint32_t cmdline_size = 0;        // protocol >= 2.06, else 0
  std::uint64_t payload_file_offset = 0; // protocol >= 2.08, else 0
  std::uint32_t payload_length = 0;
  compress::format payload_compression = compress::format::none;
};

struct arm64_facts {
  std::uint64_t text_offset = 0;
  std::uint64_t image_size = 0;
  std::uint64_t flags = 0;
  bool big_endian = false;
  std::uint32_t page_size = 0; // 4096, 16384, 65536, or 0 for "unspecified"
};

struct zboot_facts {
  std::uint32_t payload_offset = 0;
  std::uint32_t payload_size = 0;
  std::string compression_type; // as the header names it: "gzip", "zstd22", "xzkern", …
  compress::format compression = compress::format::none;
  std::uint32_t linux_pe_magic = 0;
};

struct kernel_info {
  kernel_format format = kernel_format::x86_bzimage;
  bool pe = false; // starts with MZ and e_lfanew points at "PE\0\0": firmware can load it
  std::vector<kernel_version> versions; // the first is the answer
  std::optional<x86_facts> x86;
  std::optional<arm64_facts> arm64;
  std::optional<zboot_facts> zboot;
  std::uint64_t decompressed = 0; // payload bytes decoded while looking for the banner
  std::vector<finding> findings;  // warnings, each with its code

  void note(std::string_view c, std::string message, std::uint64_t offset) {
    findings.emplace_back(severity::warning, c, std::move(message), offset);
  }

  std::string_view version() const noexcept {
    return versions.empty() ? std::string_view() : std::string_view(versions.front().version);
  }
  std::string_view uname() const noexcept {
    return versions.empty() ? std::string_view() : std::string_view(versions.front().uname);
  }
};

struct kernel_options {
  // Output limit for decompressing a payload.
  std::uint64_t max_decompressed = max_decompressed_kernel;
  // Also decompress an x86 bzImage's payload and find its banner (the
  // header's string is enough for uname; this is a cross-check).
  bool x86_payload = false;
};

namespace detail {

constexpr bool ascii_space(char c) noexcept { return c == ' ' || (c >= '\t' && c <= '\r'); }

// Finds "Linux version <digit>… (" in a stream fed in chunks, as ukify's
// regex `Linux version (\d\.\S+) \(` does, and keeps the banner line.
class banner_scanner {
public:
  static constexpr std::string_view needle = "Linux version ";

  // Feeds the next chunk; true once a banner is complete.
  bool feed(std::string_view chunk) {
    if (found_) return true;
    buffer_.append(chunk);
    scan(false);
    return found_.has_value();
  }
  // The stream ended: decide on what is left.
  void finish() {
    if (!found_) scan(true);
  }

  // The banner without "Linux version ", and its offset in the stream.
  const std::optional<std::pair<std::string, std::uint64_t>>& found() const noexcept {
    return found_;
  }

private:
  enum class match : std::uint8_t { no, yes, need_more };

  // Whether `rest` (what follows the needle) is "<digit>\S+ (…" and, if so,
  // how long the banner line is.
  static match check(std::string_view rest, bool final, std::size_t& length) {
    if (rest.empty()) return final ? match::no : match::need_more;
    if (!is_digit(rest[0])) return match::no;
    std::size_t i = 0;
    while (i < rest.size() && i <= max_uname_length && !ascii_space(rest[i]) && rest[i] != '\0')
      ++i;
    if (i > max_uname_length) return match::no;
    if (i + 1 >= rest.size()) return final ? match::no : match::need_more;
    if (rest[i] != ' ' || rest[i + 1] != '(') return match::no;
    std::size_t end = rest.find_first_of(std::string_view("\n\0", 2), i);
    if (end == std::string_view::npos) {
      if (!final && rest.size() < max_kernel_version_length) return match::need_more;
      end = rest.size();
    }
    length = std::min(end, max_kernel_version_length);
    return match::yes;
  }

  void scan(bool final) {
    std::size_t pos = 0;
    for (;;) {
      std::size_t at = buffer_.find(needle, pos);
      if (at == std::string::npos) break;
      std::size_t length = 0;
      std::string_view rest = std::string_view(buffer_).substr(at + needle.size());
      match m = check(rest, final, length);
      if (m == match::yes) {
        found_.emplace(std::string(rest.substr(0, length)), base_ + at);
        return;
      }
      if (m == match::need_more) return drop(at); // keep from the candidate on
      pos = at + 1;
    }
    // Keep what could be the start of a needle cut by the chunk boundary.
    drop(buffer_.size() - std::min(buffer_.size(), needle.size() - 1));
  }

  void drop(std::size_t n) {
    buffer_.erase(0, n);
    base_ += n;
  }

  std::string buffer_;
  std::uint64_t base_ = 0; // stream offset of buffer_[0]
  std::optional<std::pair<std::string, std::uint64_t>> found_;
};

// The uname part of a version string: its first word.
inline std::string first_word(std::string_view version) {
  std::size_t end = 0;
  while (end < version.size() && !ascii_space(version[end])) ++end;
  return std::string(version.substr(0, end));
}

// Adds a version sighting; a uname that is not a valid `uname -r` is a finding.
inline void add_version(kernel_info& info, version_source source, std::string version,
                        std::uint64_t offset, std::string how) {
  std::string release = first_word(version);
  if (auto u = parse_uname(release, strictness::strict, offset); !u)
    info.note(code::kernel_version_invalid, "kernel version " + u.error().context(), offset);
  if (!info.versions.empty() && info.versions.front().uname != release)
    info.note(code::kernel_versions_disagree,
              "version strings disagree: " + info.versions.front().uname + " (" +
                  info.versions.front().how + ") and " + release + " (" + how + ")",
              offset);
  info.versions.push_back({source, std::move(version), std::move(release), offset, std::move(how)});
}

// Searches `data` itself (an uncompressed image) for the banner.
inline std::optional<std::pair<std::string, std::uint64_t>> find_banner(byte_span data) {
  banner_scanner scanner;
  scanner.feed(as_chars(data));
  scanner.finish();
  return scanner.found();
}

// Decodes `payload` (at `payload_offset` in the input) only as far as the
// banner, within `limit` bytes of output. Decoding problems are findings:
// the headers were fine, only the version is missing.
inline void scan_payload(kernel_info& info, compress::format fmt, byte_span payload,
                         std::uint64_t payload_offset, std::uint64_t limit) {
  banner_scanner scanner;
  std::uint64_t produced = 0;
  auto sink = [&](byte_span chunk) -> result<void> {
    produced += chunk.size();
    if (scanner.feed(as_chars(chunk)))
      return error(errc::limit_exceeded, "banner found"); // stops the decoder early
    return success();
  };
  compress::decode_options options;
  options.max_output = limit;
  options.concatenated = false;
  auto decoded = compress::decode(fmt, payload, options, sink);
  info.decompressed += produced;
  if (!scanner.found()) {
    scanner.finish();
    if (!decoded) {
      const error e = decoded.error().rebased(payload_offset);
      info.note(code::kernel_payload_corrupt,
                "decompressing the " + std::string(compress::name(fmt)) +
                    " payload failed: " + e.context(),
                e.has_offset() ? e.offset() : payload_offset);
    }
  }
  if (const auto& banner = scanner.found()) {
    add_version(info, version_source::decompressed_banner, banner->first, banner->second,
                "\"Linux version\" at " + hex(banner->second) + " of the decompressed " +
                    std::string(compress::name(fmt)) + " payload (" + hex(payload.size()) +
                    " bytes at " + hex(payload_offset) + ")");
  } else if (decoded) {
    info.note(code::kernel_no_banner,
              "no \"Linux version\" banner in the decompressed " +
                  std::string(compress::name(fmt)) + " payload (" + hex(produced) + " bytes)",
              payload_offset);
  }
}

inline bool has_pe_header(byte_span k) noexcept {
  if (k.size() < sizeof(pe::dos_header)) return false;
  auto dos = load<pe::dos_header>(k);
  if (dos.e_magic.value() != pe::dos_magic) return false;
  std::uint64_t at = dos.e_lfanew.value();
  return at + pe::pe_signature_size <= k.size() &&
         load<le32>(k.subspan(static_cast<std::size_t>(at))).value() == pe::pe_signature;
}

// The compression a zboot header names (the kernel's comp-type-y values).
inline compress::format zboot_compression(std::string_view name) noexcept {
  if (name == "gzip") return compress::format::gzip;
  if (name == "lzma") return compress::format::lzma;
  if (name == "xzkern" || name == "xz") return compress::format::xz;
  if (name == "zstd22" || name == "zstd") return compress::format::zstd;
  if (name == "lz4") return compress::format::lz4;
  if (name == "lzo") return compress::format::lzo;
  if (name == "bzip2") return compress::format::bzip2;
  return compress::format::none;
}

inline result<kernel_info> zboot_facts_of(byte_span k, const kernel_options& options) {
  kernel_info info;
  info.format = kernel_format::efi_zboot;
  info.pe = has_pe_header(k);
  const auto h = load<zboot_header>(k);
  zboot_facts z;
  z.payload_offset = h.payload_offset.value();
  z.payload_size = h.payload_size.value();
  std::string_view type(h.compression_type.data(), h.compression_type.size());
  z.compression_type = std::string(type.substr(0, type.find('\0')));
  z.compression = zboot_compression(z.compression_type);
  z.linux_pe_magic = h.linux_pe_magic.value();
  UKIKIT_TRY_ASSIGN(byte_span payload,
                    subview(k, z.payload_offset, z.payload_size, "zboot payload"));
  const compress::format seen = compress::detect(payload);
  if (z.compression == compress::format::none) {
    info.note(code::kernel_zboot_type_unknown,
              "zboot compression type '" + z.compression_type +
                  "' is unknown; using the payload's magic (" + std::string(compress::name(seen)) +
                  ")",
              offsetof(zboot_header, compression_type));
    z.compression = seen;
  } else if (seen != z.compression && z.compression != compress::format::lzma) {
    // lzma-alone has no reliable magic; the others do.
    info.note(code::kernel_zboot_type_mismatch,
              "zboot header says " + z.compression_type + " but the payload starts like " +
                  std::string(compress::name(seen)),
              z.payload_offset);
  }
  info.zboot = z;
  if (compress::supported(z.compression)) {
    scan_payload(info, z.compression, payload, z.payload_offset, options.max_decompressed);
  } else {
    info.note(code::kernel_compression_unsupported,
              "cannot look for the version: " + std::string(compress::name(z.compression)) +
                  " payloads are not supported (ukikit decodes zstd, xz, lzma, gzip)",
              z.payload_offset);
  }
  return info;
}

// The string kernel_version points to, within the file.
inline void x86_header_version(kernel_info& info, byte_span k, const x86_facts& x) {
  if (x.kernel_version == 0) {
    info.note(code::kernel_no_version_string, "x86 setup header has no kernel_version string",
              x86_setup_header_offset + offsetof(x86_setup_header, kernel_version));
    return;
  }
  const std::uint64_t at = x86_kernel_version_base + x.kernel_version;
  const std::uint64_t setup_end = (std::uint64_t{x.setup_sects} + 1) * x86_sector_size;
  if (at >= k.size()) {
    info.note(code::kernel_version_past_end,
              "x86 kernel_version " + hex(x.kernel_version) + " + 0x200 points past end of file (" +
                  hex(at) + " >= " + hex(k.size()) + ")",
              x86_setup_header_offset + offsetof(x86_setup_header, kernel_version));
    return;
  }
  if (at >= setup_end)
    info.note(code::kernel_version_outside_setup,
              "x86 kernel_version string at " + hex(at) + " lies outside the setup code (ends at " +
                  hex(setup_end) + ")",
              at);
  cursor c(k, 0);
  (void)c.seek(at);
  auto s = c.cstring(max_kernel_version_length, "x86 kernel version string");
  if (!s) {
    info.note(code::kernel_version_unterminated, s.error().context(), at);
    return;
  }
  add_version(info, version_source::x86_boot_header, std::string(*s), at,
              "x86 boot header: kernel_version " + hex(x.kernel_version) + " + 0x200 = " + hex(at));
}

inline result<kernel_info> x86_facts_of(byte_span k, const kernel_options& options) {
  kernel_info info;
  info.format = kernel_format::x86_bzimage;
  info.pe = has_pe_header(k);
  UKIKIT_TRY_ASSIGN(byte_span hb, subview(k, x86_setup_header_offset, sizeof(x86_setup_header),
                                          "x86 setup header"));
  const auto h = load<x86_setup_header>(hb);
  x86_facts x;
  x.protocol = h.version.value();
  x.setup_sects = h.setup_sects ? h.setup_sects : x86_default_setup_sects;
  x.kernel_version = h.kernel_version.value();
  if (h.boot_flag.value() != x86_boot_flag)
    info.note(code::kernel_boot_flag,
              "x86 boot_flag is " + hex(h.boot_flag.value()) + ", not 0xaa55",
              x86_setup_header_offset + offsetof(x86_setup_header, boot_flag));
  if (x.protocol >= x86_protocol_cmdline_size) x.cmdline_size = h.cmdline_size.value();
  if (x.protocol >= x86_protocol_payload) {
    // The payload offset counts from the protected-mode code after the setup sectors.
    x.payload_file_offset =
        (std::uint64_t{x.setup_sects} + 1) * x86_sector_size + h.payload_offset.value();
    x.payload_length = h.payload_length.value();
    if (auto p = subview(k, x.payload_file_offset, x.payload_length, "x86 payload"))
      x.payload_compression = compress::detect(*p);
  }
  info.x86 = x;
  x86_header_version(info, k, x);
  if (options.x86_payload) {
    auto payload = subview(k, x.payload_file_offset, x.payload_length, "x86 payload");
    if (x.protocol < x86_protocol_payload)
      info.note(code::kernel_no_payload_fields,
                "boot protocol " + hex(x.protocol) + " has no payload fields",
                x86_setup_header_offset + offsetof(x86_setup_header, version));
    else if (!payload)
      info.note(code::kernel_payload_past_end, payload.error().context(),
                x86_setup_header_offset + offsetof(x86_setup_header, payload_offset));
    else if (!compress::supported(x.payload_compression))
      info.note(code::kernel_compression_unsupported,
                "x86 payload compression " + std::string(compress::name(x.payload_compression)) +
                    " is not supported",
                x.payload_file_offset);
    else
      scan_payload(info, x.payload_compression, *payload, x.payload_file_offset,
                   options.max_decompressed);
  }
  return info;
}

inline result<kernel_info> arm64_facts_of(byte_span k) {
  kernel_info info;
  info.format = kernel_format::arm64_image;
  info.pe = has_pe_header(k);
  const auto h = load<arm64_image_header>(k);
  arm64_facts a;
  a.text_offset = h.text_offset.value();
  a.image_size = h.image_size.value();
  a.flags = h.flags.value();
  a.big_endian = (a.flags & arm64_flag_big_endian) != 0;
  static constexpr std::uint32_t page_sizes[] = {0, 4096, 16384, 65536};
  a.page_size = page_sizes[(a.flags >> arm64_page_size_shift) & 0x3];
  if (a.image_size != 0 && a.image_size < k.size())
    info.note(code::kernel_image_size,
              "arm64 image_size " + hex(a.image_size) + " is smaller than the file (" +
                  hex(k.size()) + ")",
              offsetof(arm64_image_header, image_size));
  info.arm64 = a;
  if (auto banner = find_banner(k)) {
    add_version(info, version_source::image_banner, banner->first, banner->second,
                "\"Linux version\" at " + hex(banner->second) + " of the image");
  } else {
    info.note(code::kernel_no_banner, "no \"Linux version\" banner in the arm64 image", 0);
  }
  return info;
}

} // namespace detail

// What a kernel image says about itself. An error when the input is none of
// the three formats, or its header points outside it; a version that cannot
// be found is a finding, with versions left empty.
inline result<kernel_info> kernel_facts(byte_span kernel, const kernel_options& options = {}) {
  if (kernel.size() >= sizeof(zboot_header)) {
    const auto z = load<zboot_header>(kernel);
    if (z.mz_magic.value() == pe::dos_magic && z.image_type == zboot_image_type)
      return detail::zboot_facts_of(kernel, options);
  }
  if (kernel.size() >= x86_setup_header_offset + sizeof(x86_setup_header)) {
    const auto h = load<x86_setup_header>(kernel.subspan(x86_setup_header_offset));
    if (h.header.value() == x86_header_magic) return detail::x86_facts_of(kernel, options);
  }
  if (kernel.size() >= sizeof(arm64_image_header) &&
      load<arm64_image_header>(kernel).magic.value() == arm64_image_magic)
    return detail::arm64_facts_of(kernel);
  return error(errc::unsupported,
               "not a Linux kernel image: no EFI zboot header (\"zimg\" at 0x4), x86 setup header "
               "(\"HdrS\" at 0x202) or arm64 Image header (\"ARM\\x64\" at 0x38)",
               0);
}

} // namespace ukikit::uki
