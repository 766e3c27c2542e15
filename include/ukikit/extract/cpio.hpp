// cpio into a target as the Linux initramfs unpacker (init/initramfs.c)
// does: a thin adapter from cpio::parser entries to the extraction core
// (extract/node.hpp, replace::kernel). What is the kernel's and stays here:
// later entries replace earlier ones, multiply-linked files become hard links
// keyed by (dev, ino, type), a TRAILER!!! forgets them, entries the kernel
// skips are skipped (and reported), a symlink is made when its target (the
// entry's data) has been read.
#pragma once

#include "../cpio.hpp"
#include "node.hpp"

#include <map>
#include <string>
#include <tuple>
#include <utility>

namespace ukikit::extract {

// The cpio::parser handler that extracts into a target. Feed the parser
// (best in strictness::kernel mode), then call finish() once.
class cpio_extractor {
public:
  explicit cpio_extractor(target t, options opts = {})
      : core_(std::move(t), opts, replace::kernel) {}

  result<void> begin(const cpio::entry& e) {
    symlink_ = false;
    if (!e.kernel_skip.empty()) {
      // A name the kernel does not read is shown by its start (cpio::entry).
      if (e.name_unread()) {
        const bool whole = e.namesize == e.name_start.size() + 1;
        node unread;
        unread.name = e.name_start;
        unread.offset = e.offset;
        core_.note(unread, code::entry_skipped,
                   "skipped as the kernel skips it (" + std::string(e.kernel_skip) +
                       "; name size " + hex(e.namesize) + (whole ? "" : ", first bytes shown") +
                       ")");
      } else {
        core_.note(node_of(e), code::entry_skipped,
                   "skipped as the kernel skips it (" + std::string(e.kernel_skip) + ")");
      }
      return success();
    }
    if (e.is_trailer()) { // the kernel forgets hard links at each trailer
      links_.clear();
      return success();
    }
    if (e.type() == cpio::file_type::symlink) { // made at end(), when its target is known
      symlink_ = true;
      return success();
    }
    node n = node_of(e);
    // Kernel maybe_link(): a later name of a multiply-linked file becomes a
    // hard link to the first name.
    const bool linkable = n.type != node_type::directory && n.type != node_type::unknown;
    std::string first;
    if (linkable && e.nlink >= 2) {
      auto it = links_.find(key_of(e));
      auto parts = detail::split_name(e.name);
      if (it != links_.end() && (!parts || it->second != detail::join(*parts))) first = it->second;
    }
    n.same_as = first;
    UKIKIT_TRY_ASSIGN(const bool made, core_.begin(n));
    if (made && first.empty()) remember_link(e);
    return success();
  }

  result<void> data(const cpio::entry&, byte_span piece) { return core_.data(piece); }

  result<bool> end(const cpio::entry& e) {
    if (std::exchange(symlink_, false)) {
      node n = node_of(e);
      n.link = e.link_target;
      UKIKIT_TRY(core_.begin(n));
    }
    UKIKIT_TRY(core_.end());
    return true;
  }

  // Applies what waits for the end: the attributes of a file whose data
  // was cut short, then directory modes, owners and times, deepest first.
  result<report> finish() {
    symlink_ = false;
    return core_.finish();
  }

  const report& progress() const noexcept { return core_.progress(); }

private:
  // Kernel find_link(): (dev major, dev minor, ino, type).
  using link_key = std::tuple<std::uint64_t, std::uint64_t, std::uint64_t, std::uint64_t>;

  static link_key key_of(const cpio::entry& e) {
    return {e.dev_major, e.dev_minor, e.ino, e.mode & S_IFMT};
  }

  static node_type type_of(cpio::file_type t) noexcept {
    switch (t) {
    case cpio::file_type::directory: return node_type::directory;
    case cpio::file_type::regular: return node_type::regular;
    case cpio::file_type::symlink: return node_type::symlink;
    case cpio::file_type::character: return node_type::character;
    case cpio::file_type::block: return node_type::block;
    case cpio::file_type::fifo: return node_type::fifo;
    case cpio::file_type::socket: return node_type::socket;
    case cpio::file_type::unknown: break;
    }
    return node_type::unknown;
  }

  static node node_of(const cpio::entry& e) {
    node n;
    n.name = e.name;
    n.offset = e.offset;
    n.type = type_of(e.type());
    n.mode = n.type == node_type::unknown ? e.mode : (e.mode & 07777);
    n.uid = e.uid;
    n.gid = e.gid;
    n.mtime = static_cast<std::int64_t>(e.mtime);
    n.rdev_major = e.rdev_major;
    n.rdev_minor = e.rdev_minor;
    n.size = e.filesize;
    return n;
  }

  void remember_link(const cpio::entry& e) {
    if (e.nlink < 2 || links_.count(key_of(e)) != 0) return;
    if (links_.size() == max_links) {
      core_.note(node_of(e), code::link_table_full,
                 "hard link table full (" + std::to_string(max_links) +
                     " entries): later links become separate files");
      return;
    }
    auto parts = detail::split_name(e.name);
    if (parts) links_.emplace(key_of(e), detail::join(*parts));
  }

  node_extractor core_;
  bool symlink_ = false; // the current entry is a symlink, made at its end()
  std::map<link_key, std::string> links_;
};

// Unpacks a cpio stream read as the kernel reads an initramfs (newc or crc,
// cpio::strictness::kernel; several archives may follow each other) into
// `t`. Bytes that start no header end it with errc::malformed (a compressed
// segment must be decompressed first). Directory attributes are applied even
// when the stream turns out bad.
inline result<report> unpack(byte_span archive, target t, options opts = {}) {
  cpio_extractor x(std::move(t), opts);
  cpio::parser p(cpio::options{cpio::strictness::kernel, false});
  auto fed = p.feed(archive, x);
  UKIKIT_TRY_ASSIGN(report rep, x.finish());
  if (!fed) return std::move(fed).error();
  if (fed->stop == cpio::stop::foreign) {
    return error(errc::malformed, "no cpio header (compressed? decompress first)", p.offset());
  }
  if (!p.at_boundary()) return p.truncated_error();
  return rep;
}

} // namespace ukikit::extract
