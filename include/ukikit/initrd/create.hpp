// Creating an initramfs: deterministic newc/crc archives from a directory
// tree or a gen_init_cpio list, compressed or not, with an optional early
// (uncompressed) archive in front for microcode.
//
// Determinism (systemd-stub's cpio.c and gen_init_cpio -t are the models):
// - a directory tree is archived in byte-wise sorted path order, so every
//   directory comes before its contents; "." itself is not archived;
// - a list keeps its order (later entries override earlier ones in the
//   kernel, so order is meaning); missing parent directories are added
//   (mode 0755) before their first child;
// - every entry gets the same mtime (create_options::mtime, default 0; the
//   tool passes --mtime or SOURCE_DATE_EPOCH, the library reads no
//   environment) and, for trees, the same uid and gid (default 0);
// - inode numbers count from 1 in archive order; hard links of a tree share
//   one, with nlink their number in the archive and the data on the last,
//   as GNU cpio and gen_init_cpio do; device numbers are 0:0.
#pragma once

#include "../compress.hpp"
#include "../cpio.hpp"
#include "../cpio_writer.hpp"
#include "../file.hpp"
#include "../result.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace ukikit::initrd {

namespace fs = std::filesystem;

// One planned entry: the header fields, and where the data comes from.
struct planned {
  std::string name;
  cpio::entry_fields fields;
  fs::path source;         // regular files with data
  std::string link_target; // symlinks
  std::uint64_t size = 0;  // of the data (0 for all but the last hard link)
};

struct create_options {
  cpio::format fmt = cpio::format::newc; // newc or crc
  std::uint64_t mtime = 0;               // of every entry (up to cpio::max_field)
  std::uint32_t uid = 0;                 // trees only; lists carry their own
  std::uint32_t gid = 0;
  std::uint64_t data_align = 0; // gen_init_cpio -a
  compress::format compression = compress::format::zstd;
  std::optional<int> level;
  unsigned threads = 1;
};

namespace detail {

inline error fs_error(const std::string& what, const fs::path& p, const std::error_code& ec) {
  return error(errc::io, what + " " + p.string() + ": " + ec.message());
}

// The parents of `name` ("a/b/c" gives "a", "a/b").
inline std::vector<std::string> parents_of(std::string_view name) {
  std::vector<std::string> out;
  for (std::size_t i = name.find('/'); i != std::string_view::npos; i = name.find('/', i + 1))
    out.emplace_back(name.substr(0, i));
  return out;
}

// Inode numbers in archive order, shared by hard links (same source dev:ino).
inline void number_inodes(std::vector<planned>& entries,
                          const std::vector<std::pair<dev_t, ino_t>>& identity) {
  std::map<std::pair<dev_t, ino_t>, std::vector<std::size_t>> groups;
  std::uint64_t next = 1;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    auto& e = entries[i];
    const bool linkable = cpio::type_of(e.fields.mode) == cpio::file_type::regular &&
                          i < identity.size() && identity[i].second != 0;
    if (linkable) {
      auto& group = groups[identity[i]];
      e.fields.ino = group.empty() ? next++ : entries[group.front()].fields.ino;
      group.push_back(i);
    } else {
      e.fields.ino = next++;
    }
  }
  for (auto& [id, members] : groups) {
    if (members.size() < 2) continue;
    for (std::size_t k = 0; k < members.size(); ++k) {
      auto& e = entries[members[k]];
      e.fields.nlink = members.size();
      if (k + 1 < members.size()) e.size = 0; // the data goes on the last link
    }
  }
}

} // namespace detail

