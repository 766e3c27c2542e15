// The tree an initramfs leaves in the kernel's rootfs: every entry applied in
// order as init/initramfs.c applies it, so later entries override earlier
// ones, and entries the kernel drops without a word are reported.
//
// The rules (do_name, do_symlink, maybe_link, clean_path):
// - a path is resolved from "/" component by component; parent components
//   must exist, symlinks among them are followed (at most 40, like ELOOP),
//   ".." at the root stays at the root; a missing parent or a parent that is
//   not a directory makes the kernel's mkdir/open/mknod fail: the entry is
//   dropped;
// - an existing path of a different type is removed first (unlink, or rmdir,
//   which fails on a non-empty directory: then the new entry is dropped);
//   a symlink or a hard link removes whatever is there;
// - a regular file over an existing regular file is truncated and rewritten
//   in place (so other hard links to it see the new data); a directory over a
//   directory keeps it and takes the new owner and mode; a device, fifo or
//   socket over one of the same type fails (EEXIST) and the old one stays,
//   with the new owner and mode;
// - hard links: an entry with nlink >= 2 whose (dev major, minor, ino, type)
//   was seen since the last TRAILER!!! becomes a link to the first path; its
//   data, if any, is written into the shared inode from offset 0.
#pragma once

#include "../cpio.hpp"
#include "../result.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace ukikit::initrd {

struct node {
  cpio::file_type type = cpio::file_type::unknown;
  std::uint64_t mode = 0; // with the type bits
  std::uint64_t uid = 0;
  std::uint64_t gid = 0;
  std::uint64_t mtime = 0;
  std::uint64_t size = 0; // regular files: data bytes; symlinks: target length
  std::uint64_t rdev_major = 0;
  std::uint64_t rdev_minor = 0;
  std::string link_target;
  std::uint64_t inode = 0; // unique in the tree; hard links share it
};

struct dropped_entry {
  std::string name;
  std::uint64_t offset; // of the header, in its segment's stream
  std::string reason;
};

class tree {
public:
  // Symlinks followed while resolving one path (the kernel's ELOOP limit).
  static constexpr int max_symlinks = 40;

  // The cpio handler interface (see cpio.hpp).
  result<void> begin(const cpio::entry&) { return success(); }
  result<void> data(const cpio::entry&, byte_span) { return success(); }
  result<bool> end(const cpio::entry& e) {
    if (e.is_trailer()) {
      links_.clear(); // the kernel frees its hard link table at each trailer
      return true;
    }
    if (e.kernel_skip.empty()) apply(e);
    return true;
  }

  // Path (no leading "/") to node, in path order; the root is not included.
  const std::map<std::string, node>& nodes() const noexcept { return nodes_; }
  const std::vector<dropped_entry>& dropped() const noexcept { return dropped_; }

private:
  using link_key = std::tuple<std::uint64_t, std::uint64_t, std::uint64_t, std::uint64_t>;

  void drop(const cpio::entry& e, std::string reason) {
    dropped_.push_back({std::string(e.name), e.offset, std::move(reason)});
  }

  static std::vector<std::string_view> components(std::string_view path) {
    std::vector<std::string_view> out;
    while (!path.empty()) {
      const std::size_t slash = path.find('/');
      std::string_view c = path.substr(0, slash);
      path.remove_prefix(slash == std::string_view::npos ? path.size() : slash + 1);
      if (!c.empty() && c != ".") out.push_back(c);
    }
    return out;
  }

  // Resolves the directory `path` names, starting at `dir` (canonical, "" is
  // the root), following symlinks. nullopt with `why` set if it fails.
  std::optional<std::string> resolve_dir(std::string dir, std::string_view path, int& hops,
                                         std::string& why) const {
    if (path.starts_with('/')) dir.clear();
    for (std::string_view c : components(path)) {
      if (c == "..") {
        const std::size_t slash = dir.rfind('/');
        dir = slash == std::string::npos ? std::string() : dir.substr(0, slash);
        continue;
      }
      std::string next = dir.empty() ? std::string(c) : dir + "/" + std::string(c);
      auto it = nodes_.find(next);
      if (it == nodes_.end()) {
        why = "parent directory " + next + " does not exist";
        return std::nullopt;
      }
      if (it->second.type == cpio::file_type::symlink) {
        if (++hops > max_symlinks) {
          why = "too many levels of symbolic links at " + next;
          return std::nullopt;
        }
        auto target = resolve_dir(dir, it->second.link_target, hops, why);
        if (!target) return std::nullopt;
        dir = *target;
        continue;
      }
      if (it->second.type != cpio::file_type::directory) {
        why = next + " is not a directory";
        return std::nullopt;
      }
      dir = std::move(next);
    }
    return dir;
  }

