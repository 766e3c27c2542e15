// cpio archives: the newc, crc, odc and old binary (both byte orders) formats.
//
// One parser reads all four. It is push-driven: feed() takes the input in
// chunks of any size (a mapped file in one piece, or the output of a
// decompressor as it comes) and calls a handler for every entry:
//
//   result<void> begin(const entry&)              header and name complete
//   result<void> data(const entry&, byte_span)    a piece of the file data
//   result<bool> end(const entry&)                data complete; false pauses
//
// File data is never copied: the data pieces are spans into the chunk. A
// header split across chunks is gathered in a small buffer, and the name is
// copied (at most PATH_MAX bytes) because end() may come chunks later.
// reader is the pull-style view over one span built on it: an iterator of
// entries whose name, data and symlink target point into the input.
//
// Two modes (ukikit::strictness). strict follows the formats as GNU cpio and
// libarchive write them and rejects everything else. kernel reads newc and
// crc as the Linux initramfs unpacker (init/initramfs.c) does and records
// each quirk it tolerates as a finding (severity note, codes in cpio::code):
// `0x`-prefixed or non-hex header fields, non-zero padding, and the entries
// the kernel skips silently (name size 0 or above PATH_MAX, a symlink target
// above PATH_MAX, data on an entry that is not a regular file or symlink).
// permissive reads as kernel does: the kernel's reading is the one clear
// meaning cpio input has. All modes reject what the kernel rejects: a name
// without its NUL, a wrong crc sum, a header past the input.
//
// Between entries the parser skips zero bytes (padding, also between
// archives) and stops at anything that does not start a header, reporting
// where: an initramfs walker decides whether that is a compressed segment or
// junk. newc and crc headers must start at a multiple of 4 from the start of
// the stream, as the kernel requires (after an odc entry, which has no
// padding, any offset is accepted).
#pragma once

#include "bytes.hpp"
#include "diagnostics.hpp"
#include "result.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ukikit::cpio {

enum class format : std::uint8_t { newc, crc, odc, bin_le, bin_be };

constexpr std::string_view name(format f) noexcept {
  switch (f) {
  case format::newc: return "newc";
  case format::crc: return "crc";
  case format::odc: return "odc";
  case format::bin_le: return "bin-le";
  case format::bin_be: return "bin-be";
  }
  return "";
}

// strict, or kernel; permissive reads as kernel (see the top of the file).
using strictness = ::ukikit::strictness;

// The finding codes of the parser (README, "Initramfs archives"). Every one
// is a note: a quirk read as the kernel reads it, in kernel (and permissive)
// mode; strict mode rejects the same input with an error instead.
namespace code {
// A newc/crc header field starts with 0x: read as hex, as the kernel's
// simple_strtoul(…, 16) does.
inline constexpr std::string_view hex_prefix = "cpio.hex-prefix";
// A newc/crc header field has a character that is not a hex digit: read up
// to it, as simple_strtoul does.
inline constexpr std::string_view non_hex_digit = "cpio.non-hex-digit";
// A newc header has a non-zero check field (only crc has a checksum; the
// kernel ignores it).
inline constexpr std::string_view newc_check = "cpio.newc-check";
// The kernel skips the entry without a word: name size 0 or above PATH_MAX,
// a symlink target above PATH_MAX, data on an entry that is not a regular
// file (entry::kernel_skip says which). The subject is the name, or its start.
inline constexpr std::string_view entry_skipped = "cpio.entry-skipped";
// Non-zero bytes after the NUL that ends a name, in the name field or its
// padding.
inline constexpr std::string_view name_padding = "cpio.nonzero-name-padding";
// Non-zero bytes in the padding after an entry's data (once per entry).
inline constexpr std::string_view nonzero_padding = "cpio.nonzero-padding";
} // namespace code

// Linux PATH_MAX: the kernel skips longer names and symlink targets, strict
// mode rejects them. It also bounds the buffer for a name split across chunks.
inline constexpr std::uint64_t path_max = 4096;

inline constexpr std::string_view trailer_name = "TRAILER!!!";

// How many bytes of a name the kernel skips unread are kept, to show it.
inline constexpr std::size_t name_start_max = 64;

// Text from an archive (a name, a header field) for a message: printable
// ASCII stays, and `"`, `\` and every other byte become \xNN.
inline std::string printable(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out.push_back(c);
    } else {
      out += "\\x";
      out += to_hex(as_bytes(std::string_view(&c, 1)));
    }
  }
  return out;
}

// File types, from the S_IFMT bits of the mode.
enum class file_type : std::uint8_t {
  unknown,
  fifo,
  character,
  directory,
  block,
  regular,
  symlink,
  socket
};

