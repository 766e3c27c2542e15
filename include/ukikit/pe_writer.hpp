// PE writer: add, replace and remove sections of a parsed image, the way
// ukify places UKI sections (reference/uki-signing-pcr.md §1.5).
//
// The output is planned, not copied: a patched copy of the headers plus a
// list of spans (section data from the inputs and zero padding), so that a
// 200 MiB UKI is written, hashed and checksummed without holding a copy.
//
// Rules:
// - new sections go after the last one: VirtualAddress = end of the highest
//   section rounded up to SectionAlignment, VirtualSize = data length,
//   SizeOfRawData = length rounded up to FileAlignment, zero padded;
// - raw data is packed in file order from the end of the headers at
//   FileAlignment (a normally linked image keeps its offsets);
// - the DOS stub, TimeDateStamp and every other header byte are kept;
//   NumberOfSections, SizeOfImage, SizeOfCode, SizeOfInitializedData and
//   CheckSum are recomputed;
// - a COFF symbol table at the end of the file is dropped (as ukify does);
//   other data after the sections, or a certificate table, is refused;
// - a section header that does not fit before the first section's data is
//   "not enough header space": sections are never moved to make room.
#pragma once

#include "bytes.hpp"
#include "pe.hpp"
#include "result.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ukikit::pe {

// The bytes of a planned image: headers (owned), then spans in order.
struct planned_image {
  std::vector<std::byte> headers;
  std::vector<byte_span> parts;

  std::uint64_t size() const noexcept {
    std::uint64_t n = headers.size();
    for (auto p : parts) n += p.size();
    return n;
  }
  // Every piece, headers first: for writing, hashing or checksumming.
  std::vector<byte_span> pieces() const {
    std::vector<byte_span> out;
    out.reserve(parts.size() + 1);
    out.emplace_back(headers);
    out.insert(out.end(), parts.begin(), parts.end());
    return out;
  }
  std::vector<std::byte> to_vector() const {
    std::vector<std::byte> out;
    out.reserve(static_cast<std::size_t>(size()));
    for (auto p : pieces()) out.insert(out.end(), p.begin(), p.end());
    return out;
  }
};

// The largest FileAlignment the PE specification allows; zero padding is
// served from a static buffer of this size.
inline constexpr std::uint32_t max_file_alignment = 0x10000;

class editor {
public:
  // Start from a parsed image; the image's bytes must outlive the editor and
  // the planned output.
  static result<editor> open(const image& img) {
    if (img.has_certificate_table())
      return error(errc::invalid_argument,
                   "image is signed; remove its signatures first (sections cannot change under a "
                   "signature)");
    if (img.file_alignment == 0 || img.file_alignment > max_file_alignment ||
        (img.file_alignment & (img.file_alignment - 1)) != 0)
      return error(errc::unsupported, "FileAlignment " + hex(img.file_alignment) +
                                          " is not a power of two up to 0x10000");
    if (img.section_alignment == 0 || (img.section_alignment & (img.section_alignment - 1)) != 0)
      return error(errc::unsupported,
                   "SectionAlignment " + hex(img.section_alignment) + " is not a power of two");
    editor e(img);
    for (const auto& s : img.sections) {
      if (s.size_of_raw_data != 0 && s.raw.size() != s.size_of_raw_data)
        return error(errc::out_of_range,
                     "section " + s.name + " raw data is outside the file (" +
                         hex(s.pointer_to_raw_data) + " + " + hex(s.size_of_raw_data) + " > " +
                         hex(img.file.size()) + ")",
                     s.header_offset);
      e.sections_.push_back({s.name, s.raw, s.virtual_size, s.virtual_address, s.characteristics,
                             s.header_offset, s.pointer_to_raw_data, false});
    }
    // Data after the sections: a COFF symbol table is dropped, as ukify
    // drops it; other bytes (Debian 12's arm64 stub, made by objcopy without
    // a PE linker, has its ELF symbols and its SBAT and LoaderInfo texts
    // there) are not loaded, and are kept: build() puts them after the last
    // section, where Authenticode hashes them. ukify leaves them in place,
    // which puts them in a gap between sections that no signature covers.
    // (A signed image was refused above: the tail ends at a symbol table.)
    if (const byte_span rest = img.unmapped_tail(); !all_zero(rest)) e.trailing_ = rest;
    return e;
  }

  // The bytes after the last section that build() keeps (empty: none).
  byte_span trailing() const noexcept { return trailing_; }

