// Writing image stores: an OCI image layout directory, an oci-archive (the
// same layout as one tar) and a docker-archive (`docker save`'s
// manifest.json with the config and layer files), from a set of blobs and
// the root index's entries.
//
// Blobs are written byte for byte as they were received (their digests
// stay what every manifest says); only index.json and, for a
// docker-archive, manifest.json are made here, as compact JSON with a
// stable key order (oci_writer.hpp). Every file is written under a
// temporary name and renamed into place when complete.
//
// - layout: a new directory, or an existing layout that gains the blobs it
//   lacks and whose index.json keeps its other entries; an entry with the
//   same tag (`org.opencontainers.image.ref.name`) is replaced, as skopeo
//   does. Existing blobs are checked (size, digest) before being kept.
// - oci-archive: a tar (ustar, sorted, uid/gid 0, mtime `mtime`) of
//   oci-layout, index.json and blobs/<alg>/<hex>, with their directories.
// - docker-archive: one manifest.json entry per root manifest, its config
//   as <hex>.json and its layers as <hex>.tar (the layer blob as it is;
//   `docker load` and skopeo detect a compressed one), RepoTags from the tag.
#pragma once

#include "../bytes.hpp"
#include "../file.hpp"
#include "../json.hpp"
#include "../oci.hpp"
#include "../oci_writer.hpp"
#include "../result.hpp"
#include "../tar_writer.hpp"
#include "reference.hpp"
#include "source.hpp"

#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <sys/stat.h>

namespace ukikit::image {

inline constexpr std::string_view layout_header = R"({"imageLayoutVersion":"1.0.0"})";

// What to write: the blobs (views that stay valid until written, or text
// made here) and the root index's entries.
class contents {
public:
  // A blob received from somewhere else: its bytes as they are.
  void add(const oci::digest& d, byte_span bytes) { blobs_.emplace(d.str(), bytes); }

  // A blob made here (a manifest, an index, a config): kept, digested.
  result<oci::descriptor> add_made(std::string media_type, std::string text) {
    oci::descriptor d;
    d.media_type = std::move(media_type);
    d.size = static_cast<std::int64_t>(text.size());
    UKIKIT_TRY_ASSIGN(d.digest, oci::digest::compute(as_bytes(text)));
    made_.push_back(std::move(text));
    blobs_.emplace(d.digest.str(), as_bytes(made_.back()));
    return d;
  }

  // A blob made here whose digest the maker computed while writing it (a
  // layer): kept as it is, not digested again.
  void add_digested(const oci::digest& d, std::string bytes) {
    made_.push_back(std::move(bytes));
    blobs_.emplace(d.str(), as_bytes(made_.back()));
  }

  void add_root(oci::descriptor d) { roots_.push_back(std::move(d)); }

  const std::map<std::string, byte_span, std::less<>>& blobs() const noexcept { return blobs_; }
  const std::vector<oci::descriptor>& roots() const noexcept { return roots_; }
  std::vector<oci::descriptor>& roots() noexcept { return roots_; }

  result<byte_span> blob(const oci::digest& d) const {
    auto it = blobs_.find(d.str());
    if (it == blobs_.end())
      return error(errc::invalid_argument, "no blob " + d.str() + " to write");
    return it->second;
  }

private:
  std::map<std::string, byte_span, std::less<>> blobs_;
  std::deque<std::string> made_; // stable addresses
  std::vector<oci::descriptor> roots_;
};

struct write_options {
  std::int64_t mtime = 0; // archive members' mtime (SOURCE_DATE_EPOCH, say)
  json::limits limits{};  // for an existing layout's index.json
};

namespace detail {

inline oci::index root_index(std::vector<oci::descriptor> entries) {
  oci::index idx;
  idx.media_type = std::string(oci::media_type::index);
  idx.manifests = std::move(entries);
  return idx;
}

inline std::string_view tag_of(const oci::descriptor& d) {
  auto it = d.annotations.find(std::string(ref_name_annotation));
  return it == d.annotations.end() ? std::string_view{} : std::string_view(it->second);
}

// An existing blob is kept only when it is what its name says.
inline result<bool> have_blob(const std::filesystem::path& p, const oci::digest& d,
                              std::uint64_t size) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return false;
  if (!S_ISREG(st.st_mode) || static_cast<std::uint64_t>(st.st_size) != size) return false;
  if (size == 0) return static_cast<bool>(d.verify(byte_span{}));
  auto m = file::mapped_file::open(p);
  if (!m) return m.error();
  return static_cast<bool>(d.verify(m->bytes()));
}

} // namespace detail

inline result<void> write_layout(const contents& c, const std::filesystem::path& dir,
                                 const write_options& opts = {}) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return error(errc::io, "cannot create " + dir.string() + " (" + ec.message() + ")");
  std::vector<oci::descriptor> entries;
  if (fs::exists(dir / "index.json", ec)) { // an existing layout: keep its other entries
    auto existing = source::open(reference{transport::layout, dir.string(), {}},
                                 source_options{opts.limits, strictness::strict});
    if (!existing) return std::move(existing).error().prefixed("existing layout " + dir.string());
    for (const auto& e : existing->root().manifests) {
      bool replaced = false;
      for (const auto& r : c.roots())
        replaced =
            replaced || (!detail::tag_of(r).empty() && detail::tag_of(r) == detail::tag_of(e));
      if (!replaced) entries.push_back(e);
    }
  } else {
    UKIKIT_TRY(file::write_file(dir / "oci-layout", as_bytes(layout_header)));
  }
  for (const auto& [name, bytes] : c.blobs()) {
    UKIKIT_TRY_ASSIGN(auto d, oci::digest::parse(name));
    const fs::path p = dir / d.blob_path();
    UKIKIT_TRY_ASSIGN(bool have, detail::have_blob(p, d, bytes.size()));
    if (have) continue;
    fs::create_directories(p.parent_path(), ec);
    if (ec) return error(errc::io, "cannot create " + p.parent_path().string());
    UKIKIT_TRY(file::write_file(p, bytes));
  }
  for (const auto& r : c.roots()) entries.push_back(r);
  const std::string index = oci::serialize(detail::root_index(std::move(entries)));
  return file::write_file(dir / "index.json", as_bytes(index));
}

