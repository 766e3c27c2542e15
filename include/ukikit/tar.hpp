// tar archives (OCI layers): ustar, pax and GNU, read without copying.
//
// One push parser takes the archive in chunks of any size (a decompressed
// layer as it arrives) and calls a handler with each entry and its data; the
// pull `reader` over one span gives entries whose name, link target and
// data are views into the input.
//
// What is read (../shared/reference/formats.md §2):
// - headers: ustar ("ustar\0" "00"), GNU ("ustar  \0") and v7 (no magic);
//   numbers in octal (leading spaces, ended by space or NUL, nothing but
//   spaces and NULs after) or base-256 (GNU: first byte 0x80 positive, 0xff
//   negative); the checksum as POSIX sums it (unsigned bytes), else as old
//   BSD and Solaris tar did (signed bytes, reported);
// - pax extended headers: `x` for the next entry, `g` for every later one;
//   `path`, `linkpath`, `size`, `uid`, `gid`, `uname`, `gname`, `mtime`
//   (seconds with a fraction, may be negative), `SCHILY.xattr.<name>`; an
//   empty value restores the header's field; GNU.sparse.* marks the entry
//   sparse (GNU.sparse.name is its path);
// - GNU `L` and `K` (long name, long link target), and `S` (sparse, with
//   its extension blocks skipped);
// - the end: two zero blocks, and nothing but zeros after them.
//
// The rule that keeps two tools from seeing different files (TARmageddon,
// CVE-2025-62518): the size that says where the data ends is the one that
// says where the next header is. A pax `size` governs both; a ustar size that
// disagrees with it, a size on a type that has no data (links, devices,
// directories, fifos: none, as Go's archive/tar reads them), a lone zero
// block with entries after it, and bytes after the end are errors in strict
// mode, and findings otherwise. Absolute and ".." names are reported here
// and refused by the extractor.
//
// Sparse entries are reported, not expanded: data() is the bytes stored.
#pragma once

#include "bytes.hpp"
#include "diagnostics.hpp"
#include "result.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ukikit::tar {

// tar has no kernel reading: kernel reads as permissive.
using strictness = ukikit::strictness;

namespace code {
inline constexpr std::string_view signed_checksum = "tar.signed-checksum";
inline constexpr std::string_view size_mismatch = "tar.size-mismatch";
inline constexpr std::string_view size_ignored = "tar.size-ignored";
inline constexpr std::string_view pax_duplicate_key = "tar.pax-duplicate-key";
inline constexpr std::string_view pax_padding = "tar.pax-padding";
inline constexpr std::string_view unused_header = "tar.unused-header";
inline constexpr std::string_view sparse = "tar.sparse";
inline constexpr std::string_view v7_directory = "tar.v7-directory";
inline constexpr std::string_view lone_zero_block = "tar.lone-zero-block";
inline constexpr std::string_view missing_end = "tar.missing-end";
inline constexpr std::string_view trailing_data = "tar.trailing-data";
inline constexpr std::string_view absolute_path = "tar.absolute-path";
inline constexpr std::string_view dotdot_path = "tar.dotdot-path";
} // namespace code

// Every header and every data area is a whole number of these.
inline constexpr std::size_t block_size = 512;
// Longest data of one special header (pax `x`/`g`, GNU `L`/`K`), and of all
// pax `g` values together: Go's archive/tar caps special blocks at 1 MiB
// (CVE-2025-58183 extended it to sparse maps), libarchive at 1 MiB for paths.
inline constexpr std::uint64_t max_special_size = std::uint64_t{1} << 20;
// GNU sparse extension blocks after one `S` header (21 map entries each).
inline constexpr std::size_t max_sparse_blocks = 2048;

enum class header_format : std::uint8_t { v7, ustar, gnu };

enum class entry_type : std::uint8_t {
  file,      // '0', NUL, '7' (contiguous), 'S' (GNU sparse)
  hardlink,  // '1'
  symlink,   // '2'
  chardev,   // '3'
  blockdev,  // '4'
  directory, // '5', or a v7 file name ending in '/'
  fifo,      // '6'
  other,     // anything else: data by its size, as POSIX reads unknown types
};

constexpr std::string_view type_name(entry_type t) noexcept {
  switch (t) {
  case entry_type::file: return "file";
  case entry_type::hardlink: return "hardlink";
  case entry_type::symlink: return "symlink";
  case entry_type::chardev: return "chardev";
  case entry_type::blockdev: return "blockdev";
  case entry_type::directory: return "directory";
  case entry_type::fifo: return "fifo";
  case entry_type::other: return "other";
  }
  return "other";
}

// Links, devices, directories and fifos have no data, whatever the size says.
constexpr bool header_only(entry_type t) noexcept {
  return t != entry_type::file && t != entry_type::other;
}

struct xattr {
  std::string_view name;  // after "SCHILY.xattr."
  std::string_view value; // raw bytes
};

// One archive member. Views point into the input (reader) or into the
// parser's buffers (push parser; valid until the handler's end() returns).
struct entry {
  std::uint64_t offset = 0;        // of the first header that belongs to it (pax, L, K)
  std::uint64_t header_offset = 0; // of its own header
  std::uint64_t data_offset = 0;
  char typeflag = '0';
  entry_type type = entry_type::file;
  header_format format = header_format::ustar;
  bool pax = false; // a pax `x` or `g` header applied to it
  // The path is prefix + "/" + name when prefix is not empty (ustar's split);
  // a pax path or GNU long name is all in `name`.
  std::string_view prefix;
  std::string_view name;
  std::string_view linkname; // hard link target or symlink target
  std::string_view uname, gname;
  std::uint64_t mode = 0; // permission bits (07777)
  std::uint64_t uid = 0, gid = 0;
  std::int64_t mtime = 0;
  std::uint32_t mtime_nsec = 0;
  std::uint64_t devmajor = 0, devminor = 0;
  std::uint64_t size = 0; // bytes of data that follow the header
  bool sparse = false;
  std::uint64_t sparse_realsize = 0; // the expanded size, when sparse
  std::vector<xattr> xattrs;
  byte_span data; // reader only: the whole data

