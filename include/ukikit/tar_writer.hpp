// Writing tar archives (OCI layers), deterministically: plan, then write.
//
// plan() takes the members (from walk_tree(), or made by the caller), sorts
// them and computes the exact size of the archive; write() streams it into a
// sink and checks that the bytes written equal the bytes planned, entry by
// entry and at the end (an error otherwise, never a shifted archive). File
// data is streamed from mapped files (zero copy), never loaded whole.
//
// Determinism (the same members give the same bytes):
// - members are sorted by path, bytewise; a parent sorts before its children
//   (a prefix sorts first). Duplicate paths are an error: OCI layers must not
//   have them. The root itself ("." ) is never a member;
// - directories are written with a trailing "/" (as GNU tar and Go do); the
//   mode is the explicit permission bits (07777) of the member, uid and gid
//   are the member's (walk_tree: options, default 0), uname and gname are
//   empty, mtime is the member's (walk_tree: one fixed value, default 0;
//   the tool reads SOURCE_DATE_EPOCH, the library reads no environment);
// - a hard link (typeflag '1') names the first path of its (dev, ino) in
//   sorted order, which carries the data;
// - ustar wherever everything fits: a path longer than 100 bytes is split
//   into prefix (up to 155) and name (up to 100) at a '/' when it can be (as
//   Go's splitUSTARPath does). A pax `x` header comes only before an entry
//   with a field that does not fit: a path or link target that cannot be
//   split or is longer than 100 bytes, or has bytes outside printable ASCII
//   (POSIX defines ustar fields in the portable character set and pax
//   `path`/`linkpath` as UTF-8; Go and libarchive write pax for these too);
//   a size of 8 GiB or more, a uid or gid above 07777777, an mtime that is
//   negative or above 077777777777; and xattrs, as SCHILY.xattr.<name>. The
//   records are sorted by key, and the ustar field that did not fit holds 0
//   (Go's rule; the reader takes 0 as "see pax", any other differing value
//   is the TARmageddon desync). The `x` header is named
//   <dir>/PaxHeaders.0/<base> (Go's name), cut to 100 bytes, mode 0644,
//   owner 0:0, mtime 0;
// - the end is two zero blocks, and nothing after them: no padding to a
//   10240-byte record. GNU tar and bsdtar pad (a tape-era blocking factor
//   of 20), but the Go writers that make most OCI layers (BuildKit,
//   go-containerregistry, umoci, containerd) write only the 1024 zero bytes,
//   every reader stops at the two blocks, and the padding would change the
//   diff_id of the same files for nothing;
// - all padding and unused header bytes are zero; numbers are zero-padded
//   octal ended by NUL, the checksum "%06o\0 " as GNU tar and Go write it.
//
// walk_tree() lstat()s a directory tree (symlinks are archived as symlinks,
// never followed; the root may be a symlink to a directory). Sockets cannot
// be archived: each is skipped with a warning, tar.socket-skipped (GNU tar
// and bsdtar skip them too). With walk_options::devices off, fifos and
// device nodes are skipped with a note, tar.special-skipped. A directory
// that cannot be read or an entry that cannot be stat'ed or read is an error
// (errc::io) naming it: a layer that silently misses files is worse than no
// layer. The walk does not read xattrs (they are host-specific: SELinux
// labels, capabilities); a caller that wants them sets member::xattrs.
#pragma once

#include "bytes.hpp"
#include "diagnostics.hpp"
#include "file.hpp"
#include "result.hpp"
#include "tar.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace ukikit::tar {

namespace code {
// walk_tree(): a socket, which tar cannot hold, was left out (warning).
inline constexpr std::string_view socket_skipped = "tar.socket-skipped";
// walk_tree() with devices off: a fifo or device node was left out (note).
inline constexpr std::string_view special_skipped = "tar.special-skipped";
} // namespace code