constexpr file_type type_of(std::uint64_t mode) noexcept {
  switch (mode & 0170000) {
  case 0010000: return file_type::fifo;
  case 0020000: return file_type::character;
  case 0040000: return file_type::directory;
  case 0060000: return file_type::block;
  case 0100000: return file_type::regular;
  case 0120000: return file_type::symlink;
  case 0140000: return file_type::socket;
  default: return file_type::unknown;
  }
}

// The letter `ls -l` shows for a type.
constexpr char type_letter(file_type t) noexcept {
  switch (t) {
  case file_type::fifo: return 'p';
  case file_type::character: return 'c';
  case file_type::directory: return 'd';
  case file_type::block: return 'b';
  case file_type::regular: return '-';
  case file_type::symlink: return 'l';
  case file_type::socket: return 's';
  case file_type::unknown: break;
  }
  return '?';
}

// One entry as the header describes it. name and data are views that stay
// valid for as long as the chunk they came from (the reader's input, or
// during the handler call for the push parser).
struct entry {
  cpio::format format = format::newc;
  std::uint64_t offset = 0; // of the header, from the start of the stream
  std::uint64_t ino = 0;
  std::uint64_t mode = 0;
  std::uint64_t uid = 0;
  std::uint64_t gid = 0;
  std::uint64_t nlink = 0;
  std::uint64_t mtime = 0;
  std::uint64_t filesize = 0;
  std::uint64_t dev_major = 0;
  std::uint64_t dev_minor = 0;
  std::uint64_t rdev_major = 0;
  std::uint64_t rdev_minor = 0;
  std::uint64_t check = 0;    // crc: the byte sum of the data
  std::uint64_t namesize = 0; // as stored: with the NUL and any zero padding
  std::string_view name;      // up to the first NUL
  // An entry the kernel skips without reading its name (kernel_skip set,
  // name empty): the first bytes of the name (at most name_start_max, up to
  // the first NUL), to show it. See shown_name().
  std::string_view name_start;
  std::string_view link_target; // symlinks, set when end() is called
  byte_span data;               // reader only: the whole body
  // Why the kernel would skip this entry without a word; empty if it does not.
  std::string_view kernel_skip;

  file_type type() const noexcept { return type_of(mode); }
  // Whether name is only the start of the name (name_start), the kernel
  // having skipped the name unread.
  bool name_unread() const noexcept { return name.empty() && !name_start.empty(); }
  // The kernel ends an archive (and forgets its hard links) at this name,
  // unless the entry is a symlink (do_symlink) or skipped.
  bool is_trailer() const noexcept {
    return name == trailer_name && type() != file_type::symlink && kernel_skip.empty();
  }
};

struct options {
  strictness mode = strictness::strict;
  // Read odc and old binary headers too. The kernel reads only newc and crc;
  // the initramfs walker reads the others to report them by name.
  bool all_formats = true;
  // The stream must start with a header, zero bytes included: the kernel's
  // unpacker is still in its Start state until the first entry of the
  // initramfs is done, so a compressed segment before then that starts
  // with zeros is "no cpio magic".
  bool header_first = false;
};

// Why feed() returned.
enum class stop : std::uint8_t {
  need_input, // the chunk is consumed; feed more or finish()
  paused,     // the handler's end() returned false
  foreign,    // between entries, at a byte that does not start a header
};

struct fed {
  std::size_t used = 0; // bytes of the chunk consumed
  cpio::stop stop = stop::need_input;
};