  std::string path() const {
    if (prefix.empty()) return std::string(name);
    std::string p(prefix);
    p += '/';
    p += name;
    return p;
  }
};

struct options {
  strictness mode = strictness::strict;
  // The caller promises that every chunk fed stays valid and unchanged for
  // the parser's lifetime (all chunks are parts of one mapped input): then
  // headers and names are views into the chunks instead of copies.
  bool chunks_persist = false;
  std::size_t max_findings = finding_log::default_limit;
};

enum class stop : std::uint8_t {
  need_input, // the chunk is consumed; feed more, or finish()
  paused,     // the handler's end() returned false
  ended,      // after the end of the archive (two zero blocks)
};

struct fed {
  std::size_t used = 0;
  tar::stop stop = stop::need_input;
};

namespace detail {

// ustar header fields (offset, size), POSIX pax "ustar Interchange Format".
struct field {
  std::size_t offset, size;
};
inline constexpr field name_field{0, 100};
inline constexpr field mode_field{100, 8};
inline constexpr field uid_field{108, 8};
inline constexpr field gid_field{116, 8};
inline constexpr field size_field{124, 12};
inline constexpr field mtime_field{136, 12};
inline constexpr field chksum_field{148, 8};
inline constexpr field typeflag_field{156, 1};
inline constexpr field linkname_field{157, 100};
inline constexpr field magic_field{257, 6};
inline constexpr field version_field{263, 2};
inline constexpr field uname_field{265, 32};
inline constexpr field gname_field{297, 32};
inline constexpr field devmajor_field{329, 8};
inline constexpr field devminor_field{337, 8};
inline constexpr field prefix_field{345, 155};
static_assert(prefix_field.offset + prefix_field.size == 500);
// GNU: "ustar  \0" over magic and version; no prefix.
inline constexpr field gnu_magic_field{257, 8};
inline constexpr field gnu_isextended_field{482, 1};
inline constexpr field gnu_realsize_field{483, 12};
// A GNU sparse extension block: 21 map entries of 24 bytes, then isextended.
inline constexpr field gnu_ext_isextended_field{504, 1};

inline constexpr std::string_view ustar_magic{"ustar\0", 6};
inline constexpr std::string_view gnu_magic{"ustar  \0", 8};

inline byte_span at(byte_span block, field f) noexcept { return block.subspan(f.offset, f.size); }

// The text of a NUL-padded field: up to the first NUL.
inline std::string_view text(byte_span block, field f) noexcept {
  std::string_view s = as_chars(at(block, f));
  return s.substr(0, s.find('\0'));
}

inline bool all_zero(byte_span b) noexcept { return leading_zeros(b) == b.size(); }

// A number field: octal, or base-256 when the first byte has its top bit set.
inline result<std::int64_t> number(byte_span block, field f, std::string_view what,
                                   std::uint64_t header_offset) {
  byte_span b = at(block, f);
  const std::uint64_t where = header_offset + f.offset;
  const auto first = std::to_integer<unsigned>(b[0]);
  if (first & 0x80) {
    // Two's complement, big endian, the marker bit not part of the value;
    // bit 6 of the first byte is the sign (0x80 positive, 0xff negative).
    std::int64_t v = (first & 0x40) ? -1 : 0;
    v = static_cast<std::int64_t>((static_cast<std::uint64_t>(v) << 6) | (first & 0x3f));
    for (std::size_t i = 1; i < b.size(); ++i) {
      constexpr std::int64_t lim = std::numeric_limits<std::int64_t>::max() >> 8;
      if (v > lim || v < -lim - 1)
        return error(errc::overflow, std::string(what) + " does not fit 64 bits (base-256)", where);
      v = static_cast<std::int64_t>((static_cast<std::uint64_t>(v) << 8) |
                                    std::to_integer<unsigned>(b[i]));
    }
    return v;
  }
  std::size_t i = 0;
  while (i < b.size() && b[i] == std::byte{' '}) ++i;
  std::uint64_t v = 0;
  std::size_t digits = 0;
  for (; i < b.size(); ++i, ++digits) {
    const char c = std::to_integer<char>(b[i]);
    if (c < '0' || c > '7') break;
    v = v * 8 + static_cast<unsigned>(c - '0'); // at most 12 digits: no overflow
  }
  for (; i < b.size(); ++i) {
    const char c = std::to_integer<char>(b[i]);
    if (c != ' ' && c != '\0')
      return error(errc::malformed,
                   std::string(what) + " is not an octal number (byte " + hex(unsigned(c) & 0xff) +
                       " at position " + std::to_string(i) + ")",
                   where + i);
  }
  return static_cast<std::int64_t>(v);
}

inline result<std::uint64_t> unsigned_number(byte_span block, field f, std::string_view what,
                                             std::uint64_t header_offset) {
  UKIKIT_TRY_ASSIGN(std::int64_t v, number(block, f, what, header_offset));
  if (v < 0)
    return error(errc::malformed, std::string(what) + " is negative (" + std::to_string(v) + ")",
                 header_offset + f.offset);
  return static_cast<std::uint64_t>(v);
}

struct checksum_result {
  bool ok = false;
  bool signed_sum = false;
  std::uint64_t stored = 0, unsigned_sum = 0;
};

// POSIX sums unsigned bytes with the checksum field as eight spaces; old
// BSD, Solaris and HP-UX tar summed signed bytes (libarchive accepts both).
inline result<checksum_result> check_sum(byte_span block, std::uint64_t header_offset) {
  checksum_result r;
  UKIKIT_TRY_ASSIGN(r.stored,
                    unsigned_number(block, chksum_field, "header checksum", header_offset));
  // Every header is summed: the whole block in one branch-free loop (it
  // vectorizes), then the field's bytes swapped for spaces.
  std::uint32_t all = 0, field = 0; // at most 512 * 255: no overflow
  for (std::size_t i = 0; i < block_size; ++i) all += std::to_integer<std::uint32_t>(block[i]);
  for (std::size_t i = 0; i < chksum_field.size; ++i)
    field += std::to_integer<std::uint32_t>(block[chksum_field.offset + i]);
  r.unsigned_sum = all - field + chksum_field.size * unsigned{' '};
  if (r.stored == r.unsigned_sum) {
    r.ok = true;
    return r;
  }
  std::int64_t s = 0;
  for (std::size_t i = 0; i < block_size; ++i) {
    const bool in_field = i >= chksum_field.offset && i < chksum_field.offset + chksum_field.size;
    s += in_field ? ' ' : static_cast<std::int8_t>(std::to_integer<unsigned>(block[i]));
  }
  if (s >= 0 && r.stored == static_cast<std::uint64_t>(s)) r.ok = r.signed_sum = true;
  return r;
}

// A header as its 512 bytes say, before pax, L and K are applied.
struct raw_header {
  char typeflag = '0';
  header_format format = header_format::v7;
  std::string_view name, linkname, prefix, uname, gname;
  std::uint64_t mode = 0, uid = 0, gid = 0, size = 0, devmajor = 0, devminor = 0;
  std::int64_t mtime = 0;
  bool gnu_extended = false; // GNU `S`: extension blocks follow
  std::uint64_t gnu_realsize = 0;
};

inline result<raw_header> decode(byte_span block, std::uint64_t offset, finding_log& log) {
  raw_header h;
  UKIKIT_TRY_ASSIGN(auto sum, check_sum(block, offset));
  if (!sum.ok)
    return error(errc::checksum_mismatch,
                 "tar header checksum mismatch (stored " + std::to_string(sum.stored) +
                     ", computed " + std::to_string(sum.unsigned_sum) + "): not a tar header",
                 offset + chksum_field.offset);
  if (sum.signed_sum)
    log.add(severity::note, code::signed_checksum,
            "header checksum is the signed-byte sum (old BSD or Solaris tar)", offset, block_size);
  const std::string_view magic6 = as_chars(at(block, magic_field));
  if (as_chars(at(block, gnu_magic_field)) == gnu_magic) {
    h.format = header_format::gnu;
  } else if (magic6 == ustar_magic) {
    h.format = header_format::ustar;
  } else if (all_zero(at(block, magic_field))) {
    h.format = header_format::v7;
  } else {
    return error(errc::malformed, "tar header magic is neither ustar, GNU nor empty",
                 offset + magic_field.offset);
  }
  h.typeflag = std::to_integer<char>(block[typeflag_field.offset]);
  h.name = text(block, name_field);
  h.linkname = text(block, linkname_field);
  UKIKIT_TRY_ASSIGN(h.mode, unsigned_number(block, mode_field, "mode", offset));
  UKIKIT_TRY_ASSIGN(h.uid, unsigned_number(block, uid_field, "uid", offset));
  UKIKIT_TRY_ASSIGN(h.gid, unsigned_number(block, gid_field, "gid", offset));
  UKIKIT_TRY_ASSIGN(h.size, unsigned_number(block, size_field, "size", offset));
  UKIKIT_TRY_ASSIGN(h.mtime, number(block, mtime_field, "mtime", offset));
  if (h.format != header_format::v7) {
    h.uname = text(block, uname_field);
    h.gname = text(block, gname_field);
    // Devices only: other writers leave these fields empty or garbage-free.
    if (h.typeflag == '3' || h.typeflag == '4') {
      UKIKIT_TRY_ASSIGN(h.devmajor, unsigned_number(block, devmajor_field, "devmajor", offset));
      UKIKIT_TRY_ASSIGN(h.devminor, unsigned_number(block, devminor_field, "devminor", offset));
    }
  }
  if (h.format == header_format::ustar) h.prefix = text(block, prefix_field);
  if (h.format == header_format::gnu && h.typeflag == 'S') {
    h.gnu_extended = block[gnu_isextended_field.offset] != std::byte{0};
    UKIKIT_TRY_ASSIGN(h.gnu_realsize,
                      unsigned_number(block, gnu_realsize_field, "sparse real size", offset));
  }
  return h;
}

// A decimal number in a pax value.
inline std::optional<std::uint64_t> decimal(std::string_view s) noexcept {
  if (s.empty() || s.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    auto m = checked_mul<std::uint64_t>(v, 10);
    if (!m) return std::nullopt;
    auto a = checked_add<std::uint64_t>(*m, static_cast<std::uint64_t>(c - '0'));
    if (!a) return std::nullopt;
    v = *a;
  }
  return v;
}

// pax time: [-]seconds[.fraction]; the fraction is cut to nanoseconds.
inline bool pax_time(std::string_view s, std::int64_t& sec, std::uint32_t& nsec) noexcept {
  const bool negative = !s.empty() && s[0] == '-';
  if (negative) s.remove_prefix(1);
  const auto dot = s.find('.');
  auto whole = decimal(s.substr(0, dot));
  if (!whole || *whole > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    return false;
  std::uint32_t frac = 0;
  if (dot != std::string_view::npos) {
    std::string_view f = s.substr(dot + 1);
    if (f.empty()) return false;
    for (std::size_t i = 0; i < f.size(); ++i) {
      if (f[i] < '0' || f[i] > '9') return false;
      if (i < 9) frac = frac * 10 + static_cast<std::uint32_t>(f[i] - '0');
    }
    for (std::size_t i = f.size(); i < 9; ++i) frac *= 10;
  }
  sec = static_cast<std::int64_t>(*whole);
  nsec = frac;
  if (negative && (sec != 0 || nsec != 0)) { // -1.25 is 1.25 s before the epoch
    sec = -sec;
    if (nsec != 0) {
      sec -= 1;
      nsec = 1000000000U - nsec;
    }
  }
  return true;
}

struct pax_record {
  std::string_view key, value;
  std::uint64_t offset; // of the record
};

// "<length> <key>=<value>\n" records, the length counting the whole record.
// Trailing NULs after the last record are tolerated (reported).
inline result<void> parse_pax(byte_span data, std::uint64_t offset, std::vector<pax_record>& out,
                              finding_log& log) {
  std::string_view s = as_chars(data);
  std::size_t pos = 0;
  while (pos < s.size()) {
    if (s[pos] == '\0') {
      if (!all_zero(data.subspan(pos)))
        return error(errc::malformed, "pax header has bytes after a NUL", offset + pos);
      log.add(severity::note, code::pax_padding, "pax header ends in NUL padding", offset + pos,
              s.size() - pos);
      break;
    }
    const std::uint64_t at_record = offset + pos;
    const auto space = s.find(' ', pos);
    if (space == std::string_view::npos || space == pos || space - pos > 20)
      return error(errc::malformed, "pax record has no length", at_record);
    auto len = decimal(s.substr(pos, space - pos));
    if (!len || *len <= space - pos + 1 || *len > s.size() - pos)
      return error(errc::malformed,
                   "pax record length is not a number within the header (" +
                       std::string(s.substr(pos, space - pos)) + ", " +
                       std::to_string(s.size() - pos) + " bytes left)",
                   at_record);
    std::string_view rec = s.substr(pos, static_cast<std::size_t>(*len));
    if (rec.back() != '\n')
      return error(errc::malformed, "pax record does not end in a newline", at_record);
    std::string_view kv = rec.substr(space - pos + 1, rec.size() - (space - pos + 1) - 1);
    const auto eq = kv.find('=');
    if (eq == std::string_view::npos || eq == 0)
      return error(errc::malformed, "pax record has no key=value", at_record);
    out.push_back({kv.substr(0, eq), kv.substr(eq + 1), at_record});
    pos += rec.size();
  }
  return success();
}

inline bool has_component(std::string_view path, std::string_view c) noexcept {
  std::size_t pos = 0;
  while (pos <= path.size()) {
    auto slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    if (path.substr(pos, slash - pos) == c) return true;
    pos = slash + 1;
  }
  return false;
}

// Builds entries from a header and the special headers before it.
class assembler {
public:
  explicit assembler(const options& opts, finding_log& log) : opts_(opts), log_(log) {}

  bool strict() const noexcept { return opts_.mode == strictness::strict; }

  // A `g` header's data: merged into the global records (owned copies, the
  // data need not outlive this call).
  result<void> global(byte_span data, std::uint64_t data_offset) {
    std::vector<pax_record> recs;
    UKIKIT_TRY(parse_pax(data, data_offset, recs, log_));
    for (const auto& r : recs) {
      auto it = std::find_if(global_.begin(), global_.end(),
                             [&](const auto& g) { return g.first == r.key; });
      if (it != global_.end()) global_.erase(it);
      if (!r.value.empty()) global_.emplace_back(std::string(r.key), std::string(r.value));
    }
    std::uint64_t total = 0;
    for (const auto& g : global_) total += g.first.size() + g.second.size();
    if (total > max_special_size)
      return error(errc::limit_exceeded,
                   "pax global headers hold " + std::to_string(total) + " bytes (limit " +
                       std::to_string(max_special_size) + ")",
                   data_offset);
    return success();
  }

  // An `x` header's data; it must stay valid until the entry is built.
  result<void> local(byte_span data, std::uint64_t header_offset, std::uint64_t data_offset) {
    if (local_set_) unused("pax header", local_offset_);
    local_.clear();
    UKIKIT_TRY(parse_pax(data, data_offset, local_, log_));
    for (std::size_t i = 0; i < local_.size(); ++i)
      for (std::size_t j = 0; j < i; ++j)
        if (local_[i].key == local_[j].key) {
          log_.add(severity::warning, code::pax_duplicate_key,
                   "pax key " + std::string(local_[i].key) + " given twice: the last one is used",
                   local_[i].offset);
          break;
        }
    local_set_ = true;
    local_offset_ = header_offset;
    note_start(header_offset);
    return success();
  }

  // A GNU `L` or `K` header's data: the name up to its NUL.
  result<void> long_text(bool link, byte_span data, std::uint64_t header_offset,
                         std::uint64_t data_offset) {
    std::string_view s = as_chars(data);
    const auto nul = s.find('\0');
    if (nul != std::string_view::npos) {
      if (!all_zero(data.subspan(nul)))
        return error(errc::malformed, "GNU long name has bytes after its NUL", data_offset + nul);
      s = s.substr(0, nul);
    }
    auto& slot = link ? long_link_ : long_name_;
    if (slot) unused(link ? "GNU long link" : "GNU long name", slot_offset(link));
    slot = s;
    (link ? long_link_offset_ : long_name_offset_) = header_offset;
    note_start(header_offset);
    return success();
  }

  bool pending() const noexcept { return local_set_ || long_name_ || long_link_; }
  // The specials that came before the end of the archive are reported.
  void report_pending() {
    if (local_set_) unused("pax header", local_offset_);
    if (long_name_) unused("GNU long name", long_name_offset_);
    if (long_link_) unused("GNU long link", long_link_offset_);
    reset();
  }

  // The entry of a regular header at `offset`.
  result<entry> build(const raw_header& h, std::uint64_t offset) {
    entry e;
    e.offset = start_ ? *start_ : offset;
    e.header_offset = offset;
    e.typeflag = h.typeflag;
    e.format = h.format;
    e.prefix = h.prefix;
    e.name = h.name;
    e.linkname = h.linkname;
    e.uname = h.uname;
    e.gname = h.gname;
    e.mode = h.mode & 07777;
    e.uid = h.uid;
    e.gid = h.gid;
    e.mtime = h.mtime;
    e.devmajor = h.devmajor;
    e.devminor = h.devminor;
    e.size = h.size;
    e.type = type_of(h.typeflag);
    if (h.typeflag == 'S') {
      e.sparse = true;
      e.sparse_realsize = h.gnu_realsize;
    }
    if (long_name_) {
      e.prefix = {};
      e.name = *long_name_;
    }
    if (long_link_) e.linkname = *long_link_;
    std::optional<std::uint64_t> pax_size;
    auto apply = [&](std::string_view key, std::string_view value,
                     std::uint64_t at) -> result<void> {
      e.pax = true;
      const bool reset = value.empty(); // an empty value restores the header's field
      auto bad = [&](std::string_view what) {
        return error(errc::malformed,
                     "pax " + std::string(key) + " is not " + std::string(what) + ": " +
                         std::string(value.substr(0, 64)),
                     at);
      };
      if (key == "path") {
        if (value.find('\0') != std::string_view::npos) return bad("a path without NUL");
        e.prefix = reset ? h.prefix : std::string_view{};
        e.name = reset ? (long_name_ ? *long_name_ : h.name) : value;
      } else if (key == "linkpath") {
        if (value.find('\0') != std::string_view::npos) return bad("a path without NUL");
        e.linkname = reset ? (long_link_ ? *long_link_ : h.linkname) : value;
      } else if (key == "size") {
        if (reset) {
          pax_size.reset();
        } else {
          auto v = decimal(value);
          if (!v) return bad("a decimal size");
          pax_size = *v;
        }
      } else if (key == "uid" || key == "gid") {
        std::uint64_t& slot = key == "uid" ? e.uid : e.gid;
        if (reset) {
          slot = key == "uid" ? h.uid : h.gid;
        } else {
          auto v = decimal(value);
          if (!v) return bad("a decimal id");
          slot = *v;
        }
      } else if (key == "uname") {
        e.uname = reset ? h.uname : value;
      } else if (key == "gname") {
        e.gname = reset ? h.gname : value;
      } else if (key == "mtime") {
        if (reset) {
          e.mtime = h.mtime;
          e.mtime_nsec = 0;
        } else if (!pax_time(value, e.mtime, e.mtime_nsec)) {
          return bad("a time");
        }
      } else if (key.starts_with("SCHILY.xattr.")) {
        std::string_view n = key.substr(13);
        std::erase_if(e.xattrs, [&](const xattr& x) { return x.name == n; });
        if (!reset) e.xattrs.push_back({n, value});
      } else if (key.starts_with("GNU.sparse.")) {
        e.sparse = true;
        if (key == "GNU.sparse.name" && !reset) {
          e.prefix = {};
          e.name = value;
        } else if ((key == "GNU.sparse.realsize" || key == "GNU.sparse.size") && !reset) {
          auto v = decimal(value);
          if (!v) return bad("a decimal size");
          e.sparse_realsize = *v;
        }
      }
      return success();
    };
    for (const auto& g : global_) UKIKIT_TRY(apply(g.first, g.second, offset));
    if (local_set_)
      for (const auto& r : local_) UKIKIT_TRY(apply(r.key, r.value, r.offset));
    if (pax_size) {
      // The ustar field is 0 when the size does not fit it; any other value
      // that differs is the TARmageddon desync.
      if (h.size != 0 && h.size != *pax_size) {
        std::string m = "pax size and header size disagree: a reader that ignores pax would "
                        "see other files";
        if (strict())
          return error(errc::malformed,
                       m + " (pax " + std::to_string(*pax_size) + ", header " +
                           std::to_string(h.size) + ")",
                       offset + size_field.offset);
        finding f(severity::error, code::size_mismatch, std::move(m), offset + size_field.offset,
                  size_field.size);
        f.claimed = std::to_string(h.size);
        f.computed = std::to_string(*pax_size);
        log_.add(std::move(f));
      }
      e.size = *pax_size;
    }
    if (e.type == entry_type::file && (h.typeflag == '0' || h.typeflag == '\0') &&
        path_ends_in_slash(e)) {
      e.type = entry_type::directory;
      log_.add(severity::note, code::v7_directory,
               "file entry whose name ends in '/' is a directory (old tar)", offset);
    }
    if (header_only(e.type) && e.size != 0) {
      std::string m = std::string(type_name(e.type)) + " entry has a size of " +
                      std::to_string(e.size) + ": it has no data";
      if (strict()) return error(errc::malformed, m, offset + size_field.offset);
      log_.add(severity::warning, code::size_ignored, m + " (read as 0, as Go's archive/tar does)",
               offset + size_field.offset);
      e.size = 0;
    }
    if (e.sparse)
      log_.add(severity::warning, code::sparse,
               "sparse entry: its data is the stored parts, not expanded (OCI layers should not "
               "have sparse files)",
               offset);
    check_path(e, offset);
    reset();
    return e;
  }

private:
  static entry_type type_of(char t) noexcept {
    switch (t) {
    case '0':
    case '\0':
    case '7':
    case 'S': return entry_type::file;
    case '1': return entry_type::hardlink;
    case '2': return entry_type::symlink;
    case '3': return entry_type::chardev;
    case '4': return entry_type::blockdev;
    case '5': return entry_type::directory;
    case '6': return entry_type::fifo;
    default: return entry_type::other;
    }
  }

  // e.path() (prefix + "/" + name) ends in '/', without making it.
  static bool path_ends_in_slash(const entry& e) noexcept {
    return e.name.empty() ? !e.prefix.empty() : e.name.back() == '/';
  }

  // The path is made only for a finding: every entry is checked. A path's
  // components are those of its prefix and of its name.
  void check_path(const entry& e, std::uint64_t offset) {
    auto check = [&](std::string_view what, std::string_view prefix, std::string_view name,
                     auto make) {
      const std::string_view first = prefix.empty() ? name : prefix;
      if (!first.empty() && first[0] == '/') {
        finding f(severity::warning, code::absolute_path,
                  std::string(what) + " is absolute: an extractor must refuse it", offset);
        f.subject = make();
        log_.add(std::move(f));
      }
      if ((!prefix.empty() && has_component(prefix, "..")) || has_component(name, "..")) {
        finding f(severity::warning, code::dotdot_path,
                  std::string(what) + " has a \"..\" component: an extractor must refuse it",
                  offset);
        f.subject = make();
        log_.add(std::move(f));
      }
    };
    check("entry name", e.prefix, e.name, [&] { return e.path(); });
    if (e.type == entry_type::hardlink)
      check("hard link target", {}, e.linkname, [&] { return std::string(e.linkname); });
  }

  void unused(std::string_view what, std::uint64_t at) {
    std::string m = std::string(what) + " applies to no entry";
    log_.add(severity::warning, code::unused_header, std::move(m), at);
  }
  std::uint64_t slot_offset(bool link) const noexcept {
    return link ? long_link_offset_ : long_name_offset_;
  }
  void note_start(std::uint64_t at) {
    if (!start_) start_ = at;
  }
  void reset() {
    local_.clear();
    local_set_ = false;
    long_name_.reset();
    long_link_.reset();
    start_.reset();
  }

  const options& opts_;
  finding_log& log_;
  std::vector<std::pair<std::string, std::string>> global_;
  std::vector<pax_record> local_;
  bool local_set_ = false;
  std::uint64_t local_offset_ = 0;
  std::optional<std::string_view> long_name_, long_link_;
  std::uint64_t long_name_offset_ = 0, long_link_offset_ = 0;
  std::optional<std::uint64_t> start_;
};

inline bool is_special(char t) noexcept { return t == 'x' || t == 'g' || t == 'L' || t == 'K'; }

} // namespace detail

// The push parser.
//
// Handler:
//   result<void> begin(const entry&);
//   result<void> data(const entry&, byte_span piece); // pieces in order
//   result<bool> end(const entry&);                    // false pauses feed()
class parser {
public:
  explicit parser(options opts = {}, std::uint64_t start = 0)
      : opts_(opts), log_(opts.max_findings), asm_(opts_, log_), offset_(start) {}
  parser(const parser&) = delete;
  parser& operator=(const parser&) = delete;