// Plans the entries of the tree under `root` (not root itself).
inline result<std::vector<planned>> plan_tree(const fs::path& root, const create_options& o) {
  const std::uint64_t mtime = o.mtime;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return error(errc::io, "not a directory: " + root.string());
  std::vector<std::string> names;
  fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
  if (ec) return detail::fs_error("cannot read", root, ec);
  for (; it != end; it.increment(ec)) {
    if (ec) return detail::fs_error("cannot read", it->path(), ec);
    names.push_back(it->path().lexically_relative(root).generic_string());
  }
  if (ec) return detail::fs_error("cannot read", root, ec);
  std::sort(names.begin(), names.end());

  std::vector<planned> out;
  std::vector<std::pair<dev_t, ino_t>> identity;
  out.reserve(names.size());
  for (const auto& n : names) {
    const fs::path p = root / n;
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) return file::detail::os_error("cannot stat", p, errno);
    planned e;
    e.name = n;
    e.fields.mode = st.st_mode;
    e.fields.uid = o.uid;
    e.fields.gid = o.gid;
    e.fields.mtime = mtime;
    e.fields.nlink = S_ISDIR(st.st_mode) ? 2 : 1;
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      e.fields.rdev_major = major(st.st_rdev);
      e.fields.rdev_minor = minor(st.st_rdev);
    }
    if (S_ISREG(st.st_mode)) {
      e.source = p;
      e.size = static_cast<std::uint64_t>(st.st_size);
    } else if (S_ISLNK(st.st_mode)) {
      e.link_target = fs::read_symlink(p, ec).string();
      if (ec) return detail::fs_error("cannot read link", p, ec);
      e.size = e.link_target.size();
    }
    identity.emplace_back(st.st_dev, S_ISREG(st.st_mode) && st.st_nlink > 1 ? st.st_ino : 0);
    out.push_back(std::move(e));
  }
  detail::number_inodes(out, identity);
  return out;
}