namespace detail {

// Header layouts (libarchive cpio.5): sizes and field offsets.
inline constexpr std::size_t magic_size = 6;
inline constexpr std::size_t newc_header_size = 110;
inline constexpr std::size_t odc_header_size = 76;
inline constexpr std::size_t bin_header_size = 26;
inline constexpr std::size_t newc_field_size = 8;
inline constexpr std::uint16_t bin_magic = 070707;

// newc fields in header order, after the magic.
enum newc_field : std::size_t {
  newc_ino,
  newc_mode,
  newc_uid,
  newc_gid,
  newc_nlink,
  newc_mtime,
  newc_filesize,
  newc_devmajor,
  newc_devminor,
  newc_rdevmajor,
  newc_rdevminor,
  newc_namesize,
  newc_check,
  newc_fields
};
static_assert(magic_size + newc_fields * newc_field_size == newc_header_size);

// odc fields: offset and width in characters.
struct odc_field {
  std::size_t offset, width;
};
inline constexpr odc_field odc_dev{6, 6}, odc_ino{12, 6}, odc_mode{18, 6}, odc_uid{24, 6},
    odc_gid{30, 6}, odc_nlink{36, 6}, odc_rdev{42, 6}, odc_mtime{48, 11}, odc_namesize{59, 6},
    odc_filesize{65, 11};
static_assert(odc_filesize.offset + odc_filesize.width == odc_header_size);

// Old binary: 13 16-bit words; 32-bit values are two words, most significant
// first, in either byte order.
enum bin_word : std::size_t {
  bin_magic_word,
  bin_dev,
  bin_ino,
  bin_mode,
  bin_uid,
  bin_gid,
  bin_nlink,
  bin_rdev,
  bin_mtime_hi,
  bin_mtime_lo,
  bin_namesize,
  bin_filesize_hi,
  bin_filesize_lo,
  bin_words
};
static_assert(bin_words * 2 == bin_header_size);

constexpr std::size_t header_size(format f) noexcept {
  switch (f) {
  case format::newc:
  case format::crc: return newc_header_size;
  case format::odc: return odc_header_size;
  case format::bin_le:
  case format::bin_be: return bin_header_size;
  }
  return newc_header_size;
}

// Alignment of headers and of data: newc and crc pad to 4, old binary to 2,
// odc not at all.
constexpr std::uint64_t alignment(format f) noexcept {
  switch (f) {
  case format::newc:
  case format::crc: return 4;
  case format::bin_le:
  case format::bin_be: return 2;
  case format::odc: return 1;
  }
  return 1;
}

constexpr std::uint64_t pad(std::uint64_t offset, std::uint64_t align) noexcept {
  return (align - offset % align) % align;
}

// The format a header starting with `b` has, from as many bytes as needed
// (two for binary, six for ASCII); nullopt when `b` is too short to tell.
// `other` is set when the bytes cannot start a header.
inline std::optional<format> sniff(byte_span b, bool& other) noexcept {
  other = false;
  if (b.empty()) return std::nullopt;
  auto c0 = std::to_integer<unsigned>(b[0]);
  if (c0 == 0xc7 || c0 == 0x71) {
    if (b.size() < 2) return std::nullopt;
    auto c1 = std::to_integer<unsigned>(b[1]);
    if (c0 == 0xc7 && c1 == 0x71) return format::bin_le;
    if (c0 == 0x71 && c1 == 0xc7) return format::bin_be;
    other = true;
    return std::nullopt;
  }
  constexpr std::string_view ascii_prefix = "07070";
  for (std::size_t i = 0; i < ascii_prefix.size(); ++i) {
    if (i == b.size()) return std::nullopt;
    if (std::to_integer<char>(b[i]) != ascii_prefix[i]) {
      other = true;
      return std::nullopt;
    }
  }
  if (b.size() < magic_size) return std::nullopt;
  switch (std::to_integer<char>(b[5])) {
  case '1': return format::newc;
  case '2': return format::crc;
  case '7': return format::odc;
  default: other = true; return std::nullopt;
  }
}

// Everything about an entry that the header fixes, once it is decoded.
struct header {
  entry e;
  std::uint64_t name_pad = 0; // bytes after the name up to the data
  std::uint64_t data_pad = 0; // bytes after the data up to the next header
};

class header_decoder {
public:
  header_decoder(strictness mode, finding_log& findings) : mode_(mode), findings_(findings) {}

  // `h` holds exactly header_size(f) bytes; `offset` is where they start.
  result<header> decode(format f, byte_span h, std::uint64_t offset) {
    header out;
    out.e.format = f;
    out.e.offset = offset;
    switch (f) {
    case format::newc:
    case format::crc: UKIKIT_TRY(newc(h, offset, out.e)); break;
    case format::odc: UKIKIT_TRY(odc(h, offset, out.e)); break;
    case format::bin_le:
    case format::bin_be: binary(h, f == format::bin_le, out.e); break;
    }
    const std::uint64_t align = alignment(f);
    const std::uint64_t name_end = offset + header_size(f) + out.e.namesize;
    out.name_pad = pad(name_end, align);
    out.data_pad = pad(name_end + out.name_pad + out.e.filesize, align);
    return out;
  }

private:
  result<void> newc(byte_span h, std::uint64_t offset, entry& e) {
    std::array<std::uint64_t, newc_fields> v{};
    for (std::size_t i = 0; i < newc_fields; ++i) {
      const std::size_t at = magic_size + i * newc_field_size;
      UKIKIT_TRY_ASSIGN(v[i], hex_field(h.subspan(at, newc_field_size), offset + at));
    }
    e.ino = v[newc_ino];
    e.mode = v[newc_mode];
    e.uid = v[newc_uid];
    e.gid = v[newc_gid];
    e.nlink = v[newc_nlink];
    e.mtime = v[newc_mtime];
    e.filesize = v[newc_filesize];
    e.dev_major = v[newc_devmajor];
    e.dev_minor = v[newc_devminor];
    e.rdev_major = v[newc_rdevmajor];
    e.rdev_minor = v[newc_rdevminor];
    e.namesize = v[newc_namesize];
    e.check = v[newc_check];
    if (e.format == format::newc && e.check != 0) {
      findings_.add(severity::note, code::newc_check,
                    "newc header has a non-zero check field (" + hex(e.check) + ")",
                    offset + magic_size + newc_check * newc_field_size);
    }
    return success();
  }