  template <class Handler> result<fed> feed(byte_span chunk, Handler& handler) {
    std::size_t pos = 0;
    for (;;) {
      if (state_ == state::ended) {
        UKIKIT_TRY(after_end(chunk.subspan(pos)));
        return fed{chunk.size(), stop::ended};
      }
      if (pos == chunk.size() && state_ != state::entry_done) return fed{pos, stop::need_input};
      UKIKIT_TRY_ASSIGN(bool paused, step(chunk, pos, handler));
      if (paused) return fed{pos, stop::paused};
    }
  }

  // The stream ended: an error when it ends inside an entry; findings for a
  // missing end-of-archive.
  result<void> finish() {
    switch (state_) {
    case state::ended: return success();
    case state::header:
      if (have_ == 0) {
        if (asm_.pending()) asm_.report_pending();
        if (opts_.mode == strictness::strict)
          return error(errc::truncated, "tar archive ends without its two zero blocks", offset_);
        log_.add(severity::warning, code::missing_end,
                 "tar archive ends without its two zero blocks", offset_);
        return success();
      }
      break;
    case state::second_zero:
      if (have_ == 0) {
        log_.add(severity::note, code::lone_zero_block,
                 "tar archive ends with one zero block, not two", offset_ - block_size, block_size);
        return success();
      }
      break;
    default: break;
    }
    return error(errc::truncated, "tar archive ends inside " + where(), offset_);
  }

