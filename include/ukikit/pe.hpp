// PE/COFF: a zero-copy view of a PE32 or PE32+ image (DOS header, COFF
// header, optional header, data directories, section table, certificate
// table, overlay) with findings, and the PE CheckSum.
//
// Parsing fails only when the headers themselves cannot be read. Everything
// else a loader or signer would trip over is a finding (ukikit::finding,
// one code per rule, see pe::code) with the offset of the header field: in
// strict mode (verification) a broken rule is an error, in permissive mode
// (inspection) a warning that says what was tolerated. Section contents are
// spans into the input.
//
// Sources: Microsoft PE format specification; systemd-stub's pe.c for what
// the stub accepts (reference/uki-signing-pcr.md §1.3).
#pragma once

#include "bytes.hpp"
#include "diagnostics.hpp"
#include "result.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ukikit::pe {

// ---- on-disk records ---------------------------------------------------------

inline constexpr std::uint16_t dos_magic = 0x5a4d;        // "MZ"
inline constexpr std::uint32_t pe_signature = 0x00004550; // "PE\0\0"
// The COFF header follows the signature.
inline constexpr std::size_t pe_signature_size = sizeof(pe_signature);
inline constexpr std::uint16_t pe32_magic = 0x10b;
inline constexpr std::uint16_t pe32plus_magic = 0x20b;

struct dos_header {
  le16 e_magic;                       // 0x00 "MZ"
  std::array<std::byte, 0x3a> unused; // 0x02 e_cblp … e_res2
  le32 e_lfanew;                      // 0x3c file offset of the PE signature
};
static_assert(sizeof(dos_header) == 64);

struct coff_header {
  le16 machine;                 // 0x00
  le16 number_of_sections;      // 0x02
  le32 time_date_stamp;         // 0x04
  le32 pointer_to_symbol_table; // 0x08
  le32 number_of_symbols;       // 0x0c
  le16 size_of_optional_header; // 0x10
  le16 characteristics;         // 0x12
};
static_assert(sizeof(coff_header) == 20);

// The fields PE32 and PE32+ share, up to and including CheckSum's neighbours;
// the 32/64-bit differences are handled by the two full structs below.
struct optional_header32 {
  le16 magic;                        // 0x00 0x10b
  std::uint8_t major_linker_version; // 0x02
  std::uint8_t minor_linker_version; // 0x03
  le32 size_of_code;                 // 0x04
  le32 size_of_initialized_data;     // 0x08
  le32 size_of_uninitialized_data;   // 0x0c
  le32 address_of_entry_point;       // 0x10
  le32 base_of_code;                 // 0x14
  le32 base_of_data;                 // 0x18 (PE32 only)
  le32 image_base;                   // 0x1c
  le32 section_alignment;            // 0x20
  le32 file_alignment;               // 0x24
  le16 major_os_version;             // 0x28
  le16 minor_os_version;             // 0x2a
  le16 major_image_version;          // 0x2c
  le16 minor_image_version;          // 0x2e
  le16 major_subsystem_version;      // 0x30
  le16 minor_subsystem_version;      // 0x32
  le32 win32_version_value;          // 0x34
  le32 size_of_image;                // 0x38
  le32 size_of_headers;              // 0x3c
  le32 checksum;                     // 0x40
  le16 subsystem;                    // 0x44
  le16 dll_characteristics;          // 0x46
  le32 size_of_stack_reserve;        // 0x48
  le32 size_of_stack_commit;         // 0x4c
  le32 size_of_heap_reserve;         // 0x50
  le32 size_of_heap_commit;          // 0x54
  le32 loader_flags;                 // 0x58
  le32 number_of_rva_and_sizes;      // 0x5c
};
static_assert(sizeof(optional_header32) == 96);

struct optional_header64 {
  le16 magic;                        // 0x00 0x20b
  std::uint8_t major_linker_version; // 0x02
  std::uint8_t minor_linker_version; // 0x03
  le32 size_of_code;                 // 0x04
  le32 size_of_initialized_data;     // 0x08
  le32 size_of_uninitialized_data;   // 0x0c
  le32 address_of_entry_point;       // 0x10
  le32 base_of_code;                 // 0x14
  le64 image_base;                   // 0x18
  le32 section_alignment;            // 0x20
  le32 file_alignment;               // 0x24
  le16 major_os_version;             // 0x28
  le16 minor_os_version;             // 0x2a
  le16 major_image_version;          // 0x2c
  le16 minor_image_version;          // 0x2e
  le16 major_subsystem_version;      // 0x30
  le16 minor_subsystem_version;      // 0x32
  le32 win32_version_value;          // 0x34
  le32 size_of_image;                // 0x38
  le32 size_of_headers;              // 0x3c
  le32 checksum;                     // 0x40
  le16 subsystem;                    // 0x44
  le16 dll_characteristics;          // 0x46
  le64 size_of_stack_reserve;        // 0x48
  le64 size_of_stack_commit;         // 0x50
  le64 size_of_heap_reserve;         // 0x58
  le64 size_of_heap_commit;          // 0x60
  le32 loader_flags;                 // 0x68
  le32 number_of_rva_and_sizes;      // 0x6c
};
static_assert(sizeof(optional_header64) == 112);

