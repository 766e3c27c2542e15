// The tree an initramfs leaves in the kernel's rootfs: every entry applied in
// order as init/initramfs.c applies it, so later entries override earlier
// ones, and entries the kernel drops without a word are reported as
// findings (warnings, codes below).
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
#include "../diagnostics.hpp"
#include "../result.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
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

namespace code {
// The kernel drops the entry without a word (a missing parent, a parent that
// is not a directory, a non-empty directory in the way, …). The subject is
// the entry's name, the offset that of its header in its segment's stream.
inline constexpr std::string_view tree_dropped = "initrd.tree-dropped";
// The model stopped at tree::max_steps (long chains of symlinks): the tree
// is incomplete.
inline constexpr std::string_view tree_incomplete = "initrd.tree-incomplete";
} // namespace code

class tree {
public:
  // Symlinks followed while resolving one path (the kernel's ELOOP limit).
  static constexpr int max_symlinks = 40;
  // Path components walked in all, over the whole initramfs: a hostile
  // archive of long chained symlinks costs ~80k steps per entry; past this
  // the model stops (complete() is false) instead of taking hours.
  static constexpr std::uint64_t max_steps = std::uint64_t{1} << 24;

  // The cpio handler interface (see cpio.hpp).
  result<void> begin(const cpio::entry&) { return success(); }
  result<void> data(const cpio::entry&, byte_span) { return success(); }
  result<bool> end(const cpio::entry& e) {
    if (!e.kernel_skip.empty() || !complete_) return true;
    if (e.is_trailer()) {
      links_.clear(); // the kernel frees its hard link table at each trailer
      return true;
    }
    apply(e);
    if (!complete_) {
      findings_.add(severity::warning, code::tree_incomplete,
                    "the resulting tree is incomplete: the model's step limit was reached (long "
                    "chains of symlinks)");
    }
    return true;
  }

  // Path (no leading "/") to node, in path order; the root is not included.
  std::map<std::string, node> nodes() const {
    std::map<std::string, node> out;
    for (const auto& [path, id] : paths_) out.emplace(path, inodes_.at(id).n);
    return out;
  }
  std::size_t size() const noexcept { return paths_.size(); }
  // The entries the kernel drops (initrd.tree-dropped) and, when the step
  // limit stopped the model, initrd.tree-incomplete; warnings, the first
  // finding_log::default_limit kept, all counted.
  const finding_log& findings() const noexcept { return findings_; }
  // Moves the findings out; the tree's log is left empty.
  finding_log take_findings() noexcept {
    finding_log out;
    out.append(std::move(findings_));
    return out;
  }
  // False when the step limit stopped the model.
  bool complete() const noexcept { return complete_; }

private:
  using link_key = std::tuple<std::uint64_t, std::uint64_t, std::uint64_t, std::uint64_t>;
  struct inode_record {
    node n;
    std::uint64_t names = 0; // paths that refer to it
  };