  // Append a section after the last one. Names are unique unless
  // `repeat_name` is set: a multi-profile UKI repeats .cmdline, .linux … once
  // per profile (UAPI.5).
  result<void> append(std::string_view name, byte_span data, std::uint32_t characteristics,
                      bool repeat_name = false) {
    UKIKIT_TRY(check_name(name, repeat_name));
    if (data.size() > UINT32_MAX)
      return error(errc::limit_exceeded, "section " + std::string(name) +
                                             " is larger than 4 GiB (" + hex(data.size()) +
                                             " bytes)");
    std::uint64_t va_end = 0;
    for (const auto& s : sections_)
      va_end = std::max(va_end, std::uint64_t{s.virtual_address} + virtual_extent(s));
    auto va = checked_align_up<std::uint64_t>(va_end, img_->section_alignment);
    if (!va || *va + data.size() > UINT32_MAX)
      return error(errc::limit_exceeded, "section " + std::string(name) +
                                             " would end past the 4 GiB address space (" +
                                             hex(va_end) + " aligned + " + hex(data.size()) +
                                             " > " + hex(UINT32_MAX) + ")");
    sections_.push_back({std::string(name), data, static_cast<std::uint32_t>(data.size()),
                         static_cast<std::uint32_t>(*va), characteristics, 0, 0, true});
    return {};
  }

  // Replace a section's data. It stays in place when it fits the section's
  // raw size (as ukify swaps .sbat); otherwise it moves to the end with a new
  // VirtualAddress, which code sections must not do.
  result<void> replace(std::string_view name, byte_span data) {
    auto it = find(name);
    if (it == sections_.end())
      return error(errc::invalid_argument, "no section " + std::string(name) + " to replace");
    // In place only when it fits the raw size and its new virtual range
    // stays clear of every other section (Debian's stub puts .sdmagic 0x100
    // bytes after .sbat, less than the .sbat raw size).
    const std::uint64_t room = it->data.size();
    const bool clear =
        std::none_of(sections_.begin(), sections_.end(), [&](const planned_section& o) {
          return &o != &*it &&
                 o.virtual_address < std::uint64_t{it->virtual_address} + data.size() &&
                 it->virtual_address < std::uint64_t{o.virtual_address} + virtual_extent(o);
        });
    if ((data.size() <= room && clear) || (it->added && is_last_by_address(*it))) {
      it->data = data;
      it->virtual_size = static_cast<std::uint32_t>(data.size());
      return {};
    }
    if (it->characteristics & (scn_cnt_code | scn_mem_execute))
      return error(errc::unsupported, "code section " + std::string(name) + " cannot grow (" +
                                          hex(data.size()) + " > " + hex(room) + " bytes)");
    const std::uint32_t characteristics = it->characteristics;
    sections_.erase(it);
    return append(name, data, characteristics);
  }

  result<void> remove(std::string_view name) {
    auto it = find(name);
    if (it == sections_.end())
      return error(errc::invalid_argument, "no section " + std::string(name) + " to remove");
    sections_.erase(it);
    return {};
  }

  std::size_t section_count() const noexcept { return sections_.size(); }