  // Eight hex digits. The kernel parses with simple_strtoul(…, 16): an
  // optional 0x prefix, then digits up to the first other character.
  result<std::uint64_t> hex_field(byte_span f, std::uint64_t at) {
    std::string_view text = as_chars(f);
    std::uint64_t v = 0;
    std::size_t i = 0;
    const bool prefixed = text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
    if (prefixed) i = 2;
    std::size_t digits = 0;
    for (; i < text.size(); ++i, ++digits) {
      int d = hex_digit(text[i], true);
      if (d < 0) break;
      v = v << 4 | static_cast<std::uint64_t>(d);
    }
    if (!prefixed && digits == text.size()) return v;
    std::string what = "header field \"" + printable(text) + "\" is not 8 hex digits";
    if (mode_ == strictness::strict) return error(errc::malformed, what, at);
    // simple_strtoul(…, 16), as kernels have long parsed these fields;
    // newer ones may check them strictly (formats.md §1.2 rule 4).
    findings_.add(severity::note, prefixed ? code::hex_prefix : code::non_hex_digit,
                  what + " (read as " + hex(v) + " like the kernel)", at);
    return v;
  }

  result<void> odc(byte_span h, std::uint64_t offset, entry& e) {
    auto field = [&](odc_field f) {
      return octal_field(h.subspan(f.offset, f.width), offset + f.offset);
    };
    std::uint64_t dev = 0, rdev = 0;
    UKIKIT_TRY_ASSIGN(dev, field(odc_dev));
    UKIKIT_TRY_ASSIGN(e.ino, field(odc_ino));
    UKIKIT_TRY_ASSIGN(e.mode, field(odc_mode));
    UKIKIT_TRY_ASSIGN(e.uid, field(odc_uid));
    UKIKIT_TRY_ASSIGN(e.gid, field(odc_gid));
    UKIKIT_TRY_ASSIGN(e.nlink, field(odc_nlink));
    UKIKIT_TRY_ASSIGN(rdev, field(odc_rdev));
    UKIKIT_TRY_ASSIGN(e.mtime, field(odc_mtime));
    UKIKIT_TRY_ASSIGN(e.namesize, field(odc_namesize));
    UKIKIT_TRY_ASSIGN(e.filesize, field(odc_filesize));
    split_device(dev, e.dev_major, e.dev_minor);
    split_device(rdev, e.rdev_major, e.rdev_minor);
    return success();
  }

  static result<std::uint64_t> octal_field(byte_span f, std::uint64_t at) {
    std::string_view text = as_chars(f);
    std::uint64_t v = 0;
    for (char c : text) {
      if (c < '0' || c > '7') {
        return error(errc::malformed, "odc header field \"" + printable(text) + "\" is not octal",
                     at);
      }
      v = v << 3 | static_cast<std::uint64_t>(c - '0');
    }
    return v;
  }

  static void binary(byte_span h, bool little, entry& e) {
    auto word = [&](bin_word w) -> std::uint64_t {
      auto lo = std::to_integer<std::uint64_t>(h[w * 2]);
      auto hi = std::to_integer<std::uint64_t>(h[w * 2 + 1]);
      return little ? (hi << 8 | lo) : (lo << 8 | hi);
    };
    split_device(word(bin_dev), e.dev_major, e.dev_minor);
    e.ino = word(bin_ino);
    e.mode = word(bin_mode);
    e.uid = word(bin_uid);
    e.gid = word(bin_gid);
    e.nlink = word(bin_nlink);
    split_device(word(bin_rdev), e.rdev_major, e.rdev_minor);
    e.mtime = word(bin_mtime_hi) << 16 | word(bin_mtime_lo);
    e.namesize = word(bin_namesize);
    e.filesize = word(bin_filesize_hi) << 16 | word(bin_filesize_lo);
  }

  // glibc's major()/minor() of an old 16- or 18-bit device number.
  static void split_device(std::uint64_t dev, std::uint64_t& major, std::uint64_t& minor) {
    major = (dev >> 8) & 0xfff;
    minor = dev & 0xff;
  }

  strictness mode_;
  finding_log& findings_;
};

} // namespace detail

// An entry's name, quoted and escaped for messages: "bin/sh"; for an entry
// the kernel skips without reading its name, the start of it and the size
// the header gives: "nnnn…" (name size 0x1001).
inline std::string quoted_name(const entry& e) {
  if (!e.name_unread()) return "\"" + printable(e.name) + "\"";
  const bool longer = e.namesize > e.name_start.size() + 1; // the NUL ends a whole name
  return "\"" + printable(e.name_start) + (longer ? "…" : "") + "\" (name size " + hex(e.namesize) +
         ")";
}

