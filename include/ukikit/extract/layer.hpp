// tar layers of OCI images into a root directory, as `umoci unpack` applies
// them (image-spec layer.md, ../shared formats.md §2.4 and §2.6): a thin
// adapter from tar::parser entries to the extraction core (extract/node.hpp,
// replace::layer). Layers are applied base first, each with its own
// layer_extractor on the same target.
//
// - `.wh.NAME` removes NAME (and what is in it) as lower layers left it; it
//   is never created. What this layer itself put there stays: a whiteout
//   applies to lower layers only.
// - `.wh..wh..opq` makes its directory opaque: every child lower layers put
//   there goes, this layer's stay, wherever the marker is in the archive.
// - Refused (a finding each, extraction goes on): a bare `.wh.`
//   (whiteout-empty); `.wh..` and `.wh...`, which name their own directory
//   or its parent (whiteout-parent); a whiteout or entry through a symlink
//   (through-symlink) or with `..` or an absolute name; a hard link whose
//   target is not a name under the target (link-outside) or does not exist
//   (link-target-invalid); sparse entries (sparse; not expanded); types
//   other than file, link, directory, device and fifo (unsupported-type).
// - A path twice in one layer is reported (duplicate-path); the later wins.
// - Symlinks are made as given, absolute targets too: the extractor never
//   follows them. A hard link naming a symlink links the symlink itself.
#pragma once

#include "../tar.hpp"
#include "node.hpp"

#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace ukikit::extract {

inline constexpr std::string_view whiteout_prefix = ".wh.";
inline constexpr std::string_view opaque_whiteout = ".wh..wh..opq";

// The tar::parser handler that applies one layer to a target. Feed the
// parser, then call finish() once.
class layer_extractor {
public:
  explicit layer_extractor(target t, options opts = {})
      : core_(std::move(t), opts, replace::layer) {}

  result<void> begin(const tar::entry& e) {
    path_ = e.path();
    node n = node_of(e, path_);
    if (e.sparse) {
      core_.note(n, code::sparse,
                 "sparse entry (OCI layers should not have sparse files): not extracted");
      return success();
    }
    std::string_view trimmed = path_;
    while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.remove_suffix(1);
    const std::size_t slash = trimmed.rfind('/');
    const std::string_view base =
        slash == std::string_view::npos ? trimmed : trimmed.substr(slash + 1);
    const std::string_view dir = slash == std::string_view::npos ? "" : trimmed.substr(0, slash);
    if (base.substr(0, whiteout_prefix.size()) == whiteout_prefix) return whiteout(n, dir, base);
    if (e.type == tar::entry_type::other) {
      core_.note(n, code::unsupported_type,
                 "unsupported tar entry type '" + printable_type(e.typeflag) + "'");
      return success();
    }
    if (auto parts = detail::split_name(path_);
        parts && !upper_.insert(detail::join(*parts)).second)
      core_.note(n, code::duplicate_path, "path already in this layer: the later entry wins");
    UKIKIT_TRY(core_.begin(n));
    return success();
  }

  result<void> data(const tar::entry&, byte_span piece) { return core_.data(piece); }

  result<bool> end(const tar::entry&) {
    UKIKIT_TRY(core_.end());
    return true;
  }

  // Directory modes and times, deepest first (after every entry).
  result<report> finish() {
    UKIKIT_TRY_ASSIGN(report r, core_.finish());
    r.whiteouts = whiteouts_;
    return r;
  }

  const report& progress() const noexcept { return core_.progress(); }

private:
  static std::string printable_type(char t) {
    const auto c = static_cast<unsigned char>(t);
    if (c >= 0x20 && c < 0x7f) return std::string(1, t);
    return "\\x" + hex(c).substr(2);
  }

  static node_type type_of(tar::entry_type t) noexcept {
    switch (t) {
    case tar::entry_type::file: return node_type::regular;
    case tar::entry_type::hardlink: return node_type::hardlink;
    case tar::entry_type::symlink: return node_type::symlink;
    case tar::entry_type::chardev: return node_type::character;
    case tar::entry_type::blockdev: return node_type::block;
    case tar::entry_type::directory: return node_type::directory;
    case tar::entry_type::fifo: return node_type::fifo;
    case tar::entry_type::other: break;
    }
    return node_type::unknown;
  }

  static node node_of(const tar::entry& e, std::string_view path) {
    node n;
    n.name = path;
    n.offset = e.offset;
    n.type = type_of(e.type);
    n.mode = e.mode & 07777;
    n.uid = e.uid;
    n.gid = e.gid;
    n.mtime = e.mtime;
    n.mtime_nsec = e.mtime_nsec;
    if (e.type == tar::entry_type::symlink || e.type == tar::entry_type::hardlink)
      n.link = e.linkname;
    n.rdev_major = e.devmajor;
    n.rdev_minor = e.devminor;
    n.size = e.type == tar::entry_type::file ? e.size : 0;
    return n;
  }

  // Whether `rel` is a path this layer made, or a directory above one.
  bool upper(const std::string& rel) const {
    if (upper_.count(rel) != 0) return true;
    const std::string prefix = rel + '/';
    auto it = upper_.lower_bound(prefix);
    return it != upper_.end() && it->compare(0, prefix.size(), prefix) == 0;
  }

  result<void> whiteout(const node& n, std::string_view dir, std::string_view base) {
    const node_extractor::keep_fn keep = [this](const std::string& rel) { return upper(rel); };
    if (base == opaque_whiteout) {
      const std::uint64_t before = core_.progress().findings.total();
      UKIKIT_TRY(core_.clear(n, dir, keep));
      if (core_.progress().findings.total() == before) ++whiteouts_;
      return success();
    }
    const std::string_view name = base.substr(whiteout_prefix.size());
    if (name.empty()) {
      core_.note(n, code::whiteout_empty, "bare \".wh.\" whiteout names nothing (invalid)");
      return success();
    }
    if (name == "." || name == "..") {
      core_.note(n, code::whiteout_parent,
                 "whiteout of \"" + std::string(name) + "\" would remove a parent directory");
      return success();
    }
    std::string path(dir);
    if (!path.empty()) path += '/';
    path += name;
    if (auto parts = detail::split_name(path); parts && upper_.count(detail::join(*parts)) != 0)
      return success(); // made by this layer: a whiteout hides lower layers only
    const std::uint64_t before = core_.progress().findings.total();
    UKIKIT_TRY(core_.remove(n, path, keep));
    if (core_.progress().findings.total() == before) ++whiteouts_;
    return success();
  }

  node_extractor core_;
  std::string path_;            // of the current entry
  std::set<std::string> upper_; // the paths this layer has made (normalized)
  std::uint64_t whiteouts_ = 0;
};

// Applies one uncompressed tar layer to `t`: refusals are findings; a
// malformed or truncated archive is an error after what came before it was
// applied (directory attributes included).
inline result<report> apply_layer(byte_span archive, target t, options opts = {},
                                  strictness mode = strictness::permissive) {
  layer_extractor x(std::move(t), opts);
  tar::options to;
  to.mode = mode;
  to.chunks_persist = true;
  tar::parser p(to);
  auto fed = p.feed(archive, x);
  result<void> ended = success();
  if (fed) ended = p.finish();
  UKIKIT_TRY_ASSIGN(report rep, x.finish());
  if (!fed) return std::move(fed).error();
  if (!ended) return std::move(ended).error();
  return rep;
}

} // namespace ukikit::extract