  // The planned output.
  result<planned_image> build() const {
    const image& img = *img_;
    const std::uint64_t table_end =
        img.section_table_offset + sections_.size() * sizeof(section_header);
    // Headers end at the first section's data (SizeOfHeaders, rounded to
    // FileAlignment as ukify does, when nothing starts earlier).
    std::uint64_t headers_end =
        *checked_align_up<std::uint64_t>(img.size_of_headers, img.file_alignment);
    for (const auto& s : img.sections)
      if (s.size_of_raw_data)
        headers_end = std::min<std::uint64_t>(headers_end, s.pointer_to_raw_data);
    if (table_end > headers_end)
      return error(errc::limit_exceeded,
                   "not enough header space for " + std::to_string(sections_.size()) +
                       " section headers (table would end at " + hex(table_end) +
                       ", first section data starts at " + hex(headers_end) + ")");
    // The headers come from the file; only FileAlignment padding may be new.
    if (headers_end > img.file.size() + img.file_alignment)
      return error(errc::out_of_range, "SizeOfHeaders " + hex(img.size_of_headers) +
                                           " extends past end of file (" + hex(img.file.size()) +
                                           ")");

    planned_image out;
    out.headers.assign(img.file.begin(),
                       img.file.begin() + static_cast<std::ptrdiff_t>(std::min<std::uint64_t>(
                                              headers_end, img.file.size())));
    out.headers.resize(static_cast<std::size_t>(headers_end));
    // Zero the old section table before writing the new one.
    std::fill(out.headers.begin() + static_cast<std::ptrdiff_t>(img.section_table_offset),
              out.headers.begin() +
                  static_cast<std::ptrdiff_t>(std::min<std::uint64_t>(
                      headers_end,
                      img.section_table_offset + img.sections.size() * sizeof(section_header))),
              std::byte{0});

    // Raw data in file order: existing sections by their old offset, then
    // the added ones in the order they were added.
    std::vector<const planned_section*> order;
    for (const auto& s : sections_) order.push_back(&s);
    std::stable_sort(order.begin(), order.end(),
                     [](const planned_section* a, const planned_section* b) {
                       if (a->added != b->added) return !a->added;
                       return !a->added && a->old_pointer < b->old_pointer;
                     });
    std::uint64_t pos = headers_end;
    std::uint32_t size_of_code = img.size_of_code, size_of_init = img.size_of_initialized_data;
    std::vector<std::pair<const planned_section*, std::uint32_t>>
        pointers; // raw offset per section
    for (const planned_section* s : order) {
      if (s->data.empty()) {
        pointers.emplace_back(s, 0);
        continue;
      }
      auto raw_size = checked_align_up<std::uint64_t>(s->data.size(), img.file_alignment);
      if (!raw_size || pos + *raw_size > UINT32_MAX)
        return error(errc::limit_exceeded, "image would be larger than 4 GiB (section " + s->name +
                                               " at " + hex(pos) + " + " + hex(s->data.size()) +
                                               " > " + hex(UINT32_MAX) + ")");
      pointers.emplace_back(s, static_cast<std::uint32_t>(pos));
      out.parts.push_back(s->data);
      if (*raw_size > s->data.size()) out.parts.push_back(zeros(*raw_size - s->data.size()));
      pos += *raw_size;
    }
    if (!trailing_.empty()) {
      if (pos + trailing_.size() > UINT32_MAX)
        return error(errc::limit_exceeded, "image would be larger than 4 GiB (" + hex(pos) + " + " +
                                               hex(trailing_.size()) + " > " + hex(UINT32_MAX) +
                                               ")");
      out.parts.push_back(trailing_);
    }
    // Sizes the loader looks at, adjusted for what changed (as ukify does:
    // by VirtualSize, per content type).
    for (const auto& s : img.sections)
      if (std::none_of(sections_.begin(), sections_.end(), [&](const planned_section& p) {
            return !p.added && p.header_offset == s.header_offset;
          }))
        adjust(size_of_code, size_of_init, s.characteristics, s.virtual_size, false);
    for (const auto& s : sections_) {
      if (s.added) adjust(size_of_code, size_of_init, s.characteristics, s.virtual_size, true);
      const section* old = original(s);
      if (old && old->virtual_size != s.virtual_size) {
        adjust(size_of_code, size_of_init, s.characteristics, old->virtual_size, false);
        adjust(size_of_code, size_of_init, s.characteristics, s.virtual_size, true);
      }
    }

    // The section table, in table order (existing first, then added).
    std::uint64_t image_end = 0;
    for (std::size_t i = 0; i < sections_.size(); ++i) {
      const planned_section& s = sections_[i];
      section_header h{};
      if (!s.added)
        h = load<section_header>(img.file.subspan(static_cast<std::size_t>(s.header_offset)));
      std::fill(h.name.begin(), h.name.end(), '\0');
      std::copy(s.name.begin(), s.name.end(), h.name.begin());
      h.virtual_size = s.virtual_size;
      h.virtual_address = s.virtual_address;
      auto raw = std::find_if(pointers.begin(), pointers.end(),
                              [&](const auto& p) { return p.first == &s; });
      h.pointer_to_raw_data = raw->second;
      h.size_of_raw_data = s.data.empty()
                               ? 0
                               : *checked_align_up<std::uint32_t>(
                                     static_cast<std::uint32_t>(s.data.size()), img.file_alignment);
      if (s.added) h.characteristics = s.characteristics;
      put(out.headers, img.section_table_offset + i * sizeof(section_header), bytes_of(h));
      image_end = std::max(image_end, std::uint64_t{s.virtual_address} + virtual_extent(s));
    }
    auto size_of_image = checked_align_up<std::uint64_t>(image_end, img.section_alignment);
    if (!size_of_image || *size_of_image > UINT32_MAX)
      return error(errc::limit_exceeded,
                   "SizeOfImage would pass 4 GiB (image ends at " + hex(image_end) + ")");

    // COFF header and optional header fields.
    const std::uint64_t coff = img.coff_header_offset();
    put16(out.headers, coff + offsetof(coff_header, number_of_sections),
          static_cast<std::uint16_t>(sections_.size()));
    put32(out.headers, coff + offsetof(coff_header, pointer_to_symbol_table), 0);
    put32(out.headers, coff + offsetof(coff_header, number_of_symbols), 0);
    const std::uint64_t opt = img.optional_header_offset;
    put32(out.headers, opt + opt_size_of_code_offset, size_of_code);
    put32(out.headers, opt + opt_size_of_initialized_data_offset, size_of_init);
    put32(out.headers, opt + opt_size_of_image_offset, static_cast<std::uint32_t>(*size_of_image));
    put32(out.headers, opt + opt_size_of_headers_offset, static_cast<std::uint32_t>(headers_end));
    put32(out.headers, opt + opt_checksum_offset, 0);
    put32(out.headers, opt + opt_checksum_offset,
          compute_checksum(out.pieces(), opt + opt_checksum_offset));
    return out;
  }

private:
  struct planned_section {
    std::string name;
    byte_span data; // what goes in the file (VirtualSize bytes for added sections)
    std::uint32_t virtual_size;
    std::uint32_t virtual_address;
    std::uint32_t characteristics;
    std::uint64_t header_offset; // of the original header, for existing sections
    std::uint32_t old_pointer;   // original PointerToRawData, for existing sections
    bool added;
  };