// The format of the cpio header at the start of `b` (its magic: "070701",
// "070702", "070707", or 070707 as a 16-bit word in either byte order), or
// nullopt when no header starts there.
inline std::optional<format> detect(byte_span b) noexcept {
  bool other = false;
  return detail::sniff(b, other);
}

// The push parser. See the top of the file.
class parser {
public:
  // `start` is the offset of the first byte fed, for alignment and reports:
  // the kernel aligns raw archives to the start of the initramfs, and the
  // archives in a compressed segment to the start of its output.
  explicit parser(options opts = {}, std::uint64_t start = 0)
      : opts_(opts), decoder_(opts.mode, findings_), offset_(start) {}

  // Consumes `chunk`, which continues the stream where the last one ended.
  template <class Handler> result<fed> feed(byte_span chunk, Handler& handler) {
    std::size_t pos = 0;
    for (;;) {
      if (pos == chunk.size() && needs_input()) return fed{pos, stop::need_input};
      UKIKIT_TRY_ASSIGN(step s, run(chunk, pos, handler));
      if (s != step::more) return fed{pos, s == step::paused ? stop::paused : stop::foreign};
    }
  }

  // Whether the stream may end here: between entries (a trailer is not
  // needed; the kernel does not need one either).
  bool at_boundary() const noexcept { return state_ == state::between; }

  // The error for a stream that ends where at_boundary() is false.
  error truncated_error() const {
    const std::string name = quoted_name(current_.e);
    std::string where = "a header";
    if (state_ == state::name) where = "the name of an entry";
    if (state_ == state::data) where = "the data of " + name;
    if (state_ == state::data_pad) where = "the padding after " + name;
    return error(errc::truncated, "cpio archive ends inside " + where, offset_);
  }

  // Where the next byte fed will be, from the start of the stream.
  std::uint64_t offset() const noexcept { return offset_; }
  std::uint64_t entries() const noexcept { return entries_; }
  std::uint64_t trailers() const noexcept { return trailers_; }
  // The quirks read as the kernel reads them (cpio::code), each a note: the
  // first finding_log::default_limit kept, all counted, since a hostile
  // archive can have one in every field of every header.
  const finding_log& findings() const noexcept { return findings_; }
  // Moves the findings out; the parser's log is left empty.
  finding_log take_findings() noexcept {
    finding_log out;
    out.append(std::move(findings_));
    return out;
  }
  // The format of the last header read.
  std::optional<format> last_format() const noexcept { return last_format_; }

private:
  enum class state : std::uint8_t { between, header, name, data, data_pad, ended };
  enum class step : std::uint8_t { more, paused, foreign };

  template <class Handler> result<step> run(byte_span chunk, std::size_t& pos, Handler& handler) {
    switch (state_) {
    case state::between: return between(chunk, pos);
    case state::header: return header(chunk, pos, handler);
    case state::name: return name(chunk, pos, handler);
    case state::data: return data(chunk, pos, handler);
    case state::data_pad: return data_pad(chunk, pos);
    case state::ended: return finish_entry(handler);
    }
    return step::more;
  }

  // Whether the current state can only go on with more bytes.
  bool needs_input() const noexcept {
    switch (state_) {
    case state::between:
    case state::header: return true;
    case state::name: return !skip_name_ || remaining_ > 0;
    case state::data:
    case state::data_pad: return remaining_ > 0;
    case state::ended: return false;
    }
    return true;
  }

  void advance(std::size_t& pos, std::size_t n) noexcept {
    pos += n;
    offset_ += n;
  }

  // Zero padding, or the first byte of a header.
  result<step> between(byte_span chunk, std::size_t& pos) {
    if (opts_.header_first && entries_ == 0 && !after_entry_) {
      state_ = state::header;
      gathered_.clear();
      header_offset_ = offset_;
      return step::more;
    }
    advance(pos, leading_zeros(chunk.subspan(pos)));
    if (pos == chunk.size()) return step::more;
    const auto c = std::to_integer<unsigned>(chunk[pos]);
    const bool ascii = c == '0';
    const bool binary = opts_.all_formats && (c == 0xc7 || c == 0x71);
    // newc and crc headers sit at multiples of 4, old binary ones at even
    // offsets; odc has no alignment, so after an odc entry any offset will do.
    const std::uint64_t align = binary ? 2 : last_format_ == format::odc ? 1 : 4;
    const bool aligned = offset_ % align == 0;
    if ((ascii || binary) && aligned) {
      state_ = state::header;
      gathered_.clear();
      header_offset_ = offset_;
      return step::more;
    }
    if (after_entry_ && offset_ % 4 != 0) {
      return error(errc::malformed, "broken padding: data at an unaligned offset after an entry",
                   offset_);
    }
    return step::foreign;
  }

