// Safe extraction of cpio archives into a directory.
//
// cpio_extractor is a cpio::parser handler that unpacks entries as the Linux
// initramfs unpacker (init/initramfs.c) does: later entries replace earlier
// ones, multiply-linked files become hard links keyed by (dev, ino, type),
// a TRAILER!!! forgets them, directory modes and times are applied last. One
// thing differs: nothing is ever created or written outside the target.
//
// - Names are relative to the target. An absolute name or one with a ".."
//   component is refused and reported; "." is the target itself; empty and
//   "." components are dropped ("./a//b" is "a/b").
// - Every directory on the way to an entry is opened from the target's
//   descriptor without following symlinks: one openat2(RESOLVE_IN_ROOT |
//   RESOLVE_NO_SYMLINKS) where the kernel has it (5.6+), else one
//   openat(O_NOFOLLOW | O_DIRECTORY) per component. A symlink in a parent is
//   refused, not followed; a missing parent is created (as cpio -d does).
// - The entry itself is made with *at() calls on its parent's descriptor and
//   O_NOFOLLOW. What is in the way is removed first as the kernel's
//   clean_path() does (unlink, or rmdir of an empty directory), so a symlink
//   there is replaced, never written through; a non-empty directory is not
//   replaced but refused.
// - Refused and skipped entries go to the report as findings (warnings,
//   extract::code, the entry's name as subject) and extraction goes on; a
//   failure of the destination itself (no space, read-only filesystem, I/O)
//   stops it with errc::io naming the path.
#pragma once

#include "bytes.hpp"
#include "cpio.hpp"
#include "diagnostics.hpp"
#include "file.hpp"
#include "result.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <unistd.h>
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#endif

namespace ukikit::extract {

// Components in one name: a name within PATH_MAX has at most 4096 / 2 of
// them ("a/a/…"); deeper names are refused.
inline constexpr std::size_t max_depth = cpio::path_max / 2;
// Entries in the hard link table (each holds a path of up to PATH_MAX). A
// multiply-linked file first seen when the table is full is extracted as a
// separate file, and the report says so.
inline constexpr std::size_t max_links = 65536;
// Findings a report keeps (its finding_log's limit; all are counted). Above
// finding_log::default_limit: each finding is an entry the caller does not
// get, and the list is how they learn which; 65536 of them take a few MiB.
inline constexpr std::size_t max_findings = 65536;

// The finding codes of extraction (README, "Initramfs archives"), one per
// reason an entry is refused or skipped. All are warnings.
namespace code {
// The name is empty.
inline constexpr std::string_view empty_name = "extract.empty-name";
// The name starts with "/".
inline constexpr std::string_view absolute_path = "extract.absolute-path";
// The name has a ".." component.
inline constexpr std::string_view dotdot = "extract.dotdot";
// The name has more than max_depth components.
inline constexpr std::string_view too_deep = "extract.too-deep";
// A parent of the entry is a symlink (never followed).
inline constexpr std::string_view through_symlink = "extract.through-symlink";
// A parent of the entry is not a directory.
inline constexpr std::string_view parent_not_directory = "extract.parent-not-directory";
// A parent of the entry does not exist (for a hard link's first name).
inline constexpr std::string_view parent_missing = "extract.parent-missing";
// The entry's directory or a parent is a mount point inside the target
// (another file system or a bind mount), which is not entered.
inline constexpr std::string_view mount_point = "extract.mount-point";
// The entry would replace a non-empty directory.
inline constexpr std::string_view non_empty_directory = "extract.non-empty-directory";
// "." (the target itself) with a type other than directory.
inline constexpr std::string_view target_not_directory = "extract.target-not-directory";
// A character or block device, without options::create_devices or root.
inline constexpr std::string_view device_skipped = "extract.device-skipped";
// A device number out of Linux's range (major 12 bits, minor 20 bits).
inline constexpr std::string_view device_number = "extract.device-number-range";
// A mode whose type bits name no file type.
inline constexpr std::string_view unknown_type = "extract.unknown-type";
// A hard link whose first name has since been replaced by another type.
inline constexpr std::string_view link_target_replaced = "extract.link-target-replaced";
// The hard link table is full (max_links): later links become separate files.
inline constexpr std::string_view link_table_full = "extract.link-table-full";
// What was opened for the entry's data is not a regular file.
inline constexpr std::string_view not_regular_file = "extract.not-regular-file";
// A symlink with an empty target.
inline constexpr std::string_view empty_symlink_target = "extract.empty-symlink-target";
// An entry the kernel skips without a word (cpio.entry-skipped): skipped too.
inline constexpr std::string_view entry_skipped = "extract.entry-skipped";
// The file system refused an operation for the entry (EEXIST, EACCES,
// ENAMETOOLONG, …; the message names the call and the errno text).
inline constexpr std::string_view os_refused = "extract.os-refused";
} // namespace code

// How paths under the target are resolved. automatic: openat2 where the
// kernel has it, else the component walk.
enum class resolver : std::uint8_t { automatic, openat2, walk };

struct options {
  bool keep_mtime = true;         // mtimes from the archive (else: the time of extraction)
  bool keep_owner = false;        // uid and gid from the archive; only when running as root
  bool keep_special_bits = false; // setuid and setgid bits (else: cleared)
  // Character and block devices, only when running as root. Off by default:
  // a hostile archive would plant a world-writable disk node.
  bool create_devices = false;
};

struct report {
  // The entries refused or skipped: one warning each, with the entry's name
  // (raw, as in the archive) as subject and its header's offset.
  finding_log findings{max_findings};
  std::uint64_t directories = 0;
  std::uint64_t files = 0;
  std::uint64_t symlinks = 0;
  std::uint64_t hardlinks = 0;
  std::uint64_t nodes = 0; // devices, fifos, sockets

