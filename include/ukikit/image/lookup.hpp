// Finding files in an image's layer stack as a container runtime sees the
// final tree (image-spec layer.md; ../shared formats.md §2.4), without
// extracting anything:
//
// - layers are applied base first, each decoded once (a raw layer is read in
//   place, a compressed one in bounded chunks), and the same pass computes
//   the layer's diff_id (sha256 of the tar stream);
// - a later entry at a path replaces the earlier one; a non-directory
//   replacing a directory takes what was under it along;
// - `.wh.NAME` hides NAME (and what is under it) as lower layers left it,
//   `.wh..wh..opq` hides every lower child of its directory; both apply to
//   lower layers only, wherever they stand in the archive;
// - a hard link is the file its target is when the link is read;
// - names lose a leading "/", "./" and empty or "." components; a name with
//   ".." is refused; an entry below a symlink or a file is refused (the
//   extract.* codes of the tar layer tables, as warnings);
// - read() follows a symlink anywhere in the path inside the image root
//   ("/" and ".." stop at the root), at most max_symlink_follows times.
//
// platform_tree() finds one platform's image under a store's selection and
// builds its tree, every blob checked against its descriptor and every
// layer against the config's diff_id.
//
// The bytes of a found regular file are a view into the blob when its
// layer is uncompressed; otherwise the decompressed bytes, bounded by
// lookup_options::max_file_size. Paths named in `wanted` when the tree is
// built are kept as they stream past; anything else found later in a
// compressed layer is decoded again.
#pragma once

#include "../bytes.hpp"
#include "../compress.hpp"
#include "../diagnostics.hpp"
#include "../extract/layer.hpp"
#include "../hash.hpp"
#include "../oci.hpp"
#include "../report/layer.hpp"
#include "../result.hpp"
#include "../tar.hpp"
#include "source.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ukikit::image {

// Symlinks followed while resolving one path (Linux's MAXSYMLINKS).
inline constexpr int max_symlink_follows = 40;
// The largest found file handed out as decompressed bytes by default: 1 GiB
// (a UKI is tens of MiB).
inline constexpr std::uint64_t default_max_file_size = std::uint64_t{1} << 30;
// Entries of the final tree, at most: beyond it the stack is refused (a
// hostile layer of empty headers would otherwise grow it without bound).
inline constexpr std::size_t max_tree_entries = std::size_t{1} << 22;

struct lookup_options {
  std::uint64_t max_layer_size = report::default_max_layer_size; // decompressed tar stream
  std::uint64_t max_file_size = default_max_file_size;           // one found file, decompressed
  strictness mode = strictness::permissive;                      // of the tar reader
  bool diff_ids = true;                                          // hash each tar stream
  // Told about each piece of a compressed layer once decoded (source::release).
  std::function<void(byte_span)> consumed;
};

enum class node_type : std::uint8_t { regular, directory, symlink, special };

constexpr std::string_view node_type_name(node_type t) noexcept {
  switch (t) {
  case node_type::regular: return "regular file";
  case node_type::directory: return "directory";
  case node_type::symlink: return "symlink";
  case node_type::special: return "special file";
  }
  return "?";
}

// What one pass over a layer found.
struct layer_pass {
  compress::format compression = compress::format::none;
  std::uint64_t size = 0;     // of the blob
  std::uint64_t tar_size = 0; // of the tar stream
  std::uint64_t entries = 0;  // tar entries read
  std::optional<hash::digest> diff_id;
  // The tar reader's findings and the entries refused (subject: the name).
  finding_log findings;
  // Why the layer could not be read to its end (the tree keeps what came
  // before); empty when it was.
  std::optional<error> problem;
};

// A path of the final tree, after symlinks.
struct file_info {
  std::string path; // normalized, no leading "/"
  node_type type = node_type::regular;
  std::size_t layer = 0;  // the layer whose entry made it
  std::uint64_t size = 0; // regular files
};

// The bytes of a found regular file: a view into its layer's blob, or owned.
class file_data {
public:
  file_info info;
  std::size_t data_layer = 0; // the layer whose entry holds the bytes (a hard link's target's)

  byte_span bytes() const noexcept { return owned_ ? byte_span(*owned_) : view_; }
  bool owned() const noexcept { return owned_.has_value(); }

