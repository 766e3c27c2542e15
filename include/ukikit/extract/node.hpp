// The one extraction core: a format-neutral node (what a cpio or tar entry
// describes) placed in a target with the never-leave-the-target rules of
// ../extract.hpp. cpio (extract/cpio.hpp) and tar layers (extract/layer.hpp)
// are thin adapters over node_extractor; each says how what is already at a
// path is replaced:
//
// - replace::kernel, init/initramfs.c clean_path(): what is in the way is
//   unlinked, or rmdir'ed when it is an empty directory; a non-empty
//   directory is refused; a regular file over a regular file is truncated in
//   place unless other names share it.
// - replace::layer, image-spec layer.md: a directory over a directory is
//   kept (its attributes updated); anything else is removed, a directory
//   with everything in it (never crossing a mount or following a symlink),
//   and made anew. Directories this layer changes but does not list keep
//   their mode and times (as umoci restores them), and without root they
//   are made owner-writable while the layer is applied.
#pragma once

#include "target.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace ukikit::extract {

enum class node_type : std::uint8_t {
  directory,
  regular,
  symlink,
  hardlink, // a tar hard link: another name for whatever `link` names
  character,
  block,
  fifo,
  socket,
  unknown,
};

// The letter `ls -l` shows for a type.
constexpr char type_letter(node_type t) noexcept {
  switch (t) {
  case node_type::directory: return 'd';
  case node_type::regular: return '-';
  case node_type::symlink: return 'l';
  case node_type::hardlink: return 'h';
  case node_type::character: return 'c';
  case node_type::block: return 'b';
  case node_type::fifo: return 'p';
  case node_type::socket: return 's';
  case node_type::unknown: break;
  }
  return '?';
}

enum class replace : std::uint8_t { kernel, layer };

// One thing to place. Views stay valid until the node's end().
struct node {
  std::string_view name; // raw, as in the archive: the subject of findings
  std::uint64_t offset = 0;
  node_type type = node_type::regular;
  // Permission bits (07777; type bits are ignored), or for node_type::unknown
  // the whole mode, for the message.
  std::uint64_t mode = 0;
  std::uint64_t uid = 0, gid = 0;
  std::int64_t mtime = 0;
  std::uint32_t mtime_nsec = 0;
  std::string_view link; // symlink: its target; hardlink: the name it links to
  // A regular file, device, fifo or socket that is another name of an
  // earlier one (cpio's multiply-linked files): made as a hard link to this
  // name, which must still have the node's type. A regular file so linked
  // still takes its data and attributes (the kernel's maybe_link()).
  std::string_view same_as;
  std::uint64_t rdev_major = 0, rdev_minor = 0;
  std::uint64_t size = 0; // regular: the bytes data() will give
};

// Places nodes in a target: begin() (then data() pieces for a regular file,
// then end()) per node, finish() once.
class node_extractor {
public:
  // Whether a child (its path relative to the target) stays when its
  // directory is cleared.
  using keep_fn = std::function<bool(const std::string&)>;

  explicit node_extractor(target t, options opts = {}, replace how = replace::kernel)
      : target_(std::move(t)), opts_(opts), how_(how), root_(::geteuid() == 0) {}

  // Places `n`: true when a new file or node was made for it (not a link,
  // directory or symlink; cpio remembers it for later links). A refusal is
  // a finding; an error only when the destination fails (errc::io).
  result<bool> begin(const node& n) {
    open_.reset();
    current_ = {std::string(n.name), n.offset, n.mode, n.uid, n.gid, n.mtime, n.mtime_nsec};
    made_ = false;
    UKIKIT_TRY(settle(place(n)));
    return made_;
  }