  explicit editor(const image& img) : img_(&img) {}

  static bool all_zero(byte_span b) {
    return std::all_of(b.begin(), b.end(), [](std::byte x) { return x == std::byte{0}; });
  }
  static byte_span zeros(std::uint64_t n) {
    static const std::array<std::byte, max_file_alignment> buffer{};
    return byte_span(buffer).first(static_cast<std::size_t>(n));
  }
  // Old linkers leave VirtualSize 0 and mean SizeOfRawData.
  static std::uint64_t virtual_extent(const planned_section& s) {
    return s.virtual_size ? s.virtual_size : s.data.size();
  }
  static void put(std::vector<std::byte>& b, std::uint64_t off, byte_span v) {
    std::copy(v.begin(), v.end(), b.begin() + static_cast<std::ptrdiff_t>(off));
  }
  static void put16(std::vector<std::byte>& b, std::uint64_t off, std::uint16_t v) {
    le16 f{};
    f = v;
    put(b, off, bytes_of(f));
  }
  static void put32(std::vector<std::byte>& b, std::uint64_t off, std::uint32_t v) {
    le32 f{};
    f = v;
    put(b, off, bytes_of(f));
  }
  static void adjust(std::uint32_t& code, std::uint32_t& init, std::uint32_t characteristics,
                     std::uint32_t size, bool add) {
    std::uint32_t& field = (characteristics & scn_cnt_code) ? code : init;
    field = add ? field + size : (field >= size ? field - size : 0);
  }

  result<void> check_name(std::string_view name, bool repeat_name = false) const {
    if (name.empty() || name.size() > 8)
      return error(errc::invalid_argument,
                   "section name \"" + std::string(name) +
                       "\" must be 1 to 8 bytes (PE images have no long names)");
    if (!repeat_name && find(name) != sections_.end())
      return error(errc::invalid_argument, "section " + std::string(name) + " already exists");
    return {};
  }
  std::vector<planned_section>::iterator find(std::string_view name) {
    return std::find_if(sections_.begin(), sections_.end(),
                        [&](const auto& s) { return s.name == name; });
  }
  std::vector<planned_section>::const_iterator find(std::string_view name) const {
    return std::find_if(sections_.begin(), sections_.end(),
                        [&](const auto& s) { return s.name == name; });
  }
  bool is_last_by_address(const planned_section& s) const {
    return std::none_of(sections_.begin(), sections_.end(), [&](const planned_section& o) {
      return o.virtual_address > s.virtual_address;
    });
  }
  const section* original(const planned_section& s) const {
    if (s.added) return nullptr;
    for (const auto& o : img_->sections)
      if (o.header_offset == s.header_offset) return &o;
    return nullptr;
  }

  const image* img_;
  std::vector<planned_section> sections_;
  byte_span trailing_;
};

} // namespace ukikit::pe