  // Hands out the next `need` bytes of a structure that may span chunks:
  // directly from the chunk when nothing is gathered yet and all of it is
  // there, else through gathered_. Empty until all bytes have arrived.
  std::optional<byte_span> take(byte_span chunk, std::size_t& pos, std::size_t need) {
    if (gathered_.empty() && chunk.size() - pos >= need) {
      byte_span out = chunk.subspan(pos, need);
      advance(pos, need);
      return out;
    }
    const std::size_t n = std::min(need - gathered_.size(), chunk.size() - pos);
    gathered_.insert(gathered_.end(), chunk.begin() + static_cast<std::ptrdiff_t>(pos),
                     chunk.begin() + static_cast<std::ptrdiff_t>(pos + n));
    advance(pos, n);
    if (gathered_.size() < need) return std::nullopt;
    return byte_span(gathered_);
  }

  template <class Handler> result<step> header(byte_span chunk, std::size_t& pos, Handler&) {
    if (!pending_) { // the magic first, to learn the header size
      byte_span head = chunk.subspan(pos);
      if (!gathered_.empty()) {
        const std::size_t n = std::min(detail::magic_size - gathered_.size(), head.size());
        gathered_.insert(gathered_.end(), head.begin(),
                         head.begin() + static_cast<std::ptrdiff_t>(n));
        advance(pos, n);
        head = gathered_;
      }
      bool other = false;
      pending_ = detail::sniff(head, other);
      if (other) return bad_magic(head, false);
      if (!pending_) { // too few bytes to tell (fewer than six)
        if (gathered_.empty()) {
          gathered_.assign(head.begin(), head.end());
          advance(pos, head.size());
        }
        return step::more;
      }
      if (!opts_.all_formats && *pending_ != format::newc && *pending_ != format::crc)
        return bad_magic(head, true);
    }
    auto h = take(chunk, pos, detail::header_size(*pending_));
    if (!h) return step::more;
    UKIKIT_TRY_ASSIGN(current_, decoder_.decode(*pending_, *h, header_offset_));
    last_format_ = pending_;
    pending_.reset();
    gathered_.clear();
    return start_name();
  }

  // `other_format`: an odc or binary header where only newc and crc are read.
  result<step> bad_magic(byte_span head, bool other_format) const {
    std::string_view text = as_chars(head.first(std::min(head.size(), detail::magic_size)));
    if (other_format)
      return error(errc::malformed, "incorrect cpio method used: use -H newc option",
                   header_offset_);
    return error(errc::malformed, "no cpio magic (\"" + printable(text) + "\")", header_offset_);
  }

  result<step> start_name() {
    entry& e = current_.e;
    const bool kernel = opts_.mode != strictness::strict;
    skip_name_ = false;
    if (e.namesize == 0 || e.namesize > path_max) {
      std::string what = "name size " + hex(e.namesize) +
                         (e.namesize == 0 ? " is 0" : " is larger than PATH_MAX (4096)");
      if (!kernel) return error(errc::malformed, "cpio entry " + what, e.offset);
      e.kernel_skip = e.namesize == 0 ? "name size 0" : "name longer than PATH_MAX";
      skip_what_ = what;
      skip_name_ = true;
    } else if (kernel) {
      // do_header decides from the header alone, without reading the name,
      // to skip a symlink target over PATH_MAX and data on a non-file.
      const file_type t = e.type();
      if (t == file_type::symlink && e.filesize > path_max) {
        e.kernel_skip = "symlink target longer than PATH_MAX";
      } else if (t != file_type::symlink && t != file_type::regular && e.filesize > 0) {
        e.kernel_skip = "data on an entry that is not a regular file";
      }
      if (!e.kernel_skip.empty()) {
        skip_what_ = std::string(e.kernel_skip) + " (" + hex(e.filesize) + " bytes)";
        skip_name_ = true;
      }
    }
    name_.clear();
    remaining_ = e.namesize + current_.name_pad;
    state_ = state::name;
    return step::more;
  }

