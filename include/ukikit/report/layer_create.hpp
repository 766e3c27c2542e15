// Creating an OCI layer from a directory tree: the deterministic tar of
// tar_writer.hpp, compressed with gzip or zstd or not at all, with what an
// OCI descriptor needs: `digest` (sha256 of the bytes written), `diff_id`
// (sha256 of the uncompressed tar), `size` and `media_type`. `ukikit layer
// create` prints this; an embedder gets the same.
//
// Both digests are computed while the layer is written, in one pass: the tar
// bytes go through the diff_id hash into the encoder, whose output goes
// through the digest hash into the caller's sink. zstd frames record the
// content size (the plan knows it). The same tree and options give the same
// bytes: the gzip header has mtime 0 and OS 3 (like `gzip -n`), and the
// compressors are single-threaded unless asked.
#pragma once

#include "../compress.hpp"
#include "../diagnostics.hpp"
#include "../hash.hpp"
#include "../tar_writer.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ukikit::report {

// The OCI image-spec layer media types (layer.md): none, gzip and zstd.
inline constexpr std::string_view layer_media_type_tar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view layer_media_type_gzip =
    "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view layer_media_type_zstd =
    "application/vnd.oci.image.layer.v1.tar+zstd";

// The media type of a layer compressed as `f`; nullopt for formats OCI has
// no layer type for (xz, …).
constexpr std::optional<std::string_view> layer_media_type(compress::format f) noexcept {
  switch (f) {
  case compress::format::none: return layer_media_type_tar;
  case compress::format::gzip: return layer_media_type_gzip;
  case compress::format::zstd: return layer_media_type_zstd;
  default: return std::nullopt;
  }
}

struct layer_create_options {
  compress::format compression = compress::format::gzip;
  std::optional<int> level; // gzip 0…9 (default 6), zstd (default 3)
  unsigned threads = 1;     // zstd workers; the output depends on it
  tar::walk_options walk;   // mtime (default 0), uid, gid, devices
};

struct created_layer {
  compress::format compression = compress::format::none;
  std::string media_type;
  hash::digest digest;        // sha256 of the bytes written
  hash::digest diff_id;       // sha256 of the uncompressed tar
  std::uint64_t size = 0;     // bytes written
  std::uint64_t tar_size = 0; // bytes of the tar
  std::size_t entries = 0;    // members of the tar
  finding_log findings;       // of the tree walk (skipped sockets, …)
};

// Writes a layer of the given members (tar_writer.hpp's rules: sorted here,
// hard links to earlier members) into `sink`; `findings` are passed on into
// the result. o.walk is not used.
inline result<created_layer> create_layer(std::vector<tar::member> members,
                                          const layer_create_options& o, sink_ref sink,
                                          finding_log findings = finding_log()) {
  auto media = layer_media_type(o.compression);
  if (!media)
    return error(errc::invalid_argument, "OCI layers are tar, tar+gzip or tar+zstd (not " +
                                             std::string(compress::name(o.compression)) + ")");
  UKIKIT_TRY_ASSIGN(const tar::plan plan, tar::make_plan(std::move(members)));

  UKIKIT_TRY_ASSIGN(auto diff_id, hash::hasher::create(hash::algorithm::sha256));
  UKIKIT_TRY_ASSIGN(auto digest, hash::hasher::create(hash::algorithm::sha256));
  std::uint64_t size = 0;
  auto written = [&](byte_span b) -> result<void> {
    digest.update(b);
    size += b.size();
    return sink(b);
  };
  if (o.compression == compress::format::none) {
    auto raw = [&](byte_span b) -> result<void> {
      diff_id.update(b);
      return written(b);
    };
    UKIKIT_TRY(tar::write(plan, raw));
  } else {
    compress::encode_options eo;
    eo.fmt = o.compression;
    eo.level = o.level;
    eo.threads = o.threads;
    eo.content_size = plan.size;
    UKIKIT_TRY_ASSIGN(auto enc, compress::encoder::create(eo));
    auto into_encoder = [&](byte_span b) -> result<void> {
      diff_id.update(b);
      return enc.write(b, written);
    };
    UKIKIT_TRY(tar::write(plan, into_encoder));
    UKIKIT_TRY(enc.finish(written));
  }
  UKIKIT_TRY_ASSIGN(auto diff_id_value, diff_id.finish());
  UKIKIT_TRY_ASSIGN(auto digest_value, digest.finish());
  return created_layer{
      o.compression, std::string(*media), std::move(digest_value), std::move(diff_id_value),
      size,          plan.size,           plan.members.size(),     std::move(findings)};
}

// Writes the layer of the tree under `root` into `sink`.
inline result<created_layer> create_layer(const std::filesystem::path& root,
                                          const layer_create_options& o, sink_ref sink) {
  finding_log findings;
  UKIKIT_TRY_ASSIGN(auto members, tar::walk_tree(root, o.walk, findings));
  return create_layer(std::move(members), o, sink, std::move(findings));
}

// {"digest", "diff_id", "size", "media_type", "tar_size", "entries",
//  "findings", "findings_dropped"}
inline nlohmann::ordered_json to_json(const created_layer& l) {
  nlohmann::ordered_json j;
  j["digest"] = l.digest.str();
  j["diff_id"] = l.diff_id.str();
  j["size"] = l.size;
  j["media_type"] = l.media_type;
  j["tar_size"] = l.tar_size;
  j["entries"] = l.entries;
  j["findings"] = to_json(l.findings.kept());
  j["findings_dropped"] = l.findings.dropped();
  return j;
}

} // namespace ukikit::report