  static file_data viewing(file_info i, std::size_t layer, byte_span v) {
    file_data d;
    d.info = std::move(i);
    d.data_layer = layer;
    d.view_ = v;
    return d;
  }
  static file_data owning(file_info i, std::size_t layer, std::vector<std::byte> b) {
    file_data d;
    d.info = std::move(i);
    d.data_layer = layer;
    d.owned_ = std::move(b);
    return d;
  }

private:
  byte_span view_;
  std::optional<std::vector<std::byte>> owned_;
};

// Takes a wanted file's bytes, in order, as its layer streams past, instead
// of the tree keeping them (uki/stream.hpp's streamed_image behind it).
class file_stream {
public:
  virtual ~file_stream() = default;
  virtual void write(byte_span piece) = 0;
};
// Makes the stream of a wanted entry (path normalized, size in bytes).
using stream_factory =
    std::function<std::shared_ptr<file_stream>(const std::string& path, std::uint64_t size)>;

// A wanted regular file whose bytes went to a file_stream.
struct streamed_file {
  file_info info;
  std::size_t data_layer = 0;
  std::shared_ptr<file_stream> stream;
};

namespace detail {

// Where a regular file's bytes are: an entry of one layer's tar stream.
struct data_ref {
  std::size_t layer = 0;
  std::uint64_t entry = 0;       // offset of the entry's first header (its identity)
  std::uint64_t data_offset = 0; // in the tar stream
  std::uint64_t size = 0;
  bool operator<(const data_ref& o) const noexcept {
    return layer != o.layer ? layer < o.layer : entry < o.entry;
  }
};

struct tree_node {
  node_type type = node_type::regular;
  std::size_t layer = 0; // the layer that made this entry (whiteouts hide lower ones)
  std::string link;      // symlink target, raw
  data_ref data;         // regular files
};

// The components of a name, normalized: a leading "/" dropped, then
// extract's rules ("." and empty parts dropped, ".." and too deep refused).
inline result<std::vector<std::string>> name_parts(std::string_view name,
                                                   std::string_view* refused_as) {
  while (!name.empty() && name.front() == '/') name.remove_prefix(1);
  if (name.empty()) return std::vector<std::string>{};
  return extract::detail::split_name(name, refused_as);
}

inline bool under(std::string_view path, std::string_view dir) noexcept {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         path[dir.size()] == '/';
}

} // namespace detail

class layer_tree {
public:
  // Applies `layers` (blobs, base first) in one pass each. `wanted` names
  // paths whose compressed bytes are kept while they stream past (no
  // symlinks followed). Errors only when a hash cannot be set up; a layer
  // that cannot be read is its layer_pass::problem.
  // With `streams`, each wanted regular file goes to the file_stream it
  // makes, in every layer, instead of being kept (streamed() finds it).
  static result<layer_tree> build(std::vector<byte_span> layers, const lookup_options& opts = {},
                                  std::span<const std::string> wanted = {},
                                  stream_factory streams = {}) {
    layer_tree t;
    t.opts_ = opts;
    t.streams_ = std::move(streams);
    t.blobs_ = std::move(layers);
    for (const auto& w : wanted) {
      auto parts = detail::name_parts(w, nullptr);
      if (parts && !parts->empty()) t.wanted_.insert(extract::detail::join(*parts));
    }
    for (std::size_t i = 0; i < t.blobs_.size(); ++i) UKIKIT_TRY(t.apply(i));
    return t;
  }

  const std::vector<layer_pass>& layers() const noexcept { return passes_; }
  // Every layer was read to its end.
  bool complete() const noexcept {
    for (const auto& p : passes_)
      if (p.problem) return false;
    return true;
  }
  std::size_t entries() const noexcept { return nodes_.size(); }

  // What is at `path`, following symlinks (the last one too); nullopt when
  // nothing is. An error for a symlink loop.
  result<std::optional<file_info>> stat(std::string_view path) const {
    UKIKIT_TRY_ASSIGN(auto found, resolve(path));
    if (!found) return std::optional<file_info>();
    return std::optional<file_info>(info_of(found->first, *found->second));
  }