// One member of the archive to write.
struct member {
  // Relative, '/'-separated, no leading or trailing '/', no "." or ".."
  // components, no empty components, no NUL. Directories get their '/' when
  // written.
  std::string path;
  entry_type type = entry_type::file; // not `other`
  std::uint32_t mode = 0;             // permission bits, 07777
  std::uint64_t uid = 0, gid = 0;
  std::int64_t mtime = 0; // seconds since the epoch
  std::uint64_t size = 0; // regular files: bytes of data; 0 for every other type
  // Symlink target, or the path of the member a hard link links to.
  std::string link;
  std::uint64_t devmajor = 0, devminor = 0; // chardev, blockdev
  // Written as pax SCHILY.xattr.<name> records, sorted by name.
  std::vector<std::pair<std::string, std::string>> xattrs;
  // The data of a regular file with size > 0: mapped from `source` when it is
  // set (the file must still have `size` bytes when written), else `data`
  // (which the caller keeps alive until write() returns).
  std::filesystem::path source;
  byte_span data;
};

// The largest data of one pax `x` header written: the reader's limit for
// special headers (1 MiB, as Go and libarchive), so what we write we read.
inline constexpr std::uint64_t max_pax_size = max_special_size;
// Largest values of the ustar number fields: octal digits, one byte for NUL.
inline constexpr std::uint64_t max_octal_size = 077777777777; // size, mtime (12 bytes)
inline constexpr std::uint64_t max_octal_id = 07777777;       // uid, gid, dev (8 bytes)

// An archive ready to write: members sorted and checked, with where each
// ends and the size of the whole.
struct plan {
  std::vector<member> members;
  std::vector<std::uint64_t> ends; // offset just past each member (header, data, padding)
  std::uint64_t size = 0;          // of the whole archive, with the two end blocks
};