  // Inside an entry's data, or the padding after data: how many bytes the
  // parser takes next without reading them (0 elsewhere). A caller whose
  // handler ignores data() may skip() them instead of feeding them: a raw
  // archive in a file is then read header by header, as `tar -t` seeks.
  std::uint64_t skippable() const noexcept {
    return state_ == state::data || state_ == state::padding ? remaining_ : 0;
  }
  // Takes n <= skippable() bytes as feed() would, except that data() is not
  // called for them; n beyond skippable() is cut to it.
  void skip(std::uint64_t n) noexcept {
    if (state_ != state::data && state_ != state::padding) return;
    n = std::min(n, remaining_);
    offset_ += n;
    remaining_ -= n;
    if (remaining_ != 0) return;
    if (state_ == state::data) begin_padding(current_.size, state::entry_done);
    else state_ = after_padding_;
  }

  std::uint64_t offset() const noexcept { return offset_; }
  std::uint64_t entries() const noexcept { return entries_; }
  bool ended() const noexcept { return state_ == state::ended; }
  const finding_log& findings() const noexcept { return log_; }
  finding_log& findings() noexcept { return log_; }

private:
  enum class state : std::uint8_t {
    header,      // collecting a 512-byte header
    special,     // collecting a special header's data
    sparse_ext,  // collecting a GNU sparse extension block
    data,        // passing an entry's data on
    padding,     // skipping to the next block
    entry_done,  // calling end()
    second_zero, // after one zero block
    ended,       // after two
  };