  // The bytes of the regular file at `path` (symlinks followed); nullopt
  // when nothing is there. An error for a loop, a path that is no regular
  // file, a compressed file over max_file_size, or a layer that no longer
  // decodes.
  result<std::optional<file_data>> read(std::string_view path) const {
    UKIKIT_TRY_ASSIGN(auto found, resolve(path));
    if (!found) return std::optional<file_data>();
    UKIKIT_TRY_ASSIGN(auto raw, raw_bytes(found->first, *found->second));
    const detail::tree_node& n = *found->second;
    file_info info = info_of(found->first, n);
    const detail::data_ref& d = n.data;
    if (raw) return std::optional<file_data>(file_data::viewing(std::move(info), d.layer, *raw));
    if (d.size > opts_.max_file_size)
      return error(errc::limit_exceeded, "/" + info.path + " is " + std::to_string(d.size) +
                                             " bytes, over the limit of " +
                                             std::to_string(opts_.max_file_size));
    if (auto it = kept_.find(d); it != kept_.end())
      return std::optional<file_data>(
          file_data::owning(std::move(info), d.layer, it->second.bytes));
    UKIKIT_TRY_ASSIGN(auto bytes, decode_entry(d));
    return std::optional<file_data>(file_data::owning(std::move(info), d.layer, std::move(bytes)));
  }

  // The bytes of the regular file at `path` (symlinks followed) handed to
  // `to` again, decoded a piece at a time: memory does not grow with the
  // file, however large. An error as read() gives one, or when nothing is
  // there.
  result<void> restream(std::string_view path, file_stream& to) const {
    UKIKIT_TRY_ASSIGN(auto found, resolve(path));
    if (!found) return error(errc::invalid_argument, "nothing at /" + std::string(path));
    UKIKIT_TRY_ASSIGN(auto raw, raw_bytes(found->first, *found->second));
    if (raw) {
      to.write(*raw);
      return success();
    }
    return feed_entry(found->second->data, [&to](byte_span piece) { to.write(piece); });
  }

  // The stream that took the bytes of the regular file at `path` (symlinks
  // followed), when it was wanted and streamed whole; nullopt otherwise
  // (read() it, which also says why it cannot be read).
  result<std::optional<streamed_file>> streamed(std::string_view path) const {
    UKIKIT_TRY_ASSIGN(auto found, resolve(path));
    if (!found || found->second->type != node_type::regular) return std::optional<streamed_file>();
    const detail::tree_node& n = *found->second;
    auto it = streamed_.find(n.data);
    if (it == streamed_.end()) return std::optional<streamed_file>();
    return std::optional<streamed_file>(
        streamed_file{info_of(found->first, n), n.data.layer, it->second.stream});
  }

private:
  using node_map = std::map<std::string, detail::tree_node, std::less<>>;
  using node_ptr = const detail::tree_node*;

  struct kept_bytes {
    std::vector<std::byte> bytes;
    std::size_t refs = 0; // nodes whose data they are
  };
  struct kept_stream {
    std::shared_ptr<file_stream> stream;
    std::size_t refs = 0;
  };

  static file_info info_of(const std::string& path, const detail::tree_node& n) {
    return {path, n.type, n.layer, n.type == node_type::regular ? n.data.size : 0};
  }

  // ---- the tree ----------------------------------------------------------------

  void retain(const detail::tree_node& n) {
    if (n.type != node_type::regular) return;
    if (auto it = kept_.find(n.data); it != kept_.end()) ++it->second.refs;
    if (auto it = streamed_.find(n.data); it != streamed_.end()) ++it->second.refs;
  }
  void release(const detail::tree_node& n) {
    if (n.type != node_type::regular) return;
    if (auto it = kept_.find(n.data); it != kept_.end() && --it->second.refs == 0) kept_.erase(it);
    if (auto it = streamed_.find(n.data); it != streamed_.end() && --it->second.refs == 0)
      streamed_.erase(it);
  }

  node_map::iterator erase(node_map::iterator it) {
    release(it->second);
    return nodes_.erase(it);
  }

  // Removes `path` (when `self`) and what is under it, made by layers below
  // `layer`.
  void hide(const std::string& path, std::size_t layer, bool self) {
    if (self) {
      auto it = nodes_.find(path);
      if (it != nodes_.end() && it->second.layer < layer) erase(it);
    }
    const std::string prefix = path.empty() ? std::string() : path + '/';
    for (auto it = nodes_.lower_bound(prefix);
         it != nodes_.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
      if (it->second.layer < layer) it = erase(it);
      else ++it;
    }
  }

