// Reading an image store: an OCI image layout directory, an oci-archive (a
// tar of a layout) or a docker-archive (`docker save`: manifest.json, a
// config and layer tars). Every blob is a view into a mapped file; an
// archive is never extracted.
//
// The store's images are descriptors in one root index:
// - layout, oci-archive: index.json, read strictly (oci::parse_index); a tag
//   selects the entries whose `org.opencontainers.image.ref.name` is that
//   tag (OCI image-layout), no tag selects them all;
// - docker-archive: each manifest.json entry becomes a Docker v2 schema 2
//   manifest made here (config and layer descriptors from the member bytes,
//   RepoTags as ref.name annotations). Those manifests are served like blobs
//   by their digest; they are ours, not bytes of the archive.
//
// blob() checks what it hands out against the descriptor: the size first,
// then the digest (OCI descriptor.md), then embedded `data`.
#pragma once

#include "../bytes.hpp"
#include "../compress.hpp"
#include "../diagnostics.hpp"
#include "../json.hpp"
#include "../oci.hpp"
#include "../oci_writer.hpp"
#include "../result.hpp"
#include "files.hpp"
#include "reference.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ukikit::image {

namespace code {
// oci-layout is missing (read anyway when permissive).
inline constexpr std::string_view layout_version = "image.layout-version";
// A blob the image refers to is not in the store.
inline constexpr std::string_view missing_blob = "image.missing-blob";
// A blob's size or digest is not what its descriptor says.
inline constexpr std::string_view blob_mismatch = "image.blob-mismatch";
} // namespace code

inline constexpr std::string_view ref_name_annotation = "org.opencontainers.image.ref.name";

struct source_options {
  json::limits limits{};
  strictness mode = strictness::strict;
};

class source {
public:
  static result<source> open(const reference& ref, const source_options& opts = {}) {
    switch (ref.transport) {
    case transport::layout: {
      UKIKIT_TRY_ASSIGN(auto f, files::directory(ref.path));
      return from_files(std::move(f), ref, opts);
    }
    case transport::oci_archive:
    case transport::docker_archive: {
      UKIKIT_TRY_ASSIGN(auto f, open_archive(ref.path));
      return from_files(std::move(f), ref, opts);
    }
    case transport::registry: break;
    }
    return error(errc::unsupported, "registry references are not read by this version");
  }

  // A store whose files are already open (an archive in memory, say): the
  // reference says how to read them (its path only names them).
  static result<source> from_files(files f, const reference& ref, const source_options& opts = {}) {
    source s;
    s.ref_ = ref;
    s.opts_ = opts;
    s.files_ = std::move(f);
    if (ref.transport == transport::docker_archive) {
      UKIKIT_TRY(s.read_docker_archive());
    } else if (ref.transport == transport::registry) {
      return error(errc::unsupported, "registry references are not read by this version");
    } else {
      UKIKIT_TRY(s.read_layout());
    }
    UKIKIT_TRY(s.select());
    return s;
  }

  const reference& ref() const noexcept { return ref_; }
  // The root index: index.json, or the index made of a docker-archive.
  const oci::index& root() const noexcept { return root_; }
  // The digest of index.json's bytes (empty for a docker-archive).
  const oci::digest& root_digest() const noexcept { return root_digest_; }
  // The root's entries the reference selects (by tag, or all).
  const std::vector<oci::descriptor>& selected() const noexcept { return selected_; }
  // What reading the store tolerated (tar reader of an archive, JSON notes).
  const finding_log& findings() const noexcept { return findings_; }
  const source_options& options() const noexcept { return opts_; }

  // The blob's bytes, unchecked; nullopt when the store does not have it.
  result<std::optional<byte_span>> find_blob(const oci::digest& d) const {
    if (d.empty()) return error(errc::invalid_argument, "empty digest");
    if (auto it = made_.find(d.str()); it != made_.end())
      return std::optional<byte_span>(as_bytes(it->second));
    if (ref_.transport == transport::docker_archive) {
      auto it = docker_blobs_.find(d.str());
      if (it == docker_blobs_.end()) return std::optional<byte_span>();
      return std::optional<byte_span>(it->second);
    }
    return files_.find(d.blob_path());
  }