  result<void> data(byte_span piece) {
    if (open_.get() < 0) return success();
    while (!piece.empty()) {
      const ssize_t n = ::write(open_.get(), piece.data(), piece.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return settle(fail("cannot write", rel_, errno));
      piece = piece.subspan(static_cast<std::size_t>(n));
    }
    return success();
  }

  // The end of a node: a regular file gets its attributes.
  result<void> end() {
    if (open_.get() >= 0) UKIKIT_TRY(settle(close_file()));
    return success();
  }

  // Removes what is at `path` (relative to the target) and, for a directory,
  // everything in it except what `keep` keeps (then the directory stays).
  // Nothing there is no finding. `n` is the entry that asks (a whiteout).
  result<void> remove(const node& n, std::string_view path, const keep_fn& keep = {}) {
    begin_other(n);
    return settle(remove_path(path, keep));
  }

  // Removes the children of the directory `path` that `keep` does not keep
  // (an opaque directory). A missing directory is no finding.
  result<void> clear(const node& n, std::string_view path, const keep_fn& keep) {
    begin_other(n);
    return settle(clear_path(path, keep));
  }

  // A finding for `n` that is not the core's (a sparse entry, a duplicate).
  void note(const node& n, std::string_view c, std::string reason) {
    record(c, std::string(n.name), n.offset, std::move(reason));
  }

  // Applies what waits for the end: the attributes of a file whose data
  // was cut short, then directory modes, owners and times, deepest first
  // (so that a read-only directory does not block its own children).
  result<report> finish() {
    UKIKIT_TRY(end());
    std::vector<const deferred*> order;
    order.reserve(dirs_.size());
    for (const auto& [rel, d] : dirs_) order.push_back(&d);
    std::stable_sort(order.begin(), order.end(),
                     [](const deferred* a, const deferred* b) { return a->depth > b->depth; });
    for (const deferred* d : order) {
      current_ = d->attrs;
      UKIKIT_TRY(settle(apply_directory(d->rel)));
    }
    dirs_.clear();
    return std::move(report_);
  }

  const report& progress() const noexcept { return report_; }
  const target& destination() const noexcept { return target_; }

private:
  // What an entry's attributes need, kept past begin().
  struct attributes {
    std::string name;
    std::uint64_t offset = 0, mode = 0, uid = 0, gid = 0;
    std::int64_t mtime = 0;
    std::uint32_t mtime_nsec = 0;
    bool preserved = false; // a directory's own mode and times, put back as they were
  };
  struct deferred {
    std::string rel;
    std::size_t depth = 0;
    attributes attrs;
  };

  void begin_other(const node& n) {
    open_.reset();
    current_ = {std::string(n.name), n.offset, 0, 0, 0, 0, 0};
  }

  result<void> place(const node& n) {
    UKIKIT_TRY_ASSIGN(parts_, detail::split_name(n.name, &refused_code_));
    rel_ = detail::join(parts_);
    if (parts_.empty() && n.type != node_type::directory) {
      return refuse(code::target_not_directory,
                    std::string("\".\" is the target directory, not type '") + type_letter(n.type) +
                        "'");
    }
    switch (n.type) {
    case node_type::directory: return make_directory();
    case node_type::regular: return open_file(n);
    case node_type::symlink: return make_symlink(n);
    case node_type::hardlink: return make_hardlink(n);
    case node_type::character:
    case node_type::block:
      if (!opts_.create_devices)
        return refuse(code::device_skipped, "skipped device node (disabled)");
      if (!root_) return refuse(code::device_skipped, "skipped device node (not root)");
      return make_node(n);
    case node_type::fifo:
    case node_type::socket: return make_node(n);
    case node_type::unknown: break;
    }
    return refuse(code::unknown_type, "unknown file type (mode " + hex(n.mode) + ")");
  }

  bool layer() const noexcept { return how_ == replace::layer; }
  const char* leaf() const noexcept { return parts_.back().c_str(); }

  result<detail::fd_guard> parent() {
    auto up = std::span(parts_).first(parts_.size() - 1);
    UKIKIT_TRY_ASSIGN(detail::fd_guard dir, target_.directory(up, true, &refused_code_));
    if (layer()) preserve(dir.get(), detail::join(up), up.size());
    return dir;
  }

  error fail(std::string_view what, std::string_view rel, int err) {
    return detail::failure(what, target_.path(), rel, err, &refused_code_);
  }

  // Refuses the current entry: a finding with code `c` (see settle()).
  error refuse(std::string_view c, std::string why) {
    return detail::refusal(c, std::move(why), &refused_code_);
  }

  // Layers: a directory this layer changes keeps its mode and times unless
  // the layer lists it (then the entry's are applied); without root it is
  // made owner-writable meanwhile. `fd` may be O_PATH.
  void preserve(int fd, const std::string& rel, std::size_t depth) {
    if (dirs_.count(rel) != 0) return;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode)) return;
    attributes a;
    a.name = rel.empty() ? "." : rel;
    a.offset = current_.offset;
    a.mode = st.st_mode & 07777;
    a.mtime = st.st_mtim.tv_sec;
    a.mtime_nsec = static_cast<std::uint32_t>(st.st_mtim.tv_nsec);
    a.preserved = true;
    dirs_[rel] = {rel, depth, std::move(a)};
    if (!root_ && (st.st_mode & 0700) != 0700) {
      detail::fd_guard rw(::openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (rw.get() >= 0) (void)::fchmod(rw.get(), (st.st_mode & 07777) | 0700);
    }
  }

