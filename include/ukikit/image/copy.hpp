// Copying images between stores, as `skopeo copy` does between oci:,
// oci-archive: and docker-archive: (and `--all` for an index): every blob
// is read from the source, checked against its descriptor (size, digest),
// and written unchanged, so every digest in the copy is the source's.
//
// What is copied: the entries the source reference selects (its tag, or
// all), with everything they reach: nested indexes, manifests, configs,
// layers. With a platform, an index is narrowed to the first manifest for
// that platform (index.md: the first match wins), and that manifest is
// what is written, as a single-platform image. The destination's tag (or
// else the source entry's own tag) names each root entry.
#pragma once

#include "../diagnostics.hpp"
#include "../oci.hpp"
#include "../result.hpp"
#include "reference.hpp"
#include "source.hpp"
#include "write.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ukikit::image {

// os/architecture[/variant], as skopeo's --override-os/--override-arch and
// docker's --platform spell it.
struct platform_filter {
  std::string os, architecture, variant;

  static result<platform_filter> parse(std::string_view s) {
    platform_filter p;
    const auto a = s.find('/');
    if (a == std::string_view::npos || a == 0)
      return error(errc::invalid_argument,
                   "platform must be OS/ARCH[/VARIANT], not " + std::string(s));
    p.os = std::string(s.substr(0, a));
    const auto rest = s.substr(a + 1);
    const auto b = rest.find('/');
    p.architecture = std::string(rest.substr(0, b));
    if (b != std::string_view::npos) p.variant = std::string(rest.substr(b + 1));
    if (p.architecture.empty() || (b != std::string_view::npos && p.variant.empty()))
      return error(errc::invalid_argument,
                   "platform must be OS/ARCH[/VARIANT], not " + std::string(s));
    return p;
  }

  bool matches(const oci::platform& q) const noexcept {
    return q.os == os && q.architecture == architecture &&
           (variant.empty() || q.variant == variant);
  }
  std::string text() const {
    return os + "/" + architecture + (variant.empty() ? "" : "/" + variant);
  }
};

struct copy_options {
  std::optional<platform_filter> platform;
  write_options write{};
};

struct copy_result {
  std::vector<oci::descriptor> roots; // what the destination's index lists
  std::size_t blobs = 0;
  std::uint64_t bytes = 0;
};