  // Drops the pages of a blob's bytes from memory once read (files::release).
  void release(byte_span part) const noexcept { files_.release(part); }

  // The blob with this digest, checked against it (a layer named on the
  // command line by REF@DIGEST has no descriptor to give its size).
  result<byte_span> blob(const oci::digest& d) const {
    UKIKIT_TRY_ASSIGN(auto got, find_blob(d));
    if (!got) return error(errc::invalid_argument, "no blob " + d.str() + " in " + ref_.text());
    UKIKIT_TRY(d.verify(*got));
    return *got;
  }

  // The blob a descriptor names, checked against it (size, digest, data).
  result<byte_span> blob(const oci::descriptor& d) const {
    UKIKIT_TRY_ASSIGN(auto got, find_blob(d.digest));
    if (!got)
      return error(errc::malformed,
                   "blob " + d.digest.str() + " (" + d.media_type + ") is not in " + ref_.text());
    UKIKIT_TRY(oci::verify(d, *got));
    return *got;
  }

private:
  static result<files> open_archive(const std::string& path) {
    auto f = files::archive(path);
    if (!f) return std::move(f).error().prefixed(path);
    return f;
  }

  result<void> read_layout() {
    findings_.append(finding_log(files_.findings()));
    UKIKIT_TRY_ASSIGN(auto header, files_.find("oci-layout"));
    if (!header) {
      if (opts_.mode == strictness::strict)
        return error(errc::malformed, ref_.path + " is not an OCI image layout (no oci-layout)");
      findings_.add(severity::warning, code::layout_version, "no oci-layout file");
    } else {
      finding_log log;
      oci::parse_options po;
      po.limits = opts_.limits;
      po.mode = opts_.mode;
      auto h = oci::parse_layout_header(*header, log, po);
      if (!h) return std::move(h).error().prefixed(ref_.path + ": oci-layout");
    }
    UKIKIT_TRY_ASSIGN(byte_span index_bytes, files_.get("index.json"));
    oci::parse_options po;
    po.limits = opts_.limits;
    po.mode = opts_.mode;
    finding_log log;
    auto idx = oci::parse_index(index_bytes, log, po);
    if (!idx) return std::move(idx).error().prefixed(ref_.path + ": index.json");
    for (auto f : log.take()) {
      f.subject = "index.json";
      findings_.add(std::move(f));
    }
    root_ = std::move(idx->value);
    root_digest_ = idx->digest;
    return success();
  }

  // manifest.json: [{"Config": PATH, "RepoTags": [NAME...], "Layers": [PATH...]}, ...]
  result<void> read_docker_archive() {
    findings_.append(finding_log(files_.findings()));
    UKIKIT_TRY_ASSIGN(byte_span list_bytes, files_.get("manifest.json"));
    auto list = json::parse(list_bytes, opts_.limits);
    if (!list) return std::move(list).error().prefixed(ref_.path + ": manifest.json");
    if (!list->is(json::kind::array))
      return error(errc::malformed, ref_.path + ": manifest.json is not a list", list->offset);
    root_.media_type = std::string(oci::media_type::docker_manifest_list);
    for (const auto& entry : list->items) {
      auto m = docker_manifest(entry);
      if (!m) return std::move(m).error().prefixed(ref_.path + ": manifest.json");
      root_.manifests.push_back(std::move(*m));
    }
    return success();
  }

  result<std::string> member_path(const json::value& v, std::string_view what) const {
    if (!v.is(json::kind::string))
      return error(errc::malformed, std::string(what) + " is not a string", v.offset);
    return v.text;
  }

  // The descriptor of an archive member, which is also recorded as a blob.
  result<oci::descriptor> member_blob(const std::string& path, std::string media_type) {
    UKIKIT_TRY_ASSIGN(byte_span bytes, files_.get(path));
    oci::descriptor d;
    d.media_type = std::move(media_type);
    UKIKIT_TRY_ASSIGN(d.digest, oci::digest::compute(bytes));
    d.size = static_cast<std::int64_t>(bytes.size());
    docker_blobs_.emplace(d.digest.str(), bytes);
    return d;
  }

