// The files of an image store, read in place: a directory (an OCI image
// layout: each file mapped when first asked for) or a tar archive
// (oci-archive, docker-archive: the archive is mapped once and every member
// is a view into it; nothing is extracted to disk).
//
// A member name is normalized as the tools that write these archives spell
// it: a leading "./" is dropped, "a//b" is "a/b". A name that is absolute,
// has a ".." component, or appears twice (two tools could see two different
// files) makes the archive malformed. Hard links and symlinks between
// members (old `docker save` links identical layers) resolve to their target
// inside the archive, at most `max_link_depth` deep; anything else is not
// a file of the store.
#pragma once

#include "../bytes.hpp"
#include "../diagnostics.hpp"
#include "../file.hpp"
#include "../result.hpp"
#include "../tar.hpp"

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <utility>
#include <vector>

namespace ukikit::image {

// Symlinks followed from one member to the next, at most.
inline constexpr int max_link_depth = 16;
// Members of a store archive, at most (a layout holds a handful of JSON
// blobs and layers per image; 1M members is far past any real image).
inline constexpr std::size_t max_archive_members = std::size_t{1} << 20;

namespace detail {

// "./a//b/" -> "a/b"; nullopt when absolute or with "..".
inline std::optional<std::string> normalize_member(std::string_view name) {
  if (name.starts_with('/')) return std::nullopt;
  std::string out;
  std::size_t i = 0;
  while (i <= name.size()) {
    std::size_t j = name.find('/', i);
    if (j == std::string_view::npos) j = name.size();
    const std::string_view part = name.substr(i, j - i);
    if (part == "..") return std::nullopt;
    if (!part.empty() && part != ".") {
      if (!out.empty()) out += '/';
      out += part;
    }
    i = j + 1;
  }
  return out;
}

// A symlink target relative to the member's directory, normalized; nullopt
// when it leaves the archive.
inline std::optional<std::string> resolve_link(std::string_view member, std::string_view target) {
  if (target.starts_with('/')) return std::nullopt;
  std::vector<std::string_view> parts;
  const auto slash = member.rfind('/');
  std::string base =
      slash == std::string_view::npos ? std::string() : std::string(member.substr(0, slash));
  std::string joined = base.empty() ? std::string(target) : base + "/" + std::string(target);
  std::string_view s = joined;
  std::size_t i = 0;
  while (i <= s.size()) {
    std::size_t j = s.find('/', i);
    if (j == std::string_view::npos) j = s.size();
    const std::string_view part = s.substr(i, j - i);
    if (part == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    i = j + 1;
  }
  std::string out;
  for (auto p : parts) {
    if (!out.empty()) out += '/';
    out += p;
  }
  return out;
}

} // namespace detail

class files {
public:
  // A directory: files are mapped when asked for.
  static result<files> directory(const std::filesystem::path& dir) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
      return error(errc::io, "not a directory: " + dir.string());
    files f;
    f.dir_ = dir;
    return f;
  }

  // A tar archive, mapped and indexed (headers only).
  static result<files> archive(const std::filesystem::path& path) {
    auto m = file::mapped_file::open(path);
    if (!m) return m.error();
    files f;
    f.archive_ = std::make_unique<file::mapped_file>(std::move(*m));
    f.bytes_ = f.archive_->bytes();
    f.dir_ = path;
    UKIKIT_TRY(f.index());
    return f;
  }

  // A tar archive already in memory; the caller keeps `bytes` alive.
  static result<files> archive_view(byte_span bytes, std::filesystem::path name = "archive") {
    files f;
    f.bytes_ = bytes;
    f.in_memory_ = true;
    f.dir_ = std::move(name);
    UKIKIT_TRY(f.index());
    return f;
  }

  bool is_archive() const noexcept { return archive_ != nullptr || in_memory_; }
  // The directory, or the archive's file name.
  const std::filesystem::path& path() const noexcept { return dir_; }
  // What the tar reader tolerated in an archive (permissive reading).
  const finding_log& findings() const noexcept { return findings_; }