  std::string where() const {
    switch (state_) {
    case state::header: return "a header";
    case state::special: return "the data of a special header";
    case state::sparse_ext: return "a sparse extension block";
    case state::data: return "the data of \"" + escape_controls(current_.path()) + "\"";
    case state::padding: // after an entry's data, or after a special header's
      if (after_padding_ != state::entry_done) return "the padding of a special header";
      return "the padding after \"" + escape_controls(current_.path()) + "\"";
    case state::second_zero: return "the second end-of-archive block";
    default: return "an entry";
    }
  }

  // Gathers `n` contiguous bytes into `buf` (or views them in the chunk when
  // chunks persist and they lie in one). Returns the span when complete.
  std::optional<byte_span> gather(byte_span chunk, std::size_t& pos, std::size_t n,
                                  std::vector<std::byte>& buf) {
    if (have_ == 0 && opts_.chunks_persist && chunk.size() - pos >= n) {
      byte_span v = chunk.subspan(pos, n);
      pos += n;
      offset_ += n;
      return v;
    }
    if (buf.size() < n) buf.resize(n);
    const std::size_t take = std::min(n - have_, chunk.size() - pos);
    std::copy_n(chunk.begin() + static_cast<std::ptrdiff_t>(pos), take,
                buf.begin() + static_cast<std::ptrdiff_t>(have_));
    pos += take;
    have_ += take;
    offset_ += take;
    if (have_ < n) return std::nullopt;
    have_ = 0;
    return byte_span(buf.data(), n);
  }