  result<oci::descriptor> docker_manifest(const json::value& entry) {
    if (!entry.is(json::kind::object))
      return error(errc::malformed, "an entry is not an object", entry.offset);
    const json::value* config = entry.find("Config");
    const json::value* layers = entry.find("Layers");
    if (!config) return error(errc::malformed, "an entry has no Config", entry.offset);
    if (!layers || !layers->is(json::kind::array))
      return error(errc::malformed, "an entry has no Layers list", entry.offset);
    oci::manifest m;
    m.media_type = std::string(oci::media_type::docker_manifest);
    UKIKIT_TRY_ASSIGN(auto config_path, member_path(*config, "Config"));
    UKIKIT_TRY_ASSIGN(m.config,
                      member_blob(config_path, std::string(oci::media_type::docker_config)));
    for (const auto& l : layers->items) {
      UKIKIT_TRY_ASSIGN(auto layer_path, member_path(l, "a Layers entry"));
      UKIKIT_TRY_ASSIGN(byte_span bytes, files_.get(layer_path));
      std::string type(oci::media_type::docker_layer);
      switch (compress::detect(bytes)) {
      case compress::format::gzip: type = oci::media_type::docker_layer_gzip; break;
      case compress::format::zstd: type = oci::media_type::docker_layer_zstd; break;
      default: break;
      }
      UKIKIT_TRY_ASSIGN(auto d, member_blob(layer_path, std::move(type)));
      m.layers.push_back(std::move(d));
    }
    std::string text = oci::serialize(m);
    oci::descriptor d;
    d.media_type = m.media_type;
    d.size = static_cast<std::int64_t>(text.size());
    UKIKIT_TRY_ASSIGN(d.digest, oci::digest::compute(as_bytes(text)));
    if (const json::value* tags = entry.find("RepoTags"); tags && tags->is(json::kind::array)) {
      std::string names;
      for (const auto& t : tags->items) {
        if (!t.is(json::kind::string))
          return error(errc::malformed, "a RepoTags entry is not a string", t.offset);
        names += names.empty() ? t.text : "," + t.text;
      }
      if (!names.empty()) d.annotations[std::string(ref_name_annotation)] = names;
    }
    made_.emplace(d.digest.str(), std::move(text));
    return d;
  }

  // A docker reference as skopeo writes it into RepoTags: "docker.io/" and
  // "library/" are implied.
  static std::string docker_normalized(std::string_view name) {
    std::string s(name);
    if (s.find('/') == std::string::npos) s = "library/" + s;
    const auto slash = s.find('/');
    const std::string first = s.substr(0, slash);
    if (first.find_first_of(".:") == std::string::npos && first != "localhost")
      s = "docker.io/" + s;
    return s;
  }

  result<void> select() {
    if (ref_.tag.empty()) {
      selected_ = root_.manifests;
      return success();
    }
    if (ref_.transport == transport::docker_archive) {
      if (ref_.tag.front() == '@') {
        std::size_t n = 0;
        const std::string digits = ref_.tag.substr(1);
        if (digits.empty() || digits.size() > 9 ||
            digits.find_first_not_of("0123456789") != std::string::npos)
          return error(errc::invalid_argument,
                       "docker-archive index @" + digits + " is not a number");
        n = std::stoul(digits);
        if (n >= root_.manifests.size())
          return error(errc::invalid_argument, ref_.path + " has " +
                                                   std::to_string(root_.manifests.size()) +
                                                   " images; @" + digits + " is not one of them");
        selected_.push_back(root_.manifests[n]);
        return success();
      }
      const std::string want = docker_normalized(ref_.tag);
      for (const auto& d : root_.manifests) {
        auto it = d.annotations.find(std::string(ref_name_annotation));
        if (it == d.annotations.end()) continue;
        std::string_view names = it->second;
        while (!names.empty()) {
          const auto comma = names.find(',');
          if (docker_normalized(names.substr(0, comma)) == want) {
            selected_.push_back(d);
            return success();
          }
          names = comma == std::string_view::npos ? std::string_view{} : names.substr(comma + 1);
        }
      }
    } else {
      // OCI image-layout: several entries may carry the tag; the first wins
      // for a consumer that wants one (index.md), all are reported.
      for (const auto& d : root_.manifests) {
        auto it = d.annotations.find(std::string(ref_name_annotation));
        if (it != d.annotations.end() && it->second == ref_.tag) selected_.push_back(d);
      }
    }
    if (selected_.empty())
      return error(errc::invalid_argument, ref_.path + " has no image tagged " + ref_.tag);
    return success();
  }