  void drop(const cpio::entry& e, const std::string& reason) {
    finding f(severity::warning, code::tree_dropped,
              "entry \"" + cpio::printable(e.name) + "\" dropped by the kernel: " + reason,
              e.offset);
    f.subject = std::string(e.name);
    findings_.add(std::move(f));
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

  const node* at(const std::string& path) const {
    auto it = paths_.find(path);
    return it == paths_.end() ? nullptr : &inodes_.at(it->second).n;
  }

  // Resolves the directory `path` names, starting at `dir` (canonical, "" is
  // the root), following symlinks. nullopt with `why` set if it fails.
  std::optional<std::string> resolve_dir(std::string dir, std::string_view path, int& hops,
                                         std::string& why) {
    if (path.starts_with('/')) dir.clear();
    for (std::string_view c : components(path)) {
      if (++steps_ > max_steps) {
        complete_ = false;
        why = "the tree model's step limit was reached";
        return std::nullopt;
      }
      if (c == "..") {
        const std::size_t slash = dir.rfind('/');
        dir = slash == std::string::npos ? std::string() : dir.substr(0, slash);
        continue;
      }
      std::string next = dir.empty() ? std::string(c) : dir + "/" + std::string(c);
      const node* n = at(next);
      if (n == nullptr) {
        why = "parent directory " + next + " does not exist";
        return std::nullopt;
      }
      if (n->type == cpio::file_type::symlink) {
        if (++hops > max_symlinks) {
          why = "too many levels of symbolic links at " + next;
          return std::nullopt;
        }
        auto target = resolve_dir(dir, n->link_target, hops, why);
        if (!target) return std::nullopt;
        dir = *target;
        continue;
      }
      if (n->type != cpio::file_type::directory) {
        why = next + " is not a directory";
        return std::nullopt;
      }
      dir = std::move(next);
    }
    return dir;
  }

  // The canonical path an entry name creates; "" for the root.
  std::optional<std::string> resolve_entry(std::string_view name, std::string& why) {
    while (name.ends_with('/')) name.remove_suffix(1);
    const std::size_t slash = name.rfind('/');
    std::string_view last = slash == std::string_view::npos ? name : name.substr(slash + 1);
    std::string_view parent =
        slash == std::string_view::npos ? std::string_view() : name.substr(0, slash);
    int hops = 0;
    auto dir = resolve_dir("", parent, hops, why);
    if (!dir) return std::nullopt;
    if (last.empty() || last == "." || last == "..") return resolve_dir(*dir, last, hops, why);
    return dir->empty() ? std::string(last) : *dir + "/" + std::string(last);
  }

  bool has_children(const std::string& path) const {
    auto it = paths_.lower_bound(path + "/");
    return it != paths_.end() && it->first.starts_with(path + "/");
  }

  void unlink(std::map<std::string, std::uint64_t>::iterator it) {
    const std::uint64_t id = it->second;
    paths_.erase(it);
    if (--inodes_.at(id).names == 0) inodes_.erase(id);
  }

  // clean_path: removes `path` if it holds a different type (any type when
  // `type` is unknown). False when a non-empty directory stays.
  bool clean(const std::string& path, cpio::file_type type) {
    auto it = paths_.find(path);
    if (it == paths_.end()) return true;
    const node& n = inodes_.at(it->second).n;
    if (type != cpio::file_type::unknown && n.type == type) return true;
    if (n.type == cpio::file_type::directory && has_children(path)) return false;
    unlink(it);
    return true;
  }

  void add(const std::string& path, node n) {
    n.inode = ++next_inode_;
    inodes_[n.inode] = {std::move(n), 1};
    paths_[path] = next_inode_;
  }

  // chown, chmod (and the time) of an existing inode, as the kernel applies
  // them after EEXIST or to an open file.
  static void set_attributes(node& n, const cpio::entry& e) {
    n.mode = (n.mode & 0170000) | (e.mode & 07777);
    n.uid = e.uid;
    n.gid = e.gid;
    n.mtime = e.mtime;
  }

  void apply(const cpio::entry& e) {
    const cpio::file_type t = e.type();
    // maybe_link(): the key is recorded at first sight, whether or not the
    // entry is then created.
    std::optional<std::string> link_to;
    if (e.nlink >= 2 && t != cpio::file_type::directory && t != cpio::file_type::symlink &&
        t != cpio::file_type::unknown) {
      auto [it, fresh] = links_.try_emplace(
          link_key{e.dev_major, e.dev_minor, e.ino, e.mode & 0170000}, std::string(e.name));
      if (!fresh) link_to = it->second;
    }
    std::string why;
    auto path = resolve_entry(e.name, why);
    if (!path) return drop(e, why);
    if (path->empty()) { // the root: only a directory applies (its mode is not modelled)
      if (t != cpio::file_type::directory) drop(e, "cannot replace the root directory");
      return;
    }
    if (t == cpio::file_type::symlink) return make_symlink(e, *path);
    if (!clean(*path, t)) return drop(e, "a non-empty directory is in the way");
    if (link_to) return make_link(e, *path, *link_to);
    auto it = paths_.find(*path);
    if (t == cpio::file_type::unknown) return drop(e, "unknown file type");
    if (it == paths_.end()) {
      add(*path, node{t,
                      e.mode,
                      e.uid,
                      e.gid,
                      e.mtime,
                      t == cpio::file_type::regular ? e.filesize : 0,
                      e.rdev_major,
                      e.rdev_minor,
                      {},
                      0});
      return;
    }
    // The same type is there: a file is truncated and rewritten in place (its
    // other links see it); a directory is kept; mknod fails with EEXIST.
    node& n = inodes_.at(it->second).n;
    set_attributes(n, e);
    if (t == cpio::file_type::regular) n.size = e.filesize;
  }

  // do_symlink: whatever is there goes, then symlink(target) with the body
  // read as a C string (an empty target fails).
  void make_symlink(const cpio::entry& e, const std::string& path) {
    if (!clean(path, cpio::file_type::unknown))
      return drop(e, "a non-empty directory is in the way");
    std::string_view target = e.link_target.substr(0, e.link_target.find('\0'));
    if (target.empty()) return drop(e, "empty symlink target");
    add(path, node{cpio::file_type::symlink, e.mode, e.uid, e.gid, e.mtime, target.size(), 0, 0,
                   std::string(target), 0});
  }

  // A hard link to the first name of its key: clean_path, then link(); a
  // file's data is written into the shared inode (truncated to it first).
  void make_link(const cpio::entry& e, const std::string& path, const std::string& first) {
    if (!clean(path, cpio::file_type::unknown))
      return drop(e, "a non-empty directory is in the way");
    std::string why;
    auto old = resolve_entry(first, why);
    auto it = old ? paths_.find(*old) : paths_.end();
    if (it == paths_.end() || inodes_.at(it->second).n.type == cpio::file_type::directory)
      return drop(e, "hard link target " + first + " does not exist");
    const std::uint64_t id = it->second;
    paths_[path] = id;
    inode_record& r = inodes_.at(id);
    ++r.names;
    if (e.type() == cpio::file_type::regular) {
      set_attributes(r.n, e);
      if (e.filesize > 0) r.n.size = e.filesize;
    }
  }

  std::map<std::string, std::uint64_t> paths_;
  std::unordered_map<std::uint64_t, inode_record> inodes_;
  std::map<link_key, std::string> links_;
  finding_log findings_;
  std::uint64_t next_inode_ = 0;
  std::uint64_t steps_ = 0;
  bool complete_ = true;
};

} // namespace ukikit::initrd