  template <class Handler> result<bool> step(byte_span chunk, std::size_t& pos, Handler& h) {
    switch (state_) {
    case state::header: {
      const std::uint64_t at = offset_ - have_;
      auto block = gather(chunk, pos, block_size, header_buf_);
      if (!block) return false;
      if (detail::all_zero(*block)) {
        state_ = state::second_zero;
        return false;
      }
      UKIKIT_TRY(on_header(*block, at, h));
      return false;
    }
    case state::special: {
      auto d = gather(chunk, pos, static_cast<std::size_t>(special_size_), special_buf());
      if (!d) return false;
      const std::uint64_t data_at = offset_ - special_size_;
      if (special_ == 'g') {
        UKIKIT_TRY(asm_.global(*d, data_at));
      } else if (special_ == 'x') {
        UKIKIT_TRY(asm_.local(*d, special_header_, data_at));
      } else {
        UKIKIT_TRY(asm_.long_text(special_ == 'K', *d, special_header_, data_at));
      }
      begin_padding(special_size_, state::header);
      return false;
    }
    case state::sparse_ext: {
      auto block = gather(chunk, pos, block_size, sparse_buf_);
      if (!block) return false;
      if (++sparse_blocks_ > max_sparse_blocks)
        return error(errc::limit_exceeded,
                     "GNU sparse entry has more than " + std::to_string(max_sparse_blocks) +
                         " extension blocks",
                     offset_ - block_size);
      if ((*block)[detail::gnu_ext_isextended_field.offset] == std::byte{0})
        UKIKIT_TRY(start_data(h));
      return false;
    }
    case state::data: {
      const std::size_t take =
          static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, chunk.size() - pos));
      if (take > 0) UKIKIT_TRY(h.data(current_, chunk.subspan(pos, take)));
      pos += take;
      offset_ += take;
      remaining_ -= take;
      if (remaining_ == 0) begin_padding(current_.size, state::entry_done);
      return false;
    }
    case state::padding: {
      const std::size_t take =
          static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, chunk.size() - pos));
      pos += take;
      offset_ += take;
      remaining_ -= take;
      if (remaining_ == 0) state_ = after_padding_;
      return false;
    }
    case state::entry_done: {
      state_ = state::header;
      ++entries_;
      UKIKIT_TRY_ASSIGN(bool go_on, h.end(current_));
      return !go_on;
    }
    case state::second_zero: {
      const std::uint64_t at = offset_ - have_;
      auto block = gather(chunk, pos, block_size, header_buf_);
      if (!block) return false;
      if (detail::all_zero(*block)) {
        if (asm_.pending()) asm_.report_pending();
        state_ = state::ended;
        return false;
      }
      // One zero block, then more: libarchive and GNU tar stop at the zero
      // block, a reader that skips zero blocks sees the entries after it.
      if (opts_.mode == strictness::strict)
        return error(errc::malformed,
                     "tar archive has a lone zero block with more after it: readers disagree "
                     "on where it ends",
                     at - block_size);
      log_.add(severity::error, code::lone_zero_block,
               "lone zero block with more after it: read as the end, as libarchive and GNU tar "
               "do",
               at - block_size, block_size);
      state_ = state::ended;
      trailing_reported_ = false;
      UKIKIT_TRY(after_end(*block, at));
      return false;
    }
    case state::ended: return false;
    }
    return false;
  }

  template <class Handler> result<void> on_header(byte_span block, std::uint64_t at, Handler& h) {
    UKIKIT_TRY_ASSIGN(detail::raw_header raw, detail::decode(block, at, log_));
    if (detail::is_special(raw.typeflag)) {
      if (raw.size > max_special_size)
        return error(
            errc::limit_exceeded,
            std::string("tar ") +
                (raw.typeflag == 'x' || raw.typeflag == 'g' ? "pax header" : "GNU long name") +
                " of " + std::to_string(raw.size) + " bytes (limit " +
                std::to_string(max_special_size) + ")",
            at + detail::size_field.offset);
      special_ = raw.typeflag;
      special_header_ = at;
      special_size_ = raw.size;
      state_ = state::special;
      if (special_size_ == 0) {
        if (special_ == 'g') {
          UKIKIT_TRY(asm_.global({}, offset_));
        } else if (special_ == 'x') {
          UKIKIT_TRY(asm_.local({}, at, offset_));
        } else {
          UKIKIT_TRY(asm_.long_text(special_ == 'K', {}, at, offset_));
        }
        state_ = state::header;
      }
      return success();
    }
    UKIKIT_TRY_ASSIGN(current_, asm_.build(raw, at));
    if (raw.gnu_extended) {
      sparse_blocks_ = 0;
      state_ = state::sparse_ext;
      return success();
    }
    return start_data(h);
  }

  template <class Handler> result<void> start_data(Handler& h) {
    current_.data_offset = offset_;
    UKIKIT_TRY(h.begin(current_));
    remaining_ = current_.size;
    if (remaining_ == 0) {
      state_ = state::entry_done;
    } else {
      state_ = state::data;
    }
    return success();
  }

  void begin_padding(std::uint64_t size, state next) {
    remaining_ = (block_size - size % block_size) % block_size;
    after_padding_ = next;
    state_ = remaining_ == 0 ? next : state::padding;
  }

  std::vector<std::byte>& special_buf() {
    switch (special_) {
    case 'x': return pax_buf_;
    case 'L': return long_name_buf_;
    case 'K': return long_link_buf_;
    default: return global_buf_;
    }
  }

  // After the end: the zeros GNU tar and bsdtar pad their 10240-byte records
  // with are fine; anything else is hidden data.
  result<void> after_end(byte_span rest, std::uint64_t at) {
    const std::size_t z = leading_zeros(rest);
    if (z < rest.size() && !trailing_reported_) {
      const std::uint64_t where = at + z;
      if (opts_.mode == strictness::strict)
        return error(errc::malformed, "tar archive has data after its end", where);
      log_.add(severity::error, code::trailing_data,
               "data after the end of the tar archive: no reader sees it", where);
      trailing_reported_ = true;
    }
    return success();
  }
  result<void> after_end(byte_span rest) {
    const std::uint64_t at = offset_;
    offset_ += rest.size();
    return after_end(rest, at);
  }

  options opts_;
  finding_log log_;
  detail::assembler asm_;
  std::uint64_t offset_;
  state state_ = state::header;
  state after_padding_ = state::header;
  std::size_t have_ = 0; // bytes gathered so far
  std::vector<std::byte> header_buf_, sparse_buf_, pax_buf_, global_buf_, long_name_buf_,
      long_link_buf_;
  char special_ = 0;
  std::uint64_t special_header_ = 0, special_size_ = 0;
  std::size_t sparse_blocks_ = 0;
  entry current_;
  std::uint64_t remaining_ = 0;
  std::uint64_t entries_ = 0;
  bool trailing_reported_ = false;
};