  template <class Handler> result<step> name(byte_span chunk, std::size_t& pos, Handler& handler) {
    entry& e = current_.e;
    if (skip_name_) { // the kernel skips it without reading; so do we, but for its start
      const auto n =
          static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, chunk.size() - pos));
      keep_name_start(chunk.subspan(pos, n));
      advance(pos, n);
      remaining_ -= n;
      if (remaining_ > 0) return step::more;
      e.name_start = std::string_view(name_).substr(0, name_.find('\0'));
      skipped(e, "entry " + quoted_name(e) + " skipped: " + skip_what_);
    } else {
      auto field = take(chunk, pos, static_cast<std::size_t>(remaining_));
      if (!field) return step::more;
      UKIKIT_TRY(check_name(*field));
    }
    UKIKIT_TRY(start_data());
    UKIKIT_TRY(handler.begin(e));
    return step::more;
  }

  // Keeps the first bytes of a name that is skipped (`piece` continues it),
  // up to name_start_max and never past namesize (the padding follows).
  void keep_name_start(byte_span piece) {
    const std::uint64_t seen = current_.e.namesize + current_.name_pad - remaining_;
    const std::uint64_t want = std::min<std::uint64_t>(current_.e.namesize, name_start_max);
    if (seen >= want) return;
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(want - seen, piece.size()));
    name_.append(as_chars(piece.first(n)));
  }

  // The name with its NUL at namesize-1 (fatal in the kernel since 2025),
  // zero bytes after the first NUL (gen_init_cpio -a pads names so), and
  // zero padding.
  result<void> check_name(byte_span field) {
    entry& e = current_.e;
    const std::uint64_t at = e.offset + detail::header_size(e.format);
    auto stored = field.first(static_cast<std::size_t>(e.namesize));
    if (stored.back() != std::byte{0}) {
      return error(errc::malformed, "malformed archive: cpio name is not NUL-terminated", at);
    }
    std::string_view text = as_chars(stored);
    // Copied: the chunk may be gone before the entry's data ends.
    name_.assign(text.substr(0, text.find('\0')));
    e.name = name_;
    auto tail = field.subspan(e.name.size());
    if (std::any_of(tail.begin(), tail.end(), [](std::byte b) { return b != std::byte{0}; })) {
      std::string what = "non-zero bytes after the name \"" + printable(e.name) + "\"";
      if (opts_.mode == strictness::strict) return error(errc::malformed, what, at);
      finding f(severity::note, code::name_padding, what, at);
      f.subject = std::string(e.name);
      findings_.add(std::move(f));
    }
    return success();
  }

  // The kernel skips `e` without a word.
  void skipped(const entry& e, std::string what) {
    finding f(severity::note, code::entry_skipped, std::move(what), e.offset);
    f.subject = std::string(e.name_unread() ? e.name_start : e.name);
    findings_.add(std::move(f));
  }

  // Decides how the body is read: collected (symlink target), passed on, or
  // skipped as the kernel skips it.
  result<void> start_data() {
    entry& e = current_.e;
    const bool kernel = opts_.mode != strictness::strict;
    const file_type t = e.type();
    sum_ = 0;
    link_.clear();
    collect_link_ = false;
    if (!skip_name_ && e.filesize > 0) {
      if (t == file_type::symlink) {
        if (e.filesize > path_max) {
          std::string what =
              "symlink target of " + hex(e.filesize) + " bytes is longer than PATH_MAX";
          if (!kernel) return error(errc::malformed, what, e.offset);
          e.kernel_skip = "symlink target longer than PATH_MAX";
          skipped(e, "entry skipped: " + what);
        } else {
          collect_link_ = true;
        }
      } else if (t != file_type::regular) {
        std::string what = std::string("entry \"") + printable(e.name) + "\" of type '" +
                           type_letter(t) + "' has " + hex(e.filesize) + " bytes of data";
        if (!kernel) return error(errc::malformed, what, e.offset);
        e.kernel_skip = "data on an entry that is not a regular file";
        skipped(e, "entry skipped: " + what);
      }
    }
    remaining_ = e.filesize;
    state_ = remaining_ > 0 ? state::data : state::ended;
    return success();
  }

  template <class Handler> result<step> data(byte_span chunk, std::size_t& pos, Handler& handler) {
    const auto n =
        static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, chunk.size() - pos));
    byte_span piece = chunk.subspan(pos, n);
    if (!piece.empty()) {
      if (current_.e.format == format::crc) {
        for (std::byte b : piece) sum_ += std::to_integer<std::uint32_t>(b);
      }
      if (collect_link_) link_.append(as_chars(piece));
      if (!skip_name_ && current_.e.kernel_skip.empty()) {
        UKIKIT_TRY(handler.data(current_.e, piece));
      }
    }
    advance(pos, n);
    remaining_ -= n;
    if (remaining_ > 0) return step::more;
    state_ = state::ended;
    return step::more;
  }

  template <class Handler> result<step> finish_entry(Handler& handler) {
    entry& e = current_.e;
    if (e.format == format::crc && e.type() == file_type::regular && !skip_name_ &&
        sum_ != static_cast<std::uint32_t>(e.check)) {
      return error(errc::checksum_mismatch,
                   "bad data checksum for \"" + printable(e.name) + "\" (header " + hex(e.check) +
                       ", data " + hex(sum_) + ")",
                   e.offset);
    }
    remaining_ = current_.data_pad;
    state_ = remaining_ > 0 ? state::data_pad : state::between;
    pad_noticed_ = false;
    after_entry_ = true;
    ++entries_;
    if (e.is_trailer()) ++trailers_;
    if (collect_link_) e.link_target = link_;
    UKIKIT_TRY_ASSIGN(bool go_on, handler.end(e));
    return go_on ? step::more : step::paused;
  }

  result<step> data_pad(byte_span chunk, std::size_t& pos) {
    const auto n =
        static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, chunk.size() - pos));
    auto bytes = chunk.subspan(pos, n);
    auto bad =
        std::find_if(bytes.begin(), bytes.end(), [](std::byte b) { return b != std::byte{0}; });
    if (bad != bytes.end() && !pad_noticed_) { // once per entry, at the first bad byte
      const std::uint64_t at = offset_ + static_cast<std::uint64_t>(bad - bytes.begin());
      std::string what = "non-zero padding after the data of " + quoted_name(current_.e);
      if (opts_.mode == strictness::strict) return error(errc::malformed, what, at);
      finding f(severity::note, code::nonzero_padding, what, at);
      f.subject = std::string(current_.e.name_unread() ? current_.e.name_start : current_.e.name);
      findings_.add(std::move(f));
      pad_noticed_ = true;
    }
    advance(pos, n);
    remaining_ -= n;
    if (remaining_ == 0) state_ = state::between;
    return step::more;
  }

  options opts_;
  finding_log findings_;
  detail::header_decoder decoder_;
  state state_ = state::between;
  detail::header current_;
  std::vector<std::byte> gathered_;
  std::string name_;
  std::string link_;
  std::string skip_what_; // why the kernel skips the entry whose name is skipped
  std::uint64_t offset_ = 0;
  std::uint64_t header_offset_ = 0;
  std::uint64_t remaining_ = 0;
  std::uint64_t entries_ = 0;
  std::uint64_t trailers_ = 0;
  std::uint32_t sum_ = 0;
  bool skip_name_ = false;
  bool collect_link_ = false;
  bool after_entry_ = false;
  bool pad_noticed_ = false;
  std::optional<format> last_format_;
  std::optional<format> pending_; // format of the header being gathered
};