namespace detail {

inline constexpr int max_copy_depth = 8;

inline result<void> gather(const source& src, const oci::descriptor& d, contents& out, int depth) {
  if (depth > max_copy_depth)
    return error(errc::limit_exceeded,
                 "indexes nest deeper than " + std::to_string(max_copy_depth));
  UKIKIT_TRY_ASSIGN(byte_span bytes, src.blob(d));
  out.add(d.digest, bytes);
  finding_log ignored;
  oci::parse_options po;
  po.limits = src.options().limits;
  po.described_by = &d;
  if (oci::media_type::is_index(d.media_type)) {
    auto idx = oci::parse_index(bytes, ignored, po);
    if (!idx) return std::move(idx).error().prefixed("index " + d.digest.str());
    for (const auto& child : idx->value.manifests) UKIKIT_TRY(gather(src, child, out, depth + 1));
    return success();
  }
  if (!oci::media_type::is_manifest(d.media_type))
    return error(errc::unsupported,
                 d.digest.str() + " is a " + d.media_type + ", not an image manifest or index");
  auto m = oci::parse_manifest(bytes, ignored, po);
  if (!m) return std::move(m).error().prefixed("manifest " + d.digest.str());
  UKIKIT_TRY_ASSIGN(byte_span config, src.blob(m->value.config));
  out.add(m->value.config.digest, config);
  for (const auto& l : m->value.layers) {
    auto layer = src.blob(l);
    if (!layer) return std::move(layer).error().prefixed("layer " + l.digest.str());
    out.add(l.digest, *layer);
  }
  return success();
}

// The entry of `d` (an index or a manifest) for the platform: d itself
// when it is a manifest for it (by its descriptor's platform, else its
// config), or the first match inside an index.
inline result<std::optional<oci::descriptor>> narrow(const source& src, const oci::descriptor& d,
                                                     const platform_filter& p, int depth) {
  if (depth > max_copy_depth)
    return error(errc::limit_exceeded,
                 "indexes nest deeper than " + std::to_string(max_copy_depth));
  UKIKIT_TRY_ASSIGN(byte_span bytes, src.blob(d));
  finding_log ignored;
  oci::parse_options po;
  po.limits = src.options().limits;
  po.described_by = &d;
  if (oci::media_type::is_index(d.media_type)) {
    UKIKIT_TRY_ASSIGN(auto idx, oci::parse_index(bytes, ignored, po));
    for (const auto& child : idx.value.manifests) {
      if (child.platform && !p.matches(*child.platform)) continue;
      UKIKIT_TRY_ASSIGN(auto got, narrow(src, child, p, depth + 1));
      if (got) return got;
    }
    return std::optional<oci::descriptor>();
  }
  if (d.platform) return p.matches(*d.platform) ? std::optional(d) : std::nullopt;
  UKIKIT_TRY_ASSIGN(auto m, oci::parse_manifest(bytes, ignored, po));
  UKIKIT_TRY_ASSIGN(byte_span cbytes, src.blob(m.value.config));
  if (!oci::media_type::is_config(m.value.config.media_type))
    return std::optional<oci::descriptor>();
  oci::parse_options co;
  co.limits = src.options().limits;
  co.described_by = &m.value.config;
  UKIKIT_TRY_ASSIGN(auto cfg, oci::parse_config(cbytes, ignored, co));
  oci::platform q;
  q.os = cfg.value.os;
  q.architecture = cfg.value.architecture;
  q.variant = cfg.value.variant;
  return p.matches(q) ? std::optional(d) : std::nullopt;
}

} // namespace detail

// The contents to write for what `src` selects, checked blob by blob.
inline result<contents> collect(const source& src, std::string_view dst_tag,
                                const copy_options& opts = {}) {
  contents out;
  for (const auto& selected : src.selected()) {
    oci::descriptor root = selected;
    if (opts.platform) {
      UKIKIT_TRY_ASSIGN(auto got, detail::narrow(src, selected, *opts.platform, 0));
      if (!got) continue;
      root = *got;
      root.platform.reset();
      root.annotations = selected.annotations;
    }
    UKIKIT_TRY(detail::gather(src, root, out, 0));
    // docker-archive: the tag there is a RepoTags name, which an OCI
    // ref.name need not accept; it is not carried over.
    if (src.ref().transport == transport::docker_archive)
      root.annotations.erase(std::string(ref_name_annotation));
    if (!dst_tag.empty()) root.annotations[std::string(ref_name_annotation)] = std::string(dst_tag);
    out.add_root(std::move(root));
  }
  if (out.roots().empty())
    return error(errc::invalid_argument,
                 src.ref().text() + " has no image" +
                     (opts.platform ? " for " + opts.platform->text() : std::string()));
  return out;
}

inline result<copy_result> copy(const source& src, const reference& dst,
                                const copy_options& opts = {}) {
  UKIKIT_TRY_ASSIGN(auto c, collect(src, dst.tag, opts));
  if (dst.transport == transport::docker_archive && c.roots().size() > 1)
    return error(errc::invalid_argument,
                 std::to_string(c.roots().size()) +
                     " images for one docker-archive: select one by its tag or --platform");
  UKIKIT_TRY(write_store(c, dst, opts.write));
  copy_result r;
  r.roots = c.roots();
  r.blobs = c.blobs().size();
  for (const auto& [name, bytes] : c.blobs()) r.bytes += bytes.size();
  return r;
}

} // namespace ukikit::image