// Offsets inside the optional header that both layouts share.
inline constexpr std::uint32_t opt_size_of_code_offset = offsetof(optional_header32, size_of_code);
inline constexpr std::uint32_t opt_size_of_initialized_data_offset =
    offsetof(optional_header32, size_of_initialized_data);
inline constexpr std::uint32_t opt_section_alignment_offset =
    offsetof(optional_header32, section_alignment);
inline constexpr std::uint32_t opt_file_alignment_offset =
    offsetof(optional_header32, file_alignment);
inline constexpr std::uint32_t opt_size_of_image_offset =
    offsetof(optional_header32, size_of_image);
inline constexpr std::uint32_t opt_size_of_headers_offset =
    offsetof(optional_header32, size_of_headers);
inline constexpr std::uint32_t opt_checksum_offset = offsetof(optional_header32, checksum);
inline constexpr std::uint32_t opt_subsystem_offset = offsetof(optional_header32, subsystem);
static_assert(opt_size_of_code_offset == offsetof(optional_header64, size_of_code));
static_assert(opt_size_of_initialized_data_offset ==
              offsetof(optional_header64, size_of_initialized_data));
static_assert(opt_section_alignment_offset == offsetof(optional_header64, section_alignment));
static_assert(opt_file_alignment_offset == offsetof(optional_header64, file_alignment));
static_assert(opt_size_of_image_offset == offsetof(optional_header64, size_of_image));
static_assert(opt_size_of_headers_offset == offsetof(optional_header64, size_of_headers));
static_assert(opt_checksum_offset == offsetof(optional_header64, checksum));
static_assert(opt_subsystem_offset == offsetof(optional_header64, subsystem));
// The CheckSum field, which the CheckSum and the Authenticode digest skip.
inline constexpr std::uint32_t checksum_size = sizeof(le32);

struct data_directory {
  le32 virtual_address; // an RVA, except for the certificate table: a file offset
  le32 size;
};
static_assert(sizeof(data_directory) == 8);

struct section_header {
  std::array<char, 8> name;    // 0x00 NUL-padded, not necessarily terminated
  le32 virtual_size;           // 0x08
  le32 virtual_address;        // 0x0c
  le32 size_of_raw_data;       // 0x10
  le32 pointer_to_raw_data;    // 0x14
  le32 pointer_to_relocations; // 0x18
  le32 pointer_to_linenumbers; // 0x1c
  le16 number_of_relocations;  // 0x20
  le16 number_of_linenumbers;  // 0x22
  le32 characteristics;        // 0x24
};
static_assert(sizeof(section_header) == 40);

// WIN_CERTIFICATE header of a certificate table entry.
struct win_certificate {
  le32 length;           // dwLength: header + payload, without the padding
  le16 revision;         // wRevision: 0x0200
  le16 certificate_type; // wCertificateType: 0x0002 PKCS_SIGNED_DATA
};
static_assert(sizeof(win_certificate) == 8);

// Data directory indices.
inline constexpr std::size_t dir_export = 0;
inline constexpr std::size_t dir_import = 1;
inline constexpr std::size_t dir_resource = 2;
inline constexpr std::size_t dir_exception = 3;
inline constexpr std::size_t dir_security = 4; // the certificate table
inline constexpr std::size_t dir_basereloc = 5;
inline constexpr std::size_t dir_debug = 6;

// Section characteristics.
inline constexpr std::uint32_t scn_cnt_code = 0x00000020;
inline constexpr std::uint32_t scn_cnt_initialized_data = 0x00000040;
inline constexpr std::uint32_t scn_cnt_uninitialized_data = 0x00000080;
inline constexpr std::uint32_t scn_mem_discardable = 0x02000000;
inline constexpr std::uint32_t scn_mem_execute = 0x20000000;
inline constexpr std::uint32_t scn_mem_read = 0x40000000;
inline constexpr std::uint32_t scn_mem_write = 0x80000000;

inline constexpr std::uint16_t subsystem_efi_application = 10;
inline constexpr std::uint16_t dll_characteristics_nx_compat = 0x0100;