namespace detail {

inline tar::member archive_dir(std::string path, std::int64_t mtime) {
  tar::member m;
  m.path = std::move(path);
  m.type = tar::entry_type::directory;
  m.mode = 0755;
  m.mtime = mtime;
  return m;
}

inline tar::member archive_file(std::string path, byte_span data, std::int64_t mtime) {
  tar::member m;
  m.path = std::move(path);
  m.type = tar::entry_type::file;
  m.mode = 0644;
  m.mtime = mtime;
  m.size = data.size();
  m.data = data;
  return m;
}

inline result<void> write_tar(std::vector<tar::member> members, const std::filesystem::path& out) {
  UKIKIT_TRY_ASSIGN(auto plan, tar::make_plan(std::move(members)));
  UKIKIT_TRY_ASSIGN(auto f, file::output_file::create(out));
  auto sink = [&f](byte_span chunk) -> result<void> { return f.write(chunk); };
  UKIKIT_TRY_ASSIGN(std::uint64_t written, tar::write(plan, sink));
  if (written != plan.size)
    return error(errc::io, out.string() + ": wrote " + std::to_string(written) +
                               " bytes of a planned " + std::to_string(plan.size));
  return f.commit();
}

} // namespace detail

inline result<void> write_oci_archive(const contents& c, const std::filesystem::path& out,
                                      const write_options& opts = {}) {
  const std::string index = oci::serialize(detail::root_index(c.roots()));
  std::vector<tar::member> members;
  members.push_back(detail::archive_file("oci-layout", as_bytes(layout_header), opts.mtime));
  members.push_back(detail::archive_file("index.json", as_bytes(index), opts.mtime));
  members.push_back(detail::archive_dir("blobs", opts.mtime));
  std::map<std::string, bool> dirs;
  for (const auto& [name, bytes] : c.blobs()) {
    UKIKIT_TRY_ASSIGN(auto d, oci::digest::parse(name));
    const std::string dir = "blobs/" + std::string(d.algorithm());
    if (!dirs[dir]) {
      dirs[dir] = true;
      members.push_back(detail::archive_dir(dir, opts.mtime));
    }
    members.push_back(detail::archive_file(d.blob_path(), bytes, opts.mtime));
  }
  return detail::write_tar(std::move(members), out);
}

// tag: the RepoTags entry ("name:tag"); empty: none.
inline result<void> write_docker_archive(const contents& c, const std::filesystem::path& out,
                                         std::string_view tag, const write_options& opts = {}) {
  json::value list = json::value::make_array();
  std::vector<tar::member> members;
  std::map<std::string, bool> written;
  auto add_once = [&](const std::string& path, byte_span bytes) {
    if (written[path]) return;
    written[path] = true;
    members.push_back(detail::archive_file(path, bytes, opts.mtime));
  };
  for (const auto& root : c.roots()) {
    if (!oci::media_type::is_manifest(root.media_type))
      return error(errc::invalid_argument, "a docker-archive holds single-platform images, not " +
                                               root.media_type + ": choose one platform");
    UKIKIT_TRY_ASSIGN(byte_span mbytes, c.blob(root.digest));
    finding_log ignored;
    oci::parse_options po;
    po.described_by = &root;
    UKIKIT_TRY_ASSIGN(auto m, oci::parse_manifest(mbytes, ignored, po));
    json::value entry = json::value::make_object();
    const std::string config = std::string(m.value.config.digest.encoded()) + ".json";
    UKIKIT_TRY_ASSIGN(byte_span cbytes, c.blob(m.value.config.digest));
    add_once(config, cbytes);
    entry.add("Config", json::value::make_string(config));
    json::value tags = json::value::make_array();
    if (!tag.empty()) tags.items.push_back(json::value::make_string(std::string(tag)));
    entry.add("RepoTags", std::move(tags));
    json::value layers = json::value::make_array();
    for (const auto& l : m.value.layers) {
      const std::string name = std::string(l.digest.encoded()) + ".tar";
      UKIKIT_TRY_ASSIGN(byte_span lbytes, c.blob(l.digest));
      add_once(name, lbytes);
      layers.items.push_back(json::value::make_string(name));
    }
    entry.add("Layers", std::move(layers));
    list.items.push_back(std::move(entry));
  }
  const std::string manifest = json::dump(list);
  members.push_back(detail::archive_file("manifest.json", as_bytes(manifest), opts.mtime));
  return detail::write_tar(std::move(members), out);
}

inline result<void> write_store(const contents& c, const reference& ref,
                                const write_options& opts = {}) {
  switch (ref.transport) {
  case transport::layout: return write_layout(c, ref.path, opts);
  case transport::oci_archive: return write_oci_archive(c, ref.path, opts);
  case transport::docker_archive: return write_docker_archive(c, ref.path, ref.tag, opts);
  case transport::registry: break;
  }
  return error(errc::unsupported, "writing to a registry is not supported by this version");
}

} // namespace ukikit::image