  bool has_children(const std::string& path) const {
    auto it = nodes_.lower_bound(path + "/");
    return it != nodes_.end() && it->first.starts_with(path + "/");
  }

  // clean_path: removes `path` if it holds a different type (any type when
  // `type` is unknown). False when a non-empty directory stays.
  bool clean(const std::string& path, cpio::file_type type) {
    auto it = nodes_.find(path);
    if (it == nodes_.end() || (type != cpio::file_type::unknown && it->second.type == type))
      return true;
    if (it->second.type == cpio::file_type::directory && has_children(path)) return false;
    nodes_.erase(it);
    return true;
  }

  void apply(const cpio::entry& e) {
    // The parent, then the last component.
    std::string_view name = e.name;
    while (name.ends_with('/')) name.remove_suffix(1);
    const std::size_t slash = name.rfind('/');
    std::string_view last = slash == std::string_view::npos ? name : name.substr(slash + 1);
    std::string_view parent =
        slash == std::string_view::npos ? std::string_view() : name.substr(0, slash);
    int hops = 0;
    std::string why;
    auto dir = resolve_dir("", parent, hops, why);
    if (!dir) return drop(e, why);
    std::string path;
    if (last.empty() || last == "." || last == "..") {
      // The root or a directory already there: only a directory applies.
      auto target = resolve_dir(*dir, last, hops, why);
      if (!target) return drop(e, why);
      if (e.type() != cpio::file_type::directory)
        return drop(e, "cannot create \"" + std::string(last) + "\" as a non-directory");
      if (target->empty()) return; // the root: its mode is not modelled
      path = *target;
    } else {
      path = dir->empty() ? std::string(last) : *dir + "/" + std::string(last);
    }

    const cpio::file_type t = e.type();
    node n{t,
           e.mode,
           e.uid,
           e.gid,
           e.mtime,
           e.filesize,
           e.rdev_major,
           e.rdev_minor,
           std::string(e.link_target),
           0};
    const bool linkable =
        e.nlink >= 2 && t != cpio::file_type::directory && t != cpio::file_type::symlink;
    const link_key key{e.dev_major, e.dev_minor, e.ino, e.mode & 0170000};
    if (linkable) {
      if (auto l = links_.find(key); l != links_.end()) {
        auto first = nodes_.find(l->second);
        if (first == nodes_.end()) return drop(e, "hard link target " + l->second + " is gone");
        node linked = first->second; // before clean(), which may erase it
        if (!clean(path, cpio::file_type::unknown))
          return drop(e, "a non-empty directory is in the way");
        nodes_[path] = linked;
        if (t == cpio::file_type::regular && e.filesize > linked.size)
          set_size(linked.inode, e.filesize);
        return;
      }
    }
    if (!clean(path, t == cpio::file_type::symlink ? cpio::file_type::unknown : t))
      return drop(e, "a non-empty directory is in the way");
    auto it = nodes_.find(path);
    if (it == nodes_.end()) {
      if (t == cpio::file_type::unknown) return drop(e, "unknown file type");
      n.inode = ++next_inode_;
      nodes_.emplace(path, std::move(n));
    } else if (t == cpio::file_type::regular) {
      // Truncated and rewritten in place: every link sees it.
      for (auto& [p, other] : nodes_) {
        if (other.inode != it->second.inode) continue;
        other.mode = n.mode;
        other.uid = n.uid;
        other.gid = n.gid;
        other.mtime = n.mtime;
        other.size = n.size;
      }
    } else { // directory kept, or EEXIST for the others: new owner and mode
      it->second.mode = n.mode;
      it->second.uid = n.uid;
      it->second.gid = n.gid;
      if (t == cpio::file_type::directory) it->second.mtime = n.mtime;
    }
    if (linkable) links_.emplace(key, path);
  }

  void set_size(std::uint64_t inode, std::uint64_t size) {
    for (auto& [p, other] : nodes_)
      if (other.inode == inode) other.size = size;
  }

  std::map<std::string, node> nodes_;
  std::map<link_key, std::string> links_;
  std::vector<dropped_entry> dropped_;
  std::uint64_t next_inode_ = 0;
};

} // namespace ukikit::initrd