inline constexpr std::uint16_t win_cert_revision_2_0 = 0x0200;
inline constexpr std::uint16_t win_cert_type_pkcs_signed_data = 0x0002;
inline constexpr std::uint16_t win_cert_type_efi_guid = 0x0ef1;

// Limits. systemd-stub refuses section tables above 16 MiB; the PE spec
// caps NumberOfSections at 96 for Windows, but EFI loaders accept more.
inline constexpr std::uint32_t max_sections = 4096;
inline constexpr std::uint32_t max_data_directories = 16;

// ---- machines ----------------------------------------------------------------

inline constexpr std::uint16_t machine_i386 = 0x014c;
inline constexpr std::uint16_t machine_arm = 0x01c2; // ARM Thumb-2 (EFI on 32-bit ARM)
inline constexpr std::uint16_t machine_armnt = 0x01c4;
inline constexpr std::uint16_t machine_x86_64 = 0x8664;
inline constexpr std::uint16_t machine_aarch64 = 0xaa64;
inline constexpr std::uint16_t machine_riscv32 = 0x5032;
inline constexpr std::uint16_t machine_riscv64 = 0x5064;
inline constexpr std::uint16_t machine_loongarch32 = 0x6232;
inline constexpr std::uint16_t machine_loongarch64 = 0x6264;

// The names systemd and Debian use for EFI architectures.
constexpr std::string_view machine_name(std::uint16_t m) noexcept {
  switch (m) {
  case machine_i386: return "i386";
  case machine_arm:
  case machine_armnt: return "arm";
  case machine_x86_64: return "x86_64";
  case machine_aarch64: return "aarch64";
  case machine_riscv32: return "riscv32";
  case machine_riscv64: return "riscv64";
  case machine_loongarch32: return "loongarch32";
  case machine_loongarch64: return "loongarch64";
  }
  return "unknown";
}

// The EFI file-name suffix: linuxx64.efi.stub, BOOTAA64.EFI …
constexpr std::string_view efi_arch(std::uint16_t m) noexcept {
  switch (m) {
  case machine_i386: return "ia32";
  case machine_arm:
  case machine_armnt: return "arm";
  case machine_x86_64: return "x64";
  case machine_aarch64: return "aa64";
  case machine_riscv32: return "riscv32";
  case machine_riscv64: return "riscv64";
  case machine_loongarch32: return "loongarch32";
  case machine_loongarch64: return "loongarch64";
  }
  return "";
}

// ---- the view ----------------------------------------------------------------

// strict: a broken rule is an error finding; permissive: a warning, and the
// clear meaning is used. The kernel does not read PE images, so
// strictness::kernel behaves as permissive.
using strictness = ukikit::strictness;

// Finding codes of the PE checks (README, "Finding codes"), one per rule.
namespace code {
inline constexpr std::string_view lfanew_unaligned = "pe.lfanew-unaligned";
inline constexpr std::string_view no_sections = "pe.no-sections";
inline constexpr std::string_view too_many_directories = "pe.too-many-directories";
inline constexpr std::string_view directories_truncated = "pe.directories-truncated";
inline constexpr std::string_view file_alignment = "pe.file-alignment";
inline constexpr std::string_view section_alignment = "pe.section-alignment";
inline constexpr std::string_view section_table_past_headers = "pe.section-table-past-headers";
inline constexpr std::string_view headers_past_end = "pe.headers-past-end";
inline constexpr std::string_view section_past_end = "pe.section-past-end";
inline constexpr std::string_view section_in_headers = "pe.section-in-headers";
inline constexpr std::string_view section_zero_filled = "pe.section-zero-filled";
inline constexpr std::string_view section_unaligned = "pe.section-unaligned";
inline constexpr std::string_view section_past_image = "pe.section-past-image";
inline constexpr std::string_view duplicate_section = "pe.duplicate-section";
inline constexpr std::string_view section_overlap = "pe.section-overlap";
inline constexpr std::string_view section_raw_overlap = "pe.section-raw-overlap";
inline constexpr std::string_view certificate_table_empty = "pe.certificate-table-empty";
inline constexpr std::string_view certificate_table_past_end = "pe.certificate-table-past-end";
inline constexpr std::string_view certificate_table_overlap = "pe.certificate-table-overlap";
inline constexpr std::string_view certificate_table_unaligned = "pe.certificate-table-unaligned";
inline constexpr std::string_view certificate_table_not_last = "pe.certificate-table-not-last";
inline constexpr std::string_view symbol_table = "pe.symbol-table";
// Not found by parse(): the CheckSum needs every byte; whoever computes it
// (compute_checksum) reports a mismatch with this code.
inline constexpr std::string_view checksum_mismatch = "pe.checksum-mismatch";
} // namespace code