namespace detail {

inline constexpr std::size_t end_size = 2 * block_size;
using header_block = std::array<char, block_size>;

inline std::uint64_t padded(std::uint64_t n) noexcept {
  return (n + block_size - 1) / block_size * block_size;
}

inline bool fits_octal(field f, std::uint64_t v) noexcept {
  return v < (std::uint64_t{1} << (3 * (f.size - 1)));
}

// Zero-padded octal in f.size - 1 digits, then NUL ("%07o\0", "%011o\0").
inline void put_octal(header_block& h, field f, std::uint64_t v) noexcept {
  h[f.offset + f.size - 1] = '\0';
  for (std::size_t i = f.size - 1; i-- > 0; v >>= 3)
    h[f.offset + i] = static_cast<char>('0' + (v & 7));
}

// Text into a field; s.size() <= f.size (a full field has no NUL, as ustar allows).
inline void put_text(header_block& h, field f, std::string_view s) noexcept {
  std::copy_n(s.begin(), std::min(s.size(), f.size),
              h.begin() + static_cast<std::ptrdiff_t>(f.offset));
}

// Printable ASCII only: what a ustar field may hold without a pax record.
inline bool ascii_safe(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

// The ustar placeholder of a field pax carries: printable ASCII bytes only,
// cut to the field (Go's toASCII).
inline std::string ascii_only(std::string_view s, std::size_t max) {
  std::string out;
  for (char c : s)
    if (c >= 0x20 && c < 0x7f && out.size() < max) out += c;
  return out;
}

// Go's splitUSTARPath: prefix and name at the last '/' that leaves the
// prefix within 155 bytes and a non-empty name within 100; false if none.
inline bool split_path(std::string_view p, std::string_view& prefix, std::string_view& name) {
  std::size_t length = p.size();
  if (length > prefix_field.size + 1) length = prefix_field.size + 1;
  else if (p[length - 1] == '/') --length;
  const std::size_t i = p.substr(0, length).rfind('/');
  if (i == std::string_view::npos || i == 0) return false;
  const std::size_t name_length = p.size() - i - 1;
  if (name_length == 0 || name_length > name_field.size || i > prefix_field.size) return false;
  prefix = p.substr(0, i);
  name = p.substr(i + 1);
  return true;
}

// "<len> <key>=<value>\n", len counting the whole record with its own digits.
inline void add_pax_record(std::string& out, std::string_view key, std::string_view value) {
  const std::string body = std::string(key) + "=" + std::string(value) + "\n";
  std::size_t len = body.size() + 1;                  // with the ' '
  len += std::to_string(len).size();                  // with the length's own digits
  len = body.size() + 1 + std::to_string(len).size(); // once more if that added a digit
  out += std::to_string(len);
  out += ' ';
  out += body;
}

inline char typeflag_of(entry_type t) noexcept {
  switch (t) {
  case entry_type::file: return '0';
  case entry_type::hardlink: return '1';
  case entry_type::symlink: return '2';
  case entry_type::chardev: return '3';
  case entry_type::blockdev: return '4';
  case entry_type::directory: return '5';
  case entry_type::fifo: return '6';
  case entry_type::other: break;
  }
  return '\0';
}

// The checksum: the unsigned byte sum with the field as eight spaces,
// stored "%06o\0 ".
inline void put_checksum(header_block& h) noexcept {
  std::fill_n(h.begin() + chksum_field.offset, chksum_field.size, ' ');
  std::uint64_t sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  put_octal(h, field{chksum_field.offset, 7}, sum);
  h[chksum_field.offset + 7] = ' ';
}

// A ustar header with magic "ustar\0", version "00", empty uname/gname.
inline header_block ustar_header(std::string_view name, std::string_view prefix, char typeflag,
                                 std::uint64_t mode, std::uint64_t uid, std::uint64_t gid,
                                 std::uint64_t size, std::uint64_t mtime, std::string_view link,
                                 std::uint64_t devmajor, std::uint64_t devminor) {
  header_block h{};
  put_text(h, name_field, name);          // name      0:100
  put_octal(h, mode_field, mode);         // mode    100:8
  put_octal(h, uid_field, uid);           // uid     108:8
  put_octal(h, gid_field, gid);           // gid     116:8
  put_octal(h, size_field, size);         // size    124:12
  put_octal(h, mtime_field, mtime);       // mtime   136:12
  h[typeflag_field.offset] = typeflag;    // type    156
  put_text(h, linkname_field, link);      // link    157:100
  put_text(h, magic_field, ustar_magic);  // magic   257:6  "ustar\0"
  put_text(h, version_field, "00");       // version 263:2
  put_octal(h, devmajor_field, devmajor); // devmajor 329:8 (uname, gname empty)
  put_octal(h, devminor_field, devminor); // devminor 337:8
  put_text(h, prefix_field, prefix);      // prefix  345:155
  put_checksum(h);                        // chksum  148:8
  return h;
}

// The headers of one member: the pax records (empty when everything fits
// ustar) and the ustar header.
struct encoded {
  std::string pax;
  header_block ustar{};
};

inline std::string header_path(const member& m) {
  return m.type == entry_type::directory ? m.path + "/" : m.path;
}

inline encoded encode(const member& m) {
  encoded out;
  std::vector<std::pair<std::string, std::string>> records;
  const std::string path = header_path(m);
  std::string_view name = path, prefix;
  std::string name_placeholder;
  if (!ascii_safe(path) || (path.size() > name_field.size && !split_path(path, prefix, name))) {
    records.emplace_back("path", path);
    name_placeholder = ascii_only(path, name_field.size);
    name = name_placeholder;
    prefix = {};
  }
  std::string_view link = m.link;
  if (!ascii_safe(m.link) || m.link.size() > linkname_field.size) {
    records.emplace_back("linkpath", m.link);
    link = {};
  }
  const std::uint64_t size = m.type == entry_type::file ? m.size : 0;
  auto number = [&](const char* key, field f, std::uint64_t v) -> std::uint64_t {
    if (fits_octal(f, v)) return v;
    records.emplace_back(key, std::to_string(v));
    return 0;
  };
  const std::uint64_t size_v = number("size", size_field, size);
  const std::uint64_t uid_v = number("uid", uid_field, m.uid);
  const std::uint64_t gid_v = number("gid", gid_field, m.gid);
  std::uint64_t mtime_v = 0;
  if (m.mtime >= 0 && fits_octal(mtime_field, static_cast<std::uint64_t>(m.mtime)))
    mtime_v = static_cast<std::uint64_t>(m.mtime);
  else records.emplace_back("mtime", std::to_string(m.mtime));
  for (const auto& [k, v] : m.xattrs) records.emplace_back("SCHILY.xattr." + k, v);
  std::sort(records.begin(), records.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [k, v] : records) add_pax_record(out.pax, k, v);
  out.ustar = ustar_header(name, prefix, typeflag_of(m.type), m.mode & 07777, uid_v, gid_v, size_v,
                           mtime_v, link, m.devmajor, m.devminor);
  return out;
}

// The `x` header before a member: <dir>/PaxHeaders.0/<base>, cut to 100 bytes.
inline header_block pax_header(const member& m, std::uint64_t records_size) {
  const std::string path = header_path(m);
  std::string_view p = path;
  if (p.ends_with('/')) p.remove_suffix(1);
  const std::size_t slash = p.rfind('/');
  std::string n = slash == std::string_view::npos
                      ? "PaxHeaders.0/" + std::string(p)
                      : std::string(p.substr(0, slash + 1)) + "PaxHeaders.0/" +
                            std::string(p.substr(slash + 1));
  n = ascii_only(n, name_field.size);
  return ustar_header(n, {}, 'x', 0644, 0, 0, records_size, 0, {}, 0, 0);
}

// Bytes of a member in the archive: its headers, its data, the padding.
inline std::uint64_t member_size(const member& m, std::uint64_t pax_size) {
  std::uint64_t n = block_size;
  if (pax_size > 0) n += block_size + padded(pax_size);
  if (m.type == entry_type::file) n += padded(m.size);
  return n;
}

inline error bad_member(const member& m, const std::string& why) {
  return error(errc::invalid_argument, "tar member \"" + escape_controls(m.path) + "\": " + why);
}

inline result<void> check_path(const member& m, std::string_view p, std::string_view what) {
  if (p.empty()) return bad_member(m, std::string(what) + " is empty");
  if (p.find('\0') != std::string_view::npos)
    return bad_member(m, std::string(what) + " contains a NUL");
  if (p.front() == '/' || p.back() == '/')
    return bad_member(m, std::string(what) + " starts or ends with '/'");
  for (std::size_t i = 0; i <= p.size();) {
    std::size_t j = std::min(p.find('/', i), p.size());
    std::string_view c = p.substr(i, j - i);
    if (c.empty() || c == "." || c == "..")
      return bad_member(m, std::string(what) + " has an empty, \".\" or \"..\" component");
    i = j + 1;
  }
  return success();
}

inline result<void> check_member(const member& m) {
  UKIKIT_TRY(check_path(m, m.path, "path"));
  if (m.type == entry_type::other) return bad_member(m, "type \"other\" cannot be written");
  if (m.mode > 07777) return bad_member(m, "mode has bits beyond 07777");
  if (m.type != entry_type::file && m.size != 0)
    return bad_member(m, std::string(type_name(m.type)) + " with a size");
  if (m.type == entry_type::file && m.size > 0 && m.source.empty() && m.data.size() != m.size)
    return bad_member(m, "data has " + std::to_string(m.data.size()) + " bytes, size says " +
                             std::to_string(m.size));
  const bool linked = m.type == entry_type::symlink || m.type == entry_type::hardlink;
  if (linked && m.link.empty()) return bad_member(m, "link target is empty");
  if (!linked && !m.link.empty()) return bad_member(m, "link target on a non-link");
  if (m.link.find('\0') != std::string::npos) return bad_member(m, "link target contains a NUL");
  if (m.devmajor > max_octal_id || m.devminor > max_octal_id)
    return bad_member(m, "device number does not fit ustar (7 octal digits)");
  for (const auto& [k, v] : m.xattrs) {
    if (k.empty() || k.find('=') != std::string::npos || k.find('\0') != std::string::npos)
      return bad_member(m, "xattr name \"" + escape_controls(k) + "\" is empty or has '=' or NUL");
  }
  return success();
}

} // namespace detail

// Sorts and checks the members, and computes where each ends and the size
// of the archive. Errors: a member that breaks member's rules, a duplicate
// path, a hard link whose target is not an earlier non-directory member
// that is not itself a link, pax data over max_pax_size.
inline result<plan> make_plan(std::vector<member> members) {
  std::sort(members.begin(), members.end(),
            [](const member& a, const member& b) { return a.path < b.path; });
  std::map<std::string_view, entry_type> seen;
  plan p;
  p.ends.reserve(members.size());
  std::uint64_t at = 0;
  for (std::size_t i = 0; i < members.size(); ++i) {
    const member& m = members[i];
    UKIKIT_TRY(detail::check_member(m));
    if (i > 0 && members[i - 1].path == m.path)
      return detail::bad_member(m, "duplicate path (OCI layers must not have duplicates)");
    if (m.type == entry_type::hardlink) {
      auto it = seen.find(m.link);
      if (it == seen.end() || it->second == entry_type::directory ||
          it->second == entry_type::hardlink)
        return detail::bad_member(m, "hard link target \"" + escape_controls(m.link) +
                                         "\" is not an earlier file, link or node of the archive");
    }
    seen.emplace(m.path, m.type);
    const std::uint64_t pax = detail::encode(m).pax.size();
    if (pax > max_pax_size)
      return detail::bad_member(m, "pax header of " + std::to_string(pax) +
                                       " bytes is over the limit of " +
                                       std::to_string(max_pax_size));
    const std::uint64_t n = detail::member_size(m, pax);
    if (at > UINT64_MAX - n - detail::end_size)
      return detail::bad_member(m, "archive size overflows 64 bits");
    at += n;
    p.ends.push_back(at);
  }
  p.size = at + detail::end_size;
  p.members = std::move(members);
  return p;
}

namespace detail {

// Counts what goes to the sink and gathers small writes (headers, small
// files) into large ones; large data goes straight through.
class block_sink {
public:
  explicit block_sink(sink_ref out) : out_(out) { buf_.reserve(capacity); }