  std::uint64_t created() const noexcept {
    return directories + files + symlinks + hardlinks + nodes;
  }
};

namespace detail {

using file::detail::fd_guard;

// Inside the extractor, an entry that cannot be placed as asked travels as
// an error with this errc and becomes a finding at the handler boundary;
// any other errc (errc::io) stops the extraction. An error has no room for
// the finding code: a function that can refuse takes `std::string_view*
// refused_as` and sets the code there beside the error it returns
// (os_refused when a system call refused).
inline constexpr errc refused = errc::invalid_argument;

inline error refusal(std::string_view c, std::string why, std::string_view* refused_as) {
  if (refused_as != nullptr) *refused_as = c;
  return error(refused, std::move(why));
}

// Whether an errno says that the entry cannot be placed as the archive asks
// (reported, extraction goes on) rather than that the destination fails.
constexpr bool entry_errno(int err) noexcept {
  switch (err) {
  case ENOENT:
  case EEXIST:
  case ENOTDIR:
  case EISDIR:
  case ELOOP:
  case ENOTEMPTY:
  case EMLINK:
  case EPERM:
  case EACCES:
  case EINVAL:
  case ENAMETOOLONG:
  case EXDEV:
  case ETXTBSY:
  case EOVERFLOW:
  case EFBIG:
  case ENXIO: return true;
  default: return false;
  }
}

// "cannot create a/b (File exists)" as a refusal, or an errc::io error that
// names the full path.
inline error failure(std::string_view what, const std::filesystem::path& root, std::string_view rel,
                     int err, std::string_view* refused_as) {
  if (!entry_errno(err)) return file::detail::os_error(what, root / rel, err);
  return refusal(code::os_refused,
                 std::string(what) + " " + std::string(rel.empty() ? "." : rel) + " (" +
                     std::strerror(err) + ")",
                 refused_as);
}

// The components of an entry name, or why it is refused (its code in
// `*refused_as`). "." and "./" give none: the target itself.
inline result<std::vector<std::string>> split_name(std::string_view name,
                                                   std::string_view* refused_as = nullptr) {
  if (name.empty()) return refusal(code::empty_name, "empty name", refused_as);
  if (name.front() == '/') return refusal(code::absolute_path, "absolute name", refused_as);
  std::vector<std::string> parts;
  std::size_t at = 0;
  while (at <= name.size()) {
    std::size_t slash = name.find('/', at);
    if (slash == std::string_view::npos) slash = name.size();
    std::string_view part = name.substr(at, slash - at);
    at = slash + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") return refusal(code::dotdot, "name has a \"..\" component", refused_as);
    if (parts.size() == max_depth) {
      return refusal(code::too_deep,
                     "name is deeper than " + std::to_string(max_depth) + " components",
                     refused_as);
    }
    parts.emplace_back(part);
  }
  return parts;
}

inline std::string join(std::span<const std::string> parts) {
  std::string out;
  for (const std::string& p : parts) {
    if (!out.empty()) out += '/';
    out += p;
  }
  return out;
}

// openat2(dir, path, O_PATH | O_DIRECTORY) without any symlink: a descriptor,
// or -errno (-ENOSYS where the kernel or the headers lack openat2).
inline int open_directory_beneath(int dir, const char* path) noexcept {
#if defined(SYS_openat2) && defined(RESOLVE_IN_ROOT)
  open_how how{};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  // RESOLVE_NO_XDEV: a mount inside the target (proc in a chroot being
  // staged) is not entered.
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  long fd = ::syscall(SYS_openat2, dir, path, &how, sizeof how);
  return fd >= 0 ? static_cast<int>(fd) : -errno;
#else
  (void)dir;
  (void)path;
  return -ENOSYS;
#endif
}

// fchmodat without following a symlink. glibc does it through /proc (or
// fchmodat2); where neither works, the path is checked first (the
// extractor made it a moment ago, and is the only writer it guards against).
inline int chmod_nofollow(int dir, const char* name, mode_t mode) noexcept {
  if (::fchmodat(dir, name, mode, AT_SYMLINK_NOFOLLOW) == 0) return 0;
  if (errno != ENOTSUP && errno != EOPNOTSUPP && errno != ENOSYS) return -1;
  struct stat st {};
  if (::fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return -1;
  if (S_ISLNK(st.st_mode)) {
    errno = ELOOP;
    return -1;
  }
  return ::fchmodat(dir, name, mode, 0);
}

// Which mount a descriptor is on: the device number, and the mount ID
// where statx gives one (Linux 5.8+). The device number alone tells another
// file system mounted inside the target, not a bind mount of a directory of
// the same file system; the mount ID tells both.
struct mount_identity {
  dev_t dev = 0;
  std::uint64_t mount_id = 0;
  bool has_mount_id = false;

  bool same_mount(const mount_identity& o) const noexcept {
    return dev == o.dev && (!has_mount_id || !o.has_mount_id || mount_id == o.mount_id);
  }
};

// The mount_identity of `fd` (O_PATH descriptors too), or -errno.
inline int identify_mount(int fd, mount_identity& out) noexcept {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return -errno;
  out = {st.st_dev, 0, false};
#ifdef STATX_MNT_ID
  struct statx sx {};
  if (::statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &sx) == 0 &&
      (sx.stx_mask & STATX_MNT_ID) != 0) {
    out.mount_id = sx.stx_mnt_id;
    out.has_mount_id = true;
  }
#endif
  return 0;
}

} // namespace detail