  // The member or file `name` (normalized as above); nullopt when absent.
  // Errors: an unreadable file in a directory store.
  result<std::optional<byte_span>> find(std::string_view name) const {
    auto norm = detail::normalize_member(name);
    if (!norm) return error(errc::invalid_argument, "invalid member name " + std::string(name));
    if (is_archive()) {
      auto it = members_.find(*norm);
      if (it == members_.end()) return std::optional<byte_span>();
      return std::optional<byte_span>(it->second);
    }
    std::lock_guard<std::mutex> hold(*mapping_);
    if (auto it = mapped_->find(*norm); it != mapped_->end())
      return std::optional<byte_span>(it->second.bytes());
    const auto p = dir_ / *norm;
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return std::optional<byte_span>();
      return file::detail::os_error("cannot stat", p, errno);
    }
    if (!S_ISREG(st.st_mode)) return error(errc::malformed, p.string() + " is not a regular file");
    if (st.st_size == 0) return std::optional<byte_span>(byte_span{}); // nothing to map
    auto m = file::mapped_file::open(p);
    if (!m) return m.error();
    auto [it, inserted] = mapped_->emplace(*norm, std::move(*m));
    return std::optional<byte_span>(it->second.bytes());
  }

  // Like find(), but absence is an error naming the store.
  result<byte_span> get(std::string_view name) const {
    UKIKIT_TRY_ASSIGN(auto got, find(name));
    if (!got) return error(errc::malformed, path().string() + " has no " + std::string(name));
    return *got;
  }

  // Drops the pages of `part` (bytes find() handed out) from memory once
  // read: a mapped store's pages count as resident otherwise. A later read
  // maps them again from the file; bytes in memory are left alone.
  void release(byte_span part) const noexcept {
    if (archive_) archive_->release(part);
    if (is_archive()) return;
    std::lock_guard<std::mutex> hold(*mapping_);
    for (const auto& [name, m] : *mapped_) m.release(part);
  }

  // Member names of an archive, sorted (empty for a directory).
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [n, s] : members_) out.push_back(n);
    return out;
  }

private:
  result<void> index() {
    tar::options o;
    o.mode = strictness::permissive;
    tar::reader r(bytes_, o);
    std::map<std::string, std::pair<std::string, bool>> links; // name -> (target, symbolic)
    std::size_t count = 0;
    while (true) {
      UKIKIT_TRY_ASSIGN(auto e, r.next());
      if (!e) break;
      if (++count > max_archive_members)
        return error(errc::limit_exceeded,
                     "archive has more than " + std::to_string(max_archive_members) + " members");
      if (e->type == tar::entry_type::directory) continue;
      const std::string raw = e->path();
      auto name = detail::normalize_member(raw);
      if (!name)
        return error(errc::malformed, "archive member name " + raw + " is absolute or has '..'",
                     e->header_offset);
      if (name->empty()) continue;
      if (members_.count(*name) || links.count(*name))
        return error(errc::malformed, "archive member " + *name + " appears twice",
                     e->header_offset);
      if (e->type == tar::entry_type::file && !e->sparse) {
        members_.emplace(*name, e->data);
      } else if (e->type == tar::entry_type::hardlink || e->type == tar::entry_type::symlink) {
        const bool sym = e->type == tar::entry_type::symlink;
        auto target =
            sym ? detail::resolve_link(*name, e->linkname) : detail::normalize_member(e->linkname);
        if (!target)
          return error(errc::malformed, "archive member " + *name + " links outside the archive",
                       e->header_offset);
        links.emplace(*name, std::make_pair(*target, sym));
      }
    }
    for (const auto& f : r.findings()) findings_.add(f);
    // Links resolve to files; a chain is followed at most max_link_depth deep.
    for (const auto& [name, link] : links) {
      std::string target = link.first;
      int depth = 0;
      while (depth++ < max_link_depth) {
        if (auto it = members_.find(target); it != members_.end()) {
          members_.emplace(name, it->second);
          break;
        }
        auto next = links.find(target);
        if (next == links.end()) break;
        target = next->second.first;
      }
    }
    return success();
  }

  std::filesystem::path dir_; // the directory, or the archive's name
  std::unique_ptr<file::mapped_file> archive_;
  byte_span bytes_; // of an archive
  bool in_memory_ = false;
  std::map<std::string, byte_span, std::less<>> members_;
  // Directory stores: files mapped so far (spans handed out stay valid).
  std::unique_ptr<std::map<std::string, file::mapped_file, std::less<>>> mapped_ =
      std::make_unique<std::map<std::string, file::mapped_file, std::less<>>>();
  // Guards mapped_: find() and release() may be called from several threads.
  std::unique_ptr<std::mutex> mapping_ = std::make_unique<std::mutex>();
  finding_log findings_;
};

} // namespace ukikit::image