// The pull-style reader over one span: next() gives each entry in turn with
// name and data pointing into the input, and nullopt after the trailer (or,
// in kernel mode, at the end of the input). In strict mode an archive must
// end with a trailer; rest() is what follows it.
class reader {
public:
  explicit reader(byte_span input, options opts = {}) : input_(input), parser_(opts), opts_(opts) {}

  result<std::optional<entry>> next() {
    if (done_) return std::optional<entry>();
    struct capture {
      entry got;
      bool have = false;
      result<void> begin(const entry&) { return success(); }
      result<void> data(const entry&, byte_span piece) {
        if (got.data.empty()) {
          got.data = piece;
        } else { // one chunk: pieces are adjacent
          got.data = byte_span(got.data.data(), got.data.size() + piece.size());
        }
        return success();
      }
      result<bool> end(const entry& e) {
        byte_span d = got.data;
        got = e;
        got.data = d;
        if (e.type() == file_type::symlink && e.kernel_skip.empty()) got.link_target = as_chars(d);
        have = true;
        return false;
      }
      // Views into the input instead of the parser's copies.
      void rebase(byte_span input) {
        auto at = static_cast<std::size_t>(got.offset + detail::header_size(got.format));
        got.name = as_chars(input.subspan(at, got.name.size()));
        got.name_start = as_chars(input.subspan(at, got.name_start.size()));
      }
    } c;
    for (;;) {
      UKIKIT_TRY_ASSIGN(fed f, parser_.feed(input_.subspan(pos_), c));
      pos_ += f.used;
      if (c.have) {
        c.rebase(input_);
        if (c.got.is_trailer()) {
          done_ = true;
          return std::optional<entry>();
        }
        return std::optional<entry>(c.got);
      }
      if (f.stop == stop::foreign) {
        return error(errc::malformed, "no cpio magic", parser_.offset());
      }
      if (pos_ == input_.size()) {
        done_ = true;
        if (!parser_.at_boundary()) return parser_.truncated_error();
        if (opts_.mode == strictness::strict) {
          return error(errc::truncated, "cpio archive ends without TRAILER!!!", pos_);
        }
        return std::optional<entry>();
      }
    }
  }

  // What follows the trailer (unread).
  byte_span rest() const noexcept { return input_.subspan(pos_); }
  const finding_log& findings() const noexcept { return parser_.findings(); }

private:
  byte_span input_;
  parser parser_;
  options opts_;
  std::size_t pos_ = 0;
  bool done_ = false;
};

} // namespace ukikit::cpio