  void put(const std::string& path, detail::tree_node n) {
    retain(n);
    auto it = nodes_.find(path);
    if (it != nodes_.end()) {
      const bool keep_children =
          it->second.type == node_type::directory && n.type == node_type::directory;
      release(it->second);
      it->second = std::move(n);
      if (keep_children) return;
    } else {
      it = nodes_.emplace(path, std::move(n)).first;
    }
    if (it->second.type == node_type::directory) return;
    // Children sort after path + '/', not right after path ("a-b" < "a/x").
    for (auto c = nodes_.lower_bound(path + '/');
         c != nodes_.end() && detail::under(c->first, path);)
      c = erase(c);
  }

  node_ptr find_node(std::string_view path) const {
    auto it = nodes_.find(path);
    return it == nodes_.end() ? nullptr : &it->second;
  }

  // Something under `path` exists: it is a directory even without its own
  // entry (tar layers need not list parents).
  bool implicit_directory(std::string_view path) const {
    const std::string prefix = std::string(path) + '/';
    auto it = nodes_.lower_bound(prefix);
    return it != nodes_.end() && it->first.compare(0, prefix.size(), prefix) == 0;
  }

  // ---- one layer ---------------------------------------------------------------

  // The tar::parser handler of one layer's pass.
  struct applier {
    layer_tree& t;
    std::size_t layer;
    layer_pass& pass;
    bool compressed;
    std::set<std::string> seen; // this layer's paths (duplicates)
    // The current entry: where it goes, and what it becomes at end().
    std::string path;
    std::optional<detail::tree_node> pending;
    std::optional<std::vector<std::byte>> keep;
    std::shared_ptr<file_stream> stream;

    void note(const tar::entry& e, std::string_view c, std::string message) {
      finding f(severity::warning, c, std::move(message), e.offset);
      f.subject = e.path();
      pass.findings.add(std::move(f));
    }

    result<void> begin(const tar::entry& e) {
      ++pass.entries;
      pending.reset();
      keep.reset();
      stream.reset();
      std::string_view refused_as;
      auto parts = detail::name_parts(e.path(), &refused_as);
      if (!parts) {
        note(e, refused_as, parts.error().context());
        return success();
      }
      if (parts->empty()) return success(); // the root itself
      const std::string& base = parts->back();
      if (base.compare(0, extract::whiteout_prefix.size(), extract::whiteout_prefix) == 0) {
        parts->pop_back();
        whiteout(e, extract::detail::join(*parts), base);
        return success();
      }
      path = extract::detail::join(*parts);
      // A parent that is a symlink or a file: a runtime does not write through it.
      std::string prefix;
      for (std::size_t i = 0; i + 1 < parts->size(); ++i) {
        prefix += (i ? "/" : "") + (*parts)[i];
        const node_ptr p = t.find_node(prefix);
        if (p && p->type != node_type::directory) {
          note(e,
               p->type == node_type::symlink ? extract::code::through_symlink
                                             : extract::code::parent_not_directory,
               "/" + prefix + " is a " + std::string(node_type_name(p->type)) +
                   ": entry not applied");
          return success();
        }
      }
      if (!seen.insert(path).second)
        note(e, extract::code::duplicate_path, "path already in this layer: the later entry wins");
      detail::tree_node n;
      n.layer = layer;
      switch (e.type) {
      case tar::entry_type::file:
        if (e.sparse) {
          note(e, extract::code::sparse, "sparse entry: not applied");
          return success();
        }
        n.type = node_type::regular;
        n.data = {layer, e.offset, e.data_offset, e.size};
        if (t.wanted_.count(path) != 0) {
          if (t.streams_) stream = t.streams_(path, e.size);
          else if (compressed && e.size <= t.opts_.max_file_size) keep.emplace();
        }
        break;
      case tar::entry_type::hardlink: return hardlink(e, std::move(n));
      case tar::entry_type::symlink:
        if (e.linkname.empty()) {
          note(e, extract::code::empty_symlink_target, "symlink with an empty target");
          return success();
        }
        n.type = node_type::symlink;
        n.link = std::string(e.linkname);
        break;
      case tar::entry_type::directory: n.type = node_type::directory; break;
      case tar::entry_type::chardev:
      case tar::entry_type::blockdev:
      case tar::entry_type::fifo: n.type = node_type::special; break;
      case tar::entry_type::other:
        note(e, extract::code::unsupported_type, "unsupported tar entry type: not applied");
        return success();
      }
      pending = std::move(n);
      return success();
    }