// The pull reader over one span: next() gives each entry with its name,
// link target and data as views into the input; nullopt after the end.
class reader {
public:
  explicit reader(byte_span input, options opts = {})
      : input_(input), parser_(with_persist(opts)) {}

  result<std::optional<entry>> next() {
    struct capture {
      entry got;
      bool have = false;
      result<void> begin(const entry&) { return success(); }
      result<void> data(const entry&, byte_span piece) {
        got.data =
            got.data.empty() ? piece : byte_span(got.data.data(), got.data.size() + piece.size());
        return success();
      }
      result<bool> end(const entry& e) {
        byte_span d = got.data;
        got = e;
        got.data = d;
        have = true;
        return false;
      }
    } c;
    while (!done_) {
      UKIKIT_TRY_ASSIGN(fed f, parser_.feed(input_.subspan(pos_), c));
      pos_ += f.used;
      if (c.have) return std::optional<entry>(std::move(c.got));
      if (f.stop == stop::ended || pos_ == input_.size()) {
        done_ = true;
        if (f.stop != stop::ended) UKIKIT_TRY(parser_.finish());
      }
    }
    return std::optional<entry>();
  }

  const finding_log& findings() const noexcept { return parser_.findings(); }

private:
  static options with_persist(options o) {
    o.chunks_persist = true;
    return o;
  }

  byte_span input_;
  parser parser_;
  std::size_t pos_ = 0;
  bool done_ = false;
};

} // namespace ukikit::tar