  reference ref_;
  source_options opts_;
  files files_;
  oci::index root_;
  oci::digest root_digest_;
  std::vector<oci::descriptor> selected_;
  finding_log findings_;
  // docker-archive: the blobs by digest (views into the archive), and the
  // manifests made from manifest.json (owned text).
  std::map<std::string, byte_span, std::less<>> docker_blobs_;
  std::map<std::string, std::string, std::less<>> made_;
};

// "REF@DIGEST": a blob of an image store, as `ukikit layer list` takes a
// layer (`oci-archive:img.tar@sha256:...`). nullopt when `text` has no
// '@' followed by a digest.
struct blob_reference {
  reference ref;
  oci::digest digest;
};

inline std::optional<result<blob_reference>> parse_blob_reference(std::string_view text);

// Whether a command-line argument names an image store, and which: an
// explicit transport (`oci:`, `oci-archive:`, `docker-archive:`), a
// directory with `oci-layout` or `index.json`, or a tar file holding
// `oci-layout` (oci-archive) or `manifest.json` (docker-archive).
// nullopt: something else (a PE image, an initramfs, ...).
inline std::optional<reference> detect_store(std::string_view arg) {
  for (std::string_view prefix : {"oci:", "oci-archive:", "docker-archive:"})
    if (arg.starts_with(prefix)) {
      auto r = parse_reference(arg);
      if (r) return *r;
      return std::nullopt;
    }
  const std::filesystem::path p{std::string(arg)};
  std::error_code ec;
  reference r;
  r.path = std::string(arg);
  if (std::filesystem::is_directory(p, ec)) {
    if (std::filesystem::exists(p / "oci-layout", ec) ||
        std::filesystem::exists(p / "index.json", ec))
      return r;
    return std::nullopt;
  }
  if (!std::filesystem::is_regular_file(p, ec)) return std::nullopt;
  auto m = file::mapped_file::open(p);
  constexpr std::size_t magic_at = 257;
  constexpr std::string_view magic = "ustar";
  if (!m || m->size() < tar::block_size ||
      std::string_view(reinterpret_cast<const char*>(m->bytes().data()) + magic_at, magic.size()) !=
          magic)
    return std::nullopt;
  auto f = files::archive(p);
  if (!f) return std::nullopt;
  if (auto h = f->find("oci-layout"); h && *h) {
    r.transport = transport::oci_archive;
    return r;
  }
  if (auto h = f->find("manifest.json"); h && *h) {
    r.transport = transport::docker_archive;
    return r;
  }
  return std::nullopt;
}

// A reference as a user gives it on a command line: a bare archive file or
// layout directory is recognized by what it holds (detect_store); anything
// else is parsed (DIR[:TAG], oci-archive:FILE[:TAG], ...).
inline result<reference> resolve_reference(std::string_view text) {
  if (auto found = detect_store(text)) return *found;
  return parse_reference(text);
}

inline std::optional<result<blob_reference>> parse_blob_reference(std::string_view text) {
  const auto at = text.rfind('@');
  if (at == std::string_view::npos || text.find(':', at) == std::string_view::npos)
    return std::nullopt;
  auto d = oci::digest::parse(text.substr(at + 1));
  if (!d) return result<blob_reference>(std::move(d).error());
  const std::string store(text.substr(0, at));
  auto r = detect_store(store);
  if (!r) {
    auto parsed = parse_reference(store);
    if (!parsed) return result<blob_reference>(std::move(parsed).error());
    r = *parsed;
  }
  return result<blob_reference>(blob_reference{*r, *d});
}

} // namespace ukikit::image