  result<void> put(byte_span b) {
    if (b.size() >= capacity / 2) {
      UKIKIT_TRY(flush());
      UKIKIT_TRY(out_(b));
    } else {
      if (buf_.size() + b.size() > capacity) UKIKIT_TRY(flush());
      buf_.insert(buf_.end(), b.begin(), b.end());
    }
    written_ += b.size();
    return success();
  }
  result<void> put(const header_block& h) {
    return put(as_bytes(std::string_view(h.data(), h.size())));
  }
  result<void> zeros(std::uint64_t n) {
    static constexpr std::array<std::byte, end_size> zero{};
    while (n > 0) {
      const auto k = static_cast<std::size_t>(std::min<std::uint64_t>(n, zero.size()));
      UKIKIT_TRY(put(byte_span(zero.data(), k)));
      n -= k;
    }
    return success();
  }
  result<void> flush() {
    if (buf_.empty()) return success();
    UKIKIT_TRY(out_(byte_span(buf_)));
    buf_.clear();
    return success();
  }
  std::uint64_t written() const noexcept { return written_; }

private:
  static constexpr std::size_t capacity = std::size_t{1} << 20;
  sink_ref out_;
  std::vector<std::byte> buf_;
  std::uint64_t written_ = 0;
};

// The data of a regular file, from its mapping in pieces whose pages are
// dropped once the sink has them (hashing and compressing a large tree
// stays flat in memory), or from member::data.
inline result<void> write_data(const member& m, block_sink& out) {
  if (m.size == 0) return success();
  if (m.source.empty()) return out.put(m.data);
  auto in = file::mapped_file::open(m.source);
  if (!in) return std::move(in).error().prefixed("tar member \"" + escape_controls(m.path) + "\"");
  if (in->size() != m.size)
    return error(errc::io, "file changed while archiving: " + m.source.string() + " (" +
                               std::to_string(m.size) + " bytes planned, " +
                               std::to_string(in->size()) + " now)");
  in->advise_sequential();
  constexpr std::size_t piece = std::size_t{8} << 20;
  const byte_span all = in->bytes();
  for (std::size_t at = 0; at < all.size(); at += piece) {
    const byte_span part = all.subspan(at, std::min(piece, all.size() - at));
    UKIKIT_TRY(out.put(part));
    in->release(part);
  }
  return success();
}

} // namespace detail

// Writes the planned archive into `sink` and returns its size. Each member
// is checked against its planned end, and the whole against plan::size.
inline result<std::uint64_t> write(const plan& p, sink_ref sink) {
  detail::block_sink out(sink);
  for (std::size_t i = 0; i < p.members.size(); ++i) {
    const member& m = p.members[i];
    const detail::encoded h = detail::encode(m);
    if (!h.pax.empty()) {
      UKIKIT_TRY(out.put(detail::pax_header(m, h.pax.size())));
      UKIKIT_TRY(out.put(as_bytes(h.pax)));
      UKIKIT_TRY(out.zeros(detail::padded(h.pax.size()) - h.pax.size()));
    }
    UKIKIT_TRY(out.put(h.ustar));
    if (m.type == entry_type::file) {
      UKIKIT_TRY(detail::write_data(m, out));
      UKIKIT_TRY(out.zeros(detail::padded(m.size) - m.size));
    }
    if (out.written() != p.ends[i]) // the post-condition: bytes written = bytes planned
      return error(errc::malformed, "tar member \"" + escape_controls(m.path) + "\": ends at " +
                                        std::to_string(out.written()) + ", planned " +
                                        std::to_string(p.ends[i]));
  }
  UKIKIT_TRY(out.zeros(detail::end_size));
  UKIKIT_TRY(out.flush());
  if (out.written() != p.size)
    return error(errc::malformed, "tar archive of " + std::to_string(p.members.size()) +
                                      " members: wrote " + std::to_string(out.written()) +
                                      " bytes, planned " + std::to_string(p.size));
  return out.written();
}

// ---- a directory tree ------------------------------------------------------------

struct walk_options {
  std::int64_t mtime = 0; // of every member
  std::uint64_t uid = 0, gid = 0;
  bool devices = true; // fifos and device nodes; off: skipped (tar.special-skipped)
};

// The members of the tree under `root` (not root itself), in path order;
// regular files are read from their paths when written. Findings (skipped
// sockets, and fifos and devices when they are off) go to `log`.
inline result<std::vector<member>> walk_tree(const std::filesystem::path& root,
                                             const walk_options& o, finding_log& log) {
  namespace fs = std::filesystem;
  auto fs_error = [](const std::string& what, const fs::path& p, const std::error_code& ec) {
    return error(errc::io, what + " " + p.string() + ": " + ec.message());
  };
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return error(errc::io, "not a directory: " + root.string());
  std::vector<std::string> names;
  fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
  if (ec) return fs_error("cannot read", root, ec);
  fs::path last = root; // after an error the iterator is at its end: name the last entry seen
  for (; it != end; it.increment(ec)) {
    last = it->path();
    names.push_back(last.lexically_relative(root).generic_string());
  }
  if (ec) return fs_error("cannot read", last, ec); // a directory it could not open
  std::sort(names.begin(), names.end());

  std::map<std::pair<dev_t, ino_t>, std::string> first_link;
  std::vector<member> out;
  out.reserve(names.size());
  for (auto& n : names) {
    const fs::path p = root / n;
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) return file::detail::os_error("cannot stat", p, errno);
    member m;
    m.path = std::move(n);
    m.mode = static_cast<std::uint32_t>(st.st_mode & 07777);
    m.uid = o.uid;
    m.gid = o.gid;
    m.mtime = o.mtime;
    if (S_ISSOCK(st.st_mode)) {
      finding f(severity::warning, code::socket_skipped,
                "socket left out: tar cannot hold sockets (GNU tar and bsdtar skip them too)");
      f.subject = m.path;
      log.add(std::move(f));
      continue;
    }
    const bool special = S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode);
    if (special && !o.devices) {
      finding f(severity::note, code::special_skipped, "fifo or device node left out");
      f.subject = m.path;
      log.add(std::move(f));
      continue;
    }
    if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
      auto [at, fresh] = first_link.try_emplace({st.st_dev, st.st_ino}, m.path);
      if (!fresh) {
        m.type = entry_type::hardlink;
        m.link = at->second;
        out.push_back(std::move(m));
        continue;
      }
    }
    if (S_ISDIR(st.st_mode)) {
      m.type = entry_type::directory;
    } else if (S_ISREG(st.st_mode)) {
      m.type = entry_type::file;
      m.size = static_cast<std::uint64_t>(st.st_size);
      m.source = p;
    } else if (S_ISLNK(st.st_mode)) {
      m.type = entry_type::symlink;
      m.link = fs::read_symlink(p, ec).string();
      if (ec) return fs_error("cannot read link", p, ec);
    } else if (S_ISFIFO(st.st_mode)) {
      m.type = entry_type::fifo;
    } else {
      m.type = S_ISCHR(st.st_mode) ? entry_type::chardev : entry_type::blockdev;
      m.devmajor = major(st.st_rdev);
      m.devminor = minor(st.st_rdev);
    }
    out.push_back(std::move(m));
  }
  return out;
}

} // namespace ukikit::tar