    result<void> hardlink(const tar::entry& e, detail::tree_node n) {
      std::string_view refused_as;
      auto to = detail::name_parts(e.linkname, &refused_as);
      if (!to || to->empty()) {
        note(e, extract::code::link_outside, "hard link target is empty or has \"..\"");
        return success();
      }
      const node_ptr target = t.find_node(extract::detail::join(*to));
      if (!target || target->type == node_type::directory) {
        note(e, extract::code::link_target_invalid,
             "hard link target " + std::string(e.linkname) +
                 (target ? " is a directory" : " does not exist"));
        return success();
      }
      n.type = target->type;
      n.link = target->link;
      n.data = target->data;
      pending = std::move(n);
      return success();
    }

    void whiteout(const tar::entry& e, const std::string& dir, std::string_view base) {
      if (base == extract::opaque_whiteout) {
        t.hide(dir, layer, false);
        return;
      }
      const std::string_view name = base.substr(extract::whiteout_prefix.size());
      if (name.empty()) {
        note(e, extract::code::whiteout_empty, "bare \".wh.\" whiteout names nothing (invalid)");
        return;
      }
      if (name == "." || name == "..") {
        note(e, extract::code::whiteout_parent,
             "whiteout of \"" + std::string(name) + "\" would remove a parent directory");
        return;
      }
      t.hide(dir.empty() ? std::string(name) : dir + "/" + std::string(name), layer, true);
    }

    result<void> data(const tar::entry&, byte_span piece) {
      if (keep) keep->insert(keep->end(), piece.begin(), piece.end());
      if (stream) stream->write(piece);
      return success();
    }

    result<bool> end(const tar::entry&) {
      if (!pending) return true;
      if (t.nodes_.size() >= max_tree_entries && t.nodes_.count(path) == 0)
        return error(errc::limit_exceeded,
                     "the layers make more than " + std::to_string(max_tree_entries) + " entries");
      if (keep && pending->type == node_type::regular && keep->size() == pending->data.size)
        t.kept_.emplace(pending->data, kept_bytes{std::move(*keep), 0});
      if (stream && pending->type == node_type::regular)
        t.streamed_.emplace(pending->data, kept_stream{std::move(stream), 0});
      t.put(path, std::move(*pending));
      pending.reset();
      keep.reset();
      stream.reset();
      return true;
    }
  };

  result<void> apply(std::size_t i) {
    passes_.emplace_back();
    layer_pass& pass = passes_.back();
    report::layer_options lo;
    lo.mode = opts_.mode;
    lo.max_size = opts_.max_layer_size;
    lo.diff_id = opts_.diff_ids;
    lo.consumed = opts_.consumed;
    report::layer_report rep;
    const bool compressed = compress::detect(blobs_[i]) != compress::format::none;
    applier a{*this, i, pass, compressed, {}, {}, {}, {}, {}};
    auto fed = report::feed_layer(blobs_[i], lo, a, rep);
    pass.compression = rep.compression;
    pass.size = rep.size;
    pass.tar_size = rep.tar_size;
    pass.diff_id = rep.diff_id;
    finding_log reader = std::move(rep.findings);
    reader.append(std::move(pass.findings));
    pass.findings = std::move(reader);
    if (!fed) pass.problem = std::move(fed).error();
    return success();
  }

  // Another pass over a compressed layer for one entry's bytes.
  // Decodes the layer of `d` again, handing the entry's bytes to `sink` as
  // they come; false when the layer no longer has the entry whole.
  template <class Sink> result<void> feed_entry(const detail::data_ref& d, Sink&& sink) const {
    struct grab {
      std::uint64_t want;
      Sink& sink;
      std::uint64_t got = 0;
      bool found = false;
      result<void> begin(const tar::entry& e) {
        found = found || e.offset == want;
        return success();
      }
      result<void> data(const tar::entry& e, byte_span piece) {
        if (e.offset == want) {
          sink(piece);
          got += piece.size();
        }
        return success();
      }
      result<bool> end(const tar::entry&) { return true; }
    } g{d.entry, sink};
    report::layer_options lo;
    lo.mode = opts_.mode;
    lo.max_size = opts_.max_layer_size;
    lo.consumed = opts_.consumed;
    report::layer_report rep;
    auto fed = report::feed_layer(blobs_[d.layer], lo, g, rep);
    if (g.found && g.got == d.size) return success();
    if (!fed) return std::move(fed).error().prefixed("layer " + std::to_string(d.layer));
    return error(errc::malformed, "layer " + std::to_string(d.layer) +
                                      " no longer has the entry at " + hex(d.entry));
  }