struct section {
  std::string name;                // up to 8 bytes, NULs trimmed
  std::uint64_t header_offset = 0; // file offset of the 40-byte header
  std::uint32_t virtual_size = 0;
  std::uint32_t virtual_address = 0;
  std::uint32_t size_of_raw_data = 0;
  std::uint32_t pointer_to_raw_data = 0;
  std::uint32_t characteristics = 0;
  byte_span raw; // the SizeOfRawData bytes in the file (empty when out of range)

  // What a loader puts in memory from the file: min(VirtualSize,
  // SizeOfRawData) bytes (systemd-stub measures VirtualSize bytes; past
  // SizeOfRawData they are zeros).
  byte_span data() const noexcept {
    return raw.first(std::min<std::size_t>(raw.size(), virtual_size));
  }
  std::uint64_t raw_end() const noexcept {
    return std::uint64_t{pointer_to_raw_data} + size_of_raw_data;
  }
  std::uint64_t virtual_end() const noexcept {
    return std::uint64_t{virtual_address} + virtual_size;
  }
};

struct certificate_entry {
  std::uint64_t offset = 0; // file offset of the WIN_CERTIFICATE header
  std::uint32_t length = 0; // dwLength
  std::uint16_t revision = 0;
  std::uint16_t type = 0;
  byte_span payload; // dwLength - 8 bytes after the header (the PKCS#7 DER)
};

struct image {
  byte_span file;
  bool pe32plus = false;
  std::uint32_t pe_offset = 0;              // e_lfanew: the PE signature
  std::uint64_t optional_header_offset = 0; // after the signature and the COFF header
  std::uint64_t section_table_offset = 0;

  // COFF header
  std::uint16_t machine = 0;
  std::uint32_t time_date_stamp = 0;
  std::uint32_t pointer_to_symbol_table = 0;
  std::uint32_t number_of_symbols = 0;
  std::uint16_t size_of_optional_header = 0;
  std::uint16_t characteristics = 0;

  // optional header
  std::uint16_t magic = 0;
  std::uint64_t image_base = 0;
  std::uint32_t address_of_entry_point = 0;
  std::uint32_t section_alignment = 0;
  std::uint32_t file_alignment = 0;
  std::uint16_t major_image_version = 0;
  std::uint16_t minor_image_version = 0;
  std::uint32_t size_of_code = 0;
  std::uint32_t size_of_initialized_data = 0;
  std::uint32_t size_of_image = 0;
  std::uint32_t size_of_headers = 0;
  std::uint32_t checksum = 0;
  std::uint16_t subsystem = 0;
  std::uint16_t dll_characteristics = 0;
  std::uint32_t number_of_rva_and_sizes = 0;
  std::vector<data_directory> directories; // min(NumberOfRvaAndSizes, 16)

  std::vector<section> sections; // in table order

  // The certificate table (data directory 4), when present and in range.
  std::uint64_t certificate_table_offset = 0;
  std::uint32_t certificate_table_size = 0;
  bool has_certificate_table() const noexcept { return certificate_table_size != 0; }

  // What parse() found besides hard errors: errors only in strict mode.
  finding_log findings;

  // File offset of the COFF header, after the PE signature.
  std::uint64_t coff_header_offset() const noexcept {
    return std::uint64_t{pe_offset} + pe_signature_size;
  }
  std::uint64_t checksum_offset() const noexcept {
    return optional_header_offset + opt_checksum_offset;
  }
  // File offset of data directory entry 4, which Authenticode skips.
  std::uint64_t security_directory_offset() const noexcept {
    return optional_header_offset +
           (pe32plus ? sizeof(optional_header64) : sizeof(optional_header32)) +
           dir_security * sizeof(data_directory);
  }
  bool has_security_directory_entry() const noexcept {
    return number_of_rva_and_sizes > dir_security;
  }

  // The first section with this name, if any.
  const section* find(std::string_view name) const noexcept {
    for (const auto& s : sections)
      if (s.name == name) return &s;
    return nullptr;
  }

  // End of the last section's raw data, and of the headers: where an overlay
  // (data no section covers) starts.
  std::uint64_t end_of_sections() const noexcept {
    std::uint64_t end = size_of_headers;
    for (const auto& s : sections)
      if (s.size_of_raw_data) end = std::max(end, s.raw_end());
    return end;
  }

