// The one safe extraction target, shared by cpio (extract/cpio.hpp) and tar
// layers (extract/layer.hpp): its limits, options, report and finding codes,
// and the directory held open under which every path is resolved without
// following symlinks (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS, or an
// O_NOFOLLOW walk component by component). See ../extract.hpp.
#pragma once

#include "../bytes.hpp"
#include "../diagnostics.hpp"
#include "../file.hpp"
#include "../result.hpp"

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

// Longest name (Linux PATH_MAX, as the kernel's initramfs unpacker reads).
inline constexpr std::size_t path_max = 4096;
// Components in one name: a name within PATH_MAX has at most 4096 / 2 of
// them ("a/a/…"); deeper names are refused.
inline constexpr std::size_t max_depth = path_max / 2;
// Entries in the hard link table (each holds a path of up to PATH_MAX). A
// multiply-linked file first seen when the table is full is extracted as a
// separate file, and the report says so.
inline constexpr std::size_t max_links = 65536;
// Findings a report keeps (its finding_log's limit; all are counted). Above
// finding_log::default_limit: each finding is an entry the caller does not
// get, and the list is how they learn which; 65536 of them take a few MiB.
inline constexpr std::size_t max_findings = 65536;

// The finding codes of extraction (README, "Initramfs archives" and "Tar
// layers"), one per reason an entry is refused or skipped. All are warnings.
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
// Tar layers (OCI image-spec layer.md):
// A hard link whose target is absolute, has a ".." component or is empty.
inline constexpr std::string_view link_outside = "extract.link-outside";
// A hard link whose target does not exist, is a directory, or is the link.
inline constexpr std::string_view link_target_invalid = "extract.link-target-invalid";
// A path that a layer has twice (layer.md: must not); the later one wins.
inline constexpr std::string_view duplicate_path = "extract.duplicate-path";
// A sparse entry (layer.md: should not be used): refused, not expanded.
inline constexpr std::string_view sparse = "extract.sparse";
// A bare ".wh." whiteout (image-spec main: invalid).
inline constexpr std::string_view whiteout_empty = "extract.whiteout-empty";
// A whiteout of "." or ".." (".wh..", ".wh..."): it would remove its own
// directory or a parent.
inline constexpr std::string_view whiteout_parent = "extract.whiteout-parent";
// A tar entry type that is neither file, link, directory, device nor fifo.
inline constexpr std::string_view unsupported_type = "extract.unsupported-type";
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
  std::uint64_t nodes = 0;     // devices, fifos, sockets
  std::uint64_t whiteouts = 0; // tar layers: whiteouts and opaque markers applied

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

  // A second handle on the same directory (several layers, one target).
  result<target> duplicate() const {
    target t;
    t.fd_ = detail::fd_guard(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
    if (t.fd_.get() < 0) return file::detail::os_error("cannot duplicate target", path_, errno);
    t.path_ = path_;
    t.how_ = how_;
    t.mount_ = mount_;
    return t;
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

} // namespace ukikit::extract