  // Forgets the deferred attributes of `rel` and everything under it.
  void forget_directories(const std::string& rel) {
    dirs_.erase(rel);
    const std::string prefix = rel + '/';
    for (auto it = dirs_.lower_bound(prefix);
         it != dirs_.end() && it->first.compare(0, prefix.size(), prefix) == 0;)
      it = dirs_.erase(it);
  }

  // Removes what is at `name` in `dir` (rel: its path) unless it has type
  // `type` (0: whatever it is). true when something of that type stays.
  // kernel: the kernel's clean_path(); layer: a directory goes with
  // everything in it.
  result<bool> clear_way(int dir, mode_t type) { return clear_at(dir, leaf(), rel_, type, {}); }

  result<bool> clear_at(int dir, const char* name, const std::string& rel, mode_t type,
                        const keep_fn& keep) {
    struct stat st {};
    if (::fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return false;
      return fail("cannot inspect", rel, errno);
    }
    if (type != 0 && (st.st_mode & S_IFMT) == type) return true;
    const bool kept = keep && keep(rel);
    if (kept && !S_ISDIR(st.st_mode)) return true;
    if (S_ISDIR(st.st_mode)) {
      if (layer()) UKIKIT_TRY(empty_directory(dir, name, rel, keep));
      if (kept) return true;
      if (::unlinkat(dir, name, AT_REMOVEDIR) != 0) {
        if (errno == ENOTEMPTY || errno == EEXIST) {
          return refuse(code::non_empty_directory, "would replace the non-empty directory " + rel);
        }
        if (errno == EBUSY)
          return refuse(code::mount_point, "directory " + rel + " is a mount point");
        return fail("cannot remove directory", rel, errno);
      }
      if (layer()) forget_directories(rel);
      else dirs_.erase(rel);
    } else if (::unlinkat(dir, name, 0) != 0) {
      return fail("cannot remove", rel, errno);
    }
    return false;
  }

  // Removes the children of the directory `name` in `dir` that `keep` does
  // not keep, descending into the kept directories: never through a
  // symlink, never into another mount.
  result<void> empty_directory(int dir, const char* name, const std::string& rel,
                               const keep_fn& keep) {
    constexpr int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    detail::fd_guard d(::openat(dir, name, flags));
    if (d.get() < 0 && errno == EACCES && !root_ &&
        detail::chmod_nofollow(dir, name, 0700) == 0) // made by us, made readable again
      d = detail::fd_guard(::openat(dir, name, flags));
    if (d.get() < 0) return fail("cannot open directory", rel, errno);
    return empty_opened(d.get(), rel, keep);
  }

  result<void> empty_opened(int d, const std::string& rel, const keep_fn& keep) {
    if (!target_.on_target_mount(d))
      return refuse(code::mount_point, "directory " + rel + " is a mount point (not entered)");
    const std::size_t depth =
        rel.empty() ? 0 : static_cast<std::size_t>(std::count(rel.begin(), rel.end(), '/')) + 1;
    if (depth >= max_depth)
      return refuse(code::too_deep, "directory " + rel + " is deeper than " +
                                        std::to_string(max_depth) + " components");
    preserve(d, rel, depth);
    UKIKIT_TRY_ASSIGN(std::vector<std::string> names, list(d, rel));
    for (const std::string& child : names) {
      const std::string child_rel = rel.empty() ? child : rel + '/' + child;
      UKIKIT_TRY(clear_at(d, child.c_str(), child_rel, 0, keep));
    }
    return success();
  }

  // The names in the open directory `d` (not "." and "..").
  result<std::vector<std::string>> list(int d, const std::string& rel) {
    const int dup = ::openat(d, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dup < 0) return fail("cannot read directory", rel, errno);
    DIR* stream = ::fdopendir(dup); // owns `dup` from here
    if (stream == nullptr) {
      const int err = errno;
      ::close(dup);
      return fail("cannot read directory", rel, err);
    }
    std::vector<std::string> names;
    errno = 0;
    while (const dirent* e = ::readdir(stream)) {
      const std::string_view n = e->d_name;
      if (n != "." && n != "..") names.emplace_back(n);
    }
    const int err = errno;
    ::closedir(stream);
    if (err != 0) return fail("cannot read directory", rel, err);
    return names;
  }