  result<std::vector<std::byte>> decode_entry(const detail::data_ref& d) const {
    std::vector<std::byte> out;
    UKIKIT_TRY(feed_entry(
        d, [&out](byte_span piece) { out.insert(out.end(), piece.begin(), piece.end()); }));
    return out;
  }

  // A regular file's bytes in place when its layer is uncompressed; nullopt
  // when it is compressed. An error for anything but a regular file.
  result<std::optional<byte_span>> raw_bytes(const std::string& path,
                                             const detail::tree_node& n) const {
    if (n.type != node_type::regular)
      return error(errc::invalid_argument, "/" + path + " is a " +
                                               std::string(node_type_name(n.type)) +
                                               ", not a regular file");
    const detail::data_ref& d = n.data;
    if (passes_[d.layer].compression != compress::format::none) return std::optional<byte_span>();
    const byte_span blob = blobs_[d.layer];
    auto end = checked_add<std::uint64_t>(d.data_offset, d.size);
    if (!end || *end > blob.size()) // the parser handed the entry out whole; a bug if not
      return error(errc::malformed, "/" + path + " lies past the end of its layer", d.data_offset);
    return std::optional<byte_span>(
        blob.subspan(static_cast<std::size_t>(d.data_offset), static_cast<std::size_t>(d.size)));
  }

  // ---- resolution --------------------------------------------------------------

  // The node `path` leads to inside the image root, following symlinks
  // (the last one too); nullopt when there is none.
  result<std::optional<std::pair<std::string, node_ptr>>> resolve(std::string_view path) const {
    using found = std::optional<std::pair<std::string, node_ptr>>;
    std::vector<std::string> todo; // components still to walk, last first
    const auto push = [&todo](std::string_view p) {
      std::vector<std::string> parts;
      std::size_t at = 0;
      while (at <= p.size()) {
        std::size_t slash = p.find('/', at);
        if (slash == std::string_view::npos) slash = p.size();
        parts.emplace_back(p.substr(at, slash - at));
        at = slash + 1;
      }
      todo.insert(todo.end(), parts.rbegin(), parts.rend());
    };
    push(path);
    std::string cur;                  // the resolved prefix, "a/b"
    std::vector<std::size_t> lengths; // cur's length before each component
    int follows = 0;
    node_ptr last = nullptr;
    while (!todo.empty()) {
      const std::string c = std::move(todo.back());
      todo.pop_back();
      if (c.empty() || c == ".") continue;
      if (c == "..") { // at the root, ".." is the root
        if (!lengths.empty()) {
          cur.resize(lengths.back());
          lengths.pop_back();
        }
        last = nullptr;
        continue;
      }
      lengths.push_back(cur.size());
      if (!cur.empty()) cur += '/';
      cur += c;
      last = find_node(cur);
      if (!last) {
        if (!implicit_directory(cur)) return found();
        continue;
      }
      if (last->type == node_type::symlink) {
        if (++follows > max_symlink_follows)
          return error(errc::invalid_argument, "too many levels of symlinks resolving " +
                                                   std::string(path) + " (more than " +
                                                   std::to_string(max_symlink_follows) + ")");
        cur.resize(lengths.back());
        lengths.pop_back();
        const std::string& target = last->link;
        if (!target.empty() && target.front() == '/') {
          cur.clear();
          lengths.clear();
        }
        push(target);
        last = nullptr;
        continue;
      }
      if (!todo.empty() && last->type != node_type::directory) {
        // A file with more path after it: only "." and empty parts may follow.
        bool more = false;
        for (const auto& rest : todo) more = more || (!rest.empty() && rest != ".");
        if (more) return found();
      }
    }
    if (cur.empty()) return found(); // the root: no entry of its own
    if (!last) last = find_node(cur);
    if (!last) {
      if (!implicit_directory(cur)) return found();
      static const detail::tree_node implied{node_type::directory, 0, {}, {}};
      last = &implied;
    }
    return found(std::make_pair(cur, last));
  }

  lookup_options opts_;
  std::vector<byte_span> blobs_;
  std::vector<layer_pass> passes_;
  std::set<std::string, std::less<>> wanted_;
  node_map nodes_;
  std::map<detail::data_ref, kept_bytes> kept_;
  stream_factory streams_;
  std::map<detail::data_ref, kept_stream> streamed_;
};