// Plans the entries of a gen_init_cpio list (usr/gen_init_cpio.c):
//   file <name> <location> <mode> <uid> <gid> [<hard links>...]
//   dir <name> <mode> <uid> <gid>
//   nod <name> <mode> <uid> <gid> <b|c> <major> <minor>
//   slink <name> <target> <mode> <uid> <gid>
//   pipe <name> <mode> <uid> <gid>
//   sock <name> <mode> <uid> <gid>
// Modes are octal; a leading '/' of a name is dropped; # starts a comment.
// Relative locations are taken from `base`.
inline result<std::vector<planned>> plan_list(std::string_view text, const fs::path& base,
                                              const create_options& o) {
  const std::uint64_t mtime = o.mtime;
  std::vector<planned> out;
  std::set<std::string> present;
  std::vector<std::pair<dev_t, ino_t>> identity;
  std::size_t line_no = 0;
  auto bad = [&line_no](const std::string& why) {
    return error(errc::malformed, "list line " + std::to_string(line_no) + ": " + why);
  };
  auto number = [](std::string_view s, int radix) -> std::optional<std::uint64_t> {
    if (s.empty() || s.size() > 11) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : s) {
      int d = c >= '0' && c <= '9' ? c - '0' : -1;
      if (d < 0 || d >= radix) return std::nullopt;
      v = v * static_cast<std::uint64_t>(radix) + static_cast<std::uint64_t>(d);
    }
    return v <= cpio::max_field ? std::optional<std::uint64_t>(v) : std::nullopt;
  };
  while (!text.empty()) {
    ++line_no;
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    // gen_init_cpio: a '#' starts a comment only at the start of a line.
    if (line.find_first_not_of(" \t") != std::string_view::npos &&
        line[line.find_first_not_of(" \t")] == '#')
      continue;
    std::vector<std::string_view> w;
    for (std::size_t i = 0; i < line.size();) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
      std::size_t j = i;
      while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
      if (j > i) w.push_back(line.substr(i, j - i));
      i = j;
    }
    if (w.empty()) continue;
    const std::string_view kind = w[0];
    const std::size_t want = kind == "file" ? 6 : kind == "nod" ? 8 : kind == "slink" ? 6 : 5;
    if (kind != "file" && kind != "dir" && kind != "nod" && kind != "slink" && kind != "pipe" &&
        kind != "sock")
      return bad("unknown type \"" + std::string(kind) + "\"");
    // Like gen_init_cpio's sscanf, words after the fields are ignored (on a
    // file line they are its hard links).
    if (w.size() < want)
      return bad(std::string(kind) + " takes " + std::to_string(want - 1) + " fields");
    std::string name(w[1]);
    while (name.starts_with('/')) name.erase(0, 1);
    if (name.empty()) return bad("empty name");
    const std::size_t mode_at = kind == "file" || kind == "slink" ? 3 : 2;
    auto perm = number(w[mode_at], 8);
    auto uid = number(w[mode_at + 1], 10);
    auto gid = number(w[mode_at + 2], 10);
    if (!perm || *perm > 07777) return bad("mode is not an octal permission");
    if (!uid || !gid) return bad("uid and gid must be decimal numbers");
    planned e;
    e.fields.uid = *uid;
    e.fields.gid = *gid;
    e.fields.mtime = mtime;
    std::vector<std::string> names{name};
    if (kind == "file") {
      e.fields.mode = S_IFREG | *perm;
      const fs::path loc{std::string(w[2])};
      e.source = loc.is_absolute() ? loc : base / loc;
      struct stat st {};
      if (::stat(e.source.c_str(), &st) != 0)
        return file::detail::os_error("cannot stat", e.source, errno);
      if (!S_ISREG(st.st_mode)) return bad("not a regular file: " + e.source.string());
      e.size = static_cast<std::uint64_t>(st.st_size);
      for (std::size_t k = 6; k < w.size(); ++k) {
        std::string link(w[k]);
        while (link.starts_with('/')) link.erase(0, 1);
        names.push_back(link);
      }
    } else if (kind == "dir") {
      e.fields.mode = S_IFDIR | *perm;
      e.fields.nlink = 2;
    } else if (kind == "nod") {
      if (w[5] != "b" && w[5] != "c") return bad("device type must be b or c");
      e.fields.mode = (w[5] == "b" ? S_IFBLK : S_IFCHR) | *perm;
      auto maj = number(w[6], 10);
      auto min = number(w[7], 10);
      if (!maj || !min) return bad("device numbers must be decimal");
      // The kernel's MKDEV() keeps 12 bits of major and 20 of minor.
      if (*maj > 0xfff || *min > 0xfffff)
        return bad("device number " + std::to_string(*maj) + ":" + std::to_string(*min) +
                   " is out of range (major up to 4095, minor up to 1048575)");
      e.fields.rdev_major = *maj;
      e.fields.rdev_minor = *min;
    } else if (kind == "slink") {
      e.fields.mode = S_IFLNK | *perm;
      e.link_target = std::string(w[2]);
      e.size = e.link_target.size();
    } else {
      e.fields.mode = (kind == "pipe" ? S_IFIFO : S_IFSOCK) | *perm;
    }
    for (const auto& n : names) {
      // The kernel (and GNU cpio) would end the archive at this entry.
      if (n == cpio::trailer_name) return bad("the name TRAILER!!! would end the archive there");
      if (n.empty()) return bad("empty hard link name");
    }
    const std::pair<dev_t, ino_t> id{0, names.size() > 1 ? static_cast<ino_t>(line_no) : 0};
    for (const auto& n : names) {
      for (const auto& parent : detail::parents_of(n)) {
        if (!present.insert(parent).second) continue;
        planned d;
        d.name = parent;
        d.fields.mode = S_IFDIR | 0755;
        d.fields.nlink = 2;
        d.fields.mtime = mtime;
        out.push_back(std::move(d));
        identity.emplace_back(0, 0);
      }
      present.insert(n);
      planned copy = e;
      copy.name = n;
      out.push_back(std::move(copy));
      identity.push_back(id);
    }
  }
  detail::number_inodes(out, identity);
  return out;
}