  result<void> remove_path(std::string_view path, const keep_fn& keep) {
    UKIKIT_TRY_ASSIGN(parts_, detail::split_name(path, &refused_code_));
    rel_ = detail::join(parts_);
    if (parts_.empty()) return clear_path(path, keep);
    auto up = std::span(parts_).first(parts_.size() - 1);
    auto dir = target_.directory(up, false, &refused_code_);
    if (!dir &&
        (refused_code_ == code::parent_missing || refused_code_ == code::parent_not_directory))
      return success(); // nothing there
    if (!dir) return std::move(dir).error();
    preserve(dir->get(), detail::join(up), up.size());
    UKIKIT_TRY(clear_at(dir->get(), leaf(), rel_, 0, keep));
    return success();
  }

  result<void> clear_path(std::string_view path, const keep_fn& keep) {
    UKIKIT_TRY_ASSIGN(parts_, detail::split_name(path.empty() ? "." : path, &refused_code_));
    rel_ = detail::join(parts_);
    auto dir = target_.directory(parts_, false, &refused_code_);
    if (!dir && refused_code_ == code::parent_missing) return success(); // nothing there
    if (!dir) return std::move(dir).error();
    detail::fd_guard d(::openat(dir->get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (d.get() < 0) return fail("cannot open directory", rel_, errno);
    return empty_opened(d.get(), rel_, keep);
  }

  result<void> make_directory() {
    if (!parts_.empty()) {
      UKIKIT_TRY_ASSIGN(detail::fd_guard dir, parent());
      UKIKIT_TRY_ASSIGN(const bool exists, clear_way(dir.get(), S_IFDIR));
      // Owner-writable until finish() applies the entry's mode.
      if (!exists && ::mkdirat(dir.get(), leaf(), 0700) != 0 && errno != EEXIST) {
        return fail("cannot create directory", rel_, errno);
      }
      UKIKIT_TRY(not_a_mount_point(dir.get()));
      if (exists && layer() && !root_ &&
          detail::chmod_nofollow(dir.get(), leaf(), 0700) != 0) // until finish()
        return fail("cannot change mode of", rel_, errno);
    }
    dirs_[rel_] = {rel_, parts_.size(), current_};
    ++report_.directories;
    return success();
  }

  // A directory at the entry's name that is a mount point (the root of
  // another file system or of a bind mount) is refused: its mode, owner and
  // times belong to what is mounted, outside the target.
  result<void> not_a_mount_point(int dir) {
    detail::fd_guard at(::openat(dir, leaf(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (at.get() < 0) return fail("cannot open directory", rel_, errno);
    if (!target_.on_target_mount(at.get()))
      return refuse(code::mount_point, "directory " + rel_ + " is a mount point (not entered)");
    return {};
  }

  // Makes the entry a hard link to `first` (a path under the target, whose
  // parents are never symlinks), which must have type `type` (0: any but a
  // directory). What is at the entry's name goes first, as the kernel's
  // maybe_link() does.
  result<void> link_to(int dir, std::string_view first, mode_t type) {
    UKIKIT_TRY(clear_way(dir, 0));
    UKIKIT_TRY_ASSIGN(auto from, detail::split_name(first, &refused_code_));
    if (from.empty())
      return refuse(code::link_target_invalid, "hard link to \".\", the target directory");
    UKIKIT_TRY_ASSIGN(
        detail::fd_guard from_dir,
        target_.directory(std::span(from).first(from.size() - 1), false, &refused_code_));
    struct stat st {};
    if (::fstatat(from_dir.get(), from.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT && layer())
        return refuse(code::link_target_invalid,
                      "hard link target " + std::string(first) + " does not exist");
      return fail("cannot link to", first, errno);
    }
    if (type == 0 && S_ISDIR(st.st_mode)) {
      return refuse(code::link_target_invalid,
                    "hard link target " + std::string(first) + " is a directory");
    }
    if (type != 0 && (st.st_mode & S_IFMT) != type) {
      return refuse(code::link_target_replaced, "hard link target " + std::string(first) +
                                                    " has been replaced by another type");
    }
    // Flags 0: a symlink named is linked itself, never followed.
    if (::linkat(from_dir.get(), from.back().c_str(), dir, leaf(), 0) != 0) {
      return fail("cannot link " + rel_ + " to", first, errno);
    }
    ++report_.hardlinks;
    return success();
  }

  // A tar hard link: its target must be a name under the target, not the
  // link itself; it shares the inode's attributes, and sets none.
  result<void> make_hardlink(const node& n) {
    auto to = detail::split_name(n.link);
    if (!to || to->empty()) {
      return refuse(code::link_outside, "hard link target \"" + std::string(n.link) +
                                            "\" is not a name under the target");
    }
    if (detail::join(*to) == rel_) return refuse(code::link_target_invalid, "hard link to itself");
    UKIKIT_TRY_ASSIGN(detail::fd_guard dir, parent());
    return link_to(dir.get(), detail::join(*to), 0);
  }

  result<void> open_file(const node& n) {
    UKIKIT_TRY_ASSIGN(detail::fd_guard dir, parent());
    const bool linked = !n.same_as.empty();
    if (linked) UKIKIT_TRY(link_to(dir.get(), n.same_as, S_IFREG));
    int flags = O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    if (!linked) {
      UKIKIT_TRY_ASSIGN(bool exists, clear_way(dir.get(), layer() ? 0 : S_IFREG));
      struct stat st {};
      // Truncated in place as the kernel does, unless other names share it.
      if (exists && ::fstatat(dir.get(), leaf(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          st.st_nlink > 1) {
        if (::unlinkat(dir.get(), leaf(), 0) != 0) return fail("cannot remove", rel_, errno);
        exists = false;
      }
      flags |= O_CREAT | O_TRUNC | (exists ? 0 : O_EXCL);
    }
    open_ = detail::fd_guard(::openat(dir.get(), leaf(), flags, 0600));
    if (open_.get() < 0) return fail("cannot create", rel_, errno);
    struct stat st {};
    if (::fstat(open_.get(), &st) != 0) return fail("cannot inspect", rel_, errno);
    if (!S_ISREG(st.st_mode))
      return refuse(code::not_regular_file, rel_ + " is not a regular file");
    // Kernel: a body sets the size first; a link without one keeps the data.
    if (n.size > 0 && ::ftruncate(open_.get(), static_cast<off_t>(n.size)) != 0) {
      return fail("cannot size", rel_, errno);
    }
    if (!linked) {
      made_ = true;
      ++report_.files;
    }
    return success();
  }

  static mode_t type_bits(node_type t) noexcept {
    switch (t) {
    case node_type::character: return S_IFCHR;
    case node_type::block: return S_IFBLK;
    case node_type::fifo: return S_IFIFO;
    case node_type::socket: return S_IFSOCK;
    default: return 0;
    }
  }

  result<void> make_node(const node& n) {
    const mode_t type = type_bits(n.type);
    const bool device = type == S_IFCHR || type == S_IFBLK;
    // Linux device numbers: 12-bit major, 20-bit minor.
    if (device && (n.rdev_major > 0xfff || n.rdev_minor > 0xfffff)) {
      return refuse(code::device_number, "device number " + hex(n.rdev_major) + ":" +
                                             hex(n.rdev_minor) +
                                             " is out of range (major <= 0xfff, minor <= 0xfffff)");
    }
    UKIKIT_TRY_ASSIGN(detail::fd_guard dir, parent());
    if (!n.same_as.empty()) return link_to(dir.get(), n.same_as, type);
    // The kernel keeps a node of the same type (its mknod fails); the later
    // entry wins here, device number included.
    UKIKIT_TRY_ASSIGN(bool exists, clear_way(dir.get(), layer() ? 0 : type));
    if (exists && ::unlinkat(dir.get(), leaf(), 0) != 0) return fail("cannot remove", rel_, errno);
    const dev_t dev =
        device ? makedev(static_cast<unsigned>(n.rdev_major), static_cast<unsigned>(n.rdev_minor))
               : 0;
    if (::mknodat(dir.get(), leaf(), type | 0600, dev) != 0) {
      return fail("cannot create node", rel_, errno);
    }
    made_ = true;
    ++report_.nodes;
    return set_attributes_at(dir.get(), true);
  }

  result<void> make_symlink(const node& n) {
    const std::string to(n.link.substr(0, n.link.find('\0')));
    if (to.empty()) return refuse(code::empty_symlink_target, "symlink has an empty target");
    UKIKIT_TRY_ASSIGN(detail::fd_guard dir, parent());
    UKIKIT_TRY(clear_way(dir.get(), 0));
    if (::symlinkat(to.c_str(), dir.get(), leaf()) != 0) {
      return fail("cannot create symlink", rel_, errno);
    }
    ++report_.symlinks;
    return set_attributes_at(dir.get(), false);
  }

  mode_t permissions() const noexcept {
    if (current_.preserved) return static_cast<mode_t>(current_.mode & 07777);
    return static_cast<mode_t>(current_.mode & (opts_.keep_special_bits ? 07777 : 01777));
  }
  bool change_owner() const noexcept { return opts_.keep_owner && root_ && !current_.preserved; }
  std::array<timespec, 2> times() const noexcept {
    const timespec t{static_cast<time_t>(current_.mtime), static_cast<long>(current_.mtime_nsec)};
    return {t, t};
  }
  bool keep_time() const noexcept { return opts_.keep_mtime || current_.preserved; }

  // Owner, mode (not for symlinks) and time of the entry at the parent `dir`.
  result<void> set_attributes_at(int dir, bool mode) {
    if (change_owner() && ::fchownat(dir, leaf(), static_cast<uid_t>(current_.uid),
                                     static_cast<gid_t>(current_.gid), AT_SYMLINK_NOFOLLOW) != 0) {
      return fail("cannot change owner of", rel_, errno);
    }
    if (mode && detail::chmod_nofollow(dir, leaf(), permissions()) != 0) {
      return fail("cannot change mode of", rel_, errno);
    }
    if (keep_time() && ::utimensat(dir, leaf(), times().data(), AT_SYMLINK_NOFOLLOW) != 0) {
      return fail("cannot set time of", rel_, errno);
    }
    return success();
  }

  // Owner, mode and time of an open file or directory (owner first: chown
  // clears setuid).
  result<void> set_attributes(int fd, std::string_view rel) {
    if (change_owner() &&
        ::fchown(fd, static_cast<uid_t>(current_.uid), static_cast<gid_t>(current_.gid)) != 0) {
      return fail("cannot change owner of", rel, errno);
    }
    if (::fchmod(fd, permissions()) != 0) return fail("cannot change mode of", rel, errno);
    if (keep_time() && ::futimens(fd, times().data()) != 0) {
      return fail("cannot set time of", rel, errno);
    }
    return success();
  }

  result<void> close_file() {
    detail::fd_guard f = std::move(open_);
    return set_attributes(f.get(), rel_);
  }

  result<void> apply_directory(const std::string& rel) {
    UKIKIT_TRY_ASSIGN(auto parts, detail::split_name(rel.empty() ? "." : rel, &refused_code_));
    detail::fd_guard dir;
    constexpr int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    if (parts.empty()) {
      dir = detail::fd_guard(::openat(target_.fd(), ".", flags));
    } else {
      UKIKIT_TRY_ASSIGN(
          detail::fd_guard up,
          target_.directory(std::span(parts).first(parts.size() - 1), false, &refused_code_));
      dir = detail::fd_guard(::openat(up.get(), parts.back().c_str(), flags));
    }
    if (dir.get() < 0) return fail("cannot open directory", rel, errno);
    if (!target_.on_target_mount(dir.get()))
      return refuse(code::mount_point, "directory " + rel + " is a mount point (not entered)");
    return set_attributes(dir.get(), rel);
  }

  // A refusal becomes a finding for the current entry, with the code its
  // maker set; any other error stops the extraction, at the entry's offset.
  result<void> settle(result<void> r) {
    const std::string_view c = std::exchange(refused_code_, code::os_refused);
    if (r) return success();
    open_.reset();
    if (r.error().code() != detail::refused) {
      return error(r.error().code(), r.error().context(), current_.offset);
    }
    record(c, current_.name, current_.offset, r.error().context());
    return success();
  }

  void record(std::string_view c, std::string name, std::uint64_t offset, std::string reason) {
    finding f(severity::warning, c, std::move(reason), offset);
    f.subject = std::move(name);
    report_.findings.add(std::move(f));
  }

  target target_;
  options opts_;
  replace how_;
  bool root_;
  report report_;
  attributes current_;
  std::vector<std::string> parts_; // of the current entry
  std::string rel_;                // parts_ joined by '/'
  // The code of the refusal on its way to settle() (see detail::refusal).
  std::string_view refused_code_ = code::os_refused;
  detail::fd_guard open_; // the regular file being written
  bool made_ = false;     // begin() made a new file or node
  std::map<std::string, deferred> dirs_;
};

} // namespace ukikit::extract