// One platform's image of a store, and its final tree.
struct platform_image {
  oci::descriptor descriptor; // the manifest's, as its index lists it
  oci::manifest manifest;
  oci::image_config config;
  layer_tree tree;
};

namespace detail {

// Indexes nested deeper are refused (an installer image has one level).
inline constexpr int max_platform_depth = 8;

inline result<std::optional<platform_image>>
find_platform(const source& src, const oci::descriptor& d, std::string_view arch, int depth,
              const lookup_options& opts, std::span<const std::string> wanted) {
  using none = std::optional<platform_image>;
  oci::parse_options po;
  po.limits = src.options().limits;
  po.mode = src.options().mode;
  po.described_by = &d;
  finding_log log;
  if (oci::media_type::is_index(d.media_type)) {
    if (depth >= max_platform_depth)
      return error(errc::limit_exceeded,
                   "indexes nest deeper than " + std::to_string(max_platform_depth));
    UKIKIT_TRY_ASSIGN(byte_span bytes, src.blob(d));
    UKIKIT_TRY_ASSIGN(auto idx, oci::parse_index(bytes, log, po));
    for (const auto& child : idx.value.manifests) {
      if (child.platform && child.platform->architecture != arch) continue;
      UKIKIT_TRY_ASSIGN(auto found, find_platform(src, child, arch, depth + 1, opts, wanted));
      if (found) return found;
    }
    return none();
  }
  if (!oci::media_type::is_manifest(d.media_type)) return none();
  if (d.platform && d.platform->architecture != arch) return none();
  UKIKIT_TRY_ASSIGN(byte_span bytes, src.blob(d));
  UKIKIT_TRY_ASSIGN(auto m, oci::parse_manifest(bytes, log, po));
  po.described_by = &m.value.config;
  UKIKIT_TRY_ASSIGN(byte_span config_bytes, src.blob(m.value.config));
  UKIKIT_TRY_ASSIGN(auto c, oci::parse_config(config_bytes, log, po));
  if (!d.platform && c.value.architecture != arch) return none();
  const auto& diff_ids = c.value.rootfs.diff_ids;
  if (diff_ids.size() != m.value.layers.size())
    return error(errc::malformed, "config of " + d.digest.str() + " lists " +
                                      std::to_string(diff_ids.size()) + " diff_ids for " +
                                      std::to_string(m.value.layers.size()) + " layers");
  std::vector<byte_span> layers;
  for (const auto& l : m.value.layers) {
    UKIKIT_TRY_ASSIGN(byte_span b, src.blob(l));
    layers.push_back(b);
  }
  lookup_options lo = opts;
  lo.diff_ids = true;
  UKIKIT_TRY_ASSIGN(auto tree, layer_tree::build(std::move(layers), lo, wanted));
  for (std::size_t j = 0; j < tree.layers().size(); ++j) {
    const layer_pass& pass = tree.layers()[j];
    const std::string which =
        "layer " + std::to_string(j) + " (" + m.value.layers[j].digest.str() + ")";
    if (pass.problem) return pass.problem->prefixed(which);
    if (!pass.diff_id || !diff_ids[j].verifiable() || diff_ids[j].algorithm() != "sha256") continue;
    const oci::digest computed = oci::digest::of(*pass.diff_id);
    if (computed != diff_ids[j])
      return error(errc::checksum_mismatch, which + " is not the config's diff_id: claimed " +
                                                diff_ids[j].str() + ", computed " + computed.str());
  }
  platform_image out{d, std::move(m.value), std::move(c.value), std::move(tree)};
  return std::optional<platform_image>(std::move(out));
}

} // namespace detail

// The first image for architecture `arch` (image-spec platform.architecture;
// the config's when the index gives no platform) under the store's
// selection, with its tree. Every blob on the way is checked against its
// descriptor (an error with errc::checksum_mismatch when one is not what it
// says), every layer against its diff_id, and every layer must be read to
// its end; nullopt when no image is for `arch`.
inline result<std::optional<platform_image>>
platform_tree(const source& src, std::string_view arch, const lookup_options& opts = {},
              std::span<const std::string> wanted = {}) {
  for (const auto& d : src.selected()) {
    UKIKIT_TRY_ASSIGN(auto found, detail::find_platform(src, d, arch, 0, opts, wanted));
    if (found) return found;
  }
  return std::optional<platform_image>();
}

} // namespace ukikit::image