namespace detail {

// Collects small writes into large ones for the encoder or the file.
class buffered_sink {
public:
  explicit buffered_sink(compress::sink_ref out) : out_(out) { buf_.reserve(capacity); }
  result<void> operator()(byte_span b) {
    if (b.size() >= capacity) {
      UKIKIT_TRY(flush());
      return out_(b);
    }
    if (buf_.size() + b.size() > capacity) UKIKIT_TRY(flush());
    buf_.insert(buf_.end(), b.begin(), b.end());
    return success();
  }
  result<void> flush() {
    if (buf_.empty()) return success();
    UKIKIT_TRY(out_(byte_span(buf_)));
    buf_.clear();
    return success();
  }

private:
  static constexpr std::size_t capacity = std::size_t{1} << 20;
  compress::sink_ref out_;
  std::vector<std::byte> buf_;
};

} // namespace detail

// Writes the planned entries as one archive with its trailer into `sink`,
// and returns its size. The size is planned from the entries first (each
// planned::size); an archive whose bytes written differ from the plan is an
// error (the post-condition of systemd's cpio.c).
inline result<std::uint64_t> write_archive(const std::vector<planned>& entries,
                                           const cpio::write_options& wo, compress::sink_ref sink) {
  std::uint64_t planned_end = 0;
  for (const auto& e : entries)
    planned_end = cpio::writer::entry_end(planned_end, e.name.size(), e.size, e.fields.mode, wo);
  planned_end = cpio::writer::archive_end(planned_end, wo);
  detail::buffered_sink buffered(sink);
  UKIKIT_TRY_ASSIGN(auto w, cpio::writer::create(wo, buffered));
  for (const auto& e : entries) {
    if (!e.link_target.empty() || e.size == 0 || e.source.empty()) {
      UKIKIT_TRY(w.add(e.name, e.fields, as_bytes(std::string_view(e.link_target))));
      continue;
    }
    UKIKIT_TRY_ASSIGN(auto in, file::mapped_file::open(e.source));
    if (in.size() != e.size) {
      return error(errc::io, "file changed while archiving: " + e.source.string() + " (" +
                                 std::to_string(e.size) + " bytes planned, " +
                                 std::to_string(in.size()) + " now)");
    }
    in.advise_sequential();
    UKIKIT_TRY(w.add(e.name, e.fields, in.bytes()));
    in.release(in.bytes());
  }
  UKIKIT_TRY(w.finish());
  UKIKIT_TRY(buffered.flush());
  if (w.written() != planned_end) {
    return error(errc::malformed, "cpio archive of " + std::to_string(entries.size()) +
                                      " entries: wrote " + std::to_string(w.written()) +
                                      " bytes, planned " + std::to_string(planned_end));
  }
  return w.written();
}

// Writes the whole initramfs: the early archive (uncompressed, data aligned
// to 16 bytes as distributions do for microcode) if `early` is not empty,
// then the main archive compressed as the options say.
inline result<void> write_initrd(const std::vector<planned>& early,
                                 const std::vector<planned>& main, const create_options& o,
                                 compress::sink_ref sink) {
  cpio::write_options wo;
  wo.fmt = o.fmt;
  if (!early.empty()) {
    cpio::write_options ewo = wo;
    ewo.data_align = 16;
    UKIKIT_TRY(write_archive(early, ewo, sink));
  }
  wo.data_align = o.data_align;
  if (o.compression == compress::format::none) {
    UKIKIT_TRY(write_archive(main, wo, sink));
    return success();
  }
  compress::encode_options eo;
  eo.fmt = o.compression;
  eo.level = o.level;
  eo.threads = o.threads;
  UKIKIT_TRY_ASSIGN(auto enc, compress::encoder::create(eo));
  auto into_encoder = [&](byte_span b) { return enc.write(b, sink); };
  UKIKIT_TRY(write_archive(main, wo, into_encoder));
  return enc.finish(sink);
}

} // namespace ukikit::initrd