// The destination: a directory held open (O_PATH), under which every path
// is resolved without following symlinks.
class target {
public:
  static result<target> open(const std::filesystem::path& root,
                             resolver how = resolver::automatic) {
    detail::fd_guard fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0) return file::detail::os_error("cannot open target directory", root, errno);
    if (how != resolver::walk) {
      const int probe = detail::open_directory_beneath(fd.get(), ".");
      detail::fd_guard probed(probe >= 0 ? probe : -1);
      if (probe < 0 && how == resolver::openat2) {
        return error(errc::unsupported, "openat2 does not work here (" +
                                            std::string(std::strerror(-probe)) +
                                            "): use resolver::walk");
      }
      how = probe >= 0 ? resolver::openat2 : resolver::walk;
    }
    detail::mount_identity mount;
    if (const int err = detail::identify_mount(fd.get(), mount); err < 0)
      return file::detail::os_error("cannot stat target directory", root, -err);
    target t;
    t.fd_ = std::move(fd);
    t.path_ = root;
    t.how_ = how;
    t.mount_ = mount;
    return t;
  }

  // Whether `fd` is on the target's own mount: a mount point inside the
  // target (another file system or a bind mount) is not entered. false
  // when it cannot be told.
  bool on_target_mount(int fd) const noexcept {
    detail::mount_identity m;
    return detail::identify_mount(fd, m) == 0 && m.same_mount(mount_);
  }

  int fd() const noexcept { return fd_.get(); }
  const std::filesystem::path& path() const noexcept { return path_; }
  // openat2 or walk: the resolver in use.
  resolver how() const noexcept { return how_; }

  // The directory `parts` names under the target, opened O_PATH. A missing
  // component is created (mode 0755) when `create`; a component that is a
  // symlink or not a directory is refused (detail::refused, with the finding
  // code in `*refused_as` when given).
  result<detail::fd_guard> directory(std::span<const std::string> parts, bool create,
                                     std::string_view* refused_as = nullptr) const {
    if (parts.empty()) {
      detail::fd_guard dup(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
      if (dup.get() < 0) return file::detail::os_error("cannot duplicate", path_, errno);
      return dup;
    }
    if (how_ == resolver::openat2) {
      const int fd = detail::open_directory_beneath(fd_.get(), detail::join(parts).c_str());
      if (fd >= 0) return detail::fd_guard(fd);
      // Missing, a symlink, not a directory: the walk says which component.
    }
    return walk(parts, create, refused_as);
  }

private:
  target() = default;

  result<detail::fd_guard> walk(std::span<const std::string> parts, bool create,
                                std::string_view* refused_as) const {
    detail::fd_guard cur;
    int at = fd_.get();
    std::string rel;
    for (const std::string& part : parts) {
      if (!rel.empty()) rel += '/';
      rel += part;
      constexpr int flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
      int fd = ::openat(at, part.c_str(), flags);
      if (fd < 0 && errno == ENOENT && create) {
        if (::mkdirat(at, part.c_str(), 0755) != 0 && errno != EEXIST) {
          return detail::failure("cannot create directory", path_, rel, errno, refused_as);
        }
        fd = ::openat(at, part.c_str(), flags);
      }
      if (fd < 0) return not_a_directory(at, part, rel, errno, refused_as);
      cur = detail::fd_guard(fd);
      if (!on_target_mount(fd)) { // as RESOLVE_NO_XDEV
        return detail::refusal(code::mount_point,
                               "parent " + rel + " is a mount point (not entered)", refused_as);
      }
      at = fd;
    }
    return cur;
  }

  error not_a_directory(int at, const std::string& part, const std::string& rel, int err,
                        std::string_view* refused_as) const {
    struct stat st {};
    if (err == ENOTDIR || err == ELOOP) {
      if (::fstatat(at, part.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
        return detail::refusal(code::through_symlink,
                               "parent " + rel + " is a symlink (not followed)", refused_as);
      }
      return detail::refusal(code::parent_not_directory, "parent " + rel + " is not a directory",
                             refused_as);
    }
    if (err == ENOENT)
      return detail::refusal(code::parent_missing, "parent " + rel + " does not exist", refused_as);
    return detail::failure("cannot open directory", path_, rel, err, refused_as);
  }

  detail::fd_guard fd_;
  std::filesystem::path path_;
  resolver how_ = resolver::walk;
  detail::mount_identity mount_; // the target's own mount
};

// The cpio::parser handler that extracts into a target. Feed the parser
// (best in strictness::kernel mode), then call finish() once.
class cpio_extractor {
public:
  explicit cpio_extractor(target t, options opts = {})
      : target_(std::move(t)), opts_(opts), root_(::geteuid() == 0) {}

  result<void> begin(const cpio::entry& e) {
    phase_ = phase::ignore;
    file_.reset();
    if (!e.kernel_skip.empty()) {
      // A name the kernel does not read is shown by its start (cpio::entry).
      if (e.name_unread()) {
        const bool whole = e.namesize == e.name_start.size() + 1;
        record(code::entry_skipped, std::string(e.name_start), e.offset,
               "skipped as the kernel skips it (" + std::string(e.kernel_skip) + "; name size " +
                   hex(e.namesize) + (whole ? "" : ", first bytes shown") + ")");
      } else {
        add_finding(e, code::entry_skipped,
                    "skipped as the kernel skips it (" + std::string(e.kernel_skip) + ")");
      }
      return success();
    }
    if (e.is_trailer()) { // the kernel forgets hard links at each trailer
      links_.clear();
      return success();
    }
    current_ = {std::string(e.name), e.offset, e.mode, e.uid, e.gid, e.mtime};
    return settle(place(e));
  }

  result<void> data(const cpio::entry&, byte_span piece) {
    if (phase_ != phase::file) return success();
    while (!piece.empty()) {
      const ssize_t n = ::write(file_.get(), piece.data(), piece.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return settle(fail("cannot write", rel_, errno));
      piece = piece.subspan(static_cast<std::size_t>(n));
    }
    return success();
  }

  result<bool> end(const cpio::entry& e) {
    if (phase_ == phase::file) UKIKIT_TRY(settle(close_file()));
    if (phase_ == phase::symlink) UKIKIT_TRY(settle(make_symlink(e)));
    phase_ = phase::ignore;
    return true;
  }

  // Applies what waits for the end: the attributes of a file whose data
  // was cut short, then directory modes, owners and times, deepest first
  // (so that a read-only directory does not block its own children).
  result<report> finish() {
    if (phase_ == phase::file) UKIKIT_TRY(settle(close_file()));
    phase_ = phase::ignore;
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

private:
  enum class phase : std::uint8_t { ignore, file, symlink };

  // What an entry's attributes need, kept past begin().
  struct attributes {
    std::string name;
    std::uint64_t offset = 0, mode = 0, uid = 0, gid = 0, mtime = 0;
  };
  struct deferred {
    std::string rel;
    std::size_t depth = 0;
    attributes attrs;
  };
  // Kernel find_link(): (dev major, dev minor, ino, type).
  using link_key = std::tuple<std::uint64_t, std::uint64_t, std::uint64_t, std::uint64_t>;

  static link_key key_of(const cpio::entry& e) {
    return {e.dev_major, e.dev_minor, e.ino, e.mode & S_IFMT};
  }

  result<void> place(const cpio::entry& e) {
    UKIKIT_TRY_ASSIGN(parts_, detail::split_name(e.name, &refused_code_));
    rel_ = detail::join(parts_);
    const cpio::file_type t = e.type();
    if (parts_.empty() && t != cpio::file_type::directory) {
      return refuse(code::target_not_directory,
                    std::string("\".\" is the target directory, not type '") +
                        cpio::type_letter(t) + "'");
    }
    switch (t) {
    case cpio::file_type::directory: return make_directory();
    case cpio::file_type::regular: return open_file(e);
    case cpio::file_type::symlink: // made at end(), when its target is known
      phase_ = phase::symlink;
      return success();
    case cpio::file_type::character:
    case cpio::file_type::block:
      if (!opts_.create_devices)
        return refuse(code::device_skipped, "skipped device node (disabled)");
      if (!root_) return refuse(code::device_skipped, "skipped device node (not root)");
      return make_node(e);
    case cpio::file_type::fifo:
    case cpio::file_type::socket: return make_node(e);
    case cpio::file_type::unknown: break;
    }
    return refuse(code::unknown_type, "unknown file type (mode " + hex(e.mode) + ")");
  }

  const char* leaf() const noexcept { return parts_.back().c_str(); }

  result<detail::fd_guard> parent() {
    return target_.directory(std::span(parts_).first(parts_.size() - 1), true, &refused_code_);
  }

  error fail(std::string_view what, std::string_view rel, int err) {
    return detail::failure(what, target_.path(), rel, err, &refused_code_);
  }

  // Refuses the current entry: a finding with code `c` (see settle()).
  error refuse(std::string_view c, std::string why) {
    return detail::refusal(c, std::move(why), &refused_code_);
  }

  // The kernel's clean_path(): removes what is at the entry's path unless
  // it has type `type` (0: whatever it is). true when something of that
  // type stays.
  result<bool> clear_way(int dir, mode_t type) {
    struct stat st {};
    if (::fstatat(dir, leaf(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return false;
      return fail("cannot inspect", rel_, errno);
    }
    if (type != 0 && (st.st_mode & S_IFMT) == type) return true;
    if (S_ISDIR(st.st_mode)) {
      if (::unlinkat(dir, leaf(), AT_REMOVEDIR) != 0) {
        if (errno == ENOTEMPTY || errno == EEXIST) {
          return refuse(code::non_empty_directory, "would replace the non-empty directory " + rel_);
        }
        if (errno == EBUSY)
          return refuse(code::mount_point, "directory " + rel_ + " is a mount point");
        return fail("cannot remove directory", rel_, errno);
      }
      dirs_.erase(rel_);
    } else if (::unlinkat(dir, leaf(), 0) != 0) {
      return fail("cannot remove", rel_, errno);
    }
    return false;
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

  result<void> make_directory() {
    if (!parts_.empty()) {
      UKIKIT_TRY_ASSIGN(detail::fd_guard dir, parent());
      UKIKIT_TRY_ASSIGN(const bool exists, clear_way(dir.get(), S_IFDIR));
      // Owner-writable until finish() applies the entry's mode.
      if (!exists && ::mkdirat(dir.get(), leaf(), 0700) != 0 && errno != EEXIST) {
        return fail("cannot create directory", rel_, errno);
      }
      UKIKIT_TRY(not_a_mount_point(dir.get()));
    }
    deferred& d = dirs_[rel_];
    d = {rel_, parts_.size(), current_};
    ++report_.directories;
    return success();
  }

  // Kernel maybe_link(): a later name of a multiply-linked file becomes a
  // hard link to the first name. true when linked.
  result<bool> link_existing(const cpio::entry& e, int dir) {
    if (e.nlink < 2) return false;
    auto it = links_.find(key_of(e));
    if (it == links_.end() || it->second == rel_) return false;
    const std::string& first = it->second;
    UKIKIT_TRY(clear_way(dir, 0));
    UKIKIT_TRY_ASSIGN(auto from, detail::split_name(first, &refused_code_));
    UKIKIT_TRY_ASSIGN(
        detail::fd_guard from_dir,
        target_.directory(std::span(from).first(from.size() - 1), false, &refused_code_));
    struct stat st {};
    if (::fstatat(from_dir.get(), from.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return fail("cannot link to", first, errno);
    }
    if ((st.st_mode & S_IFMT) != (e.mode & S_IFMT)) {
      return refuse(code::link_target_replaced,
                    "hard link target " + first + " has been replaced by another type");
    }
    if (::linkat(from_dir.get(), from.back().c_str(), dir, leaf(), 0) != 0) {
      return fail("cannot link " + rel_ + " to", first, errno);
    }
    ++report_.hardlinks;
    return true;
  }

  void remember_link(const cpio::entry& e) {
    if (e.nlink < 2 || links_.count(key_of(e)) != 0) return;
    if (links_.size() == max_links) {
      add_finding(e, code::link_table_full,
                  "hard link table full (" + std::to_string(max_links) +
                      " entries): later links become separate files");
      return;
    }
    links_.emplace(key_of(e), rel_);
  }

  result<void> open_file(const cpio::entry& e) {
    UKIKIT_TRY_ASSIGN(detail::fd_guard dir, parent());
    UKIKIT_TRY_ASSIGN(bool linked, link_existing(e, dir.get()));
    int flags = O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    if (!linked) {
      UKIKIT_TRY_ASSIGN(bool exists, clear_way(dir.get(), S_IFREG));
      struct stat st {};
      // Truncated in place as the kernel does, unless other names share it.
      if (exists && ::fstatat(dir.get(), leaf(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          st.st_nlink > 1) {
        if (::unlinkat(dir.get(), leaf(), 0) != 0) return fail("cannot remove", rel_, errno);
        exists = false;
      }
      flags |= O_CREAT | O_TRUNC | (exists ? 0 : O_EXCL);
    }
    file_ = detail::fd_guard(::openat(dir.get(), leaf(), flags, 0600));
    if (file_.get() < 0) return fail("cannot create", rel_, errno);
    struct stat st {};
    if (::fstat(file_.get(), &st) != 0) return fail("cannot inspect", rel_, errno);
    if (!S_ISREG(st.st_mode))
      return refuse(code::not_regular_file, rel_ + " is not a regular file");
    // Kernel: a body sets the size first; a link without one keeps the data.
    if (e.filesize > 0 && ::ftruncate(file_.get(), static_cast<off_t>(e.filesize)) != 0) {
      return fail("cannot size", rel_, errno);
    }
    if (!linked) {
      remember_link(e);
      ++report_.files;
    }
    phase_ = phase::file;
    return success();
  }

  result<void> make_node(const cpio::entry& e) {
    const auto type = static_cast<mode_t>(e.mode & S_IFMT);
    const bool device = type == S_IFCHR || type == S_IFBLK;
    // Linux device numbers: 12-bit major, 20-bit minor.
    if (device && (e.rdev_major > 0xfff || e.rdev_minor > 0xfffff)) {
      return refuse(code::device_number, "device number " + hex(e.rdev_major) + ":" +
                                             hex(e.rdev_minor) +
                                             " is out of range (major <= 0xfff, minor <= 0xfffff)");
    }
    UKIKIT_TRY_ASSIGN(detail::fd_guard dir, parent());
    UKIKIT_TRY_ASSIGN(bool linked, link_existing(e, dir.get()));
    if (linked) return success();
    // The kernel keeps a node of the same type (its mknod fails); the later
    // entry wins here, device number included.
    UKIKIT_TRY_ASSIGN(bool exists, clear_way(dir.get(), type));
    if (exists && ::unlinkat(dir.get(), leaf(), 0) != 0) return fail("cannot remove", rel_, errno);
    const dev_t dev =
        device ? makedev(static_cast<unsigned>(e.rdev_major), static_cast<unsigned>(e.rdev_minor))
               : 0;
    if (::mknodat(dir.get(), leaf(), type | 0600, dev) != 0) {
      return fail("cannot create node", rel_, errno);
    }
    remember_link(e);
    ++report_.nodes;
    return set_attributes_at(dir.get(), true);
  }

  result<void> make_symlink(const cpio::entry& e) {
    const std::string to(e.link_target.substr(0, e.link_target.find('\0')));
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
    return static_cast<mode_t>(current_.mode & (opts_.keep_special_bits ? 07777 : 01777));
  }
  bool change_owner() const noexcept { return opts_.keep_owner && root_; }
  std::array<timespec, 2> times() const noexcept {
    const timespec t{static_cast<time_t>(current_.mtime), 0};
    return {t, t};
  }

  // Owner, mode (not for symlinks) and time of the entry at the parent `dir`.
  result<void> set_attributes_at(int dir, bool mode) {
    if (change_owner() && ::fchownat(dir, leaf(), static_cast<uid_t>(current_.uid),
                                     static_cast<gid_t>(current_.gid), AT_SYMLINK_NOFOLLOW) != 0) {
      return fail("cannot change owner of", rel_, errno);
    }
    if (mode && detail::chmod_nofollow(dir, leaf(), permissions()) != 0) {
      return fail("cannot change mode of", rel_, errno);
    }
    if (opts_.keep_mtime && ::utimensat(dir, leaf(), times().data(), AT_SYMLINK_NOFOLLOW) != 0) {
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
    if (opts_.keep_mtime && ::futimens(fd, times().data()) != 0) {
      return fail("cannot set time of", rel, errno);
    }
    return success();
  }

  result<void> close_file() {
    detail::fd_guard f = std::move(file_);
    phase_ = phase::ignore;
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
    phase_ = phase::ignore;
    file_.reset();
    if (r.error().code() != detail::refused) {
      return error(r.error().code(), r.error().context(), current_.offset);
    }
    record(c, current_.name, current_.offset, r.error().context());
    return success();
  }

  void add_finding(const cpio::entry& e, std::string_view c, std::string reason) {
    record(c, std::string(e.name), e.offset, std::move(reason));
  }
  void record(std::string_view c, std::string name, std::uint64_t offset, std::string reason) {
    finding f(severity::warning, c, std::move(reason), offset);
    f.subject = std::move(name);
    report_.findings.add(std::move(f));
  }

  target target_;
  options opts_;
  bool root_;
  report report_;
  phase phase_ = phase::ignore;
  attributes current_;
  std::vector<std::string> parts_; // of the current entry
  std::string rel_;                // parts_ joined by '/'
  // The code of the refusal on its way to settle() (see detail::refusal).
  std::string_view refused_code_ = code::os_refused;
  detail::fd_guard file_; // the regular file being written
  std::map<link_key, std::string> links_;
  std::map<std::string, deferred> dirs_;
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