  // The overlay up to a COFF symbol table or the certificate table,
  // whichever comes first: bytes the loader never maps that a signature
  // covers and pe::editor keeps (objcopy-made stubs leave their SBAT and
  // LoaderInfo texts there). Empty when there are none.
  std::span<const std::byte> unmapped_tail() const noexcept {
    const std::uint64_t end = end_of_sections();
    std::uint64_t stop = file.size();
    if (pointer_to_symbol_table != 0 && pointer_to_symbol_table >= end)
      stop = std::min<std::uint64_t>(stop, pointer_to_symbol_table);
    if (has_certificate_table() && certificate_table_offset >= end)
      stop = std::min(stop, certificate_table_offset);
    if (end >= stop) return {};
    return file.subspan(static_cast<std::size_t>(end), static_cast<std::size_t>(stop - end));
  }
};

// ---- PE CheckSum ---------------------------------------------------------------

namespace detail {
// One's-complement-style 16-bit sum of little-endian words, carries folded.
// `odd_low` says whether a lone byte before `b` left the word half-filled.
inline std::uint32_t checksum_add(std::uint32_t sum, byte_span b, std::uint64_t file_pos) noexcept {
  std::size_t i = 0;
  if (file_pos & 1) { // finish the word whose low byte the previous piece held
    if (!b.empty()) {
      sum += std::to_integer<std::uint32_t>(b[0]) << 8;
      sum = (sum & 0xffff) + (sum >> 16);
      i = 1;
    }
  }
  // Sum 16-bit words; fold every 64 Ki words, before a 32-bit sum could wrap.
  std::uint64_t acc = sum;
  for (; i + 1 < b.size(); i += 2) {
    acc += std::to_integer<std::uint32_t>(b[i]) | (std::to_integer<std::uint32_t>(b[i + 1]) << 8);
  }
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  sum = static_cast<std::uint32_t>(acc);
  if (i < b.size()) { // a lone low byte
    sum += std::to_integer<std::uint32_t>(b[i]);
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return sum;
}
} // namespace detail

// The PE CheckSum over pieces of a file laid end to end, skipping the 4
// CheckSum bytes at `checksum_offset`: sum of little-endian 16-bit words with
// carries folded, plus the file length (reference §4.4).
template <class Range>
std::uint32_t compute_checksum(const Range& pieces, std::uint64_t checksum_offset) noexcept {
  std::uint32_t sum = 0;
  std::uint64_t pos = 0;
  for (const auto& piece : pieces) {
    byte_span p(piece);
    std::uint64_t end = pos + p.size();
    // Split around the CheckSum field, which counts as zero.
    std::uint64_t skip_begin = std::clamp(checksum_offset, pos, end);
    std::uint64_t skip_end = std::clamp(checksum_offset + checksum_size, pos, end);
    byte_span before = p.first(static_cast<std::size_t>(skip_begin - pos));
    byte_span after = p.subspan(static_cast<std::size_t>(skip_end - pos));
    sum = detail::checksum_add(sum, before, pos);
    if (skip_end > skip_begin) {
      static constexpr std::array<std::byte, 4> zeros{};
      sum = detail::checksum_add(
          sum, byte_span(zeros).first(static_cast<std::size_t>(skip_end - skip_begin)), skip_begin);
    }
    sum = detail::checksum_add(sum, after, skip_end);
    pos = end;
  }
  return static_cast<std::uint32_t>(sum + pos);
}

inline std::uint32_t compute_checksum(const image& img) noexcept {
  std::array<byte_span, 1> all{img.file};
  return compute_checksum(all, img.checksum_offset());
}

// ---- parsing -------------------------------------------------------------------

namespace detail {

// Where parse() reports: a broken rule is an error when strict and a
// tolerated warning otherwise (permissive, and kernel, which reads no PE).
class finding_sink {
public:
  finding_sink(finding_log& out, strictness mode) : out_(out), mode_(mode) {}
  // A rule of the specification is broken.
  void violation(std::string_view c, std::string message, std::uint64_t offset = error::no_offset) {
    out_.add(mode_ == strictness::strict ? severity::error : severity::warning, c,
             std::move(message), offset);
  }
  // Unusual but legal.
  void warning(std::string_view c, std::string message, std::uint64_t offset = error::no_offset) {
    out_.add(severity::warning, c, std::move(message), offset);
  }

private:
  finding_log& out_;
  strictness mode_;
};

template <record H> void load_optional_header(image& img, const H& h) {
  img.magic = h.magic.value();
  img.image_base = h.image_base.value();
  img.address_of_entry_point = h.address_of_entry_point.value();
  img.section_alignment = h.section_alignment.value();
  img.file_alignment = h.file_alignment.value();
  img.major_image_version = h.major_image_version.value();
  img.minor_image_version = h.minor_image_version.value();
  img.size_of_code = h.size_of_code.value();
  img.size_of_initialized_data = h.size_of_initialized_data.value();
  img.size_of_image = h.size_of_image.value();
  img.size_of_headers = h.size_of_headers.value();
  img.checksum = h.checksum.value();
  img.subsystem = h.subsystem.value();
  img.dll_characteristics = h.dll_characteristics.value();
  img.number_of_rva_and_sizes = h.number_of_rva_and_sizes.value();
}

inline std::string section_label(const section& s, std::size_t index) {
  return "section " + (s.name.empty() ? "#" + std::to_string(index) : s.name);
}

// The checks of one section on its own.
inline void check_section(image& img, std::size_t i, finding_sink& diag) {
  const std::uint64_t file_size = img.file.size();
  section& s = img.sections[i];
  const std::string label = section_label(s, i);
  if (s.size_of_raw_data != 0) {
    if (s.raw_end() > file_size) {
      diag.violation(code::section_past_end,
                     label + " raw data extends past end of file (" + hex(s.pointer_to_raw_data) +
                         " + " + hex(s.size_of_raw_data) + " > " + hex(file_size) + ")",
                     s.header_offset);
      if (s.pointer_to_raw_data < file_size)
        s.raw = img.file.subspan(s.pointer_to_raw_data,
                                 static_cast<std::size_t>(file_size - s.pointer_to_raw_data));
    } else {
      s.raw = img.file.subspan(s.pointer_to_raw_data, s.size_of_raw_data);
    }
    if (s.pointer_to_raw_data < img.size_of_headers)
      diag.violation(code::section_in_headers,
                     label + " raw data starts inside the headers (" + hex(s.pointer_to_raw_data) +
                         " < SizeOfHeaders " + hex(img.size_of_headers) + ")",
                     s.header_offset);
  }
  if (s.virtual_size > s.size_of_raw_data && s.size_of_raw_data != 0 &&
      !(s.characteristics & scn_cnt_uninitialized_data))
    diag.warning(code::section_zero_filled,
                 label + " VirtualSize " + hex(s.virtual_size) + " exceeds SizeOfRawData " +
                     hex(s.size_of_raw_data) + " (the rest is zero-filled in memory)",
                 s.header_offset);
  // Real EFI binaries (systemd-boot 252) have unaligned VirtualAddresses
  // and firmware loads them: a warning, never an error.
  if (img.section_alignment != 0 && s.virtual_address % img.section_alignment != 0)
    diag.warning(code::section_unaligned,
                 label + " VirtualAddress " + hex(s.virtual_address) +
                     " is not a multiple of SectionAlignment " + hex(img.section_alignment),
                 s.header_offset);
  if (s.virtual_end() > img.size_of_image)
    diag.violation(code::section_past_image,
                   label + " ends past SizeOfImage (" + hex(s.virtual_end()) + " > " +
                       hex(img.size_of_image) + ")",
                   s.header_offset);
}

inline void check_sections(image& img, finding_sink& diag) {
  std::vector<std::size_t> by_raw;
  for (std::size_t i = 0; i < img.sections.size(); ++i) {
    check_section(img, i, diag);
    const section& s = img.sections[i];
    if (s.size_of_raw_data != 0 && s.raw_end() <= img.file.size()) by_raw.push_back(i);
    const std::string label = section_label(s, i);
    for (std::size_t j = 0; j < i; ++j) {
      const section& o = img.sections[j];
      if (o.name == s.name && !s.name.empty())
        diag.warning(code::duplicate_section,
                     "duplicate " + label + " (first at section table index " + std::to_string(j) +
                         ")",
                     s.header_offset);
      if (s.virtual_size && o.virtual_size && s.virtual_address < o.virtual_end() &&
          o.virtual_address < s.virtual_end())
        diag.violation(code::section_overlap,
                       label + " virtual range overlaps " + section_label(o, j) + " (" +
                           hex(s.virtual_address) + "-" + hex(s.virtual_end()) + " and " +
                           hex(o.virtual_address) + "-" + hex(o.virtual_end()) + ")",
                       s.header_offset);
    }
  }
  // Raw ranges must not overlap (sorted by file offset, as Authenticode hashes them).
  std::stable_sort(by_raw.begin(), by_raw.end(), [&](std::size_t a, std::size_t b) {
    return img.sections[a].pointer_to_raw_data < img.sections[b].pointer_to_raw_data;
  });
  for (std::size_t k = 1; k < by_raw.size(); ++k) {
    const section& prev = img.sections[by_raw[k - 1]];
    const section& cur = img.sections[by_raw[k]];
    if (cur.pointer_to_raw_data < prev.raw_end())
      diag.violation(code::section_raw_overlap,
                     section_label(cur, by_raw[k]) + " raw data overlaps " +
                         section_label(prev, by_raw[k - 1]) + " (" + hex(cur.pointer_to_raw_data) +
                         " < " + hex(prev.raw_end()) + ")",
                     cur.header_offset);
  }
}

inline void check_certificate_table(image& img, finding_sink& diag) {
  if (!img.has_security_directory_entry()) return;
  const data_directory& d = img.directories[dir_security];
  std::uint64_t off = d.virtual_address.value(), size = d.size.value();
  if (size == 0) {
    if (off != 0)
      diag.warning(code::certificate_table_empty,
                   "certificate table entry has offset " + hex(off) + " but size 0",
                   img.security_directory_offset());
    return;
  }
  const std::uint64_t file_size = img.file.size();
  if (off + size > file_size) {
    diag.violation(code::certificate_table_past_end,
                   "certificate table extends past end of file (" + hex(off) + " + " + hex(size) +
                       " > " + hex(file_size) + ")",
                   img.security_directory_offset());
    return;
  }
  if (off < img.end_of_sections())
    diag.violation(code::certificate_table_overlap,
                   "certificate table overlaps the headers or a section (" + hex(off) + " < " +
                       hex(img.end_of_sections()) + ")",
                   img.security_directory_offset());
  if (off % sizeof(std::uint64_t) != 0)
    diag.violation(code::certificate_table_unaligned,
                   "certificate table is not 8-byte aligned (" + hex(off) + ")",
                   img.security_directory_offset());
  if (off + size != file_size)
    diag.violation(code::certificate_table_not_last,
                   "certificate table is not at the end of the file (" +
                       hex(file_size - off - size) + " bytes follow it)",
                   off + size);
  img.certificate_table_offset = off;
  img.certificate_table_size = static_cast<std::uint32_t>(size);
}

// The optional header (PE32 or PE32+) and its data directories, from `opt`
// (the SizeOfOptionalHeader bytes).
template <record H>
result<void> read_optional_header(image& img, cursor& opt, std::string_view what,
                                  finding_sink& diag) {
  UKIKIT_TRY_ASSIGN(auto h, opt.read<H>(what));
  load_optional_header(img, h);
  const std::uint64_t count_offset =
      img.optional_header_offset + offsetof(H, number_of_rva_and_sizes);
  // Data directories: NumberOfRvaAndSizes of them, as far as the optional
  // header holds them.
  std::uint32_t ndirs = img.number_of_rva_and_sizes;
  if (ndirs > max_data_directories) {
    diag.warning(code::too_many_directories,
                 "NumberOfRvaAndSizes " + std::to_string(ndirs) + " is more than " +
                     std::to_string(max_data_directories) + "; the rest are ignored",
                 count_offset);
    ndirs = max_data_directories;
  }
  if (ndirs > opt.remaining() / sizeof(data_directory)) {
    diag.violation(code::directories_truncated,
                   "optional header holds " +
                       std::to_string(opt.remaining() / sizeof(data_directory)) +
                       " data directories, NumberOfRvaAndSizes says " + std::to_string(ndirs),
                   count_offset);
    ndirs = static_cast<std::uint32_t>(opt.remaining() / sizeof(data_directory));
    img.number_of_rva_and_sizes = ndirs;
  }
  UKIKIT_TRY_ASSIGN(auto dirs, opt.array<data_directory>(ndirs, "data directories"));
  img.directories.assign(dirs.begin(), dirs.end());
  return success();
}

} // namespace detail

// Parse a PE image. Fails only when the headers cannot be read; every other
// finding is in image::findings (errors in strict mode, warnings otherwise).
inline result<image> parse(byte_span file, strictness mode = strictness::permissive) {
  image img;
  img.file = file;
  detail::finding_sink diag(img.findings, mode);
  cursor c(file);

  if (file.size() < sizeof(le16) || load<le16>(file).value() != dos_magic)
    return error(errc::malformed, "not a PE file (no MZ signature)", 0);
  UKIKIT_TRY_ASSIGN(auto dos, c.read<dos_header>("DOS header"));
  const std::uint32_t lfanew = dos.e_lfanew.value();
  if (lfanew < sizeof(dos_header) ||
      lfanew > file.size() - std::min(file.size(), pe_signature_size))
    return error(errc::out_of_range,
                 "e_lfanew " + hex(lfanew) + " is outside the file (size " + hex(file.size()) + ")",
                 offsetof(dos_header, e_lfanew));
  if (lfanew % sizeof(std::uint64_t) != 0)
    diag.warning(code::lfanew_unaligned, "e_lfanew " + hex(lfanew) + " is not 8-byte aligned",
                 offsetof(dos_header, e_lfanew));
  img.pe_offset = lfanew;

  UKIKIT_TRY(c.seek(lfanew));
  UKIKIT_TRY_ASSIGN(std::uint32_t sig, c.u32le("PE signature"));
  if (sig != pe_signature) return error(errc::malformed, "not a PE file (no PE signature)", lfanew);
  UKIKIT_TRY_ASSIGN(auto coff, c.read<coff_header>("COFF header"));
  img.machine = coff.machine.value();
  img.time_date_stamp = coff.time_date_stamp.value();
  img.pointer_to_symbol_table = coff.pointer_to_symbol_table.value();
  img.number_of_symbols = coff.number_of_symbols.value();
  img.size_of_optional_header = coff.size_of_optional_header.value();
  img.characteristics = coff.characteristics.value();
  const std::uint32_t nsections = coff.number_of_sections.value();
  const std::uint64_t nsections_offset =
      img.coff_header_offset() + offsetof(coff_header, number_of_sections);
  if (nsections == 0) diag.violation(code::no_sections, "NumberOfSections is 0", nsections_offset);
  if (nsections > max_sections)
    return error(errc::limit_exceeded,
                 "NumberOfSections " + std::to_string(nsections) + " exceeds the limit " +
                     std::to_string(max_sections),
                 nsections_offset);

  img.optional_header_offset = c.offset();
  UKIKIT_TRY_ASSIGN(cursor opt, c.sub(img.size_of_optional_header, "optional header"));
  UKIKIT_TRY_ASSIGN(std::uint16_t magic, cursor(opt).u16le("optional header magic"));
  if (magic == pe32_magic) {
    UKIKIT_TRY(
        detail::read_optional_header<optional_header32>(img, opt, "PE32 optional header", diag));
  } else if (magic == pe32plus_magic) {
    img.pe32plus = true;
    UKIKIT_TRY(
        detail::read_optional_header<optional_header64>(img, opt, "PE32+ optional header", diag));
  } else {
    return error(errc::malformed,
                 "optional header magic " + hex(magic) + " is neither PE32 nor PE32+",
                 img.optional_header_offset);
  }

  if (img.file_alignment == 0 || (img.file_alignment & (img.file_alignment - 1)) != 0)
    diag.violation(code::file_alignment,
                   "FileAlignment " + hex(img.file_alignment) + " is not a power of two",
                   img.optional_header_offset + opt_file_alignment_offset);
  if (img.section_alignment == 0 || (img.section_alignment & (img.section_alignment - 1)) != 0)
    diag.violation(code::section_alignment,
                   "SectionAlignment " + hex(img.section_alignment) + " is not a power of two",
                   img.optional_header_offset + opt_section_alignment_offset);

  // The section table follows the optional header.
  img.section_table_offset = c.offset();
  UKIKIT_TRY_ASSIGN(auto table, c.array<section_header>(nsections, "section table"));
  if (c.offset() > img.size_of_headers)
    diag.violation(code::section_table_past_headers,
                   "section table ends past SizeOfHeaders (" + hex(c.offset()) + " > " +
                       hex(img.size_of_headers) + ")",
                   img.section_table_offset);
  if (img.size_of_headers > file.size())
    diag.violation(code::headers_past_end,
                   "SizeOfHeaders " + hex(img.size_of_headers) + " is past end of file (" +
                       hex(file.size()) + ")",
                   img.optional_header_offset + opt_size_of_headers_offset);
  img.sections.reserve(nsections);
  std::uint64_t header_offset = img.section_table_offset;
  for (const section_header h : table) {
    section s;
    std::string_view name(h.name.data(), h.name.size());
    s.name = std::string(name.substr(0, name.find('\0')));
    s.header_offset = header_offset;
    s.virtual_size = h.virtual_size.value();
    s.virtual_address = h.virtual_address.value();
    s.size_of_raw_data = h.size_of_raw_data.value();
    s.pointer_to_raw_data = h.pointer_to_raw_data.value();
    s.characteristics = h.characteristics.value();
    img.sections.push_back(std::move(s));
    header_offset += sizeof(section_header);
  }
  detail::check_sections(img, diag);
  detail::check_certificate_table(img, diag);

  if (img.pointer_to_symbol_table != 0)
    diag.warning(code::symbol_table,
                 "COFF symbol table present (" + std::to_string(img.number_of_symbols) +
                     " symbols at " + hex(img.pointer_to_symbol_table) + "; deprecated for images)",
                 img.coff_header_offset() + offsetof(coff_header, pointer_to_symbol_table));
  return img;
}

} // namespace ukikit::pe
